"""Saved PubMed searches and their runs: the literature comes to the curators, fetched and deduplicated.

A run searches one window of Entrez dates (the day a record entered PubMed),
from the day after the last successful run through yesterday in NCBI's time
zone (US Eastern), so that a day is searched once it is complete. The first
run of a search, and the first after its query changes, looks back
`first_lookback_days` (default `TRIAGE_FIRST_LOOKBACK_DAYS`, two years).

1. `start_run` records a `SearchRun` with its window and queues it.
2. `run_search` (a task) asks ESearch, splitting the window in halves until
   every part holds at most 9,999 PMIDs (PubMed hands out no more per
   search), and records every PMID found; those not yet in the atlas nor in
   the queue are queued for efetch in batches of `NCBI_BATCH_SIZE`.
3. `fetch_batch` (a task per batch) fetches them through the same client,
   limiter and retry policy as refreshes and keeps the records on the run.
4. When the last batch is in, `finish_run` creates the candidates, records
   which search found every paper (found again included) and moves the
   search's coverage to the window's end, all in one transaction.

Any failure (a query NCBI rejects, too many hits, NCBI down or rate-limiting
after the retries, a lost worker) ends the run "failed" with the reason and
creates nothing; the coverage stays, so the next run searches the same window
again: no gap, and no duplicate (a PMID is one candidate, ever).
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from curation import candidates, pubmed, task_queue
from curation.concurrency import StaleEdit, claim
from curation.models import (
    Candidate,
    CandidateMechanism,
    Reference,
    SavedSearch,
    SearchPreview,
    SearchRun,
    SearchRunItem,
    fit_to_column,
)
from curation.pubmed_records import CitationRecord
from curation.search_records import ESEARCH_MAX_IDS

logger = logging.getLogger(__name__)

# Entrez dates are NCBI's, in Bethesda.
NCBI_TIME_ZONE = ZoneInfo("America/New_York")
# A run still unfinished this long after it was started has lost its worker or a message.
ABANDONED_AFTER = timedelta(hours=6)
PREVIEW_PAPERS = 5

State = SearchRun.State
Item = SearchRunItem.Outcome


class SearchError(Exception):
    """A run that cannot be started, or a run's reason for failing; the message is meant for a curator."""


class NothingToSearch(SearchError):
    pass


# ---------------------------------------------------------------------------
# Windows and schedules
# ---------------------------------------------------------------------------


def ncbi_today(now: datetime | None = None) -> date:
    """Today in NCBI's time zone: windows end the day before, the last complete day of entries."""
    return (now or timezone.now()).astimezone(NCBI_TIME_ZONE).date()


def next_window(search: SavedSearch, *, today: date) -> tuple[date, date] | None:
    """The entry dates the next run of `search` covers, or None when it has searched through yesterday."""
    end = today - timedelta(days=1)
    if search.covered_until is not None:
        start = search.covered_until + timedelta(days=1)
    else:
        start = end - timedelta(days=(search.first_lookback_days or settings.TRIAGE_FIRST_LOOKBACK_DAYS) - 1)
    return (start, end) if start <= end else None


def is_due(search: SavedSearch, *, now: datetime | None = None) -> bool:
    """Whether beat should run `search` now: active, idle, a full period of new days, no recent failure."""
    now = now or timezone.now()
    if not search.active or search.runs.filter(state__in=SearchRun.ACTIVE_STATES).exists():
        return False
    window = next_window(search, today=ncbi_today(now))
    if window is None:
        return False
    if search.covered_until is not None and (window[1] - search.covered_until).days < search.period_days:
        return False
    last = search.runs.order_by("-created_at", "-pk").first()
    if last is not None and last.state == State.FAILED:
        return last.finished_at is None or now - last.finished_at >= timedelta(hours=settings.TRIAGE_RETRY_AFTER_HOURS)
    return True


def start_due_searches(*, now: datetime | None = None) -> list[SearchRun]:
    """Celery beat's hourly pass: close abandoned runs, then start a run of every due search."""
    now = now or timezone.now()
    closed = fail_abandoned_runs(now=now)
    if closed:
        logger.warning("saved searches: closed %s abandoned runs", closed)
    started = []
    for search in SavedSearch.objects.filter(active=True).order_by("pk"):
        if is_due(search, now=now):
            try:
                started.append(start_run(search, trigger=SearchRun.Trigger.SCHEDULE, now=now))
            except SearchError as exc:
                logger.info("saved search %s not started: %s", search.pk, exc)
    return started


