"""The API's query-string filters, one FilterSet per resource (django-filter).

The mechanism filters are the site's facets and apply them with the site's own
`curation.search.filter_mechanisms`, so `/api/mechanisms/?gene=B2M` and
`/mechanisms/?gene=B2M` list the same entries. A value that is not a choice or
not a number answers 400 naming the parameter; an identifier nothing published
carries (a gene symbol, a slug) simply matches nothing, as a filter does.
Every filter is one indexed condition or an EXISTS subquery: no filter adds a
query per row.
"""

import django_filters as filters
from django.db.models import Exists, OuterRef, Q
from rest_framework.exceptions import ValidationError

from curation.models import (
    REFERENCE_FLAGS,
    CancerType,
    Category,
    Direction,
    Evidence,
    EvidenceLevel,
    Gene,
    Mechanism,
    ModelSystem,
    Phenotype,
    Reference,
    Therapy,
    TherapyClass,
)
from curation.search import filter_mechanisms, text_match
from curation.search.query import QueryTooLong

__all__ = [
    "CancerTypeFilter",
    "EvidenceFilter",
    "GeneFilter",
    "MechanismFilter",
    "ReferenceFilter",
    "TherapyFilter",
]

FLAG_CHOICES = [(flag.code, flag.label) for flag in REFERENCE_FLAGS]
_FLAG_FIELDS = {flag.code: flag.field for flag in REFERENCE_FLAGS}
_YEAR = {"min_value": 1800, "max_value": 2200}


def _mechanisms_naming_gene(symbol: str):
    """Mechanism ids that name the gene `symbol` (HGNC symbols are upper case; readers type b2m too)."""
    return Mechanism.genes.through.objects.filter(gene__symbol__iexact=symbol.strip()).values("mechanism_id")


class MechanismFilter(filters.FilterSet):
    q = filters.CharFilter(method="filter_text", max_length=200, label="Words in the name or summary.")
    category = filters.ChoiceFilter(choices=Category.choices)
    gene = filters.CharFilter(method="filter_gene", max_length=32, label="HGNC symbol, any case (B2M).")
    therapy = filters.CharFilter(method="filter_therapy", max_length=120, label="Therapy slug (pembrolizumab).")
    cancer_type = filters.CharFilter(field_name="cancer_types__slug", max_length=120, label="Cancer type slug.")
    phenotype = filters.ChoiceFilter(choices=Phenotype.choices, method="filter_phenotype")
    parent = filters.CharFilter(method="filter_parent", max_length=80, label="Slug of the broader mechanism.")

    class Meta:
        model = Mechanism
        fields = []

    def filter_text(self, queryset, name, value):
        try:
            match = text_match(value)
        except QueryTooLong as error:
            raise ValidationError({"q": str(error)}) from None
        return filter_mechanisms(queryset, match=match)

    def filter_gene(self, queryset, name, value):
        return queryset.filter(pk__in=_mechanisms_naming_gene(value))

    def filter_therapy(self, queryset, name, value):
        return filter_mechanisms(queryset, therapy=value)

    def filter_phenotype(self, queryset, name, value):
        return filter_mechanisms(queryset, phenotype=value)

    def filter_parent(self, queryset, name, value):
        return queryset.filter(parent__slug=value, parent__in=Mechanism.objects.published())


class _CitedPaperFilters(filters.FilterSet):
    """Year range and PubMed notices of the paper (`paper` is the path from the row to its Reference)."""

    paper = ""
    year_min = filters.NumberFilter(method="filter_year_min", label="Published in this year or later.", **_YEAR)
    year_max = filters.NumberFilter(method="filter_year_max", label="Published in this year or earlier.", **_YEAR)
    flag = filters.ChoiceFilter(choices=FLAG_CHOICES, method="filter_flag", label="The paper carries this notice.")

    def _field(self, name):
        return f"{self.paper}{name}"

    def filter_year_min(self, queryset, name, value):
        return queryset.filter(**{self._field("pub_year__gte"): int(value)})

    def filter_year_max(self, queryset, name, value):
        return queryset.filter(**{self._field("pub_year__lte"): int(value)})

    def filter_flag(self, queryset, name, value):
        return queryset.filter(**{self._field(_FLAG_FIELDS[value]): True})


class EvidenceFilter(_CitedPaperFilters):
    paper = "reference__"
    mechanism = filters.CharFilter(field_name="mechanism__slug", max_length=80, label="Mechanism slug.")
    reference = filters.NumberFilter(field_name="reference__pmid", min_value=1, label="PMID of the paper.")
    gene = filters.CharFilter(method="filter_gene", max_length=32, label="A gene the mechanism names.")
    category = filters.ChoiceFilter(field_name="mechanism__category", choices=Category.choices)
    therapy = filters.CharFilter(field_name="therapy__slug", max_length=120, label="Therapy slug.")
    cancer_type = filters.CharFilter(field_name="cancer_type__slug", max_length=120, label="Cancer type slug.")
    direction = filters.ChoiceFilter(choices=Direction.choices)
    level = filters.ChoiceFilter(choices=EvidenceLevel.choices)
    model_system = filters.ChoiceFilter(choices=ModelSystem.choices, label="What the claim was shown in.")
    phenotype = filters.ChoiceFilter(choices=Phenotype.choices)

    class Meta:
        model = Evidence
        fields = []

    def filter_gene(self, queryset, name, value):
        return queryset.filter(mechanism__in=_mechanisms_naming_gene(value))


class ReferenceFilter(_CitedPaperFilters):
    mechanism = filters.CharFilter(method="filter_mechanism", max_length=80, label="Cited by this mechanism.")
    gene = filters.CharFilter(method="filter_gene", max_length=32, label="Cited by a mechanism naming this gene.")

    class Meta:
        model = Reference
        fields = []

    def _cited(self, queryset, condition: Q):
        citing = Evidence.objects.published().filter(condition, reference=OuterRef("pk"))
        return queryset.filter(Exists(citing))

    def filter_mechanism(self, queryset, name, value):
        return self._cited(queryset, Q(mechanism__slug=value))

    def filter_gene(self, queryset, name, value):
        return self._cited(queryset, Q(mechanism__in=_mechanisms_naming_gene(value)))


class _VocabularyFilter(filters.FilterSet):
    mechanism = filters.CharFilter(method="filter_mechanism", max_length=80, label="Named by this mechanism.")

    def filter_mechanism(self, queryset, name, value):
        through = queryset.model.mechanisms.through
        named = through.objects.filter(
            mechanism__slug=value,
            mechanism__in=Mechanism.objects.published(),
            **{f"{queryset.model._meta.model_name}_id": OuterRef("pk")},
        )
        return queryset.filter(Exists(named))


class GeneFilter(_VocabularyFilter):
    class Meta:
        model = Gene
        fields = []


class TherapyFilter(_VocabularyFilter):
    therapy_class = filters.ChoiceFilter(choices=TherapyClass.choices)

    class Meta:
        model = Therapy
        fields = []


class CancerTypeFilter(_VocabularyFilter):
    class Meta:
        model = CancerType
        fields = []
