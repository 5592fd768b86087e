"""Saved searches run over entry-date windows: candidates once, coverage without gaps, faults that create nothing.

The fake E-utilities server answers esearch and efetch as NCBI does; runs are
driven in this process with the `task_queue` fixture, the way a worker would
run them (tests/test_triage_integration.py runs them on a real worker).
"""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from curation import task_queue as names
from curation import triage
from curation.models import Candidate, SavedSearch, SearchRun

pytestmark = pytest.mark.django_db

EASTERN = ZoneInfo("America/New_York")
# 09:00 in Bethesda on 10 March 2025: the last complete day of entries is 9 March.
NOW = datetime(2025, 3, 10, 9, 0, tzinfo=EASTERN)
YESTERDAY = date(2025, 3, 9)


@pytest.fixture
def run_now(ncbi_settings, task_queue, django_capture_on_commit_callbacks):
    """Start a run of a search and run its tasks to the end, as a worker would; returns the run."""

    def run(search, *, now=NOW, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            started = triage.start_run(search, now=now, **kwargs)
        drain(task_queue, django_capture_on_commit_callbacks)
        started.refresh_from_db()
        return started

    return run


def drain(task_queue, capture):
    """Run what the run queues, and what that queues in turn once its transaction commits."""
    while any(name in (names.RUN_SEARCH, names.FETCH_SEARCH_BATCH) for name, _ in task_queue):
        with capture(execute=True):
            for name in (names.RUN_SEARCH, names.FETCH_SEARCH_BATCH):
                task_queue.run(name, throw=False)


def make_search(query="B2M", **fields):
    fields.setdefault("name", f"Search for {query}")
    fields.setdefault("first_lookback_days", 30)
    return SavedSearch.objects.create(query=query, **fields)


def test_a_first_run_looks_back_its_span_and_ends_yesterday_in_ncbi_time(ncbi_settings, task_queue):
    search = make_search(first_lookback_days=30)
    run = triage.start_run(search, now=NOW)
    assert (run.window_start, run.window_end) == (YESTERDAY - timedelta(days=29), YESTERDAY)
    # 03:00 UTC on 10 March is still 9 March in Bethesda: that day is not complete yet.
    early = triage.next_window(search, today=triage.ncbi_today(datetime(2025, 3, 10, 3, tzinfo=ZoneInfo("UTC"))))
    assert early[1] == date(2025, 3, 8)


def test_a_run_turns_every_new_pmid_into_one_candidate_and_moves_the_coverage(run_now, fake_eutils):
    fake_eutils.add_synthetic(range(41_000_000, 41_000_450), entry_date=date(2025, 3, 1))
    expected = {p for p in range(41_000_000, 41_000_450) if "b2m" in fake_eutils._search_text(p)["all"]}
    search = make_search("B2M")

    run = run_now(search)

    assert run.state == SearchRun.State.FINISHED, run.error
    assert run.count_found == len(expected) and run.new_candidates == len(expected)
    assert set(Candidate.objects.values_list("pmid", flat=True)) == expected
    search.refresh_from_db()
    assert search.covered_until == YESTERDAY
    assert search.translation.endswith("[Date - Entry]")
    assert len(fake_eutils.requests_to("efetch.fcgi")) == -(-len(expected) // 200)
