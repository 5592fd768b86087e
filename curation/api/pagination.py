"""Keyset pagination: pages of up to API_MAX_PAGE_SIZE items in a deterministic order, with next/previous links.

A page is found by the sort values of the item before it (`WHERE (a, b) > (x, y)
ORDER BY a, b LIMIT n`), never by an offset, so the 200th page of the evidence
costs what the first does, and an item added while a script pages through is
neither skipped nor repeated. Every ordering ends in the resource's unique key,
so the order is total. The cursor is signed: a client cannot forge one that
sends other values to the database, and a damaged one is a 400 with a message.
"""

from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.db.models import Q
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import BasePagination
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

__all__ = ["DEFAULT_PAGE_SIZE", "KeysetPagination", "Ordering"]

DEFAULT_PAGE_SIZE = 100
# Not timestamped: the same page always links the same cursors, so a repeat request gets the same ETag.
_SIGNER = signing.Signer(salt="curation.api.cursor")


@dataclass(frozen=True)
class Ordering:
    """One choice of `?ordering=`: the columns (non-null, the last unique) and the expressions some need."""

    columns: tuple[str, ...]
    annotations: tuple[tuple[str, object], ...] = ()


def _keyset_after(columns, values, descending: bool) -> Q:
    """Rows after `values` in the order of `columns` (all ascending or all descending)."""
    lookup = "lt" if descending else "gt"
    condition = Q()
    for i, column in enumerate(columns):
        equal = {name: value for name, value in zip(columns[:i], values[:i], strict=True)}
        condition |= Q(**equal, **{f"{column}__{lookup}": values[i]})
    return condition


class KeysetPagination(BasePagination):
    """Pages of `page_size` items (1 to API_MAX_PAGE_SIZE) ordered by the view's `orderings[?ordering=]`.

    The view names its orderings (`orderings`, a dict of name to `Ordering`)
    and the default (`default_ordering`); "-name" is the same order reversed.
    """

    cursor_query_param = "cursor"
    page_size_query_param = "page_size"
    ordering_query_param = "ordering"

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        self.page_size = self._page_size(request)
        name, ordering, descending = self._ordering(request, view)
        for alias, expression in ordering.annotations:
            queryset = queryset.annotate(**{alias: expression})
        columns = ordering.columns
        cursor = self._cursor(request, name, len(ordering.columns))
        self.count = queryset.count()
        # A "previous" cursor walks the order backwards from its position and turns the page round.
        backwards = cursor is not None and cursor["back"]
        walk_descending = descending != backwards
        rows = queryset.order_by(*(f"-{c}" if walk_descending else c for c in columns))
        if cursor is not None:
            rows = rows.filter(_keyset_after(columns, cursor["at"], walk_descending))
        page = list(rows[: self.page_size + 1])
        more = len(page) > self.page_size
        page = page[: self.page_size]
        if backwards:
            page.reverse()
        positions = [tuple(_json_value(getattr(item, c)) for c in columns) for item in page]
        self.next_position = positions[-1] if page and (more if not backwards else True) else None
        self.previous_position = positions[0] if page and (more if backwards else cursor is not None) else None
        self.ordering_name = name
        return page

    def _page_size(self, request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None or raw == "":
            return DEFAULT_PAGE_SIZE
        limit = settings.API_MAX_PAGE_SIZE
        if not raw.isdigit() or not 1 <= int(raw) <= limit:
            raise ValidationError({self.page_size_query_param: [f"A whole number from 1 to {limit}."]})
        return int(raw)

    def _ordering(self, request, view) -> tuple[str, Ordering, bool]:
        name = request.query_params.get(self.ordering_query_param) or view.default_ordering
        descending = name.startswith("-")
        ordering = view.orderings.get(name.removeprefix("-"))
        if ordering is None:
            choices = ", ".join(f"{n}, -{n}" for n in view.orderings)
            raise ValidationError({self.ordering_query_param: [f"Order by one of: {choices}."]})
        return name, ordering, descending

    def _cursor(self, request, ordering_name, width) -> dict | None:
        raw = request.query_params.get(self.cursor_query_param)
        if not raw:
            return None
        try:
            cursor = _SIGNER.unsign_object(raw)
        except (signing.BadSignature, ValueError):
            raise ValidationError({self.cursor_query_param: ["Not a cursor this API gave out; start again."]}) from None
        if not isinstance(cursor, dict) or cursor.get("ordering") != ordering_name or len(cursor["at"]) != width:
            raise ValidationError(
                {self.cursor_query_param: ["This cursor belongs to another ordering; follow the links as given."]}
            )
        return cursor

    def _link(self, position, *, back: bool) -> str | None:
        if position is None:
            return None
        token = _SIGNER.sign_object({"at": list(position), "back": back, "ordering": self.ordering_name})
        return replace_query_param(self.request.build_absolute_uri(), self.cursor_query_param, token)

    def get_next_link(self) -> str | None:
        return self._link(self.next_position, back=False)

    def get_previous_link(self) -> str | None:
        return self._link(self.previous_position, back=True)

    def get_paginated_response(self, data):
        next_link, previous_link = self.get_next_link(), self.get_previous_link()
        response = Response(
            {"count": self.count, "next": next_link, "previous": previous_link, "results": data},
        )
        links = [f'<{url}>; rel="{rel}"' for rel, url in (("next", next_link), ("prev", previous_link)) if url]
        if links:
            response["Link"] = ", ".join(links)
        return response

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["count", "next", "previous", "results"],
            "properties": {
                "count": {"type": "integer", "description": "Items matching the filters, on all pages."},
                "next": {"type": "string", "format": "uri", "nullable": True},
                "previous": {"type": "string", "format": "uri", "nullable": True},
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view):
        names = [n for name in view.orderings for n in (name, f"-{name}")]
        return [
            {
                "name": self.cursor_query_param,
                "required": False,
                "in": "query",
                "description": "Opaque position from a `next` or `previous` link.",
                "schema": {"type": "string"},
            },
            {
                "name": self.page_size_query_param,
                "required": False,
                "in": "query",
                "description": f"Items per page (default {DEFAULT_PAGE_SIZE}).",
                "schema": {"type": "integer", "minimum": 1, "maximum": settings.API_MAX_PAGE_SIZE},
            },
            {
                "name": self.ordering_query_param,
                "required": False,
                "in": "query",
                "description": f"Sort order (default `{view.default_ordering}`); ties are broken by the key.",
                "schema": {"type": "string", "enum": names},
            },
        ]


def _json_value(value):
    """A sort value as the cursor (JSON) carries it; datetimes as ISO text, which Django's lookups read back."""
    return value.isoformat() if hasattr(value, "isoformat") else value
