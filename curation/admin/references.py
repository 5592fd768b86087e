"""Admin for references and the PubMed pipeline that fills them: the reference list and page with
their actions, the "Add references" page, citation updates to review, and refresh runs.

References carry PubMed's metadata, which curators never type: a reference is
added on the "Add references" page (PMIDs, or citation strings matched by
ECitMatch) and its fields stay read-only; a refresh proposes changes for
review instead of overwriting them. Every page and action calls the services
in `curation.importing` and `curation.refresh`; nothing here talks to NCBI.
Matching citation strings is network I/O, so the page hands it to a Celery
task and the preview polls until the matches are in.

Permissions: importing needs `curation.import_references`; verifying
references and deciding citation updates need `curation.verify_reference`;
"Refresh from PubMed" needs `curation.refresh_references` (admins). A user
without the permission does not see the action or button, and a forged POST
is refused.
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.text import Truncator

from curation import importing, refresh
from curation.admin.common import (
    EstimatedCountPaginator,
    admin_url,
    int_or_none,
    on_changelist,
    row_count,
    short_citation,
)
from curation.admin.history import HistoryAdminMixin
from curation.citations.identifiers import doi_url
from curation.citations.names import nlm_name
from curation.models import (
    REFERENCE_FLAGS,
    CitationUpdate,
    Evidence,
    MetadataState,
    Reference,
    ReferenceImport,
    RefreshItem,
    RefreshRun,
)
from curation.pubmed_records import plain_text, sanitize_html
from curation.roles import IMPORT_REFERENCES, REFRESH_REFERENCES, VERIFY_REFERENCE

AUTO_REFRESH_SECONDS = 3  # how often a page watching a running job reloads itself
MAX_PASTE_LINES = 10_000
MAX_PMIDS_PER_PASTE = 10_000
LISTED_IN_MESSAGE = 30  # PMIDs named in a confirmation before "and N more"
PROBLEMS_SHOWN = 500  # per-reference errors listed on a run's page

Outcome = RefreshItem.Outcome


def _pmid_list(pmids) -> str:
    shown = ", ".join(str(pmid) for pmid in pmids[:LISTED_IN_MESSAGE])
    rest = len(pmids) - LISTED_IN_MESSAGE
    return f"{shown} and {rest} more" if rest > 0 else shown


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
                (
                    (
                        nlm_name(author),
                        format_html(' (<a href="https://orcid.org/{}">ORCID</a>)', author["orcid"])
                        if author.get("orcid")
                        else "",
                    )
                    for author in value
                ),
            ),
        )
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, list):
        return format_html_join("; ", "{}", ((str(item),) for item in value))
    return format_html("{}", value)


def _field_label(name: str) -> str:
    return str(Reference._meta.get_field(name).verbose_name)


# ---------------------------------------------------------------------------
# References
# ---------------------------------------------------------------------------
class AddReferencesForm(forms.Form):
    lines = forms.CharField(
        label="PMIDs or citations",
        widget=forms.Textarea(attrs={"rows": 14, "cols": 90, "autofocus": True}),
        help_text="PMIDs (e.g. 29968044), separated by line breaks, commas, semicolons or spaces, and/or "
        "citations as PubMed writes them, one per line (e.g. Sharma P, et al. Cell. 2017 Feb 9;168(4):707-723). "
        "PMIDs are added at once; citations are looked up in PubMed and shown as matched, not found or ambiguous "
        "before they are added. PMIDs already in the atlas are left as they are.",
        error_messages={"required": "Paste at least one PMID or citation."},
    )

    def clean_lines(self):
        text = self.cleaned_data["lines"]
        if len(text.splitlines()) > MAX_PASTE_LINES:
            raise forms.ValidationError(f"At most {MAX_PASTE_LINES:,} lines at a time.")
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


# How the read-only page shows each reviewed field: a display method where the raw value is not readable.
_SHOWN_AS = {
    "doi": "doi_link",
    "title": "display_title",
    "authors": "author_list",
    "abstract": "abstract_sections",
    "publication_types": "publication_type_list",
    "mesh_terms": "mesh_term_list",
    "keywords": "keyword_list",
}
_INDEXING = ("publication_types", "mesh_terms", "keywords")


def _shown(names) -> tuple[str, ...]:
    return tuple(_SHOWN_AS.get(name, name) for name in names)


@admin.register(Reference)
class ReferenceAdmin(HistoryAdminMixin, admin.ModelAdmin):
    list_display = ("pmid", "citation", "short_title", "metadata_state", "flag_list", "evidence_count", "fetched_at")
    list_filter = (
        "metadata_state",
        *(flag.field for flag in REFERENCE_FLAGS),
        "is_book",
        FetchProblemFilter,
    )
    # `pmid__exact` compares the PMID as text, so a search for a word does not fail on the integer column.
    search_fields = ("pmid__exact", "doi", "pmcid", "title")
    # Newest first, read in order from the index on (pub_year, pmid); no second whole-table COUNT.
    ordering = ("-pub_year", "-pmid")
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    actions = ["refresh_selected_from_pubmed", "verify_selected"]
    fieldsets = (
        ("State", {"fields": ("metadata_state", "fetched_at", "last_error", "verified_by", "verified_at")}),
        (
            "Citation (from PubMed, read-only)",
            {
                "fields": (
                    "pubmed_link",
                    *_shown(n for n in refresh.REVIEWED_FIELDS if n not in ("abstract", *_INDEXING)),
                ),
                "description": "Metadata comes from PubMed and is never typed by hand; a refresh proposes "
                "changes for review instead of overwriting.",
            },
        ),
        ("Abstract", {"fields": _shown(["abstract"])}),
        ("Corrections", {"fields": ("flag_list", "correction_list")}),
        ("Indexing", {"fields": _shown(_INDEXING), "classes": ["collapse"]}),
        ("PubMed XML", {"fields": ("raw_xml_block",), "classes": ["collapse"]}),
        ("Record", {"fields": ("version", "created_at", "updated_at"), "classes": ["collapse"]}),
    )

    def get_readonly_fields(self, request, obj=None):
        return [name for _, options in self.get_fieldsets(request, obj) for name in options["fields"]]

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if on_changelist(request, self):
            queryset = queryset.annotate(evidence_count=row_count(Evidence, "reference"))
        return queryset

    def get_urls(self):
        view = self.admin_site.admin_view
        custom = [
            path("import/", view(self.import_view), name="curation_reference_import"),
            path("import/<int:import_id>/", view(self.import_preview_view), name="curation_reference_import_preview"),
            path("refresh-stale/", view(self.refresh_stale_view), name="curation_reference_refresh_stale"),
            path("<int:object_id>/verify/", view(self.verify_view), name="curation_reference_verify"),
            path("<int:object_id>/refresh/", view(self.refresh_one_view), name="curation_reference_refresh"),
        ]
        return custom + super().get_urls()

    def add_view(self, request, form_url="", extra_context=None):
        # Curators never type citation metadata: a reference starts from its PMID or citation.
        return redirect(admin_url("reference_import"))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        pending = CitationUpdate.objects.filter(
            reference_id=int_or_none(object_id), decision=CitationUpdate.Decision.PENDING
        ).first()
        extra_context = {**(extra_context or {}), "pending_update": pending}
        return super().change_view(request, object_id, form_url, extra_context)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        # Every field is read-only, so a Save button would only write an empty change into the history.
        context.update(show_save=False, show_save_and_continue=False, show_save_and_add_another=False)
        return super().render_change_form(request, context, add, change, form_url, obj)

    # --- actions ----------------------------------------------------------------

    def has_refresh_references_permission(self, request):
        return request.user.has_perm(REFRESH_REFERENCES)

    def has_verify_reference_permission(self, request):
        return request.user.has_perm(VERIFY_REFERENCE)

    @admin.action(description="Refresh selected from PubMed", permissions=["refresh_references"])
    def refresh_selected_from_pubmed(self, request, queryset):
        try:
            run = refresh.start_refresh(scope=RefreshRun.Scope.SELECTED, by=request.user, references=queryset)
        except refresh.RefreshError as exc:
            self.message_user(request, str(exc), messages.WARNING)
            return None
        self._report_run(request, run)
        return redirect(admin_url("refreshrun_change", run.pk))

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

    def _report_run(self, request, run):
        self.message_user(
            request,
            format_html(
                'Queued <a href="{}">{}</a>: {}. The page shows its progress.',
                admin_url("refreshrun_change", run.pk),
                run,
                run.scope_detail,
            ),
            messages.SUCCESS,
        )

    def refresh_stale_view(self, request):
        """POST: refresh every stale reference (the "Refresh all stale" button)."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not request.user.has_perm(REFRESH_REFERENCES):
            raise PermissionDenied
        try:
            run = refresh.start_refresh(scope=RefreshRun.Scope.STALE, by=request.user)
        except refresh.NothingToRefresh as exc:
            self.message_user(request, str(exc), messages.INFO)
            return redirect(admin_url("refreshrun_changelist"))
        self._report_run(request, run)
        return redirect(admin_url("refreshrun_change", run.pk))

    def refresh_one_view(self, request, object_id):
        """POST: refresh one reference (the button on its page)."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not request.user.has_perm(REFRESH_REFERENCES):
            raise PermissionDenied
        reference = get_object_or_404(Reference, pk=object_id)
        run = refresh.start_refresh(scope=RefreshRun.Scope.SELECTED, by=request.user, references=[reference])
        self._report_run(request, run)
        return redirect(admin_url("reference_change", reference.pk))

    def verify_view(self, request, object_id):
        """POST: verify one reference, refused if it changed since the curator loaded the page."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not request.user.has_perm(VERIFY_REFERENCE):
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
        return redirect(admin_url("reference_change", reference.pk))

    # --- the "Add references" page ----------------------------------------------

    def import_view(self, request):
        """Paste PMIDs and citations: PMIDs are added at once, citations matched by a Celery task first."""
        if not request.user.has_perm(IMPORT_REFERENCES):
            raise PermissionDenied
        form = AddReferencesForm(request.POST) if request.method == "POST" else AddReferencesForm()
        errors = []
        if form.is_valid():
            try:
                result = importing.start_import(
                    form.cleaned_data["lines"], by=request.user, max_pmids=MAX_PMIDS_PER_PASTE
                )
            except importing.InvalidImport as exc:
                errors = exc.errors
            else:
                return self._report_import(request, result)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Add references",
            "form": form,
            "line_errors": errors,
        }
        return TemplateResponse(request, "admin/curation/reference/import.html", context)

    def _report_import(self, request, result: importing.ImportResult):
        added = result.added
        if added.created:
            pmids = [reference.pmid for reference in added.created]
            self.message_user(
                request,
                f"Added {len(pmids)} reference(s), pending until PubMed confirms them: {_pmid_list(pmids)}.",
                messages.SUCCESS,
            )
        if added.existing:
            self.message_user(
                request, f"{len(added.existing)} already present, left unchanged: {_pmid_list(added.existing)}."
            )
        if result.repeated:
            self.message_user(request, f"Listed more than once, counted once: {_pmid_list(result.repeated)}.")
        if result.citations is not None:
            return redirect(admin_url("reference_import_preview", result.citations.pk))
        return redirect(admin_url("reference_changelist"))

    def import_preview_view(self, request, import_id):
        """What each citation resolved to; "Add" creates the matched references and queues their fetch."""
        if not request.user.has_perm(IMPORT_REFERENCES):
            raise PermissionDenied
        reference_import = get_object_or_404(ReferenceImport, pk=import_id)
        if request.method == "POST":
            try:
                result = importing.confirm_import(reference_import, by=request.user)
            except importing.InvalidImport as exc:
                self.message_user(request, str(exc), messages.ERROR)
                return redirect(admin_url("reference_import_preview", reference_import.pk))
            created = len(result.created)
            message = f"Added {created} reference(s); {len(result.existing)} were already in the atlas."
            self.message_user(request, message, messages.SUCCESS)
            if result.run is not None:
                return redirect(admin_url("refreshrun_change", result.run.pk))
            return redirect(admin_url("reference_changelist"))

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
            "title": "Add references: check what PubMed found",
            "reference_import": reference_import,
            "entries": entries,
            "counts": {status: statuses.count(status) for status in ("pmid", "matched", "not_found", "ambiguous")},
            "new_count": len([p for p in wanted if p not in present]),
            "importable": len(wanted),
            "auto_refresh": AUTO_REFRESH_SECONDS if matching else None,
        }
        return TemplateResponse(request, "admin/curation/reference/import_preview.html", context)

    # --- read-only displays; PubMed text is sanitised, everything else escaped ----

    @admin.display(description="citation")
    def citation(self, obj):
        return short_citation(obj)

    @admin.display(description="title")
    def short_title(self, obj):
        return Truncator(plain_text(obj.title)).chars(80)

    @admin.display(description="PMID")
    def pubmed_link(self, obj):
        return format_html('<a href="{}" rel="noopener noreferrer">{}</a>', obj.pubmed_url, obj.pmid)

    @admin.display(description="DOI")
    def doi_link(self, obj):
        if not obj.doi:
            return "—"
        return format_html('<a href="{}" rel="noopener noreferrer">{}</a>', doi_url(obj.doi), obj.doi)

    @admin.display(description="title")
    def display_title(self, obj):
        return render_value("title", obj.title)

    @admin.display(description="authors")
    def author_list(self, obj):
        return render_value("authors", obj.authors)

    @admin.display(description="abstract")
    def abstract_sections(self, obj):
        return render_value("abstract", obj.abstract)

    @admin.display(description="flags")
    def flag_list(self, obj):
        return ", ".join(flag.label for flag in obj.flags) or "—"

    @admin.display(description="linked notices")
    def correction_list(self, obj):
        if not obj.corrections:
            return "—"
        return format_html(
            "<ul>{}</ul>",
            format_html_join(
                "",
                "<li>{}: PMID {} {}</li>",
                (
                    (item.get("type", ""), item.get("pmid") or "?", f"({item['source']})" if item.get("source") else "")
                    for item in obj.corrections
                ),
            ),
        )

    @admin.display(description="publication types")
    def publication_type_list(self, obj):
        return render_value("publication_types", obj.publication_types)

    @admin.display(description="MeSH terms")
    def mesh_term_list(self, obj):
        return render_value("mesh_terms", obj.mesh_terms)

    @admin.display(description="keywords")
    def keyword_list(self, obj):
        return render_value("keywords", obj.keywords)

    @admin.display(description="PubMed XML")
    def raw_xml_block(self, obj):
        if not obj.raw_xml:
            return "—"
        return format_html('<pre class="raw-xml">{}</pre>', obj.raw_xml)

    @admin.display(description="evidence", ordering="evidence_count")
    def evidence_count(self, obj):
        return getattr(obj, "evidence_count", None)


