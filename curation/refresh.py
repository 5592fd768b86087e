"""Fetching references from PubMed, and the curator's review of what came back.

The one rule: a fetch never silently overwrites curated data.

- A reference nobody has confirmed yet (pending, failed before its first
  fetch, or fetched and awaiting review) takes PubMed's record as it comes and
  lands in "needs review".
- A verified reference keeps its metadata. Differences become one pending
  `CitationUpdate` holding a field-by-field diff, which a curator accepts in
  full, in part, or rejects. A newer fetch replaces a pending diff; a value a
  curator rejected is not proposed again.
- Retractions, errata and expressions of concern are facts about the paper,
  not edits to its citation: they are applied at once, verified or not.
- An unchanged record only moves `fetched_at`. A PMID PubMed does not know
  becomes "not found" and stale refreshes leave it alone from then on.
- A failed fetch records its reason and leaves the reference's data as it was.

Work is split the usual way: `start_refresh` records a `RefreshRun` with one
`RefreshItem` per reference and, after commit, queues one Celery task per
batch; each task calls `run_batch`, which does the HTTP through
`curation.pubmed` outside any transaction and then applies the whole batch in
one short transaction: a handful of set-wise queries, plus one UPDATE per
reference whose data actually changed.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from curation import bulk, pubmed, task_queue
from curation.models import (
    PUBMED_FACT_FIELDS,
    CitationUpdate,
    MetadataState,
    Reference,
    RefreshItem,
    RefreshRun,
    fit_to_column,
)
from curation.pubmed_records import CitationRecord

logger = logging.getLogger(__name__)

Outcome = RefreshItem.Outcome
Scope = RefreshRun.Scope

# Statements about the paper's standing: applied as soon as PubMed reports them.
FACT_FIELDS = PUBMED_FACT_FIELDS
# Citation metadata a curator vouches for when verifying, changed only through review: every field
# of a fetched record but its identity, its source XML and the facts above.
REVIEWED_FIELDS = tuple(
    f.name for f in dataclasses.fields(CitationRecord) if f.name not in {"pmid", "raw_xml", *FACT_FIELDS}
)

# Written with every change a fetch makes.
_BOOKKEEPING = ("fetched_at", "last_error", "updated_at", "version")

# A run still unfinished this long after it was requested has lost a batch (see fail_abandoned_runs).
# The recovery pass (curation.recovery) finds lost batches within minutes; this is the last resort.
ABANDONED_AFTER = timedelta(hours=6)
ACTIVE_STATES = (RefreshRun.State.QUEUED, RefreshRun.State.RUNNING)

NOT_FOUND_MESSAGE = "PubMed has no record with this PMID (it may be mistyped, or deleted by PubMed)."


class RefreshError(Exception):
    """Base class for refusals of this module; the message is meant for a curator."""


class NothingToRefresh(RefreshError):
    pass


class UnknownPmids(RefreshError):
    def __init__(self, pmids: Iterable[int]):
        self.pmids = sorted(pmids)
        listed = ", ".join(str(p) for p in self.pmids)
        super().__init__(f"Not in the atlas, so nothing was refreshed: PMID {listed}.")


class ReviewError(RefreshError):
    """A review decision that cannot be taken (already decided, unknown field, data changed meanwhile)."""


# ---------------------------------------------------------------------------
# Starting a run
# ---------------------------------------------------------------------------


def start_refresh(
    *,
    scope: str,
    by=None,
    references: Iterable[Reference] | QuerySet | None = None,
    pmids: Iterable[int] | None = None,
    stale_days: int | None = None,
) -> RefreshRun:
    """Record a refresh of some references and queue its batches once the transaction commits.

    `scope` chooses the references: SELECTED and IMPORT take `references` (model
    instances or a queryset) or `pmids`; STALE takes those not fetched for
    `stale_days` (default `REFERENCE_STALE_DAYS`) except references PubMed does
    not know and those already queued in an unfinished run; ALL takes every
    reference. Raises `UnknownPmids` (nothing recorded) when a PMID is not in
    the atlas and `NothingToRefresh` when the scope is empty.
    """
    queryset, detail = _scope_queryset(scope, references, pmids, stale_days)
    with transaction.atomic():
        reference_ids = list(queryset.order_by("pk").values_list("pk", flat=True))
        if not reference_ids:
            raise NothingToRefresh(_nothing_message(scope))
        run = RefreshRun.objects.create(
            requested_by=by, scope=scope, scope_detail=detail or _count_detail(len(reference_ids))
        )
        bulk.insert_new(RefreshItem, "reference", reference_ids, fixed={"run_id": run.pk, "touched_at": run.created_at})
        superseded = _supersede_stuck_items(reference_ids, run) if scope == Scope.STALE else 0
        size = settings.NCBI_BATCH_SIZE
        batches = [reference_ids[i : i + size] for i in range(0, len(reference_ids), size)]
        _enqueue(run.pk, batches)
    logger.info("refresh run %s: %s references in %s batches", run.pk, len(reference_ids), len(batches))
    if superseded:
        logger.warning("refresh run %s: took over %s references whose earlier batch was lost", run.pk, superseded)
    return run


def enqueue_batches(run_id: int, reference_ids: list[int]) -> int:
    """Queue the PubMed fetch of `reference_ids` of run `run_id` in batches once the transaction commits.

    For a run that exists already (the recovery of a lost batch); returns the number of batches.
    """
    size = settings.NCBI_BATCH_SIZE
    batches = [reference_ids[i : i + size] for i in range(0, len(reference_ids), size)]
    _enqueue(run_id, batches)
    return len(batches)


def _enqueue(run_id: int, batches: list[list[int]]) -> None:
    for batch in batches:
        # The run is committed by the time the broker is asked: a batch it refused
        # would stay "queued" forever, and stale refreshes skip queued references.
        task_queue.send(
            task_queue.REFRESH_BATCH,
            run_id,
            batch,
            on_error=lambda exc, batch=batch: fail_batch(
                run_id, batch, f"Could not queue the PubMed fetch (is the Celery broker up?): {exc}"
            ),
        )


def _scope_queryset(scope, references, pmids, stale_days) -> tuple[QuerySet, str]:
    if scope in (Scope.SELECTED, Scope.IMPORT):
        if references is not None:
            if isinstance(references, QuerySet):
                return references, ""
            references = list(references)
            return Reference.objects.filter(pk__in=[r.pk for r in references]), _named({r.pmid for r in references})
        wanted = set(pmids or ())
        queryset = Reference.objects.filter(pmid__in=wanted)
        unknown = wanted - set(queryset.values_list("pmid", flat=True))
        if unknown:
            raise UnknownPmids(unknown)
        return queryset, _named(wanted)
    if scope == Scope.STALE:
        days = settings.REFERENCE_STALE_DAYS if stale_days is None else stale_days
        # A daily beat must not pile a second run on references a live task still holds in another run;
        # references whose batch was lost (stuck_items) are taken over instead of skipped.
        held = (
            RefreshItem.objects.filter(outcome=Outcome.QUEUED, run__state__in=ACTIVE_STATES)
            .exclude(pk__in=stuck_items().values("pk"))
            .values("reference_id")
        )
        return Reference.objects.stale(days=days).exclude(pk__in=held), f"not fetched for {days} days"
    if scope == Scope.ALL:
        return Reference.objects.all(), "every reference"
    raise ValueError(f"unknown refresh scope {scope!r}")


def stuck_items(*, older_than: timedelta | None = None) -> QuerySet:
    """Queued items of unfinished runs that no task has touched for `older_than` (`REFRESH_STUCK_AFTER`).

    Every live task touches its items when it begins, and no task holds a message
    longer than the broker's visibility timeout (which REFRESH_STUCK_AFTER
    exceeds): an item untouched for longer has lost its message.
    """
    if older_than is None:
        older_than = timedelta(seconds=settings.REFRESH_STUCK_AFTER)
    cutoff = timezone.now() - older_than
    return RefreshItem.objects.filter(outcome=Outcome.QUEUED, run__state__in=ACTIVE_STATES).filter(
        # Items queued before touched_at existed count from their run's creation.
        Q(touched_at__lt=cutoff) | Q(touched_at__isnull=True, run__created_at__lt=cutoff)
    )


def _supersede_stuck_items(reference_ids: list[int], run: RefreshRun) -> int:
    """Close the lost items of other runs for references `run` now fetches, so no reference is queued twice."""
    stuck = stuck_items().filter(reference_id__in=reference_ids).exclude(run=run)
    by_run: dict[int, list[int]] = {}
    for run_id, reference_id in stuck.values_list("run_id", "reference_id"):
        by_run.setdefault(run_id, []).append(reference_id)
    for other_run_id, ids in by_run.items():
        fail_batch(other_run_id, ids, f"Its batch was lost (a worker or broker restart); {run} fetches it instead.")
    return sum(len(ids) for ids in by_run.values())


def _named(pmids: set[int]) -> str:
    # A run of a few references says which; a longer one is described by its count.
    return "PMID " + ", ".join(str(p) for p in sorted(pmids)) if len(pmids) <= 5 else ""


def _nothing_message(scope: str) -> str:
    if scope == Scope.STALE:
        return "No reference is stale: every one was fetched recently, is queued already, or is unknown to PubMed."
    return "There are no references to refresh."


def _count_detail(n: int) -> str:
    return f"{n} reference{'s' if n != 1 else ''}"


# ---------------------------------------------------------------------------
# Running one batch
# ---------------------------------------------------------------------------


def run_batch(run_id: int, reference_ids: list[int]) -> str:
    """Fetch one batch of a run from PubMed and apply what came back.

    Idempotent: references of the batch that already have an outcome in this
    run are skipped, so a redelivered task does no harm. The HTTP happens
    outside any transaction; the results are applied in one transaction.

    A transient NCBI error (unavailable, rate limited) is noted on the items
    and re-raised: the task retries, and records the failure after its last
    attempt. Any other NCBI error fails the batch's references with the
    reason and leaves their data untouched. Returns a short summary.
    """
    queued = dict(
        RefreshItem.objects.filter(run_id=run_id, reference_id__in=reference_ids, outcome=Outcome.QUEUED).values_list(
            "reference_id", "reference__pmid"
        )
    )
    if not queued:
        finish_run_if_done(run_id)
        return "nothing queued"
    RefreshRun.objects.filter(pk=run_id, state=RefreshRun.State.QUEUED).update(
        state=RefreshRun.State.RUNNING, started_at=timezone.now()
    )
    # This task holds these items now: the recovery pass leaves them alone for REFRESH_STUCK_AFTER.
    RefreshItem.objects.filter(run_id=run_id, reference_id__in=queued, outcome=Outcome.QUEUED).update(
        touched_at=timezone.now()
    )

    began = time.monotonic()
    try:
        records, _missing = pubmed.fetch_batch(sorted(queued.values()))
    except pubmed.PubMedError as exc:
        if isinstance(exc, pubmed.TRANSIENT_ERRORS):
            RefreshItem.objects.filter(run_id=run_id, reference_id__in=queued, outcome=Outcome.QUEUED).update(
                error=f"{exc} Retrying.", touched_at=timezone.now()
            )
            raise
        fail_batch(run_id, list(queued), str(exc))
        return f"failed: {exc}"

    fetched = time.monotonic()
    with transaction.atomic():
        outcomes = _apply_batch(run_id, list(queued), records)
    finish_run_if_done(run_id)
    summary = ", ".join(f"{len(ids)} {outcome}" for outcome, ids in outcomes.items())
    logger.info(
        "refresh run %s: %d references fetched in %.2f s, applied in %.2f s: %s",
        run_id,
        len(queued),
        fetched - began,
        time.monotonic() - fetched,
        summary,
    )
    return summary


def fail_batch(run_id: int, reference_ids: list[int], reason: str) -> None:
    """Record that a batch could not be fetched: items failed with `reason`, references' data kept.

    A reference that was never fetched becomes "failed"; one with metadata keeps
    its state and only shows the error. `fetched_at` is left alone, so the next
    stale refresh tries again.
    """
    now = timezone.now()
    reason = reason or "The fetch failed for an unknown reason."
    with transaction.atomic():
        ids = list(
            RefreshItem.objects.select_for_update()
            .filter(run_id=run_id, reference_id__in=reference_ids, outcome=Outcome.QUEUED)
            .values_list("reference_id", flat=True)
        )
        RefreshItem.objects.filter(run_id=run_id, reference_id__in=ids).update(
            outcome=Outcome.FAILED, error=reason, finished_at=now
        )
        Reference.objects.filter(pk__in=ids).update(last_error=reason)
        Reference.objects.filter(pk__in=ids, metadata_state=MetadataState.PENDING).update(
            metadata_state=MetadataState.FAILED
        )
    logger.warning("refresh run %s: %s references failed: %s", run_id, len(ids), reason)
    finish_run_if_done(run_id)


def fail_abandoned_runs(*, older_than: timedelta = ABANDONED_AFTER) -> int:
    """Close runs still unfinished `older_than` after they were created; returns how many.

    A batch whose message the broker lost, or whose failure could not be
    recorded (the database was down), would otherwise stay "queued" for good,
    and stale refreshes skip references queued in an unfinished run. Their
    items fail with a reason, so the next stale refresh picks them up again.
    """
    cutoff = timezone.now() - older_than
    active = [RefreshRun.State.QUEUED, RefreshRun.State.RUNNING]
    run_ids = list(RefreshRun.objects.filter(state__in=active, created_at__lt=cutoff).values_list("pk", flat=True))
    hours = older_than.total_seconds() / 3600
    reason = (
        f"Not fetched {hours:g} hours after the refresh was requested: its batch was lost "
        "(a broker or worker restart); the next refresh will try again."
    )
    for run_id in run_ids:
        queued = RefreshItem.objects.filter(run_id=run_id, outcome=Outcome.QUEUED)
        fail_batch(run_id, list(queued.values_list("reference_id", flat=True)), reason)
    return len(run_ids)


def finish_run_if_done(run_id: int) -> None:
    """End run `run_id` (finished, or failed if every reference failed) once none of its items is queued.

    Each batch calls it after its own commit, so the last batch to commit always
    sees zero queued; the recovery pass calls it for a run whose last batch
    committed but could not close it.
    """
    if RefreshItem.objects.filter(run_id=run_id, outcome=Outcome.QUEUED).exists():
        return
    run = RefreshRun.objects.filter(pk=run_id).first()
    if run is None or not run.is_active:
        return
    counts = run.counts()
    all_failed = counts["total"] > 0 and counts["failed"] == counts["total"]
    error = ""
    if all_failed:
        first = run.items.exclude(error="").values_list("error", flat=True).first()
        error = f"Every reference failed. {first or ''}".strip()
    RefreshRun.objects.filter(pk=run_id, state__in=[RefreshRun.State.QUEUED, RefreshRun.State.RUNNING]).update(
        state=RefreshRun.State.FAILED if all_failed else RefreshRun.State.FINISHED,
        finished_at=timezone.now(),
        error=error,
    )


def _apply_batch(run_id: int, reference_ids: list[int], records: dict) -> dict[str, list[int]]:
    """Apply fetched records to the batch's still-queued references; return reference ids per outcome."""
    # Lock the items first: a concurrent redelivery of this batch then waits and finds nothing queued.
    ids = list(
        RefreshItem.objects.select_for_update()
        .filter(run_id=run_id, reference_id__in=reference_ids, outcome=Outcome.QUEUED)
        .values_list("reference_id", flat=True)
    )
    # raw_xml is never compared (only replaced), and real records run to tens of kilobytes.
    references = list(Reference.objects.select_for_update().filter(pk__in=ids).defer("raw_xml").order_by("pk"))
    now = timezone.now()
    found, missing = [], []
    for reference in references:
        record = records.get(reference.pmid)
        if record is None:
            missing.append(reference)
        else:
            found.append((reference, record))
    outcomes = _write(found, run_id=run_id, now=now)
    if missing:
        Reference.objects.filter(pk__in=[r.pk for r in missing]).update(
            metadata_state=MetadataState.NOT_FOUND, last_error=NOT_FOUND_MESSAGE, fetched_at=now
        )
        outcomes[Outcome.NOT_FOUND] = [r.pk for r in missing]
    for outcome, outcome_ids in outcomes.items():
        RefreshItem.objects.filter(run_id=run_id, reference_id__in=outcome_ids).update(
            outcome=outcome, error=NOT_FOUND_MESSAGE if outcome == Outcome.NOT_FOUND else "", finished_at=now
        )
    return outcomes


