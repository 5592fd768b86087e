#!/usr/bin/env python
"""Benchmark the read API and data releases on an atlas of the planned size.

It creates its own PostgreSQL database next to the one DATABASE_URL names (dropped
at the end unless --keep-db), migrates it, fills it with published content in bulk
(default: 10,000 mechanisms in a three-level tree, 100,000 references, 200,000
evidence items, 2,000 genes), then times, in one process through Django's test
client (no network, no gzip):

- the first page, and a page deep in the list, of each list endpoint at 1,000 a page,
  with the SQL queries each runs;
- paging through all evidence at 1,000 a page, following the links;
- `export_release` (all six resources, JSON and TSV, with the changelog against a
  previous release of the same data).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/atlas .venv/bin/python scripts/benchmark_api.py
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mechanisms", type=int, default=10_000)
    parser.add_argument("--references", type=int, default=100_000)
    parser.add_argument("--evidence", type=int, default=200_000)
    parser.add_argument("--genes", type=int, default=2_000)
    parser.add_argument("--db-name", default="atlas_api_benchmark", help="database created for the run")
    parser.add_argument("--keep-db", action="store_true", help="do not drop the database at the end")
    return parser.parse_args(argv)


def _admin_connection(url: str):
    import psycopg2

    parts = urlsplit(url)
    connection = psycopg2.connect(urlunsplit(parts._replace(path="/postgres")))
    connection.autocommit = True
    return connection


def _with_db(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def fill(args):
    """Published content in bulk: a tree of mechanisms with genes and therapies, papers and claims."""
    from django.utils import timezone

    from curation.models import (
        CancerType,
        Category,
        Direction,
        Evidence,
        EvidenceLevel,
        Gene,
        Mechanism,
        Reference,
        Status,
        Therapy,
    )  # fmt: skip

    now = timezone.now()
    genes = Gene.objects.bulk_create(Gene(symbol=f"G{i}", name=f"gene {i}") for i in range(args.genes))
    therapies = Therapy.objects.bulk_create(
        Therapy(name=f"Therapy {i}", slug=f"therapy-{i}", therapy_class="anti-PD-1") for i in range(50)
    )
    cancers = CancerType.objects.bulk_create(CancerType(name=f"Cancer {i}", slug=f"cancer-{i}") for i in range(40))

    def mechanisms(count, parents, start):
        rows = [
            Mechanism(
                slug=f"m-{start + i}", name=f"Mechanism {start + i}", summary="How tumours escape T cells. " * 4,
                category=parents[i % len(parents)].category if parents else Category.TUMOR_INTRINSIC,
                parent=parents[i % len(parents)] if parents else None, status=Status.PUBLISHED, published_at=now,
                primary_resistance=i % 2 == 0,
            )
            for i in range(count)
        ]  # fmt: skip
        return Mechanism.objects.bulk_create(rows, batch_size=2000)

    roots = mechanisms(args.mechanisms // 10, [], 0)
    middle = mechanisms(args.mechanisms * 3 // 10, roots, len(roots))
    leaves = mechanisms(args.mechanisms - len(roots) - len(middle), middle, len(roots) + len(middle))
    published = roots + middle + leaves
    through = Mechanism.genes.through
    through.objects.bulk_create(
        (through(mechanism=m, gene=genes[(i + k) % len(genes)]) for i, m in enumerate(published) for k in range(3)),
        batch_size=5000,
    )
    Mechanism.therapies.through.objects.bulk_create(
        Mechanism.therapies.through(mechanism=m, therapy=therapies[i % 50]) for i, m in enumerate(published)
    )
    Mechanism.cancer_types.through.objects.bulk_create(
        Mechanism.cancer_types.through(mechanism=m, cancertype=cancers[i % 40]) for i, m in enumerate(published)
    )
    authors = [{"last_name": "Curie", "fore_name": "Ada", "initials": "A", "collective_name": "", "orcid": ""}] * 6
    references = Reference.objects.bulk_create(
        (
            Reference(
                pmid=10_000_000 + i, title=f"A study of immune escape number {i}.", authors=authors,
                journal_title="Journal of Tests", journal_iso="J Tests", volume="12", issue="3", pages="101-9",
                pub_year=1990 + i % 35, pub_date="2020 Mar", doi=f"10.5555/t.{i}", metadata_state="verified",
                is_retracted=i % 997 == 0,
            )
            for i in range(args.references)
        ),
        batch_size=5000,
    )  # fmt: skip
    Evidence.objects.bulk_create(
        (
            Evidence(
                mechanism=published[i % len(published)], reference=references[i % len(references)],
                statement=f"Claim {i} about this mechanism.", level=EvidenceLevel.IN_VITRO,
                model_system="cell-line",
                direction=Direction.REFUTES if i % 7 == 0 else Direction.SUPPORTS, therapy=therapies[i % 50],
            )
            for i in range(args.evidence)
        ),
        batch_size=5000,
    )  # fmt: skip


def timed(label, function):
    start = time.perf_counter()
    result = function()
    elapsed = time.perf_counter() - start
    print(f"{label:<58} {elapsed * 1000:>9.0f} ms", flush=True)
    return result


def measure():
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_HOST="localhost")

    def page(url):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        assert response.status_code == 200, response.content[:300]
        return response.json(), len(queries)

    for name in ("mechanisms", "evidence", "references", "genes"):
        url = f"/api/{name}/?page_size=1000"
        body, queries = timed(f"GET {url} (first page)", lambda url=url: page(url))
        # The last page: the keyset finds it from the previous item, with no offset to skip.
        pages = 1
        while body["next"]:
            previous, pages = body, pages + 1
            body, _ = page(body["next"])
        if pages > 1:
            _, deep_queries = timed(f"GET /api/{name}/ page {pages} (next link)", lambda b=previous: page(b["next"]))
            print(f"{'':<4}queries: first page {queries}, page {pages} {deep_queries}")
    timed("GET /api/mechanisms/?gene=G7&page_size=1000", lambda: page("/api/mechanisms/?gene=G7&page_size=1000"))
    timed(
        "GET /api/evidence/?ordering=year&page_size=1000", lambda: page("/api/evidence/?ordering=year&page_size=1000")
    )

    def walk():
        url, count = "/api/evidence/?page_size=1000", 0
        while url:
            body, _ = page(url)
            count += len(body["results"])
            url = body["next"]
        return count

    count = timed("page through all evidence at 1,000 a page", walk)
    print(f"{'':<4}{count} items")

    from curation import releases

    with tempfile.TemporaryDirectory() as folder:
        from django.conf import settings

        settings.DATA_RELEASES_DIR = Path(folder)
        timed("export_release (first: everything added)", releases.export_release)
        timed("export_release (second: changelog against the first)", releases.export_release)


def main(argv=None):
    args = parse_args(argv)
    base = os.environ.get("DATABASE_URL", "")
    if not base.startswith("postgres"):
        sys.exit("Set DATABASE_URL=postgres://...: the benchmark makes its own database next to that one.")
    admin = _admin_connection(base)
    with admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{args.db_name}"')
        cursor.execute(f'CREATE DATABASE "{args.db_name}"')
    url = _with_db(base, args.db_name)
    try:
        env = {**os.environ, "DATABASE_URL": url}
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=REPO, env=env, check=True)
        os.environ["DATABASE_URL"] = url
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "resistance_atlas.settings")
        os.environ["API_THROTTLE_RATE"] = "1000000/minute"
        import django

        django.setup()
        print(f"{platform.node()}: {os.cpu_count()} cores, Python {platform.python_version()}, PostgreSQL")
        timed(
            f"fill: {args.mechanisms} mechanisms, {args.references} references, {args.evidence} evidence",
            lambda: fill(args),
        )
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        measure()
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep_db:
            with admin.cursor() as cursor:
                cursor.execute(f'DROP DATABASE IF EXISTS "{args.db_name}"')


if __name__ == "__main__":
    main()
