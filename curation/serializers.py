"""The one serialisation of each published resource, shared by the read API and data releases.

Each resource is a `Resource`: its published rows with what their serializer
reads loaded in a fixed number of queries (`rows()`), the serializer, and the
stable key readers look it up by (slug, PMID, HGNC symbol, evidence id).
`/api/...` and `export_release` both serialise through `RESOURCES`, so a
release holds the very objects the API serves, field for field.

Only published content is reachable from here: published mechanisms (never a
pending revision), their evidence, the papers it cites and the vocabulary they
use (the models' `published()` QuerySet methods). A mechanism's parent,
ancestors and children are named only when they are published too.

Abstracts are left out on purpose: PubMed abstracts belong to their publishers
and may not be redistributed under the atlas's CC BY 4.0 licence.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.db.models import Count, IntegerField, OuterRef, Prefetch, QuerySet, Subquery
from django.db.models.functions import Coalesce
from rest_framework import serializers

from curation.citations.identifiers import doi_url, gene_ids, is_doi, pmc_url, reference_ids
from curation.citations.nlm import format_citation
from curation.models import (
    REFERENCE_FLAGS,
    CancerType,
    Evidence,
    Gene,
    Mechanism,
    Reference,
    Status,
    Therapy,
)
from curation.pubmed_records import plain_text

__all__ = [
    "RESOURCES",
    "CancerTypeSerializer",
    "EvidenceSerializer",
    "GeneSerializer",
    "MechanismSerializer",
    "ReferenceSerializer",
    "Resource",
    "TherapySerializer",
]


def _is_public(mechanism) -> bool:
    return mechanism is not None and mechanism.status == Status.PUBLISHED and mechanism.revision_of_id is None


def _count(queryset: QuerySet, outer: str) -> Coalesce:
    """COUNT of `queryset` rows whose `outer` is the outer row, as a correlated subquery.

    A subquery in the SELECT list is evaluated only for the rows a page returns,
    where a JOIN with GROUP BY would count the evidence of every mechanism first.
    """
    counted = queryset.filter(**{outer: OuterRef("pk")}).order_by().values(outer).annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


class MechanismSerializer(serializers.ModelSerializer):
    """A published mechanism with its place in the tree, vocabulary and evidence counts."""

    parent = serializers.SerializerMethodField(help_text="Slug of the broader mechanism, if it is published.")
    ancestors = serializers.SerializerMethodField(help_text="Slugs of the published broader mechanisms, root first.")
    children = serializers.SerializerMethodField(help_text="Slugs of the published narrower mechanisms.")
    depth = serializers.SerializerMethodField(help_text="1 for a top-level mechanism, up to 3.")
    phenotypes = serializers.SerializerMethodField(help_text="Resistance phenotypes: primary, adaptive, acquired.")
    genes = serializers.SlugRelatedField(many=True, read_only=True, slug_field="symbol", help_text="HGNC symbols.")
    therapies = serializers.SlugRelatedField(many=True, read_only=True, slug_field="slug")
    cancer_types = serializers.SlugRelatedField(many=True, read_only=True, slug_field="slug")
    evidence_count = serializers.IntegerField(read_only=True)
    reference_count = serializers.IntegerField(read_only=True, help_text="Distinct papers the evidence cites.")
    consensus = serializers.SerializerMethodField(
        help_text="Primary evidence items (reviews not counted) for and against the mechanism itself."
    )

    class Meta:
        model = Mechanism
        fields = [
            "slug", "name", "category", "parent", "ancestors", "children", "depth", "summary", "strategies",
            "phenotypes", "genes", "therapies", "cancer_types", "evidence_count", "reference_count", "consensus",
            "published_at",
        ]  # fmt: skip

    def get_parent(self, mechanism) -> str | None:
        return mechanism.parent.slug if _is_public(mechanism.parent) else None

    def get_ancestors(self, mechanism) -> list[str]:
        return [a.slug for a in reversed(mechanism.ancestors()) if _is_public(a)]

    def get_children(self, mechanism) -> list[str]:
        return [child.slug for child in mechanism.public_children]

    def get_depth(self, mechanism) -> int:
        return 1 + len(mechanism.ancestors())

    def get_phenotypes(self, mechanism) -> list[str]:
        return [str(phenotype) for phenotype in mechanism.phenotypes]

    def get_consensus(self, mechanism) -> dict[str, int]:
        return {"supports": mechanism.supports_count, "refutes": mechanism.refutes_count}


def _mechanism_rows() -> QuerySet:
    evidence = Evidence.objects.all()
    return (
        Mechanism.objects.published()
        # The tree is at most three levels deep: two joins reach every ancestor.
        .select_related("parent__parent")
        .prefetch_related(
            "genes",
            "therapies",
            "cancer_types",
            Prefetch(
                "children",
                queryset=Mechanism.objects.published().only("pk", "slug", "parent_id").order_by("slug"),
                to_attr="public_children",
            ),
        )  # fmt: skip
        .annotate(
            evidence_count=_count(evidence, "mechanism"),
            reference_count=Coalesce(
                Subquery(
                    evidence.filter(mechanism=OuterRef("pk"))
                    .order_by()
                    .values("mechanism")
                    .annotate(n=Count("reference", distinct=True))
                    .values("n"),
                    output_field=IntegerField(),
                ),
                0,
            ),
            # Reviews are context, never counted for or against (curation/consensus.py, docs/consensus.md).
            supports_count=_count(evidence.primary().filter(direction="supports"), "mechanism"),
            refutes_count=_count(evidence.primary().filter(direction="refutes"), "mechanism"),
        )
    )


class EvidenceSerializer(serializers.ModelSerializer):
    """One claim of a published mechanism, resting on one paper."""

    id = serializers.IntegerField(read_only=True, help_text="Stable while the claim exists.")
    mechanism = serializers.SlugRelatedField(read_only=True, slug_field="slug")
    reference = serializers.SlugRelatedField(read_only=True, slug_field="pmid", help_text="PMID of the paper.")
    therapy = serializers.SlugRelatedField(read_only=True, slug_field="slug", allow_null=True)
    cancer_type = serializers.SlugRelatedField(read_only=True, slug_field="slug", allow_null=True)
    year = serializers.IntegerField(source="reference.pub_year", read_only=True, allow_null=True)
    reference_flags = serializers.SerializerMethodField(help_text="Notices on the cited paper, most serious first.")

    class Meta:
        model = Evidence
        fields = [
            "id", "mechanism", "reference", "statement", "direction", "level", "model_system", "therapy", "cancer_type",
            "phenotype", "locator", "year", "reference_flags",
        ]  # fmt: skip

    def get_reference_flags(self, evidence) -> list[str]:
        return [flag.code for flag in evidence.reference.flags]


def _evidence_rows() -> QuerySet:
    # Only the columns the serializer reads: a paper's stored XML, abstract and metadata lists would
    # otherwise be loaded (and their JSON decoded) for every claim citing it.
    return (
        Evidence.objects.published()
        .select_related("mechanism", "reference", "therapy", "cancer_type")
        .only(
            *(f.name for f in Evidence._meta.concrete_fields if f.name in EvidenceSerializer.Meta.fields),
            "mechanism__slug", "therapy__slug", "cancer_type__slug", "reference__pmid", "reference__pub_year",
            *(f"reference__{flag.field}" for flag in REFERENCE_FLAGS),
        )
    )  # fmt: skip


class AuthorSerializer(serializers.Serializer):
    last_name = serializers.CharField()
    fore_name = serializers.CharField()
    initials = serializers.CharField()
    collective_name = serializers.CharField(help_text="A group author (then the name fields are empty).")
    orcid = serializers.CharField()


class CorrectionSerializer(serializers.Serializer):
    type = serializers.CharField(help_text="PubMed's CommentsCorrections type, e.g. RetractionIn, ErratumIn.")
    pmid = serializers.CharField(allow_blank=True)
    source = serializers.CharField(allow_blank=True)


class ReferenceSerializer(serializers.ModelSerializer):
    """A cited paper's citation metadata as PubMed gives it, with the notices PubMed links to it."""

    title = serializers.SerializerMethodField(help_text="Plain text.")
    title_html = serializers.CharField(source="title", read_only=True, help_text="Sanitised inline markup.")
    authors = AuthorSerializer(many=True, read_only=True)
    corrections = CorrectionSerializer(many=True, read_only=True)
    flags = serializers.SerializerMethodField(help_text="retracted, expression-of-concern, erratum.")
    citation = serializers.SerializerMethodField(help_text="Vancouver (NLM) citation, plain text.")
    identifiers = serializers.SerializerMethodField(help_text="Bioregistry compact identifiers.")
    pubmed_url = serializers.CharField(read_only=True)
    doi_url = serializers.SerializerMethodField()
    pmc_url = serializers.SerializerMethodField()
    publication_types = serializers.ListField(child=serializers.CharField(), read_only=True)
    mesh_terms = serializers.ListField(child=serializers.CharField(), read_only=True)
    keywords = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = Reference
        fields = [
            "pmid", "doi", "pmcid", "title", "title_html", "authors", "journal_title", "journal_iso", "volume",
            "issue", "pages", "pub_year", "pub_date", "is_book", "publication_types", "mesh_terms", "keywords",
            "flags", "corrections", "citation", "identifiers", "pubmed_url", "doi_url", "pmc_url",
        ]  # fmt: skip

    def get_title(self, reference) -> str:
        return plain_text(reference.title or "")

    def get_flags(self, reference) -> list[str]:
        return [flag.code for flag in reference.flags]

    def get_citation(self, reference) -> str:
        return format_citation(reference)

    def get_identifiers(self, reference) -> list[str]:
        return [identifier.curie for identifier in reference_ids(reference)]

    def get_doi_url(self, reference) -> str:
        return doi_url(reference.doi) if is_doi(reference.doi) else ""

    def get_pmc_url(self, reference) -> str:
        return pmc_url(reference.pmcid)


