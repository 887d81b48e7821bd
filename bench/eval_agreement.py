"""Agreement on ../shared/eval/narrative_frames, checked against independent implementations.

Run:  .venv/bin/python bench/eval_agreement.py [--bootstrap 1000] [--seed 0]

What it measures (see ../shared/eval/narrative_frames/README.md for the data):
- units are articles; the raw per-coder answers in ``full_annotations.json`` (``a1..a4``; ``-1`` = that
  coder did not label the article) are the ratings; ``yes`` = 1, ``no`` = 0;
- re4's 23 ``n/a: problem is resolved`` answers are treated as missing in the yes/no analysis (as
  ``examples.csv`` does) and, separately, as a third nominal category (``re4_3cat``);
- per code: percent agreement, Fleiss' kappa, Krippendorff's alpha (nominal) and Gwet's AC1 from
  ``pipeline.agreement`` with 95 % bootstrap intervals; alpha checked against the ``krippendorff``
  package on the same coders × articles matrix; Cohen's kappa for each coder pair with at least 30
  shared articles, checked against ``sklearn.metrics.cohen_kappa_score``;
- per theme (codebook.yaml themes; re1a is not in the codebook and has no theme): the roll-up over
  (article, code) pairs, as ``qualcode agreement`` reports it.

Results: printed, and written to bench/results/eval_agreement.json and .md. Agreement figures here are
our own computation on this data (the README notes the paper's figures were not checked against it).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import krippendorff
import numpy as np
from sklearn.metrics import cohen_kappa_score

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from pipeline.agreement.metrics import RatingMatrix, cohen_kappa, summarise  # noqa: E402
from pipeline.agreement.report import Decision, ReportOptions, agreement_report  # noqa: E402
from pipeline.codebook import load_codebook  # noqa: E402
from pipeline.errors import NotComputable  # noqa: E402

EVAL_DIR = Path(os.environ.get("QUALCODE_EVAL_DIR", REPO_ROOT.parent / "shared" / "eval")).resolve()
DATA = EVAL_DIR / "narrative_frames"
RESULTS = REPO_ROOT / "bench" / "results"
CODERS = ("annotator1", "annotator2", "annotator3", "annotator4")
BINARY = {"yes": 1, "no": 0}
MIN_PAIR_OVERLAP = 30


def load_answers() -> tuple[list[str], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Article ids, and per question a coders × articles array (binary; NaN = missing) plus re4 3-cat."""
    raw = json.loads((DATA / "full_annotations.json").read_text(encoding="utf-8"))
    articles = sorted(raw, key=int)
    questions = [k for k in raw[articles[0]] if not k.startswith("_")]
    binary: dict[str, np.ndarray] = {}
    three: dict[str, np.ndarray] = {}
    for q in questions:
        arr = np.full((len(CODERS), len(articles)), np.nan)
        arr3 = np.full((len(CODERS), len(articles)), np.nan)
        for j, art in enumerate(articles):
            for i, answer in enumerate(raw[art][q][1]):
                if answer == -1:
                    continue
                arr[i, j] = BINARY.get(answer, np.nan)
                arr3[i, j] = {"no": 0, "yes": 1}.get(answer, 2)
        binary[q] = arr
        if q == "re4":
            three["re4_3cat"] = arr3
    return articles, binary, three


def _fmt(value: float | None) -> str:
    return "   n/c" if value is None else f"{value:6.3f}"


