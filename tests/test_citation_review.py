"""Curators review what PubMed returned: verifying fetched metadata, and deciding the citation
updates a refresh proposes for verified references (the services and the admin's pages).
"""

import re
import threading
import time
from datetime import timedelta

import pytest
from django.db import DatabaseError, connection, transaction
from django.urls import reverse
from django.utils import timezone

from curation import refresh
from curation.models import CitationUpdate, MetadataState, Reference
from tests.admin_pages import action_post
from tests.factories import make_fetched_reference, make_reference
from tests.fixtures_ncbi import add_pending, fetched_and_verified, new_pmids, publish_change, retitle

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:curation_reference_changelist")


def test_verified_reference_that_pubmed_changed_gets_a_pending_update_and_keeps_its_fields(
    refresh_now, fake_eutils, alice
):
    (reference,) = fetched_and_verified(refresh_now, fake_eutils, alice)
    curated_title, version = reference.title, Reference.objects.get(pk=reference.pk).version
    publish_change(fake_eutils, reference.pmid, retitle("PubMed's <i>new</i> title"))

    run = refresh_now(references=[reference])

    reference.refresh_from_db()
    assert reference.title == curated_title
    assert reference.metadata_state == MetadataState.VERIFIED
    assert reference.version == version
    update = CitationUpdate.objects.get(reference=reference, decision=CitationUpdate.Decision.PENDING)
    assert update.diff == {"title": {"old": curated_title, "new": "PubMed's <i>new</i> title"}}
    assert update.run == run
    assert run.counts()["update_pending"] == 1


def test_a_newer_fetch_replaces_the_pending_update(refresh_now, fake_eutils, alice):
    (reference,) = fetched_and_verified(refresh_now, fake_eutils, alice)
    publish_change(fake_eutils, reference.pmid, retitle("First correction"))
    refresh_now(references=[reference])
    publish_change(fake_eutils, reference.pmid, retitle("Second correction"))

    refresh_now(references=[reference])

    (update,) = CitationUpdate.objects.filter(reference=reference)
    assert update.diff["title"]["new"] == "Second correction"


def test_a_pending_update_goes_away_when_pubmed_reverts(refresh_now, fake_eutils, alice):
    (reference,) = fetched_and_verified(refresh_now, fake_eutils, alice)
    original = fake_eutils.article_xml(reference.pmid)
    publish_change(fake_eutils, reference.pmid, retitle("A short-lived correction"))
    refresh_now(references=[reference])
    fake_eutils.add_records_from(original)

    run = refresh_now(references=[reference])

    assert not CitationUpdate.objects.exists()
    assert run.counts()["unchanged"] == 1


def test_accepting_some_fields_applies_them_and_rejects_the_rest(refresh_now, fake_eutils, alice, bob):
    (reference,) = fetched_and_verified(refresh_now, fake_eutils, alice)
    old_pages = reference.pages
    repaginate = lambda xml: re.sub(r"<MedlinePgn>.*?</MedlinePgn>", "<MedlinePgn>1-2</MedlinePgn>", xml)  # noqa: E731
    publish_change(fake_eutils, reference.pmid, lambda xml: retitle("Accepted title")(repaginate(xml)))
    refresh_now(references=[reference])
    update = CitationUpdate.objects.get(reference=reference)
    assert set(update.diff) == {"title", "pages"}
    version = Reference.objects.get(pk=reference.pk).version

    refresh.apply_citation_update(update, by=bob, fields=["title"])

    reference.refresh_from_db()
    update.refresh_from_db()
    assert reference.title == "Accepted title"
    assert reference.pages == old_pages
    assert reference.version == version + 1
    assert reference.history.first().history_user == bob
    assert update.decision == CitationUpdate.Decision.PARTIAL
    assert update.accepted_fields == ["title"]
    assert update.decided_by == bob and update.decided_at is not None


def test_accepting_all_fields_takes_pubmed_record(refresh_now, fake_eutils, alice):
    (reference,) = fetched_and_verified(refresh_now, fake_eutils, alice)
    publish_change(fake_eutils, reference.pmid, retitle("Everything accepted"))
    refresh_now(references=[reference])
    update = CitationUpdate.objects.get(reference=reference)

    refresh.apply_citation_update(update, by=alice)

    reference.refresh_from_db()
    assert reference.title == "Everything accepted"
    assert "Everything accepted" in reference.raw_xml
    assert reference.metadata_state == MetadataState.VERIFIED
    assert CitationUpdate.objects.get(pk=update.pk).decision == CitationUpdate.Decision.ACCEPTED


def test_rejected_values_stay_out_and_are_not_proposed_again(refresh_now, fake_eutils, alice):
    (reference,) = fetched_and_verified(refresh_now, fake_eutils, alice)
    curated_title = reference.title
    publish_change(fake_eutils, reference.pmid, retitle("A title the curator disputes"))
    refresh_now(references=[reference])
    update = CitationUpdate.objects.get(reference=reference)

    refresh.reject_citation_update(update, by=alice)
    run = refresh_now(references=[reference])

    reference.refresh_from_db()
    assert reference.title == curated_title
    assert not CitationUpdate.objects.filter(decision=CitationUpdate.Decision.PENDING).exists()
    assert run.counts()["unchanged"] == 1


