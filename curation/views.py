"""Public pages for readers: anonymous, read-only, published content only.

Every page runs a fixed number of SQL queries whatever the size of the atlas:
relations are fetched with select_related / Prefetch, and the home tree is
built in Python from one query. Drafts, mechanisms in review and pending
revisions answer 404 (as if they did not exist); a retired mechanism answers
410 so that citations to it do not dead-end silently.
"""

from django import forms
from django.contrib.auth.views import redirect_to_login
from django.db.models import Count, Prefetch, prefetch_related_objects
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_safe

from curation import candidates
from curation.citing import entry_citation, export_links, page_jsonld
from curation.linked_data import reference_jsonld
from curation.models import Category, Evidence, Gene, Mechanism, Reference, Status, Suggestion
from curation.page_cache import public_page
from curation.search import browse_evidence, search_mechanisms, site_search
from curation.search.evidence import EXPORT_PARAMS
from curation.search.paging import PAGE_SIZES
from curation.versions import published_versions


def is_public(mechanism: Mechanism | None) -> bool:
    return mechanism is not None and mechanism.status == Status.PUBLISHED and mechanism.revision_of_id is None


def _published_with_counts():
    return Mechanism.objects.published().annotate(evidence_count=Count("evidence"))


@public_page
@require_safe
def home(request):
    mechanisms = list(_published_with_counts().order_by("name"))
    by_pk = {m.pk: m for m in mechanisms}
    for mechanism in mechanisms:
        mechanism.public_children = []
    roots = []
    for mechanism in mechanisms:
        parent = by_pk.get(mechanism.parent_id)
        # A published child of an unpublished parent is shown at the top, not hidden.
        (parent.public_children if parent else roots).append(mechanism)
    branches = [
        {
            "category": value,
            "label": label,
            "roots": [m for m in roots if m.category == value],
            "mechanism_count": sum(1 for m in mechanisms if m.category == value),
        }
        for value, label in Category.choices
    ]
    return render(request, "curation/home.html", {"branches": branches, "mechanism_count": len(mechanisms)})


@public_page
@require_safe
def mechanism_list(request):
    search = search_mechanisms(request.GET)
    return render(
        request,
        "curation/mechanism_list.html",
        {
            "form": search.form,
            "mechanisms": search.mechanisms,
            "count": search.count,
            "paged": search.paged,
            "page_sizes": PAGE_SIZES,
            "errors": search.errors,
            "active_filters": [
                (label, value, _without(request, name)) for name, label, value in search.form.active_filters()
            ],
        },
    )


@public_page
@require_safe
def search(request):
    results = site_search(request.GET)
    context = {"results": results, "page_sizes": PAGE_SIZES, "export_links": _evidence_export_links(request)}
    return render(request, "curation/search.html", context)


@public_page
@require_safe
def evidence_list(request):
    table = browse_evidence(request.GET)
    context = {"table": table, "page_sizes": PAGE_SIZES, "export_links": _evidence_export_links(request)}
    return render(request, "curation/evidence_list.html", context)


def _evidence_export_links(request) -> list[tuple[str, str]]:
    """Downloads of the papers behind this page's evidence: the export view reads the same words and facets."""
    params = request.GET.copy()
    for name in list(params):
        if name not in EXPORT_PARAMS:
            params.pop(name)
    query = f"?{params.urlencode()}" if params else ""
    return [(label, address + query) for label, address in export_links("evidence-export")]


def _without(request, name: str) -> str:
    """This page's address without one filter."""
    params = request.GET.copy()
    params.pop(name, None)
    return f"{request.path}?{params.urlencode()}" if params else request.path


def mark_first_citations(evidence) -> list[Reference]:
    """Mark the first row citing each paper (it carries the anchor the banner links to);
    return the cited papers PubMed flags (retracted, erratum, expression of concern)."""
    flagged, seen = [], set()
    for item in evidence:
        ref = item.reference
        item.first_for_reference = ref.pk not in seen
        if item.first_for_reference and ref.flags:
            flagged.append(ref)
        seen.add(ref.pk)
    return flagged


def _public_evidence():
    return Evidence.objects.select_related("reference", "therapy", "cancer_type").order_by(
        "-reference__pub_year", "reference__pmid", "pk"
    )


