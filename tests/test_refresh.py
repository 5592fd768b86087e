"""Refreshing references from PubMed: runs and their batches, the tasks, failures and recovery,
the admin's refresh actions and run pages, and `manage.py refresh_references`.

Tasks run for real, in this process: services queue them after commit, the `task_queue` fixture
catches what would have gone to the broker, and `refresh_now` runs each batch task with `.apply()`.
"""

import io
from datetime import timedelta

import pytest
from django.core.management import CommandError
from django.urls import reverse
from django.utils import timezone
from kombu.exceptions import OperationalError

from curation import pubmed, refresh, task_queue, tasks
from curation import task_queue as task_queue_names
from curation.models import CitationUpdate, MetadataState, Reference, RefreshItem, RefreshRun
from curation.pubmed_records import CitationRecord
from curation.task_queue import REFRESH_BATCH
from tests.admin_pages import action_post
from tests.commands import Terminal, run_command
from tests.factories import make_reference
from tests.fixtures_ncbi import add_pending, fetched_and_verified, new_pmids, publish_change, retitle, retract

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:curation_reference_changelist")


def test_first_fetch_fills_a_new_reference_and_asks_for_review(refresh_now, fake_eutils):
    (pmid,) = new_pmids(fake_eutils)
    (reference,) = add_pending(pmid)

    run = refresh_now(references=[reference])

    reference.refresh_from_db()
    assert reference.metadata_state == MetadataState.NEEDS_REVIEW
    assert reference.title.startswith(f"Synthetic record {pmid}")
    assert reference.doi == f"10.5555/synthetic.{pmid}"
    assert reference.authors and reference.journal_iso and reference.pub_year
    assert reference.raw_xml.startswith("<PubmedArticle>")
    assert reference.fetched_at is not None and reference.last_error == ""
    assert run.state == RefreshRun.State.FINISHED
    assert run.counts()["updated"] == 1
    assert run.started_at is not None and run.finished_at is not None


def test_a_batch_is_one_request_for_up_to_200_references(refresh_now, fake_eutils):
    references = add_pending(*new_pmids(fake_eutils, 450))

    run = refresh_now(scope=RefreshRun.Scope.ALL)

    assert [len(r.ids) for r in fake_eutils.requests_to("efetch.fcgi")] == [200, 200, 50]
    assert run.counts()["updated"] == len(references)
    assert Reference.objects.needs_review().count() == 450


def test_refetching_a_reference_in_review_refills_it(refresh_now, fake_eutils):
    (pmid,) = new_pmids(fake_eutils)
    (reference,) = add_pending(pmid)
    refresh_now(references=[reference])
    publish_change(fake_eutils, pmid, retitle("A corrected title"))

    run = refresh_now(references=[reference])

    reference.refresh_from_db()
    assert reference.title == "A corrected title"
    assert reference.metadata_state == MetadataState.NEEDS_REVIEW
    assert not CitationUpdate.objects.exists()
    assert run.counts()["updated"] == 1


def test_an_unchanged_record_only_moves_the_fetch_time(refresh_now, fake_eutils, alice):
    (reference,) = fetched_and_verified(refresh_now, fake_eutils, alice)
    Reference.objects.filter(pk=reference.pk).update(last_error="an old failure")
    before = Reference.objects.get(pk=reference.pk)
    history_rows = before.history.count()

    run = refresh_now(references=[reference])

    after = Reference.objects.get(pk=reference.pk)
    assert after.fetched_at > before.fetched_at
    assert after.last_error == ""
    assert after.version == before.version
    assert after.updated_at == before.updated_at
    assert after.history.count() == history_rows
    assert run.counts()["unchanged"] == 1


