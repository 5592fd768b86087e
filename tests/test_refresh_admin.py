"""The PubMed pipeline in the admin: actions and buttons per permission, run progress, reviewing updates, importing.

alice is a curator (may verify and import), dana an admin (may also refresh).
Tasks never reach a broker here: what a page queues after commit is caught,
and the tests run it with `.apply()` when the outcome matters.
"""

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from curation import importing, tasks
from curation.models import CitationUpdate, MetadataState, Reference, ReferenceImport, RefreshItem, RefreshRun
from tests.factories import make_reference

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:curation_reference_changelist")


@pytest.fixture
def queued(monkeypatch):
    """Tasks the pages queue after commit: {task name: [args, ...]}."""
    calls = {"refresh_batch": [], "match_import_citations": []}
    monkeypatch.setattr(tasks.refresh_batch, "delay", lambda *args: calls["refresh_batch"].append(args))
    monkeypatch.setattr(
        tasks.match_import_citations, "delay", lambda *args: calls["match_import_citations"].append(args)
    )
    return calls


@pytest.fixture
def admin_client(dana):
    # A client of its own: `client` is the curator's in tests that use both.
    client = Client()
    client.force_login(dana)
    return client


@pytest.fixture
def erin(django_user_model):
    """Staff who may look at citation updates but not decide them."""
    user = django_user_model.objects.create_user(username="erin", password="x", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=["view_citationupdate", "view_reference"]))
    return user


def action_post(client, action, references):
    return client.post(CHANGELIST, {"action": action, "_selected_action": [r.pk for r in references]}, follow=True)


def fetched(pmid, **fields):
    fields.setdefault("metadata_state", MetadataState.NEEDS_REVIEW)
    fields.setdefault("fetched_at", timezone.now())
    return make_reference(pmid=pmid, **fields)


# --- actions and buttons per permission -------------------------------------------------


def test_admins_see_the_refresh_action_and_curators_do_not(admin_client, curator_client):
    make_reference()

    assert "Refresh selected from PubMed" in admin_client.get(CHANGELIST).content.decode()
    page = curator_client.get(CHANGELIST).content.decode()
    assert "Refresh selected from PubMed" not in page
    assert "Refresh all stale" not in page
    assert "Verify selected" in page


def test_refresh_selected_queues_a_run_and_shows_its_page(
    admin_client, dana, queued, django_capture_on_commit_callbacks
):
    references = [make_reference(), make_reference()]

    with django_capture_on_commit_callbacks(execute=True):
        response = action_post(admin_client, "refresh_selected_from_pubmed", references)

    run = RefreshRun.objects.get()
    assert (run.scope, run.requested_by) == (RefreshRun.Scope.SELECTED, dana)
    assert queued["refresh_batch"] == [(run.pk, sorted(r.pk for r in references))]
    assert response.redirect_chain[-1][0] == reverse("admin:curation_refreshrun_change", args=[run.pk])
    assert "<progress" in response.content.decode()


def test_a_forged_refresh_action_from_a_curator_starts_nothing(curator_client, queued):
    reference = make_reference()

    response = action_post(curator_client, "refresh_selected_from_pubmed", [reference])

    assert response.status_code == 200
    assert not RefreshRun.objects.exists()


def test_refresh_all_stale_is_for_admins_and_only_by_post(admin_client, curator_client, queued):
    make_reference(fetched_at=None)
    url = reverse("admin:curation_reference_refresh_stale")

    assert curator_client.post(url).status_code == 403
    assert admin_client.get(url).status_code == 405
    assert not RefreshRun.objects.exists()
    response = admin_client.post(url)
    run = RefreshRun.objects.get()
    assert run.scope == RefreshRun.Scope.STALE
    assert response.url == reverse("admin:curation_refreshrun_change", args=[run.pk])


def test_refresh_all_stale_with_nothing_stale_says_so(admin_client, queued):
    make_reference(fetched_at=timezone.now())

    response = admin_client.post(reverse("admin:curation_reference_refresh_stale"), follow=True)

    assert "No reference is stale" in response.content.decode()
    assert not RefreshRun.objects.exists()


def test_verify_selected_confirms_fetched_references_and_names_the_rest(curator_client, alice):
    ready = fetched(31_500_001)
    pending = make_reference(pmid=31_500_002, metadata_state=MetadataState.PENDING)

    response = action_post(curator_client, "verify_selected", [ready, pending])

    ready.refresh_from_db()
    assert ready.metadata_state == MetadataState.VERIFIED and ready.verified_by == alice
    assert Reference.objects.get(pk=pending.pk).metadata_state == MetadataState.PENDING
    page = response.content.decode()
    assert "Verified 1 reference(s)." in page
    assert "PMID 31500002 has no fetched metadata to confirm" in page


