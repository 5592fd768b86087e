"""The atlas's data model.

Invariants live in the database wherever SQL can express them (unique keys,
check constraints) and in `clean()` where they span rows (the mechanism tree).
Every editable model carries a `version` counter for optimistic concurrency
and a simple-history table so that every change is traceable.
"""

import re
from datetime import timedelta
from typing import NamedTuple

from django.conf import settings
from django.contrib.postgres.search import SearchVectorField
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.dispatch import receiver
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify
from simple_history.models import HistoricalRecords
from simple_history.signals import pre_create_historical_record

MAX_TREE_DEPTH = 3
ALIAS_SEPARATOR = ", "
_ALIAS = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ./+αβγδκ-]*$")


def split_aliases(value: str) -> list[str]:
    """The aliases written in an aliases field ("PD-L1, B7-H1"), stripped, without empties or repeats."""
    seen: dict[str, str] = {}
    for alias in re.split(r"[,;\n]", value or ""):
        alias = " ".join(alias.split())
        if alias and alias.casefold() not in seen:
            seen[alias.casefold()] = alias
    return list(seen.values())


def validate_aliases(value: str) -> None:
    """Each alias is a name readers type (letters, digits, spaces, - . / +), at most 40 characters."""
    bad = [alias for alias in split_aliases(value) if len(alias) > 40 or not _ALIAS.match(alias)]
    if bad:
        raise ValidationError(
            "Write aliases as names separated by commas (letters, digits, spaces and - . / + only, "
            "at most 40 characters each); these are not: %(bad)s.",
            params={"bad": ", ".join(bad[:5])},
        )


class AliasesField(models.CharField):
    """Other names of a row, separated by commas; stored normalised ("PD-L1, B7-H1")."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_length", 300)
        kwargs.setdefault("blank", True)
        kwargs.setdefault("validators", [validate_aliases])
        super().__init__(*args, **kwargs)

    def pre_save(self, model_instance, add):
        value = ALIAS_SEPARATOR.join(split_aliases(getattr(model_instance, self.attname)))
        setattr(model_instance, self.attname, value)
        return value


def fit_to_column(field: models.Field, value):
    """`value` cut to `field`'s max_length, ending in "…" when cut; anything but a string unchanged.

    PostgreSQL refuses a string longer than its column and rolls back the whole
    transaction (SQLite stores it, so a suite on SQLite would never notice):
    text that code composes or copies from elsewhere goes through here before
    it is written into a bounded column. Cutting the same way every time means
    the same input always gives the same stored value.
    """
    max_length = getattr(field, "max_length", None)
    if max_length and isinstance(value, str) and len(value) > max_length:
        return value[: max_length - 1] + "…"
    return value


@receiver(pre_create_historical_record)
def _fit_change_reason(sender, history_instance, **kwargs):
    """Every history entry's reason fits its column (varchar(100)), whoever composed it and from what."""
    field = history_instance._meta.get_field("history_change_reason")
    history_instance.history_change_reason = fit_to_column(field, history_instance.history_change_reason)


class Category(models.TextChoices):
    TUMOR_INTRINSIC = "tumor-intrinsic", "Tumour-intrinsic"
    TUMOR_EXTRINSIC = "tumor-extrinsic", "Tumour-extrinsic"


class Phenotype(models.TextChoices):
    PRIMARY = "primary", "Primary resistance"
    ADAPTIVE = "adaptive", "Adaptive resistance"
    ACQUIRED = "acquired", "Acquired resistance"


# The Mechanism field that records each phenotype.
PHENOTYPE_FIELDS = {
    Phenotype.PRIMARY: "primary_resistance",
    Phenotype.ADAPTIVE: "adaptive_resistance",
    Phenotype.ACQUIRED: "acquired_resistance",
}


class Status(models.TextChoices):
    DRAFT = "draft", "Draft"
    IN_REVIEW = "in-review", "In review"
    PUBLISHED = "published", "Published"
    RETIRED = "retired", "Retired"


class TherapyClass(models.TextChoices):
    ANTI_PD1 = "anti-PD-1", "Anti-PD-1"
    ANTI_PDL1 = "anti-PD-L1", "Anti-PD-L1"
    ANTI_CTLA4 = "anti-CTLA-4", "Anti-CTLA-4"
    ANTI_LAG3 = "anti-LAG-3", "Anti-LAG-3"
    ANTI_TIGIT = "anti-TIGIT", "Anti-TIGIT"
    ADOPTIVE = "adoptive-cell-therapy", "Adoptive cell therapy"
    CAR_T = "CAR-T", "CAR-T"
    OTHER = "other", "Other"


class Direction(models.TextChoices):
    SUPPORTS = "supports", "Supports"
    REFUTES = "refutes", "Refutes"


class EvidenceLevel(models.TextChoices):
    CLINICAL_COHORT = "clinical-cohort", "Clinical cohort"
    CASE_REPORT = "case-report", "Case report"
    PRECLINICAL_IN_VIVO = "preclinical-in-vivo", "Preclinical in vivo"
    IN_VITRO = "in-vitro", "In vitro"
    COMPUTATIONAL = "computational", "Computational"
    REVIEW = "review", "Review article"


class ModelSystem(models.TextChoices):
    """What the claim was shown in, separate from how strong the kind of study is (its level)."""

    PATIENT_COHORT = "patient-cohort", "Patient cohort"
    CLINICAL_TRIAL = "clinical-trial", "Clinical trial"
    CASE_REPORT = "case-report", "Case report"
    SYNGENEIC_MOUSE = "syngeneic-mouse", "Syngeneic mouse"
    ENGINEERED_MOUSE = "engineered-mouse", "Genetically engineered mouse"
    XENOGRAFT = "xenograft-pdx", "Xenograft / PDX"
    ORGANOID = "organoid", "Organoid"
    CELL_LINE = "cell-line", "Cell line"
    SCREEN = "screen", "CRISPR or other screen"
    COMPUTATIONAL = "computational", "Computational"
    NOT_APPLICABLE = "not-applicable", "Not applicable (review)"


# The one rule that tells context from primary evidence: a review article is listed with the
# evidence but never counted in a consensus (curation/consensus.py), nor does it let a
# mechanism be published on its own (curation/workflow.py). Everything that asks goes
# through EvidenceQuerySet.primary() / .reviews() or Evidence.is_primary.
REVIEW_CONDITION = Q(level=EvidenceLevel.REVIEW)


class MetadataState(models.TextChoices):
    PENDING = "pending", "Pending: not yet confirmed by PubMed"
    NEEDS_REVIEW = "needs-review", "Fetched: needs curator review"
    VERIFIED = "verified", "Verified by a curator"
    NOT_FOUND = "not-found", "Not found in PubMed"
    FAILED = "failed", "Fetch failed"


