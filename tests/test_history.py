"""History: every change is recorded with who and when; the admin diffs any two versions and reverts.

Alice and carol are curators, bob is a reviewer.
"""

import pytest
from django.urls import reverse

from curation import workflow
from curation.models import Category, Mechanism, MetadataState, Status
from tests.admin_pages import admin_url, change_url, form_data, signed_in
from tests.factories import make_evidence, make_gene, make_mechanism, make_reference, save_versioned

pytestmark = pytest.mark.django_db


def edit(obj, user, **changes):
    for name, value in changes.items():
        setattr(obj, name, value)
    obj._history_user = user
    return save_versioned(obj)


@pytest.fixture
def mechanism(alice):
    """A draft alice created in the admin, then carol rewrote part of it."""
    client = signed_in(alice)
    page = client.get(reverse("admin:curation_mechanism_add"))
    data = {
        **form_data(page),
        "name": "Loss of B2M",
        "slug": "b2m-loss",
        "category": Category.TUMOR_INTRINSIC,
        "summary": "Tumours lose B2M and hide from T cells.",
    }
    assert client.post(reverse("admin:curation_mechanism_add"), data).status_code == 302
    return Mechanism.objects.get(slug="b2m-loss")


def versions(obj):
    return list(obj.history.order_by("history_date", "history_id"))


# --- recording -------------------------------------------------------------------------------


def test_every_admin_change_is_recorded_with_who_when_and_what(mechanism, alice, carol):
    client = signed_in(carol)
    data = form_data(client.get(change_url(mechanism)))
    client.post(change_url(mechanism), {**data, "summary": "Tumours lose B2M, so CD8 T cells cannot see them."})

    first, last = versions(mechanism)[0], versions(mechanism)[-1]
    assert (first.history_type, first.history_user) == ("+", alice)
    assert (last.history_type, last.history_user, last.version) == ("~", carol, 2)
    assert last.history_date > first.history_date
    assert last.diff_against(first).changed_fields == ["summary"]


def test_evidence_and_reference_changes_are_recorded_too(alice, bob):
    reference = make_reference(metadata_state=MetadataState.NEEDS_REVIEW)
    evidence = make_evidence(reference=reference, statement="First wording.")

    edit(evidence, alice, statement="Second wording.")
    edit(reference, bob, pub_year=2021)

    assert [(r.history_user, r.statement) for r in versions(evidence)][-1] == (alice, "Second wording.")
    assert [(r.history_user, r.pub_year) for r in versions(reference)][-1] == (bob, 2021)


def test_workflow_transitions_are_recorded_with_their_reason(alice, bob):
    mechanism = make_mechanism()
    make_evidence(mechanism)
    workflow.submit(mechanism, by=alice)
    workflow.reject(mechanism, by=bob, reason="Needs a clinical cohort.")

    reasons = [(r.history_user, r.history_change_reason) for r in versions(mechanism)[-2:]]
    assert reasons == [(alice, "Submitted for review"), (bob, "Rejected: Needs a clinical cohort.")]


# --- the history and diff pages ----------------------------------------------------------------


def test_the_history_page_lists_each_version_with_its_author_and_changed_fields(mechanism, carol):
    edit(mechanism, carol, summary="A new summary.", strategies="NK-cell engagers.")

    html = signed_in(carol).get(admin_url(mechanism, "history")).content.decode()

    assert "alice" in html and "carol" in html
    assert "summary, strategies" in html
    assert "Revert to this version" in html


def test_the_diff_shows_only_changed_fields_readably_with_words_marked(mechanism, alice, carol):
    gene = make_gene("B2M")
    first = versions(mechanism)[-1]
    edit(mechanism, carol, summary="Tumours lose B2M and escape CD8 T cells.", category=Category.TUMOR_EXTRINSIC)
    mechanism.genes.add(gene)
    last = versions(mechanism)[-1]

    response = signed_in(alice).get(
        admin_url(mechanism, "history_compare"), {"old": first.history_id, "new": last.history_id}
    )

    html = response.content.decode()
    assert response.status_code == 200
    rows = {row["label"]: row for row in response.context["rows"]}
    assert set(rows) == {"summary", "category", "genes"}
    assert "<del>hide</del>" in html and "<ins>escape</ins>" in html
    assert "<ins>CD8</ins>" in html
    assert "Tumour-intrinsic" in html and "Tumour-extrinsic" in html
    assert "<ins>B2M</ins>" in html
    assert "Name" not in [row["label"] for row in response.context["rows"]]


def test_the_diff_escapes_what_curators_typed(mechanism, carol):
    edit(mechanism, carol, summary="<script>alert('x')</script> B2M")

    html = signed_in(carol).get(admin_url(mechanism, "history_compare")).content.decode()

    assert "<script>alert" not in html
    assert "&lt;script&gt;alert" in html


# --- revert ------------------------------------------------------------------------------------


