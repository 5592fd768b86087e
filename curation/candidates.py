"""The literature queue: papers waiting for a curator's decision, and the decisions.

A candidate is a paper (one row per PMID, ever) that a saved search found or a
reader suggested, already fetched from PubMed. Curators accept it (the
reference is created in "needs review" from the fetched record, and evidence
for a mechanism can be written at once), reject it with a reason (it never
comes back), snooze it or assign it. Every decision is a versioned save with
history: two curators deciding the same candidate at once get one decision,
and the other is told who decided (`curation.concurrency`).

What is suggested with a candidate comes from the atlas itself: the
dictionary tagger (`curation.tagger`) finds the atlas's genes, aliases,
therapies and mechanism names in the title and abstract; the relevance the
queue sorts by is `models.RELEVANCE_WEIGHTS` applied to those counts and to
how many searches and people brought the paper in (docs/triage.md).

Runs of saved searches create candidates through `create_candidates` and
`record_sources` (curation/triage.py); readers' suggestions go through
`suggest` and `process_suggestion`.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from curation import importing, pubmed, refresh, task_queue, workflow
from curation.concurrency import StaleEdit, claim
from curation.models import (
    Candidate,
    CandidateMechanism,
    CandidateSource,
    Gene,
    Mechanism,
    Reference,
    RejectReason,
    SearchRun,
    Status,
    Suggestion,
    Therapy,
    fit_to_column,
    split_aliases,
)
from curation.paste import parse_paste
from curation.pubmed_records import CitationRecord, plain_text
from curation.roles import TRIAGE_CANDIDATES
from curation.tagger import GENE, MECHANISM, THERAPY, Tagger, Term, gene_terms

logger = logging.getLogger(__name__)

MAX_SNOOZE_DAYS = 365


class TriageError(Exception):
    """A decision that cannot be taken; the message is meant for the curator."""


class SuggestionRefused(Exception):
    """A suggestion that is not accepted (bad input, over the daily limit); the message is for the reader."""


# ---------------------------------------------------------------------------
# The atlas's dictionary
# ---------------------------------------------------------------------------


def suggestable_mechanisms():
    """Mechanisms a paper may be suggested for: the atlas's own entries, not revisions, not retired ones."""
    return Mechanism.objects.originals().exclude(status=Status.RETIRED)


def atlas_tagger() -> Tagger:
    """The tagger for the atlas as it is now: gene symbols and aliases, therapies, mechanism names (3 queries)."""
    terms = [
        term
        for symbol, aliases in Gene.objects.values_list("symbol", "aliases")
        for term in gene_terms(symbol, split_aliases(aliases))
    ]
    terms += [Term(name, THERAPY, name, f"therapy {name}") for name in Therapy.objects.values_list("name", flat=True)]
    terms += [
        Term(name, MECHANISM, slug, f"mechanism {name}")
        for slug, name in suggestable_mechanisms().values_list("slug", "name")
    ]
    return _compiled(tuple(sorted(set(terms), key=lambda t: (t.kind, t.key, t.text))))


@lru_cache(maxsize=8)
def _compiled(terms: tuple[Term, ...]) -> Tagger:
    # The same dictionary compiles to the same tagger: one compilation per change of the atlas, per process.
    return Tagger(terms)


def record_texts(record: dict) -> list[str]:
    """The plain texts of a fetched record that the tagger reads: its title, then each abstract section."""
    return [plain_text(record.get("title") or "")] + [
        plain_text(s.get("text") or "") for s in record.get("abstract") or []
    ]


# ---------------------------------------------------------------------------
# Creating candidates and recording who brought them in
# ---------------------------------------------------------------------------


def create_candidates(records: Iterable[CitationRecord], *, run: SearchRun | None = None, by=None) -> list[Candidate]:
    """Create one candidate per record, tagged and with the mechanisms the tagger suggests; returns them.

    Call inside a transaction. Raises IntegrityError if one of the PMIDs is a
    candidate already (someone created it meanwhile): the caller retries
    with that PMID counted as known.
    """
    records = list(records)
    if not records:
        return []
    tagger = atlas_tagger()
    now = timezone.now()
    rows = []
    for record in records:
        data = dataclasses.asdict(record)
        found = tagger.keys(record_texts(data))
        rows.append(
            Candidate(
                pmid=record.pmid,
                title=record.title,
                journal=fit_to_column(Candidate._meta.get_field("journal"), record.journal_iso or record.journal_title),
                pub_year=record.pub_year,
                record=data,
                fetched_at=now,
                terms=found,
                gene_count=len(found[GENE]),
                mechanism_count=len(found[MECHANISM]),
                therapy_count=len(found[THERAPY]),
                first_run=run,
            )
        )
    created = bulk_create_with_history(
        rows, Candidate, batch_size=500, default_user=by, default_change_reason=_created_reason(run, by)
    )
    # bulk_create_with_history returns the rows with their keys on PostgreSQL; read them back to be sure elsewhere.
    by_pmid = dict(Candidate.objects.filter(pmid__in=[r.pmid for r in rows]).values_list("pmid", "pk"))
    for candidate in created:
        candidate.pk = by_pmid[candidate.pmid]
    _link_tagged_mechanisms(created)
    return created


