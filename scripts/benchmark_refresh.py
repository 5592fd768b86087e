#!/usr/bin/env python
"""Benchmark the PubMed pipeline end to end, through the management commands a curator runs.

For each rate regime (with an API key: 10 requests/s; without: 3/s) it:

1. starts the fake E-utilities server (tests/fake_eutils.py) in a process of
   its own, serving N synthetic records and answering 429 above NCBI's limit;
2. starts a real Celery worker (prefork, ``--workers`` processes) on Redis
   and PostgreSQL, pointed at the fake;
3. runs ``import_pmids --file F --wait`` on N new PMIDs and takes two figures
   from it: **adding** (from the command's start to its "Queued" line: the
   references, their history and the run's items are written and the batches
   queued) and **first fetch** (from the run's creation to its end: every
   record is written, with history, and each reference moves to "needs review");
4. verifies every reference and runs ``refresh_references --all --wait``:
   **refresh** (the run's creation to its end; PubMed has not changed the
   records, so only ``fetched_at`` moves: the daily stale refresh's usual case).

For each phase it prints records/s, the efetch requests and 429s the fake saw,
the busiest rolling second, and the CPU seconds spent by the worker processes,
the fake, PostgreSQL (every postgres process of the server, so run it when the
server is otherwise idle), Redis and the command itself.

It needs PostgreSQL and Redis. It creates its own database (dropped at the
end) next to the one DATABASE_URL names, and uses one Redis database (flushed
before and after), so it never touches development data:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/atlas .venv/bin/python scripts/benchmark_refresh.py
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit
from urllib.request import urlopen

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.services import celery_worker_command  # noqa: E402  (needs the repo on sys.path)

API_KEY = "benchmark-api-key"
MODES = {"key": (API_KEY, 10.0), "nokey": ("", 3.0)}
FIRST_PMID = 34_000_000
BATCH_SIZE = 200
_TICK = os.sysconf("SC_CLK_TCK")
# What refresh.run_batch logs per batch; absent from the log, the per-batch columns stay empty.
_BATCH_LOG = re.compile(r"fetched in (?P<fetch>[\d.]+) s, applied in (?P<apply>[\d.]+) s")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--references", type=int, default=20_000, help="references per run (20000)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (prefork concurrency, 2)")
    parser.add_argument("--modes", default="key", help="key (10 req/s), nokey (3 req/s) or key,nokey (key)")
    parser.add_argument("--repeat", type=int, default=1, help="measure each mode this many times (1)")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/6", help="broker and limiter (db 6, flushed)")
    parser.add_argument("--db-name", default="atlas_benchmark", help="database created for the run and dropped")
    parser.add_argument("--keep-db", action="store_true", help="do not drop the database at the end")
    parser.add_argument(
        "--conn-max-age",
        type=int,
        default=60,
        help="DATABASE_CONN_MAX_AGE of the worker and commands (60, as docker-compose.yml sets it; the default is 0)",
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--worker-prefix",
        default="",
        help="run the worker under this command, e.g. 'py-spy record -o w.txt -f raw --subprocesses --'",
    )
    args = parser.parse_args(argv)
    if args.workers < 1 or args.references < 1 or args.repeat < 1:
        parser.error("--workers, --references and --repeat must be at least 1")
    return args


# ---------------------------------------------------------------------------
# Where the CPU goes: /proc accounting of the processes involved
# ---------------------------------------------------------------------------
def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may hold spaces and parentheses; the fields after it do not.
    return text[text.rindex(")") + 2 :].split()


def _own_cpu(fields: list[str], *, reaped: bool = False) -> float:
    # Fields counted from state (index 0): utime 11, stime 12, cutime 13, cstime 14.
    ticks = int(fields[11]) + int(fields[12])
    if reaped:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / _TICK


def _all_processes() -> dict[int, list[str]]:
    processes = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) is not None:
            processes[int(entry.name)] = fields
    return processes


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def tree_cpu(root: int) -> float:
    """CPU seconds of a process, its living descendants and the children it has reaped."""
    processes = _all_processes()
    children: dict[int, list[int]] = {}
    for pid, fields in processes.items():
        children.setdefault(int(fields[1]), []).append(pid)
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        if pid in processes:
            total += _own_cpu(processes[pid], reaped=True)
        todo.extend(children.get(pid, []))
    return total


def postgres_cpu() -> float:
    """CPU seconds of every postgres process on this host, plus the backends the postmaster has reaped.

    This counts every database on the server, and its background writers: a shared server's
    other users show up here.
    """
    total = 0.0
    for pid, fields in _all_processes().items():
        if _comm(pid) == "postgres":
            # The postmaster's children-time holds the backends that have exited.
            total += _own_cpu(fields, reaped=_comm(int(fields[1])) != "postgres")
    return total


class DatabaseBackends:
    """CPU seconds of the PostgreSQL backends serving one database, sampled from /proc every 0.1 s.

    A backend's process title names its database ("postgres: 15/main: USER DB HOST(PORT) ..."),
    so the server's other databases (other people's tests) are not counted. A backend lives for
    one task (Django closes connections between tasks by default): what it spends in its last
    0.1 s before exiting is missed, so the figure is a slight underestimate.
    """

    def __init__(self, database: str):
        self.database = database
        self.seen: dict[int, float] = {}
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()

    def _sample(self):
        while not self.stopped.wait(0.1):
            for pid, cpu in self._backends().items():
                with self.lock:
                    self.seen[pid] = max(cpu, self.seen.get(pid, 0.0))

    def _backends(self) -> dict[int, float]:
        found = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or _comm(int(entry.name)) != "postgres":
                continue
            try:
                title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").split()
            except OSError:
                continue
            if self.database in title and (fields := _stat(int(entry.name))) is not None:
                found[int(entry.name)] = _own_cpu(fields)
        return found

    def cpu(self) -> float:
        """Total CPU seconds of every backend seen so far (ever-growing; take differences)."""
        with self.lock:
            self.seen.update({pid: max(cpu, self.seen.get(pid, 0.0)) for pid, cpu in self._backends().items()})
            return sum(self.seen.values())

    def stop(self):
        self.stopped.set()
        self.thread.join()


def redis_cpu(client) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


# ---------------------------------------------------------------------------
# The database, the fake and the worker
# ---------------------------------------------------------------------------
def benchmark_database(name: str) -> str:
    """Create a fresh PostgreSQL database beside DATABASE_URL's; return its URL."""
    import psycopg2

    base = os.environ.get("DATABASE_URL", "")
    if not base.startswith(("postgres://", "postgresql://")):
        sys.exit("Set DATABASE_URL to a PostgreSQL server (postgres://user@host:port/db); SQLite cannot take the load.")
    parts = urlsplit(base)
    connection = psycopg2.connect(urlunsplit(parts._replace(path="/postgres")))
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
        cursor.execute(f'CREATE DATABASE "{name}"')
    connection.close()
    return urlunsplit(parts._replace(path=f"/{name}"))


