"""Admin for the PubMed pipeline: refresh runs, citation updates, reference actions and the import page.

Every page and action calls the services in `curation.refresh` and
`curation.importing`; nothing here talks to NCBI. Matching citation strings
(ECitMatch) is network I/O, so the import page hands it to a Celery task and
polls until the matches are in.

Permissions: "Refresh from PubMed" needs `curation.refresh_references`
(admins); verifying references and deciding citation updates need
`curation.verify_reference`; importing needs `curation.import_references`.
A user without the permission does not see the action or button, and a
forged POST is refused.
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from curation import importing, refresh
from curation.citations import author_name
from curation.models import CitationUpdate, MetadataState, Reference, ReferenceImport, RefreshItem, RefreshRun
from curation.pubmed_records import sanitize_html

REFRESH_PERMISSION = "curation.refresh_references"
VERIFY_PERMISSION = "curation.verify_reference"
IMPORT_PERMISSION = "curation.import_references"
AUTO_REFRESH_SECONDS = 3  # how often a page watching a running job reloads itself
MAX_IMPORT_LINES = 10_000
PROBLEMS_SHOWN = 500  # per-reference errors listed on a run's page

Outcome = RefreshItem.Outcome
OUTCOME_LABELS = [
    ("updated", "updated"),
    ("unchanged", "unchanged"),
    ("update_pending", "awaiting review"),
    ("not_found", "not found"),
    ("failed", "failed"),
]


def _int_or_none(object_id) -> int | None:
    """The admin's object id from the URL as a primary key; a hand-typed "abc" finds nothing instead of a 500."""
    return int(object_id) if str(object_id).isdigit() else None


def _admin_url(name: str, *args) -> str:
    return reverse(f"admin:curation_{name}", args=args)


def progress_html(counts: dict) -> str:
    """An HTML <progress> bar with the run's counts beside it."""
    parts = [f"{counts[key]} {label}" for key, label in OUTCOME_LABELS if counts.get(key)]
    summary = f"{counts['done']} of {counts['total']} done"
    if parts:
        summary += ": " + ", ".join(parts)
    return format_html(
        '<progress max="{}" value="{}" title="{}%">{}%</progress> <span class="refresh-counts">{}</span>',
        counts["total"] or 1,
        counts["done"] if counts["total"] else 1,
        counts["percent"],
        counts["percent"],
        summary,
    )


# ---------------------------------------------------------------------------
# Refresh runs
# ---------------------------------------------------------------------------
_COUNT_ANNOTATIONS = {
    "n_total": Count("items"),
    **{f"n_{o.value.replace('-', '_')}": Count("items", filter=Q(items__outcome=o)) for o in Outcome},
}


@admin.register(RefreshRun)
class RefreshRunAdmin(admin.ModelAdmin):
    list_display = ("__str__", "scope_detail", "state", "progress", "requested_by", "created_at", "finished_at")
    list_filter = ("state", "scope")
    list_select_related = ("requested_by",)
    date_hierarchy = "created_at"
    fields = (
        "scope",
        "scope_detail",
        "requested_by",
        "state",
        "progress",
        "created_at",
        "started_at",
        "finished_at",
        "error",
        "problems",
    )
    readonly_fields = fields

    def has_add_permission(self, request):
        return False  # runs are started by actions, the import page, commands and beat

    def has_change_permission(self, request, obj=None):
        return False  # a run is a record of what happened

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        match = getattr(request, "resolver_match", None)
        if match and match.url_name == "curation_refreshrun_changelist":
            queryset = queryset.annotate(**_COUNT_ANNOTATIONS)  # one query for the whole page
        return queryset

    @admin.display(description="progress")
    def progress(self, obj):
        if hasattr(obj, "n_total"):
            counts = {key[2:]: getattr(obj, key) for key in _COUNT_ANNOTATIONS}
            counts["done"] = counts["total"] - counts["queued"]
            counts["percent"] = round(100 * counts["done"] / counts["total"]) if counts["total"] else 100
        else:
            counts = obj.counts()
        return progress_html(counts)

    @admin.display(description="references needing attention")
    def problems(self, obj):
        items = (
            obj.items.filter(outcome__in=[Outcome.FAILED, Outcome.NOT_FOUND, Outcome.UPDATE_PENDING])
            .select_related("reference")
            .order_by("outcome", "reference__pmid")[:PROBLEMS_SHOWN]
        )
        rows = [
            (
                _admin_url("reference_change", item.reference_id),
                item.reference.pmid,
                item.get_outcome_display(),
                item.error or "—",
            )
            for item in items
        ]
        if not rows:
            return "None"
        body = format_html_join("", '<tr><td><a href="{}">PMID {}</a></td><td>{}</td><td>{}</td></tr>', rows)
        return format_html(
            '<table class="refresh-problems"><thead><tr><th>Reference</th><th>Outcome</th><th>Reason</th></tr>'
            "</thead><tbody>{}</tbody></table>",
            body,
        )

    def changelist_view(self, request, extra_context=None):
        active = RefreshRun.objects.filter(state__in=[RefreshRun.State.QUEUED, RefreshRun.State.RUNNING]).exists()
        extra_context = {**(extra_context or {}), "auto_refresh": AUTO_REFRESH_SECONDS if active else None}
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        run = RefreshRun.objects.filter(pk=_int_or_none(object_id)).first()
        active = run is not None and run.is_active
        extra_context = {**(extra_context or {}), "auto_refresh": AUTO_REFRESH_SECONDS if active else None}
        return super().change_view(request, object_id, form_url, extra_context)


