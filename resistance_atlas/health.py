"""/healthz: is this web process, the database, the broker and a worker fit to serve? For load balancers.

It runs as the first middleware so that the probe, which connects to
127.0.0.1 over plain HTTP, is answered before host validation and the HTTPS
redirect: both are right for users and wrong for a local probe.

- `/healthz` checks three parts, each bounded to about a second: the database
  (`SELECT 1`), the broker (a Redis PING, or a connection for other
  transports) and the worker heartbeat (beat queues a task every
  HEARTBEAT_INTERVAL seconds and a worker records the time: a heartbeat older
  than HEARTBEAT_MAX_AGE means no worker, no beat, or a broker nothing reads).
  200 with {"status": "ok", ...} when all pass; 503 with {"status": "error",
  "failing": [...], "checks": {...}} naming each part that failed and why.
  `/healthz?only=database,broker` checks only the parts named.
- `/healthz/live` touches nothing: 200 while the process can answer at all
  (a container's liveness probe; the baseline of the load benchmark).
"""

import redis
from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from kombu import Connection

HEALTH_PATH = "/healthz"
LIVE_PATH = "/healthz/live"
CHECK_TIMEOUT = 1.0  # seconds per dependency: a probe that hangs is as bad as one that fails


class HealthCheckMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path == LIVE_PATH:
            return JsonResponse({"status": "ok"})
        if request.path != HEALTH_PATH:
            return self.get_response(request)
        checks, failing = {}, []
        # ?only=database[,broker]: a web container's own probe need not fail because the workers are down.
        only = set(request.GET.get("only", "").split(",")) - {""}
        for name, check in (("database", _database), ("broker", _broker), ("worker", _worker)):
            if only and name not in only:
                continue
            try:
                checks[name] = check()
            except Exception as exc:  # any failure of a dependency means "not healthy"; say which and why
                failing.append(name)
                checks[name] = _reason(exc)
        if failing:
            response = JsonResponse({"status": "error", "failing": failing, "checks": checks}, status=503)
        else:
            response = JsonResponse({"status": "ok", "checks": checks})
        response["Cache-Control"] = "no-store"
        return response


class Unhealthy(Exception):
    """A dependency answered, but not well enough (the heartbeat is old)."""


def _reason(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}"[:300] if text else type(exc).__name__


def _database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return "ok"


def _broker() -> str:
    url = settings.CELERY_BROKER_URL
    if url.startswith(("redis://", "rediss://")):
        client = redis.Redis.from_url(url, socket_timeout=CHECK_TIMEOUT, socket_connect_timeout=CHECK_TIMEOUT)
        try:
            client.ping()
        finally:
            client.close()
    else:
        with Connection(url, connect_timeout=CHECK_TIMEOUT) as broker:
            broker.ensure_connection(max_retries=1, interval_start=0, timeout=CHECK_TIMEOUT)
    return "ok"


def _worker() -> str:
    from curation import heartbeat  # the app's models load after this module (it is imported by settings)

    age = heartbeat.age()
    if age is None:
        raise Unhealthy("no worker has ever recorded a heartbeat (are a Celery worker and beat running?)")
    seconds = int(age.total_seconds())
    if seconds > settings.HEARTBEAT_MAX_AGE:
        raise Unhealthy(
            f"last heartbeat {seconds} s ago, more than {settings.HEARTBEAT_MAX_AGE} s (is a worker running? is beat?)"
        )
    return f"ok (last heartbeat {seconds} s ago)"
