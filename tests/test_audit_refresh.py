"""Audit: the refresh pipeline keeps its promises when the broker fails and across several review decisions."""

import re
import threading
import time
from datetime import timedelta

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from kombu.exceptions import OperationalError

from curation import refresh, tasks
from curation.models import CitationUpdate, MetadataState, Reference, RefreshRun
from tests import test_refresh
from tests.factories import make_reference
from tests.test_refresh import add_pending, fetched_and_verified, new_pmids, publish_change, retitle

pytestmark = pytest.mark.django_db

# The refresh tests' fixtures: batches run in this process against the fake E-utilities server.
queued_batches = test_refresh.queued_batches
refresh_now = test_refresh.refresh_now


def revolume(volume):
    return lambda xml: re.sub(r"<Volume>.*?</Volume>", f"<Volume>{volume}</Volume>", xml, count=1)


def test_a_rejected_value_stays_rejected_after_a_later_update_is_accepted(refresh_now, fake_eutils, alice):
    (reference,) = fetched_and_verified(refresh_now, fake_eutils, alice)
    curated_title = reference.title
    publish_change(fake_eutils, reference.pmid, retitle("A title the curator disputes"))
    refresh_now(references=[reference])
    refresh.reject_citation_update(CitationUpdate.objects.get(reference=reference), by=alice)
    # PubMed then corrects the volume too; the curator accepts that (the title is not proposed again).
    publish_change(fake_eutils, reference.pmid, revolume("99"))
    refresh_now(references=[reference])
    volume_update = CitationUpdate.objects.get(reference=reference, decision=CitationUpdate.Decision.PENDING)
    assert list(volume_update.diff) == ["volume"]
    refresh.apply_citation_update(volume_update, by=alice)

    refresh_now(references=[reference])

    reference.refresh_from_db()
    assert (reference.title, reference.volume) == (curated_title, "99")
    assert not CitationUpdate.objects.filter(decision=CitationUpdate.Decision.PENDING).exists()


def test_a_value_accepted_after_being_rejected_is_no_longer_treated_as_rejected(refresh_now, fake_eutils, alice):
    (reference,) = fetched_and_verified(refresh_now, fake_eutils, alice)
    original_title = reference.title
    publish_change(fake_eutils, reference.pmid, retitle("Corrected title"))
    refresh_now(references=[reference])
    refresh.reject_citation_update(CitationUpdate.objects.get(reference=reference), by=alice)
    publish_change(fake_eutils, reference.pmid, retitle("Corrected title, again"))
    refresh_now(references=[reference])
    refresh.apply_citation_update(
        CitationUpdate.objects.get(reference=reference, decision=CitationUpdate.Decision.PENDING), by=alice
    )
    # PubMed goes back to the first title, which the curator's data no longer holds: that is news.
    publish_change(fake_eutils, reference.pmid, lambda xml: retitle(original_title)(xml))

    refresh_now(references=[reference])

    pending = CitationUpdate.objects.get(reference=reference, decision=CitationUpdate.Decision.PENDING)
    assert list(pending.diff) == ["title"]


def test_a_broker_that_refuses_the_batches_fails_the_run_with_the_reason(
    ncbi_settings, monkeypatch, django_capture_on_commit_callbacks
):
    reference = make_reference(fetched_at=None)
    title = reference.title

    def broker_down(*args):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(tasks.refresh_batch, "delay", broker_down)

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
    monkeypatch.setattr(tasks.refresh_batch, "delay", lambda *args: (_ for _ in ()).throw(OperationalError("down")))
    with django_capture_on_commit_callbacks(execute=True):
        refresh.start_refresh(scope=RefreshRun.Scope.SELECTED, references=[reference])
    monkeypatch.setattr(tasks.refresh_batch, "delay", lambda *args: None)

    run = refresh.start_refresh(scope=RefreshRun.Scope.STALE)

    assert list(run.items.values_list("reference_id", flat=True)) == [reference.pk]


def test_a_pending_reference_whose_batch_could_not_be_queued_shows_failed(
    ncbi_settings, monkeypatch, django_capture_on_commit_callbacks, fake_eutils
):
    (reference,) = add_pending(*new_pmids(fake_eutils))
    monkeypatch.setattr(tasks.refresh_batch, "delay", lambda *args: (_ for _ in ()).throw(OperationalError("down")))

    with django_capture_on_commit_callbacks(execute=True):
        refresh.start_refresh(scope=RefreshRun.Scope.SELECTED, references=[reference])

    reference.refresh_from_db()
    assert reference.metadata_state == MetadataState.FAILED
    assert "down" in reference.last_error


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_curator_accepting_an_update_never_deadlocks_a_refresh_of_the_same_reference(postgres, alice):
    """A refresh batch locks the reference, then replaces its pending update; accepting must lock in that order."""
    reference = make_reference(volume="12")
    update = CitationUpdate.objects.create(reference=reference, diff={"volume": {"old": "12", "new": "13"}})
    batch_has_the_reference, curator_waits = threading.Event(), threading.Event()
    update_free_for_the_batch, errors = [], []

    def refresh_batch():
        try:
            with transaction.atomic():
                Reference.objects.select_for_update().get(pk=reference.pk)
                batch_has_the_reference.set()
                curator_waits.wait(10)
                # NOWAIT: if the curator held the update while waiting for the reference, this is the deadlock.
                list(CitationUpdate.objects.select_for_update(nowait=True).filter(pk=update.pk))
                update_free_for_the_batch.append(True)
        except DatabaseError as exc:
            errors.append(exc)
        finally:
            connection.close()

    def curator_accepts():
        try:
            batch_has_the_reference.wait(10)
            refresh.apply_citation_update(update, by=alice)
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=refresh_batch), threading.Thread(target=curator_accepts)]
    for thread in threads:
        thread.start()
    batch_has_the_reference.wait(10)
    time.sleep(0.5)  # the curator's request reaches its first lock and blocks
    curator_waits.set()
    for thread in threads:
        thread.join(30)

    assert errors == []
    assert update_free_for_the_batch == [True]
    reference.refresh_from_db()
    assert reference.volume == "13"


def test_deciding_an_update_a_newer_fetch_replaced_is_a_clear_refusal(alice):
    reference = make_reference(volume="12")
    update = CitationUpdate.objects.create(reference=reference, diff={"volume": {"old": "12", "new": "13"}})
    CitationUpdate.objects.filter(pk=update.pk).delete()  # what _replace_pending_updates does

    with pytest.raises(refresh.ReviewError, match="no longer exists"):
        refresh.apply_citation_update(update, by=alice)
    with pytest.raises(refresh.ReviewError, match="no longer exists"):
        refresh.reject_citation_update(update, by=alice)
    reference.refresh_from_db()
    assert reference.volume == "12"


def test_a_run_whose_batch_was_lost_is_closed_by_the_daily_refresh_and_its_references_fetched_again(
    ncbi_settings, monkeypatch, django_capture_on_commit_callbacks
):
    lost, recent = make_reference(fetched_at=None), make_reference(fetched_at=None)
    sent = []
    monkeypatch.setattr(tasks.refresh_batch, "delay", lambda run_id, ids: sent.append((run_id, ids)))
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
