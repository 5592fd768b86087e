"""Admin for mechanisms and their evidence, with the review workflow's buttons.

Tuned for curators: related rows are picked by autocomplete, lists can be
searched and filtered, and every rule a curator must follow is written next
to the field it concerns.

The review workflow (curation/workflow.py) owns the status: Submit / Publish
/ Reject / Retire are buttons on the mechanism's page, shown and allowed per
permission and state, never fields of the form. A published mechanism's page
is read-only and its "Edit" button opens (or reopens) a draft revision
instead of changing the live row; evidence of a published or retired
mechanism is read-only outside a revision. Every view here enforces its
permission itself; the services in `curation.workflow` check again.
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.text import Truncator

from curation import candidates, workflow
from curation.admin.common import EstimatedCountPaginator, admin_url, on_changelist, row_count, short_citation
from curation.admin.history import CuratedAdminMixin
from curation.admin.versioning import VersionedInlineMixin
from curation.concurrency import StaleEdit, check_version
from curation.models import Evidence, Mechanism, Status
from curation.workflow import EVIDENCE_RELATED, PUBLISH, REJECT, RETIRE, REVISE, SUBMIT, WorkflowError

# A mechanism in these states is public: its row and its evidence change only through a revision.
LOCKED_STATES = (Status.PUBLISHED, Status.RETIRED)


def _locked(mechanism) -> bool:
    return mechanism is not None and mechanism.status in LOCKED_STATES


# ---------------------------------------------------------------------------
# Evidence
# ---------------------------------------------------------------------------
EVIDENCE_HELP_TEXTS = {
    "reference": "The paper the claim rests on. Not in the list? Add it by PMID or citation on the "
    "“Add references” page (References › Add references) first.",
    "direction": "Refutes: the paper argues against the mechanism. Record refuting papers too.",
    "level": "The strongest kind of data in the paper behind this claim, not the journal's prestige. "
    "A review article is context: it is listed but never counted in the consensus, and a mechanism "
    "is published only with at least one item that is not a review.",
    "model_system": "What the claim was shown in, whatever its level: a cohort of patients, a trial, mice "
    "(syngeneic, genetically engineered, xenograft/PDX), organoids, cell lines, a screen, or data analysed "
    "computationally. “Not applicable” for a review, and only for a review.",
    "therapy": "Only if the claim is about one therapy.",
    "cancer_type": "Only if the claim is about one cancer type.",
    "phenotype": "Primary: never responds; adaptive: adapts during response; acquired: relapses after response.",
}


class EvidenceForm(forms.ModelForm):
    class Meta:
        model = Evidence
        fields = (
            "reference", "statement", "direction", "level", "model_system", "therapy", "cancer_type", "phenotype",
            "locator",
        )  # fmt: skip
        help_texts = EVIDENCE_HELP_TEXTS
        widgets = {"statement": forms.Textarea(attrs={"rows": 2, "cols": 50})}


class EvidenceOfEditableMechanismForm(EvidenceForm):
    """The evidence list's form: a row may not be moved into (or created under) a public mechanism."""

    def clean_mechanism(self):
        mechanism = self.cleaned_data.get("mechanism")
        if _locked(mechanism):
            raise ValidationError(
                f"“{mechanism}” is {mechanism.get_status_display().lower()}: open it and press “Edit” to change "
                "its evidence in a draft revision."
            )
        return mechanism


class EvidenceFormSet(forms.BaseInlineFormSet):
    def clean(self):
        """Refuse the same claim from the same paper twice within one save.

        The database refuses it too (case-insensitively), but only after the
        rows of the form are written; here the curator gets a message instead.
        """
        super().clean()
        seen = set()
        for form in self.forms:
            if not hasattr(form, "cleaned_data") or form.cleaned_data.get("DELETE"):
                continue
            reference, statement = form.cleaned_data.get("reference"), form.cleaned_data.get("statement")
            if reference is None or not statement:
                continue
            key = (reference.pk, statement.strip().lower())
            if key in seen:
                raise ValidationError(f"Two rows cite PMID {reference.pmid} for the same claim; keep one.")
            seen.add(key)


class _NoAddingReferences:
    """References are added on the "Add references" page only, so hide the '+' that would open a blank one."""

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        formfield = super().formfield_for_dbfield(db_field, request, **kwargs)
        if db_field.name == "reference" and formfield is not None:
            formfield.widget.can_add_related = False
        return formfield


