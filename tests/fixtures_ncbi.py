"""Pytest fixtures for everything that talks to NCBI; a plugin registered from tests/conftest.py.

- ``fake_eutils``: the fake E-utilities server (one per session, reset before
  and after every test), see tests/fake_eutils.py.
- ``ncbi_settings``: Django settings pointing curation.pubmed at the fake, with
  tiny backoffs, a short timeout and a limiter of the test's own.
- ``ncbi_redis_url``: a Redis URL (db 2) for limiter tests; skips, or fails
  when CI=true, if Redis does not answer.
- ``refresh_now``: start a refresh and run its batch tasks in this process;
  with helpers that make the fake know PMIDs (``new_pmids``), change what it
  serves (``publish_change``, ``retitle``, ``retract``) and add references.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import uuid

import pytest
import time_machine

from curation import refresh
from curation.models import Reference, RefreshRun
from curation.task_queue import REFRESH_BATCH
from tests.fake_eutils import FakeEutils
from tests.services import port_open, require_service

REDIS_HOST = os.environ.get("NCBI_TEST_REDIS_HOST", "127.0.0.1")
REDIS_PORT = int(os.environ.get("NCBI_TEST_REDIS_PORT", "6379"))
# db 2 keeps limiter test keys away from the broker (db 0) and anything else.
REDIS_TEST_DB = 2

TEST_API_KEY = "fake-test-api-key"
TEST_EMAIL = "curators@example.org"
TEST_TOOL = "resistance-atlas-tests"


def redis_available() -> bool:
    return port_open(REDIS_HOST, REDIS_PORT)


def require_redis() -> str:
    """Return the test Redis URL; skip without Redis, but fail in CI where a skip would hide a gap."""
    require_service("Redis", redis_available(), f"nothing answers at {REDIS_HOST}:{REDIS_PORT}")
    return f"redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_TEST_DB}"


@pytest.fixture(scope="session")
def _fake_eutils_server():
    server = FakeEutils().start()
    yield server
    server.stop()


@pytest.fixture
def fake_eutils(_fake_eutils_server) -> FakeEutils:
    """The fake E-utilities server, fresh for this test (no requests, faults or synthetic PMIDs)."""
    _fake_eutils_server.reset()
    yield _fake_eutils_server
    _fake_eutils_server.reset()


@pytest.fixture
def ncbi_redis_url() -> str:
    return require_redis()


@pytest.fixture
def ncbi_settings(settings, fake_eutils, tmp_path):
    """Point curation.pubmed at ``fake_eutils`` with fast retries; returns pytest-django's ``settings``.

    An API key is set, so both the fake and our limiter allow 10 requests/s;
    set ``ncbi_settings.NCBI_API_KEY = ""`` to test the 3/s regime. The limiter
    uses a Redis key of its own when Redis answers, else a lock file in tmp_path,
    so no test inherits another's schedule.
    """
    settings.NCBI_EUTILS_URL = fake_eutils.base_url
    settings.NCBI_API_KEY = TEST_API_KEY
    settings.NCBI_EMAIL = TEST_EMAIL
    settings.NCBI_TOOL = TEST_TOOL
    settings.NCBI_TIMEOUT = 2.0
    settings.NCBI_BATCH_SIZE = 200
    settings.NCBI_MAX_ATTEMPTS = 5
    settings.NCBI_BACKOFF_BASE = 0.01
    settings.NCBI_BACKOFF_MAX = 0.05
    settings.NCBI_RATE_LIMIT = None
    if redis_available():
        key = f"ra-test:ncbi-ratelimit:{uuid.uuid4().hex}"
        settings.NCBI_RATE_LIMITER_URL = f"redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_TEST_DB}?key={key}"
    else:
        settings.NCBI_RATE_LIMITER_URL = (tmp_path / "ncbi-ratelimit.lock").as_uri()
    return settings


# --- the refresh pipeline, run in this process ---------------------------------

_pmids = itertools.count(31_000_001)


def new_pmids(fake, n=1):
    """Fresh PMIDs the fake knows (synthetic records); fresh per test, because edited records outlive a reset."""
    pmids = [next(_pmids) for _ in range(n)]
    fake.add_synthetic(pmids)
    return pmids


def publish_change(fake, pmid, edit):
    """Make the fake serve an edited version of `pmid`'s current record, as if PubMed corrected it."""
    fake.add_records_from(edit(fake.article_xml(pmid)))


def retitle(new_title):
    return lambda xml: re.sub(r"<ArticleTitle>.*?</ArticleTitle>", f"<ArticleTitle>{new_title}</ArticleTitle>", xml)


def retract(notice_pmid):
    notice = (
        '<CommentsCorrectionsList><CommentsCorrections RefType="RetractionIn">'
        f'<RefSource>J Test. 2024;1:1</RefSource><PMID Version="1">{notice_pmid}</PMID>'
        "</CommentsCorrections></CommentsCorrectionsList>"
    )

    def edit(xml):
        xml = xml.replace("<MeshHeadingList>", notice + "<MeshHeadingList>", 1)
        return xml.replace(
            "</PublicationTypeList>",
            '<PublicationType UI="D016441">Retracted Publication</PublicationType></PublicationTypeList>',
            1,
        )

    return edit


@pytest.fixture
def refresh_now(ncbi_settings, task_queue, django_capture_on_commit_callbacks):
    """Start a refresh and run its batch tasks to the end; returns the finished run."""

    def run(**kwargs):
        kwargs.setdefault("scope", RefreshRun.Scope.SELECTED)
        with django_capture_on_commit_callbacks(execute=True):
            started = refresh.start_refresh(**kwargs)
        # throw=False lets apply() run the task's retries; anything else that went wrong still fails the test.
        task_queue.run(REFRESH_BATCH, throw=False)
        started.refresh_from_db()
        return started

    return run


def add_pending(*pmids):
    Reference.objects.bulk_create([Reference(pmid=pmid) for pmid in pmids])
    return list(Reference.objects.filter(pmid__in=pmids).order_by("pmid"))


def fetched_and_verified(refresh_now, fake, alice, n=1):
    pmids = new_pmids(fake, n)
    references = add_pending(*pmids)
    refresh_now(references=references)
    for reference in references:
        refresh.verify_reference(reference, by=alice)
    return references


# --- travelling through the calendar ---------------------------------------------


@contextlib.contextmanager
def travel(moment):
    """time-machine's travel to `moment`, ticking, made safe for Bio.Entrez.

    Biopython throttles each process by sleeping until the time of its last
    request plus 0.1 s; a request remembered at the real time and the next one
    made in the past would sleep for the difference. So its memory is cleared
    on the way in and on the way out. Ticking, because the fake counts its
    rate limit in real seconds.
    """
    from Bio import Entrez

    Entrez._open.previous = 0
    try:
        with time_machine.travel(moment, tick=True) as traveller:
            yield traveller
    finally:
        Entrez._open.previous = 0