class Versioned(models.Model):
    """Optimistic concurrency: a save must name the version it was based on."""

    version = models.PositiveIntegerField(default=1, editable=False)

    class Meta:
        abstract = True


class VocabularyQuerySet(models.QuerySet):
    """Genes, therapies and cancer types."""

    def published(self):
        """Rows a published mechanism names, or (therapies, cancer types) its published evidence names.

        What readers, the API and data releases may list: a term only drafts use
        would tell readers what is being curated.
        """
        published = Mechanism.objects.published()
        named = models.Exists(
            self.model.mechanisms.through.objects.filter(
                **{f"{self.model._meta.model_name}_id": models.OuterRef("pk"), "mechanism__in": published}
            )
        )
        if self.model is Gene:
            return self.filter(named)
        in_evidence = models.Exists(
            Evidence.objects.published().filter(**{self.model.evidence.field.name: models.OuterRef("pk")})
        )
        return self.filter(named | in_evidence)


class Gene(Versioned):
    symbol = models.CharField(
        max_length=32,
        unique=True,
        validators=[RegexValidator(r"^[A-Z0-9][A-Za-z0-9-]*$", "Use the HGNC approved symbol, e.g. B2M or HLA-A.")],
        help_text="HGNC approved symbol, exactly as HGNC writes it (e.g. B2M, HLA-A, JAK1).",
    )
    name = models.CharField(max_length=255, blank=True, help_text="HGNC approved name.")
    aliases = AliasesField(
        help_text="Other symbols and names readers search for, separated by commas (e.g. PD-L1, B7-H1 for "
        "CD274). Searching an alias finds the gene under its HGNC symbol.",
    )
    hgnc_id = models.CharField(
        "HGNC id",
        max_length=16,
        blank=True,
        validators=[RegexValidator(r"^HGNC:\d+$", "Write the HGNC id as HGNC:1234.")],
    )
    ncbi_gene_id = models.PositiveIntegerField("NCBI Gene id", null=True, blank=True)
    history = HistoricalRecords()
    objects = VocabularyQuerySet.as_manager()

    class Meta:
        ordering = ["symbol"]
        constraints = [
            models.UniqueConstraint(fields=["hgnc_id"], condition=~Q(hgnc_id=""), name="gene_hgnc_id_unique"),
            models.UniqueConstraint(fields=["ncbi_gene_id"], name="gene_ncbi_gene_id_unique"),
        ]

    def __str__(self):
        return self.symbol

    def get_absolute_url(self):
        return reverse("gene-detail", args=[self.symbol])


class Therapy(Versioned):
    name = models.CharField(max_length=120, unique=True)
    slug = models.SlugField(max_length=120, unique=True)
    therapy_class = models.CharField("class", max_length=32, choices=TherapyClass.choices)
    ncit_code = models.CharField(
        "NCIt code",
        max_length=16,
        blank=True,
        validators=[RegexValidator(r"^C\d+$", "NCIt codes look like C12345.")],
    )
    history = HistoricalRecords()
    objects = VocabularyQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "therapies"

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("therapy-detail", args=[self.slug])


class CancerType(Versioned):
    name = models.CharField(max_length=120, unique=True)
    slug = models.SlugField(max_length=120, unique=True)
    doid = models.CharField(
        "Disease Ontology id",
        max_length=16,
        blank=True,
        validators=[RegexValidator(r"^DOID:\d+$", "Disease Ontology ids look like DOID:1909.")],
    )
    ncit_code = models.CharField(
        "NCIt code", max_length=16, blank=True, validators=[RegexValidator(r"^C\d+$", "NCIt codes look like C12345.")]
    )
    history = HistoricalRecords()
    objects = VocabularyQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("cancer-type-detail", args=[self.slug])


class MechanismQuerySet(models.QuerySet):
    def originals(self):
        """Mechanisms in their own right: every row but the pending revisions of published ones."""
        return self.filter(revision_of__isnull=True)

    def published(self):
        """What readers may see: published entries, never a pending revision."""
        return self.originals().filter(status=Status.PUBLISHED)


