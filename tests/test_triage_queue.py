"""The literature queue: accepting, rejecting with a reason, snoozing and assigning candidates, by permission,
with history, and with one decision when two curators decide the same paper at once."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from curation import candidates
from curation.models import Candidate, MetadataState, Reference, RejectReason, Status
from curation.tagger import Tagger, Term, gene_terms
from tests.admin_pages import signed_in
from tests.factories import make_gene, make_mechanism, make_reference, make_therapy
from tests.fake_eutils import synthetic_article
from tests.fixtures_ncbi import TEST_API_KEY  # noqa: F401  (the same fake records as the pipeline)

pytestmark = pytest.mark.django_db


def record_for(pmid):
    from curation.pubmed_records import parse_efetch
    from tests.fake_eutils import PUBMED_DOCTYPE, XML_DECLARATION

    xml = f"{XML_DECLARATION}\n{PUBMED_DOCTYPE}\n<PubmedArticleSet>{synthetic_article(pmid)}</PubmedArticleSet>"
    return parse_efetch(xml.encode())[0]


def make_candidate(pmid=44_000_001, **fields):
    [candidate] = candidates.create_candidates([record_for(pmid)])
    if fields:
        Candidate.objects.filter(pk=candidate.pk).update(**fields)
    return Candidate.objects.get(pk=candidate.pk)


def test_accepting_creates_the_reference_from_the_fetched_record_in_needs_review(alice):
    candidate = make_candidate()

    acceptance = candidates.accept(candidate, by=alice, expected_version=candidate.version)

    reference = Reference.objects.get(pmid=candidate.pmid)
    assert acceptance.reference == reference and acceptance.created
    assert reference.metadata_state == MetadataState.NEEDS_REVIEW
    assert reference.title == candidate.title and reference.journal_iso == candidate.journal
    assert reference.raw_xml.startswith("<PubmedArticle>")
    candidate.refresh_from_db()
    assert (candidate.state, candidate.decided_by, candidate.reference) == (Candidate.State.ACCEPTED, alice, reference)
    assert candidate.history.latest().history_change_reason == "Accepted"
    assert candidate.history.latest().history_user == alice


def test_accepting_for_a_published_mechanism_opens_its_draft_revision_for_the_evidence(alice):
    published = make_mechanism("Loss of B2M", status=Status.PUBLISHED)
    candidate = make_candidate()

    acceptance = candidates.accept(candidate, by=alice, expected_version=candidate.version, mechanism=published)

    assert acceptance.evidence_for.revision_of == published and acceptance.revision_opened
    assert published.status == Status.PUBLISHED


def test_rejecting_needs_a_reason_and_other_needs_a_note(alice):
    candidate = make_candidate()
    with pytest.raises(candidates.TriageError, match="Choose a reason"):
        candidates.reject(candidate, by=alice, expected_version=candidate.version, reason="")
    with pytest.raises(candidates.TriageError, match="needs a note"):
        candidates.reject(candidate, by=alice, expected_version=candidate.version, reason=RejectReason.OTHER)
    candidate.refresh_from_db()
    assert candidate.state == Candidate.State.QUEUED and candidate.version == 1

    candidates.reject(candidate, by=alice, expected_version=1, reason=RejectReason.OTHER, note="Mouse study  only")

    candidate.refresh_from_db()
    assert (candidate.reject_reason, candidate.reject_note) == ("other", "Mouse study only")
    assert candidate.history.latest().history_change_reason == "Rejected: Other (say why) (Mouse study only)"


def test_a_decision_on_a_stale_page_is_refused_and_names_who_changed_it(alice, carol):
    candidate = make_candidate()
    candidates.assign(candidate, by=carol, expected_version=1, to=carol)

    with pytest.raises(candidates.TriageError, match="carol changed assigned to"):
        candidates.reject(candidate, by=alice, expected_version=1, reason=RejectReason.OFF_TOPIC)
    candidate.refresh_from_db()
    assert candidate.state == Candidate.State.QUEUED


def test_a_second_decision_is_told_who_decided_first(alice, carol):
    candidate = make_candidate()
    candidates.reject(candidate, by=carol, expected_version=1, reason=RejectReason.OFF_TOPIC)
    with pytest.raises(candidates.TriageError, match="already rejected by carol"):
        candidates.accept(candidate, by=alice, expected_version=2)
    assert not Reference.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_two_curators_deciding_at_once_get_one_decision(postgres, role_groups, django_user_model):
    from tests.conftest import _member

    alice, carol = _member(django_user_model, "alice", "Curator"), _member(django_user_model, "carol", "Curator")
    candidate = make_candidate()
    barrier = threading.Barrier(2)
    outcomes = {}

    def decide(name, action):
        barrier.wait()
        try:
            action()
            outcomes[name] = "done"
        except candidates.TriageError as exc:
            outcomes[name] = str(exc)
        finally:
            connection.close()

    threads = [
        threading.Thread(
            target=decide, args=("alice", lambda: candidates.accept(candidate, by=alice, expected_version=1))
        ),
        threading.Thread(
            target=decide,
            args=("carol", lambda: candidates.reject(candidate, by=carol, expected_version=1, reason="off-topic")),
        ),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes.values()).count("done") == 1, outcomes
    loser = next(message for message in outcomes.values() if message != "done")
    assert "already" in loser or "Not saved" in loser
    candidate.refresh_from_db()
    assert candidate.state in (Candidate.State.ACCEPTED, Candidate.State.REJECTED)
    assert Reference.objects.count() == (1 if candidate.state == Candidate.State.ACCEPTED else 0)


def test_snoozing_hides_a_paper_until_the_day_comes(alice):
    candidate = make_candidate()
    until = timezone.localdate() + timedelta(days=7)
    candidates.snooze(candidate, by=alice, expected_version=1, until=until)
    assert not Candidate.objects.waiting().exists()
    assert Candidate.objects.waiting(today=until).get() == candidate
    with pytest.raises(candidates.TriageError, match="a day after today"):
        candidates.snooze(candidate, by=alice, expected_version=2, until=timezone.localdate())


def test_only_curators_decide_and_only_curators_are_assigned(alice, django_user_model):
    candidate = make_candidate()
    reader = django_user_model.objects.create_user("reader", password="x")
    with pytest.raises(candidates.TriageError, match="may not decide"):
        candidates.accept(candidate, by=reader, expected_version=1)
    with pytest.raises(candidates.TriageError, match="reader may not decide"):
        candidates.assign(candidate, by=alice, expected_version=1, to=reader)


def test_the_tagger_finds_the_atlas_terms_and_the_relevance_adds_them_up():
    make_gene("B2M")
    make_gene("JAK1")
    make_therapy("CAR-T cell therapy")
    make_mechanism("Myeloid-derived suppressor cells")
    # Synthetic record 44000007 is about B2M loss and CAR-T cell therapy (the fake's deterministic picks).
    pmid = next(
        p for p in range(44_000_000, 44_000_400) if "B2M" in synthetic_article(p) and "CAR-T" in synthetic_article(p)
    )
    candidate = make_candidate(pmid)
    assert candidate.terms["gene"] == ["B2M"] and candidate.terms["therapy"] == ["CAR-T cell therapy"]
    assert (candidate.gene_count, candidate.therapy_count) == (1, 1)
    assert candidate.relevance == 2 * 1 + 1 * 1


def test_highlighting_escapes_every_character_and_marks_whole_words_only():
    tagger = Tagger(
        [*gene_terms("B2M"), *gene_terms("CD274", ["PD-L1"]), Term("PD-1 blockade", "therapy", "t", "therapy")]
    )
    html = tagger.highlight('<img src=x onerror="alert(1)"> B2M-null, XB2M, b2m and PD-L1 after PD-1  blockade')
    assert "<img" not in html and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in html
    assert '<mark class="term term-gene" title="gene B2M">B2M</mark>-null' in html
    assert "XB2M" in html and "b2m and" in html  # neither is a whole-word, same-case match
    assert '<mark class="term term-gene" title="gene CD274">PD-L1</mark>' in html
    assert '<mark class="term term-therapy" title="therapy">PD-1  blockade</mark>' in html


# --- the queue pages --------------------------------------------------------------------------------------------


def test_the_queue_lists_waiting_papers_by_relevance_with_highlighted_abstracts(
    client, alice, django_assert_max_num_queries
):
    make_gene("B2M")
    low, high = make_candidate(44_000_101), make_candidate(44_000_102, search_count=2)
    for pmid in range(44_000_110, 44_000_130):
        make_candidate(pmid)
    decided = make_candidate(44_000_103)
    candidates.reject(decided, by=alice, expected_version=1, reason="off-topic")
    client.force_login(alice)
    url = reverse("admin:curation_candidate_changelist")

    with django_assert_max_num_queries(25):
        page = client.get(url).content.decode()

    assert page.index(f"PMID {high.pmid}") < page.index(f"PMID {low.pmid}")
    assert f"PMID {decided.pmid}" not in page
    assert "relevance = 5 × people who suggested it + 3 × saved searches that found it" in page
    rejected = client.get(url, {"queue": "rejected"}).content.decode()
    assert f"PMID {decided.pmid}" in rejected


def test_a_curator_accepts_on_the_papers_page_and_lands_on_the_evidence_form(alice):
    mechanism = make_mechanism("Loss of B2M")
    candidate = make_candidate()
    client = signed_in(alice)
    page = client.get(reverse("admin:curation_candidate_change", args=[candidate.pk]))
    assert page.status_code == 200 and b'id="accept-form"' in page.content

    response = client.post(
        reverse("admin:curation_candidate_decide", args=[candidate.pk]),
        {"action": "accept", "version": candidate.version, "mechanism": mechanism.pk},
    )

    reference = Reference.objects.get(pmid=candidate.pmid)
    assert response.status_code == 302
    assert response["Location"] == f"/admin/curation/evidence/add/?mechanism={mechanism.pk}&reference={reference.pk}"
    form = client.get(response["Location"])
    assert form.context["adminform"].form.initial["mechanism"] == str(mechanism.pk)


def test_bulk_reject_asks_one_reason_and_refuses_rows_changed_since_the_list_was_shown(alice, carol):
    first, second = make_candidate(44_000_201), make_candidate(44_000_202)
    candidates.assign(second, by=carol, expected_version=1, to=carol)  # after alice's list was drawn
    client = signed_in(alice)
    data = {
        "action": "reject_selected",
        "_selected_action": [first.pk, second.pk],
        f"version-{first.pk}": 1,
        f"version-{second.pk}": 1,
    }
    asked = client.post(reverse("admin:curation_candidate_changelist"), data)
    assert asked.status_code == 200 and b'id="reject-selected"' in asked.content

    done = client.post(reverse("admin:curation_candidate_changelist"), {**data, "reason": "off-topic"}, follow=True)

    messages = [str(m) for m in done.context["messages"]]
    assert any(f"Rejected 1 paper(s): PMID {first.pmid}" in m for m in messages)
    assert any("carol changed assigned to" in m for m in messages)
    assert Candidate.objects.get(pk=first.pk).state == "rejected"
    assert Candidate.objects.get(pk=second.pk).state == "queued"


def test_a_mechanisms_page_and_the_dashboard_count_the_papers_waiting_for_it(alice):
    mechanism = make_mechanism("Loss of B2M")
    for pmid in (44_000_301, 44_000_302):
        candidate = make_candidate(pmid)
        candidates.link_mechanisms([candidate.pk], [mechanism.pk], "search")
    client = signed_in(alice)
    page = client.get(reverse("admin:curation_mechanism_change", args=[mechanism.pk])).content.decode()
    assert "2 papers in the literature queue</a> wait for this mechanism" in page
    dashboard = client.get(reverse("curation-dashboard")).content.decode()
    assert f'?mechanism={mechanism.pk}">2</a>' in dashboard


def test_curators_do_not_see_a_reference_made_from_a_rejected_candidate(alice):
    make_reference(pmid=44_000_401)
    candidate = make_candidate(44_000_402)
    candidates.reject(candidate, by=alice, expected_version=1, reason="duplicate")
    assert not Reference.objects.filter(pmid=44_000_402).exists()
