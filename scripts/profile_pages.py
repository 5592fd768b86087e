#!/usr/bin/env python
"""Where a public page's time goes, in one process: queries, time per request, and a cProfile.

    DJANGO_DEBUG=false DJANGO_SECRET_KEY=... DJANGO_ALLOWED_HOSTS=testserver NCBI_EMAIL=x@example.org \\
    DJANGO_BEHIND_PROXY=true DATABASE_URL=postgres://... .venv/bin/python scripts/profile_pages.py / /mechanisms/

Each path is called through Django's own WSGI handler (every middleware, no network),
as a proxy would send it (X-Forwarded-Proto: https): twice to warm up, then --runs
times. It prints queries per request and microseconds per request, with the page
cache as configured; `PAGE_CACHE_SECONDS=0` shows the uncached cost. With --profile,
the cProfile of the last path's runs, by own time (--sort cumulative for the tree).
This is what docs/load.md's profile findings come from.
"""

import argparse
import cProfile
import io
import os
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="+")
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--sort", default="tottime")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "resistance_atlas.settings")
    import django

    django.setup()
    from django.core.handlers.wsgi import WSGIHandler
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    handler = WSGIHandler()

    def call(path):
        path, _, query = path.partition("?")
        environ = {
            "REQUEST_METHOD": "GET",
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "SERVER_NAME": "testserver",
            "SERVER_PORT": "80",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "HTTP_HOST": "testserver",
            "HTTP_X_FORWARDED_PROTO": "https",
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(b""),
            "wsgi.errors": sys.stderr,
        }
        status = []
        body = b"".join(handler(environ, lambda line, headers: status.append(line)))
        return status[0], len(body)

    print("| path | status | queries | µs per request | kB |\n|---|---|---|---|---|")
    for path in args.paths:
        call(path)
        call(path)
        with CaptureQueriesContext(connection) as queries:
            status, size = call(path)
        started = time.perf_counter()
        for _ in range(args.runs):
            call(path)
        per_request = (time.perf_counter() - started) / args.runs * 1e6
        print(f"| `{path}` | {status} | {len(queries)} | {per_request:.0f} | {size / 1000:.0f} |")
    if args.profile:
        profile = cProfile.Profile()
        profile.enable()
        for _ in range(args.runs):
            call(args.paths[-1])
        profile.disable()
        pstats.Stats(profile).sort_stats(args.sort).print_stats(args.top)


if __name__ == "__main__":
    main()
