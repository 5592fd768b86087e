"""Template filters for the public pages.

PubMed markup (titles, abstract sections) is stored already sanitised by the
PubMed parser; `inline_markup` sanitises it again with the same allow-list
before marking it safe, because the database can also be edited by hand.
"""

from django import template
from django.utils.safestring import SafeString, mark_safe

from curation import citations
from curation.citations import identifiers, names
from curation.citations.notices import CORRECTION_LABELS
from curation.pubmed_records import plain_text, sanitize_html

register = template.Library()


@register.filter
def inline_markup(value) -> SafeString:
    """PubMed's inline HTML and MathML, sanitised again with the allow-list, then marked safe."""
    return mark_safe(sanitize_html(str(value or "")))  # noqa: S308 - nh3 allow-list output


@register.filter
def plain(value) -> str:
    """PubMed markup as plain text (for <title> and other places that take no tags); escaped on output."""
    return plain_text(str(value or ""))


@register.filter
def citation(reference) -> SafeString:
    return citations.format_citation_html(reference)


@register.filter
def citation_text(reference) -> str:
    return citations.format_citation(reference)


@register.filter
def display_name(author: dict) -> str:
    """Full name for the reference page: 'Padmanee Sharma', or a collective name as is."""
    return names.display_name(author)


@register.filter
def first_author(authors) -> str:
    """The first author in NLM form, 'Sharma P'."""
    return names.first_author_nlm(authors)


@register.filter
def correction_label(correction: dict) -> str:
    kind = correction.get("type", "")
    return CORRECTION_LABELS.get(kind, kind)


@register.filter
def doi_url(doi: str) -> str:
    return identifiers.doi_url(doi)


@register.filter
def pmc_url(pmcid: str) -> str:
    return identifiers.pmc_url(pmcid)


@register.filter
def pubmed_url(pmid) -> str:
    return identifiers.pubmed_url(pmid)
