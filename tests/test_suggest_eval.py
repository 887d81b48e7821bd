"""The measurement script runs end to end on a subset of ../shared/eval/narrative_frames.

Skips when the eval data is absent. Nothing is cached or written (the full run is
``.venv/bin/python bench/eval_suggest.py``; numbers are reported there, not asserted here beyond sanity).
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from sklearn.model_selection import GroupKFold

from tests.conftest import REPO_ROOT, eval_path

pytestmark = [pytest.mark.eval, pytest.mark.slow]


def _bench():
    spec = importlib.util.spec_from_file_location("eval_suggest", REPO_ROOT / "bench" / "eval_suggest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_eval_on_narrative_frames_subset() -> None:
    eval_path("narrative_frames", "examples.csv.gz")
    bench = _bench()
    results = bench.evaluate(limit=30, folds=3, cache=False)
    assert results["articles"] == 30
    assert len(results["per_code"]) == 22 and len(results["cold_start"]) == 22
    for code, m in results["per_code"].items():
        assert 0.0 <= m["review_share"] <= 1.0, code
        if m["applied"]:
            assert m["apply_precision"] == pytest.approx(m["tp"] / m["applied"])
    # Codes the coders used in both directions get a human-human kappa to compare against.
    assert results["per_code"]["co1"]["kappa_human_human"] is not None
    overall = results["overall"]
    if overall["apply_precision"] is not None:
        assert overall["apply_precision"] >= 0.6
    report = bench.render(results)
    assert "Cold start" in report and "| co1 |" in report


def test_split_seed_reassigns_folds_but_keeps_near_duplicates_together() -> None:
    """Shuffled group labels give GroupKFold another split; no group is ever cut in two."""
    bench = _bench()
    groups = np.array([0, 0, 1, 2, 3, 3, 4, 5, 6, 7, 8, 9, 10, 11])
    assert bench.shuffled_groups(groups, None) is groups
    shuffled = bench.shuffled_groups(groups, 1)
    # Same partition of the units, new labels.
    assert all((shuffled == shuffled[i]).tolist() == (groups == groups[i]).tolist() for i in range(len(groups)))
    assert not np.array_equal(shuffled, groups)
    X = np.zeros((len(groups), 1))
    folds = [frozenset(test) for _, test in GroupKFold(3).split(X, groups=groups)]
    reshuffled = [frozenset(test) for _, test in GroupKFold(3).split(X, groups=shuffled)]
    assert set(folds) != set(reshuffled)
    for test in reshuffled:
        inside = set(shuffled[list(test)].tolist())
        assert all(shuffled[i] not in inside for i in range(len(groups)) if i not in test)


def test_kappa_gap_bootstrap_matches_the_reported_kappas_and_brackets_them() -> None:
    """SYNTHETIC labels: the observed gap is exactly kappa(model, coders) - kappa(coders, coders) as the
    report computes them (an undefined pair left out alike), and the interval brackets it."""
    bench = _bench()
    rng = np.random.default_rng(4)
    truth = rng.random(60) < 0.4
    units = [f"u{i}" for i in range(60)]
    labels: dict[str, dict[tuple[str, str], int]] = {}
    for coder, noise in (("c1", 0.15), ("c2", 0.25)):
        said = truth ^ (rng.random(60) < noise)
        labels[coder] = {(u, "x"): int(v) for u, v in zip(units, said, strict=True)}
    # Two coders who each said "no" to the same two units: their kappa is undefined (0/0), left out.
    labels["c3"] = {("u0", "x"): 0, ("u1", "x"): 0}
    labels["c4"] = {("u0", "x"): 0, ("u1", "x"): 0}
    model_yes = {u: int(v) for u, v in zip(units, truth, strict=True)}  # a model that knows the truth
    gaps = bench.kappa_gap_bootstrap(labels, "x", model_yes, replicates=400)
    expected = bench.model_human_kappa(labels, "x", model_yes) - bench.human_human_kappa(labels, "x")[0]
    assert gaps.shape == (401,) and gaps[0] == pytest.approx(expected)
    summary = bench._gap_summary(gaps)
    assert summary["low"] < summary["gap"] < summary["high"]
    assert summary["gap"] > 0 and summary["share_at_least"] > 0.75  # a model that knows the truth
