"""Typed readers for environment variables.

Each helper fails loudly on a value it cannot understand: a typo in a
deployment's environment should stop the process at start-up, not surface
later as a silently wrong default.
"""

import os

from django.core.checks.security.base import (
    SECRET_KEY_INSECURE_PREFIX,
    SECRET_KEY_MIN_LENGTH,
    SECRET_KEY_MIN_UNIQUE_CHARACTERS,
)
from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false, 1/0, yes/no); got {raw!r}")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number; got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}; got {value}")
    return value


def env_float(name: str, default: float | None, *, minimum: float = 0.0) -> float | None:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number; got {raw!r}") from None
    if value <= minimum:
        raise ImproperlyConfigured(f"{name} must be greater than {minimum}; got {value}")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return list(default)
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_secret(name: str, *, required: bool, dev_default: str) -> str:
    """A secret that production must set, strong, and development may leave out.

    Production refuses what `check --deploy` only warns about (Django's own
    thresholds, so both agree) and the development key. The message names the
    variable and the rule, never the value.
    """
    value = os.environ.get(name, "")
    if not required:
        return value or dev_default
    if not value:
        raise ImproperlyConfigured(f"{name} must be set when DJANGO_DEBUG is off")
    problem = _weak_secret_problem(value, dev_default)
    if problem:
        raise ImproperlyConfigured(
            f"{name} is too weak for DJANGO_DEBUG=false: {problem}. "
            "Generate one with: python -c 'import secrets; print(secrets.token_urlsafe(64))'"
        )
    return value


def _weak_secret_problem(value: str, dev_default: str) -> str | None:
    if value == dev_default:
        return "it is the development key"
    if value.startswith(SECRET_KEY_INSECURE_PREFIX):
        return f"it starts with '{SECRET_KEY_INSECURE_PREFIX}', the mark of a key Django generated for development"
    if len(value) < SECRET_KEY_MIN_LENGTH:
        return f"it must be at least {SECRET_KEY_MIN_LENGTH} characters long"
    if len(set(value)) < SECRET_KEY_MIN_UNIQUE_CHARACTERS:
        return f"it must have at least {SECRET_KEY_MIN_UNIQUE_CHARACTERS} different characters"
    return None


_RATE_PERIODS = ("second", "minute", "hour", "day")


def env_rate(name: str, default: str) -> str:
    """A request rate written as REQUESTS/PERIOD (e.g. 600/minute), as Django REST framework's throttles read it."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    count, _, period = raw.strip().partition("/")
    if not count.isdigit() or int(count) < 1 or period not in _RATE_PERIODS:
        raise ImproperlyConfigured(
            f"{name} must be REQUESTS/PERIOD with a whole number of requests and a period of "
            f"{', '.join(_RATE_PERIODS)} (e.g. 600/minute); got {raw!r}"
        )
    return f"{int(count)}/{period}"