def _created_reason(run, by) -> str:
    if run is not None:
        return f"Found by saved search “{run.search.name}” (run #{run.pk})"
    return f"Suggested by {by.get_username()}" if by is not None else "Added to the queue"


def _link_tagged_mechanisms(candidates: list[Candidate]) -> None:
    """Suggest the mechanisms each candidate names, and those whose genes it names."""
    mechanisms = suggestable_mechanisms()
    by_slug = dict(mechanisms.values_list("slug", "pk"))
    by_gene: dict[str, set[int]] = {}
    for symbol, mechanism_id in Mechanism.genes.through.objects.filter(mechanism__in=mechanisms).values_list(
        "gene__symbol", "mechanism_id"
    ):
        by_gene.setdefault(symbol, set()).add(mechanism_id)
    links = []
    for candidate in candidates:
        wanted = {by_slug[slug] for slug in candidate.terms.get(MECHANISM, []) if slug in by_slug}
        for symbol in candidate.terms.get(GENE, []):
            wanted |= by_gene.get(symbol, set())
        links += [
            CandidateMechanism(candidate_id=candidate.pk, mechanism_id=pk, via=CandidateMechanism.Via.TAGGER)
            for pk in wanted
        ]
    CandidateMechanism.objects.bulk_create(links, batch_size=1000, ignore_conflicts=True)


def link_mechanisms(candidate_ids: Iterable[int], mechanism_ids: Iterable[int], via: str) -> None:
    """Suggest these mechanisms for these candidates (a link that exists already is kept as it is)."""
    links = [
        CandidateMechanism(candidate_id=candidate_id, mechanism_id=mechanism_id, via=via)
        for candidate_id in candidate_ids
        for mechanism_id in mechanism_ids
    ]
    CandidateMechanism.objects.bulk_create(links, batch_size=1000, ignore_conflicts=True)


def record_sources(candidate_ids: Iterable[int], *, search=None, run=None, suggested_by=None) -> None:
    """Record that `search` (in `run`) or `suggested_by` brought these candidates in, and count again.

    A source seen before only moves its `last_found_at` (and run): which search
    found a paper again is recorded, but never twice.
    """
    candidate_ids = list(candidate_ids)
    if not candidate_ids:
        return
    now = timezone.now()
    if search is not None:
        existing = CandidateSource.objects.filter(candidate_id__in=candidate_ids, search=search)
    else:
        existing = CandidateSource.objects.filter(candidate_id__in=candidate_ids, suggested_by=suggested_by)
    seen = set(existing.values_list("candidate_id", flat=True))
    existing.update(last_found_at=now, run=run)
    CandidateSource.objects.bulk_create(
        [
            CandidateSource(
                candidate_id=pk,
                search=search,
                suggested_by=suggested_by,
                run=run,
                first_found_at=now,
                last_found_at=now,
            )
            for pk in candidate_ids
            if pk not in seen
        ],
        batch_size=1000,
    )
    recount(candidate_ids)


def recount(candidate_ids: list[int]) -> None:
    """Set how many searches and people brought each candidate in, from its sources (the relevance follows)."""

    def sources(**kind):
        counted = (
            CandidateSource.objects.filter(candidate=OuterRef("pk"), **kind)
            .order_by()
            .values("candidate")
            .annotate(n=Count("pk"))
            .values("n")
        )
        return Coalesce(Subquery(counted), 0)

    # Not a curated change: no version bump, so a curator looking at the candidate keeps a valid page.
    Candidate.objects.filter(pk__in=candidate_ids).update(
        search_count=sources(search__isnull=False), suggestion_count=sources(suggested_by__isnull=False)
    )


# ---------------------------------------------------------------------------
# Decisions
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Acceptance:
    candidate: Candidate
    reference: Reference
    created: bool  # False when the paper was already in the atlas (added some other way meanwhile)
    evidence_for: Mechanism | None  # where the evidence form opens: the mechanism, or its draft revision
    revision_opened: bool = False


