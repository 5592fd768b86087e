"""Facets: the filters that narrow search results and the evidence table, with their counts.

Every facet is a property of a published evidence item (directly, through its mechanism or
through its paper), declared once in FACETS: the search page, the evidence table and their
counts all read that list, so a new facet is one line. Counts are of evidence items: each
facet's counts are taken over the results with every filter applied (a facet in use shows
its one value), so the counts of a facet whose field has one value per item add up to the
number of items listed. All counts come from one query.
"""

from dataclasses import dataclass, field

from django import forms
from django.db import connection
from django.db.models import Count, F, QuerySet, TextChoices, TextField, Value
from django.db.models.functions import Cast

from curation.models import Category, Direction, EvidenceLevel, Phenotype, TherapyClass

# Values shown per facet, most frequent first (a facet over mechanisms or genes can have thousands).
FACET_VALUES_SHOWN = 12
YEAR_FROM, YEAR_TO = "year_from", "year_to"
_YEAR = "reference__pub_year"


@dataclass(frozen=True)
class Facet:
    param: str  # the URL parameter
    label: str
    lookup: str  # the evidence lookup of the value the URL carries
    choices: type[TextChoices] | None = None  # labels of the values, when they are choices
    label_lookup: str | None = None  # otherwise the evidence lookup of a value's label

    def label_of(self, value, label=None) -> str:
        if self.choices is not None:
            return dict(self.choices.choices).get(value, value)
        return label or value


FACETS = (
    Facet("category", "Category", "mechanism__category", choices=Category),
    Facet("mechanism", "Mechanism", "mechanism__slug", label_lookup="mechanism__name"),
    Facet("gene", "Gene", "mechanism__genes__symbol"),
    Facet("therapy_class", "Therapy class", "therapy__therapy_class", choices=TherapyClass),
    Facet("cancer_type", "Cancer type", "cancer_type__slug", label_lookup="cancer_type__name"),
    Facet("level", "Evidence level", "level", choices=EvidenceLevel),
    Facet("direction", "Direction", "direction", choices=Direction),
    Facet("phenotype", "Resistance phenotype", "phenotype", choices=Phenotype),
)
FACET_PARAMS = tuple(facet.param for facet in FACETS) + (YEAR_FROM, YEAR_TO)


class FacetForm(forms.Form):
    """The facet filters as GET parameters; a value that is not a value of its facet is an error."""

    year_from = forms.IntegerField(label="Published from", required=False, min_value=1800, max_value=2200)
    year_to = forms.IntegerField(label="to", required=False, min_value=1800, max_value=2200)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for facet in FACETS:
            self.fields[facet.param] = forms.CharField(label=facet.label, required=False, max_length=120)
            if facet.choices is not None:
                self.fields[facet.param] = forms.ChoiceField(
                    label=facet.label,
                    required=False,
                    choices=[("", "Any"), *facet.choices.choices],
                    error_messages={"invalid_choice": f"“%(value)s” is not a value of “{facet.label}”."},
                )

    def clean(self):
        cleaned = super().clean()
        low, high = cleaned.get(YEAR_FROM), cleaned.get(YEAR_TO)
        if low and high and low > high:
            raise forms.ValidationError("The first year of the range comes after the last.")
        return cleaned

    def selected(self) -> dict[str, object]:
        """{param: value} of the facets in use (empty when the form is invalid)."""
        if not self.is_bound or not self.is_valid():
            return {}
        return {name: value for name, value in self.cleaned_data.items() if value not in (None, "")}


def narrow(evidence: QuerySet, selected: dict) -> QuerySet:
    """Evidence items that have every selected facet value."""
    for facet in FACETS:
        if facet.param in selected:
            evidence = evidence.filter(**{facet.lookup: selected[facet.param]})
    if YEAR_FROM in selected:
        evidence = evidence.filter(**{f"{_YEAR}__gte": selected[YEAR_FROM]})
    if YEAR_TO in selected:
        evidence = evidence.filter(**{f"{_YEAR}__lte": selected[YEAR_TO]})
    return evidence


@dataclass
class FacetValue:
    value: str
    label: str
    count: int
    selected: bool = False


@dataclass
class FacetCounts:
    """What the facet panel shows: values with counts per facet, the years, and the total."""

    total: int = 0
    facets: list[tuple[Facet, list[FacetValue]]] = field(default_factory=list)
    years: list[tuple[int, int]] = field(default_factory=list)  # (year, items), oldest first

    @property
    def year_span(self) -> tuple[int, int] | None:
        return (self.years[0][0], self.years[-1][0]) if self.years else None


def count(evidence: QuerySet, selected: dict) -> FacetCounts:
    """Counts per facet value over `evidence` (already narrowed), in one query.

    Each facet is a GROUP BY of its own; they are sent together as one UNION ALL, each
    branch keeping its FACET_VALUES_SHOWN most frequent values, plus a branch for the
    total and one per publication year.
    """
    evidence = evidence.order_by()
    branches = [_branch(evidence, "", None, None, limit=None)]
    for facet in FACETS:
        branches.append(_branch(evidence, facet.param, facet.lookup, facet.label_lookup, limit=FACET_VALUES_SHOWN))
    branches.append(_branch(evidence, "year", _YEAR, None, limit=None))
    sql_parts, params = [], []
    for index, branch in enumerate(branches):
        sql, branch_params = branch.query.sql_with_params()
        sql_parts.append(f"SELECT * FROM ({sql}) AS facet_{index}")  # noqa: S608 - ORM-compiled SQL, values are params
        params.extend(branch_params)
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(sql_parts), params)
        rows = cursor.fetchall()
    return _counts_from(rows, selected)


def _branch(evidence: QuerySet, key: str, lookup: str | None, label_lookup: str | None, *, limit: int | None):
    columns = {
        "facet": Value(key),
        "value": Cast(F(lookup), output_field=TextField()) if lookup else Value(None, output_field=TextField()),
        "label": F(label_lookup) if label_lookup else Value(None, output_field=TextField()),
    }
    grouped = evidence.annotate(**columns).values("facet", "value", "label").annotate(items=Count("pk"))
    if lookup:
        grouped = grouped.exclude(value__isnull=True).exclude(value="")
    grouped = grouped.order_by("-items", "value")
    return grouped[:limit] if limit else grouped


def _counts_from(rows, selected) -> FacetCounts:
    by_facet: dict[str, list] = {}
    counts = FacetCounts()
    for key, value, label, items in rows:
        if key == "":
            counts.total = items
        elif key == "year":
            counts.years.append((int(value), items))
        else:
            by_facet.setdefault(key, []).append((value, label, items))
    counts.years.sort()
    for facet in FACETS:
        values = [
            FacetValue(value, facet.label_of(value, label), items, selected=str(selected.get(facet.param)) == value)
            for value, label, items in by_facet.get(facet.param, [])
        ]
        counts.facets.append((facet, values))
    return counts