def test_verify_selected_refuses_references_fetched_again_after_the_list_was_shown(curator_client):
    looked_at = fetched(31_500_003, fetched_at=timezone.now() - timedelta(hours=1))
    refilled = fetched(31_500_004, fetched_at=timezone.now() - timedelta(hours=1))
    page = curator_client.get(CHANGELIST).content.decode()
    listed_at = re.search(r'name="listed_at" value="([^"]+)"', page).group(1)
    Reference.objects.filter(pk=refilled.pk).update(title="Refilled by PubMed", fetched_at=timezone.now())

    response = curator_client.post(
        CHANGELIST,
        {"action": "verify_selected", "_selected_action": [looked_at.pk, refilled.pk], "listed_at": listed_at},
        follow=True,
    )

    assert Reference.objects.get(pk=looked_at.pk).metadata_state == MetadataState.VERIFIED
    assert Reference.objects.get(pk=refilled.pk).metadata_state == MetadataState.NEEDS_REVIEW
    assert "PMID 31500004 was fetched again after the list was shown" in response.content.decode()


def test_the_verify_button_refuses_a_reference_that_changed_since_the_page_was_loaded(curator_client):
    reference = fetched(31_500_010)
    page = curator_client.get(reverse("admin:curation_reference_change", args=[reference.pk])).content.decode()
    assert "Verify: metadata matches the paper" in page
    Reference.objects.filter(pk=reference.pk).update(version=reference.version + 1, title="Refilled meanwhile")

    response = curator_client.post(
        reverse("admin:curation_reference_verify", args=[reference.pk]), {"version": reference.version}, follow=True
    )

    assert "changed while you were looking" in response.content.decode()
    assert Reference.objects.get(pk=reference.pk).metadata_state == MetadataState.NEEDS_REVIEW


def test_the_refresh_button_on_a_reference_is_for_admins_only(admin_client, curator_client, queued):
    reference = make_reference()
    url = reverse("admin:curation_reference_refresh", args=[reference.pk])
    change_url = reverse("admin:curation_reference_change", args=[reference.pk])

    assert "Refresh from PubMed" not in curator_client.get(change_url).content.decode()
    assert curator_client.post(url).status_code == 403
    assert "Refresh from PubMed" in admin_client.get(change_url).content.decode()
    assert admin_client.post(url).status_code == 302
    assert RefreshRun.objects.get().items.get().reference == reference


# --- runs ------------------------------------------------------------------------------


def make_run(state=RefreshRun.State.RUNNING, outcomes=()):
    run = RefreshRun.objects.create(scope=RefreshRun.Scope.SELECTED, scope_detail="test run", state=state)
    for outcome, error in outcomes:
        RefreshItem.objects.create(run=run, reference=make_reference(), outcome=outcome, error=error)
    return run


def test_a_running_run_shows_a_progress_bar_with_counts_and_reloads_itself(curator_client):
    run = make_run(
        outcomes=[
            (RefreshItem.Outcome.UPDATED, ""),
            (RefreshItem.Outcome.FAILED, "PubMed efetch: NCBI answered HTTP 503 (5 times); gave up"),
            (RefreshItem.Outcome.QUEUED, ""),
            (RefreshItem.Outcome.QUEUED, ""),
        ]
    )

    page = curator_client.get(reverse("admin:curation_refreshrun_change", args=[run.pk])).content.decode()

    assert '<progress max="4" value="2"' in page
    assert "2 of 4 done: 1 updated, 1 failed" in page
    assert "NCBI answered HTTP 503 (5 times)" in page
    assert '<meta http-equiv="refresh"' in page


def test_a_finished_run_stops_reloading_and_the_list_shows_progress_too(curator_client):
    run = make_run(state=RefreshRun.State.FINISHED, outcomes=[(RefreshItem.Outcome.NOT_FOUND, "PubMed has no record")])

    page = curator_client.get(reverse("admin:curation_refreshrun_change", args=[run.pk])).content.decode()
    listing = curator_client.get(reverse("admin:curation_refreshrun_changelist")).content.decode()

    assert '<meta http-equiv="refresh"' not in page
    assert "PubMed has no record" in page
    assert "1 of 1 done: 1 not found" in listing


