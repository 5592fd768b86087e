"""Adding references to the atlas by PMID.

Curators never type citation metadata: they name a paper by its PMID and the
reference is created empty, in state "pending", for the PubMed pipeline to
fill. The functions here are the one way in, used by the admin's "Add
references" page and by management commands alike.

What counts as a PMID: a whole number written with digits only, 1 to 9 digits
long, without a leading zero. PubMed's identifiers have 8 digits today; one
more digit leaves decades of headroom, while anything longer is certainly a
typo (or another identifier pasted by mistake). Signs, decimal points, leading
zeros ("007") and prefixes ("PMID:123") are refused rather than guessed at,
so that what is created is exactly what the curator meant.
"""

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from django.db import IntegrityError, transaction
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from curation import pubmed, refresh
from curation.models import MetadataState, Reference, ReferenceImport, RefreshRun

PMID_MAX_DIGITS = 9
# ASCII only: Python's \d and int() also accept other scripts' digits ("１２３").
_PMID = re.compile(rf"[1-9][0-9]{{0,{PMID_MAX_DIGITS - 1}}}")
# Curators paste from spreadsheets, e-mails and reference managers: one per
# line, or separated by commas, semicolons, spaces or tabs.
_SEPARATORS = re.compile(r"[\s,;]+")


class InvalidPmids(ValueError):
    """Some tokens are not PMIDs; `tokens` names them and `errors` explains each."""

    def __init__(self, tokens: list[str], errors: list[str]):
        self.tokens = tokens
        self.errors = errors
        super().__init__("; ".join(errors))


@dataclass(frozen=True)
class ParsedPmids:
    pmids: list[int]  # valid PMIDs, first occurrence order, each once
    errors: list[str]  # one readable message per bad token, naming it and its position
    bad_tokens: list[str] = field(default_factory=list)
    repeated: list[int] = field(default_factory=list)  # PMIDs listed more than once in the input

    def raise_if_invalid(self) -> None:
        if self.errors:
            raise InvalidPmids(self.bad_tokens, self.errors)


@dataclass(frozen=True)
class AddResult:
    created: list[Reference]
    existing: list[int]  # PMIDs that were already in the atlas, in input order
    run: RefreshRun | None = None  # the PubMed fetch queued for the created references


def pmid_problem(token: str) -> str | None:
    """Why `token` is not a PMID, or None when it is one."""
    if _PMID.fullmatch(token):
        return None
    if not token.isascii():
        return "not a number"
    if token.isdigit():
        if set(token) == {"0"}:
            return "PMIDs start at 1"
        if token.startswith("0"):
            return "PMIDs have no leading zero"
        return f"too long ({len(token)} digits; a PMID has at most {PMID_MAX_DIGITS})"
    if re.fullmatch(r"[+-][0-9]+", token):
        return "a PMID has no sign"
    if re.fullmatch(r"[0-9]*[.][0-9]+|[0-9]+[.][0-9]*", token):
        return "a PMID is a whole number"
    return "not a number"


def parse_pmids(text: str) -> ParsedPmids:
    """Split pasted text into PMIDs, reporting every token that is not one.

    Tokens are separated by line breaks, commas, semicolons or white space.
    Each bad token is reported by name with its position (the n-th item and
    its line), so a curator can find it in a long paste. Repeats are kept
    once, in the order first seen.
    """
    pmids, errors, bad_tokens, repeated = [], [], [], []
    seen = set()
    position = 0
    for line_number, line in enumerate(text.splitlines(), start=1):
        for token in _SEPARATORS.split(line):
            if not token:
                continue
            position += 1
            problem = pmid_problem(token)
            if problem:
                bad_tokens.append(token)
                errors.append(f"“{token}” (item {position}, line {line_number}) is not a PMID: {problem}.")
                continue
            pmid = int(token)
            if pmid in seen:
                if pmid not in repeated:
                    repeated.append(pmid)
                continue
            seen.add(pmid)
            pmids.append(pmid)
    return ParsedPmids(pmids=pmids, errors=errors, bad_tokens=bad_tokens, repeated=repeated)


