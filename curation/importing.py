"""Adding references to the atlas: one paste of PMIDs and citation strings, one way in.

Curators never type citation metadata: they name a paper and the reference is
created empty, in state "pending", for the PubMed pipeline to fill.

- PMIDs are created at once and their PubMed fetch is queued.
- Citation strings ("Cell. 2017 Feb 9;168(4):707-723") are resolved to PMIDs
  by PubMed's ECitMatch. That is NCBI traffic, so it runs in a Celery task:
  `start_import` records the citations as a `ReferenceImport`, the task fills
  in the matches, and the curator confirms with `confirm_import` after seeing
  what matched, what did not and what is ambiguous.

The admin's "Add references" page and `manage.py import_pmids` both call
`start_import` and `confirm_import`; `add_references` is the step they share.
"""

from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace

from django.db import IntegrityError, transaction
from django.utils import timezone

from curation import bulk, pubmed, refresh, task_queue
from curation.models import MetadataState, Reference, ReferenceImport, RefreshRun
from curation.paste import PMID_MAX_DIGITS, InvalidPmids, parse_paste, pmid_problem

# What AddResult.created holds of each new reference: what its callers read.
_CREATED_FIELDS = ["id", "pmid", "metadata_state"]
# Each citation is an ECitMatch lookup at NCBI's rate: a paste of more is a job for PMIDs.
MAX_CITATIONS_PER_IMPORT = 1_000


class InvalidImport(ValueError):
    """The pasted text cannot be imported as it is; `errors` lists every problem by line."""

    def __init__(self, errors: list[str]):
        self.errors = errors
        super().__init__("; ".join(errors))


@dataclass(frozen=True)
class AddResult:
    created: list[Reference]
    existing: list[int]  # PMIDs that were already in the atlas, in input order
    run: RefreshRun | None = None  # the PubMed fetch queued for the created references


@dataclass(frozen=True)
class ImportResult:
    added: AddResult  # the references created from the pasted PMIDs
    repeated: list[int]  # PMIDs pasted more than once, counted once
    citations: ReferenceImport | None = None  # the pasted citation strings, waiting for their matches


def add_references(pmids: Iterable[int], *, by, fetch: bool = True) -> AddResult:
    """Create a pending reference for every PMID not yet in the atlas.

    PMIDs already present, and repeats within `pmids`, are left alone and
    reported in `existing`. The new rows, their history rows and the fetch's
    items are written with one statement each (see `curation.bulk`). Raises InvalidPmids,
    creating nothing, if any value is not a valid PMID. `by` is recorded as
    the author of the history entries. With `fetch` (the default) a PubMed
    fetch of the created references is queued once the transaction commits.
    """
    pmids = list(dict.fromkeys(pmids))
    bad = [repr(p) for p in pmids if type(p) is not int or pmid_problem(str(p))]
    if bad:
        largest = 10**PMID_MAX_DIGITS - 1
        raise InvalidPmids(bad, [f"{token} is not a PMID (a whole number from 1 to {largest})." for token in bad])
    if not pmids:
        return AddResult(created=[], existing=[])
    try:
        result = _insert_missing(pmids, by)
    except IntegrityError:
        # Someone added one of these PMIDs between our read and our insert;
        # a second pass sees their rows as existing.
        result = _insert_missing(pmids, by)
    if fetch and result.created:
        run = refresh.start_refresh(scope=RefreshRun.Scope.IMPORT, by=by, references=result.created)
        result = replace(result, run=run)
    return result


def _insert_missing(pmids: list[int], by) -> AddResult:
    with transaction.atomic():
        inserted = bulk.insert_new(
            Reference,
            "pmid",
            pmids,
            fixed={"metadata_state": MetadataState.PENDING},
            history=bulk.History("Added by PMID", by=by),
            skip_present=True,
        )
    # Built as a query result would be, with the rest of each row deferred: 20,000 full instances cost a second.
    created = [Reference.from_db(None, _CREATED_FIELDS, (pk, pmid, MetadataState.PENDING)) for pk, pmid in inserted]
    new = {pmid for _, pmid in inserted}
    return AddResult(created=created, existing=[pmid for pmid in pmids if pmid not in new])


