"""`make run` stops everything it started, runs once per checkout, and recovers from a kill -9.

Each test starts the supervisor the way `make run` starts it (`HOST=… PORT=… python scripts/run_local.py`),
on SQLite in a temporary directory with the embedded broker and a free port, in a session of its own.
Every process it starts keeps that session id however deep it is and even once orphaned to init, so
"nothing survives" is checked over the whole session as well as over the descendant tree seen while it ran.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

REPO = Path(__file__).resolve().parent.parent
MAKE_RUN = [sys.executable, "scripts/run_local.py"]
# The supervisor gives its services 10 s to stop before it kills them; the rest is room for a loaded machine.
STOP_BOUND = 20.0
READY_BOUND = 90.0
# Variables of the caller (CI exports PostgreSQL and Redis URLs) that would lead a run off SQLite.
FOREIGN_SETTINGS = ("DATABASE_URL", "CELERY_BROKER_URL", "NCBI_RATE_LIMITER_URL", "ATLAS_VAR_DIR", "HOST", "PORT")


def local_env(var_dir: Path, port: int | None = None) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if name not in FOREIGN_SETTINGS}
    env.update(
        ATLAS_VAR_DIR=str(var_dir),
        DATABASE_URL=f"sqlite:///{var_dir / 'atlas.sqlite3'}",
        CELERY_BROKER_URL=f"sqla+sqlite:///{var_dir / 'celery-broker.sqlite3'}",
        NCBI_RATE_LIMITER_URL=(var_dir / "ncbi-ratelimit.lock").as_uri(),
        # Nothing a run starts may reach NCBI: port 9 (discard) is closed.
        NCBI_EUTILS_URL="http://127.0.0.1:9/entrez/eutils/",
        PYTHONUNBUFFERED="1",
    )
    if port is not None:
        env.update(HOST="127.0.0.1", PORT=str(port))
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def alive(proc: psutil.Process) -> bool:
    """True while the process runs; psutil compares start times, so a reused pid does not count."""
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def session_members(sid: int) -> list[psutil.Process]:
    members = []
    for proc in psutil.process_iter():
        try:
            if os.getsid(proc.pid) == sid and alive(proc):
                members.append(proc)
        except (OSError, psutil.Error):
            continue  # gone meanwhile
    return members


def describe(procs) -> list[str]:
    described = []
    for proc in procs:
        try:
            described.append(f"{proc.pid} (parent {proc.ppid()}): {' '.join(proc.cmdline())[:120]}")
        except psutil.Error:
            continue
    return described


class Run:
    """One `make run` started by a test: its supervisor leads a session of its own."""

    def __init__(self, var_dir: Path, port: int, log_path: Path):
        self.var_dir, self.port, self.log_path = var_dir, port, log_path
        self._log = open(log_path, "w")
        self.process = subprocess.Popen(
            MAKE_RUN,
            cwd=REPO,
            env=local_env(var_dir, port),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.pid = self.process.pid

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    def wait_until_ready(self, *log_lines: str) -> None:
        """Until the first page answers and the output shows the run's "Ready" line and `log_lines`."""
        deadline = time.monotonic() + READY_BOUND
        while time.monotonic() < deadline:
            if self.answers() and all(line in self.output() for line in ("==> Ready", *log_lines)):
                return
            if self.process.poll() is not None:
                pytest.fail(f"make run exited with {self.process.returncode}:\n{self.output()[-3000:]}")
            time.sleep(0.2)
        pytest.fail(f"make run did not answer within {READY_BOUND:.0f} s:\n{self.output()[-3000:]}")

    def descendants(self) -> list[psutil.Process]:
        return psutil.Process(self.pid).children(recursive=True)

    def survivors_after(self, bound: float) -> list[psutil.Process]:
        """Whatever of this run's session still runs once `bound` seconds have passed (or nothing, sooner)."""
        deadline = time.monotonic() + bound
        while True:
            self.process.poll()  # reap the supervisor, the test's own child
            members = session_members(self.pid)
            if not members or time.monotonic() > deadline:
                return members
            time.sleep(0.1)

    def kill_everything(self) -> None:
        for proc in session_members(self.pid):
            try:
                proc.kill()
            except psutil.Error:
                pass
        self.process.poll()
        self._log.close()


@pytest.fixture(scope="module")
def prepared_database(tmp_path_factory) -> Path:
    """An atlas database prepared once, as a first `make run` leaves it; every run starts from a copy.

    Migrating takes ~2 s and the curator's password hash ~0.5 s: once per module, in one process.
    """
    var_dir = tmp_path_factory.mktemp("prepared")
    calls = "; ".join(f"call_command({name!r})" for name in ("migrate", "seed_atlas", "create_local_curator"))
    prepare = f"from django.core.management import call_command; {calls}"
    command = [sys.executable, "manage.py", "shell", "-c", prepare]
    subprocess.run(command, cwd=REPO, env=local_env(var_dir), check=True, stdout=subprocess.DEVNULL)
    return var_dir / "atlas.sqlite3"


@pytest.fixture
def start_make_run(tmp_path, prepared_database):
    runs: list[Run] = []

    def start(*, var_dir: Path | None = None, port: int | None = None) -> Run:
        if var_dir is None:
            var_dir = tmp_path / f"var{len(runs)}"
            var_dir.mkdir()
            shutil.copy(prepared_database, var_dir / "atlas.sqlite3")
        run = Run(var_dir, port or free_port(), tmp_path / f"make-run-{len(runs)}.log")
        runs.append(run)
        return run

    yield start
    for run in runs:  # a failed test must not leave its processes behind
        run.kill_everything()


def stop_with_ctrl_c(run: Run) -> None:
    # What Ctrl-C in a terminal does: SIGINT to the foreground process group, the one `make run` started in.
    os.killpg(run.pid, signal.SIGINT)


def test_ctrl_c_stops_the_web_server_the_worker_and_beat(start_make_run):
    run = start_make_run()
    # Up to the worker's pool: the old script's orphans came from signals reaching pool processes.
    run.wait_until_ready(" ready.", "beat: Starting...")
    started = run.descendants()
    commands = "\n".join(describe(started))
    assert "runserver" in commands and "beat" in commands, commands
    workers = [proc for proc in started if " worker " in " ".join(proc.cmdline())]
    assert len(workers) == 3, commands  # the worker and its two pool processes

    stop_with_ctrl_c(run)

    survivors = run.survivors_after(STOP_BOUND)
    assert survivors == [], "still running after Ctrl-C:\n" + "\n".join(describe(survivors))
    assert [proc for proc in started if alive(proc)] == []
    assert not run.answers()


def test_a_second_run_is_refused_and_a_run_killed_with_sigkill_does_not_block_the_next(start_make_run):
    first = start_make_run()
    first.wait_until_ready()

    refused = start_make_run(var_dir=first.var_dir)  # same checkout (var/), another port

    assert refused.process.wait(timeout=READY_BOUND) == 1
    assert "already running" in refused.output() and f"pid {first.pid}" in refused.output()
    assert refused.survivors_after(5) == [], "the refused run started something"
    beats = [proc for proc in first.descendants() if "beat" in " ".join(proc.cmdline())]
    assert len(beats) == 1

    left_behind = first.descendants()
    os.kill(first.pid, signal.SIGKILL)  # `kill -9` of the supervisor: it can neither pass it on nor clean up
    after_kill = start_make_run(var_dir=first.var_dir, port=first.port)
    after_kill.wait_until_ready()

    assert [proc for proc in left_behind if alive(proc)] == []
    assert first.survivors_after(0) == []
