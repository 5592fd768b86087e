"""Reading what curators paste: PMIDs and citation strings. Plain text in, typed values out; no Django.

What counts as a PMID: a whole number written with digits only, 1 to 9 digits
long, without a leading zero. PubMed's identifiers have 8 digits today; one
more digit leaves decades of headroom, while anything longer is certainly a
typo (or another identifier pasted by mistake). Signs, decimal points, leading
zeros ("007") and prefixes ("PMID:123") are refused rather than guessed at,
so that what is created is exactly what the curator meant.

A citation string is what PubMed prints under a paper, e.g. "Sharma P, et al.
Cell. 2017 Feb 9;168(4):707-723."; `parse_citation_string` picks out the
fields PubMed's ECitMatch looks a citation up by.
"""

import re
from dataclasses import dataclass, field

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


# --- Citation strings ---------------------------------------------------------


@dataclass(frozen=True)
class CitationQuery:
    """One citation to look up; ``key`` is the caller's label, echoed in the match."""

    journal: str
    year: int | str | None
    volume: str = ""
    first_page: str = ""
    author: str = ""
    key: str = ""


# Every repeat is bounded, so a search costs a constant per position and a line costs time
# linear in its length, whatever it holds: unbounded lazy repeats made "2017 2017 2017 ..."
# quadratic (an 80 kB line took 13 s).
_CITATION_TAIL = re.compile(
    r"(?P<year>(?:1[6-9]|20)\d\d)"  # publication year
    r"[^;:().]{0,40}?"  # month, day, season or a range such as " Dec-1999 Jan"; no "." so a year in a title is skipped
    r";\s{0,5}(?P<volume>[^;:()\s][^;:()]{0,40}?)?\s{0,5}"
    r"(?:\((?P<issue>[^)]{0,40})\))?\s{0,5}"
    r":\s{0,5}(?P<pages>[A-Za-z]{0,8}\d\w{0,20}(?:-\w{1,20})?)"
)
_AUTHOR = re.compile(r"^\s*(?P<last>[^\W\d][\w'’-]*(?: [^\W\d][\w'’-]*)*?) (?P<initials>[A-Z]{1,4})(?:,|\s+et al|$)")


def parse_citation_string(text: str, key: str | None = None) -> CitationQuery | None:
    """Parse a PubMed-style citation into a ``CitationQuery``, or return None.

    Understands "Journal. Year [Mon [Day]];Vol(Issue):Pages", optionally after
    "Authors." and "Title." sentences, as in
    "Sharma P, et al. Primary, adaptive... Cell. 2017 Feb 9;168(4):707-723."
    ``key`` defaults to the stripped input.
    """
    text = " ".join((text or "").split())
    match = _CITATION_TAIL.search(text)
    if match is None:
        return None
    sentences = [s.strip() for s in re.split(r"\.\s+", text[: match.start()].strip().rstrip(".")) if s.strip()]
    if not sentences:
        return None
    journal = sentences[-1]
    author_match = _AUTHOR.match(sentences[0]) if len(sentences) > 1 else None
    author = f"{author_match['last']} {author_match['initials']}" if author_match else ""
    pages = match["pages"]
    return CitationQuery(
        journal=journal,
        year=int(match["year"]),
        volume=(match["volume"] or "").strip(),
        first_page=pages.split("-", 1)[0],
        author=author,
        key=text if key is None else key,
    )


# --- A whole paste ------------------------------------------------------------

_HAS_LETTER = re.compile(r"[^\W\d_]")
# A citation string is a line a person wrote; anything longer is not one, and the bound keeps the
# work per line proportional to what a citation can hold. (Lines of PMIDs may be as long as they like.)
MAX_CITATION_LENGTH = 2_000


@dataclass(frozen=True)
class PastedCitation:
    line: int  # 1-based line of the paste
    text: str  # the line, white space folded
    query: CitationQuery  # keyed by `text`


@dataclass(frozen=True)
class Paste:
    """What a paste holds: PMIDs (each once, in order), citation strings, and every problem by line."""

    pmids: list[int]
    repeated: list[int]
    citations: list[PastedCitation]
    errors: list[str]


def parse_paste(text: str) -> Paste:
    """Split pasted text into PMIDs and citation strings, one citation per line.

    A line with letters must be a citation ("Journal. Year;Volume(Issue):Pages",
    optionally after authors and title) of at most MAX_CITATION_LENGTH
    characters; any other line holds PMIDs as `parse_pmids` reads them. Errors
    name the line and what is wrong with it.
    """
    citations, errors, pmid_lines = [], [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if not _HAS_LETTER.search(line):
            pmid_lines.append(line)
            continue
        pmid_lines.append("")  # keeps parse_pmids' line numbers right
        if len(line) > MAX_CITATION_LENGTH:
            errors.append(
                f"Line {number} has {len(line):,} characters; a citation has at most {MAX_CITATION_LENGTH:,}."
            )
            continue
        stripped = " ".join(line.split())
        query = parse_citation_string(stripped)
        if query is None:
            errors.append(
                f"“{stripped}” (line {number}) is neither a PMID nor a citation PubMed can look up; "
                "write it as Journal. Year;Volume(Issue):Pages, e.g. Cell. 2017;168(4):707-723."
            )
            continue
        citations.append(PastedCitation(line=number, text=stripped, query=query))
    parsed = parse_pmids("\n".join(pmid_lines))
    return Paste(pmids=parsed.pmids, repeated=parsed.repeated, citations=citations, errors=errors + parsed.errors)
