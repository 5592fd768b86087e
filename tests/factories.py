"""Small factories for test data.

Each helper fills every required field with a plausible value, takes any model
field as a keyword to override it, and saves the row. Values that must be
unique (symbols, slugs, PMIDs) come from a shared counter, so tests can call a
factory many times without naming anything.

Defaults follow the model's own defaults where a default says something about
the workflow: a mechanism starts as a draft, like one a curator just created.
A reference is made as it looks after a curator verified its PubMed metadata;
pass `metadata_state=MetadataState.PENDING` for one PubMed has not confirmed.
"""

import copy
import dataclasses
import itertools

from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from curation.concurrency import claim
from curation.models import (
    CancerType,
    Category,
    Direction,
    Evidence,
    EvidenceLevel,
    Gene,
    Mechanism,
    MetadataState,
    ModelSystem,
    Reference,
    Status,
    Therapy,
    TherapyClass,
)

_sequence = itertools.count(1)


def _next() -> int:
    return next(_sequence)


def make_gene(symbol: str | None = None, **fields) -> Gene:
    n = _next()
    fields.setdefault("name", f"test gene {n}")
    return Gene.objects.create(symbol=symbol or f"GENE{n}", **fields)


def make_therapy(name: str | None = None, **fields) -> Therapy:
    name = name or f"Test antibody {_next()}"
    fields.setdefault("slug", slugify(name))
    fields.setdefault("therapy_class", TherapyClass.ANTI_PD1)
    return Therapy.objects.create(name=name, **fields)


def make_cancer_type(name: str | None = None, **fields) -> CancerType:
    name = name or f"Test carcinoma {_next()}"
    fields.setdefault("slug", slugify(name))
    return CancerType.objects.create(name=name, **fields)


def make_mechanism(
    name: str | None = None,
    *,
    status: str = Status.DRAFT,
    parent: Mechanism | None = None,
    genes=(),
    therapies=(),
    cancer_types=(),
    **fields,
) -> Mechanism:
    """A mechanism; a child takes its parent's category unless told otherwise.

    A published mechanism gets a `published_at` of now unless one is given.
    `genes`, `therapies` and `cancer_types` take model instances.
    """
    n = _next()
    name = name or f"Test mechanism {n}"
    revision_of = fields.get("revision_of")
    fields.setdefault("slug", revision_of.slug if revision_of else f"{slugify(name)[:60]}-{n}")
    fields.setdefault("category", parent.category if parent else Category.TUMOR_INTRINSIC)
    fields.setdefault("summary", f"How {name.lower()} lets a tumour escape T cells.")
    if status == Status.PUBLISHED:
        fields.setdefault("published_at", timezone.now())
    mechanism = Mechanism.objects.create(name=name, status=status, parent=parent, **fields)
    mechanism.genes.set(genes)
    mechanism.therapies.set(therapies)
    mechanism.cancer_types.set(cancer_types)
    return mechanism


def make_reference(pmid: int | None = None, **fields) -> Reference:
    n = _next()
    pmid = pmid or 90_000_000 + n
    fields.setdefault("title", f"A study of immune escape number {n}.")
    fields.setdefault(
        "authors",
        [
            {"last_name": "Curie", "fore_name": "Ada", "initials": "A", "collective_name": "", "orcid": ""},
            {"last_name": "Okafor", "fore_name": "Ben J", "initials": "BJ", "collective_name": "", "orcid": ""},
        ],
    )
    fields.setdefault("journal_title", "Journal of Test Immunology")
    fields.setdefault("journal_iso", "J Test Immunol")
    fields.setdefault("volume", "12")
    fields.setdefault("issue", "3")
    fields.setdefault("pages", "101-109")
    fields.setdefault("pub_year", 2020)
    fields.setdefault("pub_date", "2020 Mar")
    fields.setdefault("doi", f"10.5555/test.{pmid}")
    fields.setdefault("metadata_state", MetadataState.VERIFIED)
    return Reference.objects.create(pmid=pmid, **fields)


def make_fetched_reference(pmid: int | None = None, **fields) -> Reference:
    """A reference as PubMed's first fetch leaves it: metadata filled in, waiting for a curator's review."""
    fields.setdefault("metadata_state", MetadataState.NEEDS_REVIEW)
    fields.setdefault("fetched_at", timezone.now())
    return make_reference(pmid, **fields)


# A plausible model system for each level, so that a test naming only the level gets a valid row.
DEFAULT_MODEL_SYSTEMS = {
    EvidenceLevel.CLINICAL_COHORT: ModelSystem.PATIENT_COHORT,
    EvidenceLevel.CASE_REPORT: ModelSystem.CASE_REPORT,
    EvidenceLevel.PRECLINICAL_IN_VIVO: ModelSystem.SYNGENEIC_MOUSE,
    EvidenceLevel.IN_VITRO: ModelSystem.CELL_LINE,
    EvidenceLevel.COMPUTATIONAL: ModelSystem.COMPUTATIONAL,
    EvidenceLevel.REVIEW: ModelSystem.NOT_APPLICABLE,
}


def make_evidence(mechanism: Mechanism | None = None, reference: Reference | None = None, **fields) -> Evidence:
    """One claim; makes a draft mechanism and a reference when none is given."""
    n = _next()
    fields.setdefault("statement", f"Claim number {n} about this mechanism.")
    fields.setdefault("direction", Direction.SUPPORTS)
    fields.setdefault("level", EvidenceLevel.IN_VITRO)
    fields.setdefault("model_system", DEFAULT_MODEL_SYSTEMS.get(fields["level"], ModelSystem.CELL_LINE))
    return Evidence.objects.create(
        mechanism=mechanism or make_mechanism(), reference=reference or make_reference(), **fields
    )


# A concurrent editor's save, the way the admin's forms save (claim the version, then write).
def save_versioned(instance, based_on=None, *, related=(), **save_kwargs):
    """Save `instance` only if nobody saved its row since version `based_on`.

    `based_on` defaults to the version the instance was loaded with. New rows
    are simply inserted. Raises StaleEdit and writes nothing on a conflict.
    """
    if instance._state.adding:
        instance.save(**save_kwargs)
        return instance
    with transaction.atomic():
        claim(instance, instance.version if based_on is None else based_on, related=related)
        instance.save(**save_kwargs)
    return instance


def record_fields(record) -> dict:
    """A parsed CitationRecord's values as Reference fields (all but the PMID), as a fetch would store them."""
    return {f.name: copy.deepcopy(getattr(record, f.name)) for f in dataclasses.fields(record) if f.name != "pmid"}
