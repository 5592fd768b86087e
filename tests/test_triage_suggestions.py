"""Readers suggest papers on a mechanism's public page: a PMID or a citation (matched by ECitMatch), rate-limited
per reader, landing in the curators' queue with who suggested it."""

import pytest
from django.urls import reverse

from curation import candidates
from curation import task_queue as names
from curation.models import Candidate, CandidateSource, Status, Suggestion
from tests.factories import make_mechanism, make_reference
from tests.fixtures_ncbi import new_pmids

pytestmark = pytest.mark.django_db


@pytest.fixture
def mechanism():
    return make_mechanism("Loss of B2M", status=Status.PUBLISHED)


@pytest.fixture
def reader(django_user_model):
    return django_user_model.objects.create_user("rosa", password="correct horse battery staple")


def test_a_signed_out_reader_is_asked_to_sign_in_and_a_draft_takes_no_suggestion(client, mechanism, reader):
    page = client.get(mechanism.get_absolute_url()).content.decode()
    assert "Sign in</a> to suggest a paper" in page
    assert client.get(reverse("suggest-paper", args=[mechanism.slug]))["Location"].startswith("/accounts/login/")
    draft = make_mechanism("A draft")
    client.force_login(reader)
    assert client.get(reverse("suggest-paper", args=[draft.slug])).status_code == 404


def test_a_suggested_pmid_is_fetched_and_queued_with_who_suggested_it(
    client, mechanism, reader, ncbi_settings, fake_eutils, task_queue, django_capture_on_commit_callbacks
):
    [pmid] = new_pmids(fake_eutils)
    client.force_login(reader)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("suggest-paper", args=[mechanism.slug]), {"paper": str(pmid)})
    assert response.status_code == 302
    task_queue.run(names.PROCESS_SUGGESTION)

    candidate = Candidate.objects.get(pmid=pmid)
    assert candidate.suggestion_count == 1 and candidate.relevance >= 5
    assert CandidateSource.objects.get(candidate=candidate).suggested_by == reader
    assert list(candidate.mechanisms.all()) == [mechanism]
    page = client.get(response["Location"]).content.decode()
    assert "In the curators&#x27; queue" in page or "In the curators' queue" in page


def test_a_citation_is_matched_by_ecitmatch_like_on_the_add_references_page(
    mechanism, reader, ncbi_settings, fake_eutils, task_queue, django_capture_on_commit_callbacks
):
    [pmid] = new_pmids(fake_eutils)
    fake_eutils.add_citation(
        pmid=pmid, journal="J Test Immunol", year=2021, volume="9", first_page="101", author="Curie A"
    )
    with django_capture_on_commit_callbacks(execute=True):
        suggestion = candidates.suggest(
            "Curie A, et al. J Test Immunol. 2021;9(2):101-109.", mechanism=mechanism, by=reader
        )
    task_queue.run(names.PROCESS_SUGGESTION)

    suggestion.refresh_from_db()
    assert (suggestion.state, suggestion.pmid) == (Suggestion.State.QUEUED, pmid)
    assert fake_eutils.requests_to("ecitmatch.cgi")


def test_a_paper_already_in_the_atlas_or_already_rejected_is_not_queued_again(
    mechanism, reader, alice, ncbi_settings, fake_eutils, task_queue, django_capture_on_commit_callbacks
):
    known = make_reference(pmid=new_pmids(fake_eutils)[0])
    [pmid] = new_pmids(fake_eutils)
    with django_capture_on_commit_callbacks(execute=True):
        first = candidates.suggest(str(known.pmid), mechanism=mechanism, by=reader)
        second = candidates.suggest(str(pmid), mechanism=mechanism, by=reader)
    task_queue.run(names.PROCESS_SUGGESTION)
    candidate = Candidate.objects.get(pmid=pmid)
    candidates.reject(candidate, by=alice, expected_version=candidate.version, reason="off-topic")
    with django_capture_on_commit_callbacks(execute=True):
        third = candidates.suggest(str(pmid), mechanism=mechanism, by=alice)
    task_queue.run(names.PROCESS_SUGGESTION)

    states = [Suggestion.objects.get(pk=s.pk).state for s in (first, second, third)]
    assert states == [Suggestion.State.IN_ATLAS, Suggestion.State.QUEUED, Suggestion.State.DECIDED]
    assert Candidate.objects.get(pmid=pmid).state == Candidate.State.REJECTED


def test_bad_input_is_refused_with_a_message_and_records_nothing(client, mechanism, reader, task_queue):
    client.force_login(reader)
    for text in ("", "PMID:123", "12345 67890", "x" * 2001):
        response = client.post(reverse("suggest-paper", args=[mechanism.slug]), {"paper": text})
        assert response.status_code == 400, text
    assert not Suggestion.objects.exists() and not task_queue


def test_a_reader_may_suggest_only_so_many_papers_a_day(client, mechanism, reader, settings, task_queue):
    settings.TRIAGE_SUGGESTIONS_PER_DAY = 2
    client.force_login(reader)
    url = reverse("suggest-paper", args=[mechanism.slug])
    assert client.post(url, {"paper": "31000001"}).status_code == 302
    assert client.post(url, {"paper": "31000002"}).status_code == 302
    refused = client.post(url, {"paper": "31000003"})
    assert refused.status_code == 400 and "the most one reader may" in refused.content.decode()
    assert Suggestion.objects.count() == 2
