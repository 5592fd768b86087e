"""Admin for the vocabulary mechanisms are described with: genes, therapies and cancer types.

Edited without review (the review workflow applies to mechanisms and their
evidence), but with history and optimistic concurrency like every curated model.
"""

from django.contrib import admin
from django.db.models import Count

from curation.admin.common import on_changelist
from curation.admin.history import CuratedAdminMixin
from curation.models import CancerType, Gene, Therapy


class _CountsMechanisms:
    """Adds a 'mechanisms' column counting the mechanisms that name the row."""

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if on_changelist(request, self):
            queryset = queryset.annotate(mechanism_count=Count("mechanisms", distinct=True))
        return queryset

    @admin.display(description="mechanisms", ordering="mechanism_count")
    def mechanism_count(self, obj):
        return getattr(obj, "mechanism_count", None)


@admin.register(Gene)
class GeneAdmin(CuratedAdminMixin, _CountsMechanisms, admin.ModelAdmin):
    list_display = ("symbol", "name", "aliases", "hgnc_id", "ncbi_gene_id", "mechanism_count")
    search_fields = ("symbol", "name", "aliases", "hgnc_id")
    fields = ("symbol", "name", "aliases", "hgnc_id", "ncbi_gene_id")


@admin.register(Therapy)
class TherapyAdmin(CuratedAdminMixin, _CountsMechanisms, admin.ModelAdmin):
    list_display = ("name", "therapy_class", "ncit_code", "mechanism_count")
    list_filter = ("therapy_class",)
    search_fields = ("name", "slug", "therapy_class", "ncit_code")
    prepopulated_fields = {"slug": ("name",)}
    fields = ("name", "slug", "therapy_class", "ncit_code")


@admin.register(CancerType)
class CancerTypeAdmin(CuratedAdminMixin, _CountsMechanisms, admin.ModelAdmin):
    list_display = ("name", "doid", "ncit_code", "mechanism_count")
    search_fields = ("name", "slug", "doid", "ncit_code")
    prepopulated_fields = {"slug": ("name",)}
    fields = ("name", "slug", "doid", "ncit_code")
