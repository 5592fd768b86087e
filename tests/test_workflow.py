"""The review workflow: draft -> in review -> published -> retired, rejections, revisions.

Personas: alice and carol are curators, bob is a reviewer, dana an admin; the
plain `client` is an anonymous reader.
"""

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ValidationError
from django.urls import reverse

from curation import workflow
from curation.concurrency import StaleEdit
from curation.models import Category, Evidence, Mechanism, Status
from curation.workflow import NotPermitted, WorkflowError
from tests.admin_pages import signed_in
from tests.factories import make_evidence, make_gene, make_mechanism, make_reference, make_therapy, save_versioned

pytestmark = pytest.mark.django_db


def draft_with_evidence(**fields):
    mechanism = make_mechanism(**fields)
    make_evidence(mechanism, statement="Tumours without B2M escape CD8 T cells.")
    return mechanism


@pytest.fixture
def submitted(alice):
    mechanism = draft_with_evidence(name="Loss of B2M", summary="Reviewed text about B2M.")
    return workflow.submit(mechanism, by=alice)


@pytest.fixture
def published(submitted, bob):
    return workflow.publish(submitted, by=bob)


def public_text(client, mechanism):
    response = client.get(f"/mechanisms/{mechanism.slug}/")
    return response.status_code, response.content.decode()


def test_a_curator_submits_a_draft_for_review(alice):
    mechanism = draft_with_evidence()

    workflow.submit(mechanism, by=alice)

    mechanism.refresh_from_db()
    assert mechanism.status == Status.IN_REVIEW
    assert mechanism.submitted_by == alice
    assert mechanism.submitted_at is not None
    latest = mechanism.history.latest()
    assert (latest.history_user, latest.history_change_reason) == (alice, "Submitted for review")


def test_a_reviewer_publishes_a_curators_submission_and_readers_see_it(client, submitted, bob):
    assert public_text(client, submitted)[0] == 404

    workflow.publish(submitted, by=bob)

    submitted.refresh_from_db()
    assert submitted.status == Status.PUBLISHED
    assert (submitted.reviewed_by, submitted.published_at is not None) == (bob, True)
    assert Mechanism.objects.published().filter(pk=submitted.pk).exists()
    status, html = public_text(client, submitted)
    assert status == 200
    assert "Reviewed text about B2M." in html


def test_rejecting_sends_the_mechanism_back_to_draft_with_the_reason(submitted, bob, alice):
    workflow.reject(submitted, by=bob, reason="Cite the clinical cohort, not only the mouse model.")

    submitted.refresh_from_db()
    assert submitted.status == Status.DRAFT
    assert submitted.rejection_reason == "Cite the clinical cohort, not only the mouse model."
    assert submitted.reviewed_by == bob
    # The author fixes it and submits again.
    workflow.submit(submitted, by=alice)
    assert submitted.status == Status.IN_REVIEW


@pytest.mark.parametrize("reason", ["", "   \n ", None])
def test_rejecting_without_a_reason_is_refused_and_changes_nothing(submitted, bob, reason):
    with pytest.raises(WorkflowError, match="a reason is required"):
        workflow.reject(submitted, by=bob, reason=reason)

    submitted.refresh_from_db()
    assert submitted.status == Status.IN_REVIEW
    assert submitted.rejection_reason == ""


def test_retiring_takes_a_mechanism_off_the_public_pages(client, published, bob):
    workflow.retire(published, by=bob)

    assert published.status == Status.RETIRED
    assert not Mechanism.objects.published().filter(pk=published.pk).exists()
    status, html = public_text(client, published)
    assert status == 410
    assert "Reviewed text about B2M." not in html


def test_an_admin_may_do_everything_a_reviewer_may(alice, dana):
    mechanism = workflow.submit(draft_with_evidence(), by=alice)
    workflow.publish(mechanism, by=dana)
    workflow.retire(mechanism, by=dana)
    assert mechanism.status == Status.RETIRED


def test_nobody_publishes_their_own_submission(bob, dana):
    mechanism = workflow.submit(draft_with_evidence(), by=bob)

    with pytest.raises(WorkflowError, match="You submitted this mechanism; another reviewer must review it."):
        workflow.publish(mechanism, by=bob)
    with pytest.raises(WorkflowError, match="You submitted this mechanism"):
        workflow.reject(mechanism, by=bob, reason="Withdrawn.")

    mechanism.refresh_from_db()
    assert mechanism.status == Status.IN_REVIEW
    workflow.publish(mechanism, by=dana)
    assert mechanism.status == Status.PUBLISHED


