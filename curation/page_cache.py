"""Public pages for anonymous readers, served from a cache keyed by the content version.

A view opts in with `@public_page`. For a GET of such a page by a reader who
carries no session (nor flash-message) cookie, `PublicPageCacheMiddleware`
answers from the `pages` cache when the atlas has not changed since the page was
rendered: one single-row query (`content_version.current()`) and a cache read,
right after the HTTPS redirect, before the CSP and Permissions-Policy middleware
(the stored page carries their headers), sessions, CSRF, authentication,
messages, the view and its templates. Every answer it handles carries an ETag and a Last-Modified
from the content version, and a conditional GET that still matches gets 304.

What keeps it safe:
- A reader with a session cookie never reads from the cache nor writes to it, so
  a signed-in user always gets their own page (the suggest form, its CSRF token).
- A response is stored only if it is a 200 that sets no cookie, used no CSRF
  token and says nothing against caching: no token or message of one visitor is
  ever served to another.
- The key holds the content version, the scheme, the host and the full path
  with its query, so a change anywhere in the published atlas (including a
  refresh's raw SQL; see `content_version`) makes every older page unreachable,
  and pages that print absolute addresses are kept per host.
- Responses say `Vary: Cookie` and `Cache-Control: no-cache`: shared caches keep
  signed-in pages apart, and browsers revalidate (a 304 when nothing changed)
  instead of guessing a freshness lifetime from Last-Modified.

The cache is per process (LocMemCache, least recently used first out); stale
entries are never read again and age out. PAGE_CACHE_SECONDS bounds an entry's
life whatever happens, and 0 turns the cache off.
"""

import hashlib

from django.conf import settings
from django.contrib.messages.storage.cookie import CookieStorage
from django.core.cache import caches
from django.core.exceptions import DisallowedHost
from django.db import DatabaseError
from django.http import HttpResponse
from django.urls import Resolver404, resolve
from django.utils.cache import get_conditional_response, patch_cache_control, patch_vary_headers
from django.utils.http import http_date

from curation import content_version
from resistance_atlas.middleware import unstorable_part

CACHE_ALIAS = "pages"


def public_page(view):
    """Marks a view whose anonymous answer depends only on the request's address and the published atlas."""
    view.public_page = True
    return view


def _is_public_page(path: str) -> bool:
    try:
        return getattr(resolve(path).func, "public_page", False)
    except Resolver404:
        return False


def _cacheable_request(request) -> bool:
    cookies = request.COOKIES
    return (
        request.method == "GET"
        and settings.PAGE_CACHE_SECONDS > 0
        and settings.SESSION_COOKIE_NAME not in cookies
        and CookieStorage.cookie_name not in cookies
        and unstorable_part(request) is None  # UnstorableInputMiddleware's 400, further in
        and _is_public_page(request.path_info)
    )


def _storable(request, response) -> bool:
    cache_control = response.get("Cache-Control", "")
    return (
        response.status_code == 200
        and not response.streaming
        and not response.cookies
        and not request.META.get("CSRF_COOKIE_USED")  # the page holds a CSRF token
        and "private" not in cache_control
        and "no-store" not in cache_control
        and "nonce-" not in response.get("Content-Security-Policy", "")  # a nonce is for one response only
    )


def cache_key(request, stamp, *varying: str, host: str | None = None) -> str:
    """The key of this address (scheme, host, path, query) at this content version, and what else it varies on."""
    host = host or request.get_host()
    address = "\n".join([f"{request.scheme}://{host}{request.get_full_path()}", *varying])
    return f"page:{stamp.token}:{hashlib.sha256(address.encode('utf-8', 'surrogateescape')).hexdigest()}"


def _seconds(stamp) -> int | None:
    """Whole seconds, as Last-Modified and If-Modified-Since carry them."""
    return int(stamp.changed_at.timestamp()) if stamp.changed_at else None


def _add_validators(response, etag: str, stamp) -> None:
    response["ETag"] = etag
    if stamp.changed_at is not None:
        response["Last-Modified"] = http_date(_seconds(stamp))
    patch_cache_control(response, no_cache=True)
    patch_vary_headers(response, ["Cookie"])


class PublicPageCacheMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not _cacheable_request(request):
            return self.get_response(request)
        try:
            host = request.get_host()
        except DisallowedHost:
            return self.get_response(request)  # CommonMiddleware refuses it, with the headers of every answer
        try:
            stamp = content_version.current()
        except DatabaseError:
            # The database is down: the page would fail as it does uncached, so let it, wherever that is handled.
            return self.get_response(request)
        cache = caches[CACHE_ALIAS]
        key = cache_key(request, stamp, host=host)
        entry = cache.get(key)
        if entry is not None:
            response = HttpResponse(entry["content"], status=entry["status"], headers=entry["headers"])
        else:
            response = self.get_response(request)
            if not _storable(request, response):
                return response
            _add_validators(response, f'"{hashlib.md5(response.content, usedforsecurity=False).hexdigest()}"', stamp)
            headers = dict(response.items())
            entry = {"content": response.content, "status": response.status_code, "headers": headers}
            cache.set(key, entry, settings.PAGE_CACHE_SECONDS)
        return get_conditional_response(
            request, etag=response["ETag"], last_modified=_seconds(stamp), response=response
        )
