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

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "therapies"

    def __str__(self):
        return self.name


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

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


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
        return self.filter(Q(metadata_state__in=[MetadataState.FAILED, MetadataState.NOT_FOUND]) | ~Q(last_error=""))

    def flagged(self):
        """Retracted papers and those with an erratum or an expression of concern."""
        condition = Q()
        for flag in REFERENCE_FLAGS:
            condition |= Q(**{flag.field: True})
        return self.filter(condition)


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
        ]

    def __str__(self):
        return f"{self.mechanism} ← PMID {self.reference.pmid}"


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

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "reference"], name="refresh_item_once_per_run")]

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


# --- Full-text search documents (PostgreSQL) -----------------------------------------------
# Each searchable table has a stored, generated tsvector column `search_vector` with a GIN
# index, added by the PostgreSQL-only migration 0004_search_vectors: PostgreSQL computes it
# from the row's own columns on every INSERT and UPDATE, whichever code path writes the row
# (saves, QuerySet.update, the refresh pipeline's raw `UPDATE ... FROM (VALUES ...)`).
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
