"""The curator dashboard: what waits for a curator or a reviewer, in a constant number of queries."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from curation import workflow
from curation.models import CitationUpdate, MetadataState, Status
from tests.admin_pages import signed_in
from tests.factories import make_evidence, make_mechanism, make_reference

pytestmark = pytest.mark.django_db

URL = reverse("curation-dashboard")
THIS_YEAR = timezone.now().year


def section(response, name):
    return response.context["sections"][name][0]


def test_anonymous_readers_are_sent_to_sign_in(client):
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_a_signed_in_user_who_is_not_staff_is_sent_to_sign_in(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("reader"))
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_staff_without_a_role_are_refused(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("intern", is_staff=True))
    assert client.get(URL).status_code == 403


def test_a_curator_sees_her_drafts_with_the_reviewers_reason_and_no_review_queue(alice, carol, bob):
    mine = make_mechanism("Alice's draft", created_by=alice)
    returned = make_mechanism("Alice's returned draft", created_by=alice)
    make_evidence(returned)
    workflow.submit(returned, by=alice)
    workflow.reject(returned, by=bob, reason="Needs a human cohort.")
    make_mechanism("Carol's draft", created_by=carol)

    response = signed_in(alice).get(URL)

    assert response.status_code == 200
    assert {m.name for m in section(response, "drafts")} == {mine.name, returned.name}
    html = response.content.decode()
    assert "Returned by bob: Needs a human cohort." in html
    assert "Waiting for my review" not in html


def test_a_reviewer_sees_submissions_waiting_for_review_except_his_own(alice, bob):
    theirs = make_mechanism("Alice's submission")
    make_evidence(theirs)
    workflow.submit(theirs, by=alice)
    own = make_mechanism("Bob's submission")
    make_evidence(own)
    workflow.submit(own, by=bob)

    response = signed_in(bob).get(URL)

    assert [m.name for m in section(response, "to_review")] == ["Alice's submission"]


def test_references_and_citation_updates_that_need_a_curator_are_listed(alice):
    fetched = make_reference(pmid=31000001, metadata_state=MetadataState.NEEDS_REVIEW)
    make_reference(pmid=31000002, metadata_state=MetadataState.VERIFIED)
    changed = make_reference(pmid=31000003)
    pending = CitationUpdate.objects.create(reference=changed, diff={"pages": {"old": "1-9", "new": "1-10"}})
    CitationUpdate.objects.create(
        reference=make_reference(), diff={"volume": {"old": "1", "new": "2"}}, decision=CitationUpdate.Decision.ACCEPTED
    )

    response = signed_in(alice).get(URL)

    assert section(response, "references") == [fetched]
    assert section(response, "citation_updates") == [pending]
    assert "PMID 31000003" in response.content.decode()


def test_mechanisms_citing_retracted_or_corrected_papers_are_flagged(alice):
    retracted = make_reference(pmid=32000001, is_retracted=True)
    corrected = make_reference(pmid=32000002, has_erratum=True)
    citing_retracted = make_mechanism("Cites a retraction", status=Status.PUBLISHED)
    make_evidence(citing_retracted, reference=retracted)
    citing_erratum = make_mechanism("Cites an erratum")
    make_evidence(citing_erratum, reference=corrected)
    make_evidence(make_mechanism("Clean"), reference=make_reference())
    make_evidence(make_mechanism("Retired", status=Status.RETIRED), reference=retracted)

    response = signed_in(alice).get(URL)

    assert [m.name for m in section(response, "flagged")] == ["Cites a retraction", "Cites an erratum"]
    html = response.content.decode()
    assert "PMID 32000001</a>\n          (retracted)" in html
    assert "PMID 32000002</a>\n          (erratum)" in html


def test_published_mechanisms_without_recent_evidence_are_flagged_as_stale(alice, settings):
    settings.EVIDENCE_STALE_YEARS = 5
    old = make_mechanism("Only old evidence", status=Status.PUBLISHED)
    make_evidence(old, reference=make_reference(pub_year=THIS_YEAR - 5))
    fresh = make_mechanism("Recent evidence too", status=Status.PUBLISHED)
    make_evidence(fresh, reference=make_reference(pub_year=THIS_YEAR - 8))
    make_evidence(fresh, reference=make_reference(pub_year=THIS_YEAR - 1))
    make_mechanism("No evidence at all", status=Status.PUBLISHED)
    make_evidence(make_mechanism("A draft with old evidence"), reference=make_reference(pub_year=THIS_YEAR - 9))

    response = signed_in(alice).get(URL)

    assert [m.name for m in section(response, "stale")] == ["No evidence at all", "Only old evidence"]
    assert "no evidence newer than 5 years" in response.content.decode()


def _fill(n, curator, reviewer):
    for i in range(n):
        mechanism = make_mechanism(f"Draft {i}", created_by=reviewer, updated_by=reviewer)
        make_evidence(mechanism, reference=make_reference(is_retracted=True, pub_year=2001))
        published = make_mechanism(f"Published {i}", status=Status.PUBLISHED)
        make_evidence(published, reference=make_reference(has_erratum=True, pub_year=2002))
        submitted = make_mechanism(f"Submitted {i}")
        make_evidence(submitted)
        workflow.submit(submitted, by=curator)
        reference = make_reference(metadata_state=MetadataState.NEEDS_REVIEW)
        CitationUpdate.objects.create(reference=reference, diff={"issue": {"old": "1", "new": "2"}})


def test_the_dashboard_runs_the_same_number_of_queries_whatever_the_data(alice, bob):
    client = signed_in(bob)
    _fill(1, alice, bob)
    with CaptureQueriesContext(connection) as few:
        assert client.get(URL).status_code == 200
    _fill(12, alice, bob)
    with CaptureQueriesContext(connection) as many:
        response = client.get(URL)

    assert len(section(response, "to_review")) == 13
    assert len(section(response, "flagged")) == 26
    assert len(many.captured_queries) == len(few.captured_queries)
    assert len(many.captured_queries) <= 15


def test_the_admin_home_links_to_the_dashboard(alice):
    html = signed_in(alice).get(reverse("admin:index")).content.decode()
    assert f'href="{URL}"' in html


def test_pubmed_fetches_that_failed_or_found_nothing_are_listed_with_the_reason(alice):
    failed = make_reference(
        pmid=31000011, metadata_state=MetadataState.FAILED, last_error="NCBI answered HTTP 503 five times"
    )
    unknown = make_reference(pmid=31000012, metadata_state=MetadataState.NOT_FOUND, last_error="")
    kept_but_failing = make_reference(
        pmid=31000013, metadata_state=MetadataState.VERIFIED, last_error="Truncated XML; earlier data kept"
    )
    make_reference(pmid=31000014, metadata_state=MetadataState.VERIFIED)

    response = signed_in(alice).get(URL)

    assert {r.pmid for r in section(response, "fetch_problems")} == {failed.pmid, unknown.pmid, kept_but_failing.pmid}
    page = response.content.decode()
    assert "NCBI answered HTTP 503 five times" in page
    assert "Truncated XML; earlier data kept" in page
