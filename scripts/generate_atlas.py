#!/usr/bin/env python
"""Generate a large published atlas for benchmarks: `generate_atlas(scale)` fills the current database.

At scale 1.0: 10,000 published mechanisms (in trees at most three deep), 100,000
references with abstracts, MeSH terms and keywords, 200,000 evidence items, 2,000 genes
with aliases, 20 therapies and 15 cancer types, plus 5% draft mechanisms with evidence
(which no public page may show). Rows are bulk-inserted (no history), so PostgreSQL's
search-vector triggers do all the indexing work they would do on ordinary saves. The
text is drawn from a fixed vocabulary with a seeded random generator, so two runs give
the same atlas, and a few marker words have known frequencies for benchmark queries.

Other benchmarks call it (`from scripts.generate_atlas import generate_atlas`) on a
database of their own; run alone it fills the database DATABASE_URL names:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/atlas_bench .venv/bin/python scripts/generate_atlas.py --scale 0.01
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

VOCABULARY = (
    "tumor tumour immune escape resistance checkpoint blockade interferon gamma signalling antigen presentation "
    "loss mutation T cell exhaustion macrophage myeloid suppressor regulatory fibroblast stroma exclusion "
    "chemokine cytokine adenosine kynurenine tryptophan microbiome metabolism hypoxia lactate glycolysis "
    "epigenetic methylation silencing chromatin enhancer transcription MHC class HLA peptide neoantigen "
    "clonal evolution relapse response cohort patients biopsy sequencing expression signature survival "
    "mouse model xenograft organoid screen knockout deletion amplification pathway kinase receptor ligand "
    "inhibitor combination therapy trial phase outcome progression infiltration lymphocyte dendritic "
    "priming memory effector cytotoxic granzyme perforin apoptosis autophagy senescence inflammation"
).split()
LEVELS = ("clinical-cohort", "case-report", "preclinical-in-vivo", "in-vitro", "computational", "review")
# Model systems a study of each level may use (the review's is fixed by a check constraint).
MODEL_SYSTEMS = {
    "clinical-cohort": ("patient-cohort", "clinical-trial"),
    "case-report": ("case-report",),
    "preclinical-in-vivo": ("syngeneic-mouse", "engineered-mouse", "xenograft-pdx"),
    "in-vitro": ("cell-line", "organoid", "screen"),
    "computational": ("computational",),
    "review": ("not-applicable",),
}
PHENOTYPES = ("", "primary", "adaptive", "acquired")
THERAPY_CLASSES = ("anti-PD-1", "anti-PD-L1", "anti-CTLA-4", "anti-LAG-3", "anti-TIGIT", "CAR-T", "other")


# Filler words with a Zipf-like spread, so that a domain word appears in a realistic share of
# texts (each of VOCABULARY's words in roughly 1-10% of abstracts), not in nearly all of them.
_FILLER = [f"lex{n}" for n in range(20_000)]
_FILLER_WEIGHTS = list(itertools.accumulate(1 / (rank + 10) for rank in range(len(_FILLER))))


def _sentence(rng: random.Random, words: int) -> str:
    picked = rng.choices(_FILLER, cum_weights=_FILLER_WEIGHTS, k=words)
    for index in range(words):
        if rng.random() < 0.02:
            picked[index] = rng.choice(VOCABULARY)
    return " ".join(picked).capitalize() + "."


def generate_atlas(scale: float = 1.0, *, seed: int = 1, batch: int = 5_000, log=print) -> dict[str, int]:
    """Fill the (empty) current database with a generated atlas of `scale` x the full size; return row counts."""
    from django.db import transaction
    from django.utils import timezone

    from curation.models import CancerType, Evidence, Gene, Mechanism, Reference, Status, Therapy

    rng = random.Random(seed)
    n_mechanisms, n_references, n_evidence = (max(3, round(n * scale)) for n in (10_000, 100_000, 200_000))
    n_genes = max(10, round(2_000 * scale))
    started = time.monotonic()
    now = timezone.now()
    with transaction.atomic():
        genes = Gene.objects.bulk_create(
            [
                Gene(symbol=f"GEN{n}", name=f"generated gene {n}", aliases=f"G{n}A, GENE-{n}")
                for n in range(1, n_genes + 1)
            ],
            batch_size=batch,
        )
        therapies = Therapy.objects.bulk_create(
            [Therapy(name=f"Therapy {n}", slug=f"therapy-{n}", therapy_class=THERAPY_CLASSES[n % 7]) for n in range(20)]
        )
        cancers = CancerType.objects.bulk_create(
            [CancerType(name=f"Cancer {n}", slug=f"cancer-{n}") for n in range(15)]
        )
        log(f"vocabulary: {len(genes)} genes ({time.monotonic() - started:.0f} s)")

        mechanisms: list[Mechanism] = []
        for level in range(3):  # roots, their children, grandchildren
            share = (0.1, 0.3, 0.6)[level]
            parents = [m for m in mechanisms if getattr(m, "_depth", 0) == level - 1]
            rows = []
            for n in range(round(n_mechanisms * share) if level < 2 else n_mechanisms - len(mechanisms)):
                parent = rng.choice(parents) if parents else None
                category = parent.category if parent else ("tumor-intrinsic", "tumor-extrinsic")[n % 2]
                mechanism = Mechanism(
                    slug=f"m{level}-{n}",
                    name=f"{_sentence(rng, 3)[:-1]} {level}-{n}",
                    category=category,
                    parent=parent,
                    summary=_sentence(rng, 60),
                    strategies=_sentence(rng, 20),
                    status=Status.PUBLISHED,
                    published_at=now,
                    primary_resistance=n % 3 == 0,
                    acquired_resistance=n % 3 == 1,
                )
                mechanism._depth = level
                rows.append(mechanism)
            for mechanism, saved in zip(rows, Mechanism.objects.bulk_create(rows, batch_size=batch), strict=True):
                saved._depth = mechanism._depth
                mechanisms.append(saved)
        drafts = Mechanism.objects.bulk_create(
            [
                Mechanism(
                    slug=f"draft-{n}",
                    name=f"Draft zebrafish idea {n}",
                    category="tumor-intrinsic",
                    summary="Unpublished zebrafish work. " + _sentence(rng, 30),
                    status=Status.DRAFT,
                )
                for n in range(max(1, n_mechanisms // 20))
            ],
            batch_size=batch,
        )
        links = Mechanism.genes.through
        links.objects.bulk_create(
            [links(mechanism_id=m.pk, gene_id=g.pk) for m in mechanisms for g in rng.sample(genes, 2)],
            batch_size=batch,
        )
        log(f"mechanisms: {len(mechanisms)} published, {len(drafts)} drafts ({time.monotonic() - started:.0f} s)")

        references = []
        for start in range(0, n_references, batch):
            rows = [
                Reference(
                    pmid=10_000_000 + n,
                    title=_sentence(rng, 14),
                    abstract=[
                        {"label": "BACKGROUND", "category": "BACKGROUND", "text": _sentence(rng, 60)},
                        {"label": "RESULTS", "category": "RESULTS", "text": _sentence(rng, 90)},
                    ],
                    authors=[
                        {
                            "last_name": f"Author{n % 5000}",
                            "initials": "AB",
                            "fore_name": "",
                            "collective_name": "",
                            "orcid": "",
                        }
                    ],
                    journal_iso=f"J Gen Immunol {n % 300}",
                    pub_year=1990 + n % 36,
                    publication_types=["Review"] if n % 10 == 0 else ["Journal Article"],
                    mesh_terms=[rng.choice(VOCABULARY).capitalize() for _ in range(6)],
                    keywords=[rng.choice(VOCABULARY) for _ in range(3)],
                    metadata_state="verified",
                )
                for n in range(start, min(start + batch, n_references))
            ]
            references.extend(Reference.objects.bulk_create(rows))
        log(f"references: {len(references)} ({time.monotonic() - started:.0f} s)")

        # Evidence: most mechanisms have a handful of items, a few have hundreds.
        heavy = mechanisms[: max(1, len(mechanisms) // 200)]
        for start in range(0, n_evidence, batch):
            rows = []
            for n in range(start, min(start + batch, n_evidence)):
                mechanism = rng.choice(heavy) if n % 10 == 0 else mechanisms[n % len(mechanisms)]
                rows.append(
                    Evidence(
                        mechanism_id=mechanism.pk,
                        reference_id=references[rng.randrange(len(references))].pk,
                        statement=f"{_sentence(rng, 18)} ({n})",
                        direction="refutes" if n % 7 == 0 else "supports",
                        level=LEVELS[n % len(LEVELS)],
                        model_system=rng.choice(MODEL_SYSTEMS[LEVELS[n % len(LEVELS)]]),
                        therapy_id=therapies[n % len(therapies)].pk if n % 4 else None,
                        cancer_type_id=cancers[n % len(cancers)].pk if n % 3 else None,
                        phenotype=PHENOTYPES[n % 4],
                    )
                )
            Evidence.objects.bulk_create(rows)
        Evidence.objects.bulk_create(
            [
                Evidence(
                    mechanism_id=d.pk,
                    reference_id=references[0].pk,
                    statement="Zebrafish draft claim.",
                    level="in-vitro",
                    model_system="cell-line",
                )
                for d in drafts
            ],
            batch_size=batch,
        )
        log(f"evidence: {n_evidence} ({time.monotonic() - started:.0f} s)")
    return {"mechanisms": len(mechanisms), "references": len(references), "evidence": n_evidence, "genes": n_genes}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 is the full size (10k mechanisms, 200k evidence)")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "resistance_atlas.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    print(generate_atlas(args.scale))
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


if __name__ == "__main__":
    main()
