"""Server errors that have a better answer than 500: the database being unreachable is one.

When PostgreSQL restarts (a failover, an upgrade, the host rebooting) every
request that needs it fails with OperationalError or InterfaceError until it is
back. That is not a bug in the atlas, and a load balancer or a script should be
told to come back shortly: 503 with Retry-After, a short page (JSON under
/api/), no traceback, and nothing that needs the database to render. Django
closes a broken connection at the end of the request (`CONN_HEALTH_CHECKS` tests
a persistent one before reuse), so the site recovers by itself once the
database answers again; no restart is needed.
"""

import logging
import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.views import defaults

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 30
UNAVAILABLE = (OperationalError, InterfaceError)


def server_error(request, *args, **kwargs):
    """handler500: 503 when the uncaught exception says the database is unreachable, Django's 500 otherwise."""
    exc = sys.exc_info()[1]
    if not isinstance(exc, UNAVAILABLE):
        return defaults.server_error(request, *args, **kwargs)
    return database_unavailable(request)


def database_unavailable(request) -> HttpResponse:
    message = "The atlas's database is not answering; try again in a minute."
    if request.path.startswith("/api/"):
        response = JsonResponse({"detail": message}, status=503)
    else:
        # No request context: the context processors could touch the session, which lives in the database.
        response = HttpResponse(render_to_string("503.html", {"message": message}), status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    return response
