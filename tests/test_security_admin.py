"""Security of the curation admin beyond the permission matrix.

Forged requests (no CSRF token, GETs at action URLs, fields the form does not
offer), redirects after sign-in, autocomplete for users without a role, and
object ids a browser would never send.
"""

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from curation import workflow
from curation.models import (
    CancerType,
    CitationUpdate,
    Evidence,
    Mechanism,
    MetadataState,
    Reference,
    ReferenceImport,
    RefreshRun,
    Status,
)
from tests.factories import make_evidence, make_mechanism, make_reference

pytestmark = pytest.mark.django_db


@pytest.fixture
def nobody(django_user_model, role_groups):
    """Staff, but in no role group."""
    return django_user_model.objects.create_user("nobody", password="correct horse battery staple", is_staff=True)


@pytest.fixture
def work(carol):
    reference = make_reference(pmid=29968044)
    fetched = make_reference(pmid=31000001, metadata_state=MetadataState.NEEDS_REVIEW)
    draft = make_mechanism("Carol's draft", created_by=carol, updated_by=carol)
    make_evidence(draft, reference, statement="A draft claim.")
    submitted = make_mechanism("Carol's submission")
    make_evidence(submitted, reference)
    workflow.submit(submitted, by=carol)
    published = make_mechanism("Loss of B2M", slug="b2m-loss", status=Status.PUBLISHED)
    make_evidence(published, reference, statement="A public claim.")
    update = CitationUpdate.objects.create(reference=reference, diff={"pages": {"old": "1-9", "new": "1-10"}})
    reference_import = ReferenceImport.objects.create(
        state=ReferenceImport.State.READY, entries=[{"line": 1, "text": "12345678", "status": "pmid", "pmid": 12345678}]
    )
    return {
        "reference": reference,
        "fetched": fetched,
        "draft": draft,
        "submitted": submitted,
        "published": published,
        "update": update,
        "reference_import": reference_import,
    }


def _csrf_client(user) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client


def _forged_posts(w):
    """(label, url, data, whether it took effect) for every state-changing POST of the curation admin."""
    draft, submitted, published = w["draft"], w["submitted"], w["published"]
    first = draft.history.earliest().history_id
    return [
        ("submit", reverse("admin:curation_mechanism_submit", args=[draft.pk]), {"version": draft.version},
         lambda: Mechanism.objects.get(pk=draft.pk).status != Status.DRAFT),
        ("publish", reverse("admin:curation_mechanism_publish", args=[submitted.pk]), {"version": submitted.version},
         lambda: Mechanism.objects.get(pk=submitted.pk).status != Status.IN_REVIEW),
        ("reject", reverse("admin:curation_mechanism_reject", args=[submitted.pk]),
         {"version": submitted.version, "reason": "Forged."},
         lambda: Mechanism.objects.get(pk=submitted.pk).status != Status.IN_REVIEW),
        ("retire", reverse("admin:curation_mechanism_retire", args=[published.pk]), {"version": published.version},
         lambda: Mechanism.objects.get(pk=published.pk).status != Status.PUBLISHED),
        ("revise", reverse("admin:curation_mechanism_revise", args=[published.pk]), {"version": published.version},
         lambda: published.revisions.exists()),
        ("revert", reverse("admin:curation_mechanism_history_revert", args=[draft.pk, first]),
         {"expected_version": draft.version}, lambda: Mechanism.objects.get(pk=draft.pk).version != draft.version),
        ("verify", reverse("admin:curation_reference_verify", args=[w["fetched"].pk]), {"version": 1},
         lambda: Reference.objects.get(pk=w["fetched"].pk).metadata_state == MetadataState.VERIFIED),
        ("refresh one", reverse("admin:curation_reference_refresh", args=[w["reference"].pk]), {},
         lambda: RefreshRun.objects.exists()),
        ("refresh stale", reverse("admin:curation_reference_refresh_stale"), {}, lambda: RefreshRun.objects.exists()),
        ("add PMIDs", reverse("admin:curation_reference_import"), {"lines": "22222222"},
         lambda: Reference.objects.filter(pmid=22222222).exists()),
        ("add citations", reverse("admin:curation_reference_import"), {"lines": "Cell. 2017;168(4):707-723"},
         lambda: ReferenceImport.objects.count() > 1),
        ("confirm import", reverse("admin:curation_reference_import_preview", args=[w["reference_import"].pk]), {},
         lambda: Reference.objects.filter(pmid=12345678).exists()),
        ("decide citation update", reverse("admin:curation_citationupdate_change", args=[w["update"].pk]),
         {"decision": "reject"},
         lambda: CitationUpdate.objects.get(pk=w["update"].pk).decision != CitationUpdate.Decision.PENDING),
        ("list action", reverse("admin:curation_reference_changelist"),
         {"action": "verify_selected", "_selected_action": [w["fetched"].pk], "index": "0"},
         lambda: Reference.objects.get(pk=w["fetched"].pk).metadata_state == MetadataState.VERIFIED),
        ("delete", reverse("admin:curation_mechanism_delete", args=[draft.pk]), {"post": "yes"},
         lambda: not Mechanism.objects.filter(pk=draft.pk).exists()),
    ]  # fmt: skip


