"""The API's views: a list and a detail view per resource, search, and the documentation page.

Every view serialises through `curation.serializers.RESOURCES`, which loads
only published content in a fixed number of queries per page, whatever the
page size. Lists are keyset-paginated (`pagination`), filtered (`filters`)
and throttled per client address (`throttling`); `urls` wraps each view for
ETag/304 and gzip (`http`).
"""

from django.conf import settings
from django.core.cache import caches
from django.db.models import F
from django.db.models.functions import Coalesce
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import generics, serializers
from rest_framework.decorators import api_view as api_view_decorator
from rest_framework.exceptions import APIException, NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param
from rest_framework.views import APIView

from curation import content_version, page_cache
from curation.api import filters
from curation.api.pagination import DEFAULT_PAGE_SIZE, KeysetPagination, Ordering
from curation.models import Mechanism, Status
from curation.search import ranked_mechanisms
from curation.serializers import RESOURCES, MechanismSerializer

__all__ = ["DETAIL_VIEWS", "LIST_VIEWS", "SearchView", "docs", "not_found"]


class Gone(APIException):
    status_code = 410
    default_detail = "This mechanism was retired; it is no longer part of the published atlas."
    default_code = "gone"


class _CachedByContentVersion:
    """GETs answered from the public page cache while the atlas has not changed (curation/page_cache.py).

    Here, inside the view, and not in the page cache's middleware: DRF has run
    the throttle by now, so a cached answer still counts against the client's rate.
    The API reads no session or cookie, so every client may share an answer; the
    key adds the Accept header, which DRF negotiates on.
    """

    def get(self, request, *args, **kwargs):
        stamp = content_version.current()
        key = page_cache.cache_key(request, stamp, request.META.get("HTTP_ACCEPT", ""))
        cache = caches[page_cache.CACHE_ALIAS]
        entry = cache.get(key) if settings.PAGE_CACHE_SECONDS else None
        if entry is not None:
            return HttpResponse(entry["content"], content_type=entry["content_type"])
        response = super().get(request, *args, **kwargs)
        if response.status_code == 200 and settings.PAGE_CACHE_SECONDS:

            def store(rendered):
                entry = {"content": rendered.content, "content_type": rendered["Content-Type"]}
                cache.set(key, entry, settings.PAGE_CACHE_SECONDS)

            response.add_post_render_callback(store)
        return response


class _ResourceView(_CachedByContentVersion):
    """What a resource's list and detail views share: its published rows and its serializer, and the cache."""

    resource = None

    def get_queryset(self):
        return self.resource.rows()

    def get_serializer_class(self):
        return self.resource.serializer


def _list_view(resource_name, filterset, orderings, default_ordering):
    resource = RESOURCES[resource_name]
    orderings = {resource.key: Ordering(resource.default_order), **orderings}
    return type(
        f"{resource.serializer.Meta.model.__name__}List",
        (_ResourceView, generics.ListAPIView),
        {
            "resource": resource,
            "filter_backends": [DjangoFilterBackend],
            "filterset_class": filterset,
            "pagination_class": KeysetPagination,
            "orderings": orderings,
            "default_ordering": default_ordering or resource.key,
            "__doc__": f"Published {resource_name.replace('-', ' ')}, {DEFAULT_PAGE_SIZE} a page by default.",
        },
    )


def _detail_view(resource_name, *, lookup_url_kwarg=None, extra_responses=None, get_object=None):
    resource = RESOURCES[resource_name]
    attributes = {
        "resource": resource,
        "lookup_field": resource.key,
        "lookup_url_kwarg": lookup_url_kwarg or resource.key,
        "extra_responses": extra_responses or {},
        "__doc__": f"One published item of {resource_name.replace('-', ' ')}, by its {resource.key}.",
    }
    if get_object is not None:
        attributes["get_object"] = get_object
    return type(
        f"{resource.serializer.Meta.model.__name__}Detail", (_ResourceView, generics.RetrieveAPIView), attributes
    )


def _mechanism_or_gone(view):
    """The published mechanism at the slug; 410 for a retired one, 404 for anything else (drafts never show)."""
    try:
        return generics.RetrieveAPIView.get_object(view)
    except Http404:
        if Mechanism.objects.originals().filter(slug=view.kwargs["slug"], status=Status.RETIRED).exists():
            raise Gone() from None
        raise


_BY_NAME = Ordering(("name", "slug"))
_BY_YEAR = Ordering(("sort_year", "pmid"), (("sort_year", Coalesce("pub_year", 0)),))