# ---------------------------------------------------------------------------
# The review rules
# ---------------------------------------------------------------------------


@dataclass
class Plan:
    """What one fetched record does to one reference."""

    outcome: str
    changes: dict = field(default_factory=dict)  # field -> value to write now
    diff: dict = field(default_factory=dict)  # field -> {"old", "new"} for a curator to review
    curated: bool = False  # whether the reference's metadata is under review protection


def is_curated(reference: Reference) -> bool:
    """Whether the reference's citation metadata has been vouched for by a curator.

    A reference that is verified, or that was verified once before PubMed lost
    track of it, is protected; anything else takes PubMed's record directly.
    """
    if reference.metadata_state == MetadataState.VERIFIED:
        return True
    if reference.metadata_state == MetadataState.NEEDS_REVIEW:
        return False
    return reference.verified_at is not None


def plan_record(reference: Reference, record, *, rejected: dict | None = None) -> Plan:
    """Decide what `record` (a `CitationRecord`) does to `reference`, without writing anything.

    `rejected` maps field -> value a curator already rejected for this
    reference; such a value is not proposed again.
    """
    # The record's values are read, not copied: nothing here mutates them.
    new = {name: _fit(name, getattr(record, name)) for name in REVIEWED_FIELDS}
    raw_xml = record.raw_xml
    facts = {name: getattr(record, name) for name in FACT_FIELDS}
    changed_facts = {name: value for name, value in facts.items() if getattr(reference, name) != value}

    if not is_curated(reference):
        changed = {name: value for name, value in new.items() if getattr(reference, name) != value}
        if not changed and not changed_facts and reference.metadata_state == MetadataState.NEEDS_REVIEW:
            return Plan(Outcome.UNCHANGED)
        changes = {**new, **facts, "raw_xml": raw_xml, "metadata_state": MetadataState.NEEDS_REVIEW}
        return Plan(Outcome.UPDATED, changes=changes)

    rejected = rejected or {}
    diff = {
        name: {"old": getattr(reference, name), "new": value}
        for name, value in new.items()
        if getattr(reference, name) != value and not (name in rejected and rejected[name] == value)
    }
    changes = dict(changed_facts)
    if reference.metadata_state != MetadataState.VERIFIED:
        # PubMed knows the PMID again: the curator's verification still stands.
        changes["metadata_state"] = MetadataState.VERIFIED
    if diff:
        outcome = Outcome.UPDATE_PENDING
    else:
        outcome = Outcome.UPDATED if changes else Outcome.UNCHANGED
    return Plan(outcome, changes=changes, diff=diff, curated=True)


