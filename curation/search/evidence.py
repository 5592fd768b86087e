"""Published evidence as readers find it: the universe of search and of the evidence table.

An evidence item is public when its mechanism is published (a draft's or a revision's
evidence never is). A text query matches an item through its own statement, its
mechanism, its paper, its therapy or its cancer type, so that facets over evidence narrow
every kind of result the same way.
"""

from dataclasses import dataclass, field

from django import forms
from django.db.models import F, Q, QuerySet

from curation.models import CancerType, Evidence, Gene, Mechanism, Reference, Status, Therapy
from curation.paging import Paged, paginate
from curation.search import facets
from curation.search.query import MAX_QUERY_LENGTH, ParsedQuery, QueryTooLong, clean, parse
from curation.search.text import TextMatch, resolve_genes

# Column -> the evidence fields it sorts by; every order ends on the primary key, so pages are stable.
SORTS = {
    "mechanism": ("mechanism__name",),
    "direction": ("direction",),
    "level": ("level",),
    "model_system": ("model_system",),
    "therapy": ("therapy__name",),
    "cancer_type": ("cancer_type__name",),
    "phenotype": ("phenotype",),
    "year": ("reference__pub_year",),
}
# The evidence table's columns: (label, the SORTS key its header sorts by, or None).
COLUMNS = (
    ("Statement", None),
    ("Mechanism", "mechanism"),
    ("Direction", "direction"),
    ("Level", "level"),
    ("Model system", "model_system"),
    ("Therapy", "therapy"),
    ("Cancer type", "cancer_type"),
    ("Phenotype", "phenotype"),
    ("Paper", "year"),
)
DEFAULT_SORT = "-year"


def published_evidence() -> QuerySet:
    return Evidence.objects.filter(mechanism__status=Status.PUBLISHED, mechanism__revision_of__isnull=True)


def public_genes() -> QuerySet:
    """Genes that a published mechanism names: the only genes readers may find."""
    links = Mechanism.genes.through.objects.filter(mechanism__in=Mechanism.objects.published())
    return Gene.objects.filter(pk__in=links.values("gene_id"))


def matching(query: ParsedQuery) -> Q:
    """Evidence that the query's words find in its statement, mechanism, paper, therapy or cancer type,
    unless an excluded word (-review) is in the item itself or its paper.

    Exclusions apply to the item, not to each place a word may be found: `antigen -review`
    must drop review articles even when the mechanism's summary never says "review".
    """
    found = TextMatch.for_query(query.without_exclusions())
    # A union of id sets, each read through an index (the GIN index of the statements, the
    # foreign-key indexes of the others), rather than one test per item of five hashed
    # subqueries: that reads every evidence row even when nothing matches.
    items = Evidence.objects.order_by()
    ids = (
        items.filter(pk__in=found.ids(Evidence))
        .values("pk")
        .union(
            items.filter(mechanism_id__in=found.ids(Mechanism)).values("pk"),
            items.filter(reference_id__in=found.ids(Reference)).values("pk"),
            items.filter(therapy_id__in=found.ids(Therapy)).values("pk"),
            items.filter(cancer_type_id__in=found.ids(CancerType)).values("pk"),
        )
    )
    condition = Q(pk__in=ids)
    excluded = query.exclusions()
    if excluded:
        unwanted = TextMatch.for_query(excluded)
        condition &= ~Q(pk__in=unwanted.ids(Evidence)) & ~Q(reference_id__in=unwanted.ids(Reference))
    return condition


def for_table(evidence: QuerySet) -> QuerySet:
    """What a row of an evidence table shows, in the query that lists them."""
    return evidence.select_related("mechanism", "reference", "therapy", "cancer_type").defer(
        "reference__raw_xml", "reference__abstract"
    )


def ordering(sort: str) -> list:
    """ORDER BY for `sort` (a SORTS key, `-` for descending); missing values go last either way."""
    descending = sort.startswith("-")
    fields = SORTS.get(sort.lstrip("-"), SORTS[DEFAULT_SORT.lstrip("-")])
    order = [F(name).desc(nulls_last=True) if descending else F(name).asc(nulls_last=True) for name in fields]
    return [*order, "pk"]


class EvidenceTableForm(facets.FacetForm):
    q = forms.CharField(label="Words", required=False, max_length=MAX_QUERY_LENGTH)
    sort = forms.ChoiceField(
        required=False, choices=[(key, key) for name in SORTS for key in (name, f"-{name}")] + [("", "")]
    )

    def clean_q(self):
        text = clean(self.cleaned_data["q"])
        try:
            parse(text)
        except QueryTooLong as error:
            raise forms.ValidationError(str(error)) from None
        return text


@dataclass
class EvidenceTable:
    form: EvidenceTableForm
    sort: str = DEFAULT_SORT
    paged: Paged | None = None
    counts: facets.FacetCounts | None = None
    errors: list[str] = field(default_factory=list)

    def headers(self) -> list[dict]:
        """Each column's label, the sort its header link asks for, and its aria-sort state."""
        headers = []
        for label, key in COLUMNS:
            state = {key: "ascending", f"-{key}": "descending"}.get(self.sort, "none") if key else None
            headers.append({"label": label, "sort": f"-{key}" if state == "ascending" else key, "state": state})
        return headers


def _found(form: EvidenceTableForm) -> QuerySet:
    evidence = facets.narrow(published_evidence(), form.selected())
    query, _ = resolve_genes(parse(form.cleaned_data.get("q", "")), public_genes())
    return evidence.filter(matching(query)) if query else evidence


def cited_references(params) -> QuerySet | None:
    """The papers the evidence that `params` selects (words and facets, as on /evidence/ and /search/)
    cites, newest first; None when a parameter is invalid."""
    form = EvidenceTableForm(params)
    if not form.is_valid():
        return None
    cited = _found(form).values("reference_id")
    return Reference.objects.filter(pk__in=cited).order_by(F("pub_year").desc(nulls_last=True), "pmid")


EXPORT_PARAMS = ("q", *facets.FACET_PARAMS)


def browse_evidence(params) -> EvidenceTable:
    """A page of the published evidence, narrowed by the facets (and words) in `params`, sorted.

    A fixed number of queries whatever the size of the atlas: the genes the words name
    (when there are words), the facet counts (which also give the total), and the page's
    rows with their mechanism, paper, therapy and cancer type. Invalid parameters give no rows and the form's messages.
    """
    form = EvidenceTableForm(params)
    if not form.is_valid():
        return EvidenceTable(form=form, errors=[m for errors in form.errors.values() for m in errors])
    sort = form.cleaned_data.get("sort") or DEFAULT_SORT
    evidence = _found(form)
    counts = facets.count(evidence, form.selected())
    paged = paginate(for_table(evidence).order_by(*ordering(sort)), params, count=counts.total)
    return EvidenceTable(form=form, sort=sort, paged=paged, counts=counts)