def test_a_pmid_pubmed_does_not_know_is_not_found_and_left_out_of_stale_refreshes(refresh_now, fake_eutils):
    (unknown,) = add_pending(39_999_999)

    run = refresh_now(references=[unknown])

    unknown.refresh_from_db()
    assert unknown.metadata_state == MetadataState.NOT_FOUND
    assert "no record" in unknown.last_error
    item = run.items.get()
    assert item.outcome == RefreshItem.Outcome.NOT_FOUND and item.error
    assert not Reference.objects.stale(days=0).filter(pk=unknown.pk).exists()
    with pytest.raises(refresh.NothingToRefresh):
        refresh.start_refresh(scope=RefreshRun.Scope.STALE, stale_days=0)


def test_a_retraction_is_flagged_at_once_on_a_verified_reference(refresh_now, fake_eutils, alice):
    (reference,) = fetched_and_verified(refresh_now, fake_eutils, alice)
    curated_title = reference.title
    publish_change(fake_eutils, reference.pmid, retract(notice_pmid=39_000_001))

    refresh_now(references=[reference])

    reference.refresh_from_db()
    assert reference.is_retracted
    assert reference.corrections == [{"type": "RetractionIn", "pmid": 39_000_001, "source": "J Test. 2024;1:1"}]
    assert reference.title == curated_title
    assert reference.metadata_state == MetadataState.VERIFIED
    assert Reference.objects.flagged().filter(pk=reference.pk).exists()
    # The new publication type is citation metadata, so it waits for review.
    update = CitationUpdate.objects.get(reference=reference)
    assert set(update.diff) == {"publication_types"}


def test_errata_and_expressions_of_concern_are_flagged_from_the_first_fetch(refresh_now, fake_eutils):
    erratum, concern = add_pending(99000004, 99000006)

    refresh_now(references=[erratum, concern])

    erratum.refresh_from_db()
    concern.refresh_from_db()
    assert erratum.has_erratum and not erratum.is_retracted
    assert concern.has_expression_of_concern


def test_a_broken_response_fails_the_batch_with_its_reason_and_keeps_earlier_data(refresh_now, fake_eutils, alice):
    (verified,) = fetched_and_verified(refresh_now, fake_eutils, alice)
    (never_fetched,) = add_pending(*new_pmids(fake_eutils))
    snapshot = Reference.objects.get(pk=verified.pk)
    fake_eutils.fail_pmids([verified.pmid], kind="truncated")

    run = refresh_now(references=[verified, never_fetched])

    assert run.state == RefreshRun.State.FAILED
    assert "truncated" in run.error
    assert set(run.items.values_list("outcome", flat=True)) == {RefreshItem.Outcome.FAILED}
    assert all("truncated" in error for error in run.items.values_list("error", flat=True))
    verified.refresh_from_db()
    assert verified.metadata_state == MetadataState.VERIFIED
    assert (verified.title, verified.authors, verified.fetched_at) == (
        snapshot.title,
        snapshot.authors,
        snapshot.fetched_at,
    )
    assert "truncated" in verified.last_error
    never_fetched.refresh_from_db()
    assert never_fetched.metadata_state == MetadataState.FAILED
    assert Reference.objects.stale().filter(pk=verified.pk).exists() is False  # fetched recently, data kept
    assert Reference.objects.stale().filter(pk=never_fetched.pk).exists()  # tried again tomorrow


def test_ncbi_down_is_retried_and_then_the_failure_is_visible(refresh_now, fake_eutils, ncbi_settings):
    (reference,) = add_pending(*new_pmids(fake_eutils))
    fake_eutils.fail_pmids([reference.pmid], kind="http503")

    run = refresh_now(references=[reference])

    attempts = (tasks.TASK_RETRIES + 1) * ncbi_settings.NCBI_MAX_ATTEMPTS
    assert len(fake_eutils.requests_to("efetch.fcgi")) == attempts
    assert run.state == RefreshRun.State.FAILED
    item = run.items.get()
    assert item.outcome == RefreshItem.Outcome.FAILED
    assert "503" in item.error
    reference.refresh_from_db()
    assert reference.metadata_state == MetadataState.FAILED
    assert "503" in reference.last_error