class Mechanism(Versioned):
    slug = models.SlugField(
        max_length=80,
        help_text="Stable identifier used in URLs and citations. Never change it once published.",
    )
    name = models.CharField(max_length=200)
    aliases = AliasesField(
        help_text="Other names of the mechanism readers search for, separated by commas (e.g. MHC-I loss).",
    )
    category = models.CharField(max_length=20, choices=Category.choices)
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
        help_text=f"Broader mechanism. The tree is at most {MAX_TREE_DEPTH} levels deep and a child "
        "shares its parent's category.",
    )
    summary = models.TextField(
        help_text="In your own words: what the tumour or its environment does and why T cells fail. "
        "Do not paste abstracts."
    )
    strategies = models.TextField(blank=True, help_text="Ways to overcome or bypass the mechanism, in your own words.")
    genes = models.ManyToManyField(Gene, blank=True, related_name="mechanisms")
    therapies = models.ManyToManyField(Therapy, blank=True, related_name="mechanisms")
    cancer_types = models.ManyToManyField(CancerType, blank=True, related_name="mechanisms")
    primary_resistance = models.BooleanField(default=False, help_text="Tumours never respond.")
    adaptive_resistance = models.BooleanField(default=False, help_text="Tumours adapt during the response.")
    acquired_resistance = models.BooleanField(default=False, help_text="Tumours relapse after a response.")

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT, db_index=True)
    # A pending edit of a published mechanism is a separate row pointing at it,
    # so readers keep seeing the reviewed text until the revision is published.
    revision_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="revisions", editable=False
    )
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    submitted_at = models.DateTimeField(null=True, blank=True, editable=False)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    reviewed_at = models.DateTimeField(null=True, blank=True, editable=False)
    rejection_reason = models.TextField(blank=True, editable=False)
    published_at = models.DateTimeField(null=True, blank=True, editable=False)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )

    history = HistoricalRecords(m2m_fields=[genes, therapies, cancer_types])
    objects = MechanismQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        permissions = [
            ("submit_mechanism", "Can submit a mechanism for review"),
            ("publish_mechanism", "Can publish, reject and retire mechanisms"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["slug"], condition=Q(revision_of__isnull=True), name="mechanism_slug_unique"
            ),
            models.CheckConstraint(condition=~Q(parent=models.F("id")), name="mechanism_not_own_parent"),
            models.CheckConstraint(condition=Q(category__in=Category.values), name="mechanism_category_valid"),
            models.CheckConstraint(condition=Q(status__in=Status.values), name="mechanism_status_valid"),
            models.CheckConstraint(
                condition=Q(revision_of__isnull=True) | ~Q(status=Status.PUBLISHED),
                name="mechanism_revision_never_published",
            ),
            # At most one open revision per published mechanism: two curators
            # pressing "Edit" at once must end up in the same draft.
            models.UniqueConstraint(
                fields=["revision_of"], condition=Q(revision_of__isnull=False), name="mechanism_one_open_revision"
            ),
        ]
        indexes = [
            # The admin's list (by name, then id) and the public lists (published, by category and
            # name) read their page in order from these instead of sorting every mechanism.
            models.Index(fields=["name", "id"], name="mechanism_name_id"),
            models.Index(
                fields=["category", "name", "id"],
                condition=Q(status="published", revision_of__isnull=True),
                name="mechanism_published_by_name",
            ),
        ]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("mechanism-detail", args=[self.slug])

    @property
    def phenotypes(self):
        return [phenotype for phenotype, name in PHENOTYPE_FIELDS.items() if getattr(self, name)]

    def ancestors(self):
        """Parents from the nearest up; stops at a cycle instead of looping forever."""
        seen, node, chain = {self.pk}, self.parent, []
        while node is not None and node.pk not in seen:
            chain.append(node)
            seen.add(node.pk)
            node = node.parent
        return chain

    def _tree_pk(self):
        # A revision takes its original's place in the tree when it is published,
        # so the tree rules are checked against the original's position and children.
        return self.revision_of_id or self.pk

    def has_primary_evidence(self) -> bool:
        """Whether evidence other than reviews backs this mechanism: its own, or that of a published
        mechanism below it (a consensus rolls its sub-mechanisms up, docs/consensus.md).

        For a revision, its own evidence (which publishing makes public) and the original's
        sub-mechanisms. No mechanism is published without it (curation/workflow.py, the seed).
        """
        tree_pk = self._tree_pk()
        own = Evidence.objects.primary().filter(mechanism_id=self.pk) if self.pk else Evidence.objects.none()
        below = (
            Evidence.objects.published()
            .primary()
            .filter(Q(mechanism__parent_id=tree_pk) | Q(mechanism__parent__parent_id=tree_pk))
        )
        return own.exists() or (tree_pk is not None and below.exists())

    def subtree_height(self):
        """Levels below this node (0 for a leaf); for a revision, below the mechanism it edits."""
        if self._tree_pk() is None:
            return 0
        children = list(Mechanism.objects.originals().filter(parent_id=self._tree_pk()))
        return max((1 + child.subtree_height() for child in children), default=0)

    def clean(self):
        super().clean()
        own_pk = self._tree_pk()
        if own_pk is not None:
            strays = Mechanism.objects.originals().filter(parent_id=own_pk).exclude(category=self.category)
            if strays.exists():
                raise ValidationError(
                    {
                        "category": "A child shares its parent's category: move or recategorise its "
                        f"sub-mechanisms first ({', '.join(str(m) for m in strays[:5])})."
                    }
                )
        if self.parent_id is None:
            return
        parent = self.parent
        if own_pk is not None and (parent.pk == own_pk or any(a.pk == own_pk for a in parent.ancestors())):
            raise ValidationError({"parent": "A mechanism cannot sit below itself."})
        if parent.category != self.category:
            raise ValidationError(
                {"parent": f"A child shares its parent's category; “{parent}” is {parent.get_category_display()}."}
            )
        depth = 1 + len(parent.ancestors()) + 1 + self.subtree_height()
        if depth > MAX_TREE_DEPTH:
            raise ValidationError({"parent": f"The mechanism tree is at most {MAX_TREE_DEPTH} levels deep."})


class Flag(NamedTuple):
    """A notice PubMed links to a paper, that readers of evidence citing it must see."""

    field: str  # the Reference field that is true when the paper carries it
    label: str
    notice: str  # the heading of the warning on the paper's page

    @property
    def code(self) -> str:
        """How the API and data releases name the flag: retracted, expression-of-concern, erratum."""
        return slugify(self.label)


# Most serious first: pages that name one flag name the first that applies.
REFERENCE_FLAGS = (
    Flag("is_retracted", "Retracted", "This paper has been retracted"),
    Flag(
        "has_expression_of_concern",
        "Expression of concern",
        "An expression of concern was published about this paper",
    ),
    Flag("has_erratum", "Erratum", "An erratum was published for this paper"),
)
# What PubMed reports about a paper's standing. These are facts, not curated text: a
# refresh applies them at once and nothing else (an edit, a revert) may change them.
PUBMED_FACT_FIELDS = ("corrections", *(flag.field for flag in REFERENCE_FLAGS))
# Where the pipeline stands with a reference; written by refreshes and by verification only.
PUBMED_STATE_FIELDS = ("metadata_state", "fetched_at", "last_error")


# The conditions of two dashboard sections, shared by their querysets and by the partial indexes that
# serve them (PostgreSQL uses a partial index only for a query whose WHERE implies the index's).
FLAGGED = Q(is_retracted=True) | Q(has_expression_of_concern=True) | Q(has_erratum=True)
FETCH_PROBLEM = Q(metadata_state__in=[MetadataState.FAILED.value, MetadataState.NOT_FOUND.value]) | ~Q(last_error="")


def pubmed_url(pmid) -> str:
    """The PubMed page of a PMID ('' for none); every link to PubMed is built here."""
    return f"https://pubmed.ncbi.nlm.nih.gov/{int(pmid)}/" if pmid else ""


class ReferenceQuerySet(models.QuerySet):
    def stale(self, days=None):
        """References whose PubMed metadata is older than `days` or was never fetched.

        PMIDs PubMed said it does not know are left out: asking again every day
        would not change the answer.
        """
        days = settings.REFERENCE_STALE_DAYS if days is None else days
        cutoff = timezone.now() - timedelta(days=days)
        return self.exclude(metadata_state=MetadataState.NOT_FOUND).filter(
            Q(fetched_at__isnull=True) | Q(fetched_at__lt=cutoff)
        )

    def needs_review(self):
        return self.filter(metadata_state=MetadataState.NEEDS_REVIEW)

    def fetch_problems(self):
        """References PubMed could not deliver: the fetch failed, PubMed does not know the PMID, or
        the last attempt left an error (a verified reference keeps its data while its refresh fails)."""
        return self.filter(FETCH_PROBLEM)

    def published(self):
        """Papers the evidence of a published mechanism cites: what readers, the API and releases may list."""
        return self.filter(models.Exists(Evidence.objects.published().filter(reference=models.OuterRef("pk"))))

    def flagged(self):
        """Retracted papers and those with an erratum or an expression of concern."""
        return self.filter(FLAGGED)


