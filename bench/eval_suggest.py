"""Measure the code suggester on ../shared/eval/narrative_frames (5-fold CV grouped by article).

Run:  .venv/bin/python bench/eval_suggest.py [--limit N] [--folds 5]

What it does (see ../shared/eval/narrative_frames/README.md for the data):
- units are whole articles; each is embedded once with the configured embedder (sentence vectors
  mean-pooled by default) and cached under bench/results/ (git-ignored) keyed by text hash and embedding
  identity (model and pooling);
- articles are split into 5 folds by near-duplicate group (cosine >= 0.95), so the same story collected
  twice never sits on both sides of a split; ``--split-seed N`` shuffles which groups share a fold (the
  default, no seed, is the fixed split every reported result uses), to see how much a result owes to
  one assignment of articles to folds;
- in each fold the full training procedure runs on the training articles only (labels resolved with the
  documented conflict rule, thresholds chosen by inner cross-validation), then the held-out articles are
  scored and decided;
- metrics, per code and overall, against the resolved (majority) label of the held-out articles (ties
  excluded): precision and recall of ``apply`` decisions, share of articles sent to review, F1 at the
  default threshold 0.5; and Cohen's kappa (sklearn.metrics.cohen_kappa_score) between the model and each
  human coder on the articles that coder labelled, next to the kappa between pairs of human coders.
  The model's yes/no for kappa is reported three ways: "apply" (yes = auto-applied), "p>=0.5", and
  "decision" (yes = p >= the per-code decision threshold that training chose on its own inner
  cross-validated predictions, so the held-out fold never influences it); a fourth, "best cut", is the
  highest kappa any single cut-off reaches on the held-out scores, picked with the test labels: an upper
  bound on what threshold tuning could give, reported to tell ranking limits from threshold limits;
- per targeted code, the gap between the model's kappa (decision) and the coders' kappa with a 90 %
  interval from an article bootstrap (both kappas recomputed on each resample, so the gap is paired), and
  the mean gap over the targeted codes: whether "at least as high as the coders" is more than noise;
- the cold-start scorer (codebook text only, no training) is measured separately on all articles.

Results: printed, and written to bench/results/eval_suggest.json and .md.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import hashlib
import itertools
import json
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from sklearn.metrics import average_precision_score, cohen_kappa_score, roc_auc_score
from sklearn.model_selection import GroupKFold

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from pipeline.codebook import Codebook, load_codebook  # noqa: E402
from pipeline.suggest.coldstart import ColdStartScorer  # noqa: E402
from pipeline.suggest.estimator import UNKNOWN  # noqa: E402
from pipeline.suggest.examples import ExampleSet, read_examples  # noqa: E402
from pipeline.suggest.files import training_matrix, training_shares  # noqa: E402
from pipeline.suggest.policy import _kappa_from_counts  # noqa: E402
from pipeline.suggest.priority import near_duplicate_groups  # noqa: E402
from pipeline.suggest.training import TrainingConfig, train_model  # noqa: E402

EVAL_DIR = Path(os.environ.get("QUALCODE_EVAL_DIR", REPO_ROOT.parent / "shared" / "eval")).resolve()
DATA_DIR = EVAL_DIR / "narrative_frames"
RESULTS = REPO_ROOT / "bench" / "results"
#: The issue's target applies to codes with at least this many positive training labels.
TARGET_MIN_POSITIVES = 40
#: The model's yes/no compared with coders: auto-applied, p >= 0.5, p >= the per-code decision threshold.
KAPPA_VARIANTS = ("kappa_model_apply", "kappa_model_0.5", "kappa_model_decision", "kappa_model_best_cut")
#: Cut-offs tried for the "best cut" bound: the highest kappa any single cut-off reaches on the held-out
#: scores, chosen with the test labels, so an upper bound on what threshold tuning could give, not a result.
BEST_CUT_GRID = np.linspace(0.05, 0.95, 91)
#: Article-bootstrap replicates for the intervals of the gap between model-coder and coder-coder kappa.
BOOTSTRAP_REPLICATES = 1000


def embed_units(texts: list[str], cache: Path | None) -> np.ndarray:
    """Embed texts with the configured embedder, reusing vectors cached in ``cache`` (npz by text hash)."""
    from pipeline.embed import get_embedder

    embedder = get_embedder()
    hashes = [hashlib.sha256(t.encode("utf-8")).hexdigest() for t in texts]
    stored: dict[str, np.ndarray] = {}
    if cache is not None and cache.exists():
        with np.load(cache, allow_pickle=False) as npz:
            if str(npz["model"]) == embedder.identity:
                stored = dict(zip(npz["hashes"].tolist(), npz["vectors"], strict=True))
    missing = [i for i, h in enumerate(hashes) if h not in stored]
    if missing:
        t0 = time.time()
        print(f"embedding {len(missing)} units with {embedder.identity} ...", flush=True)
        vectors = embedder.encode([texts[i] for i in missing])
        for i, v in zip(missing, vectors, strict=True):
            stored[hashes[i]] = v
        print(f"  done in {time.time() - t0:.0f}s", flush=True)
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            keys = sorted(stored)
            np.savez(
                cache,
                model=np.array(embedder.identity),
                hashes=np.array(keys),
                vectors=np.vstack([stored[k] for k in keys]).astype(np.float32),
            )
    return np.vstack([stored[h] for h in hashes]).astype(np.float32)


def coder_labels(examples: ExampleSet) -> dict[str, dict[tuple[str, str], int]]:
    """``{coder: {(unit, code): 0/1}}`` from the raw per-coder rows."""
    out: dict[str, dict[tuple[str, str], int]] = defaultdict(dict)
    for d in examples.decisions:
        out[d.coder][(str(d.unit), d.code)] = int(d.applied)
    return out


def _kappa(a: list[int], b: list[int]) -> float | None:
    """Cohen's kappa, or None when undefined (fewer than 2 units or both raters constant alike)."""
    if len(a) < 2:
        return None
    if len(set(a)) == 1 and len(set(b)) == 1:
        return None  # both constant: kappa is 0/0
    value = cohen_kappa_score(a, b)
    return None if np.isnan(value) else float(value)


