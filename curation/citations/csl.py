"""The one mapping from a Reference to citation fields: a CSL-JSON item.

Every export format is written from this item (RIS and BibTeX translate its
variables, citeproc-py formats it), so each PubMed fact is mapped in one place.
Strings in the item are CSL rich text (see ``text``): safe to render as markup.

Kinds of record and how they map (docs/citations.md has the whole table):

- journal article → ``article-journal``; a retraction notice is one too, with a note
  naming what it retracts; a retracted paper's note says so.
- PubMed book chapter → ``chapter`` (container-title: the book); whole book → ``book``.
- collective authors → ``{"literal": …}``, never split into given and family names.
- partial dates → ``issued`` with only the parts PubMed gives: a season as CSL's
  ``season`` (1-4), a MedlineDate range ("1998 Dec-1999 Jan") as a date range.
- online-only articles → their e-locator ("e41090") as ``page``, no end page.
"""

import re

from curation.citations.books import BookDetails, book_details
from curation.citations.identifiers import is_doi, pmc_url, pubmed_url
from curation.citations.names import csl_name
from curation.citations.notices import notice_note
from curation.citations.text import csl_escape, csl_rich_text

__all__ = ["date_parts", "page_range", "reference_item"]

_MONTHS = {m: i for i, m in enumerate("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(), start=1)}
_SEASONS = {"Spring": 1, "Summer": 2, "Autumn": 3, "Fall": 3, "Winter": 4}
_DATE_TOKEN = re.compile(r"\d{4}|\d{1,2}|[A-Za-z]+")


def page_range(pages: str) -> tuple[str, str]:
    """Split MEDLINE pages into first and last, expanding '707-23' to ('707', '723')."""
    first, _, last = (pages or "").partition("-")
    first, last = first.strip(), last.strip()
    if first.isdigit() and last.isdigit() and len(last) < len(first):
        last = first[: len(first) - len(last)] + last
    return first, last


def _date_point(text: str, inherit: list[int]) -> tuple[list[int], int | None]:
    """[year, month, day] from one side of a PubMed date, missing leading parts taken from `inherit`."""
    year = month = day = season = None
    for token in _DATE_TOKEN.findall(text):
        if len(token) == 4 and token.isdigit():
            year = int(token)
        elif token.isdigit() and month and 1 <= int(token) <= 31:
            day = int(token)
        elif token[:3].capitalize() in _MONTHS and token.isalpha():
            month = _MONTHS[token[:3].capitalize()]
        elif token.capitalize() in _SEASONS:
            season = _SEASONS[token.capitalize()]
    if year is None and inherit:
        year = inherit[0]
        if month is None and day is not None and len(inherit) > 1:
            month = inherit[1]
    parts = [p for p in (year, month, day if month else None) if p is not None]
    return (parts if year else []), season


def date_parts(pub_date: str, pub_year: int | None) -> dict:
    """CSL ``issued`` for PubMed's display date: '2017 Feb 9', '2002 Spring', '1998 Dec-1999 Jan'."""
    start_text, _, end_text = (pub_date or "")[:64].partition("-")
    start, season = _date_point(start_text, [pub_year] if pub_year else [])
    if not start:
        return {"date-parts": [[pub_year]]} if pub_year else {}
    issued: dict = {"date-parts": [start]}
    if end_text:
        end, _ = _date_point(end_text, start)
        if end and end != start and len(end) == len(start):
            issued["date-parts"].append(end)
        elif end and end != start:
            # '2000 Jan 5-Feb': unlike precision; the range is the months (or years) both sides name.
            width = min(len(end), len(start))
            issued["date-parts"] = [start[:width], end[:width]]
    if season and len(start) == 1 and len(issued["date-parts"]) == 1:
        issued["season"] = season
    return issued


def reference_item(reference, *, book: BookDetails | None = None) -> dict:
    """The CSL-JSON item for `reference`; `book` passes book details already read (else from raw_xml)."""
    if reference.is_book and book is None:
        book = book_details(reference.raw_xml)
    first, last = page_range(reference.pages)
    item = {
        "id": f"pmid:{reference.pmid}",
        "type": "article-journal",
        "title": csl_rich_text(reference.title or ""),
        "author": [_escaped_name(a) for a in reference.authors or [] if csl_name(a)],
        "container-title": csl_escape(reference.journal_title or reference.journal_iso),
        "container-title-short": csl_escape(reference.journal_iso),
        "volume": csl_escape(reference.volume),
        "issue": csl_escape(reference.issue),
        "page": csl_escape(f"{first}-{last}" if last else first),
        "issued": date_parts(reference.pub_date, reference.pub_year),
        "DOI": csl_escape(reference.doi) if is_doi(reference.doi) else "",
        "PMID": str(reference.pmid),
        "PMCID": reference.pmcid if pmc_url(reference.pmcid) else "",
        "URL": pubmed_url(reference.pmid),
        "source": "PubMed",
        "abstract": _abstract(reference),
        "keyword": csl_escape(", ".join(reference.keywords or [])),
        "note": csl_escape(notice_note(reference)),
    }
    if reference.is_book:
        item.update(_book_fields(reference, book))
    return {key: value for key, value in item.items() if value}


def _book_fields(reference, book: BookDetails) -> dict:
    has_own_title = book.is_chapter or (not book.publisher and reference.title != reference.journal_title)
    fields = {
        "type": "chapter" if has_own_title else "book",
        "container-title-short": "",
        "issue": "",
        "editor": [_escaped_name(a) for a in book.editors if csl_name(a)],
        "publisher": csl_escape(book.publisher),
        "publisher-place": csl_escape(book.place),
        "edition": csl_escape(book.edition),
        "ISBN": csl_escape(book.isbn),
        "chapter-number": csl_escape(book.chapter),
    }
    if not has_own_title:
        # A whole book: its title is the item's title, not a container's.
        fields["container-title"] = ""
    return fields


def _escaped_name(author: dict) -> dict:
    return {part: csl_escape(value) for part, value in csl_name(author).items()}


def _abstract(reference) -> str:
    sections = []
    for section in reference.abstract or []:
        text = csl_rich_text(section.get("text", ""))
        label = csl_escape(section.get("label", ""))
        sections.append(f"{label}: {text}" if label else text)
    return " ".join(section for section in sections if section)