def test_a_reviewer_who_edited_the_submission_cannot_publish_it(submitted, bob, dana):
    submitted.summary = "Bob's unreviewed wording."
    submitted._history_user = bob
    save_versioned(submitted)

    with pytest.raises(WorkflowError, match="You edited this mechanism after it was submitted"):
        workflow.publish(submitted, by=bob)
    workflow.publish(submitted, by=dana)
    assert submitted.status == Status.PUBLISHED


REFUSED_BY_STATE = [
    ("submit", Status.IN_REVIEW, "Only a draft can be submitted for review; this mechanism is in review."),
    ("submit", Status.PUBLISHED, "Only a draft can be submitted for review; this mechanism is published."),
    ("submit", Status.RETIRED, "Only a draft can be submitted for review; this mechanism is retired."),
    ("publish", Status.DRAFT, "Only a mechanism in review can be published; this one is draft."),
    ("publish", Status.PUBLISHED, "Only a mechanism in review can be published; this one is published."),
    ("publish", Status.RETIRED, "Only a mechanism in review can be published; this one is retired."),
    ("reject", Status.DRAFT, "Only a mechanism in review can be rejected; this one is draft."),
    ("reject", Status.PUBLISHED, "Only a mechanism in review can be rejected; this one is published."),
    ("reject", Status.RETIRED, "Only a mechanism in review can be rejected; this one is retired."),
    ("retire", Status.DRAFT, "Only a published mechanism can be retired; this one is draft."),
    ("retire", Status.IN_REVIEW, "Only a published mechanism can be retired; this one is in review."),
    ("retire", Status.RETIRED, "Only a published mechanism can be retired; this one is retired."),
    ("start_revision", Status.DRAFT, "Only a published mechanism is edited through a revision; this one is draft"),
    ("start_revision", Status.IN_REVIEW, "Only a published mechanism is edited through a revision; this one is in"),
    ("start_revision", Status.RETIRED, "Only a published mechanism is edited through a revision; this one is reti"),
]


def act(action, mechanism, user):
    if action == "reject":
        return workflow.reject(mechanism, by=user, reason="Not convincing.")
    return getattr(workflow, action)(mechanism, by=user)


@pytest.mark.parametrize(("action", "state", "message"), REFUSED_BY_STATE)
def test_a_transition_from_the_wrong_state_is_refused_with_its_reason(action, state, message, dana):
    mechanism = draft_with_evidence(status=state)
    before = (mechanism.status, mechanism.version)

    with pytest.raises(WorkflowError) as refused:
        act(action, mechanism, dana)

    assert str(refused.value).startswith(message)
    mechanism.refresh_from_db()
    assert (mechanism.status, mechanism.version) == before


def test_a_draft_without_evidence_cannot_be_submitted(alice):
    mechanism = make_mechanism()
    with pytest.raises(WorkflowError, match="Add at least one piece of evidence before submitting"):
        workflow.submit(mechanism, by=alice)
    assert mechanism.status == Status.DRAFT


REFUSED_BY_ROLE = [
    ("publish", Status.IN_REVIEW, "alice", "alice may not publish mechanisms."),
    ("reject", Status.IN_REVIEW, "alice", "alice may not reject mechanisms."),
    ("retire", Status.PUBLISHED, "alice", "alice may not retire mechanisms."),
    ("submit", Status.DRAFT, "nobody", "nobody may not submit mechanisms for review."),
    ("start_revision", Status.PUBLISHED, "nobody", "nobody may not edit mechanisms."),
    ("submit", Status.DRAFT, "anonymous", "An anonymous user may not submit mechanisms for review."),
    ("publish", Status.IN_REVIEW, "anonymous", "An anonymous user may not publish mechanisms."),
]


