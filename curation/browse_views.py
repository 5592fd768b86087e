"""Browsing the published atlas: the cited papers, the genes, and a page per therapy and cancer type.

Published content only, as everywhere readers go: a paper appears when the evidence of a
published mechanism cites it, a gene when a published mechanism names it, a therapy or a
cancer type when a published mechanism or its evidence names it. Every list is paged
(curation.paging) and ends its order on a unique key. Per-row numbers (the mechanisms
citing a paper, the mechanisms naming a gene) are correlated subqueries, which PostgreSQL
evaluates for the page's rows only, unless the reader sorts by them.
"""

from django.db.models import Count, F, OuterRef, Prefetch, Subquery, prefetch_related_objects
from django.db.models.functions import Coalesce
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_safe

from curation.models import REFERENCE_FLAGS, CancerType, Evidence, Gene, Mechanism, Reference, Therapy
from curation.paging import PAGE_SIZES, paginate
from curation.search.mechanisms import evidence_count

# Sort key -> (label, ORDER BY); every order ends on a unique key. The counts' sorts order
# the GROUP BY of the link rows (`n`, the count), the others the rows themselves.
REFERENCE_SORTS = {
    "-year": ("Newest first", (F("pub_year").desc(nulls_last=True), "pmid")),
    "year": ("Oldest first", (F("pub_year").asc(nulls_last=True), "pmid")),
    "-mechanisms": ("Cited by most mechanisms", (F("n").desc(), "reference__pmid")),
    "mechanisms": ("Cited by fewest mechanisms", (F("n").asc(), "reference__pmid")),
}
REFERENCE_FLAG_FILTERS = {flag.code: flag for flag in REFERENCE_FLAGS}
GENE_SORTS = {
    "symbol": ("Symbol", ("symbol",)),
    "-mechanisms": ("Most mechanisms", (F("n").desc(), "gene__symbol")),
}
MECHANISMS_PER_GENE = 5  # names shown per gene in the list; the gene's page has them all
# Past the first pages the list of papers is counted only this many pages ahead (curation.paging).
COUNT_PAGES_AHEAD = 10


def _choice(request, name: str, choices: dict, default: str) -> str:
    """A GET parameter that must be one of `choices`; anything else (junk, markup, nothing) is the default."""
    value = request.GET.get(name, default)
    return value if value in choices else default


def _citing_mechanism_count():
    """How many published mechanisms cite the outer reference."""
    citing = (
        Evidence.objects.published()
        .filter(reference=OuterRef("pk"))
        .order_by()
        .values("reference")
        .annotate(n=Count("mechanism", distinct=True))
        .values("n")
    )
    return Coalesce(Subquery(citing), 0)


def _mechanisms_naming_count():
    """How many published mechanisms name the outer gene."""
    links = (
        Mechanism.genes.through.objects.filter(gene=OuterRef("pk"), mechanism__in=Mechanism.objects.published())
        .order_by()
        .values("gene")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(links), 0)


def _ranked_page(request, links, *, key: str, order, rows, counted, count_attr: str):
    """A page of `rows` ranked by how many link rows point at each: one GROUP BY over `links`.

    Sorting by a count needs every row's count; one hashed aggregate over the link table
    costs far less than a correlated count per row. The page's rows are then read by key,
    and the total is counted in `counted` (the same rows, unaggregated).
    """
    ranking = links.order_by().values(key).annotate(n=Count("mechanism", distinct=True)).order_by(*order)
    paged = paginate(ranking, request.GET, count_ahead=COUNT_PAGES_AHEAD, counted=counted)
    ranked = list(paged.page.object_list)
    by_pk = rows.in_bulk([row[key] for row in ranked])
    shown = []
    for row in ranked:
        if row[key] in by_pk:
            setattr(by_pk[row[key]], count_attr, row["n"])
            shown.append(by_pk[row[key]])
    paged.page.object_list = shown
    return paged


@require_safe
def reference_list(request):
    """The papers published evidence cites: newest first, or by how many mechanisms cite them; by flag."""
    sort = _choice(request, "sort", REFERENCE_SORTS, "-year")
    flag = _choice(request, "flag", {"": None, "any": None, **REFERENCE_FLAG_FILTERS}, "")
    references = Reference.objects.published().defer("raw_xml", "abstract")
    citing = Evidence.objects.published()
    if flag == "any":
        references = references.flagged()
        citing = citing.filter(reference__in=Reference.objects.flagged())
    elif flag:
        field = REFERENCE_FLAG_FILTERS[flag].field
        references = references.filter(**{field: True})
        citing = citing.filter(**{f"reference__{field}": True})
    order = REFERENCE_SORTS[sort][1]
    if sort.endswith("mechanisms"):
        paged = _ranked_page(
            request,
            citing,
            key="reference_id",
            order=order,
            rows=references,
            counted=references,
            count_attr="mechanism_count",
        )
    else:
        listed = references.annotate(mechanism_count=_citing_mechanism_count()).order_by(*order)
        paged = paginate(listed, request.GET, count_ahead=COUNT_PAGES_AHEAD)
    return render(
        request,
        "curation/reference_list.html",
        {
            "paged": paged,
            "page_sizes": PAGE_SIZES,
            "sort": sort,
            "sorts": [(key, label) for key, (label, _) in REFERENCE_SORTS.items()],
            "flag": flag,
            "flags": [("", "All papers"), ("any", "Any notice")] + [(f.code, f.label) for f in REFERENCE_FLAGS],
        },
    )


