#!/usr/bin/env python
"""Load on the public pages: wrk against gunicorn with production settings, every page in one run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/atlas_load .venv/bin/python scripts/benchmark_load.py

Migrates and seeds the database named by DATABASE_URL (PostgreSQL; `seed_atlas` is
idempotent), starts gunicorn from gunicorn.conf.py with DJANGO_DEBUG=false, a fresh
strong secret key, ALLOWED_HOSTS 127.0.0.1 and DJANGO_BEHIND_PROXY=true, and sends
every request as a TLS-terminating proxy would (X-Forwarded-Proto: https), so the
HTTPS redirect and HSTS stay on, as in production. Each page is loaded for
--duration seconds at --connections connections after a short warm-up, in --rounds
slices spread over the run, against the same server, with the trivial /healthz
measured again after every slice; then it prints one table: requests/s, p50 and
p99 latency, errors (socket errors and non-2xx answers) and each page's throughput
as a ratio of /healthz's (each slice's to the baseline just before and after it).

The API's per-address rate limit is raised for the run (API_THROTTLE_RATE): wrk is
one address. `--page-cache-seconds 0 --conn-max-age 0` measures the atlas as it was
before the page cache and persistent connections (docs/load.md has both).
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
WRK = shutil.which("wrk") or "/usr/bin/wrk"
BASELINE = "/healthz/live"


def pages(slug: str, pmid: int) -> list[tuple[str, str]]:
    return [
        ("trivial view (baseline)", BASELINE),
        ("home", "/"),
        ("mechanism list", "/mechanisms/"),
        ("a mechanism page", f"/mechanisms/{slug}/"),
        ("evidence table", "/evidence/"),
        ("search", "/search/?q=interferon"),
        ("a reference page", f"/references/{pmid}/"),
        ("API list", "/api/mechanisms/"),
    ]


def production_env(args) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(64),
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        DJANGO_BEHIND_PROXY="true",
        NCBI_EMAIL=env.get("NCBI_EMAIL") or "benchmark@example.org",
        API_THROTTLE_RATE="1000000/second",
        DJANGO_LOG_LEVEL="WARNING",
    )
    if args.page_cache_seconds is not None:
        env["PAGE_CACHE_SECONDS"] = str(args.page_cache_seconds)
    if args.conn_max_age is not None:
        env["DATABASE_CONN_MAX_AGE"] = str(args.conn_max_age)
    if args.workers is not None:
        env["WEB_CONCURRENCY"] = str(args.workers)
    if args.threads is not None:
        env["GUNICORN_THREADS"] = str(args.threads)
    return env


def prepare(env) -> tuple[str, int]:
    """Migrate and seed; return a published mechanism's slug and a reference it cites."""
    manage = [PYTHON, str(REPO / "manage.py")]
    subprocess.run([*manage, "migrate", "--noinput", "-v0"], env=env, check=True)  # noqa: S603  (fixed arguments)
    subprocess.run([*manage, "seed_atlas"], env=env, check=True, stdout=subprocess.DEVNULL)  # noqa: S603
    code = (
        "from curation.models import Evidence, Mechanism\n"
        "m = Mechanism.objects.published().filter(evidence__isnull=False).order_by('slug').first()\n"
        "print(m.slug, Evidence.objects.filter(mechanism=m).order_by('pk').first().reference.pmid)"
    )
    out = subprocess.run([*manage, "shell", "-c", code], env=env, check=True, capture_output=True, text=True)  # noqa: S603
    slug, pmid = out.stdout.split()[-2:]
    return slug, int(pmid)


def start_gunicorn(env, port: int) -> subprocess.Popen:
    command = [PYTHON, "-m", "gunicorn", "resistance_atlas.wsgi:application", "--bind", f"127.0.0.1:{port}"]
    server = subprocess.Popen(command, cwd=REPO, env=env, start_new_session=True)  # noqa: S603
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{BASELINE}", timeout=2) as answer:
                if answer.status == 200:
                    return server
        except OSError:
            time.sleep(0.3)
    stop(server)
    raise SystemExit(f"gunicorn did not answer {BASELINE} within 60 s")


def stop(server: subprocess.Popen) -> None:
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


_SECONDS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}


