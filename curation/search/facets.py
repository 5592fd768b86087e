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
from django.db.models import F, QuerySet, TextChoices, TextField
from django.db.models.functions import Cast

from curation.models import (
    Category,
    Direction,
    Evidence,
    EvidenceLevel,
    Mechanism,
    ModelSystem,
    Phenotype,
    TherapyClass,
)

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
    Facet("model_system", "Model system", "model_system", choices=ModelSystem),
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
    """Counts per facet value over `evidence` (already narrowed), in one query (see `count_sql`)."""
    with connection.cursor() as cursor:
        cursor.execute(*count_sql(evidence))
        rows = cursor.fetchall()
    return _counts_from(rows, selected)


def count_sql(evidence: QuerySet) -> tuple[str, list]:
    """One statement for every facet's counts, the total and the years (the benchmark EXPLAINs it).

    The evidence found is computed once, as a materialised CTE of the facet columns; each
    facet is then a GROUP BY over it keeping its FACET_VALUES_SHOWN most frequent values,
    all sent as one UNION ALL. A facet whose values name rows of another table (a
    mechanism, a cancer type, a gene) is grouped by that row's id, and only the values
    kept are joined to their table for their slug and label: grouping 200,000 items by
    an integer is several times cheaper than by two strings. A facet over a many-to-many
    relation of the mechanism (genes) joins its link table to the CTE, so that an item
    with two genes counts once for each and the CTE keeps one row per item.
    """
    quote = connection.ops.quote_name
    columns = {"e_mechanism": F("mechanism_id"), "e_year": F(_YEAR)}
    for index, facet in enumerate(FACETS):
        if _many_to_many(facet) is not None:
            continue
        if _named_row(facet) is not None:
            columns[f"v{index}"] = F(f"{facet.lookup.split('__')[0]}_id")
        else:
            columns[f"v{index}"] = Cast(F(facet.lookup), output_field=TextField())
    inner, params = evidence.order_by().values(**columns).query.sql_with_params()
    top = f"ORDER BY n DESC, value LIMIT {FACET_VALUES_SHOWN}"
    branches = ["SELECT '' AS facet, NULL AS value, NULL AS label, COUNT(*) AS n FROM e"]
    for index, facet in enumerate(FACETS):
        key = f"'{facet.param}' AS facet"
        m2m, named = _many_to_many(facet), _named_row(facet)
        if m2m is not None:
            link, source, target, table, column = (quote(name) for name in m2m)
            ids = (
                f"SELECT link.{target} AS value, COUNT(*) AS n FROM e JOIN {link} AS link "  # noqa: S608
                f"ON link.{source} = e.e_mechanism GROUP BY link.{target} {top}"
            )
            grouped = f"SELECT {key}, t.{column} AS value, NULL AS label, top.n FROM ({ids}) AS top "  # noqa: S608
            grouped += f"JOIN {table} AS t ON t.id = top.value"
        elif named is not None:
            table, column, label = (quote(name) for name in named)
            ids = f"SELECT v{index} AS value, COUNT(*) AS n FROM e WHERE v{index} IS NOT NULL GROUP BY v{index} {top}"  # noqa: S608
            grouped = f"SELECT {key}, t.{column} AS value, t.{label} AS label, top.n FROM ({ids}) AS top "  # noqa: S608
            grouped += f"JOIN {table} AS t ON t.id = top.value"
        else:
            grouped = (
                f"SELECT * FROM (SELECT {key}, v{index} AS value, NULL AS label, COUNT(*) AS n FROM e "  # noqa: S608
                f"WHERE v{index} IS NOT NULL AND v{index} <> '' GROUP BY v{index} {top}) AS top"
            )
        branches.append(f"SELECT * FROM ({grouped}) AS f{index}")  # noqa: S608 - composed above
    branches.append(
        "SELECT 'year' AS facet, CAST(e_year AS TEXT) AS value, NULL AS label, COUNT(*) AS n FROM e "
        "WHERE e_year IS NOT NULL GROUP BY e_year"
    )
    # Only the models' table and column names and the facets' fixed keys are interpolated.
    return f"WITH e AS MATERIALIZED ({inner}) " + " UNION ALL ".join(branches), list(params)  # noqa: S608


def _many_to_many(facet: Facet) -> tuple[str, str, str, str, str] | None:
    """For a facet `mechanism__<m2m>__<field>`: the link table, its two columns, the target table and column."""
    parts = facet.lookup.split("__")
    if len(parts) != 3 or parts[0] != "mechanism":
        return None
    relation = Mechanism._meta.get_field(parts[1])
    if not relation.many_to_many:
        return None
    link = relation.remote_field.through._meta
    target = relation.related_model._meta
    return (
        link.db_table,
        relation.m2m_column_name(),
        relation.m2m_reverse_name(),
        target.db_table,
        target.get_field(parts[2]).column,
    )


def _named_row(facet: Facet) -> tuple[str, str, str] | None:
    """For a facet `<foreign key>__<field>` with a label: the target table, the value's and the label's column."""
    parts = facet.lookup.split("__")
    if facet.label_lookup is None or len(parts) != 2:
        return None
    relation = Evidence._meta.get_field(parts[0])
    target = relation.related_model._meta
    label = facet.label_lookup.split("__")[1]
    return target.db_table, target.get_field(parts[1]).column, target.get_field(label).column


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
        values.sort(key=lambda value: (-value.count, value.label))
        counts.facets.append((facet, values))
    return counts
