"""Export any list of references (or ready CSL items) in any citation format.

This is the one entry point for every export: a reference page, a mechanism's
references, search results, a filtered evidence table, the API and data releases
all call ``export_references`` (views go through ``responses.export_response``).
"""

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from curation.citations.bibliography import STYLES, bibliography_html, bibliography_text
from curation.citations.bibtex import to_bibtex
from curation.citations.books import book_details
from curation.citations.csl import reference_item
from curation.citations.ris import to_ris

__all__ = [
    "FORMATS",
    "MAX_BIBLIOGRAPHY_REFERENCES",
    "MAX_EXPORT_REFERENCES",
    "Export",
    "ExportFormat",
    "UnknownFormat",
    "export_items",
    "export_references",
    "reference_items",
]

# What one web request may render (responses.export_response enforces it; offline callers such as data
# releases may export more). citeproc-py formats only 30-200 entries a second on one core, so formatted
# bibliographies are capped lower than the reference-manager formats (scripts/benchmark_citations.py).
MAX_EXPORT_REFERENCES = 1000
MAX_BIBLIOGRAPHY_REFERENCES = 100


class UnknownFormat(ValueError):
    """The format name is not one of FORMATS."""


@dataclass(frozen=True)
class ExportFormat:
    key: str
    label: str
    media_type: str
    extension: str
    write: Callable[[list[dict], str], str]
    max_references: int = MAX_EXPORT_REFERENCES


@dataclass(frozen=True)
class Export:
    """A rendered export: its text, media type and file extension."""

    content: str
    media_type: str
    extension: str


def _csl_json(items: list[dict], title: str) -> str:
    return json.dumps(items, ensure_ascii=False, indent=2) + "\n"


def _formats() -> dict[str, ExportFormat]:
    formats = [
        ExportFormat("ris", "RIS", "application/x-research-info-systems", "ris", lambda items, title: to_ris(items)),
        ExportFormat("bibtex", "BibTeX", "application/x-bibtex", "bib", lambda items, title: to_bibtex(items)),
        ExportFormat("csl-json", "CSL-JSON", "application/vnd.citationstyles.csl+json", "json", _csl_json),
    ]
    for name, style in STYLES.items():
        formats.append(
            ExportFormat(
                f"{name}.txt", f"{style.label}, text", "text/plain", f"{name}.txt",
                lambda items, title, name=name: bibliography_text(items, name), MAX_BIBLIOGRAPHY_REFERENCES,
            )
        )  # fmt: skip
        formats.append(
            ExportFormat(
                f"{name}.html", f"{style.label}, HTML", "text/html", f"{name}.html",
                lambda items, title, name=name: bibliography_html(items, name, title=title),
                MAX_BIBLIOGRAPHY_REFERENCES,
            )
        )  # fmt: skip
    return {f.key: f for f in formats}


FORMATS = _formats()


def reference_items(references: Iterable) -> list[dict]:
    """CSL items for `references` in their order; book records' details are read in one query."""
    references = list(references)
    books = [r for r in references if r.is_book]
    stored_xml = {}
    loaded = [r for r in books if r.pk is not None and "raw_xml" in r.get_deferred_fields()]
    if loaded:
        model = type(loaded[0])
        stored_xml = dict(model.objects.filter(pk__in=[r.pk for r in loaded]).values_list("pk", "raw_xml"))
    items = []
    for reference in references:
        book = None
        if reference.is_book:
            raw_xml = stored_xml.get(reference.pk) if reference.pk in stored_xml else reference.raw_xml
            book = book_details(raw_xml)
        items.append(reference_item(reference, book=book))
    return items


def export_items(items: list[dict], fmt: str, *, title: str = "References") -> Export:
    """Render CSL items (from ``reference_items`` or an atlas entry's citation) as `fmt`."""
    try:
        export_format = FORMATS[fmt]
    except KeyError:
        raise UnknownFormat(f"Unknown citation format {fmt!r}; choose one of {', '.join(FORMATS)}.") from None
    return Export(export_format.write(items, title), export_format.media_type, export_format.extension)


def export_references(references: Iterable, fmt: str, *, title: str = "References") -> Export:
    """Export references as `fmt` (a key of FORMATS: ris, bibtex, csl-json, vancouver.txt, apa.html, …).

    `references` is any iterable of Reference rows, e.g. a QuerySet (its order is kept; give it a
    stable ``order_by``). The caller decides what may be shown (published content only) and, in a
    request, bounds the count (``FORMATS[fmt].max_references``; export_response does both).
    `title` names an HTML bibliography. Raises UnknownFormat for a format name not in FORMATS.
    Runs one extra query when book records are among them and their stored XML was deferred.
    """
    if fmt not in FORMATS:
        raise UnknownFormat(f"Unknown citation format {fmt!r}; choose one of {', '.join(FORMATS)}.")
    return export_items(reference_items(references), fmt, title=title)