def _fit(name: str, value):
    # A value longer than its column would fail the whole batch's transaction.
    return fit_to_column(Reference._meta.get_field(name), value)


def _write(pairs: list[tuple[Reference, object]], *, run_id: int | None, now) -> dict[str, list[int]]:
    """Plan and write (reference, record) pairs with a fixed number of queries; caller holds the row locks."""
    outcomes: dict[str, list[int]] = {}
    if not pairs:
        return outcomes
    rejected = _rejected_values([reference.pk for reference, _ in pairs])
    to_save, untouched, updates, settled = [], [], [], []
    for reference, record in pairs:
        plan = plan_record(reference, record, rejected=rejected.get(reference.pk))
        outcomes.setdefault(plan.outcome, []).append(reference.pk)
        if plan.changes:
            for name, value in plan.changes.items():
                setattr(reference, name, value)
            reference.fetched_at = now
            reference.last_error = ""
            reference.updated_at = now
            reference.version += 1
            to_save.append((reference, [*plan.changes, *_BOOKKEEPING]))
        else:
            untouched.append(reference.pk)
        if plan.diff:
            updates.append(CitationUpdate(reference=reference, run_id=run_id, diff=plan.diff, raw_xml=record.raw_xml))
        elif plan.curated:
            settled.append(reference.pk)

    if to_save:
        reason = f"PubMed refresh #{run_id}" if run_id else "PubMed fetch"
        bulk.update_rows(Reference, to_save, history=bulk.History(reason, date=now))
    if untouched:
        # Nothing to review and nothing new: only the fetch time moves (no history entry, no version bump).
        Reference.objects.filter(pk__in=untouched).update(fetched_at=now, last_error="")
    _replace_pending_updates(updates, settled)
    return outcomes