class Reference(Versioned):
    pmid = models.PositiveIntegerField("PMID", unique=True, help_text="PubMed identifier, digits only.")
    doi = models.CharField("DOI", max_length=255, blank=True)
    pmcid = models.CharField("PMC id", max_length=16, blank=True)
    title = models.TextField(blank=True, help_text="Sanitised HTML: only inline markup PubMed uses is kept.")
    abstract = models.JSONField(default=list, blank=True, help_text="Sections: [{label, category, text}].")
    authors = models.JSONField(
        default=list, blank=True, help_text="In order: [{last_name, fore_name, initials, collective_name, orcid}]."
    )
    journal_title = models.CharField(max_length=255, blank=True)
    journal_iso = models.CharField("journal (ISO abbreviation)", max_length=120, blank=True)
    volume = models.CharField(max_length=32, blank=True)
    issue = models.CharField(max_length=32, blank=True)
    pages = models.CharField(max_length=64, blank=True)
    pub_year = models.PositiveSmallIntegerField(
        "year", null=True, blank=True, validators=[MinValueValidator(1800), MaxValueValidator(2200)]
    )
    pub_date = models.CharField(
        "publication date", max_length=64, blank=True, help_text="As PubMed gives it; may be partial (2019 Spring)."
    )
    publication_types = models.JSONField(default=list, blank=True)
    mesh_terms = models.JSONField("MeSH terms", default=list, blank=True)
    keywords = models.JSONField(default=list, blank=True)
    is_book = models.BooleanField(default=False)
    corrections = models.JSONField(
        default=list, blank=True, help_text="Linked notices: [{type, pmid, source}], e.g. RetractionIn."
    )
    is_retracted = models.BooleanField(default=False, db_index=True)
    has_erratum = models.BooleanField(default=False)
    has_expression_of_concern = models.BooleanField(default=False)

    metadata_state = models.CharField(
        max_length=16, choices=MetadataState.choices, default=MetadataState.PENDING, db_index=True
    )
    fetched_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    raw_xml = models.TextField("PubMed XML", blank=True, help_text="The record the metadata was built from.")
    verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    verified_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords(excluded_fields=["raw_xml"])
    objects = ReferenceQuerySet.as_manager()

    class Meta:
        ordering = ["-pub_year", "pmid"]
        permissions = [
            ("import_references", "Can import references by PMID or citation"),
            ("verify_reference", "Can confirm fetched metadata and review citation updates"),
            ("refresh_references", "Can trigger PubMed refreshes"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(pmid__gt=0), name="reference_pmid_positive"),
            models.CheckConstraint(condition=Q(metadata_state__in=MetadataState.values), name="reference_state_valid"),
        ]
        indexes = [
            # Lists newest first stop at the page instead of sorting every paper: the admin's
            # (-pub_year, -pmid) reads this backwards, /references/'s "oldest first" forwards,
            models.Index(fields=["pub_year", "pmid"], name="reference_year_pmid"),
            # and /references/'s "newest first" (papers without a year last) reads this one
            # (built on PostgreSQL only: SQLite cannot order an index's NULLs; see migration 0013).
            models.Index(models.F("pub_year").desc(nulls_last=True), models.F("pmid"), name="reference_newest_first"),
            # The dashboard's flagged papers and fetch problems are a handful among 100,000.
            models.Index(fields=["pmid"], condition=FLAGGED, name="reference_flagged"),
            models.Index(fields=["-updated_at", "pmid"], condition=FETCH_PROBLEM, name="reference_fetch_problem"),
            # A paper's year by its key without reading the row: the dashboard's "no recent evidence"
            # check looks up the year of each cited paper (an index-only scan). A key column rather
            # than INCLUDE, which SQLite lacks.
            models.Index(fields=["id", "pub_year"], name="reference_id_with_year"),
        ]

    def __str__(self):
        return f"PMID {self.pmid}"

    def get_absolute_url(self):
        return reverse("reference-detail", args=[self.pmid])

    @property
    def pubmed_url(self):
        return pubmed_url(self.pmid)

    @property
    def flags(self) -> list[Flag]:
        """The notices this paper carries, most serious first."""
        return [flag for flag in REFERENCE_FLAGS if getattr(self, flag.field)]


class EvidenceQuerySet(models.QuerySet):
    def published(self):
        """Evidence of published mechanisms; a pending revision's evidence belongs to the revision's row."""
        return self.filter(mechanism__in=Mechanism.objects.published())

    def primary(self):
        """Evidence from original studies: everything but review articles (see REVIEW_CONDITION)."""
        return self.exclude(REVIEW_CONDITION)

    def reviews(self):
        """Review articles: context for readers, never counted as evidence for or against."""
        return self.filter(REVIEW_CONDITION)


class Evidence(Versioned):
    mechanism = models.ForeignKey(Mechanism, on_delete=models.CASCADE, related_name="evidence")
    reference = models.ForeignKey(
        Reference, on_delete=models.PROTECT, related_name="evidence", help_text="The paper the claim rests on."
    )
    statement = models.CharField(
        max_length=600,
        help_text="One claim, in your own words, that this paper makes about this mechanism. "
        "Do not quote the abstract.",
    )
    direction = models.CharField(max_length=10, choices=Direction.choices, default=Direction.SUPPORTS)
    level = models.CharField("evidence level", max_length=24, choices=EvidenceLevel.choices)
    model_system = models.CharField(
        "model system",
        max_length=24,
        choices=ModelSystem.choices,
        help_text="What the claim was shown in: patients (cohort, trial, case report), mice (syngeneic, "
        "genetically engineered, xenograft/PDX), organoids, cell lines, a screen, or data analysed "
        "computationally. Reviews (and only reviews) are “Not applicable”.",
    )
    therapy = models.ForeignKey(Therapy, null=True, blank=True, on_delete=models.PROTECT, related_name="evidence")
    cancer_type = models.ForeignKey(
        CancerType, null=True, blank=True, on_delete=models.PROTECT, related_name="evidence"
    )
    phenotype = models.CharField("resistance phenotype", max_length=10, choices=Phenotype.choices, blank=True)
    locator = models.CharField(
        max_length=120, blank=True, help_text="Where in the paper: section, figure or table (e.g. Fig. 2B)."
    )
    # In a revision's evidence: the published row this one was cloned from, so
    # that publishing the revision updates that row instead of replacing it.
    copied_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    history = HistoricalRecords()
    objects = EvidenceQuerySet.as_manager()

    class Meta:
        ordering = ["mechanism", "reference__pub_year", "pk"]
        verbose_name_plural = "evidence"
        constraints = [
            # The same paper may back several claims, but never the same claim twice.
            models.UniqueConstraint(
                "mechanism",
                "reference",
                Lower("statement"),
                name="evidence_one_claim_per_reference",
                violation_error_message="This mechanism already cites this reference for the same claim.",
            ),
            models.CheckConstraint(condition=Q(direction__in=Direction.values), name="evidence_direction_valid"),
            models.CheckConstraint(condition=Q(level__in=EvidenceLevel.values), name="evidence_level_valid"),
            models.CheckConstraint(
                condition=Q(model_system__in=ModelSystem.values), name="evidence_model_system_valid"
            ),
            # A review has no model system of its own, and only a review lacks one.
            models.CheckConstraint(
                condition=(REVIEW_CONDITION & Q(model_system=ModelSystem.NOT_APPLICABLE))
                | (~REVIEW_CONDITION & ~Q(model_system=ModelSystem.NOT_APPLICABLE)),
                name="evidence_model_system_of_reviews",
                violation_error_message="A review's model system is “Not applicable”, and only a review's is.",
            ),
        ]
        indexes = [
            # A mechanism's cited papers without reading its evidence rows (index-only), for the
            # dashboard's "no recent evidence" and the per-row counts of the lists.
            models.Index(fields=["mechanism", "reference"], name="evidence_mechanism_reference"),
            # The evidence table's most used facets: /evidence/?level=...&direction=... reads the
            # items it lists and counts instead of scanning all 200,000 (half its time at full size).
            models.Index(fields=["level", "direction"], name="evidence_level_direction"),
        ]

    def __str__(self):
        return f"{self.mechanism} ← PMID {self.reference.pmid}"

    @property
    def is_primary(self) -> bool:
        """True for evidence from an original study; False for a review article (context only)."""
        return self.level != EvidenceLevel.REVIEW


