"""Routes of the read API, mounted at /api/ (see docs/api.md)."""

from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView

from curation.api.http import api_view
from curation.api.views import DETAIL_VIEWS, LIST_VIEWS, SearchView, docs, not_found

# How each resource's detail path names its stable id.
_ID_PATHS = {
    "mechanisms": "<slug:slug>",
    "evidence": "<int:id>",
    "references": "<int:pmid>",
    "genes": "<str:symbol>",
    "therapies": "<slug:slug>",
    "cancer-types": "<slug:slug>",
}

urlpatterns = [
    path("schema/", api_view(SpectacularAPIView.as_view()), name="api-schema"),
    path("docs/", docs, name="api-docs"),
    path("search/", api_view(SearchView.as_view()), name="api-search"),
]
for name, id_path in _ID_PATHS.items():
    urlpatterns += [
        path(f"{name}/", api_view(LIST_VIEWS[name].as_view()), name=f"api-{name}-list"),
        path(f"{name}/{id_path}/", api_view(DETAIL_VIEWS[name].as_view()), name=f"api-{name}-detail"),
    ]
# Anything else under /api/ (an id no converter accepts, a typo) is a 404 in JSON like the rest of the API.
urlpatterns.append(re_path(r"^.*$", api_view(not_found)))
