"""Serve the batch flow on its schedule (cron from settings or --cron).

``python -m flows.deploy`` (or ``qualcode schedule``) starts a long-running process that runs
``process_new_transcripts`` on the cron schedule; for work pools use ``prefect deploy`` with prefect.yaml.
"""

from __future__ import annotations

import argparse

from flows.batch import process_new_transcripts
from pipeline.settings import get_settings


def serve(cron: str | None = None, name: str = "qualcode-nightly") -> None:
    settings = get_settings()
    process_new_transcripts.serve(name=name, cron=cron or settings.schedule_cron, parameters={})


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cron", default=None, help="cron expression (default: QUALCODE_SCHEDULE_CRON)")
    args = parser.parse_args()
    serve(args.cron)
