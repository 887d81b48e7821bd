"""Time to compute agreement (all coefficients + bootstrap intervals) for 100,000 decisions.

Run:  .venv/bin/python bench/bench_agreement.py [--decisions 100000] [--bootstrap 1000] [--repeat 3]

Scenarios, all on SYNTHETIC decisions generated here (seeded):
1. ``report``: the full ``agreement_report`` path behind ``qualcode agreement`` — 20 yes/no codes in 4
   themes, 3 coders, each unit coded by 2 of them (units = decisions / 40), per code, per coder pair,
   per theme and overall, every coefficient with a 1,000-resample bootstrap interval.
2. ``one_code_binary``: one yes/no code, 2 coders, decisions / 2 units (the largest single matrix).
3. ``one_code_5cat_missing``: one 5-category code, 4 coders with 30 % missing ratings (many distinct
   rows, the bootstrap's worst case), interval-level alpha.
4. ``naive_loop`` (for scale, 50 resamples only, then extrapolated): scenario 2's bootstrap done the
   obvious way, recomputing alpha on a resampled matrix in a Python loop.

Results: printed, and written to bench/results/bench_agreement.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from pipeline.agreement.metrics import RatingMatrix, krippendorff_alpha, summarise  # noqa: E402
from pipeline.agreement.report import Decision, ReportOptions, agreement_report  # noqa: E402

RESULTS = REPO_ROOT / "bench" / "results"


@dataclass(frozen=True)
class _Theme:
    id: str
    name: str


@dataclass(frozen=True)
class _Code:
    id: str


class SyntheticCodebook:
    """20 codes in 4 themes (the shape of a real codebook; no text needed for agreement)."""

    def __init__(self, n_codes: int = 20, n_themes: int = 4) -> None:
        self.codes = [_Code(f"code{i:02d}") for i in range(n_codes)]
        self._theme = {c.id: _Theme(f"theme{i % n_themes}", f"Theme {i % n_themes}") for i, c in enumerate(self.codes)}

    def theme_of(self, code_id: str) -> _Theme:
        return self._theme[code_id]


def synthetic_decisions(n_decisions: int, n_codes: int, seed: int) -> list[Decision]:
    """Each unit is coded for every code by 2 of 3 coders; prevalence and noise vary by code."""
    rng = np.random.default_rng(seed)
    n_units = n_decisions // (2 * n_codes)
    coders = ("ann", "bob", "cat")
    prevalence = rng.uniform(0.02, 0.5, n_codes)
    noise = rng.uniform(0.02, 0.25, n_codes)
    truth = rng.random((n_units, n_codes)) < prevalence
    out: list[Decision] = []
    for u in range(n_units):
        pair = rng.choice(3, size=2, replace=False)
        flips = rng.random((2, n_codes)) < noise
        for k, c in enumerate(pair):
            values = truth[u] ^ flips[k]
            out.extend(Decision(f"u{u}", f"code{j:02d}", coders[c], int(values[j])) for j in range(n_codes))
    return out


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - started)
    return best, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=100_000)
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    n, b = args.decisions, args.bootstrap
    rng = np.random.default_rng(1)
    results: dict[str, Any] = {"decisions": n, "bootstrap": b, "scenarios": {}}

    decisions = synthetic_decisions(n, 20, seed=2)
    book = SyntheticCodebook()
    options = ReportOptions(n_boot=b, seed=0)
    seconds, records = timed(lambda: agreement_report(decisions, book, options), args.repeat)
    results["scenarios"]["report"] = {
        "decisions": len(decisions),
        "records": len(records),
        "seconds": seconds,
        "what": "20 codes, 4 themes, 3 coders (2 per unit): code + pair + theme + overall records, all metrics + CIs",
    }

    a = (rng.random(n // 2) < 0.2).astype(int)
    bcol = np.where(rng.random(n // 2) < 0.9, a, 1 - a)
    binary = RatingMatrix.from_codes(np.column_stack([a, bcol]), categories=(0, 1))
    seconds, summary = timed(lambda: summarise(binary, n_boot=b), args.repeat)
    results["scenarios"]["one_code_binary"] = {
        "decisions": binary.n_ratings,
        "units": binary.n_units,
        "seconds": seconds,
        "alpha": summary["krippendorff_alpha"].to_dict(),
    }

    n_units = int(n / (4 * 0.7))
    truth = rng.integers(0, 5, n_units)
    codes = np.where(rng.random((n_units, 4)) < 0.8, truth[:, None], rng.integers(0, 5, (n_units, 4)))
    codes = np.where(rng.random((n_units, 4)) < 0.3, -1, codes)
    multi = RatingMatrix.from_codes(codes, categories=(1, 2, 3, 4, 5))
    seconds, summary = timed(lambda: summarise(multi, level="interval", n_boot=b), args.repeat)
    results["scenarios"]["one_code_5cat_missing"] = {
        "decisions": multi.n_ratings,
        "units": multi.n_units,
        "distinct_rows": int(multi._patterns[0].shape[0]),
        "seconds": seconds,
        "alpha_interval": summary["krippendorff_alpha"].to_dict(),
    }

    naive_b = 50
    pairs = binary.codes

    def naive() -> None:
        loop_rng = np.random.default_rng(0)
        for _ in range(naive_b):
            sample = pairs[loop_rng.integers(0, len(pairs), len(pairs))]
            krippendorff_alpha(RatingMatrix.from_codes(sample, categories=(0, 1)))

    seconds, _ = timed(naive, 1)
    results["scenarios"]["naive_loop"] = {
        "resamples": naive_b,
        "seconds": seconds,
        "extrapolated_seconds_for_b": seconds * b / naive_b,
        "what": "alpha only, resampled matrix rebuilt per replicate (for comparison)",
    }

    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "bench_agreement.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
    print(f"agreement benchmark: {n:,} decisions, {b} bootstrap resamples, best of {args.repeat}")
    for name, s in results["scenarios"].items():
        extra = f" (extrapolated to B={b}: {s['extrapolated_seconds_for_b']:.1f} s)" if name == "naive_loop" else ""
        size = f"{s.get('decisions', ''):,} decisions" if "decisions" in s else f"{s['resamples']} resamples"
        print(f"  {name:24s} {size:>22s}  {s['seconds']:7.3f} s{extra}")
    print("results in bench/results/bench_agreement.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
