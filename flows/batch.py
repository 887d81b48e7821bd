"""``process_new_transcripts``: the scheduled batch flow.

Thin by design: each task calls one ``pipeline.batch`` function and returns names and counts only, and
result persistence is off everywhere, so Prefect's database and result storage never see transcript text.
File names name people, so they never reach Prefect either: task runs are named by position
(``ingest-file-3``), outcomes carry the stored safe name or an opaque content-hash reference, and the run
logger never sees an inbox name (the console does, through ``progress_hook``, in-process only).
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
from pipeline.batch import BatchSummary, FileOutcome, ProgressHook, StageHook
from pipeline.settings import get_settings

#: Set by ``qualcode run`` to drive its progress bar; the flow calls it with (file name, outcome).
progress_hook: contextvars.ContextVar[ProgressHook | None] = contextvars.ContextVar("progress_hook", default=None)
#: Set by ``qualcode run`` for the embed and suggest stages: (stage, segments done, total).
stage_hook: contextvars.ContextVar[StageHook | None] = contextvars.ContextVar("stage_hook", default=None)

TASK_OPTIONS = {"persist_result": False, "cache_policy": NO_CACHE, "log_prints": False}


@task(name="ingest-file", task_run_name="ingest-file-{position}", **TASK_OPTIONS)
def ingest_file_task(path: str, batch_id: int, position: int = 0) -> dict:
    """Read, anonymise, segment and store one file; never raises for a bad file.

    ``position`` only names the task run: Prefect's default run name and the UI must not show the path.
    """
    outcome = batch.ingest_file_safely(Path(path), get_settings(), batch_id)
    return asdict(outcome)


@task(name="embed-pending", **TASK_OPTIONS)
def embed_task(hook: StageHook | None = None) -> int:
    return batch.embed_pending(get_settings(), hook)


@task(name="suggest-pending", **TASK_OPTIONS)
def suggest_task(hook: StageHook | None = None) -> batch.SuggestRun:
    return batch.suggest_pending(get_settings(), hook)


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
    try:
        _run_stages(summary, folder, settings, workers, logger)
    except BaseException as exc:
        batch.fail_batch(summary.batch_id, batch.safe_reason(exc))
        raise
    summary.seconds = round(time.perf_counter() - started, 2)
    batch.finish_batch(summary)
    logger.info(
        "batch %s done: %d new, %d skipped, %d quarantined, %d failed, %d segments, %.1fs",
        summary.batch_id, summary.files_done, summary.files_skipped, summary.files_quarantined,
        summary.files_failed, summary.segments_created, summary.seconds,
    )
    return summary.to_dict()


def _run_stages(summary: BatchSummary, folder: Path, settings, workers: int, logger) -> None:  # type: ignore[no-untyped-def]
    files = batch.discover_new(folder, settings)
    logger.info("batch %s: %d candidate file(s) in the inbox", summary.batch_id, len(files))
    hook = progress_hook.get()
    if workers > 1:
        futures = [ingest_file_task.submit(str(p), summary.batch_id, i) for i, p in enumerate(files, 1)]
        results = [f.result() for f in futures]
    else:
        results = [ingest_file_task(str(p), summary.batch_id, i) for i, p in enumerate(files, 1)]
    for path, result in zip(files, results, strict=True):
        outcome = FileOutcome(**result)
        batch.tally(summary, [outcome])
        # The run logger writes to Prefect's database: safe names and references only.
        if outcome.outcome == "quarantined":
            logger.warning("quarantined %s: %s", outcome.name, outcome.reason)
        elif outcome.outcome == "failed":
            logger.error("failed %s: %s", outcome.name, outcome.reason)
        if hook:
            hook(path.name, outcome.outcome)  # in-process: the console may name the operator's file
    summary.segments_embedded = embed_task(stage_hook.get())
    suggested = suggest_task(stage_hook.get())
    summary.suggestions = suggested.totals
    if suggested.paused:
        summary.problems.append(suggested.paused)
        logger.error("%s", suggested.paused)
    summary.review_items, summary.blind_items = batch.tolerant(summary, "review queue refresh", queue_task, (0, 0))
    summary.alerts = batch.tolerant(summary, "agreement snapshot", lambda: agreement_task(summary.batch_id), [])
    for problem in summary.problems:
        logger.error("problem: %s", problem)
    if batch.alerts_message(summary.alerts):
        logger.warning("%s", batch.alerts_message(summary.alerts))
    if summary.held_message:
        logger.warning("%s", summary.held_message)


def with_runner(workers: int = 1, dask_address: str | None = None):  # type: ignore[no-untyped-def]
    """The flow with a task runner for scale-out: threads locally, or a Dask cluster by address."""
    if dask_address:
        from prefect_dask import DaskTaskRunner

        return process_new_transcripts.with_options(task_runner=DaskTaskRunner(address=dask_address))
    return process_new_transcripts.with_options(task_runner=ThreadPoolTaskRunner(max_workers=max(1, workers)))
