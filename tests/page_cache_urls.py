"""Public pages that misbehave on purpose, for tests/test_page_cache.py: the cache must refuse to keep them.

Each answer holds a value of its own, so a test tells a kept answer from a fresh one.
"""

import uuid

from django.contrib import messages
from django.http import HttpResponse
from django.middleware.csrf import get_token
from django.urls import include, path

from curation.page_cache import public_page


@public_page
def with_csrf_token(request):
    return HttpResponse(f"token {get_token(request)} {uuid.uuid4()}")


@public_page
def with_message(request):
    messages.info(request, "Saved.")
    return HttpResponse(f"a page that flashed a message {uuid.uuid4()}")


@public_page
def with_cookie(request):
    response = HttpResponse(f"a page that sets a cookie {uuid.uuid4()}")
    response.set_cookie("seen", "1")
    return response


@public_page
def plain(request):
    return HttpResponse(f"a plain page {uuid.uuid4()}")


@public_page
def private(request):
    response = HttpResponse(f"a page that says it is private {uuid.uuid4()}")
    response["Cache-Control"] = "private"
    return response


urlpatterns = [
    path("odd/csrf/", with_csrf_token),
    path("odd/message/", with_message),
    path("odd/cookie/", with_cookie),
    path("odd/private/", private),
    path("odd/plain/", plain),
    path("", include("resistance_atlas.urls")),
]