# ---------------------------------------------------------------------------
# Citation updates: old and new side by side
# ---------------------------------------------------------------------------
def render_value(name: str, value) -> str:
    """A Reference field's value as safe HTML: PubMed markup sanitised, everything else escaped."""
    if value in (None, "", []):
        return mark_safe('<span class="quiet">—</span>')
    if name == "title":
        return mark_safe(sanitize_html(value))  # noqa: S308 - sanitised with the allow-list
    if name == "abstract":
        return format_html_join(
            "",
            "<p>{}{}</p>",
            (
                (
                    format_html("<strong>{}:</strong> ", section.get("label")) if section.get("label") else "",
                    mark_safe(sanitize_html(section.get("text", ""))),  # noqa: S308 - sanitised
                )
                for section in value
            ),
        )
    if name == "authors":
        return format_html(
            "<ol>{}</ol>",
            format_html_join(
                "",
                "<li>{}{}</li>",
                ((author_name(a), f" (ORCID {a['orcid']})" if a.get("orcid") else "") for a in value),
            ),
        )
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, list):
        return format_html_join("; ", "{}", ((str(item),) for item in value))
    return format_html("{}", value)


@admin.register(CitationUpdate)
class CitationUpdateAdmin(admin.ModelAdmin):
    list_display = ("__str__", "changed_fields", "decision", "created_at", "decided_by", "decided_at")
    list_filter = ("decision",)
    list_select_related = ("reference", "decided_by")
    search_fields = ("reference__pmid__exact",)

    def has_add_permission(self, request):
        return False  # updates come from PubMed refreshes only

    @admin.display(description="fields PubMed changed")
    def changed_fields(self, obj):
        return ", ".join(_field_label(name) for name in obj.diff) or "—"

    def change_view(self, request, object_id, form_url="", extra_context=None):
        """Old and new side by side per field, with a checkbox each; accept selected, accept all, or reject."""
        update = (
            CitationUpdate.objects.select_related("reference", "decided_by").filter(pk=_int_or_none(object_id)).first()
        )
        if update is None:
            messages.warning(request, "That update no longer exists: a newer fetch replaced it, or PubMed reverted.")
            return redirect(_admin_url("citationupdate_changelist"))
        if not self.has_view_or_change_permission(request, update):
            raise PermissionDenied
        can_decide = request.user.has_perm(VERIFY_PERMISSION)
        if request.method == "POST":
            if not can_decide:
                raise PermissionDenied
            return self._decide(request, update)
        reference = update.reference
        rows = [
            {
                "name": name,
                "label": _field_label(name),
                "old": render_value(name, change.get("old")),
                "new": render_value(name, change.get("new")),
                "current": render_value(name, getattr(reference, name)),
                "changed_since": getattr(reference, name) != change.get("old"),
                "accepted": name in (update.accepted_fields or []),
            }
            for name, change in update.diff.items()
        ]
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Review PubMed's changes to PMID {reference.pmid}",
            "update": update,
            "reference": reference,
            "rows": rows,
            "can_decide": can_decide and update.decision == CitationUpdate.Decision.PENDING,
        }
        return TemplateResponse(request, "admin/curation/citationupdate/review.html", context)

    def _decide(self, request, update):
        choice = request.POST.get("decision")
        try:
            if choice == "accept-all":
                refresh.apply_citation_update(update, by=request.user)
                messages.success(request, f"Accepted every change for PMID {update.reference.pmid}.")
            elif choice == "accept-selected":
                fields = request.POST.getlist("fields")
                refresh.apply_citation_update(update, by=request.user, fields=fields)
                if fields:
                    labels = ", ".join(_field_label(name) for name in fields)
                    messages.success(request, f"Accepted {labels} for PMID {update.reference.pmid}; rejected the rest.")
                else:
                    messages.success(
                        request, f"No field was ticked, so the update for PMID {update.reference.pmid} was rejected."
                    )
            elif choice == "reject":
                refresh.reject_citation_update(update, by=request.user)
                messages.success(request, f"Rejected PubMed's changes; PMID {update.reference.pmid} stays as curated.")
            else:
                messages.error(request, "Choose accept selected, accept all or reject.")
                return redirect(_admin_url("citationupdate_change", update.pk))
        except refresh.ReviewError as exc:
            messages.error(request, str(exc))
            return redirect(_admin_url("citationupdate_change", update.pk))
        return redirect(_admin_url("reference_change", update.reference_id))


