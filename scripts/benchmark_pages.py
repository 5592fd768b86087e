#!/usr/bin/env python
"""Queries, server time and size of the atlas's pages on a generated atlas, at 1% and at full size.

    make benchmark-pages SMALL_DATABASE_URL=postgres://postgres@127.0.0.1:5432/atlas_small \
        DATABASE_URL=postgres://postgres@127.0.0.1:5432/atlas_full
    # which runs:
    DATABASE_URL=postgres://.../atlas_full .venv/bin/python scripts/benchmark_pages.py \
        --pair postgres://.../atlas_small --runs 11 --out var/benchmark-pages [--profile]

An empty database is migrated and filled by scripts/generate_atlas.py (10,000 published
mechanisms, 100,000 papers and 200,000 evidence items in DATABASE_URL's, 1% of that in the
--pair one); a filled one is migrated (so new indexes are built), vacuumed and analysed.
Each page is requested in-process through Django's test client (no network), once to warm
up and then `--runs` times, alternating between the two databases so that both see the
same load on a shared machine. It prints queries per request, p50 and p95 server time and
response size per page and size, then the table of docs/benchmark-pages.md: the ratio of
the p50s and the goal's verdict. Staff pages (the admin's lists, the dashboard) are
requested as a superuser. `--profile` adds each page's slowest queries; `--compare A B`
prints the table again from saved results. Without --pair it measures DATABASE_URL alone.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

# The goal (issue 9): the same queries at both sizes, p50 at full size within 1.5x of 1%, nothing over 500 kB.
MAX_RATIO = 1.5
MAX_KB = 500


def pages() -> list[tuple[str, str]]:
    """(label, address) of every page measured; the heaviest rows are looked up, not hard-coded."""
    from django.db.models import Count

    from curation.models import CancerType, Evidence, Gene, Mechanism, Therapy

    published = Evidence.objects.published()
    top_mechanism = Mechanism.objects.get(
        pk=published.values("mechanism").annotate(n=Count("pk")).order_by("-n", "mechanism")[0]["mechanism"]
    )
    top_reference = (
        published.values("reference__pmid")
        .annotate(n=Count("mechanism", distinct=True))
        .order_by("-n", "reference__pmid")[0]["reference__pmid"]
    )
    top_gene = (
        Gene.objects.published()
        .annotate(n=Count("mechanisms"))
        .order_by("-n", "symbol")
        .values_list("symbol", flat=True)[0]
    )
    therapy = Therapy.objects.published().annotate(n=Count("evidence")).order_by("-n", "pk")[0]
    cancer = CancerType.objects.published().annotate(n=Count("evidence")).order_by("-n", "pk")[0]
    return [
        ("home", "/"),
        ("mechanism list", "/mechanisms/"),
        ("mechanism list, page 20", "/mechanisms/?page=20"),
        ("mechanism with most evidence", top_mechanism.get_absolute_url()),
        ("its evidence, page 10", top_mechanism.get_absolute_url() + "?page=10"),
        ("reference cited by most mechanisms", f"/references/{top_reference}/"),
        ("gene used most", f"/genes/{top_gene}/"),
        ("/references/", "/references/"),
        ("/references/ by citing mechanisms", "/references/?sort=-mechanisms"),
        ("/references/ retracted", "/references/?flag=retracted"),
        ("/genes/", "/genes/"),
        ("/genes/ by mechanisms", "/genes/?sort=-mechanisms"),
        ("therapy with most evidence", therapy.get_absolute_url()),
        ("cancer type with most evidence", cancer.get_absolute_url()),
        ("/evidence/ filtered", "/evidence/?level=clinical-cohort&direction=refutes&sort=-year"),
        ("search: one word", "/search/?q=macrophage"),
        ("search: a gene", "/search/?q=GEN12"),
        ("search: a phrase", '/search/?q="interferon gamma"'),
        ("search: no hits", "/search/?q=zyzzyva"),
        ("admin: mechanisms", "/admin/curation/mechanism/"),
        ("admin: references", "/admin/curation/reference/"),
        ("admin: evidence", "/admin/curation/evidence/"),
        ("curation dashboard", "/curation/dashboard/"),
    ]


def prepare(scale: float, log=print) -> None:
    """Migrate; fill an empty database at `scale`; vacuum and analyse, as autovacuum would after a bulk load,
    so the planner knows the tables' sizes and index-only scans need not visit the rows."""
    from django.core.management import call_command
    from django.db import connection

    from curation.models import Mechanism

    call_command("migrate", verbosity=0)
    if not Mechanism.objects.exists():
        from scripts.generate_atlas import generate_atlas

        started = time.monotonic()
        log(generate_atlas(scale, log=log))
        log(f"generated in {time.monotonic() - started:.0f} s")
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")


