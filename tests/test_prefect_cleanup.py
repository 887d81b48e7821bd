"""Prefect's temporary server does not outlive qualcode (issue 16, item 1).

Each test starts the real temporary server (about ten seconds) in a child process that stands in for
``qualcode run``: ``configure_prefect`` then ``SubprocessASGIServer().start()``, as Prefect does when a flow
runs without ``PREFECT_API_URL``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.prefect_env import SERVERS_DIR, _alive, stop_stale_servers

ROOT = Path(__file__).resolve().parents[1]

STAND_IN = """
import sys, time
from pipeline.settings import get_settings
from pipeline.prefect_env import configure_prefect
configure_prefect(get_settings())
from prefect.server.api.server import SubprocessASGIServer
server = SubprocessASGIServer()
server.start()
print(server.server_process.pid, server.port, flush=True)
time.sleep(600)
"""


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "QUALCODE_")) and k != "DO_NOT_TRACK"}
    env.update(QUALCODE_HOME=str(ROOT), QUALCODE_DATA_DIR=str(tmp_path / "data"),
               QUALCODE_INBOX=str(tmp_path / "inbox"), QUALCODE_LOG_LEVEL="WARNING")
    return env


def _start(tmp_path: Path) -> tuple[subprocess.Popen[str], int, int]:
    parent = subprocess.Popen([sys.executable, "-c", STAND_IN], cwd=tmp_path, env=_env(tmp_path),
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = parent.stdout.readline() if parent.stdout else ""
    if not line:
        parent.kill()
        pytest.fail("the stand-in for qualcode run did not start Prefect's temporary server")
    pid, port = (int(x) for x in line.split())
    return parent, pid, port


def _gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.1)
    return not _alive(pid)


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def test_a_server_left_by_kill_9_is_stopped_by_the_next_start(tmp_path: Path) -> None:
    parent, server, port = _start(tmp_path)
    try:
        record = tmp_path / "data" / "prefect" / SERVERS_DIR / f"{server}.json"
        assert json.loads(record.read_text())["port"] == port, "the server's pid and port are recorded"
        parent.kill()  # kill -9: no atexit, no signal handler
        parent.wait(timeout=10)
        assert not _gone_within(server, 2), "kill -9 leaves the server running (what the next start cleans)"
        nothing = stop_stale_servers(tmp_path / "elsewhere")
        assert nothing == [] and _alive(server), "another project's Prefect home is not touched"
        # The next start (a new process) finds the server whose owner died, and stops it.
        subprocess.run([sys.executable, "-c", "from pipeline.settings import get_settings\n"
                        "from pipeline.prefect_env import configure_prefect\nconfigure_prefect(get_settings())"],
                       cwd=tmp_path, env=_env(tmp_path), check=True, timeout=120)
        assert _gone_within(server, 10), "the next start stopped the stale server"
        assert not record.exists()
    finally:
        _kill(parent.pid)
        _kill(server)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_and_sigint_stop_the_server(tmp_path: Path, signum: int) -> None:
    parent, server, _port = _start(tmp_path)
    try:
        parent.send_signal(signum)
        parent.wait(timeout=30)
        assert _gone_within(server, 10), f"{signal.Signals(signum).name} stops the temporary server"
        assert not list((tmp_path / "data" / "prefect" / SERVERS_DIR).glob("*.json"))
    finally:
        _kill(parent.pid)
        _kill(server)


def test_a_live_owner_keeps_its_server_and_a_reused_pid_is_never_signalled(tmp_path: Path) -> None:
    home = tmp_path / "prefect"
    (home / SERVERS_DIR).mkdir(parents=True)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        # A record whose owner is dead but whose pid now belongs to an unrelated process: left alone.
        (home / SERVERS_DIR / f"{sleeper.pid}.json").write_text(
            json.dumps({"pid": sleeper.pid, "port": 8123, "owner_pid": 2**22 + 7, "owner_started": None}))
        assert stop_stale_servers(home) == [] and sleeper.poll() is None
        assert not (home / SERVERS_DIR / f"{sleeper.pid}.json").exists(), "the stale record is removed"
    finally:
        sleeper.kill()
        sleeper.wait()


def test_prefect_never_announces_anonymous_usage_data(tmp_path: Path) -> None:
    """``DO_NOT_TRACK=1`` is set before Prefect is imported, so its telemetry (and the notice that it
    collects anonymous usage data) is off, even outside CI where Prefect would otherwise turn it on."""
    env = _env(tmp_path)
    for name in ("CI", "GITHUB_ACTIONS", "GITLAB_CI", "JENKINS_URL", "BUILDKITE", "TF_BUILD"):
        env.pop(name, None)
    code = (
        "import os\nfrom pipeline.settings import get_settings\nfrom pipeline.prefect_env import configure_prefect\n"
        "configure_prefect(get_settings())\n"
        "from prefect._internal.analytics.ci_detection import is_ci_environment\n"
        "from prefect.analytics import is_telemetry_enabled\n"
        "print(os.environ.get('DO_NOT_TRACK'), is_ci_environment(), is_telemetry_enabled())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                         check=True, timeout=120)
    assert out.stdout.split() == ["1", "False", "False"]
    assert "anonymous usage data" not in out.stdout + out.stderr
