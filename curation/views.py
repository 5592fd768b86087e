"""Public pages for readers: anonymous, read-only, published content only.

Every page runs a fixed number of SQL queries whatever the size of the atlas:
relations are fetched with select_related / Prefetch, and the home tree is
built in Python from one query. Drafts, mechanisms in review and pending
revisions answer 404 (as if they did not exist); a retired mechanism answers
410 so that citations to it do not dead-end silently.
"""

from django import forms
from django.contrib.auth.views import redirect_to_login
from django.db.models import Count, OuterRef, Prefetch, Q, Subquery, prefetch_related_objects
from django.db.models.functions import Coalesce
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_safe

from curation import candidates, consensus, pictures
from curation.citing import entry_citation, export_links, page_jsonld
from curation.linked_data import reference_jsonld
from curation.models import Category, Evidence, Gene, Mechanism, Reference, Status, Suggestion
from curation.page_cache import public_page
from curation.paging import PAGE_SIZES, paginate
from curation.search import browse_evidence, search_mechanisms, site_search
from curation.search.evidence import EXPORT_PARAMS
from curation.search.mechanisms import evidence_count
from curation.versions import published_versions


def is_public(mechanism: Mechanism | None) -> bool:
    return mechanism is not None and mechanism.status == Status.PUBLISHED and mechanism.revision_of_id is None


def _published_with_counts():
    # A correlated subquery, not a JOIN with GROUP BY: it is evaluated for the rows shown only.
    return Mechanism.objects.published().annotate(evidence_count=evidence_count())


# The home page shows each branch's first top-level mechanisms and their first sub-mechanisms;
# at 10,000 mechanisms the whole tree would be megabytes. The rest is a link away.
ROOTS_SHOWN = 25
CHILDREN_SHOWN = 6


