"""Liveness check for the container orchestrator.

It runs as the first middleware so that the probe, which connects to
127.0.0.1 over plain HTTP, is answered before host validation and the HTTPS
redirect: both are right for users and wrong for a local probe.
"""

from django.db import connection
from django.http import JsonResponse

HEALTH_PATH = "/healthz"


class HealthCheckMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path != HEALTH_PATH:
            return self.get_response(request)
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
        except Exception as exc:  # any database failure means "not healthy"
            return JsonResponse({"status": "error", "database": type(exc).__name__}, status=503)
        return JsonResponse({"status": "ok"})