def _rejected_values(reference_ids: list[int]) -> dict[int, dict]:
    """For each reference, field -> the value a curator turned down in the latest decision about that field.

    Per field, not per update: a later update that touched only other fields
    must not bring a rejected title back.
    """
    rejected: dict[int, dict] = {}
    decided_fields: dict[int, set] = {}
    decided = (
        CitationUpdate.objects.filter(reference_id__in=reference_ids)
        .exclude(decision=CitationUpdate.Decision.PENDING)
        .order_by("reference_id", "-decided_at", "-pk")
        .values_list("reference_id", "diff", "accepted_fields")
    )
    for reference_id, diff, accepted in decided:
        seen = decided_fields.setdefault(reference_id, set())
        for name, change in (diff or {}).items():
            if name in seen:
                continue  # a newer decision about this field stands
            seen.add(name)
            if name not in (accepted or []):
                rejected.setdefault(reference_id, {})[name] = change.get("new")
    return rejected


def _replace_pending_updates(updates: list[CitationUpdate], settled: list[int]) -> None:
    """Keep one pending update per reference: the newest diff, or none once PubMed agrees with the curator."""
    pending = {
        update.reference_id: update
        for update in CitationUpdate.objects.filter(
            reference_id__in=[u.reference_id for u in updates] + settled, decision=CitationUpdate.Decision.PENDING
        )
    }
    stale_ids = [pending[pk].pk for pk in settled if pk in pending]
    fresh = []
    for update in updates:
        existing = pending.get(update.reference_id)
        if existing is not None and existing.diff == update.diff:
            continue  # the same proposal: keep it, and any curator looking at it keeps a valid page
        if existing is not None:
            stale_ids.append(existing.pk)
        fresh.append(update)
    if stale_ids:
        CitationUpdate.objects.filter(pk__in=stale_ids).delete()
    if fresh:
        CitationUpdate.objects.bulk_create(fresh)