def test_runs_cannot_be_added_or_edited_by_hand(admin_client):
    run = make_run()

    assert admin_client.get(reverse("admin:curation_refreshrun_add")).status_code == 403
    response = admin_client.post(reverse("admin:curation_refreshrun_change", args=[run.pk]), {"state": "finished"})
    assert response.status_code == 403
    assert RefreshRun.objects.get(pk=run.pk).state == RefreshRun.State.RUNNING


# --- citation updates, side by side --------------------------------------------------------


def pending_update(**changes):
    reference = make_reference(metadata_state=MetadataState.VERIFIED)
    diff = {name: {"old": getattr(reference, name), "new": new} for name, new in changes.items()}
    return CitationUpdate.objects.create(reference=reference, diff=diff)


def test_the_update_page_shows_old_and_new_side_by_side_with_pubmed_markup_made_safe(curator_client):
    update = pending_update(title="New <i>title</i><script>alert(1)</script>", pages="1-2")

    page = curator_client.get(reverse("admin:curation_citationupdate_change", args=[update.pk])).content.decode()

    assert update.reference.title in page
    assert "New <i>title</i>" in page
    assert "<script>alert(1)" not in page
    assert 'name="fields" value="title"' in page and 'name="fields" value="pages"' in page
    assert "Accept all" in page and "Reject all" in page


def test_a_curator_accepts_the_ticked_fields_only(curator_client, alice):
    update = pending_update(title="Accepted title", pages="1-2")
    old_pages = update.reference.pages
    url = reverse("admin:curation_citationupdate_change", args=[update.pk])

    response = curator_client.post(url, {"decision": "accept-selected", "fields": ["title"]})

    assert response.url == reverse("admin:curation_reference_change", args=[update.reference_id])
    reference = Reference.objects.get(pk=update.reference_id)
    assert (reference.title, reference.pages) == ("Accepted title", old_pages)
    update.refresh_from_db()
    assert (update.decision, update.accepted_fields, update.decided_by) == ("partial", ["title"], alice)


def test_accept_all_and_reject_from_the_page(curator_client):
    accepted = pending_update(title="All of it")
    rejected = pending_update(title="None of it")

    curator_client.post(reverse("admin:curation_citationupdate_change", args=[accepted.pk]), {"decision": "accept-all"})
    curator_client.post(reverse("admin:curation_citationupdate_change", args=[rejected.pk]), {"decision": "reject"})

    assert Reference.objects.get(pk=accepted.reference_id).title == "All of it"
    assert Reference.objects.get(pk=rejected.reference_id).title == rejected.reference.title
    assert CitationUpdate.objects.get(pk=rejected.pk).decision == CitationUpdate.Decision.REJECTED


def test_someone_without_the_verify_permission_sees_the_update_but_cannot_decide(client, erin):
    update = pending_update(title="Not for erin to accept")
    client.force_login(erin)
    url = reverse("admin:curation_citationupdate_change", args=[update.pk])

    page = client.get(url).content.decode()
    assert "Not for erin to accept" in page
    assert "Accept all" not in page
    assert client.post(url, {"decision": "accept-all"}).status_code == 403
    assert CitationUpdate.objects.get(pk=update.pk).decision == CitationUpdate.Decision.PENDING


def test_a_replaced_update_sends_the_curator_back_to_the_list(curator_client):
    update = pending_update(title="Soon replaced")
    url = reverse("admin:curation_citationupdate_change", args=[update.pk])
    update.delete()

    response = curator_client.post(url, {"decision": "accept-all"}, follow=True)

    assert "a newer fetch replaced it" in response.content.decode()


def test_the_reference_page_links_to_its_pending_update(curator_client):
    update = pending_update(title="Waiting")

    page = curator_client.get(reverse("admin:curation_reference_change", args=[update.reference_id])).content.decode()

    assert reverse("admin:curation_citationupdate_change", args=[update.pk]) in page


# --- import page -----------------------------------------------------------------------