def _require(by) -> None:
    if by is None or not by.is_active or not by.has_perm(TRIAGE_CANDIDATES):
        raise TriageError("You may not decide literature candidates.")


def _locked(candidate: Candidate, expected_version: int | None, by) -> Candidate:
    """The candidate's row, locked and claimed at `expected_version`; refused if decided or changed meanwhile."""
    locked = (
        Candidate.objects.select_for_update(of=("self",)).filter(pk=candidate.pk).select_related("decided_by").first()
    )
    if locked is None:
        raise TriageError(f"PMID {candidate.pmid} is no longer in the queue.")
    if locked.state != Candidate.State.QUEUED:
        who = locked.decided_by.get_username() if locked.decided_by else "someone"
        when = timezone.localtime(locked.decided_at).strftime("%Y-%m-%d %H:%M")
        raise TriageError(f"PMID {locked.pmid} was already {locked.get_state_display().lower()} by {who} at {when}.")
    try:
        claim(locked, expected_version)
    except StaleEdit as stale:
        raise TriageError(f"{stale.message} Nothing was done: look at it again first.") from None
    locked._history_user = by
    return locked


def accept(candidate: Candidate, *, by, expected_version: int | None, mechanism: Mechanism | None = None) -> Acceptance:
    """Accept a candidate: its reference is created in "needs review" from the fetched record.

    With `mechanism`, also says where the curator's evidence goes: the
    mechanism itself while it is a draft or in review, or the draft revision
    of a published one (opened if needed). Refused with `TriageError` if the
    candidate was decided or changed since the curator looked at it.
    """
    _require(by)
    if mechanism is not None and not suggestable_mechanisms().filter(pk=mechanism.pk).exists():
        raise TriageError(f"“{mechanism}” cannot take new evidence: it is retired or a revision.")
    with transaction.atomic():
        locked = _locked(candidate, expected_version, by)
        reference, created = _reference_for(locked, by)
        locked.state = Candidate.State.ACCEPTED
        locked.decided_by, locked.decided_at = by, timezone.now()
        locked.reference = reference
        locked.snoozed_until = None
        locked._change_reason = "Accepted" + (f" as evidence for “{mechanism}”" if mechanism else "")
        locked.save()
        target, opened = _evidence_target(mechanism, by)
    candidate.refresh_from_db()
    return Acceptance(locked, reference, created, target, opened)


def _reference_for(candidate: Candidate, by) -> tuple[Reference, bool]:
    existing = Reference.objects.filter(pmid=candidate.pmid).first()
    if existing is not None:
        return existing, False
    record = CitationRecord(**candidate.record) if candidate.record else None
    # Without a fetched record (never the case for a search's candidates) PubMed is asked after commit.
    result = importing.add_references([candidate.pmid], by=by, fetch=record is None)
    reference = result.created[0] if result.created else Reference.objects.get(pmid=candidate.pmid)
    if record is not None:
        refresh.apply_fetched_record(reference, record)
        reference.refresh_from_db()
    return reference, bool(result.created)


def _evidence_target(mechanism: Mechanism | None, by) -> tuple[Mechanism | None, bool]:
    if mechanism is None or mechanism.status != Status.PUBLISHED:
        return mechanism, False
    # Published text changes only through a draft revision, so the new evidence goes there.
    had_revision = mechanism.revisions.exists()
    try:
        return workflow.start_revision(mechanism, by=by), not had_revision
    except workflow.WorkflowError as exc:
        raise TriageError(f"Accepted nothing: {exc}") from exc


def reject(candidate: Candidate, *, by, expected_version: int | None, reason: str, note: str = "") -> Candidate:
    """Reject a candidate with a reason from `RejectReason` (and a note, required for "other"); it never comes back."""
    _require(by)
    note = " ".join((note or "").split())
    if reason not in RejectReason.values:
        raise TriageError("Choose a reason for rejecting the paper.")
    if reason == RejectReason.OTHER and not note:
        raise TriageError("Say why the paper is rejected: “Other” needs a note.")
    field = Candidate._meta.get_field("reject_note")
    if len(note) > field.max_length:
        raise TriageError(f"Keep the note under {field.max_length} characters.")
    with transaction.atomic():
        locked = _locked(candidate, expected_version, by)
        locked.state = Candidate.State.REJECTED
        locked.decided_by, locked.decided_at = by, timezone.now()
        locked.reject_reason, locked.reject_note = reason, note
        locked.snoozed_until = None
        locked._change_reason = f"Rejected: {RejectReason(reason).label}" + (f" ({note})" if note else "")
        locked.save()
    candidate.refresh_from_db()
    return locked