def _weighted_mean(pairs: list[tuple[float | None, int]]) -> float | None:
    valid = [(v, n) for v, n in pairs if v is not None]
    total = sum(n for _, n in valid)
    return sum(v * n for v, n in valid) / total if total else None


def human_human_kappa(labels: dict[str, dict[tuple[str, str], int]], code: str) -> tuple[float | None, int]:
    """Mean of pairwise coder kappas on co-labelled articles (weighted by articles), and the unit count."""
    results = []
    for a, b in itertools.combinations(sorted(labels), 2):
        common = [u for (u, c) in labels[a] if c == code and (u, c) in labels[b]]
        if common:
            ka = [labels[a][(u, code)] for u in common]
            kb = [labels[b][(u, code)] for u in common]
            results.append((_kappa(ka, kb), len(common)))
    return _weighted_mean(results), sum(n for _, n in results)


def model_human_kappa(
    labels: dict[str, dict[tuple[str, str], int]], code: str, model_yes: dict[str, int]
) -> float | None:
    """Mean over coders of kappa(model, coder) on the articles that coder labelled."""
    results = []
    for coder in sorted(labels):
        units = [u for (u, c) in labels[coder] if c == code and u in model_yes]
        if units:
            results.append(
                (_kappa([labels[coder][(u, code)] for u in units], [model_yes[u] for u in units]), len(units))
            )
    return _weighted_mean(results)


