"""Public pages and downloads for citing: exports, published versions and their permalinks.

Published content only, as on every public page: a mechanism must be published (a
retired one answers 410), a version is one of its publications (never a draft, a
state in review or a revision's text), a reference must be cited by a published
mechanism.
"""

from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_safe

from curation.citations.responses import export_response, items_response
from curation.citing import distinct_references, entry_citation, export_links, page_jsonld
from curation.models import Mechanism, Reference, Status
from curation.page_cache import public_page
from curation.search.evidence import cited_references
from curation.versions import published_versions, version_evidence, version_record
from curation.views import _public_reference, is_public, mark_first_citations


def published_mechanism(slug):
    """The published mechanism at `slug`, or None if it is retired; 404 for anything else."""
    mechanism = get_object_or_404(
        Mechanism.objects.select_related("parent__parent"), slug=slug, revision_of__isnull=True
    )
    if mechanism.status == Status.RETIRED:
        return None
    if not is_public(mechanism):
        raise Http404("No published mechanism has this address.")
    return mechanism


def _retired(request, slug):
    mechanism = Mechanism.objects.select_related("parent").get(slug=slug, revision_of__isnull=True)
    parent = mechanism.parent if is_public(mechanism.parent) else None
    return render(request, "curation/mechanism_retired.html", {"mechanism": mechanism, "parent": parent}, status=410)


def _version(versions, number):
    if not 1 <= number <= len(versions):
        raise Http404("This mechanism has no published version with this number.")
    return versions[number - 1]


@public_page
@require_safe
def reference_export(request, pmid, fmt):
    """One reference as a download (RIS, BibTeX, CSL-JSON, a formatted bibliography)."""
    reference = _public_reference(pmid)
    return export_response(
        Reference.objects.filter(pk=reference.pk), fmt, filename=f"pmid-{reference.pmid}", title=f"PMID {pmid}"
    )


@public_page
@require_safe
def mechanism_export(request, slug, fmt):
    """Every reference the published mechanism's evidence cites, newest first, as a download."""
    mechanism = published_mechanism(slug)
    if mechanism is None:
        return _retired(request, slug)
    references = Reference.objects.filter(evidence__mechanism=mechanism).distinct().order_by("-pub_year", "pmid")
    return export_response(references, fmt, filename=f"{mechanism.slug}-references", title=mechanism.name)


@public_page
@require_safe
def evidence_export(request, fmt):
    """The papers cited by the evidence a search or the evidence table selects (same GET parameters)."""
    references = cited_references(request.GET)
    if references is None:
        return HttpResponse(
            "These filters cannot be applied; open the search again and change them.\n",
            status=400,
            content_type="text/plain; charset=utf-8",
        )
    return export_response(references, fmt, filename="atlas-evidence-references", title="Evidence references")


@public_page
@require_safe
def mechanism_versions(request, slug):
    """The public list of a mechanism's published versions, newest first, each with its permalink."""
    mechanism = published_mechanism(slug)
    if mechanism is None:
        return _retired(request, slug)
    versions = published_versions(mechanism)
    return render(
        request, "curation/mechanism_versions.html", {"mechanism": mechanism, "versions": list(reversed(versions))}
    )


def _version_or_404(slug, number):
    mechanism = published_mechanism(slug)
    if mechanism is None:
        return None, None, None
    versions = published_versions(mechanism)
    return mechanism, versions, _version(versions, number)


@public_page
@require_safe
def mechanism_version(request, slug, number):
    """Permalink of one published version: the text, genes, therapies and evidence as published then."""
    mechanism, versions, version = _version_or_404(slug, number)
    if mechanism is None:
        return _retired(request, slug)
    record = version_record(mechanism, version)
    shown = record.instance
    evidence = version_evidence(mechanism, version)
    genes = [row.gene for row in record.genes.select_related("gene").order_by("gene__symbol")]
    therapies = [row.therapy for row in record.therapies.select_related("therapy").order_by("therapy__name")]
    cancer_types = [
        row.cancertype for row in record.cancer_types.select_related("cancertype").order_by("cancertype__name")
    ]
    return render(
        request,
        "curation/mechanism_detail.html",
        {
            "mechanism": shown,
            "ancestors": [a for a in reversed(mechanism.ancestors()) if is_public(a)],
            "evidence": evidence,
            "flagged_references": mark_first_citations(evidence),
            "genes": genes,
            "therapies": therapies,
            "cancer_types": cancer_types,
            "reference_links": export_links("mechanism-version-references", mechanism.slug, version.number),
            "cite": entry_citation(request, shown, version),
            "jsonld": page_jsonld(request, shown, version, evidence),
            "version_notice": {"version": version, "latest": versions[-1]},
        },
    )


@public_page
@require_safe
def mechanism_version_entry(request, slug, number, fmt):
    """The citation of the atlas entry itself, at one version, as a download."""
    mechanism, versions, version = _version_or_404(slug, number)
    if mechanism is None:
        return _retired(request, slug)
    cite = entry_citation(request, mechanism, version)
    return items_response(
        [cite["item"]], fmt, filename=f"{mechanism.slug}-v{version.number}", title=f"{mechanism.name}, version {number}"
    )


@public_page
@require_safe
def mechanism_version_references(request, slug, number, fmt):
    """The references one published version cited, as a download."""
    mechanism, versions, version = _version_or_404(slug, number)
    if mechanism is None:
        return _retired(request, slug)
    pks = [reference.pk for reference in distinct_references(version_evidence(mechanism, version))]
    references = Reference.objects.filter(pk__in=pks).order_by("-pub_year", "pmid")
    return export_response(
        references, fmt, filename=f"{mechanism.slug}-v{version.number}-references", title=mechanism.name
    )


__all__ = [
    "mechanism_export",
    "mechanism_version",
    "mechanism_version_entry",
    "mechanism_version_references",
    "mechanism_versions",
    "reference_export",
]