def start_run(search: SavedSearch, *, by=None, trigger=SearchRun.Trigger.MANUAL, now=None) -> SearchRun:
    """Record a run of `search` over its next window and queue it once the transaction commits.

    Raises `NothingToSearch` when the search has covered every complete day,
    and `SearchError` when a run of it is still going.
    """
    now = now or timezone.now()
    with transaction.atomic():
        locked = SavedSearch.objects.select_for_update().get(pk=search.pk)
        active = locked.runs.filter(state__in=SearchRun.ACTIVE_STATES).first()
        if active is not None:
            raise SearchError(
                f"“{locked}” is running already (run #{active.pk}, {active.get_state_display().lower()})."
            )
        window = next_window(locked, today=ncbi_today(now))
        if window is None:
            raise NothingToSearch(
                f"“{locked}” has searched every entry date through {locked.covered_until:%Y/%m/%d}; "
                "today's papers are searched tomorrow, once the day is complete."
            )
        run = SearchRun.objects.create(
            search=locked,
            trigger=trigger,
            requested_by=by,
            query=locked.query,
            window_start=window[0],
            window_end=window[1],
        )
        task_queue.send(
            task_queue.RUN_SEARCH,
            run.pk,
            on_error=lambda exc: fail_run(run.pk, f"Could not queue the search (is the Celery broker up?): {exc}"),
        )
    logger.info("saved search %s: run %s over %s–%s", search.pk, run.pk, *window)
    return run


def restart_if_query_changed(search: SavedSearch, old_query: str) -> None:
    """A search whose query changed starts over (on the instance, saved with it): its next run looks back as a
    first run does, and NCBI's words about the old query are forgotten."""
    if old_query and old_query != search.query:
        search.covered_until = None
        search.translation, search.ncbi_errors, search.ncbi_warnings = "", [], []


# ---------------------------------------------------------------------------
# The run: esearch, then efetch in batches, then the candidates at once
# ---------------------------------------------------------------------------


def run_search(run_id: int) -> str:
    """Search PubMed over the run's window and queue the efetch of the new PMIDs (called by a Celery task).

    Idempotent: a run past searching is left alone; a redelivered run that
    was searching searches again and replaces what it recorded. A transient
    NCBI error is re-raised for the task to retry (it fails the run after
    its last attempt); any other ends the run "failed" with NCBI's reason.
    """
    updated = SearchRun.objects.filter(pk=run_id, state__in=[State.QUEUED, State.SEARCHING]).update(
        state=State.SEARCHING, started_at=timezone.now()
    )
    if not updated:
        return "nothing to search"
    run = SearchRun.objects.select_related("search").get(pk=run_id)
    try:
        found, requests, first = _search_window(run)
    except SearchError as exc:
        fail_run(run_id, str(exc))
        return f"failed: {exc}"
    except pubmed.PubMedError as exc:
        if isinstance(exc, pubmed.TRANSIENT_ERRORS):
            raise
        fail_run(run_id, str(exc))
        return f"failed: {exc}"

    with transaction.atomic():
        locked = SearchRun.objects.select_for_update().filter(pk=run_id, state=State.SEARCHING).first()
        if locked is None:
            return "nothing to search"
        _note_ncbi_words(run.search_id, run.query, first)
        known = set(Reference.objects.filter(pmid__in=found).values_list("pmid", flat=True))
        known |= set(Candidate.objects.filter(pmid__in=found).values_list("pmid", flat=True))
        new = sorted(found - known)
        SearchRunItem.objects.filter(run_id=run_id).delete()
        SearchRunItem.objects.bulk_create(
            [SearchRunItem(run_id=run_id, pmid=pmid, outcome=Item.KNOWN) for pmid in sorted(known)]
            + [SearchRunItem(run_id=run_id, pmid=pmid) for pmid in new],
            batch_size=2000,
        )
        locked.count_found, locked.esearch_requests, locked.state = len(found), requests, State.FETCHING
        locked.save(update_fields=["count_found", "esearch_requests", "state"])
        size = settings.NCBI_BATCH_SIZE
        for batch in (new[i : i + size] for i in range(0, len(new), size)):
            task_queue.send(
                task_queue.FETCH_SEARCH_BATCH,
                run_id,
                batch,
                on_error=lambda exc: fail_run(run_id, f"Could not queue the PubMed fetch (is the broker up?): {exc}"),
            )
    if not new:
        finish_run(run_id)
    return f"{len(found)} found, {len(new)} new"