def _reference_rows() -> QuerySet:
    # The stored XML is only the pipeline's: never loaded for readers.
    return Reference.objects.published().defer("raw_xml", "abstract", "last_error")


def _published_mechanisms(related_name: str) -> Prefetch:
    return Prefetch(
        related_name, queryset=Mechanism.objects.published().only("pk", "slug").order_by("slug"),
        to_attr="public_mechanisms",
    )  # fmt: skip


class _VocabularySerializer(serializers.ModelSerializer):
    mechanisms = serializers.SerializerMethodField(help_text="Slugs of the published mechanisms that name it.")

    def get_mechanisms(self, term) -> list[str]:
        return [mechanism.slug for mechanism in term.public_mechanisms]


class GeneSerializer(_VocabularySerializer):
    identifiers = serializers.SerializerMethodField(help_text="Bioregistry compact identifiers (hgnc:, ncbigene:).")

    class Meta:
        model = Gene
        fields = ["symbol", "name", "hgnc_id", "ncbi_gene_id", "identifiers", "mechanisms"]

    def get_identifiers(self, gene) -> list[str]:
        return [identifier.curie for identifier in gene_ids(gene)]


class TherapySerializer(_VocabularySerializer):
    class Meta:
        model = Therapy
        fields = ["slug", "name", "therapy_class", "ncit_code", "mechanisms"]


