#!/usr/bin/env python
"""How fast citations are formatted: the pages' NLM formatter against citeproc-py, and each export format.

Builds N references in memory from the recorded PubMed records (tests/data/pubmed), so it needs
no database, and prints citations per second for each way of writing them:

    .venv/bin/python scripts/benchmark_citations.py [--n 1000] [--repeat 3]
"""

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "resistance_atlas.settings")

import django  # noqa: E402

django.setup()

from curation.citations import FORMATS, export_references, format_citation_html  # noqa: E402
from curation.models import Reference  # noqa: E402
from curation.pubmed_records import parse_efetch  # noqa: E402
from tests.factories import record_fields  # noqa: E402


def references(n: int) -> list[Reference]:
    records = [r for p in sorted((ROOT / "tests/data/pubmed").glob("*.xml")) for r in parse_efetch(p.read_bytes())]
    return [Reference(pmid=1_000_000 + i, **record_fields(records[i % len(records)])) for i in range(n)]


def best_of(repeat: int, work) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="references per run")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; the best is reported")
    args = parser.parse_args()
    refs = references(args.n)
    export_references(refs[:2], "vancouver.html")  # parse the styles once, as a worker does
    rows = [
        ("page citation (hand-written NLM HTML)", best_of(args.repeat, lambda: [format_citation_html(r) for r in refs]))
    ]
    for key in FORMATS:
        rows.append((f"export {key}", best_of(args.repeat, lambda key=key: export_references(refs, key))))
    print(f"{args.n} references, best of {args.repeat} runs, {os.cpu_count()} CPUs")
    print(f"{'writer':45} {'seconds':>8} {'citations/s':>12}")
    for name, seconds in rows:
        print(f"{name:45} {seconds:8.3f} {args.n / seconds:12.0f}")


if __name__ == "__main__":
    main()