class RefreshRun(models.Model):
    """One request to (re)fetch PubMed metadata, with its progress."""

    class Scope(models.TextChoices):
        SELECTED = "selected", "Selected references"
        STALE = "stale", "Stale references"
        ALL = "all", "All references"
        IMPORT = "import", "Import of new PMIDs"

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        FINISHED = "finished", "Finished"
        FAILED = "failed", "Failed"

    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    scope = models.CharField(max_length=16, choices=Scope.choices)
    scope_detail = models.CharField(max_length=200, blank=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.QUEUED)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"Refresh #{self.pk} ({self.get_scope_display()})"

    @property
    def is_active(self) -> bool:
        return self.state in (self.State.QUEUED, self.State.RUNNING)

    # The finished outcomes as a run's summary names them ("3 updated, 1 awaiting review"), keyed as in counts().
    SUMMARY_LABELS = {
        "updated": "updated",
        "unchanged": "unchanged",
        "update_pending": "awaiting review",
        "not_found": "not found",
        "failed": "failed",
    }

    @classmethod
    def summary(cls, counts: dict, *, with_zeros: bool = False) -> str:
        """'3 updated, 1 awaiting review': the finished outcomes of `counts()` in a fixed order."""
        return ", ".join(
            f"{counts[key]} {label}" for key, label in cls.SUMMARY_LABELS.items() if with_zeros or counts.get(key)
        )

    def counts(self) -> dict[str, int]:
        """References per outcome (keys use underscores), plus total, done and percent, in one query."""
        per_outcome = {
            outcome.value.replace("-", "_"): models.Count("pk", filter=Q(outcome=outcome))
            for outcome in RefreshItem.Outcome
        }
        counts = self.items.aggregate(total=models.Count("pk"), **per_outcome)
        counts["done"] = counts["total"] - counts["queued"]
        counts["percent"] = round(100 * counts["done"] / counts["total"]) if counts["total"] else 100
        return counts


class RefreshItem(models.Model):
    """The outcome for one reference within a run; counts are aggregated from these."""

    class Outcome(models.TextChoices):
        QUEUED = "queued", "Queued"
        UPDATED = "updated", "Updated"
        UNCHANGED = "unchanged", "Unchanged"
        UPDATE_PENDING = "update-pending", "Differences await review"
        NOT_FOUND = "not-found", "Not found"
        FAILED = "failed", "Failed"

    run = models.ForeignKey(RefreshRun, on_delete=models.CASCADE, related_name="items")
    reference = models.ForeignKey(Reference, on_delete=models.CASCADE, related_name="refresh_items")
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.QUEUED)
    error = models.TextField(blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # When a task last showed it holds this item: its batch was queued, a worker began it, or a
    # retry was scheduled. A queued item untouched for longer than any live task can hold it has
    # lost its message, and the recovery pass queues it again (curation.recovery).
    touched_at = models.DateTimeField(null=True, blank=True, editable=False)
    recoveries = models.PositiveSmallIntegerField(
        default=0, editable=False, help_text="How many times its batch was lost and queued again."
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "reference"], name="refresh_item_once_per_run")]
        # The recovery pass, every minute, looks only at queued items: a small slice of a large table.
        indexes = [
            models.Index(fields=["touched_at"], condition=Q(outcome="queued"), name="refresh_item_queued_touched")
        ]

    def __str__(self):
        return f"{self.run}: reference {self.reference_id} {self.outcome}"