def test_a_decided_update_cannot_be_decided_again(refresh_now, fake_eutils, alice):
    (reference,) = fetched_and_verified(refresh_now, fake_eutils, alice)
    publish_change(fake_eutils, reference.pmid, retitle("Decided once"))
    refresh_now(references=[reference])
    update = CitationUpdate.objects.get(reference=reference)
    refresh.reject_citation_update(update, by=alice)

    with pytest.raises(refresh.ReviewError, match="already rejected"):
        refresh.apply_citation_update(update, by=alice)


def test_accepting_a_field_the_update_does_not_hold_is_refused(refresh_now, fake_eutils, alice):
    (reference,) = fetched_and_verified(refresh_now, fake_eutils, alice)
    publish_change(fake_eutils, reference.pmid, retitle("Only the title"))
    refresh_now(references=[reference])
    update = CitationUpdate.objects.get(reference=reference)

    with pytest.raises(refresh.ReviewError, match="pmid"):
        refresh.apply_citation_update(update, by=alice, fields=["title", "pmid"])
    assert CitationUpdate.objects.get(pk=update.pk).decision == CitationUpdate.Decision.PENDING


def test_verifying_a_fetched_reference_records_who_and_when(refresh_now, fake_eutils, alice):
    (reference,) = add_pending(*new_pmids(fake_eutils))
    refresh_now(references=[reference])

    refresh.verify_reference(reference, by=alice)

    reference.refresh_from_db()
    assert reference.metadata_state == MetadataState.VERIFIED
    assert reference.verified_by == alice and reference.verified_at is not None


def test_a_pending_reference_cannot_be_verified(alice):
    reference = Reference.objects.create(pmid=31_999_100)

    with pytest.raises(refresh.ReviewError, match="no fetched metadata"):
        refresh.verify_reference(reference, by=alice)


def test_verifying_what_changed_since_the_curator_looked_is_refused(refresh_now, fake_eutils, alice):
    (reference,) = add_pending(*new_pmids(fake_eutils))
    refresh_now(references=[reference])
    seen_version = Reference.objects.get(pk=reference.pk).version
    publish_change(fake_eutils, reference.pmid, retitle("Arrived while the curator was reading"))
    refresh_now(references=[reference])

    with pytest.raises(refresh.ReviewError, match="changed while you were looking"):
        refresh.verify_reference(reference, by=alice, expected_version=seen_version)
    assert Reference.objects.get(pk=reference.pk).metadata_state == MetadataState.NEEDS_REVIEW


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


def test_verify_selected_confirms_fetched_references_and_names_the_rest(curator_client, alice):
    ready = make_fetched_reference(31_500_001)
    pending = make_reference(pmid=31_500_002, metadata_state=MetadataState.PENDING)

    response = action_post(curator_client, "verify_selected", [ready, pending])

    ready.refresh_from_db()
    assert ready.metadata_state == MetadataState.VERIFIED and ready.verified_by == alice
    assert Reference.objects.get(pk=pending.pk).metadata_state == MetadataState.PENDING
    page = response.content.decode()
    assert "Verified 1 reference(s)." in page
    assert "PMID 31500002 has no fetched metadata to confirm" in page


def test_verify_selected_refuses_references_fetched_again_after_the_list_was_shown(curator_client):
    looked_at = make_fetched_reference(31_500_003, fetched_at=timezone.now() - timedelta(hours=1))
    refilled = make_fetched_reference(31_500_004, fetched_at=timezone.now() - timedelta(hours=1))
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
    reference = make_fetched_reference(31_500_010)
    page = curator_client.get(reverse("admin:curation_reference_change", args=[reference.pk])).content.decode()
    assert "Verify: metadata matches the paper" in page
    Reference.objects.filter(pk=reference.pk).update(version=reference.version + 1, title="Refilled meanwhile")

    response = curator_client.post(
        reverse("admin:curation_reference_verify", args=[reference.pk]), {"version": reference.version}, follow=True
    )

    assert "changed while you were looking" in response.content.decode()
    assert Reference.objects.get(pk=reference.pk).metadata_state == MetadataState.NEEDS_REVIEW


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


def test_accepting_an_update_of_every_field_in_full_succeeds_and_is_recorded(curator_client, alice):
    # The history's change reason names the accepted fields: with all of them it outgrew its
    # varchar(100), and PostgreSQL refused the whole acceptance (SQLite does not check lengths).
    update = pending_update(
        doi="10.1000/new",
        pmcid="PMC1234567",
        title="A new title",
        journal_title="Journal of New Results",
        journal_iso="J New Res",
        volume="12",
        issue="3",
        pages="100-110",
        pub_date="2024 Mar",
        keywords=["resistance"],
        mesh_terms=["Neoplasms"],
        publication_types=["Journal Article"],
    )

    response = curator_client.post(
        reverse("admin:curation_citationupdate_change", args=[update.pk]), {"decision": "accept-all"}
    )

    assert response.status_code == 302
    reference = Reference.objects.get(pk=update.reference_id)
    assert (reference.doi, reference.journal_title, reference.pages) == (
        "10.1000/new",
        "Journal of New Results",
        "100-110",
    )
    assert CitationUpdate.objects.get(pk=update.pk).decision == CitationUpdate.Decision.ACCEPTED
    latest = reference.history.latest()
    assert latest.history_user == alice
    assert latest.history_change_reason.startswith(f"Accepted PubMed update #{update.pk}: ")


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