# ---------------------------------------------------------------------------
# Curator decisions
# ---------------------------------------------------------------------------


def verify_reference(reference: Reference, *, by, expected_version: int | None = None) -> Reference:
    """Confirm a reference's fetched metadata: it becomes "verified" and later fetches go through review.

    Raises `ReviewError` if there is no fetched metadata to confirm, or if
    `expected_version` is given and the reference changed since the curator
    looked (a refill arrived meanwhile). Verifying a verified reference is a no-op.
    """
    with transaction.atomic():
        locked = Reference.objects.select_for_update().get(pk=reference.pk)
        if expected_version is not None and locked.version != expected_version:
            raise ReviewError(f"PMID {locked.pmid} changed while you were looking at it; review it again.")
        if locked.metadata_state == MetadataState.VERIFIED:
            return locked
        if locked.metadata_state != MetadataState.NEEDS_REVIEW:
            raise ReviewError(
                f"PMID {locked.pmid} has no fetched metadata to confirm ({locked.get_metadata_state_display()})."
            )
        locked.metadata_state = MetadataState.VERIFIED
        locked.verified_by = by
        locked.verified_at = timezone.now()
        locked.version += 1
        locked._history_user = by
        locked._change_reason = "Verified against PubMed"
        locked.save()
    reference.refresh_from_db()
    return locked