LIST_VIEWS = {
    "mechanisms": _list_view(
        "mechanisms",
        filters.MechanismFilter,
        {"name": _BY_NAME, "category": Ordering(("category", "name", "slug"))},
        "name",
    ),
    "evidence": _list_view(
        "evidence",
        filters.EvidenceFilter,
        {
            "mechanism": Ordering(("mechanism_slug", "id"), (("mechanism_slug", F("mechanism__slug")),)),
            "year": Ordering(
                ("sort_year", "sort_pmid", "id"),
                (("sort_year", Coalesce("reference__pub_year", 0)), ("sort_pmid", F("reference__pmid"))),
            ),
        },
        "id",
    ),
    "references": _list_view("references", filters.ReferenceFilter, {"year": _BY_YEAR}, "pmid"),
    "genes": _list_view("genes", filters.GeneFilter, {}, "symbol"),
    "therapies": _list_view("therapies", filters.TherapyFilter, {"name": _BY_NAME}, "name"),
    "cancer-types": _list_view("cancer-types", filters.CancerTypeFilter, {"name": _BY_NAME}, "name"),
}

DETAIL_VIEWS = {
    "mechanisms": _detail_view(
        "mechanisms", extra_responses={410: "The mechanism was retired."}, get_object=_mechanism_or_gone
    ),
    "evidence": _detail_view("evidence"),
    "references": _detail_view("references"),
    "genes": _detail_view("genes"),
    "therapies": _detail_view("therapies"),
    "cancer-types": _detail_view("cancer-types"),
}


_SEARCH_PARAMETERS = [
    OpenApiParameter("q", str, description="Words in the name or summary, ranked as on the site's search."),
    OpenApiParameter("category", str, enum=[c for c, _ in Mechanism._meta.get_field("category").choices]),
    OpenApiParameter("gene", str, description="HGNC symbol of a gene in the atlas."),
    OpenApiParameter("therapy", str, description="Slug of a therapy in the atlas."),
    OpenApiParameter("phenotype", str, enum=["primary", "adaptive", "acquired"]),
    OpenApiParameter("page", int, description="Page number, from 1."),
    OpenApiParameter("page_size", int, description=f"Results per page (default {DEFAULT_PAGE_SIZE}, at most 1000)."),
]


class SearchView(_CachedByContentVersion, APIView):
    """The site's search as data: the same function, the same matches in the same order (`curation.search`)."""

    validates_query = True

    @extend_schema(
        parameters=_SEARCH_PARAMETERS,
        responses=inline_serializer(
            "SearchResults",
            {
                "count": serializers.IntegerField(),
                "next": serializers.URLField(allow_null=True),
                "previous": serializers.URLField(allow_null=True),
                "results": MechanismSerializer(many=True),
            },
        ),
    )
    def get(self, request):
        page, page_size = _page_number(request)
        form, ranked = ranked_mechanisms(
            {k: v for k, v in request.query_params.items() if k not in ("page", "page_size")}
        )
        if ranked is None:
            raise ValidationError({"search": [message for errors in form.errors.values() for message in errors]})
        # The site's ranking decides the page; its rows are loaded as the mechanisms resource.
        count = ranked.count()
        start = (page - 1) * page_size
        wanted = list(ranked.values_list("pk", flat=True)[start : start + page_size])
        rows = {m.pk: m for m in RESOURCES["mechanisms"].rows().filter(pk__in=wanted)}
        results = MechanismSerializer([rows[pk] for pk in wanted if pk in rows], many=True).data
        return Response(
            {
                "count": count,
                "next": _page_link(request, page + 1) if start + page_size < count else None,
                "previous": _page_link(request, page - 1) if page > 1 else None,
                "results": results,
            }
        )


def _page_number(request) -> tuple[int, int]:
    errors = {}
    values = {}
    for name, default, limit in (("page", 1, None), ("page_size", DEFAULT_PAGE_SIZE, settings.API_MAX_PAGE_SIZE)):
        raw = request.query_params.get(name) or str(default)
        if not raw.isdigit() or int(raw) < 1 or (limit and int(raw) > limit) or len(raw) > 9:
            errors[name] = [f"A whole number from 1{f' to {limit}' if limit else ''}."]
        else:
            values[name] = int(raw)
    if errors:
        raise ValidationError(errors)
    return values["page"], values["page_size"]


def _page_link(request, page: int) -> str:
    return replace_query_param(request.build_absolute_uri(), "page", page)


@extend_schema(exclude=True)
@api_view_decorator(["GET", "HEAD"])
def not_found(request, *args, **kwargs):
    """No API resource has this address (404 in JSON, with the throttle applied like everywhere else)."""
    raise NotFound("No API resource has this address; see /api/docs/.")


@require_safe
def docs(request):
    """The API's browsable documentation: Swagger UI from our own static files, started by a static script."""
    return render(request, "api/docs.html")