@pytest.mark.parametrize(("action", "state", "who", "message"), REFUSED_BY_ROLE)
def test_the_services_check_permissions_themselves(action, state, who, message, request, django_user_model):
    users = {
        "alice": lambda: request.getfixturevalue("alice"),
        "nobody": lambda: django_user_model.objects.create_user("nobody", is_staff=True),
        "anonymous": AnonymousUser,
    }
    mechanism = draft_with_evidence(status=state)

    with pytest.raises(NotPermitted) as refused:
        act(action, mechanism, users[who]())

    assert str(refused.value) == message
    mechanism.refresh_from_db()
    assert mechanism.status == state


def test_a_transition_based_on_an_outdated_copy_is_refused_naming_who_changed_what(submitted, alice, bob):
    bobs_copy = Mechanism.objects.get(pk=submitted.pk)
    submitted.summary = "Alice's late correction."
    submitted._history_user = alice
    save_versioned(submitted)

    with pytest.raises(StaleEdit) as stale:
        workflow.publish(bobs_copy, by=bob)

    assert stale.value.users == ["alice"]
    assert "alice changed summary" in str(stale.value)
    assert Mechanism.objects.get(pk=submitted.pk).status == Status.IN_REVIEW


def test_editing_a_published_mechanism_opens_a_draft_revision_with_everything_copied(published, carol):
    gene = make_gene("B2M")
    published.genes.add(gene)
    original_evidence = published.evidence.get()

    revision = workflow.start_revision(published, by=carol)

    assert revision.pk != published.pk
    assert (revision.status, revision.revision_of, revision.slug) == (Status.DRAFT, published, published.slug)
    assert (revision.name, revision.summary) == (published.name, published.summary)
    assert list(revision.genes.all()) == [gene]
    copy = revision.evidence.get()
    assert (copy.copied_from, copy.statement, copy.reference) == (
        original_evidence,
        original_evidence.statement,
        original_evidence.reference,
    )
    published.refresh_from_db()
    assert published.status == Status.PUBLISHED


def test_a_second_edit_reuses_the_open_revision(published, alice, carol):
    first = workflow.start_revision(published, by=alice)
    second = workflow.start_revision(published, by=carol)

    assert first == second
    assert published.revisions.count() == 1


def test_readers_keep_the_published_text_until_the_revision_is_published(client, published, carol, bob):
    revision = workflow.start_revision(published, by=carol)
    revision.summary = "Revised text, not yet reviewed."
    revision._history_user = carol
    save_versioned(revision)
    workflow.submit(revision, by=carol)

    status, html = public_text(client, published)
    assert status == 200
    assert "Reviewed text about B2M." in html
    assert "Revised text" not in html
    assert list(Mechanism.objects.published()) == [published]

    result = workflow.publish(revision, by=bob)

    assert result.pk == published.pk
    status, html = public_text(client, published)
    assert "Revised text, not yet reviewed." in html
    assert "Reviewed text about B2M." not in html
    assert not Mechanism.objects.filter(pk=revision.pk).exists()
    result.refresh_from_db()
    assert (result.status, result.reviewed_by, result.submitted_by) == (Status.PUBLISHED, bob, carol)


def test_a_revision_may_swap_the_statements_of_two_claims_from_the_same_paper(published, carol, bob):
    first = published.evidence.get()
    second = make_evidence(published, reference=first.reference, statement="A second claim from the same paper.")
    revision = workflow.start_revision(published, by=carol)
    # In the draft the curator swaps them in steps; publishing then applies the swap in one go.
    revision.evidence.filter(copied_from=first).update(statement="(moving)")
    revision.evidence.filter(copied_from=second).update(statement=first.statement)
    revision.evidence.filter(copied_from=first).update(statement="A second claim from the same paper.")
    workflow.submit(revision, by=carol)

    workflow.publish(revision, by=bob)

    assert Evidence.objects.get(pk=first.pk).statement == "A second claim from the same paper."
    assert Evidence.objects.get(pk=second.pk).statement == first.statement
    assert published.evidence.count() == 2