def add_references(pmids: Iterable[int], *, by, fetch: bool = True) -> AddResult:
    """Create a pending reference for every PMID not yet in the atlas.

    PMIDs already present, and repeats within `pmids`, are left alone and
    reported in `existing`. The new rows are written with one INSERT (plus one
    for their history rows; SQLite splits more than ~30 rows into batches
    because Django caps its queries at 999 parameters). Raises InvalidPmids,
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
        run = refresh.start_refresh(scope=RefreshRun.Scope.IMPORT, by=by, pmids=[r.pmid for r in result.created])
        result = replace(result, run=run)
    return result


def _insert_missing(pmids: list[int], by) -> AddResult:
    with transaction.atomic():
        present = set(Reference.objects.filter(pmid__in=pmids).values_list("pmid", flat=True))
        new = [Reference(pmid=pmid, metadata_state=MetadataState.PENDING) for pmid in pmids if pmid not in present]
        created = bulk_create_with_history(new, Reference, default_user=by, default_change_reason="Added by PMID")
    return AddResult(created=created, existing=[pmid for pmid in pmids if pmid in present])


# --- Importing by citation string ------------------------------------------------
# "Cell. 2017 Feb 9;168(4):707-723" is resolved to a PMID by PubMed's ECitMatch.
# That is NCBI traffic, so it runs in a Celery task: `start_import` records the
# lines, the task fills in the matches, and the curator confirms with
# `confirm_import` after seeing what matched, what did not and what is ambiguous.

_HAS_LETTER = re.compile(r"[^\W\d_]")


class InvalidImport(ValueError):
    """The pasted text cannot be imported as it is; `errors` lists every problem by line."""

    def __init__(self, errors: list[str]):
        self.errors = errors
        super().__init__("; ".join(errors))


def parse_import_lines(text: str) -> tuple[list[dict], list[str]]:
    """Split pasted text (one PMID or one citation string per line) into entries and errors.

    A line with letters must be a citation ("Journal. Year;Volume(Issue):Pages",
    optionally after authors and title); any other line holds PMIDs as
    `parse_pmids` reads them. Each entry is `{line, text, kind, pmid, status,
    candidates, detail}` plus `query` for a citation.
    """
    entries, errors, pmid_lines = [], [], []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = " ".join(line.split())
        if not _HAS_LETTER.search(stripped):
            pmid_lines.append(line)
            continue
        pmid_lines.append("")  # keeps parse_pmids' line numbers right
        query = pubmed.parse_citation_string(stripped)
        if query is None:
            errors.append(
                f"“{stripped}” (line {number}) is neither a PMID nor a citation PubMed can look up; "
                "write it as Journal. Year;Volume(Issue):Pages, e.g. Cell. 2017;168(4):707-723."
            )
            continue
        fields = {"journal": query.journal, "year": query.year, "volume": query.volume}
        fields |= {"first_page": query.first_page, "author": query.author}
        entries.append(_entry(number, stripped, "citation", status="pending", query=fields))
    parsed = parse_pmids("\n".join(pmid_lines))
    errors.extend(parsed.errors)
    line_of = _pmid_lines(pmid_lines)
    entries.extend(_entry(line_of.get(p, 0), str(p), "pmid", pmid=p, status="pmid") for p in parsed.pmids)
    entries.sort(key=lambda entry: entry["line"])
    return entries, errors


def _entry(line: int, text: str, kind: str, *, pmid=None, status: str, query=None) -> dict:
    entry = {"line": line, "text": text, "kind": kind, "pmid": pmid, "status": status, "candidates": [], "detail": ""}
    if query is not None:
        entry["query"] = query
    return entry


def _pmid_lines(lines: list[str]) -> dict[int, int]:
    first_line: dict[int, int] = {}
    for number, line in enumerate(lines, start=1):
        for token in _SEPARATORS.split(line):
            if token.isdigit():
                first_line.setdefault(int(token), number)
    return first_line


def start_import(text: str, *, by) -> ReferenceImport:
    """Record pasted PMIDs and citation strings for import; queue the citation matching after commit.

    Raises InvalidImport, recording nothing, if any line is neither a PMID nor
    a citation, or if there is nothing to import. Without citation strings the
    import is ready at once.
    """
    entries, errors = parse_import_lines(text)
    if not errors and not entries:
        errors = ["Nothing to import: paste one PMID or one citation per line."]
    if errors:
        raise InvalidImport(errors)
    has_citations = any(entry["kind"] == "citation" for entry in entries)
    with transaction.atomic():
        state = ReferenceImport.State.MATCHING if has_citations else ReferenceImport.State.READY
        reference_import = ReferenceImport.objects.create(requested_by=by, entries=entries, state=state)
        if has_citations:
            from curation import tasks  # tasks imports this module

            transaction.on_commit(lambda: tasks.match_import_citations.delay(reference_import.pk))
    return reference_import


def match_import(import_id: int, *, final_attempt: bool = True) -> str:
    """Resolve an import's citation strings with ECitMatch and mark it ready (called by a Celery task).

    Idempotent: an import no longer waiting for matches is left alone. A
    transient NCBI error is re-raised for a retry unless this is the
    `final_attempt`; then, or on any other NCBI error, the import is marked
    failed with the reason.
    """
    reference_import = ReferenceImport.objects.filter(pk=import_id).first()
    if reference_import is None or reference_import.state != ReferenceImport.State.MATCHING:
        return "nothing to match"
    citations = [(i, e) for i, e in enumerate(reference_import.entries) if e["kind"] == "citation"]
    queries = [pubmed.CitationQuery(**entry["query"], key=str(i)) for i, entry in citations]
    try:
        matches = pubmed.match_citations(queries)
    except pubmed.PubMedError as exc:
        if isinstance(exc, refresh.TRANSIENT_ERRORS) and not final_attempt:
            raise
        ReferenceImport.objects.filter(pk=import_id, state=ReferenceImport.State.MATCHING).update(
            state=ReferenceImport.State.FAILED, error=str(exc), matched_at=timezone.now()
        )
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


def importable_pmids(reference_import: ReferenceImport) -> list[int]:
    """The PMIDs an import would add: those typed in and those whose citation matched exactly once."""
    pmids = [e["pmid"] for e in reference_import.entries if e["status"] in ("pmid", "matched") and e["pmid"]]
    return list(dict.fromkeys(pmids))


def confirm_import(reference_import: ReferenceImport, *, by) -> AddResult:
    """Create the references of a ready import and queue their PubMed fetch.

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