class EvidenceInline(VersionedInlineMixin, _NoAddingReferences, admin.TabularInline):
    """Evidence rows on a mechanism's page: versioned, and read-only while the mechanism is public."""

    model = Evidence
    form = EvidenceForm
    formset = EvidenceFormSet
    extra = 1
    autocomplete_fields = ("reference", "therapy", "cancer_type")
    verbose_name = "evidence item"
    verbose_name_plural = "evidence: one claim per row, each resting on one reference"

    def get_queryset(self, request):
        # Each row prints its evidence's name, which reads the mechanism and the reference.
        return super().get_queryset(request).select_related("mechanism", "reference")

    def has_add_permission(self, request, obj=None):
        return not _locked(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return not _locked(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return not _locked(obj) and super().has_delete_permission(request, obj)


@admin.register(Evidence)
class EvidenceAdmin(CuratedAdminMixin, _NoAddingReferences, admin.ModelAdmin):
    """The evidence list: rows of a published or retired mechanism are read-only here."""

    form = EvidenceOfEditableMechanismForm
    list_display = (
        "mechanism", "cited_reference", "short_statement", "direction", "level", "model_system", "therapy",
        "cancer_type",
    )  # fmt: skip
    list_select_related = ("mechanism", "reference", "therapy", "cancer_type")
    list_filter = ("direction", "level", "model_system", "phenotype", "mechanism__category", "therapy", "cancer_type")
    # Newest first by primary key: an index scan that stops at the page, where the model's ordering
    # (by mechanism name and paper year) sorted all 200,000 rows first. No second whole-table COUNT.
    ordering = ("-pk",)
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    search_fields = ("statement", "mechanism__name", "mechanism__slug", "reference__pmid__exact", "reference__title")
    autocomplete_fields = ("mechanism", "reference", "therapy", "cancer_type")
    readonly_fields = ("created_by", "created_at", "updated_at")
    fields = ("mechanism", *EvidenceForm.Meta.fields, *readonly_fields)

    @admin.display(description="reference", ordering="reference__pmid")
    def cited_reference(self, obj):
        return short_citation(obj.reference)

    @admin.display(description="statement")
    def short_statement(self, obj):
        return Truncator(obj.statement).chars(90)

    def has_change_permission(self, request, obj=None):
        if obj is not None and _locked(obj.mechanism):
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and _locked(obj.mechanism):
            return False
        return super().has_delete_permission(request, obj)

    def get_actions(self, request):
        # A bulk delete cannot tell public rows from draft ones; delete from a mechanism's page.
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions


# ---------------------------------------------------------------------------
# Mechanisms
# ---------------------------------------------------------------------------
WORKFLOW_FIELDS = (
    "status",
    "revision_of",
    "submitted_by",
    "submitted_at",
    "reviewed_by",
    "reviewed_at",
    "rejection_reason",
    "published_at",
    "version",
)
RECORD_FIELDS = ("created_by", "created_at", "updated_by", "updated_at")
MECHANISM_HELP_TEXTS = {
    "name": "What the tumour or its environment does, as a reader would search for it (e.g. “Loss of B2M”).",
    "category": "Tumour-intrinsic: a property of the cancer cells. Tumour-extrinsic: of the stroma, immune "
    "cells, microbiome or host.",
    "genes": "HGNC symbols of the genes whose alteration causes the mechanism, not every gene mentioned.",
    "therapies": "Therapies the cited evidence shows the mechanism resisting.",
    "cancer_types": "Cancer types the cited evidence covers; leave empty when it holds across cancers.",
}

# The workflow's buttons: label, the service that acts, and whether a confirmation page asks first.
ACTIONS = {
    SUBMIT: {"label": "Submit for review", "service": workflow.submit, "confirm": False},
    PUBLISH: {"label": "Publish", "service": workflow.publish, "confirm": False},
    REJECT: {"label": "Reject…", "service": workflow.reject, "confirm": True},
    RETIRE: {"label": "Retire…", "service": workflow.retire, "confirm": True},
    REVISE: {"label": "Edit (opens a draft revision)", "service": workflow.start_revision, "confirm": False},
}
DONE = {
    SUBMIT: "Submitted “{obj}” for review.",
    PUBLISH: "Published “{obj}”: readers see it now.",
    REJECT: "Sent “{obj}” back to its author with your reason.",
    RETIRE: "Retired “{obj}”: readers no longer see it.",
    REVISE: "This is the draft revision of “{obj}”: readers see the published text until a reviewer publishes it.",
}


class RejectForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 5, "cols": 60}),
        help_text="The author sees this on the mechanism's page. Say what to fix.",
        error_messages={"required": "Say why the mechanism is rejected: a reason is required."},
    )