def test_every_state_changing_post_without_a_csrf_token_is_refused(work, dana):
    # dana (Admin) may do all of these, so only the missing token can stop them.
    client = _csrf_client(dana)
    for label, url, data, took_effect in _forged_posts(work):
        response = client.post(url, data)
        assert response.status_code == 403, label
        assert b"CSRF" in response.content, label
        assert not took_effect(), label


def test_the_same_posts_with_a_token_go_through_so_the_refusal_above_means_something(work, dana):
    client = _csrf_client(dana)
    client.get(reverse("admin:index"))
    token = client.cookies["csrftoken"].value
    label, url, data, took_effect = _forged_posts(work)[6]  # verify
    assert client.post(url, {**data, "csrfmiddlewaretoken": token}).status_code == 302, label
    assert took_effect(), label


def test_gets_at_action_addresses_change_nothing(work, dana):
    client = Client()
    client.force_login(dana)
    before = {m.pk: (m.status, m.version) for m in Mechanism.objects.all()}
    for label, url, _data, took_effect in _forged_posts(work):
        response = client.get(url)
        assert response.status_code in (200, 302, 405), label
        assert not took_effect(), label
    assert {m.pk: (m.status, m.version) for m in Mechanism.objects.all()} == before


def test_staff_without_a_role_can_do_none_of_the_posts(work, nobody):
    client = Client()
    client.force_login(nobody)
    for label, url, data, took_effect in _forged_posts(work):
        response = client.post(url, data)
        assert response.status_code == 403, label
        assert not took_effect(), label


def test_a_forged_status_in_a_drafts_form_does_not_publish_it(work, alice):
    client = Client()
    client.force_login(alice)
    draft = work["draft"]
    row = draft.evidence.get()
    response = client.post(
        reverse("admin:curation_mechanism_change", args=[draft.pk]),
        {
            "name": draft.name,
            "slug": draft.slug,
            "category": draft.category,
            "summary": "Edited.",
            "status": Status.PUBLISHED,
            "published_at": "2020-01-01 00:00:00",
            "reviewed_by": alice.pk,
            "revision_of": work["published"].pk,
            "expected_version": draft.version,
            "evidence-TOTAL_FORMS": "1",
            "evidence-INITIAL_FORMS": "1",
            "evidence-MIN_NUM_FORMS": "0",
            "evidence-MAX_NUM_FORMS": "1000",
            "evidence-0-id": row.pk,
            "evidence-0-mechanism": draft.pk,
            "evidence-0-reference": row.reference_id,
            "evidence-0-statement": row.statement,
            "evidence-0-direction": row.direction,
            "evidence-0-level": row.level,
            "evidence-0-model_system": row.model_system,
            "evidence-0-expected_version": row.version,
        },
    )
    assert response.status_code == 302
    draft.refresh_from_db()
    assert (draft.summary, draft.status, draft.published_at, draft.reviewed_by, draft.revision_of) == (
        "Edited.",
        Status.DRAFT,
        None,
        None,
        None,
    )


def test_a_forged_post_cannot_add_evidence_to_a_published_mechanism(work, alice):
    client = Client()
    client.force_login(alice)
    published = work["published"]
    response = client.post(
        reverse("admin:curation_evidence_add"),
        {
            "mechanism": published.pk,
            "reference": work["fetched"].pk,
            "statement": "Unreviewed claim.",
            "direction": "supports",
            "level": "in-vitro",
            "model_system": "cell-line",
        },
    )
    assert response.status_code == 200
    assert not Evidence.objects.filter(statement="Unreviewed claim.").exists()
    assert "Unreviewed claim." not in Client().get("/mechanisms/b2m-loss/").content.decode()


def test_a_draft_form_cannot_take_over_a_published_mechanisms_evidence(work, alice):
    client = Client()
    client.force_login(alice)
    draft, public_row = work["draft"], work["published"].evidence.get()
    row = draft.evidence.get()
    data = {
        "name": draft.name,
        "slug": draft.slug,
        "category": draft.category,
        "summary": draft.summary,
        "expected_version": draft.version,
        "evidence-TOTAL_FORMS": "2",
        "evidence-INITIAL_FORMS": "2",
        "evidence-MIN_NUM_FORMS": "0",
        "evidence-MAX_NUM_FORMS": "1000",
    }
    for index, evidence in enumerate((row, public_row)):
        data |= {
            f"evidence-{index}-id": evidence.pk,
            f"evidence-{index}-mechanism": draft.pk,
            f"evidence-{index}-reference": evidence.reference_id,
            f"evidence-{index}-statement": f"Rewritten {index}.",
            f"evidence-{index}-direction": evidence.direction,
            f"evidence-{index}-level": evidence.level,
            f"evidence-{index}-model_system": evidence.model_system,
            f"evidence-{index}-expected_version": evidence.version,
        }
    client.post(reverse("admin:curation_mechanism_change", args=[draft.pk]), data)
    public_row.refresh_from_db()
    assert (public_row.mechanism_id, public_row.statement) == (work["published"].pk, "A public claim.")


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/", "/\\evil.example/", "javascript:alert(1)"]
)
def test_sign_in_never_redirects_to_another_site(work, alice, target):
    response = Client().post(
        reverse("admin:login") + f"?next={target}",
        {"username": "alice", "password": "correct horse battery staple", "next": target},
    )
    assert response.status_code == 302
    # Django drops an unsafe `next` and falls back to LOGIN_REDIRECT_URL, a path on this site.
    location = response["Location"]
    assert location.startswith("/") and not location.startswith(("//", "/\\")), location
    assert "evil" not in location and "javascript" not in location


