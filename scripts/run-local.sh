#!/usr/bin/env bash
# Serve the web app and one Celery worker (with beat) side by side; Ctrl-C stops both.
set -euo pipefail
BIN=${BIN:-.venv/bin}
trap 'kill 0' EXIT INT TERM
"$BIN/celery" -A resistance_atlas worker --beat --loglevel=INFO --concurrency=2 &
echo "Resistance Atlas: http://${HOST:-127.0.0.1}:${PORT:-8000}/  (curation: /admin/)"
"$BIN/python" manage.py runserver "${HOST:-127.0.0.1}:${PORT:-8000}"