@require_safe
def gene_list(request):
    """The genes published mechanisms name, each with the first of those mechanisms."""
    sort = _choice(request, "sort", GENE_SORTS, "symbol")
    genes = Gene.objects.published()
    if sort == "-mechanisms":
        links = Mechanism.genes.through.objects.filter(mechanism__in=Mechanism.objects.published())
        order = GENE_SORTS[sort][1]
        paged = _ranked_page(
            request, links, key="gene_id", order=order, rows=genes, counted=genes, count_attr="mechanism_count"
        )
    else:
        listed = genes.annotate(mechanism_count=_mechanisms_naming_count()).order_by(*GENE_SORTS[sort][1], "pk")
        paged = paginate(listed, request.GET, count_ahead=COUNT_PAGES_AHEAD)
    genes = paged.rows
    first = Mechanism.objects.published().order_by("name", "pk")[:MECHANISMS_PER_GENE]
    prefetch_related_objects(genes, Prefetch("mechanisms", queryset=first, to_attr="shown_mechanisms"))
    for gene in genes:
        gene.more_mechanisms = gene.mechanism_count - len(gene.shown_mechanisms)
    return render(
        request,
        "curation/gene_list.html",
        {
            "paged": paged,
            "genes": genes,
            "page_sizes": PAGE_SIZES,
            "sort": sort,
            "sorts": [(key, label) for key, (label, _) in GENE_SORTS.items()],
        },
    )


def _vocabulary_term(model, slug: str):
    """The published therapy or cancer type at `slug` (a numeric id redirects to its slug); 404 otherwise."""
    published = model.objects.published()
    term = published.filter(slug=slug).first()
    if term is None and slug.isascii() and slug.isdigit() and len(slug) < 10:
        by_id = published.filter(pk=int(slug)).only("slug").first()
        if by_id is not None:
            return redirect(by_id, permanent=True)
    if term is None:
        raise Http404(f"No published mechanism or evidence names this {model._meta.verbose_name}.")
    return term


TERM_EVIDENCE_PAGE_SIZE = 25


MECHANISMS_PER_TERM = 100


def _term_page(request, model, slug: str, *, field: str, m2m: str):
    term = _vocabulary_term(model, slug)
    if not isinstance(term, model):
        return term  # the redirect from an id
    named = Mechanism.objects.published().filter(**{m2m: term})
    # The page's one paged list is the evidence (it grows with every paper); the mechanisms that
    # name a term are curated by hand and few, so they are cut at MECHANISMS_PER_TERM with a link on.
    mechanisms = list(
        named.annotate(evidence_count=evidence_count()).order_by("category", "name", "pk")[: MECHANISMS_PER_TERM + 1]
    )
    evidence = (
        Evidence.objects.published()
        .filter(**{field: term})
        .select_related("mechanism", "reference", "therapy", "cancer_type")
        .defer("reference__raw_xml", "reference__abstract")
        .order_by(F("reference__pub_year").desc(nulls_last=True), "reference__pmid", "pk")
    )
    paged = paginate(evidence, request.GET, default=TERM_EVIDENCE_PAGE_SIZE, count_ahead=COUNT_PAGES_AHEAD)
    return render(
        request,
        "curation/term_detail.html",
        {
            "term": term,
            "kind": model._meta.verbose_name,
            "mechanisms": mechanisms[:MECHANISMS_PER_TERM],
            "more_mechanisms": len(mechanisms) > MECHANISMS_PER_TERM,
            "field": field,
            "paged": paged,
            "page_sizes": PAGE_SIZES,
        },
    )


@require_safe
def therapy_detail(request, slug):
    """A therapy: the published mechanisms naming it and the published evidence about it."""
    return _term_page(request, Therapy, slug, field="therapy", m2m="therapies")


@require_safe
def cancer_type_detail(request, slug):
    """A cancer type: the published mechanisms naming it and the published evidence about it."""
    return _term_page(request, CancerType, slug, field="cancer_type", m2m="cancer_types")
