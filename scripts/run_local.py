"""`make run`: prepare the local atlas, then run the web server, a Celery worker and Celery beat until Ctrl-C.

Why a supervisor in Python rather than a shell script with `trap 'kill 0'`: Ctrl-C and `kill 0` signal
every process of the terminal's process group, the worker's prefork pool processes included. Those may
only be stopped by their own worker. A pool process killed while it holds the pool's queue lock leaves
the worker blocked on that lock for ever as it exits (billiard's `_help_stuff_finish`), deaf to SIGTERM
and re-parented to init: the orphaned worker and beat that `make run` used to leave behind. So here each
service runs in a process group of its own, which the terminal never signals; this supervisor alone
receives Ctrl-C and stops each service the way its documentation asks (Celery: TERM to the worker's main
process, which then stops its pool), waits STOP_TIMEOUT, and only then kills what is left, group by group.

Beat runs as a process of its own instead of inside the worker (`worker --beat`), as Celery's docs
recommend beyond a single-node toy setup: it gets its own TERM (beat then saves its schedule and exits)
instead of depending on the worker's shutdown, and "one beat" is one process that can be checked.

One run per var/ directory: a second `make run` would start a second beat (every periodic task twice) and
a second worker polling the same SQLite broker. The run holds an flock on var/run-local.lock; the kernel
drops it when the holder dies, even by kill -9, so a stale lock never blocks a start. The lock file also
lists the run's process groups, so that a start after a kill -9 of the supervisor first stops what the
killed run left behind.
"""

import contextlib
import ctypes
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
# A running task gets this long to finish (the worker's warm shutdown) before everything is killed.
STOP_TIMEOUT = 10.0
READY_TIMEOUT = 120.0
PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def step(message: str) -> None:
    print(f"==> {message}", flush=True)


@dataclass
class Service:
    """One child of the supervisor, leader of its own process group."""

    name: str
    argv: list[str]
    # Django's autoreloader runs the server in a child and passes no signal on, so the web server is
    # stopped as a whole group; a Celery worker must be signalled alone (see the module docstring).
    signal_group: bool
    process: subprocess.Popen | None = field(default=None, repr=False)

    def start(self) -> None:
        self.process = subprocess.Popen(  # noqa: S603 - argv is built here, never from input
            self.argv, cwd=ROOT, stdin=subprocess.DEVNULL, process_group=0, preexec_fn=_stop_with_supervisor
        )

    def exit_code(self) -> int | None:
        return self.process.poll()

    def running(self) -> bool:
        """True while anything of its process group lives (the reloaded server, pool processes)."""
        self.process.poll()  # reap our own child, or its zombie would count
        try:
            os.killpg(self.process.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def ask_to_stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            if self.signal_group:
                os.killpg(self.process.pid, signal.SIGTERM)
            elif self.process.poll() is None:
                self.process.send_signal(signal.SIGTERM)  # Celery's warm shutdown

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)


