"""Admin for data releases: the list of releases, and "Make a release now" for those allowed to."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseNotAllowed
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils.html import format_html

from curation import releases
from curation.admin.common import admin_url
from curation.models import DataRelease
from curation.roles import MAKE_RELEASE


@admin.register(DataRelease)
class DataReleaseAdmin(admin.ModelAdmin):
    list_display = ("__str__", "state", "released_at", "item_counts", "requested_by", "files_link")
    list_filter = ("state",)
    list_select_related = ("requested_by",)
    fields = ("number", "state", "directory", "released_at", "created_at", "requested_by", "counts", "changes", "error")
    readonly_fields = fields

    def has_add_permission(self, request):
        return False  # releases are made by the button below, the command and beat

    def has_change_permission(self, request, obj=None):
        return False  # a release is a frozen record

    def get_urls(self):
        custom = [path("make/", self.admin_site.admin_view(self.make_view), name="curation_datarelease_make")]
        return custom + super().get_urls()

    @admin.display(description="items")
    def item_counts(self, obj):
        return ", ".join(f"{n} {name}" for name, n in obj.counts.items()) or "—"

    @admin.display(description="files")
    def files_link(self, obj):
        if obj.state != DataRelease.State.READY:
            return "—"
        return format_html('<a href="{}#release-{}">Downloads page</a>', reverse("downloads"), obj.number)

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "may_make_release": request.user.has_perm(MAKE_RELEASE)}
        return super().changelist_view(request, extra_context)

    def make_view(self, request):
        """POST: queue a release build for a worker (the "Make a release now" button)."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not request.user.has_perm(MAKE_RELEASE):
            raise PermissionDenied
        if DataRelease.objects.filter(state=DataRelease.State.BUILDING).exists():
            self.message_user(request, "A release is being built already.", messages.INFO)
        else:
            releases.request_release(by=request.user)
            self.message_user(
                request, "A release is being built; it appears here and on the downloads page when ready.",
                messages.SUCCESS,
            )  # fmt: skip
        return redirect(admin_url("datarelease_changelist"))