# ---------------------------------------------------------------------------
# Citation updates: old and new side by side
# ---------------------------------------------------------------------------
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
            CitationUpdate.objects.select_related("reference", "decided_by").filter(pk=int_or_none(object_id)).first()
        )
        if update is None:
            messages.warning(request, "That update no longer exists: a newer fetch replaced it, or PubMed reverted.")
            return redirect(admin_url("citationupdate_changelist"))
        if not self.has_view_or_change_permission(request, update):
            raise PermissionDenied
        can_decide = request.user.has_perm(VERIFY_REFERENCE)
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
                return redirect(admin_url("citationupdate_change", update.pk))
        except refresh.ReviewError as exc:
            messages.error(request, str(exc))
            return redirect(admin_url("citationupdate_change", update.pk))
        return redirect(admin_url("reference_change", update.reference_id))


# ---------------------------------------------------------------------------
# Refresh runs
# ---------------------------------------------------------------------------
def progress_html(counts: dict, outcomes: str | None = None) -> str:
    """An HTML <progress> bar with the run's counts beside it (`outcomes`: the run's own summary of them)."""
    summary = f"{counts['done']} of {counts['total']} done"
    outcomes = RefreshRun.summary(counts) if outcomes is None else outcomes
    if outcomes:
        summary += ": " + outcomes
    return format_html(
        '<progress max="{}" value="{}" title="{}%">{}%</progress> <span class="refresh-counts">{}</span>',
        counts["total"] or 1,
        counts["done"] if counts["total"] else 1,
        counts["percent"],
        counts["percent"],
        summary,
    )


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
        return False  # runs are started by actions, the Add references page, commands and beat

    def has_change_permission(self, request, obj=None):
        return False  # a run is a record of what happened

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if on_changelist(request, self):
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
                admin_url("reference_change", item.reference_id),
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
        run = RefreshRun.objects.filter(pk=int_or_none(object_id)).first()
        active = run is not None and run.is_active
        extra_context = {**(extra_context or {}), "auto_refresh": AUTO_REFRESH_SECONDS if active else None}
        return super().change_view(request, object_id, form_url, extra_context)
