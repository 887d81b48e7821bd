"""Prefect environment defaults, applied before Prefect is imported.

Why: Prefect reads its settings at import time. qualcode keeps Prefect's state inside the project's data
folder (so two projects never share it), turns off analytics (nothing phones home) and turns off result
persistence by default (results must never hold transcript text; our tasks return counts anyway).
"""

from __future__ import annotations

import os

from pipeline.settings import Settings


def configure_prefect(settings: Settings) -> None:
    os.environ.setdefault("PREFECT_HOME", str(settings.data_dir / "prefect"))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_RESULTS_PERSIST_BY_DEFAULT", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", settings.log_level)
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
