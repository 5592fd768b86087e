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
from curation.models import Candidate, Reference, SavedSearch, SearchRun
from tests.factories import make_gene, make_mechanism, make_reference
from tests.fixtures_ncbi import travel

pytestmark = pytest.mark.django_db

EASTERN = ZoneInfo("America/New_York")
# 09:00 in Bethesda on 10 March 2025: the last complete day of entries is 9 March.
NOW = datetime(2025, 3, 10, 9, 0, tzinfo=EASTERN)
YESTERDAY = date(2025, 3, 9)


@pytest.fixture
def clock():
    """The test's clock, set to NOW and ticking (the fake's rate limit counts real seconds); `clock.shift()` jumps."""
    with travel(NOW) as traveller:
        yield traveller


@pytest.fixture
def run_now(ncbi_settings, task_queue, django_capture_on_commit_callbacks, clock):
    """Start a run of a search and run its tasks to the end, as a worker would; returns the run."""

    def run(search, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            started = triage.start_run(search, **kwargs)
        drain(task_queue, django_capture_on_commit_callbacks)
        started.refresh_from_db()
        search.refresh_from_db()
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


def test_a_first_run_looks_back_its_span_and_ends_yesterday_in_ncbi_time(ncbi_settings, task_queue, clock):
    search = make_search(first_lookback_days=30)
    run = triage.start_run(search)
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


def test_papers_already_in_the_atlas_or_the_queue_are_not_added_again_but_found_again_is_recorded(run_now, fake_eutils):
    pmids = list(range(41_001_000, 41_001_060))
    fake_eutils.add_synthetic(pmids, entry_date=date(2025, 3, 2))
    melanoma = sorted(p for p in pmids if "melanoma" in fake_eutils._search_text(p)["all"])
    curated = make_reference(pmid=melanoma[0]).pmid
    first, second = make_search("melanoma", name="Melanoma"), make_search("melanoma OR lung", name="Melanoma or lung")

    one = run_now(first)
    two = run_now(second)

    assert one.new_candidates == len(melanoma) - 1 and one.already_in_atlas == 1
    assert two.found_again == len(melanoma) - 1
    assert two.new_candidates == len(pmids) - len(melanoma)
    assert Candidate.objects.count() == len(pmids) - 1
    assert not Candidate.objects.filter(pmid=curated).exists()
    shared = Candidate.objects.get(pmid=melanoma[1])
    assert {s.search for s in shared.sources.all()} == {first, second} and shared.search_count == 2


def test_the_next_run_starts_the_day_after_the_last_one_so_no_day_is_searched_twice_or_skipped(
    run_now, fake_eutils, clock
):
    fake_eutils.add_synthetic(range(41_002_000, 41_002_010), entry_date=date(2025, 3, 9))
    fake_eutils.add_synthetic(range(41_002_010, 41_002_020), entry_date=date(2025, 3, 10))
    search = make_search("synthetic", schedule=SavedSearch.Schedule.DAILY)
    assert run_now(search).new_candidates == 10

    clock.shift(timedelta(hours=5))
    assert not triage.is_due(search)  # 10 March is not complete yet
    clock.shift(timedelta(hours=19))
    assert triage.is_due(search)
    run = run_now(search)

    assert (run.window_start, run.window_end) == (date(2025, 3, 10), date(2025, 3, 10))
    assert run.new_candidates == 10 and Candidate.objects.count() == 20


def test_a_weekly_search_is_due_once_seven_new_days_are_complete(run_now, fake_eutils, clock):
    fake_eutils.add_synthetic(range(41_002_100, 41_002_110), entry_date=date(2025, 3, 9))
    search = make_search("synthetic", schedule=SavedSearch.Schedule.WEEKLY)
    run_now(search)
    clock.shift(timedelta(days=6))
    assert not triage.is_due(search)
    clock.shift(timedelta(days=1))
    assert triage.is_due(search)


def test_a_window_past_the_esearch_cap_is_split_until_every_part_lists_all_its_pmids(run_now, fake_eutils):
    # 12,000 papers over 30 days: more than the 9,999 one search lists. All but 100 are in the atlas already,
    # so the test pays for listing them all, not for fetching them.
    pmids = list(range(42_000_000, 42_012_000))
    for day in range(30):
        fake_eutils.add_synthetic(pmids[day * 400 : (day + 1) * 400], entry_date=date(2025, 2, 8) + timedelta(days=day))
    Reference.objects.bulk_create([Reference(pmid=pmid) for pmid in pmids[100:]], batch_size=5000)
    search = make_search("synthetic")

    run = run_now(search)

    assert run.state == SearchRun.State.FINISHED, run.error
    assert (run.count_found, run.already_in_atlas, run.new_candidates) == (12_000, 11_900, 100)
    assert set(Candidate.objects.values_list("pmid", flat=True)) == set(pmids[:100])
    searches = fake_eutils.requests_to("esearch.fcgi")
    assert run.esearch_requests == len(searches) == 3  # the whole window, then its two halves
    assert all(r.params["usehistory"] == "y" and r.params["datetype"] == "edat" for r in searches)
    halves = {(r.params["mindate"], r.params["maxdate"]) for r in searches[1:]}
    assert halves == {("2025/02/08", "2025/02/22"), ("2025/02/23", "2025/03/09")}


def test_a_window_with_no_papers_finishes_and_moves_on(run_now, fake_eutils):
    fake_eutils.add_synthetic(range(41_002_200, 41_002_210), entry_date=date(2020, 1, 1))  # long before the window
    search = make_search("synthetic")
    run = run_now(search)
    assert (run.state, run.count_found, run.new_candidates) == (SearchRun.State.FINISHED, 0, 0)
    search.refresh_from_db()
    assert search.covered_until == YESTERDAY
    assert search.ncbi_warnings == ["OutputMessage: No items found."]


def test_a_window_with_more_hits_than_a_run_may_add_fails_with_the_reason_and_adds_nothing(
    run_now, fake_eutils, settings
):
    settings.TRIAGE_MAX_HITS_PER_RUN = 20_000
    fake_eutils.add_synthetic(range(43_000_000, 43_050_000), entry_date=date(2025, 3, 3))
    search = make_search("synthetic")

    run = run_now(search)

    assert run.state == SearchRun.State.FAILED
    assert "50,000 papers" in run.error and "narrow the query" in run.error
    assert run.count_found == 50_000
    assert not Candidate.objects.exists() and not fake_eutils.requests_to("efetch.fcgi")
    search.refresh_from_db()
    assert search.covered_until is None  # the next run searches the same window


def test_a_query_ncbi_cannot_use_fails_with_ncbis_errors_and_keeps_the_window(run_now, fake_eutils):
    search = make_search("abcXYZ")
    run = run_now(search)
    assert run.state == SearchRun.State.FAILED
    assert run.error == "NCBI could not use the query: PhraseNotFound: abcXYZ."
    search.refresh_from_db()
    assert search.covered_until is None
    assert search.ncbi_errors == []  # NCBI's words are kept from runs that worked


def test_ncbi_down_during_the_search_fails_the_run_after_the_retries_and_the_next_run_takes_the_window(
    run_now, fake_eutils, ncbi_settings, clock
):
    fake_eutils.add_synthetic(range(41_003_000, 41_003_020), entry_date=date(2025, 3, 4))
    search = make_search("synthetic")
    fake_eutils.fail_next(100, kind="http503", endpoint="esearch.fcgi")

    failed = run_now(search)

    assert failed.state == SearchRun.State.FAILED and "HTTP 503" in failed.error
    assert not Candidate.objects.exists()
    fake_eutils.reset()
    fake_eutils.add_synthetic(range(41_003_000, 41_003_020), entry_date=date(2025, 3, 4))
    clock.shift(timedelta(hours=1))
    assert not triage.is_due(search)  # not straight away
    clock.shift(timedelta(hours=6))
    assert triage.is_due(search)
    again = run_now(search)
    assert (again.window_start, again.window_end) == (failed.window_start, failed.window_end)
    assert again.state == SearchRun.State.FINISHED and again.new_candidates == 20


def test_rate_limiting_in_the_middle_of_the_fetch_fails_the_whole_run_and_creates_nothing(
    run_now, fake_eutils, ncbi_settings
):
    pmids = list(range(41_004_000, 41_004_500))
    fake_eutils.add_synthetic(pmids, entry_date=date(2025, 3, 5))
    fake_eutils.fail_pmids([pmids[-1]], kind="rate_limit")  # one batch always gets HTTP 429
    fake_eutils.retry_after = 0  # the client honours Retry-After; this test need not wait for it
    ncbi_settings.NCBI_MAX_ATTEMPTS = 2
    search = make_search("synthetic")

    run = run_now(search)

    assert run.state == SearchRun.State.FAILED and "429" in run.error
    assert not Candidate.objects.exists()
    assert not run.items.exclude(record=None).exists()  # the fetched records of the other batches are dropped
    search.refresh_from_db()
    assert search.covered_until is None


def test_a_batch_delivered_twice_and_a_search_redelivered_do_no_harm(ncbi_settings, fake_eutils, task_queue, clock):
    fake_eutils.add_synthetic(range(41_005_000, 41_005_030), entry_date=date(2025, 3, 6))
    search = make_search("synthetic")
    run = triage.start_run(search)
    triage.run_search(run.pk)
    triage.run_search(run.pk)  # a redelivered message: the run is past searching
    items = list(run.items.values_list("pmid", flat=True))
    triage.fetch_batch(run.pk, items)
    triage.fetch_batch(run.pk, items)

    run.refresh_from_db()
    assert run.state == SearchRun.State.FINISHED and run.new_candidates == 30
    assert Candidate.objects.count() == 30 and len(fake_eutils.requests_to("efetch.fcgi")) == 1


def test_a_run_whose_worker_died_is_closed_by_beat_and_its_window_searched_again(
    ncbi_settings, fake_eutils, task_queue, clock
):
    search = make_search("synthetic")
    lost = triage.start_run(search)
    SearchRun.objects.filter(pk=lost.pk).update(state=SearchRun.State.FETCHING)  # and then the worker died

    clock.shift(timedelta(hours=7))
    started = triage.start_due_searches()

    lost.refresh_from_db()
    assert lost.state == SearchRun.State.FAILED and "a worker or a message was lost" in lost.error
    assert not started  # a fresh failure waits TRIAGE_RETRY_AFTER_HOURS
    clock.shift(timedelta(hours=7))
    [again] = triage.start_due_searches()
    assert (again.window_start, again.window_end) == (lost.window_start, lost.window_end)


def test_only_one_run_of_a_search_at_a_time(ncbi_settings, task_queue, clock):
    search = make_search("synthetic")
    triage.start_run(search)
    with pytest.raises(triage.SearchError, match="running already"):
        triage.start_run(search)


def test_changing_the_query_starts_the_coverage_over(run_now, fake_eutils):
    fake_eutils.add_synthetic([41_002_300], entry_date=date(2025, 3, 1))
    search = make_search("synthetic")
    run_now(search)
    search.refresh_from_db()
    triage.restart_if_query_changed(search, "synthetic")
    assert search.covered_until == YESTERDAY
    search.query = "melanoma"
    triage.restart_if_query_changed(search, "synthetic")
    assert search.covered_until is None and search.translation == ""


def test_a_search_watching_mechanisms_suggests_them_for_every_paper_it_finds(run_now, fake_eutils):
    fake_eutils.add_synthetic(range(41_006_000, 41_006_005), entry_date=date(2025, 3, 6))
    watched = make_mechanism("T-cell exclusion")
    b2m = make_mechanism("Loss of B2M", genes=[make_gene("B2M")])
    search = make_search("synthetic")
    search.mechanisms.set([watched])

    run_now(search)

    for candidate in Candidate.objects.prefetch_related("mechanism_links"):
        suggested = {link.mechanism for link in candidate.mechanism_links.all()}
        assert watched in suggested
        assert (b2m in suggested) == ("B2M" in candidate.terms["gene"])