def apply_citation_update(update: CitationUpdate, *, by, fields: Iterable[str] | None = None) -> CitationUpdate:
    """Accept a pending citation update, in full (`fields=None`) or for the named fields only.

    Accepted fields take PubMed's new value on the reference (a new version,
    with history); the others are rejected and will not be proposed again
    with the same value. Accepting no field at all is a rejection. Raises
    `ReviewError` if the update was decided already or a field is not in its diff.
    """
    with transaction.atomic():
        reference_id = CitationUpdate.objects.filter(pk=update.pk).values_list("reference_id", flat=True).first()
        # Reference first, then its update: the order a refresh batch locks them
        # in (it replaces pending updates), so the two never deadlock.
        reference = Reference.objects.select_for_update().filter(pk=reference_id).first()
        locked = _locked_update(update.pk)
        if locked.decision != CitationUpdate.Decision.PENDING:
            raise ReviewError(f"This update was already {locked.get_decision_display().lower()}.")
        names = list(locked.diff) if fields is None else list(dict.fromkeys(fields))
        unknown = [name for name in names if name not in locked.diff]
        if unknown:
            raise ReviewError(f"Not part of this update: {', '.join(unknown)}.")
        if not names:
            return _decide(locked, by, CitationUpdate.Decision.REJECTED, [])

        for name in names:
            setattr(reference, name, locked.diff[name]["new"])
        everything = len(names) == len(locked.diff)
        if everything and locked.raw_xml:
            reference.raw_xml = locked.raw_xml
        reference.version += 1
        reference._history_user = by
        reference._change_reason = f"Accepted PubMed update #{locked.pk}: {', '.join(names)}"
        reference.save()
        decision = CitationUpdate.Decision.ACCEPTED if everything else CitationUpdate.Decision.PARTIAL
        _decide(locked, by, decision, names)
    update.refresh_from_db()
    return locked


