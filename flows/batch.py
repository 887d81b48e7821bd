"""``process_new_transcripts``: the scheduled batch flow.

Thin by design: each task calls one ``pipeline.batch`` function and returns names and counts only, and
result persistence is off everywhere, so Prefect's database and result storage never see transcript text.
Scale-out: pass ``workers > 1`` for a thread pool on one machine, or ``dask_address`` to fan files out to a
Dask cluster (``prefect-dask``); schedules live in the deployment (``flows/deploy.py``, ``prefect.yaml``).
"""

from __future__ import annotations

import contextvars
from dataclasses import asdict
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ThreadPoolTaskRunner

from pipeline import batch
from pipeline.batch import BatchSummary, FileOutcome, ProgressHook
from pipeline.settings import get_settings

#: Set by ``qualcode run`` to drive its progress bar; tasks call it with (file name, outcome).
progress_hook: contextvars.ContextVar[ProgressHook | None] = contextvars.ContextVar("progress_hook", default=None)

TASK_OPTIONS = {"persist_result": False, "cache_policy": NO_CACHE, "log_prints": False}


@task(name="ingest-file", **TASK_OPTIONS)
def ingest_file_task(path: str, batch_id: int) -> dict:
    """Read, anonymise, segment and store one file; never raises for a bad file."""
    outcome = batch.ingest_file_safely(Path(path), get_settings(), batch_id)
    return asdict(outcome)


@task(name="embed-pending", **TASK_OPTIONS)
def embed_task() -> int:
    return batch.embed_pending(get_settings())


@task(name="suggest-pending", **TASK_OPTIONS)
def suggest_task() -> batch.SuggestRun:
    return batch.suggest_pending(get_settings())


@task(name="refresh-queue", **TASK_OPTIONS)
def queue_task() -> tuple[int, int]:
    return batch.refresh_queue(get_settings())


@task(name="agreement-snapshot", **TASK_OPTIONS)
def agreement_task(batch_id: int) -> list[str]:
    return batch.agreement_alerts(get_settings(), batch_id)


@flow(name="process_new_transcripts", persist_result=False, log_prints=False)
def process_new_transcripts(inbox: str | None = None, workers: int = 1) -> dict:
    """Process every new file in the inbox; a re-run does only new work. Returns a text-free summary."""
    import time

    from prefect.runtime import flow_run

    logger = get_run_logger()
    settings = get_settings()
    started = time.perf_counter()
    folder = Path(inbox) if inbox else settings.inbox
    summary = BatchSummary(batch_id=batch.start_batch(settings, flow_run_id=str(flow_run.id or "")))
    files = batch.discover_new(folder, settings)
    logger.info("batch %s: %d candidate file(s) in the inbox", summary.batch_id, len(files))
    hook = progress_hook.get()
    if workers > 1:
        futures = [ingest_file_task.submit(str(p), summary.batch_id) for p in files]
        results = [f.result() for f in futures]
    else:
        results = [ingest_file_task(str(p), summary.batch_id) for p in files]
    for result in results:
        outcome = FileOutcome(**result)
        batch.tally(summary, [outcome])
        if outcome.outcome == "quarantined":
            logger.warning("quarantined %s: %s", outcome.name, outcome.reason)
        elif outcome.outcome == "failed":
            logger.error("failed %s: %s", outcome.name, outcome.reason)
        if hook:
            hook(outcome.name, outcome.outcome)
    summary.segments_embedded = embed_task()
    suggested = suggest_task()
    summary.suggestions = suggested.totals
    if suggested.paused:
        summary.problems.append(suggested.paused)
        logger.error("%s", suggested.paused)
    summary.review_items, summary.blind_items = queue_task()
    summary.alerts = agreement_task(summary.batch_id)
    for alert in summary.alerts:
        logger.warning("agreement alert: %s", alert)
    if summary.held_message:
        logger.warning("%s", summary.held_message)
    summary.seconds = round(time.perf_counter() - started, 2)
    batch.finish_batch(summary)
    logger.info(
        "batch %s done: %d new, %d skipped, %d quarantined, %d failed, %d segments, %.1fs",
        summary.batch_id, summary.files_done, summary.files_skipped, summary.files_quarantined,
        summary.files_failed, summary.segments_created, summary.seconds,
    )
    return summary.to_dict()


def with_runner(workers: int = 1, dask_address: str | None = None):  # type: ignore[no-untyped-def]
    """The flow with a task runner for scale-out: threads locally, or a Dask cluster by address."""
    if dask_address:
        from prefect_dask import DaskTaskRunner

        return process_new_transcripts.with_options(task_runner=DaskTaskRunner(address=dask_address))
    return process_new_transcripts.with_options(task_runner=ThreadPoolTaskRunner(max_workers=max(1, workers)))