def _search_window(run: SearchRun) -> tuple[set[int], int, pubmed.SearchPage]:
    """Every PMID of the run's window, the esearch requests it took, and the first answer (NCBI's words)."""
    first = pubmed.search(run.query, mindate=run.window_start, maxdate=run.window_end)
    if first.errors and first.count == 0:
        raise SearchError(f"NCBI could not use the query: {'; '.join(first.errors)}.")
    if first.count > settings.TRIAGE_MAX_HITS_PER_RUN:
        SearchRun.objects.filter(pk=run.pk).update(count_found=first.count)
        raise SearchError(
            f"PubMed found {first.count:,} papers entered {run.window_start:%Y/%m/%d}–{run.window_end:%Y/%m/%d}, more "
            f"than the {settings.TRIAGE_MAX_HITS_PER_RUN:,} a run may add (TRIAGE_MAX_HITS_PER_RUN): narrow the query, "
            "or shorten how far its first run looks back."
        )
    found: set[int] = set()
    requests = 1
    pending = [(run.window_start, run.window_end, first)]
    while pending:
        start, end, page = pending.pop()
        if page is None:
            page = pubmed.search(run.query, mindate=start, maxdate=end, webenv=first.webenv)
            requests += 1
        if page.count <= ESEARCH_MAX_IDS:
            if len(page.pmids) < page.count:
                raise SearchError(f"PubMed said {page.count} papers but listed {len(page.pmids)}; the run is retried.")
            found.update(page.pmids)
            continue
        if start == end:
            raise SearchError(
                f"PubMed found {page.count:,} papers entered on {start:%Y/%m/%d} alone, more than the "
                f"{ESEARCH_MAX_IDS:,} one search may list: narrow the query."
            )
        # More than one search may list: each half of the window is searched on its own.
        middle = start + timedelta(days=(end - start).days // 2)
        pending += [(start, middle, None), (middle + timedelta(days=1), end, None)]
    return found, requests, first


def _note_ncbi_words(search_id: int, query: str, page: pubmed.SearchPage) -> None:
    # Only for the query that was run: a curator may have changed it meanwhile.
    SavedSearch.objects.filter(pk=search_id, query=query).update(
        translation=page.translation, ncbi_errors=page.errors, ncbi_warnings=page.warnings
    )


def fetch_batch(run_id: int, pmids: list[int]) -> str:
    """Fetch one batch of a run's new PMIDs and keep the records on the run (called by a Celery task).

    Idempotent: PMIDs already fetched are skipped. A transient NCBI error is
    noted and re-raised for the task to retry; any other fails the whole run,
    which then creates nothing.
    """
    queued = list(
        SearchRunItem.objects.filter(
            run_id=run_id, pmid__in=pmids, outcome=Item.QUEUED, run__state=State.FETCHING
        ).values_list("pmid", flat=True)
    )
    if not queued:
        finish_run_if_done(run_id)
        return "nothing queued"
    try:
        records, _missing = pubmed.fetch_batch(sorted(queued))
    except pubmed.PubMedError as exc:
        if isinstance(exc, pubmed.TRANSIENT_ERRORS):
            SearchRunItem.objects.filter(run_id=run_id, pmid__in=queued, outcome=Item.QUEUED).update(
                error=f"{exc} Retrying."
            )
            raise
        fail_run(run_id, str(exc))
        return f"failed: {exc}"
    with transaction.atomic():
        items = list(
            SearchRunItem.objects.select_for_update().filter(run_id=run_id, pmid__in=queued, outcome=Item.QUEUED)
        )
        for item in items:
            record = records.get(item.pmid)
            item.outcome = Item.FETCHED if record is not None else Item.NOT_FOUND
            item.record = _as_json(record) if record is not None else None
            item.error = "" if record is not None else "PubMed has no record with this PMID."
        SearchRunItem.objects.bulk_update(items, ["outcome", "record", "error"], batch_size=100)
    finish_run_if_done(run_id)
    return f"{len(records)} fetched"


def _as_json(record: CitationRecord) -> dict:
    return dataclasses.asdict(record)


def finish_run_if_done(run_id: int) -> None:
    # Each batch checks after its own commit, so the last batch to commit always sees nothing queued.
    if not SearchRunItem.objects.filter(run_id=run_id, outcome=Item.QUEUED).exists():
        finish_run(run_id)


def finish_run(run_id: int) -> None:
    """Create the run's candidates and record who found what, all at once; then the search's coverage moves on.

    Papers already in the atlas are left out; candidates already queued (or
    rejected before) are not created again, but the search is recorded as
    having found them. Does nothing unless the run is fetching.
    """
    for attempt in (1, 2):
        try:
            with transaction.atomic():
                _finish(run_id)
            return
        except IntegrityError:
            # A suggestion or another search's run created one of these candidates at the same moment;
            # the second pass counts it as found again.
            if attempt == 2:
                raise


def _finish(run_id: int) -> None:
    run = SearchRun.objects.select_for_update().select_related("search").filter(pk=run_id).first()
    if run is None or run.state != State.FETCHING:
        return
    search = run.search
    items = SearchRunItem.objects.filter(run_id=run_id)
    found = list(items.values_list("pmid", flat=True))
    in_atlas = set(Reference.objects.filter(pmid__in=found).values_list("pmid", flat=True))
    existing = dict(Candidate.objects.filter(pmid__in=found).values_list("pmid", "pk"))
    records = [
        CitationRecord(**record)
        for pmid, record in items.filter(outcome=Item.FETCHED).values_list("pmid", "record")
        if pmid not in in_atlas and pmid not in existing
    ]
    created = candidates.create_candidates(records, run=run)
    touched = [c.pk for c in created] + list(existing.values())
    candidates.record_sources(touched, search=search, run=run)
    candidates.link_mechanisms(touched, search.mechanisms.values_list("pk", flat=True), CandidateMechanism.Via.SEARCH)
    run.new_candidates, run.found_again, run.already_in_atlas = len(created), len(existing), len(in_atlas)
    run.state, run.finished_at = State.FINISHED, timezone.now()
    run.save(update_fields=["new_candidates", "found_again", "already_in_atlas", "state", "finished_at"])
    if search.query == run.query and (search.covered_until is None or search.covered_until < run.window_end):
        SavedSearch.objects.filter(pk=search.pk).update(covered_until=run.window_end)
    # The records live on in the candidates; the run keeps the list of what it found.
    items.exclude(record=None).update(record=None)
    logger.info("saved search %s: run %s added %s candidates", search.pk, run_id, len(created))


def fail_run(run_id: int, reason: str) -> None:
    """End an unfinished run "failed" with `reason`: nothing is created and its window is searched again."""
    reason = reason or "The run failed for an unknown reason."
    updated = SearchRun.objects.filter(pk=run_id, state__in=SearchRun.ACTIVE_STATES).update(
        state=State.FAILED, error=reason, finished_at=timezone.now()
    )
    if updated:
        SearchRunItem.objects.filter(run_id=run_id).exclude(record=None).update(record=None)
        logger.warning("saved search run %s failed: %s", run_id, reason)


def fail_abandoned_runs(*, now: datetime | None = None, older_than: timedelta = ABANDONED_AFTER) -> int:
    """Fail runs still unfinished `older_than` after they were created (their worker or message was lost)."""
    cutoff = (now or timezone.now()) - older_than
    hours = older_than.total_seconds() / 3600
    reason = (
        f"Not finished {hours:g} hours after it started: a worker or a message was lost. Nothing was added; "
        "the next run searches the same dates again."
    )
    run_ids = list(
        SearchRun.objects.filter(state__in=SearchRun.ACTIVE_STATES, created_at__lt=cutoff).values_list("pk", flat=True)
    )
    for run_id in run_ids:
        fail_run(run_id, reason)
    return len(run_ids)


# ---------------------------------------------------------------------------
# Previews: the count and first titles before a search is saved
# ---------------------------------------------------------------------------


def start_preview(query: str, *, by, draft: dict | None = None, search: SavedSearch | None = None, lookback_days=None):
    """Record a dry run of `query` over the window a first run would search, and queue it.

    `draft` is the form as the curator filled it in, kept so that the
    search can be saved from the preview page.
    """
    query = " ".join((query or "").split())
    if not query:
        raise SearchError("Write a query to preview.")
    limit = SearchPreview._meta.get_field("query").max_length
    if len(query) > limit:
        raise SearchError(f"A query is at most {limit:,} characters.")
    end = ncbi_today() - timedelta(days=1)
    start = end - timedelta(days=(lookback_days or settings.TRIAGE_FIRST_LOOKBACK_DAYS) - 1)
    with transaction.atomic():
        preview = SearchPreview.objects.create(
            requested_by=by, draft=draft or {}, search=search, query=query, window_start=start, window_end=end
        )
        task_queue.send(
            task_queue.PREVIEW_SEARCH,
            preview.pk,
            on_error=lambda exc: fail_preview(preview.pk, f"Could not queue the preview (is the broker up?): {exc}"),
        )
    return preview


def run_preview(preview_id: int) -> str:
    """Count the query's hits over its window and fetch the first titles from the history server (a task)."""
    preview = SearchPreview.objects.filter(pk=preview_id, state=SearchPreview.State.SEARCHING).first()
    if preview is None:
        return "nothing to preview"
    try:
        page = pubmed.search(preview.query, mindate=preview.window_start, maxdate=preview.window_end, retmax=0)
        records = []
        if page.count and page.webenv:
            records = pubmed.fetch_from_history(page.webenv, page.query_key, retmax=PREVIEW_PAPERS)
    except pubmed.PubMedError as exc:
        if isinstance(exc, pubmed.TRANSIENT_ERRORS):
            raise
        fail_preview(preview_id, str(exc))
        return f"failed: {exc}"
    papers = [
        {"pmid": r.pmid, "title": r.title, "journal": r.journal_iso or r.journal_title, "year": r.pub_year}
        for r in records
    ]
    SearchPreview.objects.filter(pk=preview_id, state=SearchPreview.State.SEARCHING).update(
        state=SearchPreview.State.READY,
        count=page.count,
        translation=page.translation,
        ncbi_errors=page.errors,
        ncbi_warnings=page.warnings,
        first_papers=papers,
    )
    return f"{page.count} found"


def fail_preview(preview_id: int, reason: str) -> None:
    """End a preview that is still searching "failed" with `reason`."""
    SearchPreview.objects.filter(pk=preview_id, state=SearchPreview.State.SEARCHING).update(
        state=SearchPreview.State.FAILED, error=reason
    )


def noted(preview: SearchPreview) -> dict:
    """What NCBI said in a preview, in the fields a saved search keeps it in."""
    field = SavedSearch._meta.get_field("translation")
    return {
        "translation": fit_to_column(field, preview.translation),
        "ncbi_errors": preview.ncbi_errors,
        "ncbi_warnings": preview.ncbi_warnings,
    }


# The fields of a saved search a curator fills in, as a preview's draft keeps them.
DRAFT_FIELDS = ("name", "query", "schedule", "active", "first_lookback_days")


def save_from_preview(preview: SearchPreview, *, by) -> SavedSearch:
    """Save the search a preview was made for: a new one, or the changed one it previewed.

    Refused with `SearchError` (nothing saved) when the draft no longer
    validates (e.g. another search took the name meanwhile) or when the search
    changed since the curator opened it.
    """
    if preview.state != SearchPreview.State.READY:
        raise SearchError("Wait for the preview to finish before saving.")
    draft = preview.draft or {}
    with transaction.atomic():
        if preview.search_id is None:
            search = SavedSearch(created_by=by)
        else:
            search = SavedSearch.objects.select_for_update().filter(pk=preview.search_id).first()
            if search is None:
                raise SearchError("That saved search no longer exists.")
        old_query = search.query
        for name in DRAFT_FIELDS:
            if name in draft:
                setattr(search, name, draft[name])
        search.query = preview.query
        try:
            search.full_clean(exclude=["mechanisms"])
        except ValidationError as exc:
            raise SearchError(
                " ".join(message for messages in exc.message_dict.values() for message in messages)
            ) from None
        if search.pk is not None:
            try:
                claim(search, draft.get("expected_version"))
            except StaleEdit as stale:
                raise SearchError(f"{stale.message} Nothing was saved.") from None
        restart_if_query_changed(search, old_query)
        for name, value in noted(preview).items():
            setattr(search, name, value)
        search._history_user = by
        search._change_reason = "Saved after a preview"
        search.save()
        search.mechanisms.set(candidates.suggestable_mechanisms().filter(pk__in=draft.get("mechanisms", [])))
    return search
