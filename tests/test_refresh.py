"""The refresh services and tasks against the fake E-utilities server.

Tasks run for real, in this process, with `.apply()`: `start_refresh` queues
them after commit, the `queued_batches` fixture catches what would have gone
to the broker, and `run_queued` executes each batch task.
"""

import itertools
import re

import pytest
from django.utils import timezone

from curation import importing, pubmed, refresh, tasks
from curation.models import CitationUpdate, MetadataState, Reference, ReferenceImport, RefreshItem, RefreshRun
from curation.pubmed_records import CitationRecord
from tests.factories import make_reference

pytestmark = pytest.mark.django_db

_pmids = itertools.count(31_000_001)


def new_pmids(fake, n=1):
    """Fresh PMIDs the fake knows (synthetic records); fresh per test, because edited records outlive a reset."""
    pmids = [next(_pmids) for _ in range(n)]
    fake.add_synthetic(pmids)
    return pmids


def publish_change(fake, pmid, edit):
    """Make the fake serve an edited version of `pmid`'s current record, as if PubMed corrected it."""
    fake.add_records_from(edit(fake.article_xml(pmid)))


def retitle(new_title):
    return lambda xml: re.sub(r"<ArticleTitle>.*?</ArticleTitle>", f"<ArticleTitle>{new_title}</ArticleTitle>", xml)


def retract(notice_pmid):
    notice = (
        '<CommentsCorrectionsList><CommentsCorrections RefType="RetractionIn">'
        f'<RefSource>J Test. 2024;1:1</RefSource><PMID Version="1">{notice_pmid}</PMID>'
        "</CommentsCorrections></CommentsCorrectionsList>"
    )

    def edit(xml):
        xml = xml.replace("<MeshHeadingList>", notice + "<MeshHeadingList>", 1)
        return xml.replace(
            "</PublicationTypeList>",
            '<PublicationType UI="D016441">Retracted Publication</PublicationType></PublicationTypeList>',
            1,
        )

    return edit


@pytest.fixture
def queued_batches(monkeypatch):
    """Batch tasks queued (after commit) by start_refresh, instead of sending them to a broker."""
    batches = []
    monkeypatch.setattr(tasks.refresh_batch, "delay", lambda *args: batches.append(args))
    return batches


@pytest.fixture
def refresh_now(ncbi_settings, queued_batches, django_capture_on_commit_callbacks):
    """Start a refresh and run its batch tasks to the end; returns the finished run."""

    def run(**kwargs):
        kwargs.setdefault("scope", RefreshRun.Scope.SELECTED)
        with django_capture_on_commit_callbacks(execute=True):
            started = refresh.start_refresh(**kwargs)
        while queued_batches:
            # throw=False lets apply() run the task's retries; anything else that went wrong still fails the test.
            result = tasks.refresh_batch.apply(args=queued_batches.pop(0), throw=False)
            if result.failed():
                raise result.result
        started.refresh_from_db()
        return started

    return run


def add_pending(*pmids):
    Reference.objects.bulk_create([Reference(pmid=pmid) for pmid in pmids])
    return list(Reference.objects.filter(pmid__in=pmids).order_by("pmid"))


def fetched_and_verified(refresh_now, fake, alice, n=1):
    pmids = new_pmids(fake, n)
    references = add_pending(*pmids)
    refresh_now(references=references)
    for reference in references:
        refresh.verify_reference(reference, by=alice)
    return references


# --- first fetch ------------------------------------------------------------------


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


# --- verified references are protected --------------------------------------------


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


# --- unchanged, not found, facts --------------------------------------------------


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


# --- failures ---------------------------------------------------------------------


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


# --- runs, idempotency, scopes ----------------------------------------------------


def test_a_redelivered_batch_does_nothing_twice(refresh_now, fake_eutils, queued_batches):
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


def test_stale_refresh_skips_fresh_and_already_queued_references(ncbi_settings, queued_batches, fake_eutils):
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


