"""Throughput of the anonymise stage now against an earlier commit, measured in the same run.

    .venv/bin/python bench/bench_anonymise_speed.py [--ref 4783f5d] [--rounds 2]

Why a separate script: a speed target ("at least 0.8x of before") only means something when both sides
run on the same machine at the same time. The earlier commit is checked out into a temporary git
worktree; each side runs in its own Python process (same virtual environment) over the same texts
(TAB judgments and the uk_spoken excerpts from ../shared/eval, else the synthetic gold sets), warmed up
first, alternating sides for ``--rounds`` rounds, best round kept. Only characters per second are
reported, never text.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EVAL_DIR = Path(os.environ.get("QUALCODE_EVAL_DIR", REPO.parent / "shared" / "eval")).resolve()
RESULTS = REPO / "bench" / "results"
#: The last commit before the recall-first anonymiser (issue 15).
DEFAULT_REF = "4783f5d"

_WORKER = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
from pipeline.anonymise import InMemoryPseudonymStore, build_anonymiser
from pipeline.settings import Settings
texts = json.load(open(sys.argv[2], encoding="utf-8"))
anonymiser = build_anonymiser(Settings())
anonymiser.anonymise_many(texts[:3], InMemoryPseudonymStore())  # warm up
start = time.perf_counter()
anonymiser.anonymise_many(texts, InMemoryPseudonymStore())
print(json.dumps({"seconds": time.perf_counter() - start}))
"""


def corpus() -> list[str]:
    texts: list[str] = []
    for path in (EVAL_DIR / "tab" / "texts.jsonl", EVAL_DIR / "uk_spoken" / "excerpts.jsonl"):
        if path.exists():
            texts += [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines() if line]
    if not texts:  # no shared data: the synthetic gold sets
        for path in sorted((REPO / "bench" / "gold").glob("*.jsonl")):
            texts += [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines() if line]
    return texts


def run_side(code_dir: Path, texts_file: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(code_dir), "HF_HUB_OFFLINE": "1", "DO_NOT_TRACK": "1"}
    out = subprocess.run(
        [sys.executable, "-c", _WORKER, str(code_dir), str(texts_file)],
        check=True, capture_output=True, text=True, cwd=code_dir, env=env,
    )
    return float(json.loads(out.stdout.strip().splitlines()[-1])["seconds"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ref", default=DEFAULT_REF, help="the earlier commit to compare with")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    texts = corpus()
    chars = sum(len(t) for t in texts)
    with tempfile.TemporaryDirectory() as tmp:
        worktree = Path(tmp) / "before"
        try:
            subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(worktree), args.ref],
                           check=True, capture_output=True)
        except subprocess.CalledProcessError:
            print(f"anonymise speed: skipped (commit {args.ref} not in this clone)")
            return 0
        try:
            texts_file = Path(tmp) / "texts.json"
            texts_file.write_text(json.dumps(texts), encoding="utf-8")
            before, now = [], []
            for _ in range(args.rounds):
                before.append(run_side(worktree, texts_file))
                now.append(run_side(REPO, texts_file))
        finally:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(worktree)],
                           check=False, capture_output=True)
    report = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "ref": args.ref,
        "texts": len(texts),
        "chars": chars,
        "before_chars_per_second": round(chars / min(before)),
        "now_chars_per_second": round(chars / min(now)),
        "ratio": round(min(before) / min(now), 3),
        "target_ratio": 0.8,
    }
    print(f"anonymise stage on {len(texts)} texts ({chars:,} chars), best of {args.rounds}, same run:")
    print(f"  before ({args.ref}) {report['before_chars_per_second']:>9,} chars/s")
    print(f"  now                {report['now_chars_per_second']:>9,} chars/s")
    print(f"  ratio now/before   {report['ratio']:.2f}  (target >= 0.80)")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"anonymise_speed_{dt.datetime.now(dt.UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    out.write_text(json.dumps(report, indent=2), encoding="utf-8")
    print(f"written {out.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
