"""Admin for literature triage: saved PubMed searches, their runs, and the queue of candidate papers.

- Saved searches: a new search is previewed before it is saved (the count,
  NCBI's translation, errors and warnings, and the first titles, fetched by a
  Celery task while the page waits); "Run now" starts a run at once.
- Runs are records: their page shows the window, what was found and the fetch
  progress, and reloads itself while the run is going.
- The queue (the candidate list) is where curators decide: each paper with its
  abstract, the atlas's terms highlighted, who brought it in and the suggested
  mechanisms, sorted by a relevance whose formula the page shows. Accept,
  reject with a reason, snooze and assign are on each paper's page; accept,
  reject, snooze and "assign to me" also apply to the ticked rows.

Every page checks its permission (curation/roles.py: curators and up) and
calls the services in `curation.triage` and `curation.candidates`, which check
again; nothing here talks to NCBI.
"""

from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db.models import OuterRef, Prefetch, Q, Subquery
from django.http import HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.safestring import mark_safe

from curation import candidates, triage
from curation.admin.common import admin_url, int_or_none, on_changelist
from curation.admin.history import CuratedAdminMixin, HistoryAdminMixin
from curation.admin.references import AUTO_REFRESH_SECONDS, progress_html
from curation.models import (
    RELEVANCE_WEIGHTS,
    Candidate,
    CandidateMechanism,
    CandidateSource,
    Mechanism,
    RejectReason,
    SavedSearch,
    SearchPreview,
    SearchRun,
)
from curation.pubmed_records import plain_text
from curation.roles import RUN_SAVED_SEARCHES, TRIAGE_CANDIDATES

QUEUE_PER_PAGE = 20
RUNS_SHOWN = 10
# How the page names each term of the relevance formula.
RELEVANCE_LABELS = {
    "suggestion_count": "people who suggested it",
    "search_count": "saved searches that found it",
    "gene_count": "atlas genes named",
    "mechanism_count": "atlas mechanisms named",
    "therapy_count": "atlas therapies named",
}


def relevance_formula() -> str:
    """'relevance = 5 × people who suggested it + 3 × saved searches that found it + …', from the weights."""
    return "relevance = " + " + ".join(
        f"{weight} × {RELEVANCE_LABELS[name]}" for name, weight in RELEVANCE_WEIGHTS.items()
    )


# ---------------------------------------------------------------------------
# Saved searches
# ---------------------------------------------------------------------------
def _ncbi_list(items) -> str:
    if not items:
        return mark_safe('<span class="quiet">none</span>')
    return format_html(
        "<ul class='ncbi-notes'>{}</ul>", format_html_join("", "<li>{}</li>", ((item,) for item in items))
    )


def run_row(run: SearchRun) -> tuple:
    counts = run.counts()
    return (
        admin_url("searchrun_change", run.pk),
        f"#{run.pk}",
        f"{run.window_start:%Y/%m/%d}–{run.window_end:%Y/%m/%d}",
        run.get_state_display(),
        run.count_found if run.count_found is not None else "—",
        run.new_candidates if run.new_candidates is not None else "—",
        progress_html(counts, run.summary(counts)),
        run.error or "",
    )