def start_import(text: str, *, by, max_pmids: int | None = None) -> ImportResult:
    """Add the pasted PMIDs now and record the pasted citation strings for matching.

    PMIDs are created (pending, their fetch queued after commit); citation
    strings become one `ReferenceImport` whose ECitMatch lookup is queued after
    commit. Raises InvalidImport, creating and recording nothing, if any line
    is neither a PMID nor a citation, a citation line is too long, there are
    more than `max_pmids` PMIDs, or there is nothing to import.
    """
    paste = parse_paste(text)
    errors = list(paste.errors)
    if len(paste.citations) > MAX_CITATIONS_PER_IMPORT:
        errors.append(
            f"{len(paste.citations):,} citations: at most {MAX_CITATIONS_PER_IMPORT:,} can be looked up at a time."
        )
    if max_pmids is not None and len(paste.pmids) > max_pmids:
        errors.append(f"At most {max_pmids:,} PMIDs at a time; this has {len(paste.pmids):,}.")
    if not errors and not paste.pmids and not paste.citations:
        errors = ["Nothing to import: paste one PMID or one citation per line."]
    if errors:
        raise InvalidImport(errors)
    with transaction.atomic():
        added = add_references(paste.pmids, by=by)
        citations = None
        if paste.citations:
            entries = [
                {
                    "line": citation.line,
                    "text": citation.text,
                    "kind": "citation",
                    "pmid": None,
                    "status": "pending",
                    "candidates": [],
                    "detail": "",
                    "query": {k: v for k, v in asdict(citation.query).items() if k != "key"},
                }
                for citation in paste.citations
            ]
            citations = ReferenceImport.objects.create(requested_by=by, entries=entries)
            task_queue.send(
                task_queue.MATCH_IMPORT_CITATIONS,
                citations.pk,
                on_error=lambda exc: fail_matching(
                    citations.pk, f"Could not queue the PubMed lookup (is the Celery broker up?): {exc}"
                ),
            )
    return ImportResult(added=added, repeated=paste.repeated, citations=citations)


def match_import(import_id: int) -> str:
    """Resolve an import's citation strings with ECitMatch and mark it ready (called by a Celery task).

    Idempotent: an import no longer waiting for matches is left alone. A
    transient NCBI error is re-raised for the task to retry (it calls
    `fail_matching` after its last attempt); any other NCBI error marks the
    import failed with the reason.
    """
    reference_import = ReferenceImport.objects.filter(pk=import_id).first()
    if reference_import is None or reference_import.state != ReferenceImport.State.MATCHING:
        return "nothing to match"
    citations = [(i, e) for i, e in enumerate(reference_import.entries) if e["kind"] == "citation"]
    queries = [pubmed.CitationQuery(**entry["query"], key=str(i)) for i, entry in citations]
    try:
        matches = pubmed.match_citations(queries)
    except pubmed.PubMedError as exc:
        if isinstance(exc, pubmed.TRANSIENT_ERRORS):
            raise
        fail_matching(import_id, str(exc))
        return f"failed: {exc}"
    with transaction.atomic():
        locked = ReferenceImport.objects.select_for_update().get(pk=import_id)
        if locked.state != ReferenceImport.State.MATCHING:
            return "nothing to match"
        for match in matches:
            entry = locked.entries[int(match.key)]
            entry.update(status=match.status, pmid=match.pmid, candidates=match.candidates, detail=match.detail)
        locked.state = ReferenceImport.State.READY
        locked.matched_at = timezone.now()
        locked.save(update_fields=["entries", "state", "matched_at"])
    counts = Counter(match.status for match in matches)
    return ", ".join(f"{n} {status}" for status, n in counts.items())


def fail_matching(import_id: int, reason: str) -> None:
    """Mark an import that is still matching as failed with `reason`; an import past matching is left alone."""
    ReferenceImport.objects.filter(pk=import_id, state=ReferenceImport.State.MATCHING).update(
        state=ReferenceImport.State.FAILED, error=reason, matched_at=timezone.now()
    )


def importable_pmids(reference_import: ReferenceImport) -> list[int]:
    """The PMIDs confirming an import adds: those whose citation matched exactly once.

    Imports recorded before PMIDs were added at once also list typed PMIDs ("pmid").
    """
    pmids = [e["pmid"] for e in reference_import.entries if e["status"] in ("pmid", "matched") and e["pmid"]]
    return list(dict.fromkeys(pmids))


def confirm_import(reference_import: ReferenceImport, *, by) -> AddResult:
    """Create the references whose citations matched, and queue their PubMed fetch.

    Citations that were not found or are ambiguous are skipped (the preview
    listed them). Raises InvalidImport if the import is not ready (still
    matching, failed, or imported already), creating nothing.
    """
    with transaction.atomic():
        locked = ReferenceImport.objects.select_for_update().get(pk=reference_import.pk)
        if locked.state != ReferenceImport.State.READY:
            raise InvalidImport([f"This import cannot be confirmed: it is {locked.get_state_display().lower()}."])
        result = add_references(importable_pmids(locked), by=by)
        locked.state = ReferenceImport.State.IMPORTED
        locked.imported_at = timezone.now()
        locked.run = result.run
        locked.save(update_fields=["state", "imported_at", "run"])
    reference_import.refresh_from_db()
    return result
