"""HTTP around every API view: conditional GET (ETag, 304) and gzip.

The ETag is a hash of the body, so it changes exactly when the answer does,
and a repeat request with If-None-Match gets 304 without the body. Responses
are compressed per view rather than site-wide: the API holds no secret (no
session, no CSRF token: it reads no authentication), so gzip cannot leak one
to a BREACH attack, while pages with forms stay uncompressed.
"""

from django.views.decorators.gzip import gzip_page
from django.views.decorators.http import conditional_page

__all__ = ["api_view"]


def api_view(view):
    """`view` answering conditional GETs and compressing its body (the ETag is computed before compression)."""
    return gzip_page(conditional_page(view))
