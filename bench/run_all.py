"""``make bench``: run every measurement and benchmark in bench/ and print their summaries.

Each script is independent (``python bench/<name>.py``) and writes its detailed results under
bench/results/. Scripts that need ../shared/eval say so and are skipped when it is absent.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDER = [
    "bench_batch.py",
    "eval_anonymise.py",
    "leak_scan.py",
    "eval_suggest.py",
    "eval_agreement.py",
    "bench_agreement.py",
]
#: Research probes run by hand (long, and not a measurement of the shipped system).
BY_HAND = {"run_all.py", "probe_finetune.py"}


def main() -> int:
    failures = 0
    scripts = [HERE / name for name in ORDER if (HERE / name).exists()]
    scripts += sorted(p for p in HERE.glob("*.py") if p.name not in ORDER and p.name not in BY_HAND)
    for script in scripts:
        print(f"\n=== {script.name} ===", flush=True)
        started = time.perf_counter()
        code = subprocess.call([sys.executable, str(script)], cwd=HERE.parent)
        print(f"--- {script.name}: exit {code} in {time.perf_counter() - started:.0f} s", flush=True)
        failures += code != 0
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
