"""RIS (EndNote, Zotero, Mendeley) from CSL items, written by rispy.

Tags follow the RIS specification as Zotero's RIS translator reads them: T2 is the
journal of an article but the book of a chapter; editors are A2 in a chapter and A3
in a book; SP of a whole book would be its page count, so a book has none.
"""

import rispy

from curation.citations.text import one_line, plain

__all__ = ["to_ris"]

_TYPES = {"article-journal": "JOUR", "chapter": "CHAP", "book": "BOOK", "entry-encyclopedia": "ENCYC"}


class _Writer(rispy.RisWriter):
    # rispy numbers each record ("1.") on a line of its own; RIS readers take it for junk.
    def set_header(self, count):
        return ""


def _names(names: list[dict]) -> list[str]:
    out = []
    for name in names:
        if "literal" in name:
            out.append(plain(name["literal"]))
        else:
            family, given = plain(name.get("family", "")), plain(name.get("given", ""))
            out.append(f"{family}, {given}" if family and given else family or given)
    return [name for name in out if name]


def _date(issued: dict) -> str:
    """RIS DA: 'YYYY/MM/DD/other', e.g. '2017/02/09/', '2002///Spring'."""
    parts = (issued.get("date-parts") or [[]])[0]
    if not parts:
        return ""
    month = f"{parts[1]:02d}" if len(parts) > 1 else ""
    day = f"{parts[2]:02d}" if len(parts) > 2 else ""
    season = {1: "Spring", 2: "Summer", 3: "Autumn", 4: "Winter"}.get(issued.get("season"), "")
    return f"{parts[0]}/{month}/{day}/{season}"


def _record(item: dict) -> dict:
    kind = item.get("type", "article-journal")
    ty = _TYPES.get(kind, "GEN")
    first, _, last = (item.get("page") or "").partition("-")
    issued = item.get("issued") or {}
    record = {
        "type_of_reference": ty,
        "authors": _names(item.get("author", [])),
        # Zotero maps A2 to a chapter's editors and A3 to a book's (A2 is a book's series editor).
        "secondary_authors" if ty != "BOOK" else "tertiary_authors": _names(item.get("editor", [])),
        "title": plain(item.get("title", "")),
        "secondary_title": plain(item.get("container-title", "")),
        "alternate_title1": plain(item.get("container-title-short", "")),
        "year": str((issued.get("date-parts") or [[""]])[0][0]),
        "date": _date(issued),
        "volume": plain(item.get("volume", "")),
        "number": plain(item.get("issue", "")),
        "start_page": "" if ty == "BOOK" else plain(first),
        "end_page": "" if ty == "BOOK" else plain(last),
        "edition": plain(item.get("edition", "")) or plain(item.get("version", "")),
        "publisher": plain(item.get("publisher", "")),
        "place_published": plain(item.get("publisher-place", "")),
        "issn": plain(item.get("ISBN", "")),
        "doi": plain(item.get("DOI", "")),
        "accession_number": item.get("PMID", ""),
        "name_of_database": plain(item.get("source", "")),
        # EndNote's tag for a PMCID; Zotero keeps it as a note.
        "custom2": item.get("PMCID", ""),
        "urls": [item["URL"]] if item.get("URL") else [],
        "access_date": _date(item.get("accessed") or {}).rstrip("/"),
        "abstract": plain(item.get("abstract", "")),
        "keywords": [plain(k) for k in (item.get("keyword") or "").split(", ") if plain(k)],
        "notes": [plain(item["note"])] if item.get("note") else [],
    }
    # RIS is one value per line: no value may carry a line break into the next tag.
    return {
        key: ([one_line(v) for v in value] if isinstance(value, list) else one_line(value))
        for key, value in record.items()
        if value
    }


def to_ris(items: list[dict]) -> str:
    """RIS text with one record per CSL item, in order."""
    return rispy.dumps([_record(item) for item in items], implementation=_Writer)
