"""Throughput and memory of the batch run, per stage, on the synthetic sample inbox.

Usage: ``python bench/bench_batch.py [--repeat N]``. Copies data/sample/ N times (with a marker so every
copy has a new content hash) into a fresh project in a temporary folder, runs the stages directly (no
Prefect, to measure our code rather than orchestration), and reports seconds, characters per second and
peak memory (RSS) per stage. Results: bench/results/batch.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"
FORMATS = {".txt", ".docx", ".vtt", ".srt", ".pdf"}


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=2, help="copies of the sample inbox")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="qualcode-bench-"))
    inbox = work / "inbox"
    inbox.mkdir()
    for r in range(args.repeat):
        for path in SAMPLE.iterdir():
            text_format = path.suffix.lower() in {".txt", ".vtt", ".srt"}
            if path.suffix.lower() in FORMATS and (r == 0 or text_format):
                target = inbox / f"copy{r}_{path.name}"
                shutil.copy(path, target)
                with target.open("ab") as fh:  # a new content hash, the same text: every copy is new work
                    fh.write(b"\n" * r)
    os.environ.update({
        "QUALCODE_HOME": str(ROOT),
        "QUALCODE_DATABASE_URL": f"sqlite:///{work / 'bench.db'}",
        "QUALCODE_DATA_DIR": str(work / "data"),
        "QUALCODE_QUARANTINE_DIR": str(work / "quarantine"),
        "QUALCODE_MODELS_DIR": str(work / "models"),
        "QUALCODE_KEY_FILE": str(work / "bench.key"),
    })

    from pipeline import batch
    from pipeline.settings import get_settings

    settings = get_settings()
    results: dict[str, dict[str, float]] = {}
    raw_chars = sum(p.stat().st_size for p in inbox.iterdir())

    t = time.perf_counter()
    batch_id = batch.start_batch(settings)
    outcomes = [batch.ingest_file_safely(p, settings, batch_id) for p in batch.discover_new(inbox)]
    results["ingest+anonymise+segment"] = {"seconds": time.perf_counter() - t, "rss_mb": _rss_mb()}
    segments = sum(o.segments for o in outcomes)

    t = time.perf_counter()
    embedded = batch.embed_pending(settings)
    results["embed"] = {"seconds": time.perf_counter() - t, "rss_mb": _rss_mb(), "vectors": embedded}

    t = time.perf_counter()
    suggestions = batch.suggest_pending(settings)
    results["suggest"] = {"seconds": time.perf_counter() - t, "rss_mb": _rss_mb()}

    t = time.perf_counter()
    review, blind = batch.refresh_queue(settings)
    results["queue"] = {"seconds": time.perf_counter() - t, "rss_mb": _rss_mb()}

    total = sum(r["seconds"] for r in results.values())
    summary = {
        "files": len(outcomes),
        "done": sum(o.outcome == "done" for o in outcomes),
        "bytes": raw_chars,
        "segments": segments,
        "suggestions": suggestions,
        "review_items": review,
        "blind_items": blind,
        "stages": results,
        "total_seconds": total,
        "bytes_per_second": raw_chars / total if total else None,
        "peak_rss_mb": _rss_mb(),
    }
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "batch.json").write_text(json.dumps(summary, indent=2))
    print(f"files {summary['done']}/{summary['files']}, {segments} segments, {raw_chars / 1e3:.0f} kB")
    for stage, r in results.items():
        print(f"  {stage:<26} {r['seconds']:7.1f} s   peak RSS {r['rss_mb']:.0f} MB")
    print(f"  {'total':<26} {total:7.1f} s   {summary['bytes_per_second'] / 1e3:.1f} kB/s")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