def test_publishing_a_revision_makes_the_public_evidence_and_links_equal_to_the_revision(published, carol, bob):
    kept, dropped = published.evidence.get(), make_evidence(published, statement="A claim to be withdrawn.")
    therapy = make_therapy("Nivolumab")
    revision = workflow.start_revision(published, by=carol)
    revision.therapies.add(therapy)
    revision.evidence.filter(copied_from=kept).update(statement="A sharper wording of the claim.")
    revision.evidence.filter(copied_from=dropped).delete()
    added = make_evidence(revision, reference=make_reference(), statement="A new supporting claim.")
    workflow.submit(revision, by=carol)

    workflow.publish(revision, by=bob)

    rows = {row.statement: row.pk for row in Evidence.objects.filter(mechanism=published)}
    assert set(rows) == {"A sharper wording of the claim.", added.statement}
    assert rows["A sharper wording of the claim."] == kept.pk
    assert not Evidence.objects.filter(pk=dropped.pk).exists()
    assert list(published.therapies.all()) == [therapy]
    assert Evidence.objects.get(pk=kept.pk).history.latest().history_user == bob


def test_retiring_a_mechanism_discards_its_open_revision_and_keeps_its_text_in_history(published, carol, bob):
    revision = workflow.start_revision(published, by=carol)
    revision.summary = "An edit nobody will publish now."
    save_versioned(revision)
    workflow.submit(revision, by=carol)

    workflow.retire(published, by=bob)

    assert not Mechanism.objects.filter(pk=revision.pk).exists()
    discarded = Mechanism.history.filter(id=revision.pk).latest()
    assert discarded.history_type == "-"
    assert discarded.summary == "An edit nobody will publish now."
    with pytest.raises(WorkflowError):
        workflow.start_revision(published, by=carol)


def test_a_rejected_revision_goes_back_to_its_author_and_the_public_text_stays(client, published, carol, bob):
    revision = workflow.start_revision(published, by=carol)
    revision.summary = "An overreaching claim."
    save_versioned(revision)
    workflow.submit(revision, by=carol)

    workflow.reject(revision, by=bob, reason="Overreaching; cite a cohort.")

    assert (revision.status, revision.revision_of_id) == (Status.DRAFT, published.pk)
    assert "Reviewed text about B2M." in public_text(client, published)[1]


def buttons(client, mechanism):
    response = client.get(reverse("admin:curation_mechanism_change", args=[mechanism.pk]))
    return {button["action"] for button in response.context["workflow"]["buttons"]}, response


def test_each_role_sees_only_the_buttons_it_may_press(submitted, alice, bob, dana):
    draft = draft_with_evidence()
    assert buttons(signed_in(alice), draft)[0] == {"submit"}
    assert buttons(signed_in(alice), submitted)[0] == set()
    assert buttons(signed_in(bob), submitted)[0] == {"publish", "reject"}
    workflow.publish(submitted, by=dana)
    assert buttons(signed_in(alice), submitted)[0] == {"revise"}
    assert buttons(signed_in(bob), submitted)[0] == {"retire", "revise"}


def test_the_submitter_sees_why_there_is_no_publish_button(bob):
    own = workflow.submit(draft_with_evidence(), by=bob)

    shown, response = buttons(signed_in(bob), own)

    assert shown == set()
    assert "You submitted this mechanism; another reviewer must review it." in response.content.decode()


def test_a_published_mechanism_opens_read_only_and_edit_leads_to_its_revision(published, alice):
    client = signed_in(alice)
    page = client.get(reverse("admin:curation_mechanism_change", args=[published.pk])).content.decode()
    assert 'name="_save"' not in page
    assert "Edit (opens a draft revision)" in page

    first = client.post(reverse("admin:curation_mechanism_revise", args=[published.pk]), {"version": published.version})
    again = client.post(reverse("admin:curation_mechanism_revise", args=[published.pk]), {"version": published.version})

    revision = published.revisions.get()
    assert first["Location"] == again["Location"] == reverse("admin:curation_mechanism_change", args=[revision.pk])
    revision_page = client.get(first["Location"]).content.decode()
    assert "draft revision" in revision_page and 'name="_save"' in revision_page
    published_page = client.get(reverse("admin:curation_mechanism_change", args=[published.pk])).content.decode()
    assert "Changes to this mechanism are being prepared in a" in published_page


def test_a_button_pressed_on_an_outdated_page_does_nothing_and_says_why(submitted, alice, bob):
    seen_version = submitted.version
    submitted.summary, submitted._history_user = "Changed after bob opened the page.", alice
    save_versioned(submitted)

    response = signed_in(bob).post(
        reverse("admin:curation_mechanism_publish", args=[submitted.pk]), {"version": seen_version}, follow=True
    )

    assert "alice changed summary" in response.content.decode()
    submitted.refresh_from_db()
    assert submitted.status == Status.IN_REVIEW


