"""What django-axes needs from the atlas: the client's address behind the proxy, and the lockout page."""

from django.conf import settings
from django.contrib import admin
from django.shortcuts import render

LOCKOUT_TEMPLATE = "axes/lockout.html"


def forwarded_client_ip(request) -> str | None:
    """The client's address behind one TLS proxy: the last X-Forwarded-For entry, the one the proxy wrote.

    Every request reaches gunicorn from the proxy's address, and the entries to
    the left come from the client, who could name a fresh address per guess.
    """
    last = request.META.get("HTTP_X_FORWARDED_FOR", "").rsplit(",", 1)[-1].strip()
    return last or request.META.get("REMOTE_ADDR")


def lockout_response(request, original_response=None, credentials=None):
    """The sign-in page saying why signing in is refused, how long for, and who can lift it (HTTP 429)."""
    context = {
        **admin.site.each_context(request),
        "title": "Signing in is blocked",
        "username": (credentials or {}).get("username") or request.POST.get("username", ""),
        "minutes": round(settings.AXES_COOLOFF_TIME.total_seconds() / 60),
    }
    # Rendered now: axes returns this from its middleware, after Django renders template responses.
    return render(request, LOCKOUT_TEMPLATE, context, status=429)


# django-axes records the username in a varchar(255) (AccessAttempt/AccessLog/AccessFailureLog);
# a longer one, which no account can have, made PostgreSQL refuse the insert (a 500).
AXES_USERNAME_LENGTH = 255


def bounded_username(request, credentials=None) -> str | None:
    """The username axes counts failures under, as axes reads it, cut to the column axes stores it in."""
    source = credentials if credentials else getattr(request, "data", request.POST)
    username = source.get(settings.AXES_USERNAME_FORM_FIELD, None)
    return username[:AXES_USERNAME_LENGTH] if isinstance(username, str) else username
