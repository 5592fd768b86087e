"""Admin side of the review workflow, of the history and of the concurrency checks.

Mixins for the ModelAdmins in `content.py`:

- `MechanismWorkflowAdminMixin`: Submit / Publish / Reject / Retire buttons on
  the mechanism's page, shown and allowed per permission and state; a
  published mechanism's page is read-only and its "Edit" button opens (or
  reopens) the draft revision instead of changing the live row.
- `HistoryAdminMixin`: the "History" page lists every recorded version with
  who, when and which fields changed; any two versions can be compared field
  by field, and a version can be restored (the revert is a recorded change
  and goes through the same concurrency check as any save).
- `CuratedAdminMixin` = history + optimistic concurrency, for every editable model.
- `EvidenceWorkflowAdminMixin` and `MechanismEvidenceInlineMixin`: evidence of
  a published or retired mechanism is read-only outside a revision.

Every view here enforces its permission itself; the services in
`curation.workflow` check again.
"""

import json
import re
from difflib import SequenceMatcher

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import models
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from simple_history.utils import get_m2m_reverse_field_name

from curation import workflow
from curation.concurrency import VERSION_FIELD, StaleEdit, VersionedAdminMixin, VersionedInlineMixin, check_version
from curation.models import Status
from curation.workflow import EVIDENCE_RELATED, PUBLISH, REJECT, RETIRE, REVISE, SUBMIT, WorkflowError

LOCKED_STATES = (Status.PUBLISHED, Status.RETIRED)
HISTORY_PER_PAGE = 50


def _admin_url(model_admin, name, *args):
    opts = model_admin.opts
    return reverse(f"{model_admin.admin_site.name}:{opts.app_label}_{opts.model_name}_{name}", args=args)


# ---------------------------------------------------------------------------
# History: list, compare, revert
# ---------------------------------------------------------------------------
def _tracked_fields(model) -> list:
    """The fields a curator edits and history records, in form order; many-to-many last."""
    history_model = model.history.model
    concrete = [f for f in model._meta.concrete_fields if f.editable and hasattr(history_model, f.attname)]
    m2m = list(getattr(history_model, "_history_m2m_fields", []))
    return [f for f in concrete if not f.primary_key] + m2m


def _m2m_values(records, model) -> dict:
    """{history_id: {field name: frozenset of related ids}}, one query per many-to-many field."""
    values = {record.history_id: {} for record in records}
    history_model = model.history.model
    for field in getattr(history_model, "_history_m2m_fields", []):
        target = get_m2m_reverse_field_name(field)
        rows = _m2m_history_model(model, field).objects.filter(history__in=list(values))
        per_record = {}
        for history_id, target_id in rows.values_list("history_id", f"{target}_id"):
            per_record.setdefault(history_id, set()).add(target_id)
        for history_id in values:
            values[history_id][field.name] = frozenset(per_record.get(history_id, ()))
    return values


def _m2m_history_model(model, field):
    """The model simple-history keeps many-to-many snapshots of `field` in."""
    return getattr(model.history.model, field.name).model


def _value(record, field, m2m):
    if field.many_to_many:
        return m2m[record.history_id][field.name]
    return getattr(record, field.attname)


def _changed(record, previous, fields, m2m) -> list:
    return [field for field in fields if _value(record, field, m2m) != _value(previous, field, m2m)]


class _Labels:
    """Readable values for a diff, looking related rows up in one query per model."""

    def __init__(self, fields, values):
        self.related = {}
        wanted = {}
        for field, value in values:
            if field.is_relation and value not in (None, ""):
                ids = value if field.many_to_many else {value}
                wanted.setdefault(field.related_model, set()).update(ids)
        for model, ids in wanted.items():
            self.related[model] = model._base_manager.in_bulk(ids)

    def __call__(self, field, value) -> str:
        if field.many_to_many:
            found = self.related.get(field.related_model, {})
            names = sorted(str(found.get(pk, f"deleted #{pk}")) for pk in value)
            return ", ".join(names) or "—"
        if value is None or value == "" or value == []:
            return "—"
        if field.is_relation:
            return str(self.related.get(field.related_model, {}).get(value, f"deleted #{value}"))
        if field.choices:
            return str(dict(field.flatchoices).get(value, value))
        if isinstance(field, models.BooleanField):
            return "Yes" if value else "No"
        if isinstance(field, models.JSONField):
            return json.dumps(value, indent=1, ensure_ascii=False)
        return str(value)