def snooze(candidate: Candidate, *, by, expected_version: int | None, until: date | None) -> Candidate:
    """Hide an undecided candidate from the waiting list until `until` (None wakes it now)."""
    _require(by)
    today = timezone.localdate()
    if until is not None and not today < until <= today + timedelta(days=MAX_SNOOZE_DAYS):
        raise TriageError(f"Snooze until a day after today and at most {MAX_SNOOZE_DAYS} days ahead.")
    with transaction.atomic():
        locked = _locked(candidate, expected_version, by)
        locked.snoozed_until = until
        locked._change_reason = f"Snoozed until {until:%Y-%m-%d}" if until else "Woken up"
        locked.save()
    candidate.refresh_from_db()
    return locked


def assign(candidate: Candidate, *, by, expected_version: int | None, to) -> Candidate:
    """Give an undecided candidate to a curator (`to`, who must be allowed to decide it), or to nobody."""
    _require(by)
    if to is not None and not (to.is_active and to.has_perm(TRIAGE_CANDIDATES)):
        raise TriageError(f"{to.get_username()} may not decide literature candidates.")
    with transaction.atomic():
        locked = _locked(candidate, expected_version, by)
        locked.assigned_to = to
        locked._change_reason = f"Assigned to {to.get_username()}" if to else "Unassigned"
        locked.save()
    candidate.refresh_from_db()
    return locked


@dataclass
class BulkResult:
    done: list[Candidate]
    refused: list[str]  # one message per candidate that was not decided, saying why


def bulk_decide(decisions: Iterable[tuple[Candidate, int | None]], decide) -> BulkResult:
    """Apply `decide(candidate, expected_version)` to each; one refusal does not stop the others."""
    result = BulkResult([], [])
    for candidate, version in decisions:
        try:
            result.done.append(decide(candidate, version))
        except TriageError as exc:
            result.refused.append(str(exc))
    return result


# ---------------------------------------------------------------------------
# Readers' suggestions
# ---------------------------------------------------------------------------


def suggest(text: str, *, mechanism: Mechanism, by) -> Suggestion:
    """Record a signed-in reader's suggestion (a PMID or one citation string) and queue its lookup.

    Refused with `SuggestionRefused`, recording nothing, when the text is
    neither, when the mechanism is not published, or when the reader has made
    `TRIAGE_SUGGESTIONS_PER_DAY` suggestions in the last 24 hours.
    """
    if by is None or not by.is_authenticated or not by.is_active:
        raise SuggestionRefused("Sign in to suggest a paper.")
    if not Mechanism.objects.published().filter(pk=mechanism.pk).exists():
        raise SuggestionRefused("Papers can be suggested for published mechanisms only.")
    text = " ".join((text or "").split())
    limit = Suggestion._meta.get_field("text").max_length
    if not text:
        raise SuggestionRefused("Give a PMID or a citation.")
    if len(text) > limit:
        raise SuggestionRefused(f"A citation is at most {limit:,} characters.")
    paste = parse_paste(text)
    if paste.errors or len(paste.pmids) + len(paste.citations) != 1:
        raise SuggestionRefused(
            "Give one PMID (e.g. 29968044) or one citation as PubMed writes it "
            "(e.g. Sharma P, et al. Cell. 2017 Feb 9;168(4):707-723)."
        )
    with transaction.atomic():
        # Locking the reader's row makes two suggestions sent at once count against the limit one after the other.
        get_user_model().objects.select_for_update().filter(pk=by.pk).first()
        since = timezone.now() - timedelta(days=1)
        made = Suggestion.objects.filter(suggested_by=by, created_at__gte=since).count()
        if made >= settings.TRIAGE_SUGGESTIONS_PER_DAY:
            raise SuggestionRefused(
                f"You have suggested {made} papers in the last 24 hours, the most one reader may; thank you, "
                "and please come back tomorrow."
            )
        suggestion = Suggestion.objects.create(
            suggested_by=by,
            mechanism=mechanism,
            text=text,
            pmid=paste.pmids[0] if paste.pmids else None,
            citation=(
                {k: v for k, v in dataclasses.asdict(paste.citations[0].query).items() if k != "key"}
                if paste.citations
                else None
            ),
        )
        task_queue.send(
            task_queue.PROCESS_SUGGESTION,
            suggestion.pk,
            on_error=lambda exc: fail_suggestion(suggestion.pk, f"Could not queue the lookup: {exc}"),
        )
    return suggestion


