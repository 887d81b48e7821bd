"""The ``retrain`` Prefect flow: trains when enough new decisions exist, skips otherwise.

Runs the real flow (Prefect's embedded server) in a subprocess on a temporary SQLite project holding
SYNTHETIC examples only.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from pipeline.codebook.store import store_codebook
from pipeline.store.db import session_scope
from pipeline.store.models import ModelVersion
from pipeline.suggest import store_examples
from pipeline.suggest.examples import read_examples
from tests.conftest import REPO_ROOT
from tests.test_suggest_synthetic import synthetic_codebook, synthetic_units, write_examples_csv

pytestmark = [pytest.mark.slow, pytest.mark.prefect]

SCRIPT = """
import json
from pipeline.prefect_env import configure_prefect
from pipeline.settings import get_settings
configure_prefect(get_settings())
from flows.retrain import retrain
first = retrain()                       # threshold from settings (12): 48*3 new decisions -> trains
second = retrain()                      # nothing new since the model -> skipped
print("RESULT " + json.dumps([first, second]))
"""


def test_retrain_flow_trains_then_skips(tmp_path: Path, project: Path, sqlite_url: str) -> None:
    examples = read_examples(write_examples_csv(tmp_path / "ex.csv", synthetic_units(n_per_code=16, seed=4)))
    with session_scope(sqlite_url) as session:
        store_codebook(session, synthetic_codebook())
        store_examples(session, examples, source_name="ex.csv", content_hash="flow-test")
    env = {
        **os.environ,
        "QUALCODE_DATABASE_URL": sqlite_url,
        "QUALCODE_RETRAIN_MIN_NEW_DECISIONS": "12",
        "PREFECT_HOME": str(tmp_path / "prefect"),
    }
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))
    first, second = json.loads(line.removeprefix("RESULT "))
    assert first["skipped"] == 0 and first["new_decisions"] == 48 * 3 and first["codes_trained"] == 3
    assert second == {"version": None, "new_decisions": 0, "skipped": 1}
    with session_scope(sqlite_url) as session:
        row = session.scalar(select(ModelVersion))
        assert row.version == first["version"] and row.is_active
        assert Path(row.path).parent == project / "models"


def test_retrain_crons_match_prefect_yaml_and_never_start_together() -> None:
    """The served deployments and prefect.yaml agree, and the hourly check never fires with the weekly
    retrain (two retrains at once would train twice and re-score the queue twice)."""
    import yaml

    from flows.retrain import DUE_CHECK_CRON, WEEKLY_CRON

    spec = yaml.safe_load((REPO_ROOT / "prefect.yaml").read_text(encoding="utf-8"))
    crons = {dep["name"]: dep["schedules"][0]["cron"] for dep in spec["deployments"]}
    assert crons["retrain-weekly"] == WEEKLY_CRON
    assert crons["retrain-when-due"] == DUE_CHECK_CRON
    assert DUE_CHECK_CRON.split()[0] != WEEKLY_CRON.split()[0]  # different minutes of the hour
