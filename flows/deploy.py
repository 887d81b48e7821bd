"""Serve the scheduled flows from one long-running process (``qualcode schedule``).

- ``process_new_transcripts`` on ``QUALCODE_SCHEDULE_CRON`` (default 02:00 daily);
- ``retrain`` weekly on any new human decision, and hourly once enough new decisions have arrived
  (``QUALCODE_RETRAIN_MIN_NEW_DECISIONS``).

For a Prefect server with work pools, ``prefect deploy --all`` registers the same deployments from
prefect.yaml instead.
"""

from __future__ import annotations

import argparse

from prefect import serve as prefect_serve

from flows.batch import process_new_transcripts
from flows.retrain import DUE_CHECK_CRON, WEEKLY_CRON, retrain
from pipeline.settings import get_settings


def deployments(cron: str | None = None) -> list:
    settings = get_settings()
    return [
        process_new_transcripts.to_deployment(name="qualcode-batch", cron=cron or settings.schedule_cron),
        retrain.to_deployment(name="qualcode-retrain-weekly", cron=WEEKLY_CRON, parameters={"min_new_decisions": 1}),
        retrain.to_deployment(name="qualcode-retrain-when-due", cron=DUE_CHECK_CRON),
    ]


def serve(cron: str | None = None) -> None:
    prefect_serve(*deployments(cron))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cron", default=None, help="cron for the batch flow (default: QUALCODE_SCHEDULE_CRON)")
    serve(parser.parse_args().cron)