def process_suggestion(suggestion_id: int) -> str:
    """Look a suggestion up (ECitMatch for a citation, then efetch) and put its paper in the queue.

    Idempotent: a suggestion no longer pending is left alone. Transient NCBI
    errors are re-raised for the task to retry; others end it "failed".
    """
    suggestion = Suggestion.objects.filter(pk=suggestion_id, state=Suggestion.State.PENDING).first()
    if suggestion is None:
        return "nothing to do"
    try:
        pmid = suggestion.pmid or _matched_pmid(suggestion)
        if pmid is None:
            return suggestion.state
        if Reference.objects.filter(pmid=pmid).exists():
            return _finish_suggestion(suggestion, Suggestion.State.IN_ATLAS, pmid=pmid)
        record = None
        if not Candidate.objects.filter(pmid=pmid).exists():
            records, _missing = pubmed.fetch_batch([pmid])
            record = records.get(pmid)
            if record is None:
                return _finish_suggestion(
                    suggestion, Suggestion.State.NOT_FOUND, pmid=pmid, detail="PubMed has no record with this PMID."
                )
    except pubmed.PubMedError as exc:
        if isinstance(exc, pubmed.TRANSIENT_ERRORS):
            raise
        fail_suggestion(suggestion_id, str(exc))
        return f"failed: {exc}"
    return _queue_suggested(suggestion, pmid, record)


def _matched_pmid(suggestion: Suggestion) -> int | None:
    [match] = pubmed.match_citations([pubmed.CitationQuery(**suggestion.citation, key="s")])
    if match.status == "matched":
        Suggestion.objects.filter(pk=suggestion.pk).update(pmid=match.pmid)
        return match.pmid
    state = Suggestion.State.AMBIGUOUS if match.status == "ambiguous" else Suggestion.State.NOT_FOUND
    _finish_suggestion(suggestion, state, detail=match.detail)
    suggestion.state = state
    return None


def _queue_suggested(suggestion: Suggestion, pmid: int, record: CitationRecord | None) -> str:
    by = suggestion.suggested_by
    for attempt in (1, 2):
        try:
            with transaction.atomic():
                candidate = Candidate.objects.filter(pmid=pmid).first()
                if candidate is None:
                    if record is None:  # the candidate we saw was deleted meanwhile: fetch again next time
                        raise TriageError("the candidate disappeared")
                    [candidate] = create_candidates([record], by=by)
                record_sources([candidate.pk], suggested_by=by)
                link_mechanisms([candidate.pk], [suggestion.mechanism_id], CandidateMechanism.Via.PERSON)
                state = (
                    Suggestion.State.QUEUED if candidate.state == Candidate.State.QUEUED else Suggestion.State.DECIDED
                )
                return _finish_suggestion(suggestion, state, pmid=pmid, candidate=candidate)
        except IntegrityError:
            if attempt == 2:
                raise  # a search created the same candidate at the same moment: the second pass sees it
        except TriageError:
            fail_suggestion(suggestion.pk, "The paper left the queue while it was being added; suggest it again.")
            return "failed"
    return "failed"


def _finish_suggestion(suggestion: Suggestion, state: str, *, pmid=None, detail="", candidate=None) -> str:
    field = Suggestion._meta.get_field("detail")
    Suggestion.objects.filter(pk=suggestion.pk, state=Suggestion.State.PENDING).update(
        state=state, pmid=pmid or suggestion.pmid, detail=fit_to_column(field, detail), candidate=candidate
    )
    return state


def fail_suggestion(suggestion_id: int, reason: str) -> None:
    """End a pending suggestion "failed" with `reason` (NCBI kept failing, or the broker was down)."""
    field = Suggestion._meta.get_field("detail")
    Suggestion.objects.filter(pk=suggestion_id, state=Suggestion.State.PENDING).update(
        state=Suggestion.State.FAILED, detail=fit_to_column(field, reason)
    )


def waiting_counts(mechanism_ids: Iterable[int] | None = None) -> dict[int, int]:
    """Waiting candidates per mechanism they are suggested for, in one query (all mechanisms when None)."""
    links = CandidateMechanism.objects.filter(candidate__in=Candidate.objects.waiting())
    if mechanism_ids is not None:
        links = links.filter(mechanism_id__in=list(mechanism_ids))
    return dict(
        links.values("mechanism_id").annotate(n=Count("candidate_id", distinct=True)).values_list("mechanism_id", "n")
    )


__all__ = [
    "Acceptance",
    "BulkResult",
    "SuggestionRefused",
    "TriageError",
    "accept",
    "assign",
    "atlas_tagger",
    "bulk_decide",
    "create_candidates",
    "link_mechanisms",
    "process_suggestion",
    "record_sources",
    "reject",
    "snooze",
    "suggest",
    "waiting_counts",
]
