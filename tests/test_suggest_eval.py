"""The measurement script runs end to end on a subset of ../shared/eval/narrative_frames.

Skips when the eval data is absent. Nothing is cached or written (the full run is
``.venv/bin/python bench/eval_suggest.py``; numbers are reported there, not asserted here beyond sanity).
"""

from __future__ import annotations

import importlib.util

import pytest

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
