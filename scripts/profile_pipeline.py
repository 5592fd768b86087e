#!/usr/bin/env python
"""CPU profile of the PubMed pipeline's steps, in one process, against the fake E-utilities server.

Where `benchmark_refresh.py` times the commands end to end, this says where the CPU goes: it runs each
step in this process and prints its CPU seconds (the fake answers from a thread, whose CPU is shown
apart), and with `--profile DIR` writes a cProfile file per step (CPU time, not wall time) and the
statements each step sent to the database with their wall time. The steps:

- adding: `importing.add_references` of N new PMIDs (references, history, run items; nothing is queued);
- parse: `pubmed_records.parse_efetch` of one 200-record answer, 10 times;
- first fetch: `refresh.run_batch` for each batch of the import's run;
- refresh: every reference verified, then `refresh.start_refresh(ALL)` and `run_batch` for each batch.

It needs PostgreSQL (DATABASE_URL names a database that it migrates and whose curation tables it empties:
use one of its own) and Redis for the rate limiter (--redis):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/atlas_profile .venv/bin/python scripts/profile_pipeline.py
"""

import argparse
import collections
import cProfile
import os
import re
import sys
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--references", type=int, default=2000, help="references (2000: 10 batches)")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/6", help="for the rate limiter (a key of its own)")
    parser.add_argument("--profile", type=Path, help="write STEP.prof files and each step's statements here")
    return parser.parse_args(argv)


class Step:
    """Runs one step and reports its CPU seconds; with a directory, its profile and its statements too."""

    def __init__(self, directory: Path | None):
        self.directory = directory
        self.statements = collections.defaultdict(lambda: [0, 0.0])

    def __call__(self, name: str, work):
        from django.db import connection

        profile = cProfile.Profile(time.process_time)
        began, cpu, own = time.perf_counter(), time.process_time(), time.thread_time()
        with connection.execute_wrapper(self._timed):
            if self.directory:
                profile.enable()
            result = work()
            if self.directory:
                profile.disable()
        wall, cpu, own = time.perf_counter() - began, time.process_time() - cpu, time.thread_time() - own
        print(f"{name:<12} CPU {own:6.2f} s (the fake's threads {cpu - own:.2f} s more), wall {wall:6.2f} s")
        if self.directory:
            self.directory.mkdir(parents=True, exist_ok=True)
            profile.dump_stats(self.directory / f"{name.replace(' ', '_')}.prof")
            with (self.directory / f"{name.replace(' ', '_')}.sql.txt").open("w") as out:
                for sql, (count, seconds) in sorted(self.statements.items(), key=lambda kv: -kv[1][1]):
                    out.write(f"{seconds * 1000:9.1f} ms {count:5d}x  {sql}\n")
        self.statements.clear()
        return result

    def _timed(self, execute, sql, params, many, context):
        began = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            entry = self.statements[re.sub(r"\s+", " ", sql)[:160]]
            entry[0] += 1
            entry[1] += time.perf_counter() - began


def main(argv=None):
    args = parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "resistance_atlas.settings")
    os.environ.update({"NCBI_EMAIL": "profile@example.org", "NCBI_BATCH_SIZE": "200", "DJANGO_LOG_LEVEL": "WARNING"})
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    from curation import importing, pubmed_records, refresh, task_queue
    from curation.models import CitationUpdate, MetadataState, Reference, RefreshItem, RefreshRun
    from tests.fake_eutils import FakeEutils

    if connection.vendor != "postgresql":
        sys.exit("Set DATABASE_URL to a PostgreSQL database of its own: its curation tables are emptied.")
    call_command("migrate", verbosity=0)
    tables = [m._meta.db_table for m in (Reference, Reference.history.model, RefreshRun, RefreshItem, CitationUpdate)]
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(map(connection.ops.quote_name, tables))} CASCADE")
    # No broker: this process runs the batches itself.
    task_queue._send_now = lambda name, args: None
    fake = FakeEutils(records_dir=None).start()
    settings.NCBI_EUTILS_URL = fake.base_url
    settings.NCBI_API_KEY = "profile-api-key"
    settings.NCBI_RATE_LIMITER_URL = f"{args.redis}?key=profile:ncbi-ratelimit:{uuid.uuid4().hex}"
    pmids = list(range(34_000_000, 34_000_000 + args.references))
    fake.add_synthetic(pmids)
    step = Step(args.profile)
    try:
        run = step("adding", lambda: importing.add_references(pmids, by=None)).run
        ids = list(Reference.objects.order_by("pk").values_list("pk", flat=True))
        batches = [ids[i : i + 200] for i in range(0, len(ids), 200)]
        answer = fake._efetch_body({"db": "pubmed", "retmode": "xml", "id": ",".join(map(str, pmids[:200]))})[2]
        step("parse", lambda: [pubmed_records.parse_efetch(answer) for _ in range(10)])
        step("first fetch", lambda: [refresh.run_batch(run.pk, batch) for batch in batches])
        Reference.objects.update(metadata_state=MetadataState.VERIFIED)

        def refresh_all():
            again = refresh.start_refresh(scope=RefreshRun.Scope.ALL)
            return [refresh.run_batch(again.pk, batch) for batch in batches]

        step("refresh", refresh_all)
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
