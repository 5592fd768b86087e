"""BibTeX from CSL items: values escaped here, the file written by bibtexparser.

Fields follow BibTeX's standard entry types (article, incollection, book, misc) with
the usual extras that biblatex and Zotero read: doi, url, pmid, pmcid, isbn, keywords,
abstract, version, urldate. Values stay UTF-8 (biber and Zotero read it; bibtex 8-bit
users can run the file through biber --output-safechars). Titles are wrapped in an extra
pair of braces so that styles which lower-case titles keep gene names such as B2M.
"""

import re

import bibtexparser
from bibtexparser.model import Entry, Field

from curation.citations.text import latex, plain

__all__ = ["to_bibtex"]

_TYPES = {"article-journal": "article", "chapter": "incollection", "book": "book"}


def _names(names: list[dict]) -> str:
    out = []
    for name in names:
        if "literal" in name:
            # Braces keep a group name from being split into first and last names.
            out.append("{" + latex(name["literal"]) + "}")
        else:
            family, given = latex(name.get("family", "")), latex(name.get("given", ""))
            out.append(f"{family}, {given}" if family and given else family or given)
    return " and ".join(name for name in out if name.strip("{}"))


_VERBATIM_SAFE = re.compile(r"[^{}\\\s]*")


def _verbatim(value: str) -> str:
    """A DOI or URL as biblatex's verbatim fields want it: unescaped, or left out if it could break the entry."""
    return value if _VERBATIM_SAFE.fullmatch(value or "") else ""


def citation_key(item: dict) -> str:
    """'Sharma2017_28187290': first author's family name, year and PMID (unique, stable, ASCII)."""
    names = item.get("author") or item.get("editor") or [{}]
    first = plain(names[0].get("family") or names[0].get("literal") or "")
    year = str(((item.get("issued") or {}).get("date-parts") or [[""]])[0][0])
    stem = re.sub(r"[^A-Za-z0-9]", "", first)[:40] or "ref"
    suffix = item.get("PMID") or re.sub(r"[^A-Za-z0-9]", "", str(item.get("id", "")))[-40:]
    return f"{stem}{year}_{suffix}"


def _entry(item: dict) -> Entry:
    kind = item.get("type", "article-journal")
    entry_type = _TYPES.get(kind, "misc")
    issued = item.get("issued") or {}
    date = (issued.get("date-parts") or [[]])[0]
    first, _, last = (item.get("page") or "").partition("-")
    container = latex(item.get("container-title", ""))
    accessed = ((item.get("accessed") or {}).get("date-parts") or [[]])[0]
    fields = {
        "author": _names(item.get("author", [])),
        "editor": _names(item.get("editor", [])),
        "title": "{" + latex(item.get("title", "")) + "}" if item.get("title") else "",
        "journal": container if entry_type == "article" else "",
        "booktitle": container if entry_type == "incollection" else "",
        "howpublished": container if entry_type == "misc" else "",
        "year": str(date[0]) if date else "",
        "month": str(date[1]) if len(date) > 1 else "",
        "volume": latex(item.get("volume", "")),
        "number": latex(item.get("issue", "")),
        "pages": latex(f"{first}--{last}" if last else first),
        "chapter": latex(item.get("chapter-number", "")),
        "edition": latex(item.get("edition", "")),
        "version": latex(item.get("version", "")),
        "publisher": latex(item.get("publisher", "")),
        "address": latex(item.get("publisher-place", "")),
        "isbn": latex(item.get("ISBN", "")),
        "doi": _verbatim(plain(item.get("DOI", ""))),
        "pmid": item.get("PMID", ""),
        "pmcid": item.get("PMCID", ""),
        "url": _verbatim(item.get("URL", "")),
        "urldate": "-".join(f"{p:02d}" if i else str(p) for i, p in enumerate(accessed)),
        "keywords": latex(item.get("keyword", "")),
        "abstract": latex(item.get("abstract", "")),
        "note": latex(item.get("note", "")),
    }
    return Entry(entry_type, citation_key(item), [Field(k, v) for k, v in fields.items() if v])


def to_bibtex(items: list[dict]) -> str:
    """A BibTeX file with one entry per CSL item, in order."""
    library = bibtexparser.Library()
    for item in items:
        library.add(_entry(item))
    return bibtexparser.write_string(library)
