"""Public pages. Placeholders until the public-pages work lands."""

from django.http import Http404, HttpResponse


def home(request):
    return HttpResponse("Resistance Atlas")


def mechanism_list(request):
    return HttpResponse("Mechanisms")


def mechanism_detail(request, slug):
    raise Http404


def reference_detail(request, pmid):
    raise Http404


def gene_detail(request, symbol):
    raise Http404