def test_the_daily_beat_task_refreshes_stale_references(
    ncbi_settings, queued_batches, django_capture_on_commit_callbacks
):
    stale = make_reference(fetched_at=None)

    with django_capture_on_commit_callbacks(execute=True):
        run_id = tasks.refresh_stale_references.apply(throw=True).get()

    run = RefreshRun.objects.get(pk=run_id)
    assert run.scope == RefreshRun.Scope.STALE
    assert queued_batches == [(run.pk, [stale.pk])]
    assert tasks.refresh_stale_references.apply(throw=True).get() is None


def test_nothing_is_queued_before_the_transaction_commits(
    ncbi_settings, queued_batches, django_capture_on_commit_callbacks
):
    reference = make_reference()

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        refresh.start_refresh(scope=RefreshRun.Scope.SELECTED, references=[reference])

    assert queued_batches == []
    assert len(callbacks) == 1


# --- verifying ----------------------------------------------------------------------


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


# --- importing -------------------------------------------------------------------------


def test_adding_references_queues_their_fetch_after_commit(
    ncbi_settings, queued_batches, django_capture_on_commit_callbacks, alice
):
    with django_capture_on_commit_callbacks(execute=True):
        result = importing.add_references([31_999_200, 31_999_201], by=alice)

    assert result.run.scope == RefreshRun.Scope.IMPORT
    assert result.run.requested_by == alice
    assert queued_batches == [(result.run.pk, sorted(r.pk for r in Reference.objects.all()))]


def test_citation_strings_are_matched_by_a_task_before_anything_is_created(
    ncbi_settings, fake_eutils, alice, monkeypatch, django_capture_on_commit_callbacks
):
    fake_eutils.add_citation(pmid=31_999_300, journal="J Refresh Test", year=2021, volume="7", first_page="100")
    fake_eutils.add_citation(pmid=31_999_301, journal="J Refresh Test", year=2022, volume="8", first_page="5")
    fake_eutils.add_citation(pmid=31_999_302, journal="J Refresh Test", year=2022, volume="8", first_page="5")
    matches = []
    monkeypatch.setattr(tasks.match_import_citations, "delay", lambda pk: matches.append(pk))
    text = "\n".join(
        [
            "29968044",
            "Doe J. A title. J Refresh Test. 2021;7(2):100-110.",
            "J Refresh Test. 2022;8:5-9",
            "J Refresh Test. 2023;9(1):1-2",
        ]
    )

    with django_capture_on_commit_callbacks(execute=True):
        started = importing.start_import(text, by=alice)
    assert started.state == ReferenceImport.State.MATCHING
    assert not Reference.objects.exists()
    tasks.match_import_citations.apply(args=matches, throw=True)

    started.refresh_from_db()
    assert started.state == ReferenceImport.State.READY
    assert [(e["status"], e["pmid"]) for e in started.entries] == [
        ("pmid", 29968044),
        ("matched", 31_999_300),
        ("ambiguous", None),
        ("not_found", None),
    ]
    assert importing.importable_pmids(started) == [29968044, 31_999_300]
    assert not Reference.objects.exists()


def test_lines_that_are_neither_pmids_nor_citations_are_listed_and_nothing_is_recorded(alice):
    with pytest.raises(importing.InvalidImport) as refused:
        importing.start_import("29968044\nsee the paper by Smith\n12x4", by=alice)

    assert len(refused.value.errors) == 2
    assert "“see the paper by Smith” (line 2)" in refused.value.errors[0]
    assert "12x4" in refused.value.errors[1]
    assert not ReferenceImport.objects.exists()


def test_a_batch_mixing_records_with_and_without_a_year_is_written_whole(refresh_now, monkeypatch):
    # On PostgreSQL a batch's rows are written with one UPDATE ... FROM (VALUES ...): NULLs and lists must survive it.
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
