"""The public downloads page: every data release with its changelog summary and its files.

A file is served only if its name is in the release's own list of files
(`DataRelease.files`, written by the build), so a request can name nothing
else: no path, no '..', no other release's folder.
"""

from django.core.paginator import Paginator
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_safe

from curation.models import DataRelease
from curation.page_cache import public_page
from curation.releases import RELEASED_RESOURCES, release_path

RELEASES_PER_PAGE = 24

# How each kind of file is served; anything else in a release is plain text.
_MEDIA_TYPES = {".json": "application/json", ".tsv": "text/tab-separated-values", ".bib": "application/x-bibtex",
                ".ris": "application/x-research-info-systems"}  # fmt: skip


@public_page
@require_safe
def downloads(request):
    """Ready releases, newest first, a page at a time."""
    releases = DataRelease.objects.filter(state=DataRelease.State.READY).order_by("-number")
    page = Paginator(releases, RELEASES_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "curation/downloads.html", {"page": page, "resources": RELEASED_RESOURCES})


@require_safe
def release_file(request, number, name):
    """One file of a ready release, as a download."""
    release = get_object_or_404(DataRelease, number=number, state=DataRelease.State.READY)
    if name not in release.file_names:
        raise Http404("This release has no file of that name.")
    path = release_path(release) / name
    if not path.is_file():
        raise Http404("This release's files are no longer on the server.")
    suffix = path.suffix
    response = FileResponse(open(path, "rb"), as_attachment=suffix != ".txt", filename=name)  # noqa: SIM115
    response["Content-Type"] = f"{_MEDIA_TYPES.get(suffix, 'text/plain')}; charset=utf-8"
    response["X-Content-Type-Options"] = "nosniff"
    return response
