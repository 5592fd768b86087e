"""Saved searches for real: a Celery worker on Redis and PostgreSQL runs two searches on schedule against the fake
E-utilities server, while this process travels through the calendar (time-machine) instead of sleeping.

The worker and fixtures are those of tests/test_pipeline_integration.py. Beat's hourly task runs in this
process (it only decides what is due and queues it); the runs themselves go through Redis to the worker.
"""

import time
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse

from curation import tasks
from curation.models import Candidate, CandidateSource, MetadataState, Reference, SavedSearch, SearchRun
from tests import test_pipeline_integration as pipeline
from tests.admin_pages import signed_in
from tests.factories import make_mechanism
from tests.fixtures_ncbi import travel

pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]

# The real worker and its Redis broker, as the pipeline's integration tests start them.
broker_url = pipeline.broker_url
start_worker = pipeline.start_worker

DAY_ONE = datetime(2025, 6, 2, 8, 0, tzinfo=ZoneInfo("America/New_York"))
RUN_TIMEOUT = 90


def wait_until_idle(searches, timeout=RUN_TIMEOUT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not SearchRun.objects.filter(search__in=searches, state__in=SearchRun.ACTIVE_STATES).exists():
            return
        time.sleep(0.3)
    pytest.fail(f"runs still going after {timeout} s: {list(SearchRun.objects.values_list('state', 'error'))}")


def matching(fake, pmids, word):
    return {p for p in pmids if word in fake._search_text(p)["all"]}


def test_two_saved_searches_run_on_schedule_feed_the_queue_once_and_a_rejected_paper_never_returns(
    start_worker, fake_eutils, alice
):
    earlier = list(range(45_000_000, 45_000_300))  # entered the week before day one
    fake_eutils.add_synthetic(earlier, entry_date=date(2025, 5, 28))
    watched = make_mechanism("Loss of B2M")
    b2m = SavedSearch.objects.create(
        name="B2M", query="B2M", schedule=SavedSearch.Schedule.DAILY, first_lookback_days=10
    )
    b2m.mechanisms.set([watched])
    melanoma = SavedSearch.objects.create(
        name="Melanoma", query="melanoma OR B2M", schedule=SavedSearch.Schedule.DAILY, first_lookback_days=10
    )
    start_worker(concurrency=2)

    with travel(DAY_ONE) as clock:
        started = tasks.run_due_searches.apply().get()
        assert len(started) == 2
        wait_until_idle([b2m, melanoma])

        wanted = matching(fake_eutils, earlier, "b2m") | matching(fake_eutils, earlier, "melanoma")
        runs = list(SearchRun.objects.order_by("pk"))
        assert [r.state for r in runs] == ["finished", "finished"], [r.error for r in runs]
        assert set(Candidate.objects.values_list("pmid", flat=True)) == wanted
        both = matching(fake_eutils, earlier, "b2m")
        assert CandidateSource.objects.filter(search=melanoma, candidate__pmid__in=both).count() == len(both)
        assert sum(r.new_candidates for r in runs) == len(wanted)  # once each, whichever search came first
        assert tasks.run_due_searches.apply().get() == []  # nothing is due again the same day

        # A curator accepts one paper for the watched mechanism and rejects another.
        client = signed_in(alice)
        queue = client.get(reverse("admin:curation_candidate_changelist"))
        assert queue.status_code == 200
        accepted, rejected = Candidate.objects.filter(pmid__in=sorted(both)).order_by("pmid")[:2]
        answer = client.post(
            reverse("admin:curation_candidate_decide", args=[accepted.pk]),
            {"action": "accept", "version": accepted.version, "mechanism": watched.pk},
        )
        reference = Reference.objects.get(pmid=accepted.pmid)
        assert reference.metadata_state == MetadataState.NEEDS_REVIEW and reference.title == accepted.title
        assert answer["Location"].startswith(reverse("admin:curation_evidence_add"))
        assert client.get(answer["Location"]).status_code == 200  # the evidence form opens
        client.post(
            reverse("admin:curation_candidate_decide", args=[rejected.pk]),
            {"action": "reject", "version": rejected.version, "reason": "off-topic"},
        )

        # Day two: new papers entered on day one; the melanoma search is broadened, so it looks back again.
        fresh = list(range(45_001_000, 45_001_040))
        fake_eutils.add_synthetic(fresh, entry_date=DAY_ONE.date())
        melanoma.refresh_from_db()
        melanoma.query = "melanoma OR B2M OR lung"
        melanoma.covered_until = None
        melanoma.save()
        clock.shift(timedelta(days=1))
        assert len(tasks.run_due_searches.apply().get()) == 2
        wait_until_idle([b2m, melanoma])

    again = SearchRun.objects.filter(search=melanoma).latest("pk")
    assert again.state == "finished", again.error
    assert SearchRun.objects.filter(search=b2m).latest("pk").window_start == DAY_ONE.date()
    rejected.refresh_from_db()
    assert rejected.state == Candidate.State.REJECTED  # found again, never back in the queue
    assert CandidateSource.objects.get(candidate=rejected, search=melanoma).run == again
    assert Candidate.objects.filter(pmid=rejected.pmid).count() == 1
    assert not Candidate.objects.waiting().filter(pk__in=[rejected.pk, accepted.pk]).exists()
    assert Reference.objects.filter(pmid=accepted.pmid).count() == 1
    assert Candidate.objects.filter(pmid__in=fresh).count() == len(
        matching(fake_eutils, fresh, "b2m")
        | matching(fake_eutils, fresh, "melanoma")
        | matching(fake_eutils, fresh, "lung")
    )
    assert fake_eutils.rate_limited_count == 0