def _with_tree_counts(queryset):
    children = (
        Mechanism.objects.published()
        .filter(parent=OuterRef("pk"))
        .order_by()
        .values("parent")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return queryset.annotate(evidence_count=evidence_count(), child_count=Coalesce(Subquery(children), 0))


# At the top of the public tree: no parent, or one readers cannot see. (A parent is always an
# original, never a revision, so its status alone says whether it is public.)
TOP_LEVEL = Q(parent__isnull=True) | ~Q(parent__status=Status.PUBLISHED)


def _top_level():
    return Mechanism.objects.published().filter(TOP_LEVEL)


@public_page
@require_safe
def home(request):
    """The two branches, each with its first top-level mechanisms and their first sub-mechanisms.

    A fixed number of queries whatever the size of the atlas: the mechanisms per branch, the
    top of each branch (one query per category, LIMITed), and the shown roots' children.
    Nothing counts the top-level mechanisms: that joins every mechanism with its parent.
    """
    counts = dict(Mechanism.objects.published().order_by().values_list("category").annotate(total=Count("pk")))
    branches, shown = [], []
    for value, label in Category.choices:
        # One more than is shown, to know whether there are more.
        roots = list(_with_tree_counts(_top_level().filter(category=value)).order_by("name", "pk")[: ROOTS_SHOWN + 1])
        shown.extend(roots[:ROOTS_SHOWN])
        branches.append(
            {
                "category": value,
                "label": label,
                "roots": roots[:ROOTS_SHOWN],
                "mechanism_count": counts.get(value, 0),
                "more_roots": len(roots) > ROOTS_SHOWN,
            }
        )
    children = _with_tree_counts(Mechanism.objects.published()).order_by("name", "pk")[:CHILDREN_SHOWN]
    prefetch_related_objects(shown, Prefetch("children", queryset=children, to_attr="public_children"))
    for root in shown:
        root.more_children = root.child_count - len(root.public_children)
    total = sum(branch["mechanism_count"] for branch in branches)
    context = {"branches": branches, "mechanism_count": total, "map": _taxonomy_map(counts)}
    return render(request, "curation/home.html", context)


def _taxonomy_map(mechanism_counts: dict[str, int]) -> pictures.Map:
    """The home page's map: each branch's best supported top-level mechanisms, sub-mechanisms rolled up.

    A fixed number of queries whatever the size of the atlas: every top-level mechanism's papers
    (one grouping), the top level's keys (to rank and count them per branch), then the tiles drawn
    and their full consensus.
    """
    papers = consensus.papers_by_top_level()
    ranked = {value: [] for value, _ in Category.choices}
    for pk, category, name in _top_level().order_by().values_list("pk", "category", "name"):
        ranked[category].append((-papers.get(pk, 0), name, pk))
    drawn = {category: [pk for _, _, pk in sorted(rows)[: pictures.MAP_TILES]] for category, rows in ranked.items()}
    tiles = Mechanism.objects.in_bulk([pk for pks in drawn.values() for pk in pks])
    weighed = consensus.for_mechanisms(list(tiles.values()))
    list_url = reverse("mechanism-list")

    def item(pk):
        root, result = tiles[pk], weighed[pk]
        return pictures.MapItem(root.name, root.get_absolute_url(), papers.get(pk, 0), result.contested, result.verdict)

    return pictures.taxonomy_map(
        [
            (
                label,
                f"{list_url}?category={value}",
                [item(pk) for pk in drawn[value]],
                mechanism_counts.get(value, 0),
                len(ranked[value]) - len(drawn[value]),
            )
            for value, label in Category.choices
        ]
    )


@public_page
@require_safe
def mechanism_list(request):
    search = search_mechanisms(request.GET)
    _weigh(search.mechanisms)
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
    for group in results.groups:
        if group.kind.key == "mechanisms":
            _weigh(group.rows)
    context = {"results": results, "page_sizes": PAGE_SIZES, "export_links": _evidence_export_links(request)}
    return render(request, "curation/search.html", context)


@public_page
@require_safe
def evidence_list(request):
    table = browse_evidence(request.GET)
    context = {"table": table, "page_sizes": PAGE_SIZES, "export_links": _evidence_export_links(request)}
    return render(request, "curation/evidence_list.html", context)


def _weigh(mechanisms) -> None:
    """Give each mechanism of a list its consensus, all in one query."""
    weighed = consensus.for_mechanisms(mechanisms)
    for mechanism in mechanisms:
        mechanism.consensus = weighed[mechanism.pk]


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


EVIDENCE_PAGE_SIZE = 25


def _public_evidence():
    return (
        Evidence.objects.select_related("reference", "therapy", "cancer_type")
        .defer("reference__raw_xml", "reference__abstract")
        .order_by("-reference__pub_year", "reference__pmid", "pk")
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
        Prefetch("children", queryset=_published_with_counts().order_by("name", "pk"), to_attr="public_children"),
    )
    # A page of the evidence, not all of it: a well-studied mechanism has hundreds of items.
    paged = paginate(_public_evidence().filter(mechanism=mechanism), request.GET, default=EVIDENCE_PAGE_SIZE)
    mechanism.evidence_list = paged.rows
    mark_first_citations(mechanism.evidence_list)
    # The warning names every flagged paper the mechanism cites, on this page or another.
    cited = Evidence.objects.filter(mechanism=mechanism).values("reference_id")
    flagged = list(Reference.objects.flagged().filter(pk__in=cited).defer("raw_xml", "abstract").order_by("pmid"))
    on_page = {item.reference_id for item in mechanism.evidence_list}
    for reference in flagged:
        reference.on_this_page = reference.pk in on_page
    # The mechanism and its sub-mechanisms weighed in the same query: the list of children says
    # which of them lack primary evidence.
    everyone = consensus.for_mechanisms([mechanism, *mechanism.public_children], with_years=True)
    for child in mechanism.public_children:
        child.consensus = everyone[child.pk]
    weighed = everyone[mechanism.pk]

    # Only published ancestors: naming a draft parent would reveal unreviewed work.
    ancestors = [a for a in reversed(mechanism.ancestors()) if is_public(a)]
    return render(
        request,
        "curation/mechanism_detail.html",
        {
            "mechanism": mechanism,
            "ancestors": ancestors,
            "evidence": mechanism.evidence_list,
            "evidence_paged": paged,
            "page_sizes": PAGE_SIZES,
            "consensus": weighed,
            "contested_formula": consensus.CONTESTED_FORMULA,
            "timeline": pictures.timeline(weighed.timeline()),
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
    """The reference, if the evidence of a published mechanism cites it; 404 otherwise.

    Unpublished work only: showing the paper would reveal what is being curated.
    """
    return get_object_or_404(Reference.objects.published().defer("raw_xml"), pmid=pmid)


CITING_PAGE_SIZE = 20


@public_page
@require_safe
def reference_detail(request, pmid):
    """A cited paper and a page of the published mechanisms citing it, each with its claims from the paper."""
    reference = _public_reference(pmid)
    citing_mechanisms = Mechanism.objects.published().filter(
        pk__in=Evidence.objects.filter(reference=reference).values("mechanism_id")
    )
    paged = paginate(citing_mechanisms.order_by("name", "pk"), request.GET, default=CITING_PAGE_SIZE)
    mechanisms = paged.rows
    claims = (
        Evidence.objects.filter(reference=reference, mechanism__in=mechanisms)
        .select_related("therapy", "cancer_type")
        .order_by("pk")
    )
    by_mechanism = {}
    for item in claims:
        by_mechanism.setdefault(item.mechanism_id, []).append(item)
    citing = [{"mechanism": m, "evidence": by_mechanism.get(m.pk, [])} for m in mechanisms]
    return render(
        request,
        "curation/reference_detail.html",
        {
            "reference": reference,
            "citing": citing,
            "citing_paged": paged,
            "page_sizes": PAGE_SIZES,
            "export_links": export_links("reference-export", reference.pmid),
            "jsonld": reference_jsonld(reference, url=request.build_absolute_uri(reference.get_absolute_url())),
        },
    )


GENE_MECHANISMS_PAGE_SIZE = 25


@public_page
@require_safe
def gene_detail(request, symbol):
    """A gene and a page of the published mechanisms naming it."""
    gene = Gene.objects.filter(symbol=symbol).first()
    if gene is None:
        # Readers type "b2m"; send them to the canonical address, but only of a public gene:
        # a redirect to a gene only drafts use would tell readers what is being curated.
        other = Gene.objects.published().filter(symbol__iexact=symbol).only("symbol").first()
        if other is not None:
            return redirect(other, permanent=True)
        raise Http404("No gene with this symbol is in the atlas.")
    mechanisms = _published_with_counts().filter(
        pk__in=Mechanism.genes.through.objects.filter(gene=gene).values("mechanism_id")
    )
    paged = paginate(mechanisms.order_by("category", "name", "pk"), request.GET, default=GENE_MECHANISMS_PAGE_SIZE)
    if not paged.count:
        raise Http404("No published mechanism involves this gene.")
    gene.public_mechanisms = paged.rows
    return render(request, "curation/gene_detail.html", {"gene": gene, "paged": paged, "page_sizes": PAGE_SIZES})


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