class ReferenceImport(models.Model):
    """A pasted list of PMIDs and citation strings, resolved before anything is created.

    Citation strings are matched against PubMed (ECitMatch) by a Celery task, so
    the import page polls this row until it is ready; only then does the curator
    confirm and the references get created.
    """

    class State(models.TextChoices):
        MATCHING = "matching", "Matching citations"
        READY = "ready", "Ready to import"
        IMPORTED = "imported", "Imported"
        FAILED = "failed", "Matching failed"

    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    state = models.CharField(max_length=16, choices=State.choices, default=State.MATCHING)
    entries = models.JSONField(
        default=list, help_text="One per input line: {line, text, kind, pmid, status, candidates, detail}."
    )
    error = models.TextField(blank=True)
    run = models.ForeignKey(RefreshRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    matched_at = models.DateTimeField(null=True, blank=True)
    imported_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"Import #{self.pk}"


class CitationUpdate(models.Model):
    """Differences PubMed reported for a verified reference, awaiting a curator."""

    class Decision(models.TextChoices):
        PENDING = "pending", "Pending"
        ACCEPTED = "accepted", "Accepted"
        PARTIAL = "partial", "Partly accepted"
        REJECTED = "rejected", "Rejected"

    reference = models.ForeignKey(Reference, on_delete=models.CASCADE, related_name="citation_updates")
    run = models.ForeignKey(RefreshRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    diff = models.JSONField(help_text="{field: {old, new}} for every field PubMed changed.")
    raw_xml = models.TextField(blank=True)
    decision = models.CharField(max_length=16, choices=Decision.choices, default=Decision.PENDING, db_index=True)
    accepted_fields = models.JSONField(default=list, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # One open proposal per reference: a newer fetch replaces the pending diff.
            models.UniqueConstraint(
                fields=["reference"], condition=Q(decision="pending"), name="citation_update_one_pending"
            ),
        ]

    def __str__(self):
        return f"Update for PMID {self.reference.pmid}"


class DataRelease(models.Model):
    """One versioned, dated copy of the published atlas, written by `curation.releases.export_release`.

    The files live in a directory of their own under `settings.DATA_RELEASES_DIR`;
    this row lists them (the downloads page serves only files named here) and
    keeps the changelog's summary. The number is given when the build succeeds,
    so numbers have no gaps and only one release is built at a time.
    """

    class State(models.TextChoices):
        BUILDING = "building", "Building"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    number = models.PositiveIntegerField(null=True, blank=True, unique=True, editable=False)
    state = models.CharField(max_length=16, choices=State.choices, default=State.BUILDING)
    directory = models.CharField(max_length=120, blank=True, help_text="Folder under DATA_RELEASES_DIR.")
    files = models.JSONField(default=list, blank=True, help_text="[{name, bytes, sha256}] of the files written.")
    counts = models.JSONField(default=dict, blank=True, help_text="Items per resource.")
    changes = models.JSONField(
        default=dict, blank=True, help_text="The changelog's summary (changelog.json has it all)."
    )
    previous = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    released_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-number", "-created_at"]
        permissions = [("make_release", "Can make a data release now")]
        constraints = [
            models.UniqueConstraint(fields=["state"], condition=Q(state="building"), name="data_release_one_building"),
            models.CheckConstraint(
                condition=Q(state="ready", number__isnull=False) | ~Q(state="ready"), name="data_release_ready_numbered"
            ),
        ]

    def __str__(self):
        return f"Release {self.number}" if self.number else f"Release being built ({self.get_state_display()})"

    @property
    def file_names(self) -> list[str]:
        return [entry["name"] for entry in self.files]


# ---------------------------------------------------------------------------
# Literature triage: saved PubMed searches feed a queue of candidate papers
# ---------------------------------------------------------------------------
class SavedSearch(Versioned):
    """A PubMed query a curator saved; beat runs it on its schedule over the entry dates not yet covered."""

    class Schedule(models.TextChoices):
        DAILY = "daily", "Daily"
        WEEKLY = "weekly", "Weekly"

    name = models.CharField(max_length=120, unique=True)
    query = models.CharField(
        max_length=2000,
        help_text='PubMed\'s own syntax, e.g. (JAK1 OR JAK2) AND (PD-1 OR "checkpoint") AND resistance. '
        "Runs add an entry-date window themselves: do not add one here.",
    )
    mechanisms = models.ManyToManyField(
        Mechanism,
        blank=True,
        related_name="saved_searches",
        help_text="Mechanisms this search watches: every paper it finds is suggested for them.",
    )
    schedule = models.CharField(max_length=8, choices=Schedule.choices, default=Schedule.WEEKLY)
    active = models.BooleanField(default=True, help_text="Only active searches run on their schedule.")
    first_lookback_days = models.PositiveIntegerField(
        "first run looks back (days)",
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(36_500)],
        help_text="How far back the first run (and the first after the query changes) searches; "
        "empty means TRIAGE_FIRST_LOOKBACK_DAYS (two years by default).",
    )
    # The last entry date (inclusive) a successful run searched; the next run starts the day after.
    covered_until = models.DateField(null=True, blank=True, editable=False)
    # What NCBI said about the query the last time it ran it.
    translation = models.TextField("NCBI's translation", blank=True, editable=False)
    ncbi_errors = models.JSONField("NCBI's errors", default=list, blank=True, editable=False)
    ncbi_warnings = models.JSONField("NCBI's warnings", default=list, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords(m2m_fields=[mechanisms])

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "saved searches"
        permissions = [("run_savedsearch", "Can run a saved PubMed search now")]
        constraints = [
            models.CheckConstraint(condition=Q(schedule__in=["daily", "weekly"]), name="saved_search_schedule_valid"),
            models.CheckConstraint(condition=~Q(query=""), name="saved_search_query_not_empty"),
        ]

    def __str__(self):
        return self.name

    @property
    def period_days(self) -> int:
        return 1 if self.schedule == self.Schedule.DAILY else 7


class SearchRun(models.Model):
    """One run of a saved search over an entry-date window, with its progress and outcome.

    Queued, then searching (esearch), then fetching (efetch of the new PMIDs in
    batches), then finished, or failed with the reason. Candidates are created
    only when every batch is in, in one transaction, and only then does the
    search's coverage move on: a failed run leaves its window to the next run.
    """

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        SEARCHING = "searching", "Searching PubMed"
        FETCHING = "fetching", "Fetching new papers"
        FINISHED = "finished", "Finished"
        FAILED = "failed", "Failed"

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", "Schedule"
        MANUAL = "manual", "Run now"

    ACTIVE_STATES = ("queued", "searching", "fetching")

    search = models.ForeignKey(SavedSearch, on_delete=models.CASCADE, related_name="runs")
    trigger = models.CharField(max_length=8, choices=Trigger.choices, default=Trigger.SCHEDULE)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    query = models.CharField(max_length=2000, help_text="The query as it was run.")
    window_start = models.DateField(help_text="First entry date searched (inclusive).")
    window_end = models.DateField(help_text="Last entry date searched (inclusive).")
    state = models.CharField(max_length=16, choices=State.choices, default=State.QUEUED)
    count_found = models.PositiveIntegerField(null=True, blank=True, help_text="PMIDs PubMed found in the window.")
    esearch_requests = models.PositiveIntegerField(default=0)
    new_candidates = models.PositiveIntegerField(null=True, blank=True)
    found_again = models.PositiveIntegerField(null=True, blank=True, help_text="Candidates already in the queue.")
    already_in_atlas = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            # Two runs of one search at once would search the same window twice.
            models.UniqueConstraint(
                fields=["search"],
                condition=Q(state__in=["queued", "searching", "fetching"]),
                name="search_run_one_active",
            ),
            models.CheckConstraint(condition=Q(window_start__lte=models.F("window_end")), name="search_run_window"),
            models.CheckConstraint(
                condition=Q(state__in=["queued", "searching", "fetching", "finished", "failed"]),
                name="search_run_state_valid",
            ),
        ]

    def __str__(self):
        return f"{self.search} #{self.pk} ({self.window_start:%Y/%m/%d}–{self.window_end:%Y/%m/%d})"

    @property
    def is_active(self) -> bool:
        return self.state in self.ACTIVE_STATES

    SUMMARY_LABELS = {"fetched": "fetched", "not_found": "not in PubMed", "failed": "failed"}

    def counts(self) -> dict[str, int]:
        """The new PMIDs' fetch progress in `RefreshRun.counts()`'s shape (total, done, percent and outcomes)."""
        items = self.items.exclude(outcome=SearchRunItem.Outcome.KNOWN)
        per_outcome = {
            outcome.value.replace("-", "_"): models.Count("pk", filter=Q(outcome=outcome))
            for outcome in SearchRunItem.Outcome
            if outcome != SearchRunItem.Outcome.KNOWN
        }
        counts = items.aggregate(total=models.Count("pk"), **per_outcome)
        counts["done"] = counts["total"] - counts["queued"]
        counts["percent"] = round(100 * counts["done"] / counts["total"]) if counts["total"] else 100
        return counts

    def summary(self, counts: dict | None = None) -> str:
        counts = self.counts() if counts is None else counts
        return ", ".join(f"{counts[key]} {label}" for key, label in self.SUMMARY_LABELS.items() if counts.get(key))


class SearchRunItem(models.Model):
    """One PMID a run found: already known, or new and (to be) fetched; fetched records wait here for the end."""

    class Outcome(models.TextChoices):
        KNOWN = "known", "Already a reference or a candidate"
        QUEUED = "queued", "Queued for fetching"
        FETCHED = "fetched", "Fetched"
        NOT_FOUND = "not-found", "Not in PubMed"
        FAILED = "failed", "Failed"

    run = models.ForeignKey(SearchRun, on_delete=models.CASCADE, related_name="items")
    pmid = models.PositiveIntegerField()
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.QUEUED)
    # The fetched CitationRecord as JSON, until the run turns it into a candidate (then cleared).
    record = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "pmid"], name="search_run_item_once")]
        indexes = [models.Index(fields=["run", "outcome"], name="search_run_item_outcome")]

    def __str__(self):
        return f"{self.run}: PMID {self.pmid} {self.outcome}"


