"""Loading the atlas's first content from curation/seed/atlas.json.

The seed is a starting point, not a source of truth: once a row exists, the
curators own it. Loading therefore only creates what is missing, identified by
its stable key (gene symbol, therapy and cancer-type slug, mechanism slug,
PMID, and for evidence the mechanism and reference it links), and never
updates or deletes anything. Running it twice changes nothing.

Seeded mechanisms are published. Seeded references keep the facts the seed
file states (title, first author, year, journal, DOI) and stay "pending":
PubMed has not confirmed them until the pipeline fetches them.
"""

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.html import escape

from curation.models import (
    PHENOTYPE_FIELDS,
    CancerType,
    Evidence,
    Gene,
    Mechanism,
    MetadataState,
    Reference,
    Status,
    Therapy,
)

DEFAULT_SEED_PATH = Path(__file__).resolve().parent / "seed" / "atlas.json"
KINDS = ("genes", "therapies", "cancer_types", "mechanisms", "references", "evidence")
_INITIALS = re.compile(r"[A-Z]{1,4}")


class SeedError(Exception):
    """The seed file is malformed or inconsistent; nothing was loaded."""


@dataclass
class SeedReport:
    created: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    present: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))

    def lines(self) -> list[str]:
        return [f"{kind}: {self.created[kind]} created, {self.present[kind]} already present" for kind in KINDS]


def seed_atlas(path: Path | str = DEFAULT_SEED_PATH) -> SeedReport:
    """Create the seed content missing from the database, in one transaction.

    Raises SeedError (and loads nothing) if the file is unreadable or refers
    to something it does not define, or if a new row breaks a model rule.
    """
    data = _read(Path(path))
    report = SeedReport()
    try:
        with transaction.atomic():
            _load(data, report)
    except IntegrityError as error:
        raise SeedError(f"The seed file breaks a database constraint: {error}") from error
    except KeyError as error:
        raise SeedError(f"A row of the seed file lacks the key {error}.") from error
    return report


def _load(data: dict, report: SeedReport) -> None:
    genes = _load_simple(
        report,
        "genes",
        Gene,
        "symbol",
        data["genes"],
        lambda row: {"name": row.get("name", ""), "aliases": row.get("aliases", "")},
    )
    therapies = _load_simple(
        report,
        "therapies",
        Therapy,
        "slug",
        data["therapies"],
        lambda row: {"name": row["name"], "therapy_class": row["therapy_class"]},
    )
    cancer_types = _load_simple(
        report, "cancer_types", CancerType, "slug", data["cancer_types"], lambda row: {"name": row["name"]}
    )
    mechanisms = _load_mechanisms(report, data["mechanisms"], genes, therapies, cancer_types)
    references = _load_simple(report, "references", Reference, "pmid", data["references"], _reference_fields)
    _load_evidence(report, data["evidence"], mechanisms, references, therapies, cancer_types)
    _refuse_unbacked(mechanisms, data["mechanisms"])


def _refuse_unbacked(mechanisms: dict, rows) -> None:
    """The seed obeys the workflow's rule: nothing is published without primary evidence (its own or
    a sub-mechanism's; reviews alone do not count). Rows already present are the curators' and
    are left alone; raising here rolls the whole load back."""
    created = [mechanisms[row["slug"]] for row in rows if getattr(mechanisms[row["slug"]], "seeded_now", False)]
    unbacked = [mechanism.slug for mechanism in created if not mechanism.has_primary_evidence()]
    if unbacked:
        raise SeedError(
            "These mechanisms would be published without primary evidence (reviews alone do not count): "
            + ", ".join(unbacked)
        )


