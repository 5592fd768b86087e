"""What a public page offers for citing: the entry's citation, download links, JSON-LD.

Shared by the mechanism page, a version's permalink and the reference page; the
downloads themselves are served by ``cite_views``.
"""

from django.urls import reverse
from django.utils import timezone

from curation.citations import FORMATS
from curation.citations.entries import entry_item, entry_text
from curation.linked_data import mechanism_jsonld

__all__ = ["OFFERED_FORMATS", "distinct_references", "entry_citation", "export_links", "page_jsonld"]

# The formats offered as links, in this order (every key of FORMATS is served).
OFFERED_FORMATS = [(key, f.label) for key, f in FORMATS.items()]


def entry_citation(request, mechanism, version) -> dict:
    """What "Cite this entry" shows for `version`: text, permalink, download links, CSL item."""
    permalink = request.build_absolute_uri(reverse("mechanism-version", args=[mechanism.slug, version.number]))
    facts = {
        "name": mechanism.name,
        "version": version.number,
        "published": timezone.localtime(version.published_at).date(),
        "url": permalink,
        "accessed": timezone.localdate(),
    }
    return {
        "version": version,
        "permalink": permalink,
        "text": entry_text(**facts),
        "item": entry_item(slug=mechanism.slug, **facts),
        "entry_links": export_links("mechanism-version-entry", mechanism.slug, version.number),
        "reference_links": export_links("mechanism-version-references", mechanism.slug, version.number),
    }


def page_jsonld(request, mechanism, version, evidence) -> dict:
    """The mechanism page's JSON-LD: the entry, its version and the papers its evidence cites."""
    references = [
        (reference, request.build_absolute_uri(reference.get_absolute_url()))
        for reference in distinct_references(evidence)
    ]
    return mechanism_jsonld(
        mechanism,
        url=request.build_absolute_uri(mechanism.get_absolute_url()),
        set_url=request.build_absolute_uri(reverse("mechanism-list")),
        version=version,
        references=references,
    )


def distinct_references(evidence) -> list:
    """The references `evidence` cites, each once, in order."""
    seen, references = set(), []
    for item in evidence:
        if item.reference_id not in seen:
            seen.add(item.reference_id)
            references.append(item.reference)
    return references


def export_links(url_name: str, *args) -> list[tuple[str, str]]:
    """(label, address) of every export format for the download view `url_name` with `args`."""
    return [(label, reverse(url_name, args=[*args, key])) for key, label in OFFERED_FORMATS]