class SearchPreview(models.Model):
    """A dry run of a query before it is saved: NCBI's count, translation, errors and first titles."""

    class State(models.TextChoices):
        SEARCHING = "searching", "Searching PubMed"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The form as the curator filled it in: saved as a search from this page once they have seen the preview.
    draft = models.JSONField(default=dict)
    search = models.ForeignKey(SavedSearch, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    query = models.CharField(max_length=2000)
    window_start = models.DateField()
    window_end = models.DateField()
    state = models.CharField(max_length=16, choices=State.choices, default=State.SEARCHING)
    count = models.PositiveIntegerField(null=True, blank=True)
    translation = models.TextField(blank=True)
    ncbi_errors = models.JSONField(default=list, blank=True)
    ncbi_warnings = models.JSONField(default=list, blank=True)
    first_papers = models.JSONField(default=list, blank=True, help_text="[{pmid, title, journal, year}]")
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"Preview #{self.pk}"


class RejectReason(models.TextChoices):
    OFF_TOPIC = "off-topic", "Not about immunotherapy resistance"
    NO_MECHANISM = "no-mechanism", "No mechanism the atlas covers"
    NOT_PRIMARY = "not-primary", "Not primary evidence (commentary, erratum, protocol)"
    DUPLICATE = "duplicate", "Duplicate of a paper already curated"
    LOW_QUALITY = "low-quality", "Too weak to cite"
    OTHER = "other", "Other (say why)"


class CandidateQuerySet(models.QuerySet):
    def undecided(self):
        return self.filter(state=Candidate.State.QUEUED)

    def waiting(self, today=None):
        """Undecided and not snoozed past today: what a curator should look at now."""
        today = today or timezone.localdate()
        return self.undecided().filter(Q(snoozed_until__isnull=True) | Q(snoozed_until__lte=today))

    def snoozed(self, today=None):
        today = today or timezone.localdate()
        return self.undecided().filter(snoozed_until__gt=today)

    def by_relevance(self):
        return self.order_by("-relevance", models.F("pub_year").desc(nulls_last=True), "-pmid")


# The relevance of a candidate, as the queue shows and docs/triage.md explains it: weight x count, summed.
RELEVANCE_WEIGHTS = {
    "suggestion_count": 5,  # people who suggested the paper
    "search_count": 3,  # saved searches that found it
    "gene_count": 2,  # atlas genes named in its title or abstract (symbol or alias)
    "mechanism_count": 2,  # atlas mechanisms named in its title or abstract
    "therapy_count": 1,  # atlas therapies named in its title or abstract
}


def _relevance_expression():
    expression = None
    for name, weight in RELEVANCE_WEIGHTS.items():
        term = models.F(name) * weight
        expression = term if expression is None else expression + term
    return expression


class Candidate(Versioned):
    """A paper a saved search or a reader brought in, waiting for a curator's decision (one per PMID, ever).

    A rejected candidate stays, so that the paper never comes back; an accepted
    one points at the reference it became.
    """

    class State(models.TextChoices):
        QUEUED = "queued", "Waiting"
        ACCEPTED = "accepted", "Accepted"
        REJECTED = "rejected", "Rejected"

    pmid = models.PositiveIntegerField("PMID", unique=True)
    title = models.TextField(blank=True, help_text="Sanitised HTML, as PubMed gave it.")
    journal = models.CharField(max_length=255, blank=True)
    pub_year = models.PositiveSmallIntegerField("year", null=True, blank=True)
    # The whole fetched CitationRecord: accepting creates the reference from it without asking PubMed again.
    record = models.JSONField(default=dict, blank=True)
    fetched_at = models.DateTimeField(null=True, blank=True)
    # What the dictionary tagger found when the candidate was created: {"genes": [...], ...}.
    terms = models.JSONField(default=dict, blank=True)
    search_count = models.PositiveIntegerField(default=0)
    suggestion_count = models.PositiveIntegerField(default=0)
    gene_count = models.PositiveIntegerField(default=0)
    mechanism_count = models.PositiveIntegerField(default=0)
    therapy_count = models.PositiveIntegerField(default=0)
    relevance = models.GeneratedField(
        expression=_relevance_expression(), output_field=models.IntegerField(), db_persist=True
    )
    mechanisms = models.ManyToManyField(Mechanism, through="CandidateMechanism", related_name="candidates", blank=True)

    state = models.CharField(max_length=16, choices=State.choices, default=State.QUEUED, db_index=True)
    snoozed_until = models.DateField(null=True, blank=True)
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    reject_reason = models.CharField(max_length=16, choices=RejectReason.choices, blank=True)
    reject_note = models.CharField(max_length=500, blank=True)
    reference = models.ForeignKey(
        Reference, null=True, blank=True, on_delete=models.SET_NULL, related_name="candidates"
    )
    first_run = models.ForeignKey(SearchRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords(excluded_fields=["record", "relevance"])
    objects = CandidateQuerySet.as_manager()

    class Meta:
        ordering = ["-relevance", "-pmid"]
        permissions = [("triage_candidate", "Can accept, reject, snooze and assign literature candidates")]
        constraints = [
            models.CheckConstraint(condition=Q(pmid__gt=0), name="candidate_pmid_positive"),
            models.CheckConstraint(
                condition=Q(state__in=["queued", "accepted", "rejected"]), name="candidate_state_valid"
            ),
            # One decision: a decided candidate names who decided and when; an undecided one names nobody.
            models.CheckConstraint(
                condition=(Q(state="queued") & Q(decided_at__isnull=True))
                | (~Q(state="queued") & Q(decided_at__isnull=False)),
                name="candidate_decision_recorded",
            ),
            models.CheckConstraint(
                condition=Q(state="rejected", reject_reason__in=RejectReason.values)
                | (~Q(state="rejected") & Q(reject_reason="")),
                name="candidate_reject_reason",
            ),
            models.CheckConstraint(
                condition=~Q(reject_reason="other") | ~Q(reject_note=""), name="candidate_other_reason_explained"
            ),
        ]

    def __str__(self):
        return f"PMID {self.pmid}"

    @property
    def pubmed_url(self):
        return pubmed_url(self.pmid)

    @property
    def abstract(self) -> list[dict]:
        return list(self.record.get("abstract") or [])

    def relevance_parts(self) -> list[tuple[str, int, int]]:
        """(what, weight, count) for every term of the relevance formula, in the formula's order."""
        return [(name, weight, getattr(self, name)) for name, weight in RELEVANCE_WEIGHTS.items()]


class CandidateSource(models.Model):
    """Who brought a candidate in: a saved search (each run that found it again moves `last_found_at`) or a person."""

    candidate = models.ForeignKey(Candidate, on_delete=models.CASCADE, related_name="sources")
    search = models.ForeignKey(SavedSearch, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    suggested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    run = models.ForeignKey(SearchRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    first_found_at = models.DateTimeField(default=timezone.now)
    last_found_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["first_found_at", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(search__isnull=False) & Q(suggested_by__isnull=True))
                | (Q(search__isnull=True) & Q(suggested_by__isnull=False)),
                name="candidate_source_one_kind",
            ),
            models.UniqueConstraint(
                fields=["candidate", "search"], condition=Q(search__isnull=False), name="candidate_source_search_once"
            ),
            models.UniqueConstraint(
                fields=["candidate", "suggested_by"],
                condition=Q(suggested_by__isnull=False),
                name="candidate_source_person_once",
            ),
        ]

    def __str__(self):
        return f"{self.candidate} via {self.search or self.suggested_by}"


class CandidateMechanism(models.Model):
    """A mechanism a candidate may be evidence for, and why it is suggested."""

    class Via(models.TextChoices):
        SEARCH = "search", "Watched by a saved search that found it"
        TAGGER = "tagger", "Its name or genes appear in the paper"
        PERSON = "person", "Suggested on its page"

    candidate = models.ForeignKey(Candidate, on_delete=models.CASCADE, related_name="mechanism_links")
    mechanism = models.ForeignKey(Mechanism, on_delete=models.CASCADE, related_name="candidate_links")
    via = models.CharField(max_length=8, choices=Via.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["candidate", "mechanism"], name="candidate_mechanism_once"),
        ]

    def __str__(self):
        return f"{self.candidate} → {self.mechanism}"


class Suggestion(models.Model):
    """A paper a signed-in reader suggested on a mechanism's page: a PMID, or a citation ECitMatch resolves."""

    class State(models.TextChoices):
        PENDING = "pending", "Being looked up"
        QUEUED = "queued", "In the curators' queue"
        IN_ATLAS = "in-atlas", "Already in the atlas"
        DECIDED = "decided", "Curators have already decided on it"
        NOT_FOUND = "not-found", "Not found in PubMed"
        AMBIGUOUS = "ambiguous", "Matches several papers"
        FAILED = "failed", "Lookup failed"

    suggested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    mechanism = models.ForeignKey(Mechanism, on_delete=models.CASCADE, related_name="+")
    text = models.CharField(max_length=2000, help_text="What the reader typed.")
    pmid = models.PositiveIntegerField(null=True, blank=True)
    citation = models.JSONField(null=True, blank=True, help_text="The parsed citation, for ECitMatch.")
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    detail = models.CharField(max_length=500, blank=True)
    candidate = models.ForeignKey(Candidate, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"Suggestion #{self.pk} by {self.suggested_by_id}"


# --- Full-text search documents (PostgreSQL) -----------------------------------------------
# Each searchable table has a stored, generated tsvector column `search_vector` with a GIN
# index, added by the PostgreSQL-only migration 0007_search_vectors: PostgreSQL computes it
# from the row's own columns on every INSERT and UPDATE, whichever code path writes the row
# (saves, QuerySet.update, the refresh pipeline's set-wise `UPDATE ... FROM jsonb_to_recordset(...)`).
# The models above do not declare the column, so Django never reads it with the row (a
# reference's vector is kilobytes) and never writes it. These read-only models map that one
# column for the search queries (curation/search/) and exist for nothing else.
# What each column holds, and its weight (A highest), is in that migration and docs/search.md.
SEARCH_CONFIG = "english"


class SearchDocument(models.Model):
    """The stored full-text vector of one row of another model's table (read-only; PostgreSQL only)."""

    vector = SearchVectorField(db_column="search_vector")

    class Meta:
        abstract = True
        managed = False

    def __str__(self):
        return f"search document of {self.row}"


def _search_document(model):
    """A read-only model on `model`'s table with its primary key (`row`) and its vector."""
    meta = type("Meta", (), {"db_table": model._meta.db_table, "managed": False})
    row = models.OneToOneField(
        model,
        primary_key=True,
        db_column=model._meta.pk.column,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="search_document",
    )
    return type(f"{model.__name__}Document", (SearchDocument,), {"__module__": __name__, "Meta": meta, "row": row})


MechanismDocument = _search_document(Mechanism)
GeneDocument = _search_document(Gene)
TherapyDocument = _search_document(Therapy)
CancerTypeDocument = _search_document(CancerType)
EvidenceDocument = _search_document(Evidence)
ReferenceDocument = _search_document(Reference)


class WorkerHeartbeat(models.Model):
    """The last time a Celery worker ran beat's heartbeat task: one row, rewritten every HEARTBEAT_INTERVAL s.

    In the database because /healthz already asks the database, and every web
    process on every host reads the same row (a cache would be per process in
    the embedded mode).
    """

    key = models.CharField(max_length=16, unique=True, default="worker", editable=False)
    beat_at = models.DateTimeField()
    hostname = models.CharField(max_length=255, blank=True, help_text="The worker that ran the task.")

    def __str__(self):
        return f"Worker heartbeat at {self.beat_at:%Y-%m-%d %H:%M:%S} from {self.hostname or 'a worker'}"


# --- The content version: what the public page cache is keyed by ------------------------
class ContentVersion(models.Model):
    """One row that the database bumps whenever a table public pages read from changes.

    Triggers written by migration 0016 keep it (whichever code path writes: saves,
    QuerySet.update, the refresh pipeline's raw SQL, psql); nothing in Python writes
    it. `curation.content_version` reads it; see there for why it is correct.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    counter = models.BigIntegerField(default=0)
    changed_at = models.DateTimeField()

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(id=1), name="content_version_single_row")]

    def __str__(self):
        return f"content version {self.counter} ({self.changed_at:%Y-%m-%d %H:%M:%S})"
