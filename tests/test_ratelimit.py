"""The shared NCBI limiter, hammered by several OS processes at once.

The invariant NCBI enforces, and that these tests check on the times at which
``acquire()`` returned: never more than N requests in any rolling second.
"""

import multiprocessing
import time
import uuid

import pytest

from curation import ratelimit
from curation.ratelimit import (
    FileRateLimiter,
    RateLimiterError,
    RedisRateLimiter,
    get_limiter,
    limiter_from_url,
)
from tests.fake_eutils import max_in_window

RATE = 10  # NCBI's limit with an API key
PROCESSES = 3
ACQUIRES_PER_PROCESS = 7


def _hammer(url: str, rate: float, count: int, barrier, results) -> None:
    """Child process: wait for the others, then take ``count`` slots as fast as allowed."""
    limiter = limiter_from_url(url, rate)
    barrier.wait()
    times = []
    for _ in range(count):
        limiter.acquire()
        times.append(time.time())
    results.put(times)


def hammer_from_processes(url: str) -> list[float]:
    # spawn, not fork: children start clean, as separate Celery worker processes do.
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(PROCESSES)
    results = context.Queue()
    workers = [
        context.Process(target=_hammer, args=(url, RATE, ACQUIRES_PER_PROCESS, barrier, results))
        for _ in range(PROCESSES)
    ]
    for worker in workers:
        worker.start()
    times = sorted(t for _ in workers for t in results.get(timeout=60))
    for worker in workers:
        worker.join(timeout=10)
        assert worker.exitcode == 0
    return times


def assert_at_most_rate_per_second_and_not_much_slower(times: list[float]) -> None:
    total = PROCESSES * ACQUIRES_PER_PROCESS
    assert len(times) == total
    assert max_in_window(times, 1.0) <= RATE
    # Nor much stricter than needed: slots are SAFETY_MARGIN/RATE apart, so the
    # run takes about (total - 1) of those; the slack is for a busy test host.
    elapsed = times[-1] - times[0]
    nominal = (total - 1) * ratelimit.SAFETY_MARGIN / RATE
    assert nominal * 0.95 <= elapsed <= nominal * 1.5


def test_redis_limiter_holds_n_per_second_across_processes(ncbi_redis_url):
    url = f"{ncbi_redis_url}?key=ra-test:ratelimit:{uuid.uuid4().hex}"
    assert_at_most_rate_per_second_and_not_much_slower(hammer_from_processes(url))


def test_file_limiter_holds_n_per_second_across_processes(tmp_path):
    url = (tmp_path / "ncbi.lock").as_uri()
    assert_at_most_rate_per_second_and_not_much_slower(hammer_from_processes(url))


class RateLimitTimeout(Exception):
    pass


def acquire_within(limiter, timeout: float) -> None:
    """Like `acquire()`, but give up as soon as the next free slot is further away than `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        wait = limiter._claim()
        if wait <= 0:
            return
        if time.monotonic() + wait > deadline:
            raise RateLimitTimeout(f"the next free slot is {wait:.2f} s away, longer than the {timeout:g} s timeout")
        time.sleep(wait)


def test_a_slot_further_away_than_the_timeout_raises_at_once(tmp_path):
    limiter = FileRateLimiter(tmp_path / "ncbi.lock", rate=2)
    limiter.acquire()
    started = time.monotonic()
    with pytest.raises(RateLimitTimeout, match=r"next free slot is 0\.\d+ s away, longer than the 0\.1 s timeout"):
        acquire_within(limiter, 0.1)
    assert time.monotonic() - started < 0.1
    # The refused call took nothing: the next caller still gets the first free slot.
    acquire_within(limiter, 0.6)


def test_a_redis_timeout_takes_no_slot(ncbi_redis_url):
    limiter = RedisRateLimiter(ncbi_redis_url, rate=2, key=f"ra-test:ratelimit:{uuid.uuid4().hex}")
    limiter.acquire()
    with pytest.raises(RateLimitTimeout):
        acquire_within(limiter, 0.05)
    started = time.monotonic()
    acquire_within(limiter, 0.6)
    assert 0.3 < time.monotonic() - started < 1.0


def test_an_unreachable_redis_is_a_clear_limiter_error():
    limiter = RedisRateLimiter("redis://127.0.0.1:9/2", rate=3)
    with pytest.raises(RateLimiterError, match="Redis is unavailable"):
        limiter.acquire()


def test_a_stale_future_slot_in_the_lock_file_is_ignored(tmp_path):
    lock = tmp_path / "ncbi.lock"
    lock.write_text(f"{time.time() + 86_400:.6f}")
    started = time.monotonic()
    acquire_within(FileRateLimiter(lock, rate=3), 1)
    assert time.monotonic() - started < 0.1


def test_a_garbled_lock_file_is_started_afresh(tmp_path):
    lock = tmp_path / "ncbi.lock"
    lock.write_bytes(b"\x00not a number")
    acquire_within(FileRateLimiter(lock, rate=3), 1)
    assert float(lock.read_text()) > time.time()


@pytest.mark.parametrize("url", ["http://127.0.0.1/", "file://relative/path", "memcached://x"])
def test_unknown_limiter_urls_are_refused(url):
    with pytest.raises(ValueError):
        limiter_from_url(url, 3)


def test_a_rate_must_be_positive(tmp_path):
    with pytest.raises(ValueError):
        FileRateLimiter(tmp_path / "x", 0)


# --- defaults from settings --------------------------------------------------------------
def test_rate_defaults_to_three_without_an_api_key_and_ten_with_one(settings, tmp_path):
    settings.NCBI_RATE_LIMITER_URL = (tmp_path / "ncbi.lock").as_uri()
    settings.NCBI_RATE_LIMIT = None
    settings.NCBI_API_KEY = ""
    assert get_limiter().rate == 3
    settings.NCBI_API_KEY = "k"
    assert get_limiter().rate == 10
    settings.NCBI_RATE_LIMIT = 1.5
    assert get_limiter().rate == 1.5


def test_limiter_uses_redis_when_the_broker_is_redis(settings):
    settings.NCBI_RATE_LIMITER_URL = None
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:6379/0"
    settings.NCBI_API_KEY = ""
    limiter = get_limiter()
    assert isinstance(limiter, RedisRateLimiter)
    assert limiter.key == "resistance-atlas:ncbi-ratelimit:anonymous"


def test_each_api_key_gets_its_own_redis_budget_without_storing_the_key(settings):
    settings.NCBI_RATE_LIMITER_URL = "redis://127.0.0.1:6379/0"
    settings.NCBI_API_KEY = "secret-key-one"
    first = get_limiter().key
    settings.NCBI_API_KEY = "secret-key-two"
    second = get_limiter().key
    assert first != second
    assert "secret" not in first + second


def test_limiter_falls_back_to_a_lock_file_under_var(settings, tmp_path):
    settings.NCBI_RATE_LIMITER_URL = None
    settings.CELERY_BROKER_URL = "sqla+sqlite:///x.sqlite3"
    settings.VAR_DIR = tmp_path / "var"
    limiter = get_limiter()
    assert isinstance(limiter, FileRateLimiter)
    assert limiter.path == tmp_path / "var" / "ncbi-ratelimit.lock"