def test_a_short_outage_is_ridden_out_by_a_task_retry(refresh_now, fake_eutils, ncbi_settings):
    (reference,) = add_pending(*new_pmids(fake_eutils))
    fake_eutils.fail_next(ncbi_settings.NCBI_MAX_ATTEMPTS, kind="http502")

    run = refresh_now(references=[reference])

    assert run.state == RefreshRun.State.FINISHED
    assert run.items.get().outcome == RefreshItem.Outcome.UPDATED
    assert run.items.get().error == ""


def test_a_failure_later_fetched_fine_counts_as_a_first_fetch(refresh_now, fake_eutils):
    (reference,) = add_pending(*new_pmids(fake_eutils))
    fake_eutils.fail_pmids([reference.pmid], kind="html")
    refresh_now(references=[reference])
    fake_eutils.reset()
    fake_eutils.add_synthetic([reference.pmid])

    refresh_now(references=[reference])

    reference.refresh_from_db()
    assert reference.metadata_state == MetadataState.NEEDS_REVIEW
    assert reference.last_error == ""


def test_a_redelivered_batch_does_nothing_twice(refresh_now, fake_eutils, task_queue):
    references = add_pending(*new_pmids(fake_eutils, 3))
    run = refresh_now(references=references)
    requests = len(fake_eutils.requests)

    tasks.refresh_batch.apply(args=(run.pk, [r.pk for r in references]), throw=True)

    assert len(fake_eutils.requests) == requests
    assert run.counts()["updated"] == 3


def test_a_batch_of_a_deleted_run_returns_quietly(ncbi_settings, fake_eutils):
    assert tasks.refresh_batch.apply(args=(987654, [1, 2]), throw=True).get() == "nothing queued"
    assert fake_eutils.requests == []


def test_run_counts_add_up_every_outcome_in_one_query(refresh_now, fake_eutils, django_assert_num_queries):
    found = add_pending(*new_pmids(fake_eutils, 2))
    missing = add_pending(39_999_998)
    run = refresh_now(references=[*found, *missing])

    with django_assert_num_queries(1):
        counts = run.counts()

    assert counts["total"] == 3 and counts["done"] == 3 and counts["percent"] == 100
    assert (counts["updated"], counts["not_found"], counts["queued"]) == (2, 1, 0)


def test_stale_refresh_skips_fresh_and_already_queued_references(ncbi_settings, task_queue, fake_eutils):
    fresh = make_reference(fetched_at=timezone.now())
    old = make_reference(fetched_at=timezone.now() - timezone.timedelta(days=40))
    never = make_reference(fetched_at=None)
    first = refresh.start_refresh(scope=RefreshRun.Scope.STALE, stale_days=30)
    assert set(first.items.values_list("reference_id", flat=True)) == {old.pk, never.pk}
    assert fresh.pk not in first.items.values_list("reference_id", flat=True)

    with pytest.raises(refresh.NothingToRefresh):
        refresh.start_refresh(scope=RefreshRun.Scope.STALE, stale_days=30)


def test_refreshing_pmids_not_in_the_atlas_is_refused_and_records_nothing(ncbi_settings):
    make_reference(pmid=31_999_001)

    with pytest.raises(refresh.UnknownPmids, match="31999002"):
        refresh.start_refresh(scope=RefreshRun.Scope.SELECTED, pmids=[31_999_001, 31_999_002])
    assert not RefreshRun.objects.exists()


def test_the_daily_beat_task_refreshes_stale_references(ncbi_settings, task_queue, django_capture_on_commit_callbacks):
    stale = make_reference(fetched_at=None)

    with django_capture_on_commit_callbacks(execute=True):
        run_id = tasks.refresh_stale_references.apply(throw=True).get()

    run = RefreshRun.objects.get(pk=run_id)
    assert run.scope == RefreshRun.Scope.STALE
    assert task_queue.args_of(task_queue_names.REFRESH_BATCH) == [(run.pk, [stale.pk])]
    assert tasks.refresh_stale_references.apply(throw=True).get() is None


