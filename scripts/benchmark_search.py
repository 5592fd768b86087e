#!/usr/bin/env python
"""Server time, queries and response size of the search pages on a generated atlas.

Fill a PostgreSQL database with scripts/generate_atlas.py first (at --scale 1.0 for the
full size, 0.01 for 1%), then:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/atlas_bench .venv/bin/python scripts/benchmark_search.py

Each page is requested in-process through Django's test client (no network, no browser),
once to warm up and then --runs times; it prints queries per request, p50 and p95 server
time and response size, and with --explain the EXPLAIN ANALYZE of the facet-count query.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

PAGES = [
    ("search: one word", "/search/?q=macrophage"),
    ("search: a gene symbol prefix", "/search/?q=GEN12"),
    ("search: a phrase", '/search/?q="interferon gamma"'),
    ("search: two words and an exclusion", "/search/?q=exhaustion+relapse+-review"),
    ("search: no hits", "/search/?q=zyzzyva"),
    ("search: evidence, narrowed", "/search/?q=macrophage&kind=evidence&level=clinical-cohort&page=3"),
    ("/evidence/", "/evidence/"),
    ("/evidence/ filtered and sorted", "/evidence/?level=clinical-cohort&direction=refutes&sort=-year"),
    ("/evidence/ with words", "/evidence/?q=hypoxia&sort=mechanism"),
    ("/mechanisms/", "/mechanisms/"),
    ("/mechanisms/ with words", "/mechanisms/?q=macrophage"),
]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--explain", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "resistance_atlas.settings")
    os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "testserver")
    import django

    django.setup()
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from curation.models import Evidence, Mechanism

    client = Client()
    print(f"{Mechanism.objects.count()} mechanisms, {Evidence.objects.count()} evidence items")
    print("| page | queries | p50 ms | p95 ms | kB |\n|---|---|---|---|---|")
    for label, url in PAGES:
        client.get(url)
        times = []
        for _ in range(args.runs):
            with CaptureQueriesContext(connection) as queries:
                started = time.perf_counter()
                response = client.get(url)
                times.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, (url, response.status_code)
        times.sort()
        p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
        size = len(response.content) / 1000
        print(f"| {label} | {len(queries)} | {statistics.median(times):.0f} | {p95:.0f} | {size:.0f} |")
    if args.explain:
        _explain(connection)


def _explain(connection):
    from curation.search import facets
    from curation.search.evidence import matching, published_evidence
    from curation.search.query import parse

    for label, evidence in (
        ("all published evidence", published_evidence()),
        ("evidence matching 'macrophage'", published_evidence().filter(matching(parse("macrophage")))),
    ):
        sql, params = facets.count_sql(evidence)
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
            plan = [row[0] for row in cursor.fetchall()]
        timing = [line for line in plan if "Execution Time" in line or "Planning Time" in line]
        print(f"\nFacet counts over {label}: " + "; ".join(timing))


if __name__ == "__main__":
    main()