def _word_diff(old: str, new: str):
    """Both texts as HTML, with removed words in <del> and added words in <ins>; everything escaped."""
    a, b = re.split(r"(\s+)", old), re.split(r"(\s+)", new)
    old_parts, new_parts = [], []
    for tag, i1, i2, j1, j2 in SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        removed, added = "".join(a[i1:i2]), "".join(b[j1:j2])
        if tag == "equal":
            old_parts.append(format_html("{}", removed))
            new_parts.append(format_html("{}", added))
            continue
        if removed:
            old_parts.append(format_html("<del>{}</del>", removed))
        if added:
            new_parts.append(format_html("<ins>{}</ins>", added))
    return mark_safe("".join(old_parts)), mark_safe("".join(new_parts))  # noqa: S308 (parts escaped above)


def field_diff(model, old_record, new_record, exclude=()) -> list[dict]:
    """The fields that differ between two history records, readable: [{label, old, new}].

    Built on simple-history's `diff_against`; long texts are compared word by word.
    """
    fields = {field.name: field for field in _tracked_fields(model) if field.name not in exclude}
    delta = new_record.diff_against(old_record, included_fields=list(fields))
    m2m = _m2m_values([old_record, new_record], model)
    changed = set(delta.changed_fields)
    pairs = [
        (field, _value(old_record, field, m2m), _value(new_record, field, m2m))
        for name, field in fields.items()  # in the form's order, not diff_against's alphabetical one
        if name in changed
    ]
    label = _Labels(fields.values(), [(f, v) for f, old, new in pairs for v in (old, new)])
    rows = []
    for field, old, new in pairs:
        old_text, new_text = label(field, old), label(field, new)
        if isinstance(field, (models.TextField, models.CharField, models.JSONField)) and not field.choices:
            old_html, new_html = _word_diff(old_text, new_text)
        else:
            old_html, new_html = format_html("<del>{}</del>", old_text), format_html("<ins>{}</ins>", new_text)
        rows.append({"label": str(field.verbose_name), "old": old_html, "new": new_html})
    return rows