def test_nothing_is_queued_before_the_transaction_commits(
    ncbi_settings, task_queue, django_capture_on_commit_callbacks
):
    reference = make_reference()

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        refresh.start_refresh(scope=RefreshRun.Scope.SELECTED, references=[reference])

    assert task_queue.args_of(task_queue_names.REFRESH_BATCH) == []
    assert len(callbacks) == 1


def test_a_batch_mixing_records_with_and_without_a_year_is_written_whole(refresh_now, monkeypatch):
    # On PostgreSQL a batch's rows are written with one UPDATE from a JSON array: NULLs and lists must survive it.
    with_year, without_year = add_pending(31_999_400, 31_999_401)
    records = {
        31_999_400: CitationRecord(pmid=31_999_400, title="Dated", pub_year=2019, mesh_terms=["Humans"]),
        31_999_401: CitationRecord(pmid=31_999_401, title="Undated", pub_year=None, pub_date="Spring"),
    }
    monkeypatch.setattr(pubmed, "fetch_batch", lambda pmids: ({p: records[p] for p in pmids}, set()))

    refresh_now(references=[with_year, without_year])

    with_year.refresh_from_db()
    without_year.refresh_from_db()
    assert (with_year.title, with_year.pub_year, with_year.mesh_terms) == ("Dated", 2019, ["Humans"])
    assert (without_year.title, without_year.pub_year, without_year.pub_date) == ("Undated", None, "Spring")
    assert without_year.metadata_state == MetadataState.NEEDS_REVIEW


def test_an_unexpected_error_fails_the_batch_instead_of_leaving_the_run_running(refresh_now, fake_eutils, monkeypatch):
    (reference,) = add_pending(*new_pmids(fake_eutils))

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(refresh, "_apply_batch", broken)

    with pytest.raises(RuntimeError, match="disk full"):
        refresh_now(references=[reference])

    run = RefreshRun.objects.get()
    assert run.state == RefreshRun.State.FAILED
    assert run.items.get().error == "Internal error while applying PubMed data: disk full"
    reference.refresh_from_db()
    assert reference.metadata_state == MetadataState.FAILED


def test_a_broker_that_refuses_the_batches_fails_the_run_with_the_reason(
    ncbi_settings, monkeypatch, django_capture_on_commit_callbacks
):
    reference = make_reference(fetched_at=None)
    title = reference.title

    def broker_down(*args):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(task_queue, "_send_now", broker_down)

    with django_capture_on_commit_callbacks(execute=True):
        run = refresh.start_refresh(scope=RefreshRun.Scope.SELECTED, references=[reference])

    run.refresh_from_db()
    assert run.state == RefreshRun.State.FAILED
    assert "Connection refused" in run.items.get().error
    reference.refresh_from_db()
    assert reference.title == title and reference.metadata_state == MetadataState.VERIFIED


def test_references_of_a_run_the_broker_refused_are_picked_up_by_the_next_stale_refresh(
    ncbi_settings, monkeypatch, django_capture_on_commit_callbacks
):
    reference = make_reference(fetched_at=None)
    monkeypatch.setattr(task_queue, "_send_now", lambda *args: (_ for _ in ()).throw(OperationalError("down")))
    with django_capture_on_commit_callbacks(execute=True):
        refresh.start_refresh(scope=RefreshRun.Scope.SELECTED, references=[reference])
    monkeypatch.setattr(task_queue, "_send_now", lambda *args: None)

    run = refresh.start_refresh(scope=RefreshRun.Scope.STALE)

    assert list(run.items.values_list("reference_id", flat=True)) == [reference.pk]


