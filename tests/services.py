"""Which real services a test run has, and what to do when one is missing."""

import os
import socket
import sys
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"


def require_service(what: str, available: bool, how: str) -> None:
    """Skip on a developer machine without the service; fail loudly in CI, where skipping would hide gaps."""
    if available:
        return
    message = f"{what} is not available ({how})"
    if IN_CI:
        pytest.fail(f"CI requires {message}", pytrace=False)
    pytest.skip(message)


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def celery_worker_command(*, concurrency: int, name: str) -> list[str]:
    """A real prefork `celery worker` for this project, quiet about cluster chatter a test does not need."""
    return [
        str(Path(sys.executable).with_name("celery")),
        "-A",
        "resistance_atlas",
        "worker",
        "--pool=prefork",
        f"--concurrency={concurrency}",
        "--loglevel=INFO",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        f"--hostname={name}@%h",
    ]