def test_importing_citations_shows_matched_not_found_and_ambiguous_before_creating_anything(
    curator_client, alice, ncbi_settings, fake_eutils, queued, django_capture_on_commit_callbacks
):
    fake_eutils.add_citation(pmid=31_600_001, journal="J Admin Test", year=2020, volume="3", first_page="11")
    fake_eutils.add_citation(pmid=31_600_002, journal="J Admin Test", year=2021, volume="4", first_page="7")
    fake_eutils.add_citation(pmid=31_600_003, journal="J Admin Test", year=2021, volume="4", first_page="7")
    lines = "\n".join(
        ["31600009", "J Admin Test. 2020;3(1):11-19", "J Admin Test. 2021;4:7-8", "J Admin Test. 2022;5:1-3"]
    )

    with django_capture_on_commit_callbacks(execute=True):
        response = curator_client.post(reverse("admin:curation_reference_import"), {"lines": lines})
    reference_import = ReferenceImport.objects.get()
    preview = reverse("admin:curation_reference_import_preview", args=[reference_import.pk])
    assert response.url == preview
    waiting = curator_client.get(preview).content.decode()
    assert "Looking up 4 lines in PubMed" in waiting and '<meta http-equiv="refresh"' in waiting

    tasks.match_import_citations.apply(args=queued["match_import_citations"][0], throw=True)
    page = curator_client.get(preview).content.decode()

    assert "Matched" in page and "31600001" in page
    assert "Not found" in page and "Ambiguous" in page
    assert "Import 2 references (2 new)" in page
    assert not Reference.objects.exists()

    with django_capture_on_commit_callbacks(execute=True):
        response = curator_client.post(preview)
    assert set(Reference.objects.values_list("pmid", flat=True)) == {31_600_009, 31_600_001}
    run = RefreshRun.objects.get(scope=RefreshRun.Scope.IMPORT)
    assert response.url == reverse("admin:curation_refreshrun_change", args=[run.pk])
    assert len(queued["refresh_batch"]) == 1


def test_an_import_with_bad_lines_names_each_one_and_creates_nothing(curator_client, queued):
    response = curator_client.post(
        reverse("admin:curation_reference_import"), {"lines": "29968044\n0123\nnot a citation at all\n-5"}
    )

    page = response.content.decode()
    assert "Nothing was imported: 3 lines cannot be read." in page
    assert "“0123”" in page and "“not a citation at all” (line 3)" in page and "“-5”" in page
    assert not ReferenceImport.objects.exists()
    assert not Reference.objects.exists()


def test_confirming_an_import_twice_creates_nothing_more(curator_client, queued):
    curator_client.post(reverse("admin:curation_reference_import"), {"lines": "31600100"})
    preview = reverse("admin:curation_reference_import_preview", args=[ReferenceImport.objects.get().pk])
    curator_client.post(preview)

    response = curator_client.post(preview, follow=True)

    assert "cannot be confirmed: it is imported" in response.content.decode()
    assert Reference.objects.count() == 1
    assert RefreshRun.objects.count() == 1


def test_importing_needs_the_import_permission(client, erin):
    client.force_login(erin)

    assert client.get(reverse("admin:curation_reference_import")).status_code == 403
    assert client.post(reverse("admin:curation_reference_import"), {"lines": "29968044"}).status_code == 403
    assert not ReferenceImport.objects.exists()


def test_a_failed_lookup_is_shown_and_nothing_can_be_imported(curator_client, ncbi_settings, fake_eutils, queued):
    fake_eutils.fail_next(100, kind="http500", endpoint="ecitmatch.cgi")
    curator_client.post(reverse("admin:curation_reference_import"), {"lines": "Cell. 2017;168(4):707-723"})
    reference_import = ReferenceImport.objects.get()

    importing.match_import(reference_import.pk, final_attempt=True)
    page = curator_client.get(reverse("admin:curation_reference_import_preview", args=[reference_import.pk]))

    assert "PubMed could not be asked" in page.content.decode()
    assert "HTTP 500" in page.content.decode()
    assert 'id="confirm-import"' not in page.content.decode()


def test_curators_can_list_the_references_pubmed_could_not_fetch(curator_client):
    failed = make_reference(pmid=31_700_001, metadata_state=MetadataState.FAILED, last_error="HTTP 503")
    not_found = make_reference(pmid=31_700_002, metadata_state=MetadataState.NOT_FOUND)
    verified_with_error = make_reference(pmid=31_700_003, last_error="the XML was truncated")
    fine = make_reference(pmid=31_700_004)
    runs = curator_client.get(reverse("admin:curation_refreshrun_changelist")).content.decode()
    assert "?fetch=problem" in runs

    response = curator_client.get(CHANGELIST, {"fetch": "problem"})

    listed = {reference.pmid for reference in response.context["cl"].result_list}
    assert listed == {failed.pmid, not_found.pmid, verified_with_error.pmid}
    assert fine.pmid not in listed