@public_page
@require_safe
def mechanism_detail(request, slug):
    mechanism = get_object_or_404(Mechanism.objects.originals().select_related("parent__parent"), slug=slug)
    if mechanism.status == Status.RETIRED:
        parent = mechanism.parent if is_public(mechanism.parent) else None
        return render(
            request, "curation/mechanism_retired.html", {"mechanism": mechanism, "parent": parent}, status=410
        )
    if not is_public(mechanism):
        raise Http404("No published mechanism has this address.")

    prefetch_related_objects(
        [mechanism],
        "genes",
        "therapies",
        "cancer_types",
        Prefetch("children", queryset=_published_with_counts().order_by("name"), to_attr="public_children"),
        Prefetch("evidence", queryset=_public_evidence(), to_attr="evidence_list"),
    )

    # Only published ancestors: naming a draft parent would reveal unreviewed work.
    ancestors = [a for a in reversed(mechanism.ancestors()) if is_public(a)]
    flagged = mark_first_citations(mechanism.evidence_list)
    return render(
        request,
        "curation/mechanism_detail.html",
        {
            "mechanism": mechanism,
            "ancestors": ancestors,
            "evidence": mechanism.evidence_list,
            "flagged_references": flagged,
            "genes": mechanism.genes.all(),
            "therapies": mechanism.therapies.all(),
            "cancer_types": mechanism.cancer_types.all(),
            "reference_links": export_links("mechanism-export", mechanism.slug),
            **_citing(request, mechanism),
        },
    )


def _citing(request, mechanism) -> dict:
    """ "Cite this entry" and JSON-LD for the current published version (none for rows without history)."""
    versions = published_versions(mechanism)
    if not versions:
        return {"cite": None, "jsonld": page_jsonld(request, mechanism, None, mechanism.evidence_list)}
    return {
        "cite": entry_citation(request, mechanism, versions[-1]),
        "jsonld": page_jsonld(request, mechanism, versions[-1], mechanism.evidence_list),
    }


def _public_reference(pmid):
    """The reference with the evidence of published mechanisms citing it; 404 when none does."""
    public_evidence = (
        Evidence.objects.filter(mechanism__in=Mechanism.objects.published())
        .select_related("mechanism", "therapy", "cancer_type")
        .order_by("mechanism__name", "pk")
    )
    reference = get_object_or_404(
        Reference.objects.defer("raw_xml").prefetch_related(
            Prefetch("evidence", queryset=public_evidence, to_attr="public_evidence")
        ),
        pmid=pmid,
    )
    # Unpublished work only: showing the paper would reveal what is being curated.
    if not reference.public_evidence:
        raise Http404("No published mechanism cites this reference.")
    return reference


@public_page
@require_safe
def reference_detail(request, pmid):
    reference = _public_reference(pmid)
    citing = []
    for item in reference.public_evidence:
        if not citing or citing[-1]["mechanism"].pk != item.mechanism_id:
            citing.append({"mechanism": item.mechanism, "evidence": []})
        citing[-1]["evidence"].append(item)
    return render(
        request,
        "curation/reference_detail.html",
        {
            "reference": reference,
            "citing": citing,
            "export_links": export_links("reference-export", reference.pmid),
            "jsonld": reference_jsonld(reference, url=request.build_absolute_uri(reference.get_absolute_url())),
        },
    )


@public_page
@require_safe
def gene_detail(request, symbol):
    mechanisms = Prefetch(
        "mechanisms",
        queryset=_published_with_counts().order_by("category", "name"),
        to_attr="public_mechanisms",
    )
    gene = Gene.objects.prefetch_related(mechanisms).filter(symbol=symbol).first()
    if gene is None:
        # Readers type "b2m"; send them to the canonical address, but only of a public gene:
        # a redirect to a gene only drafts use would tell readers what is being curated.
        other = (
            Gene.objects.filter(symbol__iexact=symbol, mechanisms__in=Mechanism.objects.published())
            .only("symbol")
            .first()
        )
        if other is not None:
            return redirect(other, permanent=True)
        raise Http404("No gene with this symbol is in the atlas.")
    if not gene.public_mechanisms:
        raise Http404("No published mechanism involves this gene.")
    return render(request, "curation/gene_detail.html", {"gene": gene})


class SuggestForm(forms.Form):
    paper = forms.CharField(
        label="PMID or citation",
        max_length=Suggestion._meta.get_field("text").max_length,
        widget=forms.TextInput(
            attrs={"size": 60, "placeholder": "29968044, or Sharma P, et al. Cell. 2017;168(4):707-723"}
        ),
        error_messages={"required": "Give a PMID or a citation."},
    )


SUGGESTIONS_SHOWN = 10


@require_http_methods(["GET", "POST"])
def suggest_paper(request, slug):
    """A signed-in reader suggests a paper for a published mechanism; curators find it in their queue."""
    mechanism = get_object_or_404(Mechanism.objects.published(), slug=slug)
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path(), reverse("login"))
    form = SuggestForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            candidates.suggest(form.cleaned_data["paper"], mechanism=mechanism, by=request.user)
        except candidates.SuggestionRefused as refusal:
            form.add_error("paper", str(refusal))
        else:
            return redirect(f"{reverse('suggest-paper', args=[mechanism.slug])}?sent=1")
    mine = Suggestion.objects.filter(suggested_by=request.user, mechanism=mechanism)[:SUGGESTIONS_SHOWN]
    return render(
        request,
        "curation/suggest.html",
        {"mechanism": mechanism, "form": form, "suggestions": mine, "sent": request.GET.get("sent") == "1"},
        status=400 if form.errors else 200,
    )
