#!/usr/bin/env python
"""Benchmark one run of a saved PubMed search end to end: esearch + efetch of N new PMIDs, candidates created.

Against the fake E-utilities server (which enforces NCBI's per-key rate limit with HTTP 429), with real
Celery worker processes on Redis and PostgreSQL, the production path: `triage.start_run` records the
run, a worker's `run_search` asks ESearch over the window (split into parts of at most 9,999 PMIDs),
workers fetch the new PMIDs in batches of 200 through `curation.pubmed` and the shared limiter, and the
last batch creates every candidate (tagged by the atlas's dictionary) in one transaction.

For each rate regime (with an API key: 10 requests/s; without: 3/s) it prints the time to the end of
the esearch phase, the whole run, candidates per second, requests made and 429s received.

It needs PostgreSQL and Redis, creates its own database next to DATABASE_URL's (dropped at the end)
and uses one Redis database (flushed before and after):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/atlas .venv/bin/python scripts/benchmark_triage.py
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from scripts.benchmark_refresh import MODES, Workers, benchmark_database, drop_database  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--papers", type=int, default=10_000, help="new PMIDs the search finds (10000)")
    parser.add_argument("--workers", type=int, default=4, help="worker processes (prefork concurrency, 4)")
    parser.add_argument("--modes", default="key,nokey", help="key, nokey or both (default)")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/7", help="broker and limiter (db 7, flushed)")
    parser.add_argument("--db-name", default="atlas_benchmark_triage", help="database created and dropped")
    parser.add_argument("--json", type=Path, help="also write the results here")
    return parser.parse_args(argv)


def measure(fake, search_model, run_model, triage, query: str, label: str) -> dict:
    """Run one search over a fresh window and report what the run and the fake saw."""
    search = search_model.objects.create(name=f"benchmark {uuid.uuid4().hex[:6]}", query=query, first_lookback_days=30)
    requests_before = {e: len(fake.requests_to(e)) for e in ("esearch.fcgi", "efetch.fcgi")}
    limited_before = fake.rate_limited_count
    began = time.perf_counter()
    run = triage.start_run(search)
    searched = None
    while True:
        run.refresh_from_db()
        if searched is None and run.state in (run_model.State.FETCHING, run_model.State.FINISHED):
            searched = time.perf_counter() - began
        if not run.is_active:
            break
        time.sleep(0.05)
    seconds = time.perf_counter() - began
    return {
        "what": label,
        "state": run.state,
        "error": run.error,
        "found": run.count_found,
        "new_candidates": run.new_candidates,
        "esearch_seconds": round(searched or seconds, 2),
        "seconds": round(seconds, 2),
        "candidates_per_second": round((run.new_candidates or 0) / seconds, 1),
        "esearch_requests": len(fake.requests_to("esearch.fcgi")) - requests_before["esearch.fcgi"],
        "efetch_requests": len(fake.requests_to("efetch.fcgi")) - requests_before["efetch.fcgi"],
        "http_429": fake.rate_limited_count - limited_before,
        "max_requests_in_any_second": fake.max_requests_per_second(),
    }


def main(argv=None):
    args = parse_args(argv)
    database_url = benchmark_database(args.db_name)
    limiter_key = f"benchmark:triage-ratelimit:{uuid.uuid4().hex}"
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "resistance_atlas.settings",
            "DATABASE_URL": database_url,
            "CELERY_BROKER_URL": args.redis,
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "DJANGO_LOG_LEVEL": "WARNING",
            "NCBI_BATCH_SIZE": "200",
            "NCBI_TIMEOUT": "20",
            "NCBI_EMAIL": "benchmark@example.org",
        }
    )
    import django

    django.setup()
    import redis
    from django.conf import settings
    from django.core.management import call_command

    from curation import triage
    from curation.models import Candidate, SavedSearch, SearchRun
    from resistance_atlas.celery import app
    from tests.fake_eutils import FakeEutils

    redis.Redis.from_url(args.redis).flushdb()
    call_command("migrate", verbosity=0)
    call_command("seed_atlas", verbosity=0)  # the tagger reads a realistic dictionary
    fake = FakeEutils(records_dir=None).start()
    results = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "papers": args.papers,
        "worker_processes": args.workers,
        "runs": [],
    }
    print(f"{args.papers} new PMIDs per run, {args.workers} worker processes, {os.cpu_count()} CPUs")
    try:
        for index, mode in enumerate(m.strip() for m in args.modes.split(",") if m.strip()):
            api_key, rate = MODES[mode]
            fake.reset()
            first = 48_000_000 + index * args.papers
            pmids = list(range(first, first + args.papers))
            yesterday = triage.ncbi_today() - timedelta(days=1)
            for day in range(20):  # spread over 20 entry days of the 30 the run searches
                share = pmids[day::20]
                fake.add_synthetic(share, entry_date=yesterday - timedelta(days=day))
            limiter_url = f"{args.redis}?key={limiter_key}-{mode}"
            settings.NCBI_EUTILS_URL, settings.NCBI_API_KEY, settings.NCBI_RATE_LIMITER_URL = (
                fake.base_url,
                api_key,
                limiter_url,
            )
            env = {"NCBI_EUTILS_URL": fake.base_url, "NCBI_API_KEY": api_key, "NCBI_RATE_LIMITER_URL": limiter_url}
            (REPO / "var").mkdir(exist_ok=True)
            workers = Workers(concurrency=args.workers, env=env, log=REPO / "var" / f"benchmark-triage-{mode}.log")
            try:
                workers.wait_ready(app)
                Candidate.objects.all().delete()
                label = f"{'with' if api_key else 'without'} API key ({rate:g} req/s)"
                row = measure(fake, SavedSearch, SearchRun, triage, "synthetic", f"search + fetch, {label}")
            finally:
                workers.stop()
            row["efetch_bound_seconds"] = round(row["efetch_requests"] * 1.1 / rate, 1)
            results["runs"].append(row)
            print(
                f"{row['what']:<42} {row['new_candidates']} candidates from {row['found']} found: "
                f"esearch {row['esearch_seconds']:.2f} s, whole run {row['seconds']:.2f} s = "
                f"{row['candidates_per_second']:.1f}/s; {row['esearch_requests']} esearch + "
                f"{row['efetch_requests']} efetch requests, {row['http_429']} x 429 (rate bound for the efetches "
                f"alone: {row['efetch_bound_seconds']} s) [{row['state']}] {row['error']}"
            )
    finally:
        fake.stop()
        redis.Redis.from_url(args.redis).flushdb()
        drop_database(database_url)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