class Atlas:
    """One database to measure: a connection, the pages' addresses in it, and a reader's and a curator's client."""

    def __init__(self, name: str, wrapper):
        self.name, self.wrapper = name, wrapper

    def load(self):
        """Look up the pages' addresses and sign the curator in (once the atlas is generated)."""
        from django.contrib.auth import get_user_model
        from django.test import Client

        with self.active():
            self.sizes = sizes()
            self.pages = pages()
            user, _ = get_user_model().objects.get_or_create(
                username="benchmark", defaults={"is_staff": True, "is_superuser": True}
            )
            # Readers' pages as an anonymous reader; the admin and the dashboard as a superuser.
            self.reader, self.staff = Client(), Client()
            self.staff.force_login(user)

    def active(self):
        """Route the default database to this atlas for the block (the ORM and the test client use it)."""
        from contextlib import contextmanager

        from django.db import connections

        @contextmanager
        def routed():
            previous = connections["default"]
            connections["default"] = self.wrapper
            try:
                yield
            finally:
                connections["default"] = previous

        return routed()

    def get(self, index: int):
        """Request page `index` once: (status, queries, ms, bytes, captured queries)."""
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        url = self.pages[index][1]
        client = self.staff if url.startswith(("/admin/", "/curation/")) else self.reader
        # Django empties the query log of the connections it knows at each request; a connection
        # routed in by `active` is not among them, and a full log (9,000 entries) records nothing.
        self.wrapper.queries_log.clear()
        with self.active(), CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            response = client.get(url)
            elapsed = (time.perf_counter() - started) * 1000
        return response.status_code, len(queries), elapsed, len(response.content), queries.captured_queries


def measure(atlases: list, runs: int, profile: bool, log=print) -> dict[str, list[dict]]:
    """Every page of every atlas, `runs` times after a warm-up; with two atlases the requests alternate
    (1%, full, 1%, full, ...), so that both see the same load on a shared machine."""
    results = {atlas.name: [] for atlas in atlases}
    for index, (label, _) in enumerate(atlases[0].pages):
        samples = {atlas.name: [] for atlas in atlases}
        for atlas in atlases:
            atlas.get(index)
        for _ in range(runs):
            for atlas in atlases:
                samples[atlas.name].append(atlas.get(index))
        for atlas in atlases:
            status, queries, _, size, captured = samples[atlas.name][-1]
            url = atlas.pages[index][1]
            if status != 200:
                log(f"| {label} ({atlas.name}) | {url} answered {status}: not measured | | | |")
                continue
            times = [sample[2] for sample in samples[atlas.name]]
            row = {"label": label, "url": url, "queries": queries, "times": times, "kb": size / 1000}
            row["queries_seen"] = sorted({sample[1] for sample in samples[atlas.name]})
            row.update(_percentiles(times))
            results[atlas.name].append(row)
            log(f"| {label} ({atlas.name}) | {queries} | {row['p50']:.0f} | {row['p95']:.0f} | {row['kb']:.0f} |")
            if profile:
                for query in sorted(captured, key=lambda q: -float(q["time"]))[:3]:
                    log(f"|   {float(query['time']) * 1000:.0f} ms: {query['sql'][:300]} | | | | |")
    return results


def _percentiles(times: list[float]) -> dict:
    ordered = sorted(times)
    return {"p50": statistics.median(ordered), "p95": ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]}


def save(path: Path, sizes: dict, results: list[dict]) -> None:
    """Write the results; samples of an earlier round in the same file are kept and pooled with these.

    Rounds at 1% and at full size taken in turn (`make benchmark-pages` does) see the same
    load on a shared machine, so the ratio of their p50s measures the data, not the neighbours.
    """
    earlier = {row["label"]: row for row in json.loads(path.read_text())["pages"]} if path.exists() else {}
    for row in results:
        if row["label"] in earlier:
            row["times"] = earlier[row["label"]]["times"] + row["times"]
            row["queries_seen"] = sorted({*earlier[row["label"]].get("queries_seen", []), row["queries"]})
            row.update(_percentiles(row["times"]))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"sizes": sizes, "pages": results}, indent=1))


