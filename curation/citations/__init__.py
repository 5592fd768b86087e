"""How the atlas's content is cited and exported.

- ``export_references(references, fmt)``: any references as RIS, BibTeX, CSL-JSON or a
  Vancouver/APA bibliography (``export``); views use ``responses.export_response``.
- ``csl.reference_item``: the one mapping of a Reference's fields; every format is written from it.
- ``entries``: citing an atlas entry (a published version of a mechanism).
- ``nlm``: the citations shown on pages; ``names``: author name forms; ``identifiers``: URLs
  and compact identifiers; ``text``: PubMed markup as each format may carry it.
"""

from curation.citations.export import (
    FORMATS,
    MAX_BIBLIOGRAPHY_REFERENCES,
    MAX_EXPORT_REFERENCES,
    Export,
    UnknownFormat,
    export_items,
    export_references,
    reference_items,
)
from curation.citations.identifiers import doi_url
from curation.citations.nlm import format_citation, format_citation_html

__all__ = [
    "FORMATS",
    "MAX_BIBLIOGRAPHY_REFERENCES",
    "MAX_EXPORT_REFERENCES",
    "Export",
    "UnknownFormat",
    "doi_url",
    "export_items",
    "export_references",
    "format_citation",
    "format_citation_html",
    "reference_items",
]