def _read(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise SeedError(f"Cannot read the seed file {path}: {error}") from error
    if not isinstance(data, dict):
        raise SeedError(f"{path} must hold a JSON object with the keys {', '.join(KINDS)}.")
    for kind in KINDS:
        data.setdefault(kind, [])
    return data


def _save_new(instance):
    """Validate a new row's fields and rules (e.g. the mechanism tree), so bad seed data names what it broke.

    Uniqueness and check constraints are left to the database (seed_atlas
    turns their IntegrityError into a SeedError): asking first would cost a
    query per constraint and row.
    """
    try:
        instance.full_clean(validate_unique=False, validate_constraints=False)
    except ValidationError as error:
        raise SeedError(f"{type(instance).__name__} {instance}: {error}") from error
    instance.save()
    return instance


def _load_simple(report, kind, model, key, rows, fields_of) -> dict:
    """Create the rows of a flat table that are missing; return {key: instance} for all of them."""
    keys = [row[key] for row in rows]
    existing = {getattr(obj, key): obj for obj in model.objects.filter(**{f"{key}__in": keys})}
    for row in rows:
        if row[key] in existing:
            report.present[kind] += 1
            continue
        existing[row[key]] = _save_new(model(**{key: row[key]}, **fields_of(row)))
        report.created[kind] += 1
    return existing


def _lookup(table: dict, key, what: str, where: str):
    try:
        return table[key]
    except KeyError:
        raise SeedError(f"{where} names {what} “{key}”, which the seed file does not define.") from None


def _load_mechanisms(report, rows, genes, therapies, cancer_types) -> dict:
    # Revisions share their mechanism's slug; the seed only ever speaks of the mechanism itself.
    slugs = [row["slug"] for row in rows]
    existing = {m.slug: m for m in Mechanism.objects.originals().filter(slug__in=slugs)}
    parents = {m.slug: m for m in Mechanism.objects.originals().filter(slug__in=_parent_slugs(rows))}
    now = timezone.now()
    for row in _parents_first(rows):
        slug = row["slug"]
        if slug in existing:
            report.present["mechanisms"] += 1
            continue
        parent = None
        if row.get("parent"):
            parent = _lookup({**parents, **existing}, row["parent"], "the parent", f"Mechanism {slug}")
        phenotypes = set(row.get("phenotypes", []))
        unknown = phenotypes - set(PHENOTYPE_FIELDS)
        if unknown:
            raise SeedError(f"Mechanism {slug} names unknown phenotypes: {', '.join(sorted(unknown))}.")
        mechanism = _save_new(
            Mechanism(
                slug=slug,
                name=row["name"],
                category=row["category"],
                parent=parent,
                summary=row["summary"],
                strategies=row.get("strategies", ""),
                status=Status.PUBLISHED,
                published_at=now,
                **{flag: phenotype in phenotypes for phenotype, flag in PHENOTYPE_FIELDS.items()},
            )
        )
        where = f"Mechanism {slug}"
        mechanism.genes.set([_lookup(genes, symbol, "the gene", where) for symbol in row.get("genes", [])])
        mechanism.therapies.set([_lookup(therapies, s, "the therapy", where) for s in row.get("therapies", [])])
        mechanism.cancer_types.set(
            [_lookup(cancer_types, s, "the cancer type", where) for s in row.get("cancer_types", [])]
        )
        mechanism.seeded_now = True  # the rule on primary evidence applies to what this run publishes
        existing[slug] = mechanism
        report.created["mechanisms"] += 1
    return existing


def _parent_slugs(rows) -> set[str]:
    return {row["parent"] for row in rows if row.get("parent")}


def _parents_first(rows) -> list[dict]:
    """Order mechanisms so that each parent defined in the file comes before its children."""
    by_slug = {row["slug"]: row for row in rows}
    ordered, placed = [], set()

    def place(row, trail=()):
        slug = row["slug"]
        if slug in placed:
            return
        if slug in trail:
            raise SeedError(f"The mechanism tree has a cycle through {slug}.")
        parent = by_slug.get(row.get("parent"))
        if parent is not None:
            place(parent, (*trail, slug))
        placed.add(slug)
        ordered.append(row)

    for row in rows:
        place(row)
    return ordered


def _reference_fields(row) -> dict:
    return {
        "doi": row.get("doi", ""),
        # The title field holds (sanitised) HTML; the seed's titles are plain text.
        "title": escape(row.get("title", "")),
        "authors": [_author(row["first_author"])] if row.get("first_author") else [],
        "pub_year": row.get("year"),
        "journal_iso": row.get("journal", ""),
        "metadata_state": MetadataState.PENDING,
    }


def _author(name: str) -> dict:
    """'Van Allen EM' → last name and initials, the way PubMed stores an author; else a collective name."""
    last_name, _, initials = name.strip().rpartition(" ")
    if last_name and _INITIALS.fullmatch(initials):
        return {"last_name": last_name, "initials": initials, "fore_name": "", "collective_name": "", "orcid": ""}
    return {"last_name": "", "initials": "", "fore_name": "", "collective_name": name.strip(), "orcid": ""}


def _load_evidence(report, rows, mechanisms, references, therapies, cancer_types) -> None:
    # A seeded claim is known by the mechanism and paper it links, not by its
    # wording: a curator who rewords a statement must not get the old one back.
    linked_before = set(
        Evidence.objects.filter(
            mechanism__in=[m.pk for m in mechanisms.values()], reference__in=[r.pk for r in references.values()]
        ).values_list("mechanism_id", "reference_id")
    )
    for row in rows:
        where = f"Evidence for {row['mechanism']} from PMID {row['pmid']}"
        mechanism = _lookup(mechanisms, row["mechanism"], "the mechanism", where)
        reference = _lookup(references, row["pmid"], "the reference", where)
        if (mechanism.pk, reference.pk) in linked_before:
            report.present["evidence"] += 1
            continue
        _save_new(
            Evidence(
                mechanism=mechanism,
                reference=reference,
                statement=row["statement"],
                direction=row["direction"],
                level=row["level"],
                model_system=row["model_system"],
                therapy=_lookup(therapies, row["therapy"], "the therapy", where) if row.get("therapy") else None,
                cancer_type=_lookup(cancer_types, row["cancer_type"], "the cancer type", where)
                if row.get("cancer_type")
                else None,
                phenotype=row.get("phenotype") or "",
                locator=row.get("locator") or "",
            )
        )
        report.created["evidence"] += 1