class HistoryAdminMixin:
    """History list, a field-by-field diff between any two versions, and revert."""

    history_template = "admin/curation/history/list.html"
    compare_template = "admin/curation/history/compare.html"
    revert_template = "admin/curation/history/revert.html"

    def get_urls(self):
        opts = self.opts
        info = f"{opts.app_label}_{opts.model_name}"
        view = self.admin_site.admin_view
        return [
            path("<path:object_id>/history/compare/", view(self.history_compare_view), name=f"{info}_history_compare"),
            path(
                "<path:object_id>/history/<int:history_id>/revert/",
                view(self.history_revert_view),
                name=f"{info}_history_revert",
            ),
            *super().get_urls(),
        ]

    def _object_or_404(self, request, object_id):
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            raise Http404(f"No {self.opts.verbose_name} with id {object_id}.")
        return obj

    def _history_context(self, request, obj, title):
        return {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "object": obj,
            "title": title,
            "history_url": _admin_url(self, "history", obj.pk),
            "change_url": _admin_url(self, "change", obj.pk),
        }

    def revert_refusal(self, obj, record=None) -> str | None:
        """Why no version of `obj` (or not history `record` in particular) may be restored now, or None."""
        return workflow.revert_refusal(obj)

    def can_revert(self, request, obj) -> bool:
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.change_{opts.model_name}") and not self.revert_refusal(obj)

    def history_view(self, request, object_id, extra_context=None):
        """Every recorded version: when, who, why, and which fields changed from the one before."""
        obj = self._object_or_404(request, object_id)
        if not self.has_view_or_change_permission(request, obj):
            raise PermissionDenied
        records = obj.history.select_related("history_user").order_by("-history_date", "-history_id")
        page = Paginator(records, HISTORY_PER_PAGE).get_page(request.GET.get("p"))
        # One record older than the page, so the page's last row also shows its changes.
        shown = list(page.object_list)
        older = (
            records.filter(history_date__lte=shown[-1].history_date).exclude(
                history_id__in=[r.history_id for r in shown]
            )[:1]
            if shown
            else []
        )
        chain = shown + list(older)
        fields = _tracked_fields(self.model)
        m2m = _m2m_values(chain, self.model)
        rows = []
        for index, record in enumerate(shown):
            previous = chain[index + 1] if index + 1 < len(chain) else None
            if record.history_type == "+" or previous is None:
                changed = "created"
            elif record.history_type == "-":
                changed = "deleted"
            else:
                changed = ", ".join(str(f.verbose_name) for f in _changed(record, previous, fields, m2m)) or "—"
            rows.append({"record": record, "changed": changed})
        context = {
            **self._history_context(request, obj, f"History: {obj}"),
            "rows": rows,
            "page": page,
            "compare_url": _admin_url(self, "history_compare", obj.pk),
            "can_revert": self.can_revert(request, obj),
            "revert_refusal": self.revert_refusal(obj),
            **(extra_context or {}),
        }
        return TemplateResponse(request, self.history_template, context)

    def _record(self, obj, history_id):
        try:
            return obj.history.select_related("history_user").get(history_id=history_id)
        except (obj.history.model.DoesNotExist, ValueError, TypeError):
            raise Http404("No such version of this record.") from None

    def history_compare_view(self, request, object_id):
        """Two versions side by side, only the fields that differ (default: the last change)."""
        obj = self._object_or_404(request, object_id)
        if not self.has_view_or_change_permission(request, obj):
            raise PermissionDenied
        latest = list(obj.history.order_by("-history_date", "-history_id")[:2])
        if not latest:
            raise Http404("This record has no history.")
        new = self._record(obj, request.GET["new"]) if request.GET.get("new") else latest[0]
        old = self._record(obj, request.GET["old"]) if request.GET.get("old") else latest[-1]
        if (old.history_date, old.history_id) > (new.history_date, new.history_id):
            old, new = new, old
        context = {
            **self._history_context(request, obj, f"Changes to {obj}"),
            "old": old,
            "new": new,
            "rows": field_diff(self.model, old, new),
        }
        return TemplateResponse(request, self.compare_template, context)

    def history_revert_view(self, request, object_id, history_id):
        """Confirm, then restore a version; the revert is itself a recorded, version-checked change."""
        obj = self._object_or_404(request, object_id)
        opts = self.opts
        if not request.user.has_perm(f"{opts.app_label}.change_{opts.model_name}"):
            raise PermissionDenied
        record = self._record(obj, history_id)
        refusal = self.revert_refusal(obj, record)
        if request.method == "POST" and refusal:
            messages.error(request, refusal)
            return HttpResponseRedirect(_admin_url(self, "history", obj.pk))
        if request.method == "POST":
            try:
                based_on = int(request.POST.get(VERSION_FIELD, ""))
            except ValueError:
                based_on = None
            try:
                target = workflow.revert(obj, record, by=request.user, based_on=based_on)
            except StaleEdit as stale:
                messages.error(request, f"{stale.message} Look at the changes below before reverting.")
                obj.refresh_from_db()
            except WorkflowError as error:
                messages.error(request, str(error))
                return HttpResponseRedirect(_admin_url(self, "history", obj.pk))
            else:
                if target.pk != obj.pk:
                    messages.success(
                        request,
                        f"Version {record.version} was copied into the draft revision; readers see the published "
                        "text until a reviewer publishes the revision.",
                    )
                else:
                    messages.success(request, f"Restored version {record.version} of {obj}.")
                return HttpResponseRedirect(_admin_url(self, "change", target.pk))
        current = obj.history.order_by("-history_date", "-history_id").first()
        context = {
            **self._history_context(request, obj, f"Revert {obj} to version {record.version}"),
            "record": record,
            "current_record": current,
            # Only what a revert restores: never the workflow state nor a slug.
            "rows": field_diff(self.model, current, record, exclude=workflow.NOT_CONTENT) if current else [],
            "current_version": obj.version,
            "version_field": VERSION_FIELD,
            "refusal": refusal,
        }
        return TemplateResponse(request, self.revert_template, context)


class CuratedAdminMixin(HistoryAdminMixin, VersionedAdminMixin):
    """History pages and optimistic concurrency: for the admin of every editable model."""


