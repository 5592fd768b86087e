"""Request checks that belong before any view runs.

`UnstorableInputMiddleware` answers 400 when the path, the query string, a
posted form or a cookie holds a character PostgreSQL cannot store in a text
column: the NUL byte, which psycopg2 refuses with a ValueError (a 500 in
whichever view first sends the value to the database), and lone UTF-16
surrogates, which UTF-8 cannot encode. No browser sends either from a page of
ours, so refusing the whole request at the door is clearer than teaching
every view, filter and lookup to refuse them.
"""

import re

from django.http import HttpResponseBadRequest, JsonResponse
from django.template.loader import render_to_string

UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
API_PREFIX = "/api/"


def _holds_unstorable(pairs) -> bool:
    return any(UNSTORABLE.search(key) or UNSTORABLE.search(value) for key, value in pairs)


def _pairs(query_dict):
    for key, values in query_dict.lists():
        for value in values:
            yield key, value


def unstorable_part(request) -> str | None:
    """Which part of the request holds an unstorable character, or None."""
    if UNSTORABLE.search(request.path_info):
        return "address"
    if _holds_unstorable(_pairs(request.GET)):
        return "query string"
    if request.method == "POST":
        # Parsing the body here is what CsrfViewMiddleware does next anyway; a body over
        # DATA_UPLOAD_MAX_MEMORY_SIZE or with too many fields raises a 400 of its own.
        files = ((name, upload.name or "") for name, upload in _pairs(request.FILES))
        if _holds_unstorable(_pairs(request.POST)) or _holds_unstorable(files):
            return "form"
    if _holds_unstorable(request.COOKIES.items()):
        return "cookies"
    return None


class UnstorableInputMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        part = unstorable_part(request)
        if part is None:
            return self.get_response(request)
        if request.path_info.startswith(API_PREFIX):
            # The read API documents its 400s as JSON messages per part of the request (curation/api/schema.py).
            message = f"The {part} of this request contains a character that cannot be stored (a NUL byte)."
            return JsonResponse({part.replace(" ", "_"): [message]}, status=400)
        page = render_to_string("400.html", {"reason": "unstorable", "part": part}, request=request)
        return HttpResponseBadRequest(page)