def _duration(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(number) * _SECONDS[unit]


def wrk(url: str, *, connections: int, duration: int, threads: int) -> dict:
    command = [WRK, f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency", "--timeout", "10s"]
    command += ["-H", "X-Forwarded-Proto: https", url]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout  # noqa: S603
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        # Anchored: the thread statistics above print percentages such as "75.99%" too.
        "p50": _duration(re.search(r"^\s+50%\s+(\S+)\s*$", out, re.MULTILINE).group(1)),
        "p99": _duration(re.search(r"^\s+99%\s+(\S+)\s*$", out, re.MULTILINE).group(1)),
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),
        "errors": errors + (int(non_2xx.group(1)) if non_2xx else 0),
    }


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=30, help="seconds per page (default 30)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--wrk-threads", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=2, help="seconds of load per page before measuring")
    parser.add_argument("--rounds", type=int, default=3, help="slices each page's --duration is spread over")
    parser.add_argument("--port", type=int, default=8431)
    parser.add_argument("--workers", type=int, help="gunicorn workers (default: gunicorn.conf.py's)")
    parser.add_argument("--threads", type=int, help="threads per gunicorn worker (default: gunicorn.conf.py's)")
    parser.add_argument("--page-cache-seconds", type=int, help="0 turns the public page cache off")
    parser.add_argument("--conn-max-age", type=int, help="0 closes the database connection after each request")
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        raise SystemExit("Set DATABASE_URL to a PostgreSQL database (production settings refuse SQLite).")
    if not os.access(WRK, os.X_OK):
        raise SystemExit(f"wrk is needed ({WRK}): apt-get install wrk")

    env = production_env(args)
    slug, pmid = prepare(env)
    server = start_gunicorn(env, args.port)
    options = {"connections": args.connections, "threads": args.wrk_threads}
    base = f"http://127.0.0.1:{args.port}"
    rounds = max(1, args.rounds)
    slice_seconds = max(1, args.duration // rounds)
    baseline_seconds = max(3, slice_seconds // 3)
    targets = pages(slug, pmid)[1:]
    slices = {path: [] for _, path in targets}
    loads = {path: [] for _, path in targets}
    try:
        # The machine's speed drifts while other jobs run: each page is loaded in --rounds slices spread over
        # the run, /healthz is measured again after every slice, and a slice's ratio is to the mean of the
        # baseline just before it and just after it.
        wrk(base + BASELINE, duration=args.warmup, **options)
        for _, path in targets:
            wrk(base + path, duration=args.warmup, **options)
        baselines = [wrk(base + BASELINE, duration=baseline_seconds, **options)]
        for _ in range(rounds):
            for _, path in targets:
                loads[path].append(os.getloadavg()[0])
                result = wrk(base + path, duration=slice_seconds, **options)
                baselines.append(wrk(base + BASELINE, duration=baseline_seconds, **options))
                result["ratio"] = result["rps"] / ((baselines[-2]["rps"] + baselines[-1]["rps"]) / 2)
                slices[path].append(result)
    finally:
        stop(server)

    rows = []
    for label, path in targets:
        parts = slices[path]
        combined = {
            "rps": sum(r["requests"] for r in parts) / (slice_seconds * len(parts)),
            "p50": statistics.median(r["p50"] for r in parts),
            "p99": max(r["p99"] for r in parts),
            "errors": sum(r["errors"] for r in parts),
            "requests": sum(r["requests"] for r in parts),
            "ratio": statistics.mean(r["ratio"] for r in parts),
        }
        rows.append((label, path, combined, min(loads[path]), max(loads[path])))
    by_rate = sorted(baselines, key=lambda r: r["rps"])
    baseline = dict(by_rate[len(by_rate) // 2], ratio=1.0)
    baseline["errors"] = sum(r["errors"] for r in baselines)
    baseline["requests"] = sum(r["requests"] for r in baselines)
    label = pages(slug, pmid)[0][0] + f", median of {len(baselines)}"
    every_load = [load for values in loads.values() for load in values]
    rows.insert(0, (label, BASELINE, baseline, min(every_load), max(every_load)))
    print(
        f"\n{args.connections} connections, {args.duration} s per page in {rounds} slices "
        f"({baseline_seconds} s of /healthz after each slice), "
        f"gunicorn from gunicorn.conf.py{'' if args.workers is None else f' with {args.workers} workers'}; "
        f"page cache {'off' if args.page_cache_seconds == 0 else 'on'}, "
        f"CONN_MAX_AGE {env.get('DATABASE_CONN_MAX_AGE', '600 (production default)')}; {os.cpu_count()} cores\n"
    )
    print("| page | path | req/s | p50 ms | p99 ms (worst slice) | errors | ratio to /healthz | load avg (1 min) |")
    print("|---|---|---|---|---|---|---|---|")
    for label, path, r, load_before, load_after in rows:
        print(
            f"| {label} | `{path}` | {r['rps']:.0f} | {_ms(r['p50'])} | {_ms(r['p99'])} | "
            f"{r['errors']} of {r['requests']} | {r['ratio']:.2f} | {load_before:.1f}–{load_after:.1f} |"
        )
    failing = [label for label, _, r, _, _ in rows if r["errors"] or r["ratio"] < 0.5]
    print(f"\nGoal (0 errors, every page at least half the baseline's req/s): {'met' if not failing else 'missed'}")
    for label in failing:
        print(f"  missed: {label}")


if __name__ == "__main__":
    main()
