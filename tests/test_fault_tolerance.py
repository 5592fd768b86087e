"""The pipeline survives its services failing under it, proven with real processes, not mocks.

Each test runs real prefork Celery workers on a Redis of its own (a throwaway
redis-server on a free port, so that restarting it harms nobody) and on
pytest-django's PostgreSQL test database, against the fake E-utilities server.
The workers run with short time limits (a few seconds instead of minutes), so
the broker's redelivery window, which follows from them, is seconds too.
"""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import psutil
import pytest
from django.db.models import Count

from curation import importing
from curation.models import Reference, RefreshRun
from resistance_atlas.celery import app as celery_app
from tests.fixtures_ncbi import TEST_API_KEY
from tests.services import celery_worker_command, port_open
from tests.test_pipeline_integration import _database_url, _use_broker
from tests.throwaway_services import ThrowawayPostgres, ThrowawayRedis, free_port

pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]

REPO = Path(__file__).resolve().parent.parent
# The workers' limits; the visibility timeout follows from them (resistance_atlas/settings.py).
SOFT_LIMIT, HARD_LIMIT, VISIBILITY = 4, 5, 6


@pytest.fixture
def broker(postgres):
    """A redis-server of this test's own, the broker of this process's producer too; removed afterwards."""
    server = ThrowawayRedis().start()
    previous, previous_env = celery_app.conf.broker_url, os.environ.get("CELERY_BROKER_URL")
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

    def start(self, concurrency=2, *, beat=False, **extra_env) -> subprocess.Popen:
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
        if beat:  # beat inside the worker, as `make run` does: the recovery pass runs too
            command += ["--beat", f"--schedule={self.tmp_path / f'beat-{len(self.started)}'}"]
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


def _fetching_child(workers, process, fake_eutils) -> psutil.Process:
    """The pool process holding a connection to the fake NCBI: the one mid-batch."""
    port = int(fake_eutils.base_url.split(":")[2].split("/")[0])

    def find():
        for child in workers.children(process):
            try:
                if any(c.raddr and c.raddr.port == port for c in child.net_connections(kind="tcp")):
                    return child
            except psutil.NoSuchProcess:
                continue
        return None

    return wait_until(find, timeout=30, what="a pool process to connect to the fake NCBI")


def test_a_pool_process_killed_mid_fetch_gives_its_batch_back_at_once(workers, fake_eutils):
    pmids = list(range(33_410_000, 33_410_200))
    fake_eutils.add_synthetic(pmids)
    fake_eutils.stall_seconds = 30
    fake_eutils.fail_next(1, kind="stall")
    worker = workers.start(concurrency=2)
    run = importing.add_references(pmids, by=None).run

    _fetching_child(workers, worker, fake_eutils).kill()
    began = time.monotonic()
    finished(run, timeout=30)

    # The worker saw its child die and requeued the message itself: no wait for the visibility timeout.
    assert time.monotonic() - began < VISIBILITY
    assert run.state == RefreshRun.State.FINISHED, run.error
    assert run.counts()["updated"] == 200
    assert_once_per_reference(run, 200)
    assert worker.poll() is None  # the worker itself carried on


def test_a_run_survives_its_redis_restarting_mid_run_with_every_reference_fetched_once(
    workers, broker, fake_eutils, ncbi_settings
):
    ncbi_settings.NCBI_BATCH_SIZE = 25
    pmids = list(range(33_420_000, 33_421_000))
    fake_eutils.add_synthetic(pmids)
    # Beat runs in the worker (-B), so the recovery pass is there if a message is lost for good.
    worker_env = {"RECOVERY_INTERVAL": "2", "REFRESH_STUCK_AFTER": "8"}
    workers.start(concurrency=2, beat=True, NCBI_RATE_LIMIT="5", **worker_env)
    run = importing.add_references(pmids, by=None).run
    wait_until(lambda: len(fake_eutils.requests_to("efetch.fcgi")) >= 5, timeout=30, what="five batches fetched")

    broker.restart(down_for=1.0)
    finished(run, timeout=60)

    assert run.state == RefreshRun.State.FINISHED, run.error
    counts = run.counts()
    assert counts["updated"] == 1000 and counts["failed"] == 0, counts
    assert_once_per_reference(run, 1000)
    assert Reference.objects.needs_review().count() == 1000


@pytest.fixture
def own_postgres():
    server = ThrowawayPostgres().init().start()
    yield server
    server.remove()


def _get(url: str) -> tuple[int, str, dict]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode(), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(), dict(error.headers)


def test_the_site_answers_a_clean_503_while_postgresql_restarts_and_recovers_without_a_restart(
    own_postgres, tmp_path, redis_url
):
    database_url = own_postgres.create_database("atlas")
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_"))},
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": "fault-tolerance-test-secret-7Hq#x2L!pV9z@Wm4&Rk8^Ty6*Bn3(Jd5)Fs1-Gc0",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "DATABASE_URL": database_url,
        "DATABASE_CONN_MAX_AGE": "60",  # persistent connections, as in production: they break on a restart
        "CELERY_BROKER_URL": redis_url,
        "NCBI_EMAIL": "curators@example.org",
    }
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"], cwd=REPO, env=env, check=True, capture_output=True, timeout=120
    )
    log = (tmp_path / "gunicorn.log").open("w")
    command = [str(Path(sys.executable).with_name("gunicorn")), "resistance_atlas.wsgi:application",
               "--bind", f"127.0.0.1:{port}", "--workers", "1", "--threads", "2", "--timeout", "30"]  # fmt: skip
    web = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    pages = ["/", "/mechanisms/", "/api/mechanisms/"]
    try:
        wait_until(lambda: port_open("127.0.0.1", port), timeout=30, what="gunicorn to listen")
        assert [_get(base + page)[0] for page in pages] == [200, 200, 200]

        own_postgres.stop()
        down = {page: _get(base + page) for page in pages}
        health = _get(base + "/healthz")

        for page, (status, body, headers) in down.items():
            assert status == 503, (page, status, body[:500])
            assert "Traceback" not in body and "OperationalError" not in body
            assert headers.get("Retry-After") == "30"
        assert "Temporarily unavailable" in down["/"][1]
        assert json.loads(down["/api/mechanisms/"][1]) == {
            "detail": "The atlas's database is not answering; try again in a minute."
        }
        assert health[0] == 503 and "database" in json.loads(health[1])["failing"]

        own_postgres.start()
        seen = []

        def serving():
            seen.append(_get(base + "/")[0])
            return seen[-1] == 200

        wait_until(serving, timeout=15, what="the site to serve again")
        assert set(seen) <= {200, 503}, seen  # never a 500 on the way back
        assert [_get(base + page)[0] for page in pages] == [200, 200, 200]
        assert web.poll() is None  # the same gunicorn: recovered without a restart
    finally:
        os.killpg(web.pid, signal.SIGTERM)
        web.wait(timeout=20)
        log.close()
        print((tmp_path / "gunicorn.log").read_text()[-4000:])