def evaluate(n_boot: int, seed: int) -> dict[str, Any]:
    articles, binary, three = load_answers()
    codebook = load_codebook(DATA / "codebook.yaml")
    per_code: list[dict[str, Any]] = []
    max_alpha_diff = 0.0
    max_kappa_diff = 0.0
    started = time.perf_counter()
    for q, arr in {**binary, **three}.items():
        matrix = RatingMatrix.from_array(
            arr.tolist(), coders_by_units=True, coders=CODERS, categories=(0, 1, 2) if q.endswith("3cat") else (0, 1)
        )
        ours = summarise(matrix, n_boot=n_boot, seed=seed)
        alpha = ours["krippendorff_alpha"].value
        try:
            independent = float(krippendorff.alpha(reliability_data=arr, level_of_measurement="nominal"))
        except (ValueError, ZeroDivisionError) as exc:  # the package refuses degenerate data
            independent = None
            independent_error = type(exc).__name__
        else:
            independent_error = None
        if alpha is not None and independent is not None and np.isfinite(independent):
            max_alpha_diff = max(max_alpha_diff, abs(alpha - independent))
        pairs = []
        for a, b in itertools.combinations(range(len(CODERS)), 2):
            both = ~np.isnan(arr[a]) & ~np.isnan(arr[b])
            if both.sum() < MIN_PAIR_OVERLAP:
                continue
            x, y = arr[a, both].astype(int), arr[b, both].astype(int)
            try:
                k_ours: float | None = cohen_kappa(matrix.select_coders([CODERS[a], CODERS[b]]))
            except NotComputable:
                k_ours = None
            k_sk = float(cohen_kappa_score(x, y)) if len(set(x) | set(y)) > 1 else None
            if k_ours is not None and k_sk is not None and np.isfinite(k_sk):
                max_kappa_diff = max(max_kappa_diff, abs(k_ours - k_sk))
            pairs.append(
                {"pair": f"{CODERS[a]}|{CODERS[b]}", "n": int(both.sum()), "kappa": k_ours, "kappa_sklearn": k_sk}
            )
        per_code.append(
            {
                "code": q,
                "theme": codebook.theme_of(q).id if q in codebook else None,
                "n_units": matrix.n_pairable,
                "estimates": {name: est.to_dict() for name, est in ours.items()},
                "alpha_krippendorff_package": independent,
                "krippendorff_package_error": independent_error,
                "pairs": pairs,
            }
        )
    per_code_seconds = time.perf_counter() - started

    # Theme roll-ups through the same path as `qualcode agreement` (codebook codes only).
    decisions = [
        Decision(articles[j], q, CODERS[i], int(arr[i, j]))
        for q, arr in binary.items()
        if q in codebook
        for i, j in zip(*np.nonzero(~np.isnan(arr)), strict=True)
    ]
    started = time.perf_counter()
    records = agreement_report(decisions, codebook, ReportOptions(n_boot=n_boot, seed=seed, pairwise=False))
    report_seconds = time.perf_counter() - started
    report_alpha = {r.key: r.metric() for r in records if r.scope == "code"}
    report_vs_direct = max(
        abs(report_alpha[c["code"]] - c["estimates"]["krippendorff_alpha"]["value"])
        for c in per_code
        if c["code"] in report_alpha and report_alpha[c["code"]] is not None
    )
    themes = [r.to_flat() for r in records if r.scope in ("theme", "overall")]
    return {
        "data": str(DATA.relative_to(EVAL_DIR.parent)),
        "articles": len(articles),
        "decisions_in_codebook": len(decisions),
        "bootstrap": n_boot,
        "seed": seed,
        "max_abs_diff_alpha_vs_krippendorff_package": max_alpha_diff,
        "max_abs_diff_kappa_vs_sklearn": max_kappa_diff,
        "max_abs_diff_report_vs_direct_alpha": report_vs_direct,
        "seconds_per_code_metrics": per_code_seconds,
        "seconds_full_report": report_seconds,
        "per_code": per_code,
        "themes": themes,
    }


def markdown(result: dict[str, Any]) -> str:
    lines = [
        f"# Agreement on narrative_frames ({result['articles']} articles, raw per-coder answers)",
        "",
        f"Bootstrap: {result['bootstrap']} resamples of articles, seed {result['seed']}. "
        f"Max |alpha - krippendorff package| = {result['max_abs_diff_alpha_vs_krippendorff_package']:.2e}; "
        f"max |kappa - sklearn| = {result['max_abs_diff_kappa_vs_sklearn']:.2e}.",
        "",
        "| code | theme | n | % agree | Fleiss κ | α [95 % CI] | α (krippendorff pkg) | AC1 [95 % CI] | "
        "Cohen κ a1-a2 (sklearn) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for c in result["per_code"]:
        e = c["estimates"]
        a, g = e["krippendorff_alpha"], e["gwet_ac1"]
        pair = next((p for p in c["pairs"] if p["pair"] == "annotator1|annotator2"), None)

        def ci(est: dict[str, Any]) -> str:
            if est["value"] is None:
                return f"n/c ({est['reason']})"
            return f"{est['value']:.3f} [{est['ci_low']:.3f}, {est['ci_high']:.3f}]"

        pkg = c["alpha_krippendorff_package"]
        lines.append(
            f"| {c['code']} | {c['theme'] or '-'} | {c['n_units']} | {_fmt(e['percent_agreement']['value'])} | "
            f"{_fmt(e['fleiss_kappa']['value'])} | {ci(a)} | "
            f"{'n/a (' + str(c['krippendorff_package_error']) + ')' if pkg is None else f'{pkg:.3f}'} | {ci(g)} | "
            + (f"{_fmt(pair['kappa'])} ({_fmt(pair['kappa_sklearn'])})" if pair else "-")
            + " |"
        )
    lines += ["", "| theme | n (article, code) pairs | α [95 % CI] | AC1 | status |", "|---|---|---|---|---|"]
    for t in result["themes"]:
        lines.append(
            f"| {t['theme'] or t['key']} | {t['n_units']} | {_fmt(t['krippendorff_alpha'])} "
            f"[{_fmt(t['krippendorff_alpha_ci_low'])}, {_fmt(t['krippendorff_alpha_ci_high'])}] | "
            f"{_fmt(t['gwet_ac1'])} | {t['status']} |"
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if not (DATA / "full_annotations.json").exists():
        print(f"shared eval data not found at {DATA}; skipping (see ../shared/eval/README.md)")
        return 0
    result = evaluate(args.bootstrap, args.seed)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "eval_agreement.json").write_text(json.dumps(result, indent=2, default=str), encoding="utf-8")
    md = markdown(result)
    (RESULTS / "eval_agreement.md").write_text(md, encoding="utf-8")
    print(md)
    print(
        f"per-code metrics + CIs: {result['seconds_per_code_metrics']:.2f} s; full report with themes: "
        f"{result['seconds_full_report']:.2f} s; results in bench/results/eval_agreement.{{json,md}}"
    )
    ok = (
        result["max_abs_diff_alpha_vs_krippendorff_package"] < 1e-9
        and result["max_abs_diff_kappa_vs_sklearn"] < 1e-9
        and result["max_abs_diff_report_vs_direct_alpha"] < 1e-9
    )
    print("independent checks:", "PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