def drop_database(url: str) -> None:
    import psycopg2
    from django.db import connections

    connections.close_all()
    parts = urlsplit(url)
    connection = psycopg2.connect(urlunsplit(parts._replace(path="/postgres")))
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{parts.path.lstrip("/")}"')
    connection.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class FakeServer:
    """tests/fake_eutils.py in a process of its own, so that its CPU is counted apart from the pipeline's."""

    def __init__(self, pmids: range, log: Path):
        self.port = _free_port()
        self.log = log.open("w")
        command = [sys.executable, "-m", "tests.fake_eutils", "--port", str(self.port)]
        command += ["--synthetic", f"{pmids.start}-{pmids.stop - 1}"]
        self.process = subprocess.Popen(command, cwd=REPO, stdout=self.log, stderr=self.log)  # noqa: S603
        self.base_url = f"http://127.0.0.1:{self.port}/entrez/eutils/"
        deadline = time.monotonic() + 30
        while True:
            try:
                self.stats(0)
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    sys.exit(f"the fake E-utilities server did not start; see {log}")
                time.sleep(0.1)

    def stats(self, since: float) -> dict:
        with urlopen(f"http://127.0.0.1:{self.port}/_fake/stats?since={since}", timeout=10) as answer:  # noqa: S310
            return json.load(answer)

    def cpu(self) -> float:
        return tree_cpu(self.process.pid)

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=30)
        self.log.close()