def test_rejecting_in_the_admin_asks_for_the_reason(submitted, bob):
    client = signed_in(bob)
    url = reverse("admin:curation_mechanism_reject", args=[submitted.pk])

    empty = client.post(url, {"version": submitted.version, "reason": " "})
    assert "a reason is required" in empty.content.decode()
    done = client.post(url, {"version": submitted.version, "reason": "Cite the cohort."})

    assert done.status_code == 302
    submitted.refresh_from_db()
    assert (submitted.status, submitted.rejection_reason) == (Status.DRAFT, "Cite the cohort.")


def test_evidence_cannot_be_added_to_a_published_mechanism_from_the_evidence_list(published, alice):
    response = signed_in(alice).post(
        reverse("admin:curation_evidence_add"),
        {
            "mechanism": published.pk,
            "reference": make_reference().pk,
            "statement": "Slipped in without review.",
            "direction": "supports",
            "level": "in-vitro",
            "model_system": "cell-line",
        },
    )

    assert response.status_code == 200
    assert "is published: open it and press “Edit”" in response.content.decode()
    assert not Evidence.objects.filter(statement="Slipped in without review.").exists()


def published_mechanism(**fields):
    mechanism = make_mechanism(status=Status.PUBLISHED, **fields)
    make_evidence(mechanism)
    return mechanism


def revise(original, *, by, **changes):
    """A curator opens the revision, edits it as the admin form would (validated), and submits it."""
    revision = workflow.start_revision(original, by=by)
    for name, value in changes.items():
        setattr(revision, name, value)
    revision.full_clean()
    save_versioned(revision)
    return workflow.submit(revision, by=by)


def test_a_revision_cannot_move_a_mechanism_below_its_own_child(alice):
    root = published_mechanism(name="Antigen presentation loss")
    child = published_mechanism(name="Loss of B2M", parent=root)
    revision = workflow.start_revision(root, by=alice)
    revision.parent = child

    with pytest.raises(ValidationError, match="below itself"):
        revision.full_clean()


def test_a_revision_counts_the_levels_below_the_mechanism_it_edits(alice):
    root = published_mechanism(name="Antigen presentation loss")
    published_mechanism(name="Loss of B2M", parent=root)
    other_child = published_mechanism(name="JAK1 loss", parent=published_mechanism(name="IFN-gamma pathway defects"))
    revision = workflow.start_revision(root, by=alice)
    revision.parent = other_child

    with pytest.raises(ValidationError, match="levels deep"):
        revision.full_clean()


def test_a_revision_cannot_change_category_away_from_the_children(alice):
    root = published_mechanism(name="Antigen presentation loss", category=Category.TUMOR_INTRINSIC)
    published_mechanism(name="Loss of B2M", parent=root)
    revision = workflow.start_revision(root, by=alice)
    revision.category = Category.TUMOR_EXTRINSIC

    with pytest.raises(ValidationError, match="category"):
        revision.full_clean()


def test_publishing_a_revision_that_would_close_a_cycle_made_meanwhile_is_refused(alice, carol, bob):
    root = published_mechanism(name="Antigen presentation loss")
    other = make_mechanism(name="HLA loss", status=Status.DRAFT)
    revision = revise(root, by=alice, parent=other)  # valid when saved
    other.parent = root  # then someone files the draft below the root
    other.full_clean()
    save_versioned(other)

    with pytest.raises(WorkflowError, match="below itself"):
        workflow.publish(revision, by=bob)

    root.refresh_from_db()
    assert root.parent is None
    assert Mechanism.objects.filter(pk=revision.pk, status=Status.IN_REVIEW).exists()


def test_publishing_a_revision_that_would_make_the_tree_too_deep_meanwhile_is_refused(alice, bob):
    root = published_mechanism(name="Antigen presentation loss")
    other_child = published_mechanism(name="JAK1 loss", parent=published_mechanism(name="IFN-gamma pathway defects"))
    revision = revise(root, by=alice, parent=other_child)  # root is a leaf: three levels, valid
    published_mechanism(name="Loss of B2M", parent=root)  # then the root gets a child

    with pytest.raises(WorkflowError, match="levels deep"):
        workflow.publish(revision, by=bob)

    root.refresh_from_db()
    assert root.parent is None