# ---------------------------------------------------------------------------
# Evidence: read-only once its mechanism is public
# ---------------------------------------------------------------------------
def _locked_mechanism(mechanism) -> bool:
    return mechanism is not None and mechanism.status in LOCKED_STATES


class MechanismEvidenceInlineMixin(VersionedInlineMixin):
    """Evidence rows on a mechanism's page: versioned, and read-only while the mechanism is public."""

    def has_add_permission(self, request, obj=None):
        return not _locked_mechanism(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return not _locked_mechanism(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return not _locked_mechanism(obj) and super().has_delete_permission(request, obj)


class _EvidenceOfEditableMechanism(forms.ModelForm):
    def clean_mechanism(self):
        mechanism = self.cleaned_data.get("mechanism")
        if _locked_mechanism(mechanism):
            raise ValidationError(
                f"“{mechanism}” is {mechanism.get_status_display().lower()}: open it and press “Edit” to change "
                "its evidence in a draft revision."
            )
        return mechanism


class EvidenceWorkflowAdminMixin(CuratedAdminMixin):
    """The evidence list: rows of a published or retired mechanism are read-only here."""

    def __init__(self, model, admin_site):
        super().__init__(model, admin_site)
        self.form = type(f"Locked{self.form.__name__}", (_EvidenceOfEditableMechanism, self.form), {})

    def has_change_permission(self, request, obj=None):
        if obj is not None and _locked_mechanism(obj.mechanism):
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and _locked_mechanism(obj.mechanism):
            return False
        return super().has_delete_permission(request, obj)

    def get_actions(self, request):
        # A bulk delete cannot tell public rows from draft ones; delete from a mechanism's page.
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions


# ---------------------------------------------------------------------------
# Mechanisms: the workflow buttons and the revision flow
# ---------------------------------------------------------------------------
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


class MechanismWorkflowAdminMixin(CuratedAdminMixin):
    """Workflow buttons on the mechanism's page; published mechanisms change through revisions."""

    confirm_template = "admin/curation/mechanism/workflow_confirm.html"

    def get_urls(self):
        info = f"{self.opts.app_label}_{self.opts.model_name}"
        view = self.admin_site.admin_view
        return [
            path(
                f"<path:object_id>/{action}/",
                view(self.workflow_view),
                {"action": action},
                name=f"{info}_{action}",
            )
            for action in ACTIONS
        ] + super().get_urls()

    def has_change_permission(self, request, obj=None):
        # The live row of a published mechanism never changes through the form: "Edit" opens a revision.
        if obj is not None and obj.status in LOCKED_STATES:
            return False
        return super().has_change_permission(request, obj)

    def get_readonly_fields(self, request, obj=None):
        readonly = tuple(super().get_readonly_fields(request, obj))
        if "status" not in readonly:
            readonly = ("status", *readonly)
        if obj is not None and obj.revision_of_id and "slug" not in readonly:
            # Publishing a revision keeps the published slug; editing it here would be ignored.
            readonly = ("slug", *readonly)
        return readonly

    def save_model(self, request, obj, form, change):
        if not change:
            obj.status = Status.DRAFT  # whatever was posted: new work always starts as a draft
        super().save_model(request, obj, form, change)

    @admin.display(description="status", ordering="status")
    def workflow_state(self, obj):
        if obj.revision_of_id:
            return f"{obj.get_status_display()} (revision)"
        return obj.get_status_display()

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None and obj.pk:
            context["workflow"] = self.workflow_context(request, obj)
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
                    "url": _admin_url(self, action, obj.pk),
                    "confirm": ACTIONS[action]["confirm"],
                }
            )
        return {
            "buttons": buttons,
            "notes": notes,
            "open_revision": open_revision,
            "open_revision_url": _admin_url(self, "change", open_revision.pk) if open_revision else "",
            "original_url": _admin_url(self, "change", obj.revision_of_id) if obj.revision_of_id else "",
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
        change_url = _admin_url(self, "change", obj.pk)
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
            return HttpResponseRedirect(_admin_url(self, "change", result.pk))
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


__all__ = [
    "CuratedAdminMixin",
    "EvidenceWorkflowAdminMixin",
    "HistoryAdminMixin",
    "MechanismEvidenceInlineMixin",
    "MechanismWorkflowAdminMixin",
    "field_diff",
]