def test_reverting_restores_a_version_and_is_itself_a_recorded_change(mechanism, alice, carol):
    original = versions(mechanism)[0]
    gene = make_gene("JAK1")
    edit(mechanism, carol, summary="Carol's doubtful rewrite.")
    mechanism.genes.add(gene)
    client = signed_in(alice)

    confirm = client.get(admin_url(mechanism, "history_revert", original.history_id))
    assert confirm.status_code == 200
    assert [row["label"] for row in confirm.context["rows"]] == ["summary", "genes"]
    assert "<del>doubtful</del>" in confirm.content.decode()
    response = client.post(
        admin_url(mechanism, "history_revert", original.history_id),
        {"expected_version": confirm.context["current_version"]},
    )

    assert response.status_code == 302
    mechanism.refresh_from_db()
    assert mechanism.summary == "Tumours lose B2M and hide from T cells."
    assert list(mechanism.genes.all()) == []
    reverts = mechanism.history.filter(history_change_reason="Reverted to version 1")
    assert {record.history_user for record in reverts} == {alice}
    assert mechanism.history.latest().history_change_reason == "Reverted to version 1"


def test_a_stale_revert_is_refused_naming_who_changed_what(mechanism, alice, carol):
    original = versions(mechanism)[0]
    client = signed_in(alice)
    confirm = client.get(admin_url(mechanism, "history_revert", original.history_id))
    edit(mechanism, carol, name="Carol renamed it")

    response = client.post(
        admin_url(mechanism, "history_revert", original.history_id),
        {"expected_version": confirm.context["current_version"]},
        follow=True,
    )

    assert "after you opened the mechanism" in response.content.decode()
    assert "carol changed name" in response.content.decode()
    mechanism.refresh_from_db()
    assert mechanism.name == "Carol renamed it"


def test_reverting_a_published_mechanism_goes_into_its_draft_revision(mechanism, alice, carol, bob, client):
    first = versions(mechanism)[0]
    make_evidence(mechanism)
    edit(mechanism, carol, summary="The reviewed and published summary.")
    workflow.submit(mechanism, by=carol)
    workflow.publish(mechanism, by=bob)

    response = signed_in(alice).post(
        admin_url(mechanism, "history_revert", first.history_id), {"expected_version": mechanism.version}
    )

    revision = mechanism.revisions.get()
    assert response.status_code == 302
    assert response["Location"] == change_url(revision)
    assert revision.summary == "Tumours lose B2M and hide from T cells."
    mechanism.refresh_from_db()
    assert (mechanism.status, mechanism.summary) == (Status.PUBLISHED, "The reviewed and published summary.")
    assert "The reviewed and published summary." in client.get("/mechanisms/b2m-loss/").content.decode()


def test_reverting_evidence_restores_its_statement(alice, carol):
    evidence = make_evidence(statement="The careful claim.")
    first = versions(evidence)[0]
    edit(evidence, carol, statement="An overstated claim.")

    signed_in(alice).post(admin_url(evidence, "history_revert", first.history_id), {"expected_version": 2})

    evidence.refresh_from_db()
    assert (evidence.statement, evidence.version) == ("The careful claim.", 3)
    assert evidence.history.latest().history_user == alice


def test_evidence_of_a_published_mechanism_is_reverted_only_through_a_revision(alice):
    evidence = make_evidence(mechanism=make_mechanism(status=Status.PUBLISHED), statement="Public claim.")
    first = versions(evidence)[0]
    evidence.statement = "Changed behind the workflow's back."
    evidence.save()

    response = signed_in(alice).post(
        admin_url(evidence, "history_revert", first.history_id), {"expected_version": evidence.version}, follow=True
    )

    assert "belongs to a published mechanism" in response.content.decode()
    evidence.refresh_from_db()
    assert evidence.statement == "Changed behind the workflow's back."


def test_reverting_a_reference_restores_its_metadata(alice, bob):
    reference = make_reference(pub_year=2019, journal_iso="Nat Med")
    first = versions(reference)[0]
    edit(reference, bob, pub_year=2020, journal_iso="Nature Medicine")

    response = signed_in(alice).post(
        admin_url(reference, "history_revert", first.history_id), {"expected_version": reference.version}
    )

    assert response.status_code == 302
    reference.refresh_from_db()
    assert (reference.pub_year, reference.journal_iso) == (2019, "Nat Med")
    assert reference.history.latest().history_change_reason == "Reverted to version 1"


def test_reverting_a_reference_keeps_what_pubmed_reported_and_where_the_pipeline_stands(alice, bob):
    reference = make_reference(title="The title as first fetched", metadata_state=MetadataState.NEEDS_REVIEW)
    first = versions(reference)[0]
    edit(
        reference,
        bob,
        title="The title PubMed corrected",
        metadata_state=MetadataState.VERIFIED,
        is_retracted=True,
        corrections=[{"type": "RetractionIn", "pmid": 39999998, "source": "Nature. 2025"}],
    )

    reference = workflow.revert(reference, first, by=alice)

    reference.refresh_from_db()
    assert reference.title == "The title as first fetched"
    assert reference.metadata_state == MetadataState.VERIFIED
    assert reference.is_retracted
    assert reference.corrections == [{"type": "RetractionIn", "pmid": 39999998, "source": "Nature. 2025"}]
