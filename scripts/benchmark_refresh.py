#!/usr/bin/env python
"""Benchmark the PubMed refresh pipeline end to end against the fake E-utilities server.

For each rate regime (with an API key: 10 requests/s; without: 3/s) it:

1. starts real Celery worker processes (prefork) on Redis and PostgreSQL,
   pointed at the fake server, which enforces NCBI's per-key limit with 429s;
2. imports N references and times their first fetch ("import": every record
   is written, with history);
3. verifies them all and times a second refresh ("refresh": records are
   unchanged, so only the fetch time moves; the daily job's usual case);
4. times a one-PMID-per-request loop over the first M of the same references,
   in one process through the same client and limiter (fetch + apply).

It prints records/s, efetch requests made, 429s received and the share of the
rate bound (requests/s x 200 records), and can write the numbers as JSON.

It needs PostgreSQL and Redis. It creates its own database (dropped at the
end) next to the one DATABASE_URL names, and uses one Redis database
(flushed before and after), so it never touches development data:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/atlas .venv/bin/python scripts/benchmark_refresh.py
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.services import celery_worker_command  # noqa: E402  (needs the repo on sys.path)

API_KEY = "benchmark-api-key"
MODES = {"key": (API_KEY, 10.0), "nokey": ("", 3.0)}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--references", type=int, default=10_000, help="references per run (10000)")
    parser.add_argument("--workers", type=int, default=4, help="worker processes (prefork concurrency, 4)")
    parser.add_argument("--modes", default="key,nokey", help="key, nokey or both (default)")
    parser.add_argument("--naive", type=int, default=60, help="PMIDs in the one-per-request loop (60)")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/6", help="broker and limiter (db 6, flushed)")
    parser.add_argument("--db-name", default="atlas_benchmark", help="database created for the run and dropped")
    parser.add_argument("--keep-db", action="store_true", help="do not drop the database at the end")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    if args.workers < 2:
        parser.error("use at least two worker processes: the point is that they share one rate limit")
    return args


def benchmark_database(name: str) -> str:
    """Create a fresh PostgreSQL database beside DATABASE_URL's; return its URL."""
    import psycopg2

    base = os.environ.get("DATABASE_URL", "")
    if not base.startswith(("postgres://", "postgresql://")):
        sys.exit("Set DATABASE_URL to a PostgreSQL server (postgres://user@host:port/db); SQLite cannot take the load.")
    parts = urlsplit(base)
    maintenance = urlunsplit(parts._replace(path="/postgres"))
    connection = psycopg2.connect(maintenance)
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
        cursor.execute(f'CREATE DATABASE "{name}"')
    connection.close()
    return urlunsplit(parts._replace(path=f"/{name}"))


def drop_database(url: str) -> None:
    import psycopg2

    parts = urlsplit(url)
    from django.db import connections

    connections.close_all()
    connection = psycopg2.connect(urlunsplit(parts._replace(path="/postgres")))
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{parts.path.lstrip("/")}"')
    connection.close()