class Workers:
    """A `celery worker` subprocess with N prefork processes, configured through its environment."""

    def __init__(self, *, concurrency: int, env: dict[str, str], log: Path, prefix: str = ""):
        self.log_path = log
        self.log = log.open("w")
        command = prefix.split() + celery_worker_command(
            concurrency=concurrency, name=f"benchmark-{uuid.uuid4().hex[:6]}"
        )
        # The command is fixed above, or given by whoever runs the benchmark; settings go through the environment.
        # A session of its own, so that stopping it stops a wrapper (a profiler) and the worker under it alike.
        self.process = subprocess.Popen(  # noqa: S603
            command, cwd=REPO, env=env, stdout=self.log, stderr=self.log, start_new_session=True
        )

    def wait_ready(self, app, timeout=60.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                sys.exit(f"the worker exited with {self.process.returncode}; see {self.log_path}")
            answers = app.control.ping(timeout=0.5)
            if len(answers) > 1:
                # Another worker on the same broker database would take batches, and its CPU is not counted.
                self.stop()
                sys.exit(f"other workers listen on this broker database: {answers}; choose another with --redis")
            if answers:
                return
        sys.exit("the worker did not answer a ping within a minute")

    def cpu(self) -> float:
        return tree_cpu(self.process.pid)

    def log_size(self) -> int:
        self.log.flush()
        return self.log_path.stat().st_size

    def batch_times(self, since: int) -> dict:
        with self.log_path.open() as log:
            log.seek(since)
            found = [(float(m["fetch"]), float(m["apply"])) for m in _BATCH_LOG.finditer(log.read())]
        if not found:
            return {}
        return {
            "batches_logged": len(found),
            "median_fetch_seconds": round(statistics.median(f for f, _ in found), 3),
            "median_apply_seconds": round(statistics.median(a for _, a in found), 3),
        }

    def stop(self):
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.log.close()


# ---------------------------------------------------------------------------
# One phase: a management command, timed, with the CPU of everything involved
# ---------------------------------------------------------------------------
class Meters:
    def __init__(self, fake: FakeServer, workers: Workers, redis_client, backends: DatabaseBackends):
        self.fake, self.workers, self.redis, self.backends = fake, workers, redis_client, backends

    def read(self) -> dict[str, float]:
        return {
            "worker": self.workers.cpu(),
            "fake_ncbi": self.fake.cpu(),
            "postgres_backends": self.backends.cpu(),
            "postgres_server": postgres_cpu(),
            "redis": redis_cpu(self.redis),
        }


def run_command(arguments: list[str], env: dict[str, str], *, mark: str) -> dict:
    """Run `manage.py ARGUMENTS`; return its wall and CPU seconds and when its first line starting `mark` came."""
    began = time.perf_counter()
    process = subprocess.Popen(  # noqa: S603  (our own manage.py, fixed arguments)
        [sys.executable, "manage.py", *arguments],
        cwd=REPO,
        env={**env, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    marked, output = None, []
    for line in process.stdout:
        output.append(line)
        if marked is None and line.startswith(mark):
            marked = time.perf_counter() - began
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - began
    if process.returncode != 0 or marked is None:
        sys.exit(f"manage.py {' '.join(arguments)} failed ({process.returncode}):\n{''.join(output)}")
    return {"wall": wall, "marked": marked, "cpu": usage.ru_utime + usage.ru_stime, "output": "".join(output)}


def measure(what: str, arguments: list[str], env: dict, meters: Meters, *, bound: float) -> dict:
    from curation.models import RefreshRun

    last_run = RefreshRun.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    since_epoch, log_offset = time.time(), meters.workers.log_size()
    before = meters.read()
    command = run_command(arguments, env, mark="Queued")
    after = meters.read()
    run = RefreshRun.objects.filter(pk__gt=last_run).order_by("pk").last()
    counts = run.counts()
    seconds = (run.finished_at - run.created_at).total_seconds()
    cpu = {name: round(after[name] - before[name], 2) for name in before}
    cpu["command"] = round(command["cpu"], 2)
    fake = meters.fake.stats(since_epoch)
    return {
        "what": what,
        "records": counts["total"],
        "seconds": round(seconds, 2),
        "records_per_second": round(counts["total"] / seconds, 1),
        "bound_records_per_second": bound,
        "share_of_bound": round(counts["total"] / seconds / bound, 3),
        "command_seconds": round(command["wall"], 2),
        "until_queued_seconds": round(command["marked"], 2),
        "requests": fake["efetch_requests"],
        "http_429": fake["http_429"],
        "max_requests_in_any_second": fake["max_requests_in_any_second"],
        "outcomes": {k: v for k, v in counts.items() if k not in ("total", "done", "percent") and v},
        "state": run.state,
        "cpu_seconds": cpu,
        **meters.workers.batch_times(log_offset),
    }


def print_row(row: dict) -> None:
    cpu = ", ".join(f"{name} {seconds:.1f}" for name, seconds in row["cpu_seconds"].items())
    print(
        f"  {row['what']:<13} {row['records']:>6} records in {row['seconds']:>6.2f} s = "
        f"{row['records_per_second']:>7.1f} records/s ({100 * row['share_of_bound']:.0f}% of "
        f"{row['bound_records_per_second']:g}); {row['requests']} requests, {row['http_429']} x 429, "
        f"at most {row['max_requests_in_any_second']} in a second; state {row['state']}"
    )
    if "median_fetch_seconds" in row:
        print(
            f"  {'':<13} per batch (median of {row['batches_logged']}): fetch {row['median_fetch_seconds']:.3f} s, "
            f"apply {row['median_apply_seconds']:.3f} s"
        )
    print(f"  {'':<13} CPU seconds: {cpu}")


def main(argv=None):
    args = parse_args(argv)
    database_url = benchmark_database(args.db_name)
    pmids = range(FIRST_PMID, FIRST_PMID + args.references)
    var = REPO / "var"
    var.mkdir(exist_ok=True)
    pmid_file = var / "benchmark-pmids.txt"
    pmid_file.write_text("\n".join(map(str, pmids)) + "\n")
    base_env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "resistance_atlas.settings",
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": args.redis,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "NCBI_BATCH_SIZE": str(BATCH_SIZE),
        "NCBI_TIMEOUT": "10",
        "NCBI_EMAIL": "benchmark@example.org",
        "DATABASE_CONN_MAX_AGE": str(args.conn_max_age),
    }
    os.environ.update(base_env)
    import django

    django.setup()
    import redis
    from django.core.management import call_command
    from django.db import connection

    from curation.models import MetadataState, Reference
    from resistance_atlas.celery import app

    redis_client = redis.Redis.from_url(args.redis)
    redis_client.flushdb()
    call_command("migrate", verbosity=0)
    fake = FakeServer(pmids, var / "benchmark-fake-eutils.log")
    backends = DatabaseBackends(args.db_name)
    results = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_average_at_start": os.getloadavg(),
        },
        "references": args.references,
        "worker_processes": args.workers,
        "database_conn_max_age": args.conn_max_age,
        "runs": [],
    }
    print(
        f"{args.references} references, {args.workers} worker processes, {os.cpu_count()} CPUs, "
        f"DATABASE_CONN_MAX_AGE={args.conn_max_age}"
    )
    try:
        for mode in [m.strip() for m in args.modes.split(",") if m.strip()]:
            api_key, rate = MODES[mode]
            limiter_url = f"{args.redis}?key=benchmark:ncbi-ratelimit:{uuid.uuid4().hex}"
            env = {
                **base_env,
                "NCBI_EUTILS_URL": fake.base_url,
                "NCBI_API_KEY": api_key,
                "NCBI_RATE_LIMITER_URL": limiter_url,
            }
            label = f"{'with' if api_key else 'without'} API key ({rate:g} req/s)"
            workers = Workers(
                concurrency=args.workers, env=env, log=var / f"benchmark-worker-{mode}.log", prefix=args.worker_prefix
            )
            try:
                workers.wait_ready(app)
                meters = Meters(fake, workers, redis_client, backends)
                for repeat in range(1, args.repeat + 1):
                    print(f"{label}, measurement {repeat} of {args.repeat} (load average {os.getloadavg()[0]:.2f}):")
                    _empty_tables(connection)
                    first = measure(
                        "first fetch",
                        ["import_pmids", "--file", str(pmid_file), "--wait"],
                        env,
                        meters,
                        bound=rate * BATCH_SIZE,
                    )
                    Reference.objects.update(metadata_state=MetadataState.VERIFIED)
                    again = measure(
                        "refresh", ["refresh_references", "--all", "--wait"], env, meters, bound=rate * BATCH_SIZE
                    )
                    adding = {
                        "what": "adding",
                        "records": args.references,
                        "seconds": first["until_queued_seconds"],
                        "records_per_second": round(args.references / first["until_queued_seconds"], 1),
                    }
                    print(
                        f"  {'adding':<13} {args.references:>6} PMIDs in {adding['seconds']:>6.2f} s "
                        f"(import_pmids from its start to its 'Queued' line)"
                    )
                    print_row(first)
                    print_row(again)
                    for row in (adding, first, again):
                        results["runs"].append({"mode": mode, "repeat": repeat, **row})
            finally:
                workers.stop()
    finally:
        backends.stop()
        fake.stop()
        redis_client.flushdb()
        if not args.keep_db:
            drop_database(database_url)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
        print(f"wrote {args.json}")


def _empty_tables(connection) -> None:
    from curation.models import CitationUpdate, Reference, RefreshItem, RefreshRun

    tables = [model._meta.db_table for model in (Reference, Reference.history.model, RefreshRun, RefreshItem)]
    tables.append(CitationUpdate._meta.db_table)
    with connection.cursor() as cursor:
        # Identifiers from the models' own metadata only.
        cursor.execute(f"TRUNCATE {', '.join(connection.ops.quote_name(t) for t in tables)} CASCADE")


if __name__ == "__main__":
    main()
