"""The one view helper for citation downloads."""

from django.http import Http404, HttpResponse
from django.utils.text import slugify

from curation.citations.export import FORMATS, export_items, export_references

__all__ = ["export_response", "items_response"]


def _attachment(export, filename: str) -> HttpResponse:
    response = HttpResponse(export.content, content_type=f"{export.media_type}; charset=utf-8")
    # The stem is slugified: no quote, semicolon or line break can reach the header.
    stem = slugify(filename)[:80] or "references"
    response["Content-Disposition"] = f'attachment; filename="{stem}.{export.extension}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


def export_response(references, fmt: str, *, filename: str, title: str = "References") -> HttpResponse:
    """Download of `references` (a QuerySet of published references, in a stable order) as `fmt`.

    An unknown format is a 404. More references than the format's ``max_references`` (1,000; 100 for
    a formatted bibliography) answer 400 with a message saying so, and nothing is rendered.
    """
    if fmt not in FORMATS:
        raise Http404("Unknown citation format.")
    limit = FORMATS[fmt].max_references
    references = list(references.defer("raw_xml")[: limit + 1])
    if len(references) > limit:
        return HttpResponse(
            f"At most {limit} references can be exported at once as {FORMATS[fmt].label}; "
            "narrow the selection or choose RIS, BibTeX or CSL-JSON.\n",
            status=400,
            content_type="text/plain; charset=utf-8",
        )
    return _attachment(export_references(references, fmt, title=title), filename)


def items_response(items: list[dict], fmt: str, *, filename: str, title: str) -> HttpResponse:
    """Download of ready CSL items (an atlas entry's own citation) as `fmt`; unknown formats are a 404."""
    if fmt not in FORMATS:
        raise Http404("Unknown citation format.")
    return _attachment(export_items(items, fmt, title=title), filename)