def _weighted_kappa(W: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cohen's kappa of two raters' 0/1 answers on the same articles, once per row of article weights ``W``
    (bootstrap multiplicities), and the weighted article count; NaN where ``_kappa`` says it is undefined
    (fewer than 2 articles, or both raters constant)."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    n = W.sum(axis=1)
    tp, fp, fn, tn = W @ (a * b), W @ ((1 - a) * b), W @ (a * (1 - b)), W @ ((1 - a) * (1 - b))
    kappa = _kappa_from_counts(tp, fp, fn, tn)
    constant = (np.minimum(tp + fn, fp + tn) < 1e-12) & (np.minimum(tp + fp, fn + tn) < 1e-12)
    return np.where((n >= 2) & ~constant, kappa, np.nan), n


def _mean_by_articles(parts: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Per replicate, the mean of the defined kappas weighted by their article counts (as ``_weighted_mean``)."""
    if not parts:
        return np.array([np.nan])
    kappas = np.vstack([k for k, _ in parts])
    counts = np.where(np.isfinite(kappas), np.vstack([n for _, n in parts]), 0.0)
    total = counts.sum(axis=0)
    with np.errstate(invalid="ignore"):
        return np.where(total > 0, (np.nan_to_num(kappas) * counts).sum(axis=0) / total, np.nan)


def kappa_gap_bootstrap(
    labels: dict[str, dict[tuple[str, str], int]],
    code: str,
    model_yes: dict[str, int],
    replicates: int = BOOTSTRAP_REPLICATES,
    seed: int = 0,
) -> np.ndarray:
    """Model-coder kappa minus coder-coder kappa for ``code``: the observed gap, then one per bootstrap
    replicate (articles resampled with replacement; both kappas on the same resample, so the gap is paired).

    Why: with 265 articles a code's two kappas each move by several hundredths from sample to sample, so
    "the model's kappa is at least the coders'" needs an interval before it means anything.
    """
    units = sorted(model_yes)
    index = {u: i for i, u in enumerate(units)}
    n = len(units)
    rng = np.random.default_rng(seed)
    W = np.vstack([np.ones(n), rng.multinomial(n, np.full(n, 1.0 / n), size=replicates)]) if n else np.ones((1, 0))
    model_parts, human_parts = [], []
    for coder in sorted(labels):
        mine = [(index[u], v) for (u, c), v in labels[coder].items() if c == code and u in index]
        if mine:
            at = np.array([i for i, _ in mine])
            said = np.array([v for _, v in mine])
            model_parts.append(_weighted_kappa(W[:, at], said, np.array([model_yes[units[i]] for i in at])))
    for a, b in itertools.combinations(sorted(labels), 2):
        common = [u for (u, c) in labels[a] if c == code and (u, c) in labels[b] and u in index]
        if common:
            at = np.array([index[u] for u in common])
            human_parts.append(
                _weighted_kappa(
                    W[:, at],
                    np.array([labels[a][(u, code)] for u in common]),
                    np.array([labels[b][(u, code)] for u in common]),
                )
            )
    return _mean_by_articles(model_parts) - _mean_by_articles(human_parts)


def _gap_summary(gaps: np.ndarray) -> dict:
    """Observed gap, 90 % percentile interval and the share of replicates with gap >= 0."""
    boot = gaps[1:][np.isfinite(gaps[1:])]
    if not np.isfinite(gaps[0]) or not len(boot):
        return {"gap": None, "low": None, "high": None, "share_at_least": None}
    return {
        "gap": float(gaps[0]),
        "low": float(np.percentile(boot, 5)),
        "high": float(np.percentile(boot, 95)),
        "share_at_least": float((boot >= 0).mean()),
    }


def run_cv(
    codebook: Codebook,
    X: np.ndarray,
    Y: np.ndarray,
    Y_fit: np.ndarray,
    texts: list[str],
    groups: np.ndarray,
    coldstart: ColdStartScorer,
    config: TrainingConfig,
    folds: int,
) -> dict[str, np.ndarray]:
    """Out-of-fold probabilities, decisions and mode (trained or cold start) for every article x code."""
    n, k = Y.shape
    proba = np.full((n, k), np.nan)
    decisions = np.full((n, k), "", dtype=object)
    cold = np.zeros((n, k), dtype=bool)
    yes = np.zeros((n, k), dtype=bool)
    for fold, (train, test) in enumerate(GroupKFold(n_splits=folds).split(X, Y, groups)):
        t0 = time.time()
        model = train_model(
            codebook,
            X[train],
            Y[train],
            texts=[texts[i] for i in train],
            Y_fit=Y_fit[train],
            coldstart=copy.deepcopy(coldstart),
            embedding_model="eval",
            groups=groups[train],
            config=config,
            version=f"eval-fold{fold}",
        )
        scores = model.score(X[test], texts=[texts[i] for i in test])
        proba[test] = scores.proba
        decisions[test] = model.decide(scores)
        yes[test] = model.policy.is_positive_matrix(model.codes, scores.proba, scores.cold_start)
        cold[test] = scores.cold_start[None, :]
        print(
            f"  fold {fold + 1}/{folds}: {len(train)} train / {len(test)} test articles, "
            f"{len(model.learned_codes)} codes trained, {time.time() - t0:.0f}s",
            flush=True,
        )
    return {"proba": proba, "decisions": decisions, "cold": cold, "yes": yes}


def code_metrics(
    code: str,
    y: np.ndarray,
    proba: np.ndarray,
    decisions: np.ndarray,
    yes: np.ndarray,
    units: list[str],
    labels: dict[str, dict[tuple[str, str], int]],
) -> dict:
    """Metrics of one code over all articles (``y`` = resolved label, -1 unknown)."""
    known = y != UNKNOWN
    applied = decisions == "apply"
    tp = int((applied & (y == 1)).sum())
    n_applied_known = int((applied & known).sum())
    positives = int((y == 1).sum())
    pred_half = proba >= 0.5
    tp_half = int((pred_half & (y == 1)).sum())
    denom = int((pred_half & known).sum()) + positives
    kappa_apply = model_human_kappa(labels, code, dict(zip(units, applied.astype(int).tolist(), strict=True)))
    kappa_half = model_human_kappa(labels, code, dict(zip(units, pred_half.astype(int).tolist(), strict=True)))
    kappa_decision = model_human_kappa(labels, code, dict(zip(units, yes.astype(int).tolist(), strict=True)))
    kappa_best = max(
        (
            k
            for t in BEST_CUT_GRID
            if (k := model_human_kappa(labels, code, dict(zip(units, (proba >= t).astype(int).tolist(), strict=True))))
            is not None
        ),
        default=None,
    )
    tp_yes = int((yes & (y == 1)).sum())
    denom_yes = int((yes & known).sum()) + positives
    hh, hh_n = human_human_kappa(labels, code)
    return {
        "positives": positives,
        "known": int(known.sum()),
        "applied": n_applied_known,
        "tp": tp,
        "apply_precision": tp / n_applied_known if n_applied_known else None,
        "apply_recall": tp / positives if positives else None,
        "review_share": float((decisions == "review").mean()),
        "f1_at_0.5": 2 * tp_half / denom if denom else None,
        "kappa_model_apply": kappa_apply,
        "kappa_model_0.5": kappa_half,
        "f1_at_decision": 2 * tp_yes / denom_yes if denom_yes else None,
        "kappa_model_decision": kappa_decision,
        "kappa_model_best_cut": kappa_best,
        "kappa_human_human": hh,
        "human_pairs_units": hh_n,
    }


def cold_start_metrics(code: str, y: np.ndarray, proba: np.ndarray, decisions: np.ndarray, units, labels) -> dict:
    known = y != UNKNOWN
    yk, pk = y[known], proba[known]
    both = len(set(yk.tolist())) == 2
    pred_half = proba >= 0.5
    positives = int((y == 1).sum())
    tp_half = int((pred_half & (y == 1)).sum())
    denom = int((pred_half & known).sum()) + positives
    return {
        "positives": positives,
        "roc_auc": float(roc_auc_score(yk, pk)) if both else None,
        "average_precision": float(average_precision_score(yk, pk)) if both else None,
        "base_rate": float(yk.mean()) if len(yk) else None,
        "f1_at_0.5": 2 * tp_half / denom if denom else None,
        "review_share": float((decisions == "review").mean()),
        "kappa_model_0.5": model_human_kappa(
            labels, code, dict(zip(units, pred_half.astype(int).tolist(), strict=True))
        ),
    }


def _micro(rows: list[dict]) -> dict:
    tp = sum(r["tp"] for r in rows)
    applied = sum(r["applied"] for r in rows)
    positives = sum(r["positives"] for r in rows)
    return {
        "codes": len(rows),
        "apply_precision": tp / applied if applied else None,
        "apply_recall": tp / positives if positives else None,
        "review_share": float(np.mean([r["review_share"] for r in rows])) if rows else None,
    }


def shuffled_groups(groups: np.ndarray, seed: int | None) -> np.ndarray:
    """The same grouping under new labels drawn with ``seed`` (``None``: unchanged).

    GroupKFold deals groups to folds by size and, among equal sizes, by label order: new labels give
    another split that still keeps every near-duplicate group on one side.
    """
    if seed is None:
        return groups
    _, index = np.unique(groups, return_inverse=True)
    return np.random.default_rng(seed).permutation(index.max() + 1)[index]


def evaluate(
    limit: int | None = None,
    folds: int = 5,
    cache: bool = True,
    lexical: bool = True,
    counts: bool = True,
    subspace: bool = True,
    soft_labels: bool = True,
    C: float | None = None,
    split_seed: int | None = None,
) -> dict:
    """Run the whole measurement and return the results dictionary."""
    codebook = load_codebook(DATA_DIR / "codebook.yaml")
    examples = read_examples(DATA_DIR / "examples.csv.gz", known_codes=set(codebook.code_ids))
    if limit:
        keep = set(list(examples.units)[:limit])
        examples = ExampleSet(
            units={u: t for u, t in examples.units.items() if u in keep},
            decisions=[d for d in examples.decisions if d.unit in keep],
        )
    units, Y = training_matrix(examples, codebook.code_ids)
    texts = [examples.units[u] for u in units]
    Y_fit = training_shares(examples, units, codebook.code_ids) if soft_labels else Y.astype(float)
    X = embed_units(texts, RESULTS / "narrative_frames_embeddings.npz" if cache else None)
    groups = shuffled_groups(near_duplicate_groups(X), split_seed)
    labels = coder_labels(examples)
    # The project defaults (target precision 0.90, review floor 0.15, min 10, word and counts channels on).
    config = TrainingConfig(lexical=lexical, counts=counts, subspace=subspace)
    if C is not None:
        config = dataclasses.replace(config, C=C)

    from pipeline.embed import get_embedder

    coldstart = ColdStartScorer.from_codebook(codebook, get_embedder())
    print(
        f"{len(units)} articles, {len(set(groups.tolist()))} near-duplicate groups, {len(codebook)} codes, "
        f"{len(labels)} coders; {folds}-fold CV grouped by article",
        flush=True,
    )
    oof = run_cv(codebook, X, Y, Y_fit, texts, groups, coldstart, config, folds)

    per_code: dict[str, dict] = {}
    for j, code in enumerate(codebook.code_ids):
        m = code_metrics(code, Y[:, j], oof["proba"][:, j], oof["decisions"][:, j], oof["yes"][:, j], units, labels)
        m["cold_start_share"] = float(oof["cold"][:, j].mean())
        m["raw_positive_rows"] = sum(1 for d in examples.decisions if d.code == code and d.applied)
        per_code[code] = m

    cold_proba = coldstart.predict_code_proba(X)
    cold_dec = coldstart_decisions(coldstart, cold_proba, config)
    cold = {
        code: cold_start_metrics(code, Y[:, j], cold_proba[:, j], cold_dec[:, j], units, labels)
        for j, code in enumerate(codebook.code_ids)
    }

    targeted = [c for c, m in per_code.items() if m["positives"] >= TARGET_MIN_POSITIVES and m["cold_start_share"] < 1]
    precision_ok = [
        c for c in targeted if per_code[c]["apply_precision"] is None or per_code[c]["apply_precision"] >= 0.90
    ]
    gaps = {
        c: kappa_gap_bootstrap(
            labels, c, dict(zip(units, oof["yes"][:, codebook.code_ids.index(c)].astype(int).tolist(), strict=True))
        )
        for c in targeted
    }
    for c, g in gaps.items():
        per_code[c]["kappa_gap_decision"] = _gap_summary(g)
    kappa_ok = {}
    for variant in KAPPA_VARIANTS:
        kappa_ok[variant] = [
            c
            for c in targeted
            if per_code[c][variant] is not None
            and per_code[c]["kappa_human_human"] is not None
            and per_code[c][variant] >= per_code[c]["kappa_human_human"]
        ]
    return {
        "data": str(DATA_DIR),
        "articles": len(units),
        "folds": folds,
        "split_seed": split_seed,
        "config": config.__dict__,
        "per_code": per_code,
        "overall": _micro(list(per_code.values())),
        "overall_targeted": _micro([per_code[c] for c in targeted]),
        "targeted_codes": targeted,
        "precision_target_met": precision_ok,
        "kappa_target_met": kappa_ok,
        "kappa_mean_targeted": {
            variant: _mean([per_code[c][variant] for c in targeted])
            for variant in (*KAPPA_VARIANTS, "kappa_human_human")
        },
        "kappa_gap_mean_targeted": _gap_summary(np.nanmean(np.vstack(list(gaps.values())), axis=0))
        if gaps
        else _gap_summary(np.array([np.nan])),
        "cold_start": cold,
    }


def coldstart_decisions(coldstart: ColdStartScorer, proba: np.ndarray, config: TrainingConfig) -> np.ndarray:
    from pipeline.suggest.policy import DecisionPolicy
    from pipeline.suggest.training import COLD_START_REVIEW

    policy = DecisionPolicy(cold_start_review=max(COLD_START_REVIEW, config.review_floor))
    return policy.decide_matrix(coldstart.codes, proba, np.ones(len(coldstart.codes), dtype=bool))


def _mean(values: list[float | None]) -> float | None:
    valid = [v for v in values if v is not None]
    return float(np.mean(valid)) if valid else None


def _f(v, digits: int = 2) -> str:
    return "  –  " if v is None else f"{v:.{digits}f}"


def render(results: dict) -> str:
    lines = [
        f"# Code suggestion on narrative_frames ({results['articles']} articles, {results['folds']}-fold CV "
        "grouped by near-duplicate article"
        + (f", split seed {results['split_seed']}" if results.get("split_seed") is not None else "")
        + ")",
        "",
        "Trained model (out-of-fold). Labels: majority of coders, ties excluded. kappa = mean over coders "
        "(weighted by articles) of Cohen's kappa between model and coder; human = mean pairwise coder kappa. "
        "'best cut' is the highest kappa any one cut-off reaches, picked with the test labels: an upper bound "
        "on threshold tuning, not a result.",
        "",
        "| code | pos | raw pos | cold share | applied | apply P | apply R | review share | F1@0.5 "
        "| F1@decision | κ model(apply) | κ model(p≥.5) | κ model(decision) | κ best cut (bound) | κ human |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for code, m in results["per_code"].items():
        lines.append(
            f"| {code} | {m['positives']} | {m['raw_positive_rows']} | {_f(m['cold_start_share'])} | {m['applied']} "
            f"| {_f(m['apply_precision'])} | {_f(m['apply_recall'])} | {_f(m['review_share'])} "
            f"| {_f(m['f1_at_0.5'])} | {_f(m['f1_at_decision'])} | {_f(m['kappa_model_apply'])} "
            f"| {_f(m['kappa_model_0.5'])} | {_f(m['kappa_model_decision'])} | {_f(m['kappa_model_best_cut'])} "
            f"| {_f(m['kappa_human_human'])} |"
        )
    o, t = results["overall"], results["overall_targeted"]
    lines += [
        "",
        f"Overall (micro, all codes): apply precision {_f(o['apply_precision'])}, apply recall "
        f"{_f(o['apply_recall'])}, mean review share {_f(o['review_share'])}",
        f"Codes with ≥{TARGET_MIN_POSITIVES} positive training labels ({len(results['targeted_codes'])}): "
        f"apply precision {_f(t['apply_precision'])}, recall {_f(t['apply_recall'])}, "
        f"review share {_f(t['review_share'])}",
        f"  precision ≥ 0.90 (or nothing applied): {len(results['precision_target_met'])}/"
        f"{len(results['targeted_codes'])} codes",
        "  κ model ≥ κ human (codes): "
        + "; ".join(
            f"{v.removeprefix('kappa_model_')} {len(results['kappa_target_met'][v])}/{len(results['targeted_codes'])}"
            for v in KAPPA_VARIANTS
        ),
        "  mean κ over these codes: "
        + ", ".join(
            f"{v.removeprefix('kappa_model_').removeprefix('kappa_')} {_f(m)}"
            for v, m in results["kappa_mean_targeted"].items()
        ),
        "",
        "## Model vs coders, with intervals",
        "",
        "Gap = κ model(decision) − κ human, per targeted code; 90 % interval and share of replicates with "
        f"gap ≥ 0 from {BOOTSTRAP_REPLICATES} article-bootstrap resamples (both kappas on the same resample).",
        "",
        "| code | κ model(decision) | κ human | gap | 90 % interval | share ≥ 0 |",
        "|---|---|---|---|---|---|",
    ]
    for code in results["targeted_codes"]:
        m = results["per_code"][code]
        g = m.get("kappa_gap_decision") or {}
        lines.append(
            f"| {code} | {_f(m['kappa_model_decision'])} | {_f(m['kappa_human_human'])} | {_f(g.get('gap'))} "
            f"| [{_f(g.get('low'))}, {_f(g.get('high'))}] | {_f(g.get('share_at_least'))} |"
        )
    mean_gap = results.get("kappa_gap_mean_targeted") or {}
    clear = [
        c
        for c in results["targeted_codes"]
        if (g := results["per_code"][c].get("kappa_gap_decision") or {}).get("high") is not None and g["high"] < 0
    ]
    lines += [
        "",
        f"Mean gap over these codes: {_f(mean_gap.get('gap'))} "
        f"[{_f(mean_gap.get('low'))}, {_f(mean_gap.get('high'))}]; codes whose whole interval is below 0 "
        f"(model clearly below the coders): {', '.join(clear) or 'none'}",
        "",
        "## Cold start (codebook text only, no training; all articles)",
        "",
        "| code | pos | base rate | ROC AUC | avg precision | F1@0.5 | review share | κ model(p≥.5) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    aucs = []
    for code, m in results["cold_start"].items():
        if m["roc_auc"] is not None:
            aucs.append(m["roc_auc"])
        lines.append(
            f"| {code} | {m['positives']} | {_f(m['base_rate'])} | {_f(m['roc_auc'])} "
            f"| {_f(m['average_precision'])} | {_f(m['f1_at_0.5'])} | {_f(m['review_share'])} "
            f"| {_f(m['kappa_model_0.5'])} |"
        )
    lines.append("")
    lines.append(f"Cold start mean ROC AUC over {len(aucs)} codes: {_f(float(np.mean(aucs)) if aucs else None)}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--limit", type=int, default=None, help="use only the first N articles (quick check)")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--no-cache", action="store_true", help="do not read or write the embedding cache")
    parser.add_argument("--no-lexical", action="store_true", help="no TF-IDF word channel")
    parser.add_argument("--no-counts", action="store_true", help="no counts channel (marker counts)")
    parser.add_argument(
        "--no-subspace", action="store_true", help="embedding channel on the full embedding, not shared subspaces"
    )
    parser.add_argument(
        "--hard-labels", action="store_true", help="fit on majority labels (ties dropped) instead of vote shares"
    )
    parser.add_argument(
        "--C",
        type=float,
        default=None,
        help="C of the embedding channel on the full embedding (used with --no-subspace; default: the project's)",
    )
    parser.add_argument(
        "--split-seed",
        type=int,
        default=None,
        help="shuffle which near-duplicate groups share a fold (default: the fixed split of the reported results)",
    )
    parser.add_argument("--tag", default="", help="suffix for the result files (e.g. an ablation name)")
    args = parser.parse_args(argv)
    if not DATA_DIR.exists():
        print(f"shared eval data not found at {DATA_DIR}; skipping (see ../shared/eval/README.md)")
        return 0
    t0 = time.time()
    results = evaluate(
        limit=args.limit,
        folds=args.folds,
        cache=not args.no_cache,
        lexical=not args.no_lexical,
        counts=not args.no_counts,
        subspace=not args.no_subspace,
        soft_labels=not args.hard_labels,
        C=args.C,
        split_seed=args.split_seed,
    )
    results["variant"] = {
        "lexical": not args.no_lexical,
        "counts": not args.no_counts,
        "subspace": not args.no_subspace,
        "soft_labels": not args.hard_labels,
        "C": args.C,
    }
    report = render(results)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = "eval_suggest" + (f"_{args.tag}" if args.tag else "")
    (RESULTS / f"{stem}.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    (RESULTS / f"{stem}.md").write_text(report, encoding="utf-8")
    print(report)
    print(f"({time.time() - t0:.0f}s; written to {RESULTS / stem}.md and .json)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