class ParentFilter(admin.SimpleListFilter):
    """Top-level mechanisms, or the sub-mechanisms of one parent (picked from the list's parent column).

    Not a list of every parent: at 10,000 mechanisms the admin's related-only filter built
    its choices from the annotated list (seconds) and rendered thousands of links.
    """

    title = "parent"
    parameter_name = "parent"

    def lookups(self, request, model_admin):
        choices = [("none", "Top level (no parent)")]
        value = self.value()
        if value and value.isascii() and value.isdigit() and len(value) < 10:
            parent = Mechanism.objects.filter(pk=int(value)).only("name").first()
            if parent is not None:
                choices.append((value, f"Under {parent.name}"))
        return choices

    def queryset(self, request, queryset):
        value = self.value()
        if value == "none":
            return queryset.filter(parent__isnull=True)
        if value and value.isascii() and value.isdigit() and len(value) < 10:
            return queryset.filter(parent_id=int(value))
        return queryset


class NamedVocabularyFilter(admin.RelatedFieldListFilter):
    """Therapies or cancer types some mechanism names, read from their own small table.

    Django's RelatedOnlyFieldListFilter reads them from the list's queryset (with its annotations)
    over every mechanism; here it is one indexed query over the link table.
    """

    def field_choices(self, field, request, model_admin):
        model = field.remote_field.model
        named = field.remote_field.through.objects.values(field.m2m_reverse_field_name())
        ordering = self.field_admin_ordering(field, request, model_admin)
        return [(term.pk, str(term)) for term in model.objects.filter(pk__in=named).order_by(*(ordering or ["pk"]))]


