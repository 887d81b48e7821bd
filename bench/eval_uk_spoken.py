"""Anonymisation recall on spoken and transcript forms: ``../shared/eval/uk_spoken`` (written by someone else).

    .venv/bin/python bench/eval_uk_spoken.py [--json] [--max-list N] [--show-missed]

What it does, exactly as a user would: anonymise every excerpt's text with the project's anonymiser (the
same path as ``qualcode anonymise --input-jsonl``: one in-memory pseudonym store, each excerpt its own
document), write the masked character spans of the ORIGINAL text as predictions, and score them with the
set's own ``score.py`` in offset mode. Also reports the throughput of the anonymiser on the set.

This set is a development check. Never tune rules or lists to its strings: hidden sets with other names,
places and wording decide whether a target is met. ``--show-missed`` prints the missed spans' FORMS and
excerpt ids only (never the strings) so a developer looks for the general cause.

Writes bench/results/uk_spoken_<UTC time>.json and prints a per-form table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pipeline.anonymise import InMemoryPseudonymStore, build_anonymiser  # noqa: E402
from pipeline.settings import Settings  # noqa: E402

EVAL_DIR = Path(os.environ.get("QUALCODE_EVAL_DIR", REPO.parent / "shared" / "eval")).resolve()
SET_DIR = EVAL_DIR / "uk_spoken"
RESULTS = REPO / "bench" / "results"
#: Targets from issue 15.
TARGETS = {"DIRECT": 1.0, "QUASI": 0.90, "keep": 0.97}


def predict(texts: list[str]) -> tuple[list[list[list[int]]], float, float]:
    """Masked spans per text, seconds of anonymisation (best of one warm run), and load seconds."""
    settings = Settings()
    t0 = time.perf_counter()
    anonymiser = build_anonymiser(settings)
    anonymiser.anonymise("Warm up with Kyle in Leeds on 3 May 2019.")
    load = time.perf_counter() - t0
    start = time.perf_counter()
    results = anonymiser.anonymise_many(texts, InMemoryPseudonymStore())
    elapsed = time.perf_counter() - start
    return [[[s.start, s.end] for s in r.spans] for r in results], elapsed, load


def run_scorer(pred_path: Path, *extra: str) -> dict:
    out = subprocess.run(
        [sys.executable, str(SET_DIR / "score.py"), str(SET_DIR / "excerpts.jsonl"), str(pred_path), "--json", *extra],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print the scorer's JSON summary too")
    parser.add_argument("--show-missed", action="store_true", help="list missed spans by form and excerpt id")
    args = parser.parse_args()
    if not (SET_DIR / "excerpts.jsonl").exists():
        print(f"uk_spoken: skipped ({SET_DIR} not found; set QUALCODE_EVAL_DIR or place ../shared/eval)")
        return 0
    rows = [json.loads(line) for line in (SET_DIR / "excerpts.jsonl").read_text(encoding="utf-8").splitlines() if line]
    texts = [str(r["text"]) for r in rows]
    masked, seconds, load = predict(texts)
    chars = sum(len(t) for t in texts)
    with tempfile.TemporaryDirectory() as tmp:
        pred = Path(tmp) / "pred.jsonl"
        pred.write_text(
            "".join(json.dumps({"id": r["id"], "masked": m}) + "\n" for r, m in zip(rows, masked, strict=True)),
            encoding="utf-8",
        )
        strict = run_scorer(pred, "--max-list", "1000")
        lenient = run_scorer(pred, "--alnum", "--max-list", "0")
    report = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "set": str(SET_DIR),
        "chars": chars,
        "seconds": round(seconds, 3),
        "chars_per_second": round(chars / seconds),
        "load_seconds": round(load, 2),
        "offset_mode": strict,
        "offset_mode_alnum": lenient,
    }
    print(f"uk_spoken ({len(rows)} excerpts, {chars:,} chars; score.py offset mode)")
    for label in ("DIRECT", "QUASI"):
        part = _summary(strict, label)
        alnum = _summary(lenient, label)
        print(f"  {label:<7} {part}   (--alnum {alnum})   target {TARGETS[label]:.0%}")
    print(f"  keep    {_summary(strict, 'keep')}   target {TARGETS['keep']:.0%}")
    print("  per form (caught/total):")
    for form, stats in sorted(_forms(strict).items()):
        print(f"    {form:<18} {stats}")
    print(f"  throughput {chars / seconds:,.0f} chars/s (anonymiser load {load:.1f} s)")
    if args.show_missed:
        for label in ("direct", "quasi"):
            for miss in strict[f"missed_{label}"]:
                print(f"    missed {label.upper()} {miss['form']} in {miss['id']}")
        for lost in strict["lost_keep"]:
            print(f"    lost keep term in {lost['id']}")
    if args.json:
        print(json.dumps({k: v for k, v in strict.items() if not k.startswith(("missed", "lost"))}, indent=2))
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"uk_spoken_{dt.datetime.now(dt.UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    out.write_text(json.dumps(report, indent=2), encoding="utf-8")
    print(f"written {out.relative_to(REPO)}")
    return 0


def _summary(scored: dict, label: str) -> str:
    part = scored[label.lower()]
    got = part.get("caught", part.get("kept", 0))
    return f"{got}/{part['total']} ({part['rate']}%)"


def _forms(scored: dict) -> dict[str, str]:
    out: dict[str, list[str]] = {}
    for label in ("DIRECT", "QUASI"):
        for form, c in scored["per_form"][label].items():
            out.setdefault(form, []).append(f"{label} {c['caught']}/{c['total']} ({c['rate']}%)")
    return {form: ", ".join(parts) for form, parts in out.items()}


if __name__ == "__main__":
    raise SystemExit(main())