def test_a_pending_reference_whose_batch_could_not_be_queued_shows_failed(
    ncbi_settings, monkeypatch, django_capture_on_commit_callbacks, fake_eutils
):
    (reference,) = add_pending(*new_pmids(fake_eutils))
    monkeypatch.setattr(task_queue, "_send_now", lambda *args: (_ for _ in ()).throw(OperationalError("down")))

    with django_capture_on_commit_callbacks(execute=True):
        refresh.start_refresh(scope=RefreshRun.Scope.SELECTED, references=[reference])

    reference.refresh_from_db()
    assert reference.metadata_state == MetadataState.FAILED
    assert "down" in reference.last_error


def test_a_run_whose_batch_was_lost_is_closed_by_the_daily_refresh_and_its_references_fetched_again(
    ncbi_settings, monkeypatch, django_capture_on_commit_callbacks
):
    lost, recent = make_reference(fetched_at=None), make_reference(fetched_at=None)
    sent = []
    monkeypatch.setattr(task_queue, "_send_now", lambda name, args: sent.append(tuple(args)))
    with django_capture_on_commit_callbacks(execute=True):
        # The broker accepted this batch and then lost it: no worker will ever answer.
        abandoned = refresh.start_refresh(scope=RefreshRun.Scope.SELECTED, references=[lost])
        still_running = refresh.start_refresh(scope=RefreshRun.Scope.SELECTED, references=[recent])
    RefreshRun.objects.filter(pk=abandoned.pk).update(created_at=timezone.now() - timedelta(hours=7))
    sent.clear()

    with django_capture_on_commit_callbacks(execute=True):
        tasks.refresh_stale_references()

    abandoned.refresh_from_db()
    assert abandoned.state == RefreshRun.State.FAILED
    assert "batch was lost" in abandoned.items.get().error
    still_running.refresh_from_db()
    assert still_running.is_active
    refetched = [reference_id for _, ids in sent for reference_id in ids]
    assert lost.pk in refetched and recent.pk not in refetched


def test_admins_see_the_refresh_action_and_curators_do_not(dana_client, curator_client):
    make_reference()

    assert "Refresh selected from PubMed" in dana_client.get(CHANGELIST).content.decode()
    page = curator_client.get(CHANGELIST).content.decode()
    assert "Refresh selected from PubMed" not in page
    assert "Refresh all stale" not in page
    assert "Verify selected" in page


def test_refresh_selected_queues_a_run_and_shows_its_page(
    dana_client, dana, task_queue, django_capture_on_commit_callbacks
):
    references = [make_reference(), make_reference()]

    with django_capture_on_commit_callbacks(execute=True):
        response = action_post(dana_client, "refresh_selected_from_pubmed", references)

    run = RefreshRun.objects.get()
    assert (run.scope, run.requested_by) == (RefreshRun.Scope.SELECTED, dana)
    assert task_queue.args_of(REFRESH_BATCH) == [(run.pk, sorted(r.pk for r in references))]
    assert response.redirect_chain[-1][0] == reverse("admin:curation_refreshrun_change", args=[run.pk])
    assert "<progress" in response.content.decode()


def test_a_forged_refresh_action_from_a_curator_starts_nothing(curator_client, task_queue):
    reference = make_reference()

    response = action_post(curator_client, "refresh_selected_from_pubmed", [reference])

    assert response.status_code == 200
    assert not RefreshRun.objects.exists()


def test_refresh_all_stale_is_for_admins_and_only_by_post(dana_client, curator_client, task_queue):
    make_reference(fetched_at=None)
    url = reverse("admin:curation_reference_refresh_stale")

    assert curator_client.post(url).status_code == 403
    assert dana_client.get(url).status_code == 405
    assert not RefreshRun.objects.exists()
    response = dana_client.post(url)
    run = RefreshRun.objects.get()
    assert run.scope == RefreshRun.Scope.STALE
    assert response.url == reverse("admin:curation_refreshrun_change", args=[run.pk])


def test_refresh_all_stale_with_nothing_stale_says_so(dana_client, task_queue):
    make_reference(fetched_at=timezone.now())

    response = dana_client.post(reverse("admin:curation_reference_refresh_stale"), follow=True)

    assert "No reference is stale" in response.content.decode()
    assert not RefreshRun.objects.exists()


