"""Citations shown on the atlas's own pages: NLM/Vancouver, plain text and HTML.

Hand-written rather than rendered by citeproc-py (which the exports use): a mechanism
page shows one citation per evidence row on every view, and this formatter is about
a hundred times faster (scripts/benchmark_citations.py, docs/citations.md). It
follows the same NLM rules as the exported Vancouver bibliography.

Reference.title is stored as sanitised HTML (PubMed's inline markup); the plain
form strips it, the HTML form sanitises it again before marking it safe. Every
other field is plain text and is escaped.
"""

import re

from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from curation.citations.identifiers import doi_url, is_doi
from curation.citations.names import nlm_name
from curation.pubmed_records import plain_text, sanitize_html

__all__ = ["author_list", "format_citation", "format_citation_html", "publication_year"]

MAX_AUTHORS = 6  # NLM: list the first six, then "et al."


def author_list(reference) -> str:
    """'Sharma P, Hu-Lieskovan S': the first six in NLM form, then 'et al.'"""
    names = [name for name in (nlm_name(a) for a in reference.authors or []) if name]
    if len(names) > MAX_AUTHORS:
        return ", ".join(names[:MAX_AUTHORS]) + ", et al."
    return ", ".join(names)


def publication_year(reference) -> str:
    if reference.pub_year:
        return str(reference.pub_year)
    match = re.search(r"\b\d{4}\b", reference.pub_date or "")
    return match.group(0) if match else ""


def source_details(reference) -> str:
    """'2017;168(4):707-723': year, then volume, issue and pages where known."""
    text = publication_year(reference)
    if reference.volume:
        text += f";{reference.volume}"
    if reference.issue:
        text += f"({reference.issue})" if reference.volume else f";({reference.issue})"
    if reference.pages:
        text += f":{reference.pages}"
    return text


def _with_stop(text: str) -> str:
    # A title already ending in ? or ! keeps its own punctuation.
    text = text.rstrip()
    return text if not text or text[-1] in ".?!" else f"{text}."


def _parts(reference) -> dict:
    return {
        "authors": author_list(reference),
        "title": plain_text(reference.title or ""),
        "journal": reference.journal_iso or reference.journal_title,
        "source": source_details(reference),
    }


def format_citation(reference) -> str:
    """Vancouver/NLM citation as plain text.

    'Sharma P, Hu-Lieskovan S, Wargo JA, Ribas A. Primary, Adaptive, and Acquired
    Resistance to Cancer Immunotherapy. Cell. 2017;168(4):707-723.
    doi: 10.1016/j.cell.2017.01.017. PMID: 28187290.'
    """
    p = _parts(reference)
    pieces = [_with_stop(p["authors"]), _with_stop(p["title"]), _with_stop(p["journal"]), _with_stop(p["source"])]
    if is_doi(reference.doi):
        pieces.append(f"doi: {reference.doi}.")
    pieces.append(f"PMID: {reference.pmid}.")
    return " ".join(piece for piece in pieces if piece)


def format_citation_html(reference) -> SafeString:
    """The same citation as safe HTML: title markup kept (sanitised again), DOI and PMID linked."""
    p = _parts(reference)
    title_html = sanitize_html(reference.title or "")
    # The stop goes after the markup, judged on the visible text.
    title_stop = "" if not p["title"] or p["title"].rstrip()[-1] in ".?!" else "."
    pieces = []
    if p["authors"]:
        pieces.append(format_html("{}", _with_stop(p["authors"])))
    if title_html:
        pieces.append(format_html('<span class="citation-title">{}</span>{}', mark_safe(title_html), title_stop))  # noqa: S308
    if p["journal"]:
        pieces.append(format_html('<span class="citation-journal">{}</span>', _with_stop(p["journal"])))
    if p["source"]:
        pieces.append(format_html("{}", _with_stop(p["source"])))
    if is_doi(reference.doi):
        pieces.append(format_html('doi: <a href="{}">{}</a>.', doi_url(reference.doi), reference.doi))
    pieces.append(format_html('PMID: <a href="{}">{}</a>.', reference.pubmed_url, reference.pmid))
    return mark_safe(" ".join(pieces))  # noqa: S308 - every piece above came from format_html