def _field_label(name: str) -> str:
    return str(Reference._meta.get_field(name).verbose_name)


# ---------------------------------------------------------------------------
# References: actions, buttons and the import page (mixed into ReferenceAdmin)
# ---------------------------------------------------------------------------
class ImportReferencesForm(forms.Form):
    lines = forms.CharField(
        label="PMIDs or citations",
        widget=forms.Textarea(attrs={"rows": 14, "cols": 90, "autofocus": True}),
        help_text="One per line: a PMID (e.g. 28187290) or a citation as PubMed writes it "
        "(e.g. Sharma P, et al. Cell. 2017 Feb 9;168(4):707-723). Citations are looked up in PubMed and "
        "shown as matched, not found or ambiguous before anything is added.",
        error_messages={"required": "Paste at least one PMID or citation."},
    )

    def clean_lines(self):
        text = self.cleaned_data["lines"]
        if len(text.splitlines()) > MAX_IMPORT_LINES:
            raise forms.ValidationError(f"At most {MAX_IMPORT_LINES} lines at a time.")
        return text


class FetchProblemFilter(admin.SimpleListFilter):
    """References PubMed could not (yet) deliver: the curator's list of fetches to look into."""

    title = "PubMed fetch"
    parameter_name = "fetch"

    def lookups(self, request, model_admin):
        return [("problem", "Failed or not found"), ("never", "Never fetched")]

    def queryset(self, request, queryset):
        if self.value() == "problem":
            return queryset.fetch_problems()
        if self.value() == "never":
            return queryset.filter(fetched_at__isnull=True)
        return queryset