def _autocomplete(client, model, field, term=""):
    return client.get(
        reverse("admin:autocomplete"),
        {"app_label": "curation", "model_name": model, "field_name": field, "term": term},
    )


def test_autocomplete_tells_users_without_a_role_nothing(work, nobody):
    client = Client()
    client.force_login(nobody)
    for model, field in (("evidence", "mechanism"), ("evidence", "reference"), ("mechanism", "genes")):
        assert _autocomplete(client, model, field).status_code == 403, (model, field)
    anonymous = _autocomplete(Client(), "evidence", "mechanism")
    assert anonymous.status_code == 302 and anonymous["Location"].startswith(reverse("admin:login"))


def test_autocomplete_for_a_curator_never_offers_a_pending_revision(work, alice, bob):
    revision = workflow.start_revision(work["published"], by=bob)
    client = Client()
    client.force_login(alice)
    ids = {row["id"] for row in _autocomplete(client, "evidence", "mechanism", "B2M").json()["results"]}
    assert ids == {str(work["published"].pk)}
    assert str(revision.pk) not in ids


def test_a_version_of_another_record_cannot_be_compared_or_restored(work, alice):
    client = Client()
    client.force_login(alice)
    draft, other = work["draft"], work["submitted"]
    foreign = other.history.earliest().history_id
    compare = reverse("admin:curation_mechanism_history_compare", args=[draft.pk])
    assert client.get(compare, {"old": foreign}).status_code == 404
    revert = reverse("admin:curation_mechanism_history_revert", args=[draft.pk, foreign])
    assert client.post(revert, {"expected_version": draft.version}).status_code == 404


@pytest.mark.parametrize("model", ["citationupdate", "refreshrun", "reference", "mechanism"])
def test_a_change_page_with_a_malformed_id_is_not_a_server_error(dana, model):
    client = Client()
    client.force_login(dana)
    response = client.get(f"/admin/curation/{model}/not-a-number/change/")
    assert response.status_code in (302, 404)


def test_dashboard_needs_a_staff_account(django_user_model, role_groups):
    outsider = django_user_model.objects.create_user("outsider")  # not staff, but a curator's group
    outsider.groups.add(Group.objects.get(name="Curator"))
    client = Client()
    client.force_login(outsider)
    response = client.get(reverse("curation-dashboard"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("admin:login"))


def _retracted_later(reference):
    """The reference as PubMed reports it after the paper was retracted (a second recorded version)."""
    reference.is_retracted = True
    reference.corrections = [{"type": "RetractionIn", "pmid": 39999999, "source": "Cell. 2024"}]
    reference.version += 1
    reference.save()
    return reference


def test_restoring_a_version_from_before_a_retraction_cannot_hide_it(work, alice):
    # A retraction is a fact PubMed reports; a revert to the version before it restores the
    # curated text but must keep the flag on every public page citing the paper.
    reference = work["reference"]
    original_title = reference.title
    reference.title = "A title a curator changed later"
    reference.version += 1
    reference.save()
    reference = _retracted_later(reference)
    client = Client()
    client.force_login(alice)
    first = reference.history.earliest().history_id
    revert = reverse("admin:curation_reference_history_revert", args=[reference.pk, first])
    assert client.get(revert).status_code == 200
    response = client.post(revert, {"expected_version": reference.version})
    assert response.status_code == 302
    reference.refresh_from_db()
    assert reference.title == original_title
    assert reference.is_retracted and reference.corrections
    assert "Retracted" in Client().get("/mechanisms/b2m-loss/").content.decode()


def test_a_bulk_action_naming_a_row_that_is_not_an_id_changes_nothing_and_says_so(client, dana):
    """A hostile POST found by the fuzz: `_selected_action=<script>` gave a 500 from the action's pk__in."""
    cancer_type = CancerType.objects.create(name="Melanoma", slug="melanoma")
    client.force_login(dana)
    url = reverse("admin:curation_cancertype_changelist")
    response = client.post(
        url, {"action": "delete_selected", "_selected_action": [str(cancer_type.pk), "<script>alert(1)</script>"]}
    )
    assert response.status_code == 302
    assert CancerType.objects.filter(pk=cancer_type.pk).exists()
    page = client.get(response["Location"]).content.decode()
    assert "nothing was changed" in page