class CancerTypeSerializer(_VocabularySerializer):
    class Meta:
        model = CancerType
        fields = ["slug", "name", "doid", "ncit_code", "mechanisms"]


@dataclass(frozen=True)
class Resource:
    """One kind of published object: how to load it, serialise it and name it."""

    name: str  # the API path segment and the release's file stem
    serializer: type[serializers.Serializer]
    rows: Callable[[], QuerySet]
    key: str  # the stable id: a field unique among the published rows
    default_order: tuple[str, ...]  # a deterministic order ending in the key

    def serialize(self, objects) -> list[dict]:
        return self.serializer(objects, many=True).data


RESOURCES = {
    resource.name: resource
    for resource in (
        Resource("mechanisms", MechanismSerializer, _mechanism_rows, "slug", ("slug",)),
        Resource("evidence", EvidenceSerializer, _evidence_rows, "id", ("id",)),
        Resource("references", ReferenceSerializer, _reference_rows, "pmid", ("pmid",)),
        Resource(
            "genes",
            GeneSerializer,
            lambda: Gene.objects.published().prefetch_related(_published_mechanisms("mechanisms")),
            "symbol",
            ("symbol",),
        ),
        Resource(
            "therapies",
            TherapySerializer,
            lambda: Therapy.objects.published().prefetch_related(_published_mechanisms("mechanisms")),
            "slug",
            ("slug",),
        ),
        Resource(
            "cancer-types",
            CancerTypeSerializer,
            lambda: CancerType.objects.published().prefetch_related(_published_mechanisms("mechanisms")),
            "slug",
            ("slug",),
        ),
    )  # fmt: skip
}
