"""The whole pipeline for real: Celery worker processes, Redis, PostgreSQL and the fake E-utilities server.

Each test starts `celery -A resistance_atlas worker` (prefork, 2+ processes)
as a subprocess on a Redis database of its own (db 5, flushed first; nothing
else there is touched) and on pytest-django's test database. The fake server
runs in a thread of this process; the workers reach it over HTTP and share
one Redis rate limiter, exactly as in production.
"""

import os
import signal
import subprocess
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
import redis
from django.conf import settings
from django.db import transaction

from curation import importing, refresh
from curation.models import CitationUpdate, MetadataState, Reference, RefreshItem, RefreshRun
from resistance_atlas.celery import app as celery_app
from tests.fixtures_ncbi import TEST_API_KEY
from tests.services import celery_worker_command

pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]

# Its own Redis database, flushed before and after; RA_TEST_PIPELINE_REDIS_DB lets parallel checkouts
# on one machine keep out of each other's way.
REDIS_DB = int(os.environ.get("RA_TEST_PIPELINE_REDIS_DB", "5"))
RUN_TIMEOUT = 45  # seconds; the runs here take a few seconds
REPO = Path(__file__).resolve().parent.parent
REVIEWED = refresh.REVIEWED_FIELDS


def _database_url() -> str:
    db = settings.DATABASES["default"]
    credentials = quote(db.get("USER") or "")
    if db.get("PASSWORD"):
        credentials += ":" + quote(db["PASSWORD"])
    return f"postgres://{credentials}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


def _use_broker(url):
    # Celery reads CELERY_BROKER_URL from the environment before its own
    # configuration, so both must change; the app also caches its connection
    # and producer pools on first use: drop them so the next send uses `url`.
    os.environ["CELERY_BROKER_URL"] = url
    celery_app.conf.broker_url = url
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@pytest.fixture
def broker_url(redis_url):
    """Redis db 5, empty, as the broker of this process's producer; restored afterwards."""
    host_port = redis_url.split("//", 1)[1].split("/", 1)[0]
    url = f"redis://{host_port}/{REDIS_DB}"
    redis.Redis.from_url(url).flushdb()
    previous, previous_env = celery_app.conf.broker_url, os.environ.get("CELERY_BROKER_URL")
    _use_broker(url)
    yield url
    _use_broker(previous)
    if previous_env is None:
        os.environ.pop("CELERY_BROKER_URL", None)
    else:
        os.environ["CELERY_BROKER_URL"] = previous_env
    redis.Redis.from_url(url).flushdb()


@pytest.fixture
def start_worker(postgres, broker_url, ncbi_settings, fake_eutils, tmp_path):
    """Start a real worker on the test database, pointed at the fake; stopped (warm shutdown) at teardown."""
    workers = []

    def start(concurrency=2):
        log = tmp_path / f"worker-{len(workers)}.log"
        env = {
            **os.environ,
            "DATABASE_URL": _database_url(),
            "CELERY_BROKER_URL": broker_url,
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "NCBI_EUTILS_URL": fake_eutils.base_url,
            "NCBI_API_KEY": TEST_API_KEY,
            "NCBI_EMAIL": "curators@example.org",
            "NCBI_RATE_LIMIT": "10",
            "NCBI_RATE_LIMITER_URL": f"{broker_url}?key=ra-test:pipeline:{uuid.uuid4().hex}",
            "NCBI_TIMEOUT": "2",
            "NCBI_MAX_ATTEMPTS": "3",
            "NCBI_BACKOFF_BASE": "0.01",
            "NCBI_BACKOFF_MAX": "0.05",
        }
        command = celery_worker_command(concurrency=concurrency, name=f"pipeline-test-{uuid.uuid4().hex[:8]}")
        handle = log.open("w")
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=handle, stderr=subprocess.STDOUT)
        workers.append((process, handle, log))
        return process

    yield start
    for process, handle, _ in workers:
        process.send_signal(signal.SIGTERM)
    for process, handle, log in workers:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        handle.close()
    workers_log = "\n".join(log.read_text()[-4000:] for _, _, log in workers)
    print(workers_log)  # shown by pytest when the test failed


def wait_for(run: RefreshRun, timeout=RUN_TIMEOUT) -> RefreshRun:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run.refresh_from_db()
        if not run.is_active:
            return run
        time.sleep(0.2)
    pytest.fail(f"{run} still {run.state} after {timeout} s: {run.counts()}")


