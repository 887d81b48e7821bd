"""``retrain``: retrain the code suggester on new human decisions and re-score the review queue.

Two ways it runs (both thin over ``pipeline.suggest.service``):

- **On a schedule** (weekly, ``retrain-weekly`` in ``prefect.yaml`` or ``serve_retrain``), with
  ``min_new_decisions=1``: retrain if anything at all was decided since the active model.
- **When the embeddings changed** (the active model was trained on another embedding model or pooling,
  so it cannot score and the batch pauses suggestions): either deployment retrains at its next run,
  however few decisions are new.
- **When enough decisions have arrived** (``retrain-when-due``, checked hourly, or ``retrain_if_due``
  called at the end of a batch): retrain once ``settings.retrain_min_new_decisions`` human decisions are
  newer than the active model. The check is a cheap count, so running it often costs nothing.

Tasks return versions and counts only, and result persistence is off, so Prefect never stores text.
"""

from __future__ import annotations

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from pipeline.settings import get_settings
from pipeline.store.db import session_scope

TASK_OPTIONS = {"persist_result": False, "cache_policy": NO_CACHE, "log_prints": False}
#: How often the "when due" deployment checks the number of new decisions: at a quarter past, as in
#: prefect.yaml, so it never starts together with the weekly retrain (04:00) or the nightly batch (02:00).
DUE_CHECK_CRON = "15 * * * *"
#: The unconditional weekly retrain (Sunday 04:00), as in prefect.yaml.
WEEKLY_CRON = "0 4 * * 0"


@task(name="count-new-decisions", **TASK_OPTIONS)
def count_new_decisions_task() -> int:
    from pipeline.suggest import new_decisions_since_active_model

    with session_scope() as session:
        return new_decisions_since_active_model(session)


@task(name="embeddings-changed", **TASK_OPTIONS)
def embeddings_changed_task() -> bool:
    from pipeline.suggest import embeddings_changed

    with session_scope() as session:
        return embeddings_changed(session, get_settings())


@task(name="retrain-model", **TASK_OPTIONS)
def retrain_task() -> dict[str, str | int | None]:
    """Train, activate and re-score; returns the new version (None while still in cold-start mode)."""
    from pipeline.suggest import embed_labelled_segments
    from pipeline.suggest import retrain as retrain_model

    settings = get_settings()
    with session_scope() as session:  # short write: embeddings first, so training holds no write lock
        embed_labelled_segments(session, settings)
    with session_scope() as session:
        row = retrain_model(session, settings, actor="flow")
        if row is None:
            return {"version": None, "codes_trained": 0}
        trained = sum(1 for entry in (row.card.get("codes") or {}).values() if entry.get("mode") == "model")
        return {"version": row.version, "codes_trained": trained, "activated": bool(row.is_active)}


@flow(name="retrain", persist_result=False, log_prints=False)
def retrain(min_new_decisions: int | None = None) -> dict[str, str | int | None]:
    """Retrain when at least ``min_new_decisions`` (default: the setting) human decisions are new."""
    logger = get_run_logger()
    threshold = get_settings().retrain_min_new_decisions if min_new_decisions is None else min_new_decisions
    new = count_new_decisions_task()
    changed = embeddings_changed_task()
    if new < max(threshold, 1) and not changed:
        logger.info("retrain skipped: %d new human decision(s), need %d", new, threshold)
        return {"version": None, "new_decisions": new, "skipped": 1}
    if changed:
        logger.warning("retrain: the active model was trained on other embeddings than the configured ones")
    result = retrain_task()
    logger.info("retrain: %d new decision(s) -> model %s", new, result.get("version"))
    return {**result, "new_decisions": new, "skipped": 0}


def retrain_if_due() -> dict[str, str | int | None]:
    """The trigger: run the flow with the configured threshold (call after a batch or a review session)."""
    return retrain(min_new_decisions=None)


def serve_retrain() -> None:  # pragma: no cover - long-running server loop
    """Serve both retrain deployments on this machine (no Prefect server needed; Ctrl-C to stop)."""
    from prefect import serve

    weekly = retrain.to_deployment(name="retrain-weekly", cron=WEEKLY_CRON, parameters={"min_new_decisions": 1})
    due = retrain.to_deployment(name="retrain-when-due", cron=DUE_CHECK_CRON)
    serve(weekly, due)


if __name__ == "__main__":  # pragma: no cover
    serve_retrain()
