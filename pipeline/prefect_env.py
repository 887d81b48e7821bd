"""Prefect environment defaults, applied before Prefect is imported, and the lifetime of its temporary server.

Why: Prefect reads its settings at import time. qualcode keeps Prefect's state inside the project's data
folder (so two projects never share it), turns off analytics (nothing phones home, and ``DO_NOT_TRACK``
keeps Prefect from printing that it collects anonymous usage data) and turns off result persistence by
default (results must never hold transcript text; our tasks return counts anyway).

Why the server guard: without ``PREFECT_API_URL`` Prefect starts a temporary API server in a child process
and stops it only from ``atexit``. A ``kill -9`` of ``qualcode run`` (or SIGTERM, which skips ``atexit``)
left that server running for ever, holding a port and the project's Prefect database. So every server
Prefect starts here is recorded (its pid, port and the owning process) in ``$PREFECT_HOME/servers/``; it is
stopped at exit and on SIGTERM/SIGHUP (SIGINT becomes ``KeyboardInterrupt``, then ``atexit``), and the next
``configure_prefect`` stops any server whose owner died.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any

from pipeline.settings import Settings

log = logging.getLogger(__name__)

#: Folder under ``PREFECT_HOME`` holding one ``<server pid>.json`` per temporary server started here.
SERVERS_DIR = "servers"
#: What identifies Prefect's temporary server on its command line (``prefect.server.api.server``).
_SERVER_MARK = "prefect.server.api.server:create_app"

_lock = threading.RLock()  # re-entrant: the SIGTERM handler may run while the main thread holds it
_started: dict[int, subprocess.Popen[Any]] = {}
_previous_handlers: dict[int, Any] = {}
_installed = False


def configure_prefect(settings: Settings) -> None:
    """Set Prefect's environment, create its home, stop servers left by dead runs and guard new ones."""
    os.environ.setdefault("PREFECT_HOME", str(settings.data_dir / "prefect"))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_RESULTS_PERSIST_BY_DEFAULT", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", settings.log_level)
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    home = prefect_home()
    # A fresh project whose database lives elsewhere has no data/ folder yet; Prefect would fail to create
    # its home (and its SQLite database) under it.
    # Owner-only (0700) like the rest of data/: Prefect's database holds flow-run logs and file names.
    from pipeline.fileperms import private_folder

    private_folder(home)
    stop_stale_servers(home)
    _guard_temporary_server()


def prefect_home() -> Path:
    """The Prefect home in effect (``PREFECT_HOME``, as ``configure_prefect`` set it or the caller did)."""
    return Path(os.environ.get("PREFECT_HOME") or Path.home() / ".prefect").expanduser()


# --------------------------------------------------------------------------------------------------
# Stale servers
# --------------------------------------------------------------------------------------------------
def stop_stale_servers(home: Path | None = None) -> list[int]:
    """Stop temporary servers recorded under ``home`` whose owning process is gone; returns their pids.

    A record whose server already exited is simply removed. A pid is only signalled while its command
    line is still Prefect's server on the recorded port, so a reused pid is never killed.
    """
    folder = (home or prefect_home()) / SERVERS_DIR
    stopped: list[int] = []
    for record_path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            record = json.loads(record_path.read_text(encoding="utf-8"))
            pid, port, owner = int(record["pid"]), int(record["port"]), int(record["owner_pid"])
        except (OSError, ValueError, KeyError, TypeError):
            record_path.unlink(missing_ok=True)
            continue
        if _alive(owner) and _start_time(owner) == record.get("owner_started"):
            continue  # a live run (this one, or another command of the project) owns it
        if _is_our_server(pid, port):
            log.warning("stopping Prefect's temporary server (pid %s, port %s) left by a run that died", pid, port)
            _terminate(pid)
            stopped.append(pid)
        record_path.unlink(missing_ok=True)
    return stopped


def _alive(pid: int) -> bool:
    """True if ``pid`` runs (a zombie, dead but not yet reaped, counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = _proc_stat(pid)
    return stat is None or stat[0] != "Z"


def _proc_stat(pid: int) -> list[str] | None:
    """Fields of ``/proc/<pid>/stat`` after the command name (state first); None without /proc."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw.rsplit(")", 1)[-1].split()


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (tells a reused pid apart); None without /proc."""
    stat = _proc_stat(pid)
    return stat[19] if stat and len(stat) > 19 else None


def _is_our_server(pid: int, port: int) -> bool:
    if not _alive(pid):
        return False
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:  # no /proc (macOS): ask ps
        try:
            args = subprocess.run(  # noqa: S603 (fixed program, the argument is an int)
                ["/bin/ps", "-o", "command=", "-p", str(pid)], capture_output=True, check=False, timeout=5
            ).stdout.split()
        except (OSError, subprocess.SubprocessError):
            return False
    words = [a.decode(errors="replace") for a in args]
    return _SERVER_MARK in words and str(port) in words


def _terminate(pid: int, timeout: float = 5.0) -> None:
    """SIGTERM, then SIGKILL after ``timeout`` seconds."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 2.0)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(pid, os.WNOHANG)  # reap it if it is our child
            if not _alive(pid):
                return
            time.sleep(0.05)


# --------------------------------------------------------------------------------------------------
# Servers started by this process
# --------------------------------------------------------------------------------------------------
def _guard_temporary_server() -> None:
    """Record every temporary server Prefect starts from now on, and stop it on every exit path.

    Prefect has no hook for this, so its ``SubprocessASGIServer._run_uvicorn_command`` (which returns the
    server's ``Popen``) is wrapped; ``tests/test_prefect_cleanup.py`` fails if a Prefect upgrade moves it.
    """
    global _installed
    with _lock:
        if _installed:
            return
        _installed = True
    from prefect.server.api.server import SubprocessASGIServer

    original = SubprocessASGIServer._run_uvicorn_command

    def run_and_record(server: Any) -> subprocess.Popen[Any]:
        process = original(server)
        _record(process, int(server.port))
        return process

    SubprocessASGIServer._run_uvicorn_command = run_and_record  # type: ignore[method-assign]
    atexit.register(stop_started_servers)
    _install_signal_handlers()


def _record(process: subprocess.Popen[Any], port: int) -> None:
    folder = prefect_home() / SERVERS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    record = {"pid": process.pid, "port": port, "owner_pid": os.getpid(), "owner_started": _start_time(os.getpid())}
    path = folder / f"{process.pid}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record), encoding="utf-8")
    tmp.replace(path)
    with _lock:
        _started[process.pid] = process


def stop_started_servers() -> None:
    """Stop every temporary server this process started (idempotent; run at exit and on SIGTERM)."""
    with _lock:
        processes = list(_started.items())
        _started.clear()
    for pid, process in processes:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        (prefect_home() / SERVERS_DIR / f"{pid}.json").unlink(missing_ok=True)


def _install_signal_handlers() -> None:
    """SIGTERM and SIGHUP end Python without ``atexit``: stop the servers, then die as the signal would.

    Only where the handler is still Python's default (a web server or test runner installing its own is
    left alone) and only from the main thread (the only one allowed to set handlers).
    """
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(signum) is signal.SIG_DFL:
            _previous_handlers[signum] = signal.SIG_DFL
            signal.signal(signum, _on_signal)


def _on_signal(signum: int, frame: FrameType | None) -> None:
    stop_started_servers()
    signal.signal(signum, _previous_handlers.get(signum, signal.SIG_DFL))
    os.kill(os.getpid(), signum)