def compare(small_path, full_path) -> None:
    small = {row["label"]: row for row in json.loads(Path(small_path).read_text())["pages"]}
    full = json.loads(Path(full_path).read_text())["pages"]
    print(
        "| page | queries 1% | queries full | p50 1% ms | p95 1% ms | p50 full ms | p95 full ms | ratio "
        "| kB 1% | kB full | goal |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for row in full:
        base = small.get(row["label"])
        if base is None:
            continue
        ratio = row["p50"] / base["p50"] if base["p50"] else float("inf")
        misses = []
        if len({row["queries"], base["queries"], *row.get("queries_seen", []), *base.get("queries_seen", [])}) > 1:
            misses.append("queries")
        if ratio > MAX_RATIO:
            misses.append("time")
        if row["kb"] > MAX_KB:
            misses.append("size")
        verdict = "met" if not misses else "missed: " + ", ".join(misses)
        print(
            f"| {row['label']} | {base['queries']} | {row['queries']} | {base['p50']:.0f} | {base['p95']:.0f} | "
            f"{row['p50']:.0f} | {row['p95']:.0f} | {ratio:.2f} | {base['kb']:.0f} | {row['kb']:.0f} | {verdict} |"
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="size to generate in an empty database")
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--out", help="write the results as JSON here")
    parser.add_argument("--profile", action="store_true", help="print each page's slowest queries")
    parser.add_argument("--compare", nargs=2, metavar=("SMALL_JSON", "FULL_JSON"))
    parser.add_argument(
        "--pair",
        metavar="SMALL_DATABASE_URL",
        help="also measure this database (filled at 1%% when empty), alternating requests with DATABASE_URL's; "
        "--out is then a prefix: OUT-small.json and OUT-full.json, and the comparison is printed",
    )
    args = parser.parse_args()
    if args.compare:
        compare(*args.compare)
        return
    if not 0 < args.scale <= 2 or not 1 <= args.runs <= 1000:
        parser.error("--scale must be in (0, 2] and --runs in 1..1000")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "resistance_atlas.settings")
    os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "testserver")
    import django

    django.setup()
    import logging

    # Not the 404 warnings of pages an older checkout lacks, nor django-axes' sign-in notes.
    logging.getLogger("django.request").setLevel(logging.ERROR)
    logging.getLogger("axes").setLevel(logging.WARNING)
    from django.db import connection

    if connection.vendor != "postgresql":
        raise SystemExit("benchmark-pages measures PostgreSQL: set DATABASE_URL=postgres://...")
    atlases = [Atlas("full" if args.scale == 1.0 else f"scale {args.scale}", connection_of("default"))]
    if args.pair:
        atlases.insert(0, Atlas("1%", connection_of("small", args.pair)))
    for atlas, scale in zip(atlases, [0.01, args.scale] if args.pair else [args.scale], strict=True):
        with atlas.active():
            prepare(scale)
        atlas.load()
        print(atlas.name, atlas.sizes, f"load average {os.getloadavg()[0]:.1f}")
    print("| page | queries | p50 ms | p95 ms | kB |\n|---|---|---|---|---|")
    results = measure(atlases, args.runs, args.profile)
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    if args.out and args.pair:
        small, full = Path(f"{args.out}-small.json"), Path(f"{args.out}-full.json")
        save(small, atlases[0].sizes, results["1%"])
        save(full, atlases[1].sizes, results[atlases[1].name])
        compare(small, full)
    elif args.out:
        save(Path(args.out), atlases[0].sizes, results[atlases[0].name])


def connection_of(alias: str, url: str | None = None):
    """The connection of `alias`; with `url`, a new alias for that database, configured like the default."""
    from django.db import connections

    if url is not None:
        import dj_database_url

        default = connections.settings["default"]
        other = {**default, **dj_database_url.parse(url)}
        connections.settings[alias] = connections.configure_settings({"default": default, alias: other})[alias]
    return connections[alias]


def sizes() -> dict:
    from curation.models import Evidence, Mechanism, Reference

    return {
        "mechanisms": Mechanism.objects.published().count(),
        "references": Reference.objects.count(),
        "evidence": Evidence.objects.count(),
    }


if __name__ == "__main__":
    main()
