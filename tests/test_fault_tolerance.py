"""The pipeline survives its services failing under it, proven with real processes, not mocks.

Each test runs real prefork Celery workers on a Redis of its own (a throwaway
redis-server on a free port, so that restarting it harms nobody) and on
pytest-django's PostgreSQL test database, against the fake E-utilities server.
The workers run with short time limits (a few seconds instead of minutes), so
the broker's redelivery window, which follows from them, is seconds too.
"""

import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import psutil
import pytest
from django.db.models import Count

from curation import importing
from curation.models import Reference, RefreshRun
from tests.fixtures_ncbi import TEST_API_KEY
from tests.services import celery_worker_command
from tests.test_pipeline_integration import _database_url, _use_broker
from tests.throwaway_services import ThrowawayRedis

pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]

REPO = Path(__file__).resolve().parent.parent
# The workers' limits; the visibility timeout follows from them (resistance_atlas/settings.py).
SOFT_LIMIT, HARD_LIMIT, VISIBILITY = 4, 5, 6


@pytest.fixture
def broker(postgres):
    """A redis-server of this test's own, the broker of this process's producer too; removed afterwards."""
    server = ThrowawayRedis().start()
    previous, previous_env = os.environ.get("CELERY_BROKER_URL"), os.environ.get("CELERY_BROKER_URL")
    from resistance_atlas.celery import app

    previous = app.conf.broker_url
    _use_broker(server.url)
    yield server
    _use_broker(previous)
    if previous_env is None:
        os.environ.pop("CELERY_BROKER_URL", None)
    else:
        os.environ["CELERY_BROKER_URL"] = previous_env
    server.remove()


class Workers:
    """Celery workers started as `celery worker` is in production, each in a process group of its own."""

    def __init__(self, broker, fake_eutils, tmp_path):
        self.broker, self.fake, self.tmp_path = broker, fake_eutils, tmp_path
        self.started: list[tuple[subprocess.Popen, object, Path]] = []
        self.limiter_key = f"ra-test:fault-tolerance:{uuid.uuid4().hex}"

    def start(self, concurrency=2, **extra_env) -> subprocess.Popen:
        log = self.tmp_path / f"worker-{len(self.started)}.log"
        env = {
            **os.environ,
            "DATABASE_URL": _database_url(),
            "CELERY_BROKER_URL": self.broker.url,
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "NCBI_EUTILS_URL": self.fake.base_url,
            "NCBI_API_KEY": TEST_API_KEY,
            "NCBI_EMAIL": "curators@example.org",
            "NCBI_RATE_LIMIT": "10",
            "NCBI_RATE_LIMITER_URL": f"{self.broker.url}?key={self.limiter_key}",
            "NCBI_TIMEOUT": "1",
            "NCBI_MAX_ATTEMPTS": "3",
            "NCBI_BACKOFF_BASE": "0.01",
            "NCBI_BACKOFF_MAX": "0.05",
            "TASK_SOFT_TIME_LIMIT": str(SOFT_LIMIT),
            "TASK_TIME_LIMIT": str(HARD_LIMIT),
            "CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY),
            **extra_env,
        }
        command = celery_worker_command(concurrency=concurrency, name=f"fault-test-{uuid.uuid4().hex[:8]}")
        handle = log.open("w")
        # A session of its own: "kill -9 of the worker's process group" kills exactly this worker.
        process = subprocess.Popen(
            command, cwd=REPO, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.started.append((process, handle, log))
        return process

    def kill_group(self, process: subprocess.Popen) -> None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def children(self, process: subprocess.Popen, *, at_least: int = 1, timeout: float = 30) -> list[psutil.Process]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = psutil.Process(process.pid).children()
            if len(found) >= at_least:
                return found
            time.sleep(0.1)
        raise AssertionError(f"worker {process.pid} started no pool processes")

    def stop_all(self) -> None:
        for process, _, _ in self.started:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process, handle, _ in self.started:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            handle.close()

    def logs(self) -> str:
        return "\n".join(f"--- {log.name}\n{log.read_text()[-3000:]}" for _, _, log in self.started)


@pytest.fixture
def workers(broker, ncbi_settings, fake_eutils, tmp_path):
    started = Workers(broker, fake_eutils, tmp_path)
    yield started
    started.stop_all()
    print(started.logs())  # shown by pytest when the test failed


def wait_until(predicate, *, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(f"not within {timeout:g} s: {what}")


def finished(run: RefreshRun, *, timeout: float) -> RefreshRun:
    def done():
        run.refresh_from_db()
        return not run.is_active

    wait_until(done, timeout=timeout, what=f"{run} to finish ({run.counts()})")
    return run


def assert_once_per_reference(run: RefreshRun, expected: int):
    assert run.items.count() == expected
    assert not run.items.values("reference").annotate(n=Count("pk")).filter(n__gt=1).exists()
    history = Reference.history.filter(history_change_reason=f"PubMed refresh #{run.pk}")
    assert not history.values("id").annotate(n=Count("pk")).filter(n__gt=1).exists()


def test_a_batch_whose_worker_group_was_killed_mid_fetch_goes_to_the_next_worker_within_seconds(workers, fake_eutils):
    pmids = list(range(33_400_000, 33_400_200))
    fake_eutils.add_synthetic(pmids)
    fake_eutils.stall_seconds = 30
    fake_eutils.fail_next(1, kind="stall")  # the first fetch hangs: the worker is mid-batch when it dies
    first = workers.start()
    run = importing.add_references(pmids, by=None).run
    wait_until(lambda: fake_eutils.requests_to("efetch.fcgi"), timeout=30, what="the first worker to fetch")

    workers.kill_group(first)
    began = time.monotonic()
    workers.start()
    finished(run, timeout=VISIBILITY + 25)

    assert run.state == RefreshRun.State.FINISHED, run.error
    assert run.counts()["updated"] == 200
    assert time.monotonic() - began < VISIBILITY + 25
    assert_once_per_reference(run, 200)
    assert Reference.objects.needs_review().count() == 200
