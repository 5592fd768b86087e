"""Redis and PostgreSQL servers of a test's own, on free ports, that the test may stop and restart.

The fault-tolerance tests restart the broker and the database under a running
pipeline; doing that to the shared servers would break every other test (and
every other checkout) on the machine. These start in a temporary folder and
are removed at the end. A missing binary skips on a developer machine and
fails in CI, like every other service (`tests.services.require_service`).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests.services import port_open, require_service

POSTGRES_BIN = Path(os.environ.get("RA_TEST_POSTGRES_BIN", "/usr/lib/postgresql/15/bin"))
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until(check, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not come up within {timeout:g} s")


class ThrowawayRedis:
    """A redis-server with an append-only file synced at every write, as a production broker should be."""

    def __init__(self):
        require_service("redis-server", Path(REDIS_SERVER).exists(), f"no {REDIS_SERVER}")
        self.dir = Path(tempfile.mkdtemp(prefix="ra-redis-"))
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> ThrowawayRedis:
        command = [
            REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir),
            "--appendonly", "yes", "--appendfsync", "always", "--save", "", "--daemonize", "no",
        ]  # fmt: skip
        log = (self.dir / "redis.log").open("a")
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        _wait_until(lambda: port_open("127.0.0.1", self.port), f"redis-server on port {self.port}")
        return self

    def stop(self) -> None:
        """Stop as an operator's restart does (SIGTERM): the append-only file keeps what was written."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=20)
        self.process = None

    def restart(self, *, down_for: float = 0.0) -> None:
        self.stop()
        time.sleep(down_for)
        self.start()

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class ThrowawayPostgres:
    """A PostgreSQL cluster made by initdb in a temporary folder (trust authentication, no fsync)."""

    def __init__(self):
        require_service("PostgreSQL binaries", (POSTGRES_BIN / "initdb").exists(), f"no initdb in {POSTGRES_BIN}")
        self.dir = Path(tempfile.mkdtemp(prefix="ra-postgres-"))
        self.port = free_port()
        # PostgreSQL refuses to run as root; CI runs as root, so the cluster belongs to "postgres" there.
        self._as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self._as:
            shutil.chown(self.dir, "postgres")
        self.data = self.dir / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *command: str) -> None:
        subprocess.run([*self._as, *command], check=True, capture_output=True, timeout=60)

    def init(self) -> ThrowawayPostgres:
        self._run(str(POSTGRES_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
                  "-E", "UTF8", "--no-sync")  # fmt: skip
        return self

    def start(self) -> ThrowawayPostgres:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(str(POSTGRES_BIN / "pg_ctl"), "-D", str(self.data), "-o", options, "-w", "-t", "30",
                  "-l", str(self.dir / "postgres.log"), "start")  # fmt: skip
        return self

    def stop(self) -> None:
        # "fast": open connections are cut, as when the database host restarts.
        self._run(str(POSTGRES_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def create_database(self, name: str) -> str:
        subprocess.run(
            ["createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name],
            check=True,
            capture_output=True,
            timeout=60,
        )
        return self.url(name)

    def remove(self) -> None:
        try:
            self.stop()
        except subprocess.CalledProcessError:
            pass  # already stopped
        shutil.rmtree(self.dir, ignore_errors=True)
