"""Template filters for citing: JSON-LD blocks and compact identifiers."""

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from curation.citations import identifiers
from curation.linked_data import script_json

register = template.Library()


@register.filter
def jsonld_script(data: dict) -> SafeString:
    """A <script type="application/ld+json"> block: data, not code, so a CSP without inline scripts allows it."""
    return format_html('<script type="application/ld+json">{}</script>', mark_safe(script_json(data)))  # noqa: S308 - '<', '>' and '&' escaped


@register.filter
def reference_ids(reference) -> list[identifiers.CompactId]:
    return identifiers.reference_ids(reference)


@register.filter
def gene_ids(gene) -> list[identifiers.CompactId]:
    return identifiers.gene_ids(gene)