def snapshot(references):
    return {r.pmid: {name: getattr(r, name) for name in REVIEWED} for r in references}


def test_a_thousand_imported_pmids_are_all_fetched_within_ncbi_rate_limit(start_worker, fake_eutils):
    pmids = list(range(33_000_000, 33_001_000))
    fake_eutils.add_synthetic(pmids)
    start_worker(concurrency=2)

    result = importing.add_references(pmids, by=None)
    run = wait_for(result.run)

    counts = run.counts()
    assert run.state == RefreshRun.State.FINISHED, run.error
    assert counts["updated"] == 1000 and counts["done"] == 1000
    assert Reference.objects.needs_review().count() == 1000
    efetches = fake_eutils.requests_to("efetch.fcgi")
    assert len(efetches) == 5 and all(len(request.ids) == 200 for request in efetches)
    assert fake_eutils.rate_limited_count == 0
    assert fake_eutils.max_requests_per_second(TEST_API_KEY) <= 10


def test_four_worker_processes_together_stay_within_the_limit(start_worker, fake_eutils, ncbi_settings):
    ncbi_settings.NCBI_BATCH_SIZE = 10  # many small requests, so the processes compete for the budget
    pmids = list(range(33_100_000, 33_100_400))
    fake_eutils.add_synthetic(pmids)
    Reference.objects.bulk_create([Reference(pmid=pmid) for pmid in pmids])
    start_worker(concurrency=4)

    run = wait_for(refresh.start_refresh(scope=RefreshRun.Scope.ALL))

    assert run.counts()["updated"] == 400
    assert len(fake_eutils.requests_to("efetch.fcgi")) == 40
    assert fake_eutils.rate_limited_count == 0
    assert fake_eutils.max_requests_per_second(TEST_API_KEY) <= 10


def test_with_faults_every_reference_ends_updated_or_failed_with_a_reason_and_nothing_curated_changes_unreviewed(
    start_worker, fake_eutils, ncbi_settings
):
    ncbi_settings.NCBI_BATCH_SIZE = 50
    pmids = list(range(33_200_000, 33_200_300))
    fake_eutils.add_synthetic(pmids)
    start_worker(concurrency=3)
    first = wait_for(importing.add_references(pmids, by=None).run)
    assert first.counts()["updated"] == 300
    with transaction.atomic():
        for reference in Reference.objects.all():
            refresh.verify_reference(reference, by=None)
    verified = snapshot(Reference.objects.all())
    unknown = Reference.objects.create(pmid=33_299_999)

    corrected = pmids[:5]  # PubMed corrects these titles: review, not overwrite
    for pmid in corrected:
        fake_eutils.add_records_from(fake_eutils.article_xml(pmid).replace("Synthetic record", "Corrected record", 1))
    broken = pmids[100]  # its whole batch gets truncated XML every time
    fake_eutils.fail_pmids([broken], kind="truncated")
    fake_eutils.fail_next(2, kind="http503")  # a short outage, ridden out by retries
    fake_eutils.fail_next(1, kind="rate_limit")  # an unprovoked 429, as NCBI sometimes sends

    run = wait_for(refresh.start_refresh(scope=RefreshRun.Scope.ALL))

    items = list(run.items.select_related("reference"))
    assert len(items) == 301
    assert not [i for i in items if i.outcome == RefreshItem.Outcome.QUEUED]
    failed = [i for i in items if i.outcome == RefreshItem.Outcome.FAILED]
    assert failed and all("truncated" in i.error for i in failed)
    assert broken in {i.reference.pmid for i in failed}
    assert len(failed) == 50  # exactly the broken batch
    assert {i.reference.pmid for i in items if i.outcome == RefreshItem.Outcome.NOT_FOUND} == {unknown.pmid}
    pending = {u.reference.pmid for u in CitationUpdate.objects.filter(decision="pending").select_related("reference")}
    assert pending == set(corrected)
    assert {i.outcome for i in items} <= {"unchanged", "update-pending", "failed", "not-found"}

    after = snapshot(Reference.objects.filter(pmid__in=pmids))
    assert after == verified  # no curated field changed without review
    assert Reference.objects.filter(pmid__in=pmids, metadata_state=MetadataState.VERIFIED).count() == 300
    assert all(Reference.objects.get(pmid=i.reference.pmid).last_error == i.error for i in failed)
    assert fake_eutils.max_requests_per_second(TEST_API_KEY) <= 10