@admin.register(SavedSearch)
class SavedSearchAdmin(CuratedAdminMixin, admin.ModelAdmin):
    list_display = ("name", "schedule", "active", "watched", "covered_until", "last_run", "ncbi_notes")
    list_filter = ("active", "schedule")
    search_fields = ("name", "query")
    autocomplete_fields = ("mechanisms",)
    actions = ["run_selected_now"]
    fieldsets = (
        (None, {"fields": ("name", "query", "mechanisms", "schedule", "active", "first_lookback_days")}),
        (
            "What NCBI says about the query (its last run)",
            {"fields": ("covered_until", "translation", "errors", "warnings")},
        ),
        ("Recent runs", {"fields": ("recent_runs",)}),
    )
    readonly_fields = ("covered_until", "translation", "errors", "warnings", "recent_runs")
    change_form_template = "admin/curation/savedsearch/change_form.html"

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if on_changelist(request, self):
            latest = SearchRun.objects.filter(search=OuterRef("pk")).order_by("-created_at", "-pk")
            queryset = queryset.prefetch_related("mechanisms").annotate(
                last_run_id=Subquery(latest.values("pk")[:1]), last_run_state=Subquery(latest.values("state")[:1])
            )
        return queryset

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        # A new search has no NCBI notes and no runs yet.
        return fieldsets if obj is not None else fieldsets[:1]

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:object_id>/run/", view(self.run_now_view), name="curation_savedsearch_run"),
            path("preview/<int:preview_id>/", view(self.preview_view), name="curation_savedsearch_preview"),
        ] + super().get_urls()

    def has_run_savedsearch_permission(self, request):
        return request.user.has_perm(RUN_SAVED_SEARCHES)

    # --- list columns ----------------------------------------------------------

    @admin.display(description="watches")
    def watched(self, obj):
        return ", ".join(m.name for m in obj.mechanisms.all()) or "—"

    @admin.display(description="last run")
    def last_run(self, obj):
        if not getattr(obj, "last_run_id", None):
            return "never"
        state = SearchRun.State(obj.last_run_state).label
        return format_html('<a href="{}">{}</a>', admin_url("searchrun_change", obj.last_run_id), state)

    @admin.display(description="NCBI says")
    def ncbi_notes(self, obj):
        notes = [*obj.ncbi_errors, *obj.ncbi_warnings]
        return "; ".join(notes) or "—"

    # --- read-only fields ------------------------------------------------------

    @admin.display(description="NCBI's translation")
    def translation(self, obj):
        return obj.translation or "—"

    @admin.display(description="NCBI's errors (ErrorList)")
    def errors(self, obj):
        return _ncbi_list(obj.ncbi_errors)

    @admin.display(description="NCBI's warnings (WarningList)")
    def warnings(self, obj):
        return _ncbi_list(obj.ncbi_warnings)

    @admin.display(description="runs")
    def recent_runs(self, obj):
        runs = list(obj.runs.all()[:RUNS_SHOWN])
        if not runs:
            return "None yet."
        rows = format_html_join(
            "",
            '<tr><td><a href="{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>',
            (run_row(run) for run in runs),
        )
        return format_html(
            '<table class="search-runs"><thead><tr><th>Run</th><th>Entry dates</th><th>State</th><th>Found</th>'
            "<th>New</th><th>Fetched</th><th>Reason</th></tr></thead><tbody>{}</tbody></table>",
            rows,
        )

    # --- saving: a new search is previewed first -----------------------------------

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        adding = object_id is None
        if request.method == "POST" and (adding or "_preview" in request.POST):
            return self._preview_form(request, object_id, form_url, extra_context)
        return super().changeform_view(request, object_id, form_url, extra_context)

    def _preview_form(self, request, object_id, form_url, extra_context):
        """Validate the form and start a preview instead of saving; an invalid form is shown with its errors."""
        obj = self.get_object(request, object_id) if object_id else None
        if object_id and obj is None:
            return redirect(admin_url("savedsearch_changelist"))
        allowed = self.has_change_permission(request, obj) if obj else self.has_add_permission(request)
        if not allowed:
            raise PermissionDenied
        form = self.get_form(request, obj, change=obj is not None)(request.POST, instance=obj)
        if not form.is_valid():
            # Rendering the page again through the normal view shows the errors with the user's input.
            request.POST = request.POST.copy()
            request.POST.pop("_preview", None)
            if obj is None:
                return super().changeform_view(request, None, form_url, extra_context)
        else:
            data = form.cleaned_data
            draft = {name: data.get(name) for name in triage.DRAFT_FIELDS if name != "query"}
            draft["mechanisms"] = [m.pk for m in data.get("mechanisms") or []]
            draft["expected_version"] = data.get("expected_version")
            try:
                preview = triage.start_preview(
                    data["query"],
                    by=request.user,
                    draft=draft,
                    search=obj,
                    lookback_days=data.get("first_lookback_days"),
                )
            except triage.SearchError as exc:
                messages.error(request, str(exc))
                return redirect(request.path)
            return redirect(admin_url("savedsearch_preview", preview.pk))
        return super().changeform_view(request, object_id, form_url, extra_context)

    def save_model(self, request, obj, form, change):
        if change:
            old_query = SavedSearch.objects.filter(pk=obj.pk).values_list("query", flat=True).first() or ""
            triage.restart_if_query_changed(obj, old_query)
        super().save_model(request, obj, form, change)

    def preview_view(self, request, preview_id):
        """The preview of a query: waits for NCBI, then shows what it found; "Save" saves the search."""
        preview = get_object_or_404(SearchPreview.objects.select_related("search"), pk=preview_id)
        can_save = (
            self.has_change_permission(request, preview.search) if preview.search else self.has_add_permission(request)
        )
        if not can_save:
            raise PermissionDenied
        if request.method == "POST":
            try:
                search = triage.save_from_preview(preview, by=request.user)
            except triage.SearchError as exc:
                messages.error(request, str(exc))
                return redirect(admin_url("savedsearch_preview", preview.pk))
            messages.success(
                request,
                f"Saved “{search}”. It runs {search.get_schedule_display().lower()}; "
                "press “Run now” to search at once.",
            )
            return redirect(admin_url("savedsearch_change", search.pk))
        draft = preview.draft or {}
        edit_url = (
            admin_url("savedsearch_change", preview.search_id)
            if preview.search_id
            else admin_url("savedsearch_add")
            + "?"
            + urlencode(
                {
                    "name": draft.get("name") or "",
                    "query": preview.query,
                    "schedule": draft.get("schedule") or "",
                    "mechanisms": ",".join(str(pk) for pk in draft.get("mechanisms") or []),
                    "first_lookback_days": draft.get("first_lookback_days") or "",
                }
            )
        )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Preview: {draft.get('name') or preview.query}",
            "preview": preview,
            "papers": preview.first_papers,
            "mechanisms": Mechanism.objects.filter(pk__in=draft.get("mechanisms") or []),
            "edit_url": edit_url,
            "auto_refresh": AUTO_REFRESH_SECONDS if preview.state == SearchPreview.State.SEARCHING else None,
        }
        return TemplateResponse(request, "admin/curation/savedsearch/preview.html", context)

    # --- running ---------------------------------------------------------------

    @admin.action(description="Run selected now", permissions=["run_savedsearch"])
    def run_selected_now(self, request, queryset):
        for search in queryset.order_by("name"):
            self._start(request, search)

    def run_now_view(self, request, object_id):
        """POST: run one saved search now (the "Run now" button on its page)."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not request.user.has_perm(RUN_SAVED_SEARCHES):
            raise PermissionDenied
        search = get_object_or_404(SavedSearch, pk=object_id)
        run = self._start(request, search)
        return redirect(admin_url("searchrun_change", run.pk) if run else admin_url("savedsearch_change", search.pk))

    def _start(self, request, search):
        try:
            run = triage.start_run(search, by=request.user)
        except triage.SearchError as exc:
            self.message_user(request, str(exc), messages.WARNING)
            return None
        self.message_user(
            request,
            format_html(
                'Started <a href="{}">run #{}</a> of “{}” over entry dates {}–{}.',
                admin_url("searchrun_change", run.pk),
                run.pk,
                search,
                f"{run.window_start:%Y/%m/%d}",
                f"{run.window_end:%Y/%m/%d}",
            ),
            messages.SUCCESS,
        )
        return run


# ---------------------------------------------------------------------------
# Runs
# ---------------------------------------------------------------------------
@admin.register(SearchRun)
class SearchRunAdmin(admin.ModelAdmin):
    list_display = (
        "__str__",
        "state",
        "trigger",
        "count_found",
        "new_candidates",
        "found_again",
        "progress",
        "created_at",
    )
    list_filter = ("state", "trigger", "search")
    list_select_related = ("search",)
    fields = (
        "search",
        "query",
        "trigger",
        "requested_by",
        "window",
        "state",
        "count_found",
        "esearch_requests",
        "progress",
        "new_candidates",
        "found_again",
        "already_in_atlas",
        "created_at",
        "started_at",
        "finished_at",
        "error",
    )
    readonly_fields = fields
    change_form_template = "admin/curation/refreshrun/change_form.html"  # the same self-reloading page as refreshes

    def has_add_permission(self, request):
        return False  # runs are started by beat and by "Run now"

    def has_change_permission(self, request, obj=None):
        return False  # a run is a record of what happened

    @admin.display(description="entry dates")
    def window(self, obj):
        return f"{obj.window_start:%Y/%m/%d}–{obj.window_end:%Y/%m/%d}"

    @admin.display(description="fetch of the new papers")
    def progress(self, obj):
        counts = obj.counts()
        return progress_html(counts, obj.summary(counts))

    def changelist_view(self, request, extra_context=None):
        active = SearchRun.objects.filter(state__in=SearchRun.ACTIVE_STATES).exists()
        extra_context = {**(extra_context or {}), "auto_refresh": AUTO_REFRESH_SECONDS if active else None}
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        run = SearchRun.objects.filter(pk=int_or_none(object_id)).first()
        active = run is not None and run.is_active
        extra_context = {**(extra_context or {}), "auto_refresh": AUTO_REFRESH_SECONDS if active else None}
        return super().change_view(request, object_id, form_url, extra_context)


# ---------------------------------------------------------------------------
# The queue
# ---------------------------------------------------------------------------
class QueueFilter(admin.SimpleListFilter):
    """Which candidates the queue lists; by default those waiting now (undecided, not snoozed)."""

    title = "queue"
    parameter_name = "queue"

    def lookups(self, request, model_admin):
        return [
            ("mine", "Assigned to me"),
            ("snoozed", "Snoozed"),
            ("accepted", "Accepted"),
            ("rejected", "Rejected"),
            ("all", "All"),
        ]

    def choices(self, changelist):
        # "Waiting" stands where the admin puts "All", because it is what the list shows unfiltered.
        yield {
            "selected": self.value() is None,
            "query_string": changelist.get_query_string(remove=[self.parameter_name]),
            "display": "Waiting",
        }
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self.value() == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request, queryset):
        value = self.value()
        if value is None:
            return queryset.waiting()
        if value == "mine":
            return queryset.undecided().filter(assigned_to=request.user)
        if value == "snoozed":
            return queryset.snoozed()
        if value in (Candidate.State.ACCEPTED, Candidate.State.REJECTED):
            return queryset.filter(state=value)
        return queryset


class FoundByFilter(admin.SimpleListFilter):
    title = "found by"
    parameter_name = "search"

    def lookups(self, request, model_admin):
        return [(str(pk), name) for pk, name in SavedSearch.objects.values_list("pk", "name")] + [("people", "People")]

    def queryset(self, request, queryset):
        if self.value() == "people":
            return queryset.filter(suggestion_count__gt=0)
        if self.value() and self.value().isdigit():
            return queryset.filter(sources__search_id=int(self.value()))
        return queryset


class SuggestedForFilter(admin.SimpleListFilter):
    title = "suggested for"
    parameter_name = "mechanism"

    def lookups(self, request, model_admin):
        return [(str(pk), name) for pk, name in candidates.suggestable_mechanisms().values_list("pk", "name")]

    def queryset(self, request, queryset):
        if self.value() and self.value().isdigit():
            return queryset.filter(mechanism_links__mechanism_id=int(self.value()))
        return queryset


class RejectForm(forms.Form):
    reason = forms.ChoiceField(choices=[("", "Choose a reason"), *RejectReason.choices])
    note = forms.CharField(
        required=False,
        max_length=Candidate._meta.get_field("reject_note").max_length,
        widget=forms.TextInput(attrs={"size": 60}),
        help_text="Required for “Other”; helps the next curator who wonders.",
    )


SNOOZE_CHOICES = [(7, "a week"), (30, "a month"), (90, "three months")]


@admin.register(Candidate)
class CandidateAdmin(HistoryAdminMixin, admin.ModelAdmin):
    list_display = ("paper", "found_by", "suggested_for", "score", "assigned_to")
    list_display_links = None
    list_filter = (QueueFilter, FoundByFilter, SuggestedForFilter, "pub_year", "assigned_to")
    search_fields = ("title", "journal", "pmid__exact")
    list_per_page = QUEUE_PER_PAGE
    actions = ["accept_selected", "reject_selected", "snooze_selected", "assign_selected_to_me"]
    change_list_template = "admin/curation/candidate/change_list.html"

    def get_queryset(self, request):
        queryset = super().get_queryset(request).select_related("assigned_to", "decided_by")
        return queryset.prefetch_related(
            Prefetch("sources", queryset=CandidateSource.objects.select_related("search", "suggested_by")),
            Prefetch(
                "mechanism_links",
                queryset=CandidateMechanism.objects.select_related("mechanism").order_by("mechanism__name"),
            ),
        )

    def get_ordering(self, request):
        return ["-relevance", "-pub_year", "-pmid"]

    def get_changelist_instance(self, request):
        changelist = super().get_changelist_instance(request)
        tagger = candidates.atlas_tagger()  # one dictionary for the whole page
        for candidate in changelist.result_list:
            candidate.tagger = tagger
        return changelist

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "relevance_formula": relevance_formula()}
        return super().changelist_view(request, extra_context)

    def has_add_permission(self, request):
        return False  # candidates come from saved searches and readers' suggestions

    def has_change_permission(self, request, obj=None):
        return False  # decisions are actions on the paper's page, not edits of the row

    def has_delete_permission(self, request, obj=None):
        return False  # a rejected paper is kept so that it never comes back

    def has_triage_candidate_permission(self, request):
        return request.user.has_perm(TRIAGE_CANDIDATES)

    # --- columns ---------------------------------------------------------------

    @admin.display(description="paper", ordering="-relevance")
    def paper(self, obj):
        tagger = getattr(obj, "tagger", None) or candidates.atlas_tagger()
        return format_html(
            '<input type="hidden" name="version-{}" value="{}">'
            '<div class="candidate"><a class="candidate-title" href="{}">{}</a>'
            '<div class="candidate-meta">{} · {} · <a href="{}" rel="noopener noreferrer">PMID {}</a>{}</div>'
            '<details class="candidate-abstract"><summary>Abstract</summary>{}</details></div>',
            obj.pk,
            obj.version,
            admin_url("candidate_change", obj.pk),
            highlighted(tagger, obj.title) or "(no title)",
            obj.journal or "journal unknown",
            obj.pub_year or "year unknown",
            obj.pubmed_url,
            obj.pmid,
            _state_note(obj),
            highlighted_abstract(tagger, obj.abstract),
        )

    @admin.display(description="found by")
    def found_by(self, obj):
        return format_html_join(mark_safe("<br>"), "{}", ((_source_label(s),) for s in obj.sources.all())) or "—"

    @admin.display(description="suggested for")
    def suggested_for(self, obj):
        links = list(obj.mechanism_links.all())
        if not links:
            return "—"
        return format_html_join(
            mark_safe("<br>"),
            '<span title="{}">{}</span>',
            ((link.get_via_display(), link.mechanism.name) for link in links),
        )

    @admin.display(description="relevance", ordering="-relevance")
    def score(self, obj):
        parts = [f"{weight}×{count}" for _name, weight, count in obj.relevance_parts() if count]
        return format_html('<strong>{}</strong><div class="quiet">{}</div>', obj.relevance, " + ".join(parts) or "0")

    # --- bulk actions ----------------------------------------------------------

    def _posted_decisions(self, request, queryset):
        """The ticked candidates with the version each row showed (rows carry it in a hidden field)."""
        decisions = []
        for candidate in queryset.order_by("pk"):
            version = request.POST.get(f"version-{candidate.pk}", "")
            decisions.append((candidate, int(version) if version.isdigit() else None))
        return decisions

    def _report(self, request, verb, result):
        if result.done:
            pmids = ", ".join(str(c.pmid) for c in result.done[:20])
            self.message_user(request, f"{verb} {len(result.done)} paper(s): PMID {pmids}.", messages.SUCCESS)
        for reason in result.refused[:20]:
            self.message_user(request, f"Not done: {reason}", messages.WARNING)

    @admin.action(description="Accept selected (create their references)", permissions=["triage_candidate"])
    def accept_selected(self, request, queryset):
        result = candidates.bulk_decide(
            self._posted_decisions(request, queryset),
            lambda c, v: candidates.accept(c, by=request.user, expected_version=v).candidate,
        )
        self._report(request, "Accepted", result)

    @admin.action(description="Reject selected…", permissions=["triage_candidate"])
    def reject_selected(self, request, queryset):
        form = RejectForm(request.POST if "reason" in request.POST else None)
        if form.is_bound and form.is_valid():
            data = form.cleaned_data
            try:
                result = candidates.bulk_decide(
                    self._posted_decisions(request, queryset),
                    lambda c, v: candidates.reject(
                        c, by=request.user, expected_version=v, reason=data["reason"], note=data["note"]
                    ),
                )
            except candidates.TriageError as exc:
                self.message_user(request, str(exc), messages.ERROR)
                return None
            self._report(request, "Rejected", result)
            if not result.refused or result.done:
                return None
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Reject the selected papers",
            "form": form,
            "decisions": self._posted_decisions(request, queryset),
            "action": "reject_selected",
        }
        return TemplateResponse(request, "admin/curation/candidate/reject_selected.html", context)

    @admin.action(description="Snooze selected for a week", permissions=["triage_candidate"])
    def snooze_selected(self, request, queryset):
        until = timezone.localdate() + timedelta(days=7)
        result = candidates.bulk_decide(
            self._posted_decisions(request, queryset),
            lambda c, v: candidates.snooze(c, by=request.user, expected_version=v, until=until),
        )
        self._report(request, f"Snoozed until {until:%Y-%m-%d}", result)

    @admin.action(description="Assign selected to me", permissions=["triage_candidate"])
    def assign_selected_to_me(self, request, queryset):
        result = candidates.bulk_decide(
            self._posted_decisions(request, queryset),
            lambda c, v: candidates.assign(c, by=request.user, expected_version=v, to=request.user),
        )
        self._report(request, "Assigned to you", result)

    # --- one paper's page: read, then decide ------------------------------------

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:object_id>/decide/", view(self.decide_view), name="curation_candidate_decide")
        ] + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        candidate = self.get_queryset(request).filter(pk=int_or_none(object_id)).first()
        if candidate is None:
            self.message_user(request, "That paper is not in the queue.", messages.WARNING)
            return redirect(admin_url("candidate_changelist"))
        if not self.has_view_permission(request, candidate):
            raise PermissionDenied
        tagger = candidates.atlas_tagger()
        suggested = [link.mechanism for link in candidate.mechanism_links.all()]
        others = candidates.suggestable_mechanisms().exclude(pk__in=[m.pk for m in suggested]).order_by("name")
        curators = (
            get_user_model()
            .objects.filter(Q(groups__permissions__codename="triage_candidate") | Q(is_superuser=True), is_active=True)
            .distinct()
            .order_by("username")
        )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": plain_text(candidate.title) or f"PMID {candidate.pmid}",
            "candidate": candidate,
            "title_html": highlighted(tagger, candidate.title),
            "abstract_html": highlighted_abstract(tagger, candidate.abstract),
            "authors": ", ".join(_author(a) for a in (candidate.record.get("authors") or [])[:12]),
            "sources": [_source_label(s) for s in candidate.sources.all()],
            "suggested": suggested,
            "other_mechanisms": others,
            "curators": curators,
            "reject_form": RejectForm(),
            "snooze_choices": SNOOZE_CHOICES,
            "can_decide": request.user.has_perm(TRIAGE_CANDIDATES) and candidate.state == Candidate.State.QUEUED,
            "relevance_parts": [
                (RELEVANCE_LABELS[name], weight, count) for name, weight, count in candidate.relevance_parts()
            ],
            "relevance_formula": relevance_formula(),
            "decide_url": admin_url("candidate_decide", candidate.pk),
            "history_url": admin_url("candidate_history", candidate.pk),
        }
        return TemplateResponse(request, "admin/curation/candidate/decide.html", context)

    def decide_view(self, request, object_id):
        """POST: accept, reject, snooze or assign one candidate, based on the version the page showed."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not request.user.has_perm(TRIAGE_CANDIDATES):
            raise PermissionDenied
        candidate = get_object_or_404(Candidate, pk=object_id)
        version = request.POST.get("version", "")
        version = int(version) if version.isdigit() else None
        page = admin_url("candidate_change", candidate.pk)
        action = request.POST.get("action")
        try:
            if action == "accept":
                return self._accept(request, candidate, version)
            if action == "reject":
                form = RejectForm(request.POST)
                if not form.is_valid():
                    messages.error(
                        request, "Choose a reason for rejecting the paper (a note is at most 500 characters)."
                    )
                    return redirect(page)
                candidates.reject(
                    candidate,
                    by=request.user,
                    expected_version=version,
                    reason=form.cleaned_data["reason"],
                    note=form.cleaned_data["note"],
                )
                messages.success(request, f"Rejected PMID {candidate.pmid}: it will not come back to the queue.")
                return redirect(admin_url("candidate_changelist"))
            if action == "snooze":
                days = request.POST.get("days", "")
                until = timezone.localdate() + timedelta(days=int(days)) if days.isdigit() else None
                candidates.snooze(candidate, by=request.user, expected_version=version, until=until)
                messages.success(
                    request, f"Snoozed PMID {candidate.pmid} until {until:%Y-%m-%d}." if until else "Woken up."
                )
                return redirect(admin_url("candidate_changelist"))
            if action == "assign":
                to_id = int_or_none(request.POST.get("to", ""))
                to = get_user_model().objects.filter(pk=to_id).first() if to_id else None
                candidates.assign(candidate, by=request.user, expected_version=version, to=to)
                messages.success(
                    request, f"Assigned PMID {candidate.pmid} to {to.get_username()}." if to else "Unassigned."
                )
                return redirect(page)
        except candidates.TriageError as exc:
            messages.error(request, str(exc))
            return redirect(page)
        messages.error(request, "Choose accept, reject, snooze or assign.")
        return redirect(page)

    def _accept(self, request, candidate, version):
        mechanism_id = int_or_none(request.POST.get("mechanism", ""))
        mechanism = Mechanism.objects.filter(pk=mechanism_id).first() if mechanism_id else None
        if mechanism_id and mechanism is None:
            raise candidates.TriageError("That mechanism no longer exists.")
        acceptance = candidates.accept(candidate, by=request.user, expected_version=version, mechanism=mechanism)
        reference = acceptance.reference
        state = "created" if acceptance.created else "already in the atlas"
        if acceptance.evidence_for is None:
            messages.success(request, f"Accepted PMID {reference.pmid}: reference {state}, needing review.")
            return redirect(admin_url("reference_change", reference.pk))
        target = acceptance.evidence_for
        note = " (a draft revision of the published entry, opened for it)" if acceptance.revision_opened else ""
        messages.success(
            request,
            f"Accepted PMID {reference.pmid}: reference {state}, needing review. "
            f"Write its evidence for “{target}”{note}.",
        )
        return redirect(
            reverse("admin:curation_evidence_add")
            + "?"
            + urlencode({"mechanism": target.pk, "reference": reference.pk})
        )


