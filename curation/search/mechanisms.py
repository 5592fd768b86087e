"""The mechanism list: the reader's filter form and the one function that applies it.

Its words are matched by the site's search (curation.search.text), so the list and
`/search/` agree on what a query finds; the list is paginated and, with words, ranked.
"""

from dataclasses import dataclass, field

from django import forms
from django.db.models import Count, OuterRef, QuerySet, Subquery, prefetch_related_objects
from django.db.models.functions import Coalesce

from curation.models import PHENOTYPE_FIELDS, Category, Evidence, Gene, Mechanism, Phenotype, Therapy
from curation.paging import Paged, paginate
from curation.search.evidence import public_genes
from curation.search.query import MAX_QUERY_LENGTH, QueryTooLong, parse
from curation.search.text import TextMatch, resolve_genes


class MechanismFilterForm(forms.Form):
    """GET filters of the mechanism list. Every field is optional; a bad value is an error, not a 500."""

    q = forms.CharField(
        label="Text",
        required=False,
        max_length=MAX_QUERY_LENGTH,
        help_text="Words, “phrases”, OR, -word; as in the site's search.",
    )
    category = forms.ChoiceField(
        label="Category",
        required=False,
        choices=[("", "Any category"), *Category.choices],
        error_messages={"invalid_choice": "“%(value)s” is not a category of the atlas."},
    )
    gene = forms.CharField(label="Gene symbol", required=False, max_length=32, help_text="HGNC symbol, e.g. B2M.")
    therapy = forms.ChoiceField(
        label="Therapy",
        required=False,
        error_messages={"invalid_choice": "No published mechanism is linked to the therapy “%(value)s”."},
    )
    phenotype = forms.ChoiceField(
        label="Resistance phenotype",
        required=False,
        choices=[("", "Any phenotype"), *Phenotype.choices],
        error_messages={"invalid_choice": "“%(value)s” is not a resistance phenotype."},
    )

    def __init__(self, *args, therapies=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["therapy"].choices = [("", "Any therapy"), *((t.slug, t.name) for t in therapies)]

    def clean_q(self):
        try:
            return parse(self.cleaned_data["q"])
        except QueryTooLong as error:
            raise forms.ValidationError(str(error)) from None

    def clean_gene(self):
        symbol = self.cleaned_data["gene"].strip()
        if not symbol:
            return None
        # HGNC symbols are upper case, but readers type "b2m" too. Only genes of published
        # mechanisms count: a gene only drafts use must look as unknown as a typo.
        gene = Gene.objects.filter(symbol__iexact=symbol, mechanisms__in=Mechanism.objects.published()).first()
        if gene is None:
            raise forms.ValidationError(
                "No gene with the symbol “%(symbol)s” is in the atlas.", params={"symbol": symbol}
            )
        return gene

    def active_filters(self) -> list[tuple[str, str, str]]:
        """(parameter, label, value as shown) for every filter in use, for the 'active filters' list."""
        if not self.is_bound:
            return []
        shown = []
        data = self.cleaned_data if self.is_valid() else {}
        for name in self.fields:
            bound = self[name]
            raw = (self.data.get(name) or "").strip()
            if not raw:
                continue
            value = data.get(name)
            if name == "gene" and value:
                display = value.symbol
            elif name == "q" and value:
                display = value.text
            elif isinstance(bound.field, forms.ChoiceField):
                display = dict(bound.field.choices).get(raw, raw)
            else:
                display = raw
            shown.append((name, bound.label, display))
        return shown


@dataclass
class MechanismSearch:
    form: MechanismFilterForm
    mechanisms: list = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    paged: Paged | None = None

    @property
    def count(self) -> int:
        return self.paged.page.paginator.count if self.paged else 0


def filter_mechanisms(
    queryset: QuerySet,
    *,
    match: TextMatch | None = None,
    category="",
    gene: Gene | None = None,
    therapy="",
    phenotype="",
) -> QuerySet:
    """Apply cleaned filters to a queryset of mechanisms; the filters match what a mechanism page lists."""
    if match is not None:
        queryset = match.filter(queryset)
    if category:
        queryset = queryset.filter(category=category)
    if gene is not None:
        queryset = queryset.filter(pk__in=Mechanism.genes.through.objects.filter(gene=gene).values("mechanism_id"))
    if therapy:
        queryset = queryset.filter(
            pk__in=Mechanism.therapies.through.objects.filter(therapy__slug=therapy).values("mechanism_id")
        )
    if phenotype:
        queryset = queryset.filter(**{PHENOTYPE_FIELDS[phenotype]: True})
    return queryset


def text_match(q: str) -> TextMatch | None:
    """How the site matches the words `q` (gene aliases resolved), or None when there are none to match.

    Raises QueryTooLong for a query over MAX_QUERY_LENGTH.
    """
    query = parse(q)
    if not query:
        return None
    query, _ = resolve_genes(query, public_genes())
    return TextMatch.for_query(query)


def ranked_mechanisms(params) -> tuple[MechanismFilterForm, QuerySet | None]:
    """The published mechanisms the GET parameters select, in the list's order, and the form that read them.

    With words, the best matches come first (see curation.search.text); otherwise by
    category and name; the primary key breaks ties, so the order is stable. The queryset is
    None when the form is invalid (its errors say why). The site's list and the API both
    page through this, so they agree on what a query finds and in which order.
    """
    published = Mechanism.objects.published()
    therapies = Therapy.objects.filter(mechanisms__in=published).distinct().order_by("name")
    # No list of every gene symbol to choose from: at 10,000 mechanisms it would weigh more
    # than the page. Any symbol may be typed, in any case.
    form = MechanismFilterForm(params or None, therapies=therapies)
    if form.is_bound and not form.is_valid():
        return form, None
    filters = {name: value for name, value in (form.cleaned_data if form.is_bound else {}).items() if value}
    match = None
    query = filters.pop("q", None)
    if query:
        query, _ = resolve_genes(query, public_genes())
        match = TextMatch.for_query(query)
    queryset = filter_mechanisms(published, match=match, **filters).select_related("parent")
    if match is not None:
        return form, queryset.annotate(rank=match.rank(Mechanism)).order_by("-rank", "name", "pk")
    return form, queryset.order_by("category", "name", "pk")


def search_mechanisms(params) -> MechanismSearch:
    """A page of the published mechanisms matching the GET parameters, with the form to show them.

    Invalid values give an empty result and the form's messages. Runs a fixed number of
    queries: the filter options, the gene lookups, the count, the page and the page's genes
    and evidence counts.
    """
    form, queryset = ranked_mechanisms(params)
    if queryset is None:
        messages = [message for errors in form.errors.values() for message in errors]
        return MechanismSearch(form=form, errors=messages)
    paged = paginate(queryset.annotate(evidence_count=evidence_count()), params)
    mechanisms = paged.rows
    prefetch_related_objects(mechanisms, "genes")
    return MechanismSearch(form=form, mechanisms=mechanisms, paged=paged)


def evidence_count():
    """A mechanism's evidence items, as a correlated subquery.

    Not a JOIN with GROUP BY: that aggregates every evidence row of the atlas before the
    page's LIMIT, while PostgreSQL evaluates this for the page's rows only.
    """
    items = Evidence.objects.filter(mechanism=OuterRef("pk")).order_by().values("mechanism").annotate(n=Count("pk"))
    return Coalesce(Subquery(items.values("n")), 0)
