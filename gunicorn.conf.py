"""gunicorn's settings for the atlas; gunicorn reads this file from its working directory.

Command-line flags (docker-compose.yml's `--workers`, say) override what is here.
Numbers behind the choices: docs/load.md.
"""

import os

# Pages are CPU-bound Python: one process per core, plus one to cover the moments a
# process waits on PostgreSQL. WEB_CONCURRENCY (gunicorn's own variable) overrides it.
workers = int(os.environ.get("WEB_CONCURRENCY") or 2 * (os.cpu_count() or 1) + 1)
# Threads keep connections alive between requests (a sync worker closes each one) and
# stop one slow client from holding a whole process; the GIL means few are needed.
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS") or 4)
keepalive = 5
# A request that runs longer than this is killed and its worker replaced (bounded input
# keeps every page far below it; see the README's hostile-input notes).
timeout = 30
graceful_timeout = 30
# No max_requests: at the rates of docs/load.md a worker would be replaced every few seconds,
# each start costing a second of CPU; every cache a worker keeps is bounded instead.