def reject_citation_update(update: CitationUpdate, *, by) -> CitationUpdate:
    """Reject a pending citation update: the reference stays as curated, and these values are not proposed again."""
    with transaction.atomic():
        locked = _locked_update(update.pk)
        if locked.decision != CitationUpdate.Decision.PENDING:
            raise ReviewError(f"This update was already {locked.get_decision_display().lower()}.")
        _decide(locked, by, CitationUpdate.Decision.REJECTED, [])
    update.refresh_from_db()
    return locked


def _locked_update(pk: int) -> CitationUpdate:
    locked = CitationUpdate.objects.select_for_update().filter(pk=pk).first()
    if locked is None:
        # A newer fetch replaced it (or PubMed went back to the curated data) while the curator looked.
        raise ReviewError("This update no longer exists: a newer fetch replaced it. Review the current one.")
    return locked


def _decide(update: CitationUpdate, by, decision: str, accepted: list[str]) -> CitationUpdate:
    update.decision = decision
    update.accepted_fields = accepted
    update.decided_by = by
    update.decided_at = timezone.now()
    update.save(update_fields=["decision", "accepted_fields", "decided_by", "decided_at"])
    return update


# ---------------------------------------------------------------------------
# Records fetched outside a refresh run
# ---------------------------------------------------------------------------


def apply_fetched_record(reference: Reference, record: CitationRecord) -> str:
    """Apply a record fetched elsewhere (a literature search fetched it for the triage queue) by the review rules.

    The same rules and writes as a refresh batch: a pending reference takes the
    record and lands in "needs review", with history. Locks the reference;
    call it inside a transaction. Returns the outcome (`RefreshItem.Outcome`).
    """
    locked = Reference.objects.select_for_update().defer("raw_xml").get(pk=reference.pk)
    outcomes = _write([(locked, record)], run_id=None, now=timezone.now())
    return next(iter(outcomes))
