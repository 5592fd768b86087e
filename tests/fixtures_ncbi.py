"""Pytest fixtures for everything that talks to NCBI; a plugin registered from tests/conftest.py.

- ``fake_eutils``: the fake E-utilities server (one per session, reset before
  and after every test), see tests/fake_eutils.py.
- ``ncbi_settings``: Django settings pointing curation.pubmed at the fake, with
  tiny backoffs, a short timeout and a limiter of the test's own.
- ``ncbi_redis_url``: a Redis URL (db 2) for limiter tests; skips, or fails
  when CI=true, if Redis does not answer.
"""

from __future__ import annotations

import os
import uuid

import pytest

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