def _stop_with_supervisor() -> None:
    """In each child before exec (Linux): SIGTERM it when the supervisor dies, even by kill -9."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class RunLock:
    """var/run-local.lock: held by the running supervisor; lists its process groups for the next start."""

    def __init__(self, path: Path):
        self.path = path
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)

    def acquire(self) -> bool:
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def contents(self) -> dict:
        os.lseek(self.fd, 0, os.SEEK_SET)
        raw = os.read(self.fd, 65536)
        try:
            data = json.loads(raw)
        except ValueError:
            return {}  # empty (a clean stop) or being written by the run that holds the lock
        return data if isinstance(data, dict) else {}

    def record(self, url: str, services: list[Service]) -> None:
        groups = []
        for service in services:
            created = _started_at(service.process.pid)
            if created is not None:
                groups.append({"name": service.name, "pgid": service.process.pid, "created": created})
        self._write(json.dumps({"pid": os.getpid(), "url": url, "groups": groups}).encode())

    def clear(self) -> None:
        self._write(b"")

    def _write(self, data: bytes) -> None:
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, data, 0)


def leftovers(groups: list[dict]) -> list[psutil.Process]:
    """Processes still running in the process groups a killed run recorded, and only those.

    A group whose leader pid now belongs to a younger process is someone else's: pids are reused. The
    kernel hands out no pid that names a live group, so members of a group whose leader is gone and
    that are younger than the recorded leader are what the killed run started.
    """
    found = []
    for group in groups:
        try:
            pgid, created = int(group["pgid"]), float(group["created"])
        except (KeyError, TypeError, ValueError):
            continue
        leader_started = _started_at(pgid)
        if leader_started is not None and abs(leader_started - created) > 0.05:
            continue
        for proc in psutil.process_iter(["create_time"]):
            with contextlib.suppress(OSError):
                started = proc.info["create_time"]
                if os.getpgid(proc.pid) == pgid and started is not None and started >= created - 0.05:
                    found.append(proc)
    return found


def _started_at(pid: int) -> float | None:
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


def stop_leftovers(lock: RunLock) -> None:
    left = leftovers(lock.contents().get("groups") or [])
    if not left:
        return
    step(f"Stopping {len(left)} process(es) left running by a `make run` that was killed: {[p.pid for p in left]}")
    # At once: the kernel already sent them SIGTERM when their supervisor died (PDEATHSIG); what remains is
    # still shutting down or is the reloaded web server, which holds the port this run needs.
    for proc in left:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(left, timeout=5)


def port_is_free(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server will: TIME_WAIT is free
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def prepare_database() -> None:
    """Migrate, seed and create the local curator in this process: one Django start instead of three."""
    from django.core.management import call_command
    from django.db import connections

    step("Migrating the database")
    call_command("migrate", interactive=False, verbosity=0)
    step("Seeding the atlas (idempotent)")
    call_command("seed_atlas")
    step("Creating the local curator account")
    call_command("create_local_curator")
    connections.close_all()  # the children open their own; none should inherit ours


def services(host: str, port: int) -> tuple[Service, list[Service]]:
    """The web server, then what starts once it answers: the worker and beat (`celery -q`: no banners)."""
    python = sys.executable
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    celery = [python, "-m", "celery", "-q", "-A", "resistance_atlas"]
    return Service("web server", [python, "manage.py", "runserver", address], signal_group=True), [
        Service("worker", [*celery, "worker", "--loglevel=INFO", "--concurrency=2"], signal_group=False),
        Service("beat", [*celery, "beat", "--loglevel=INFO"], signal_group=False),
    ]


class Signals:
    """Ctrl-C, kill and a closed terminal all mean "stop"; a second one means "stop now"."""

    def __init__(self):
        self.received = 0
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, self._handle)

    def _handle(self, signum, frame):
        self.received += 1


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - our own http:// URL
            return response.status == 200
    except OSError:
        return False


def supervise(started: list[Service], later: list[Service], lock: RunLock, signals: Signals, url: str) -> int:
    """Start the rest once the site answers, then wait for a signal or a service that stops; the run's status.

    The web server starts alone: on a 2-core machine the first page would otherwise wait while the
    worker and beat import Django and Celery at the same time.
    """
    # The liveness probe: /healthz would wait for a heartbeat from the worker, which starts only after this.
    probe = url.replace("://0.0.0.0:", "://127.0.0.1:").replace("://[::]:", "://[::1]:") + "healthz/live"
    deadline = time.monotonic() + READY_TIMEOUT
    while not signals.received:
        for service in started:
            if service.exit_code() is not None:
                step(f"The {service.name} stopped on its own (exit code {service.exit_code()}); stopping the others")
                return 1
        if later and answers(probe):
            step("Starting the Celery worker and Celery beat")
            while later:
                later[0].start()
                started.append(later.pop(0))
                lock.record(url, started)
            step(f"Ready: {url}  (curation: {url}admin/)")
            step("Press Ctrl-C to stop the web server, the worker and beat")
        elif later and time.monotonic() > deadline:
            step(f"The web server did not answer within {READY_TIMEOUT:.0f} s; stopping")
            return 1
        time.sleep(0.2)
    return 0


def stop(children: list[Service], signals: Signals) -> None:
    """Ask each service to stop, wait for its whole group, then kill what is left after STOP_TIMEOUT."""
    step(f"Stopping the web server, the worker and beat (up to {STOP_TIMEOUT:.0f} s; Ctrl-C again kills them now)")
    asked_at = signals.received
    for child in children:
        child.ask_to_stop()
    deadline = time.monotonic() + STOP_TIMEOUT
    while any(c.running() for c in children) and time.monotonic() < deadline and signals.received <= asked_at:
        time.sleep(0.1)
    stuck = [c for c in children if c.running()]
    if stuck:
        step(f"Killing what did not stop: {', '.join(c.name for c in stuck)}")
        for child in stuck:
            child.kill()
        deadline = time.monotonic() + 5
        while any(c.running() for c in stuck) and time.monotonic() < deadline:
            time.sleep(0.1)
    still = [c.name for c in children if c.running()]
    step(f"Could not stop: {', '.join(still)}" if still else "Stopped")


def main() -> int:
    host, port = os.environ.get("HOST") or "127.0.0.1", int(os.environ.get("PORT") or 8000)
    url = f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "resistance_atlas.settings")
    import django
    from django.conf import settings
    from django.core.management import CommandError

    django.setup()
    var_dir = Path(settings.VAR_DIR)
    var_dir.mkdir(parents=True, exist_ok=True)
    lock = RunLock(var_dir / "run-local.lock")
    if not lock.acquire():
        running = lock.contents()
        where = f" (pid {running['pid']}, {running['url']})" if "pid" in running else ""
        step(f"Resistance Atlas is already running from {var_dir}{where}.")
        step("Stop it with Ctrl-C in its terminal, then run `make run` again.")
        return 1
    stop_leftovers(lock)
    lock.record(url, [])  # so that a second `make run` can say which run holds the lock
    if not port_is_free(host, port):
        step(f"Port {port} on {host} is used by another program; choose another: make run PORT={port + 1}")
        return 1
    try:
        prepare_database()
    except CommandError as error:  # e.g. DJANGO_DEBUG=false: no local curator on a real deployment
        step(f"Set-up failed: {error}")
        return 1

    step("Starting the web server")
    signals = Signals()  # from here on a signal stops the services instead of interrupting this script
    web, later = services(host, port)
    started = []
    try:
        web.start()
        started.append(web)
        lock.record(url, started)
        status = supervise(started, later, lock, signals, url)
    finally:
        stop(started, signals)
        lock.clear()
    return status


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # Ctrl-C during the set-up, before any service started
        print("\nInterrupted; nothing was started.", file=sys.stderr)
        sys.exit(130)