class Workers:
    """A `celery worker` subprocess with N prefork processes, configured through its environment."""

    def __init__(self, *, concurrency: int, env: dict[str, str], log: Path):
        self.log = log.open("w")
        command = celery_worker_command(concurrency=concurrency, name=f"benchmark-{uuid.uuid4().hex[:6]}")
        # The command is fixed above; only our own settings vary, through the environment.
        self.process = subprocess.Popen(  # noqa: S603
            command, cwd=REPO, env={**os.environ, **env}, stdout=self.log, stderr=self.log
        )

    def wait_ready(self, app, timeout=60.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                sys.exit(f"the worker exited with {self.process.returncode}; see {self.log.name}")
            if app.control.ping(timeout=0.5):
                return
        sys.exit("the worker did not answer a ping within a minute")

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


def measure_run(fake, start, describe: str) -> dict:
    """Start a run with `start()`, wait for it, and report what the fake saw meanwhile."""
    from curation.models import RefreshRun

    requests_before = len(fake.requests_to("efetch.fcgi"))
    limited_before = fake.rate_limited_count
    began = time.perf_counter()
    run = start()
    while True:
        run.refresh_from_db()
        if run.state not in (RefreshRun.State.QUEUED, RefreshRun.State.RUNNING):
            break
        time.sleep(0.05)
    seconds = time.perf_counter() - began
    counts = run.counts()
    efetches = fake.requests_to("efetch.fcgi")[requests_before:]
    return {
        "what": describe,
        "records": counts["total"],
        "seconds": round(seconds, 2),
        "records_per_second": round(counts["total"] / seconds, 1),
        "requests": len(efetches),
        "http_429": fake.rate_limited_count - limited_before,
        "max_requests_in_any_second": fake.max_requests_per_second(),
        "outcomes": {k: v for k, v in counts.items() if k not in ("total", "done", "percent") and v},
        "state": run.state,
    }


def _apply_one(reference, record) -> None:
    """Apply one fetched record by the pipeline's review rules, as a one-at-a-time client would."""
    from django.db import transaction
    from django.utils import timezone

    from curation import refresh
    from curation.models import Reference

    with transaction.atomic():
        locked = Reference.objects.select_for_update().get(pk=reference.pk)
        refresh._write([(locked, record)], run_id=None, now=timezone.now())


def naive_loop(fake, pmids, describe: str) -> dict:
    """One efetch per PMID, applied as it comes: the way one popular client works."""
    from curation import pubmed
    from curation.models import Reference

    requests_before = len(fake.requests_to("efetch.fcgi"))
    limited_before = fake.rate_limited_count
    references = {r.pmid: r for r in Reference.objects.filter(pmid__in=pmids)}
    began = time.perf_counter()
    for pmid in pmids:
        records, _ = pubmed.fetch_batch([pmid])
        _apply_one(references[pmid], records[pmid])
    seconds = time.perf_counter() - began
    return {
        "what": describe,
        "records": len(pmids),
        "seconds": round(seconds, 2),
        "records_per_second": round(len(pmids) / seconds, 1),
        "requests": len(fake.requests_to("efetch.fcgi")) - requests_before,
        "http_429": fake.rate_limited_count - limited_before,
    }


def main(argv=None):
    args = parse_args(argv)
    database_url = benchmark_database(args.db_name)
    limiter_key = f"benchmark:ncbi-ratelimit:{uuid.uuid4().hex}"
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "resistance_atlas.settings",
            "DATABASE_URL": database_url,
            "CELERY_BROKER_URL": args.redis,
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "DJANGO_LOG_LEVEL": "WARNING",
            "NCBI_BATCH_SIZE": "200",
            "NCBI_TIMEOUT": "10",
            "NCBI_EMAIL": "benchmark@example.org",
        }
    )
    import django

    django.setup()
    import redis
    from django.conf import settings
    from django.core.management import call_command

    from curation import refresh
    from curation.models import MetadataState, Reference, RefreshRun
    from resistance_atlas.celery import app
    from tests.fake_eutils import FakeEutils

    redis.Redis.from_url(args.redis).flushdb()
    call_command("migrate", verbosity=0)
    fake = FakeEutils(records_dir=None).start()
    pmids = list(range(34_000_000, 34_000_000 + args.references))
    results = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "references": args.references,
        "worker_processes": args.workers,
        "runs": [],
    }
    print(f"{args.references} references, {args.workers} worker processes, {os.cpu_count()} CPUs")

    try:
        for mode in [m.strip() for m in args.modes.split(",") if m.strip()]:
            api_key, rate = MODES[mode]
            bound = rate * 200
            fake.reset()
            fake.add_synthetic(pmids)
            limiter_url = f"{args.redis}?key={limiter_key}-{mode}"
            settings.NCBI_EUTILS_URL = fake.base_url
            settings.NCBI_API_KEY = api_key
            settings.NCBI_RATE_LIMITER_URL = limiter_url
            env = {
                "NCBI_EUTILS_URL": fake.base_url,
                "NCBI_API_KEY": api_key,
                "NCBI_RATE_LIMITER_URL": limiter_url,
            }
            (REPO / "var").mkdir(exist_ok=True)
            workers = Workers(concurrency=args.workers, env=env, log=REPO / "var" / f"benchmark-worker-{mode}.log")
            try:
                workers.wait_ready(app)
                Reference.objects.all().delete()
                Reference.objects.bulk_create([Reference(pmid=p) for p in pmids], batch_size=5000)
                label = f"{'with' if api_key else 'without'} API key ({rate:g} req/s)"
                imported = measure_run(
                    fake, lambda: refresh.start_refresh(scope=RefreshRun.Scope.ALL), f"import, {label}"
                )
                Reference.objects.update(metadata_state=MetadataState.VERIFIED)
                refreshed = measure_run(
                    fake, lambda: refresh.start_refresh(scope=RefreshRun.Scope.ALL), f"refresh, {label}"
                )
            finally:
                workers.stop()
            naive = naive_loop(fake, pmids[: args.naive], f"one PMID per request, {label}")
            for row in (imported, refreshed, naive):
                row["bound_records_per_second"] = bound
                row["share_of_bound"] = round(row["records_per_second"] / bound, 3)
                results["runs"].append(row)
                print(
                    f"{row['what']:<45} {row['records']:>6} records in {row['seconds']:>6.2f} s = "
                    f"{row['records_per_second']:>7.1f} records/s ({100 * row['share_of_bound']:.0f}% of {bound:g}); "
                    f"{row['requests']} requests, {row['http_429']} x 429"
                )
    finally:
        fake.stop()
        redis.Redis.from_url(args.redis).flushdb()
        if not args.keep_db:
            drop_database(database_url)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