class PubMedReferenceActions:
    """Adds the PubMed pipeline to ReferenceAdmin: refresh and verify actions, buttons, the import page."""

    actions = ["refresh_selected_from_pubmed", "verify_selected"]

    def get_list_filter(self, request):
        return [*super().get_list_filter(request), FetchProblemFilter]

    def has_refresh_references_permission(self, request):
        return request.user.has_perm(REFRESH_PERMISSION)

    def has_verify_reference_permission(self, request):
        return request.user.has_perm(VERIFY_PERMISSION)

    @admin.action(description="Refresh selected from PubMed", permissions=["refresh_references"])
    def refresh_selected_from_pubmed(self, request, queryset):
        try:
            run = refresh.start_refresh(scope=RefreshRun.Scope.SELECTED, by=request.user, references=queryset)
        except refresh.RefreshError as exc:
            self.message_user(request, str(exc), messages.WARNING)
            return None
        self._report_run(request, run)
        return redirect(_admin_url("refreshrun_change", run.pk))

    @admin.action(description="Verify selected: confirm their PubMed metadata", permissions=["verify_reference"])
    def verify_selected(self, request, queryset):
        # The list carries the time it was shown (templates/admin/curation/reference/change_list.html):
        # a reference fetched again after that was not what the curator looked at.
        listed_at = parse_datetime(request.POST.get("listed_at", "") or "")
        verified, refused = 0, []
        for reference in queryset.order_by("pmid"):
            if listed_at and reference.fetched_at and reference.fetched_at > listed_at:
                refused.append(f"PMID {reference.pmid} was fetched again after the list was shown; open it to check.")
                continue
            try:
                if reference.metadata_state != MetadataState.VERIFIED:
                    refresh.verify_reference(reference, by=request.user)
                    verified += 1
            except refresh.ReviewError as exc:
                refused.append(str(exc))
        if verified:
            self.message_user(request, f"Verified {verified} reference(s).", messages.SUCCESS)
        for reason in refused[:20]:
            self.message_user(request, f"Not verified: {reason}", messages.WARNING)
        if len(refused) > 20:
            self.message_user(request, f"… and {len(refused) - 20} more not verified.", messages.WARNING)

    def get_urls(self):
        opts = self.opts
        prefix = f"{opts.app_label}_{opts.model_name}"
        view = self.admin_site.admin_view
        custom = [
            path("refresh-stale/", view(self.refresh_stale_view), name=f"{prefix}_refresh_stale"),
            path("import/", view(self.import_view), name=f"{prefix}_import"),
            path("import/<int:import_id>/", view(self.import_preview_view), name=f"{prefix}_import_preview"),
            path("<int:object_id>/verify/", view(self.verify_view), name=f"{prefix}_verify"),
            path("<int:object_id>/refresh/", view(self.refresh_one_view), name=f"{prefix}_refresh"),
        ]
        return custom + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        pending = CitationUpdate.objects.filter(
            reference_id=object_id if str(object_id).isdigit() else None, decision=CitationUpdate.Decision.PENDING
        ).first()
        extra_context = {**(extra_context or {}), "pending_update": pending}
        return super().change_view(request, object_id, form_url, extra_context)

    def _report_run(self, request, run):
        self.message_user(
            request,
            format_html(
                'Queued <a href="{}">{}</a>: {}. The page shows its progress.',
                _admin_url("refreshrun_change", run.pk),
                run,
                run.scope_detail,
            ),
            messages.SUCCESS,
        )

    def refresh_stale_view(self, request):
        """POST: refresh every stale reference (the "Refresh all stale" button)."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not request.user.has_perm(REFRESH_PERMISSION):
            raise PermissionDenied
        try:
            run = refresh.start_refresh(scope=RefreshRun.Scope.STALE, by=request.user)
        except refresh.NothingToRefresh as exc:
            self.message_user(request, str(exc), messages.INFO)
            return redirect(_admin_url("refreshrun_changelist"))
        self._report_run(request, run)
        return redirect(_admin_url("refreshrun_change", run.pk))

    def refresh_one_view(self, request, object_id):
        """POST: refresh one reference (the button on its page)."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not request.user.has_perm(REFRESH_PERMISSION):
            raise PermissionDenied
        reference = get_object_or_404(Reference, pk=object_id)
        run = refresh.start_refresh(scope=RefreshRun.Scope.SELECTED, by=request.user, references=[reference])
        self._report_run(request, run)
        return redirect(_admin_url("reference_change", reference.pk))

    def verify_view(self, request, object_id):
        """POST: verify one reference, refused if it changed since the curator loaded the page."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not request.user.has_perm(VERIFY_PERMISSION):
            raise PermissionDenied
        reference = get_object_or_404(Reference, pk=object_id)
        version = request.POST.get("version", "")
        try:
            refresh.verify_reference(
                reference, by=request.user, expected_version=int(version) if version.isdigit() else None
            )
        except refresh.ReviewError as exc:
            self.message_user(request, str(exc), messages.ERROR)
        else:
            self.message_user(request, f"Verified PMID {reference.pmid}.", messages.SUCCESS)
        return redirect(_admin_url("reference_change", reference.pk))

    # --- import by PMID or citation -------------------------------------------

    def import_view(self, request):
        """Paste PMIDs or citations; citations are matched by a Celery task before anything is created."""
        if not request.user.has_perm(IMPORT_PERMISSION):
            raise PermissionDenied
        form = ImportReferencesForm(request.POST) if request.method == "POST" else ImportReferencesForm()
        errors = []
        if form.is_valid():
            try:
                reference_import = importing.start_import(form.cleaned_data["lines"], by=request.user)
            except importing.InvalidImport as exc:
                errors = exc.errors
            else:
                return redirect(_admin_url("reference_import_preview", reference_import.pk))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Import references",
            "form": form,
            "line_errors": errors,
        }
        return TemplateResponse(request, "admin/curation/reference/import.html", context)

    def import_preview_view(self, request, import_id):
        """What each line resolved to; "Import" creates the references and queues their fetch."""
        if not request.user.has_perm(IMPORT_PERMISSION):
            raise PermissionDenied
        reference_import = get_object_or_404(ReferenceImport, pk=import_id)
        if request.method == "POST":
            try:
                result = importing.confirm_import(reference_import, by=request.user)
            except importing.InvalidImport as exc:
                self.message_user(request, str(exc), messages.ERROR)
                return redirect(_admin_url("reference_import_preview", reference_import.pk))
            created = len(result.created)
            message = f"Added {created} reference(s); {len(result.existing)} were already in the atlas."
            self.message_user(request, message, messages.SUCCESS)
            if result.run is not None:
                return redirect(_admin_url("refreshrun_change", result.run.pk))
            return redirect(_admin_url("reference_changelist"))

        entries = reference_import.entries
        wanted = importing.importable_pmids(reference_import)
        present = set(Reference.objects.filter(pmid__in=wanted).values_list("pmid", flat=True))
        for entry in entries:
            entry["in_atlas"] = entry.get("pmid") in present
        statuses = [entry["status"] for entry in entries]
        matching = reference_import.state == ReferenceImport.State.MATCHING
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Import references: check what was found",
            "reference_import": reference_import,
            "entries": entries,
            "counts": {status: statuses.count(status) for status in ("pmid", "matched", "not_found", "ambiguous")},
            "new_count": len([p for p in wanted if p not in present]),
            "importable": len(wanted),
            "auto_refresh": AUTO_REFRESH_SECONDS if matching else None,
        }
        return TemplateResponse(request, "admin/curation/reference/import_preview.html", context)