def test_the_refresh_button_on_a_reference_is_for_admins_only(dana_client, curator_client, task_queue):
    reference = make_reference()
    url = reverse("admin:curation_reference_refresh", args=[reference.pk])
    change_url = reverse("admin:curation_reference_change", args=[reference.pk])

    assert "Refresh from PubMed" not in curator_client.get(change_url).content.decode()
    assert curator_client.post(url).status_code == 403
    assert "Refresh from PubMed" in dana_client.get(change_url).content.decode()
    assert dana_client.post(url).status_code == 302
    assert RefreshRun.objects.get().items.get().reference == reference


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


def test_runs_cannot_be_added_or_edited_by_hand(dana_client):
    run = make_run()

    assert dana_client.get(reverse("admin:curation_refreshrun_add")).status_code == 403
    response = dana_client.post(reverse("admin:curation_refreshrun_change", args=[run.pk]), {"state": "finished"})
    assert response.status_code == 403
    assert RefreshRun.objects.get(pk=run.pk).state == RefreshRun.State.RUNNING


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


@pytest.mark.django_db
def test_refresh_references_needs_exactly_one_scope():
    with pytest.raises(CommandError, match="exactly one"):
        run_command("refresh_references")
    with pytest.raises(CommandError):
        run_command("refresh_references", "--all", "--stale", "3")


@pytest.mark.django_db
def test_refresh_references_refuses_pmids_not_in_the_atlas():
    make_reference(pmid=32_200_001)

    with pytest.raises(CommandError, match="32200002"):
        run_command("refresh_references", "32200001", "32200002")
    assert not RefreshRun.objects.exists()


@pytest.mark.django_db
def test_refresh_references_with_nothing_stale_says_so(monkeypatch):
    make_reference(fetched_at=None, metadata_state=MetadataState.NOT_FOUND)

    output = run_command("refresh_references", "--stale", "30")

    assert "No reference is stale" in output
    assert not RefreshRun.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_refresh_references_wait_draws_a_bar_on_a_terminal_and_prints_counts(ncbi_settings, fake_eutils, worker_inline):
    found = [Reference.objects.create(pmid=pmid) for pmid in new_pmids(fake_eutils, 2)]
    unknown = Reference.objects.create(pmid=32_299_999)

    output = run_command("refresh_references", "--all", "--wait", stdout=Terminal())

    assert "\r[##############################] 100%" in output
    assert "finished. 3/3 done: 2 updated, 0 unchanged, 0 awaiting review, 1 not found, 0 failed." in output
    assert Reference.objects.get(pk=unknown.pk).metadata_state == MetadataState.NOT_FOUND
    assert all(Reference.objects.get(pk=r.pk).metadata_state == MetadataState.NEEDS_REVIEW for r in found)


@pytest.mark.django_db(transaction=True)
def test_refresh_references_wait_fails_loudly_when_every_fetch_failed(ncbi_settings, fake_eutils, worker_inline):
    (pmid,) = new_pmids(fake_eutils, 1)
    Reference.objects.create(pmid=pmid)
    fake_eutils.fail_pmids([pmid], kind="error")
    out = io.StringIO()

    with pytest.raises(CommandError, match="Every reference failed"):
        run_command("refresh_references", str(pmid), "--wait", stdout=out)

    assert "1 failed" in out.getvalue()
    assert "First failure: PubMed efetch of 1 PMID" in out.getvalue()


@pytest.mark.django_db
def test_refresh_references_wait_gives_up_after_the_timeout_without_stopping_the_run(task_queue):
    # task_queue: sent nowhere, so no worker will ever answer
    make_reference(pmid=32_300_001)

    with pytest.raises(CommandError, match="Gave up waiting"):
        run_command("refresh_references", "32300001", "--wait", "--timeout", "0.2")
    assert RefreshRun.objects.get().state == RefreshRun.State.QUEUED
