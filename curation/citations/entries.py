"""Citing the atlas itself: one published version of a mechanism's entry.

The citation names the version number and its publication date and points at the
version's permalink, so that what a reader cites stays the text they read after
later edits. In CSL it is an ``entry-encyclopedia`` (Zotero: Encyclopedia Article)
in the container "Resistance Atlas".
"""

from datetime import date, datetime

from curation.citations.text import csl_escape

__all__ = ["ATLAS_NAME", "entry_item", "entry_text"]

ATLAS_NAME = "Resistance Atlas"


def _parts(day: date | datetime) -> list[int]:
    return [day.year, day.month, day.day]


def entry_item(*, name: str, slug: str, version: int, published: date, url: str, accessed: date) -> dict:
    """The CSL item for version `version` of the entry `name`, published on `published`, at `url`."""
    return {
        "id": f"resistance-atlas:{slug}:v{version}",
        "type": "entry-encyclopedia",
        "title": csl_escape(name),
        "container-title": ATLAS_NAME,
        "publisher": ATLAS_NAME,
        "version": str(version),
        "issued": {"date-parts": [_parts(published)]},
        "accessed": {"date-parts": [_parts(accessed)]},
        "URL": url,
    }


def entry_text(*, name: str, version: int, published: date, url: str, accessed: date) -> str:
    """'Resistance Atlas. B2M loss. Version 3, published 2 May 2025. <url>. Accessed 9 May 2025.' (plain text)."""
    return (
        f"{ATLAS_NAME}. {name}. Version {version}, published {published.day} {published:%B %Y}. {url}. "
        f"Accessed {accessed.day} {accessed:%B %Y}."
    )