def highlighted(tagger, markup: str) -> str:
    """PubMed markup as plain text, escaped, with the atlas's terms wrapped in <mark>."""
    return mark_safe(tagger.highlight(plain_text(markup or "")))  # noqa: S308 - the tagger escapes every character


def highlighted_abstract(tagger, sections) -> str:
    if not sections:
        return mark_safe('<p class="quiet">No abstract in PubMed.</p>')
    return format_html_join(
        "",
        "<p>{}{}</p>",
        (
            (
                format_html("<strong>{}:</strong> ", section.get("label")) if section.get("label") else "",
                highlighted(tagger, section.get("text", "")),
            )
            for section in sections
        ),
    )


def _state_note(candidate) -> str:
    if candidate.state == Candidate.State.QUEUED and candidate.snoozed_until:
        return format_html(' · <span class="quiet">snoozed until {}</span>', f"{candidate.snoozed_until:%Y-%m-%d}")
    if candidate.state != Candidate.State.QUEUED:
        return format_html(" · <strong>{}</strong>", candidate.get_state_display())
    return ""


def _source_label(source) -> str:
    if source.search_id:
        return f"search “{source.search.name}”"
    return f"suggested by {source.suggested_by.get_username()}"


def _author(author: dict) -> str:
    return author.get("collective_name") or " ".join(filter(None, [author.get("last_name"), author.get("initials")]))
