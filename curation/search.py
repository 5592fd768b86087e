"""Finding published mechanisms: the reader's filter form and the one function that applies it.

`search_mechanisms` is the only place that turns filters into a query, so the
simple `icontains` text search can later be replaced by full-text search with
facets without touching the view or the templates.
"""

from dataclasses import dataclass, field

from django import forms
from django.db.models import Count, Q, QuerySet

from curation.models import PHENOTYPE_FIELDS, Category, Gene, Mechanism, Phenotype, Therapy


class MechanismFilterForm(forms.Form):
    """GET filters of the mechanism list. Every field is optional; a bad value is an error, not a 500."""

    q = forms.CharField(label="Text", required=False, max_length=200, help_text="Words in the name or summary.")
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

    def __init__(self, *args, therapies=(), genes=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["therapy"].choices = [("", "Any therapy"), *((t.slug, t.name) for t in therapies)]
        # Offered as suggestions (a <datalist>); any symbol may still be typed.
        self.gene_suggestions = list(genes)
        self.fields["gene"].widget.attrs["list"] = "gene-suggestions"

    def clean_q(self):
        return " ".join(self.cleaned_data["q"].split())

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


def filter_mechanisms(
    queryset: QuerySet, *, q="", category="", gene: Gene | None = None, therapy="", phenotype=""
) -> QuerySet:
    """Apply cleaned filters to a queryset of mechanisms; the filters match what a mechanism page lists."""
    if q:
        for word in q.split():
            queryset = queryset.filter(Q(name__icontains=word) | Q(summary__icontains=word))
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


def search_mechanisms(params) -> MechanismSearch:
    """Published mechanisms matching the GET parameters, with the form to show them.

    Invalid values give an empty result and the form's messages. Runs a fixed
    number of queries: the filter options, the gene lookup and the results with
    their genes and evidence counts.
    """
    published = Mechanism.objects.published()
    therapies = Therapy.objects.filter(mechanisms__in=published).distinct().order_by("name")
    genes = Gene.objects.filter(mechanisms__in=published).distinct().order_by("symbol").values_list("symbol", flat=True)
    form = MechanismFilterForm(params or None, therapies=therapies, genes=genes)
    if form.is_bound and not form.is_valid():
        messages = [message for errors in form.errors.values() for message in errors]
        return MechanismSearch(form=form, errors=messages)

    filters = form.cleaned_data if form.is_bound else {}
    queryset = filter_mechanisms(published, **{name: value for name, value in filters.items() if value})
    mechanisms = (
        queryset.select_related("parent")
        .prefetch_related("genes")
        .annotate(evidence_count=Count("evidence"))
        .order_by("category", "name")
    )
    return MechanismSearch(form=form, mechanisms=list(mechanisms))