@admin.register(Mechanism)
class MechanismAdmin(CuratedAdminMixin, admin.ModelAdmin):
    inlines = [EvidenceInline]
    list_display = ("name", "slug", "category", "parent_link", "workflow_state", "evidence_count", "updated_at")
    list_select_related = ("parent",)
    list_filter = (
        "status",
        "category",
        "primary_resistance",
        "adaptive_resistance",
        "acquired_resistance",
        ParentFilter,
        ("therapies", NamedVocabularyFilter),
        ("cancer_types", NamedVocabularyFilter),
    )
    # No second COUNT(*) of the whole table for "N total" next to the filtered count.
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    search_fields = ("name", "aliases", "slug", "summary", "genes__symbol")
    autocomplete_fields = ("parent", "genes", "therapies", "cancer_types")
    prepopulated_fields = {"slug": ("name",)}
    readonly_fields = (*WORKFLOW_FIELDS, *RECORD_FIELDS)
    fieldsets = (
        (None, {"fields": ("name", "aliases", "slug", "category", "parent")}),
        (
            "What it is and how to overcome it",
            {
                "fields": ("summary", "strategies"),
                "description": "Write for a clinician or scientist, in your own words. Every statement must be "
                "backed by an evidence row below.",
            },
        ),
        ("Genes, therapies and cancer types", {"fields": ("genes", "therapies", "cancer_types")}),
        (
            "Resistance phenotypes",
            {
                "fields": ("primary_resistance", "adaptive_resistance", "acquired_resistance"),
                "description": "Tick every kind of resistance the cited evidence shows.",
            },
        ),
        (
            "Review",
            {
                "fields": WORKFLOW_FIELDS,
                "description": "Set by the review workflow: submit, publish, reject and retire are actions, not edits.",
            },
        ),
        ("Record", {"fields": RECORD_FIELDS, "classes": ["collapse"]}),
    )
    confirm_template = "admin/curation/mechanism/workflow_confirm.html"

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path(
                f"<path:object_id>/{action}/",
                view(self.workflow_view),
                {"action": action},
                name=f"curation_mechanism_{action}",
            )
            for action in ACTIONS
        ] + super().get_urls()

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if on_changelist(request, self):
            # Only on the list. A correlated subquery, not a JOIN with GROUP BY: PostgreSQL evaluates
            # it for the page's rows after the LIMIT instead of counting all evidence first.
            queryset = queryset.annotate(evidence_count=row_count(Evidence, "mechanism"))
        return queryset

    def get_search_results(self, request, queryset, search_term):
        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        if request.path == reverse(f"{self.admin_site.name}:autocomplete"):
            # A pending revision is not a mechanism of its own: never offer it as a parent or to cite.
            queryset = queryset.originals()
        return queryset, may_have_duplicates

    def has_change_permission(self, request, obj=None):
        # The live row of a published mechanism never changes through the form: "Edit" opens a revision.
        if _locked(obj):
            return False
        return super().has_change_permission(request, obj)

    def get_readonly_fields(self, request, obj=None):
        readonly = tuple(super().get_readonly_fields(request, obj))
        # Published slugs are cited by readers: changing one would break their links. A revision keeps
        # the published slug when it is merged, so editing it there would be ignored.
        if obj is not None and (obj.published_at is not None or obj.revision_of_id):
            readonly = ("slug", *readonly)
        return readonly

    def get_form(self, request, obj=None, **kwargs):
        kwargs["help_texts"] = {**MECHANISM_HELP_TEXTS, **kwargs.get("help_texts", {})}
        return super().get_form(request, obj, **kwargs)

    def get_prepopulated_fields(self, request, obj=None):
        # Only a new mechanism's slug follows its name; afterwards the slug is an identifier.
        return super().get_prepopulated_fields(request, obj) if obj is None else {}

    def save_model(self, request, obj, form, change):
        if not change:
            obj.status = Status.DRAFT  # whatever was posted: new work always starts as a draft
        super().save_model(request, obj, form, change)

    @admin.display(description="evidence", ordering="evidence_count")
    def evidence_count(self, obj):
        return getattr(obj, "evidence_count", None)

    @admin.display(description="parent", ordering="parent__name")
    def parent_link(self, obj):
        """The parent, as a link to the list of its sub-mechanisms (the parent filter has no list of choices)."""
        if obj.parent is None:
            return "—"
        return format_html('<a href="?{}={}">{}</a>', ParentFilter.parameter_name, obj.parent_id, obj.parent)

    @admin.display(description="status", ordering="status")
    def workflow_state(self, obj):
        if obj.revision_of_id:
            return f"{obj.get_status_display()} (revision)"
        return obj.get_status_display()

    # --- the workflow panel and its buttons ------------------------------------

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None and obj.pk:
            context["workflow"] = self.workflow_context(request, obj)
            # The literature queue: papers waiting that are suggested for this mechanism.
            target = obj.revision_of_id or obj.pk
            context["waiting_candidates"] = candidates.waiting_counts([target]).get(target, 0)
            context["queue_url"] = admin_url("candidate_changelist") + f"?mechanism={target}"
        return super().render_change_form(request, context, add, change, form_url, obj)

    def workflow_context(self, request, obj) -> dict:
        """What the workflow panel on the mechanism's page shows to this user."""
        buttons, notes = [], []
        open_revision = obj.revisions.first() if obj.revision_of_id is None and obj.status == Status.PUBLISHED else None
        for action, reason in workflow.available_actions(obj, request.user).items():
            if action == REVISE and open_revision is not None:
                continue
            if reason:
                notes.append(reason)
                continue
            buttons.append(
                {
                    "action": action,
                    "label": ACTIONS[action]["label"],
                    "url": admin_url(f"mechanism_{action}", obj.pk),
                    "confirm": ACTIONS[action]["confirm"],
                }
            )
        return {
            "buttons": buttons,
            "notes": notes,
            "open_revision": open_revision,
            "open_revision_url": admin_url("mechanism_change", open_revision.pk) if open_revision else "",
            "original_url": admin_url("mechanism_change", obj.revision_of_id) if obj.revision_of_id else "",
            "version": obj.version,
        }

    def workflow_view(self, request, object_id, action):
        """One transition: GET confirms (reject asks for the reason), POST acts via curation.workflow."""
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            raise Http404(f"No mechanism with id {object_id}.")
        if not request.user.has_perm(workflow.PERMISSION[action]):
            raise PermissionDenied
        if request.method not in ("GET", "POST"):
            return HttpResponseNotAllowed(["GET", "POST"])
        change_url = admin_url("mechanism_change", obj.pk)
        form = RejectForm(request.POST or None) if action == REJECT else None
        if request.method == "POST" and (form is None or form.is_valid()):
            try:
                based_on = int(request.POST.get("version", ""))
            except ValueError:
                based_on = None
            try:
                check_version(obj, based_on, related=EVIDENCE_RELATED)
                kwargs = {"reason": form.cleaned_data["reason"]} if form is not None else {}
                result = ACTIONS[action]["service"](obj, by=request.user, **kwargs)
            except StaleEdit as stale:
                messages.error(request, f"{stale.message} Nothing was done: look at the current version first.")
                return HttpResponseRedirect(change_url)
            except WorkflowError as error:
                messages.error(request, str(error))
                return HttpResponseRedirect(change_url)
            messages.success(request, DONE[action].format(obj=result))
            return HttpResponseRedirect(admin_url("mechanism_change", result.pk))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "object": obj,
            "title": f"{ACTIONS[action]['label'].rstrip('…')}: {obj}",
            "action": action,
            "label": ACTIONS[action]["label"].rstrip("…"),
            "form": form,
            "refusal": workflow.refusal(action, obj, request.user),
            "change_url": change_url,
            "version": obj.version,
        }
        return TemplateResponse(request, self.confirm_template, context)
