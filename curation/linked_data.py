"""schema.org JSON-LD for mechanism and reference pages.

A mechanism is a ``DefinedTerm`` in the atlas's ``DefinedTermSet``; it is typed
``CreativeWork`` too, because schema.org gives ``citation``, ``version`` and
``datePublished`` to creative works only. A reference is a ``ScholarlyArticle``
(a ``Chapter`` or ``Book`` for PubMed's book records) with its identifiers as
``PropertyValue``s named by Bioregistry prefixes and ``sameAs`` links.

Values are plain text: consumers of JSON-LD show strings as they are.
``script_json`` makes the JSON safe inside ``<script type="application/ld+json">``.
"""

import json

from curation.citations.csl import date_parts, page_range
from curation.citations.entries import ATLAS_NAME
from curation.citations.identifiers import reference_ids
from curation.citations.names import display_name
from curation.pubmed_records import plain_text

__all__ = ["mechanism_jsonld", "reference_jsonld", "script_json"]

SCHEMA_CONTEXT = "https://schema.org"
# What Django's json_script escapes: no '</script>', '<!--' or entity can form inside the block.
_SCRIPT_ESCAPES = {ord("<"): "\\u003C", ord(">"): "\\u003E", ord("&"): "\\u0026"}


def script_json(data: dict) -> str:
    """`data` as JSON that cannot end or alter the <script> element holding it."""
    return json.dumps(data, ensure_ascii=False, sort_keys=False).translate(_SCRIPT_ESCAPES)


def _iso_date(reference) -> str:
    parts = (date_parts(reference.pub_date, reference.pub_year).get("date-parts") or [[]])[0]
    return "-".join(f"{p:02d}" if i else f"{p:04d}" for i, p in enumerate(parts))


def _person(author: dict) -> dict:
    if author.get("collective_name"):
        return {"@type": "Organization", "name": author["collective_name"]}
    person = {
        "@type": "Person",
        "name": display_name(author),
        "familyName": author.get("last_name", ""),
        "givenName": author.get("fore_name") or author.get("initials", ""),
    }
    if author.get("orcid"):
        person["@id"] = f"https://orcid.org/{author['orcid']}"
    return {key: value for key, value in person.items() if value}


def _identifiers(reference) -> tuple[list[dict], list[str]]:
    ids = reference_ids(reference)
    return (
        [{"@type": "PropertyValue", "propertyID": i.prefix, "value": i.local_id} for i in ids],
        [i.url for i in ids],
    )


def _container(reference) -> dict | None:
    """Where the paper appeared: issue within volume within journal, or the book of a chapter."""
    source = reference.journal_title or reference.journal_iso
    if not source:
        return None
    if reference.is_book:
        return {"@type": "Book", "name": source}
    node: dict = {"@type": "Periodical", "name": source}
    if reference.volume:
        node = {"@type": "PublicationVolume", "volumeNumber": reference.volume, "isPartOf": node}
    if reference.issue:
        node = {"@type": "PublicationIssue", "issueNumber": reference.issue, "isPartOf": node}
    return node


def _article_type(reference) -> str:
    if not reference.is_book:
        return "ScholarlyArticle"
    return "Book" if plain_text(reference.title or "") == reference.journal_title else "Chapter"


def reference_summary(reference, *, url: str) -> dict:
    """The short node a mechanism cites: type, name, identifiers."""
    identifier, same_as = _identifiers(reference)
    return {
        "@type": _article_type(reference),
        "@id": url,
        "name": plain_text(reference.title or "") or f"PMID {reference.pmid}",
        "identifier": identifier,
        "sameAs": same_as,
    }


def reference_jsonld(reference, *, url: str) -> dict:
    """The JSON-LD document of a reference page at `url`."""
    node = {"@context": SCHEMA_CONTEXT, **reference_summary(reference, url=url), "url": url}
    first, last = page_range(reference.pages)
    extra = {
        "headline": node["name"],
        "author": [_person(a) for a in reference.authors or [] if display_name(a)],
        "datePublished": _iso_date(reference),
        "isPartOf": _container(reference),
        "pagination": f"{first}-{last}" if last else first,
        "creativeWorkStatus": "Retracted" if reference.is_retracted else "",
    }
    node.update({key: value for key, value in extra.items() if value})
    return node


def mechanism_jsonld(mechanism, *, url: str, set_url: str, version, references: list[tuple]) -> dict:
    """The JSON-LD document of a mechanism page (or of one version's permalink) at `url`.

    `version` is the PublishedVersion shown (or None); `references` pairs each cited
    Reference with the absolute URL of its page, in the page's order.
    """
    node = {
        "@context": SCHEMA_CONTEXT,
        "@type": ["DefinedTerm", "CreativeWork"],
        "@id": url,
        "url": url,
        "name": mechanism.name,
        "termCode": mechanism.slug,
        "description": mechanism.summary,
        "inDefinedTermSet": {"@type": "DefinedTermSet", "@id": set_url, "url": set_url, "name": ATLAS_NAME},
        "citation": [reference_summary(reference, url=ref_url) for reference, ref_url in references],
    }
    if version is not None:
        node["version"] = str(version.number)
        node["datePublished"] = version.published_at.date().isoformat()
    return node
