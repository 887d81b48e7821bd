"""Schedules live in deployments: the served deployments and prefect.yaml agree on flows and crons."""

from __future__ import annotations

import yaml

from tests.conftest import REPO_ROOT


def test_served_deployments_use_the_configured_cron(monkeypatch) -> None:
    from pipeline.settings import reset_settings

    monkeypatch.setenv("QUALCODE_SCHEDULE_CRON", "30 1 * * *")
    reset_settings()
    from flows.deploy import deployments

    by_name = {d.name: d for d in deployments()}
    assert by_name["qualcode-batch"].schedules[0].schedule.cron == "30 1 * * *"
    assert by_name["qualcode-retrain-weekly"].parameters == {"min_new_decisions": 1}
    assert set(by_name) == {"qualcode-batch", "qualcode-retrain-weekly", "qualcode-retrain-when-due"}
    reset_settings()


def test_prefect_yaml_points_at_real_flows() -> None:
    import importlib

    spec = yaml.safe_load((REPO_ROOT / "prefect.yaml").read_text(encoding="utf-8"))
    for dep in spec["deployments"]:
        path, name = dep["entrypoint"].split(":")
        module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
        flow = getattr(module, name)
        assert hasattr(flow, "to_deployment"), dep["entrypoint"]
        assert dep["schedules"][0]["cron"].count(" ") == 4
