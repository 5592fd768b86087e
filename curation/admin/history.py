"""The History page of every curated model: each recorded version, a diff between any two, and revert.

Built on django-simple-history's records. The "History" page lists every
version with who, when and which fields changed; any two versions can be
compared field by field (long texts word by word); a version can be restored,
and the revert is itself a recorded change that goes through the same
concurrency check as any save (`curation.workflow.revert`).
"""

import json
import re
from difflib import SequenceMatcher

from django.contrib import messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import models
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from simple_history.utils import get_m2m_reverse_field_name

from curation import workflow
from curation.admin.common import admin_url
from curation.admin.versioning import VERSION_FIELD, VersionedAdminMixin
from curation.concurrency import StaleEdit
from curation.workflow import WorkflowError

HISTORY_PER_PAGE = 50


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

    def _url(self, view, *args):
        return admin_url(f"{self.opts.model_name}_{view}", *args)

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
            "history_url": self._url("history", obj.pk),
            "change_url": self._url("change", obj.pk),
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
            "compare_url": self._url("history_compare", obj.pk),
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
            return HttpResponseRedirect(self._url("history", obj.pk))
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
                return HttpResponseRedirect(self._url("history", obj.pk))
            else:
                if target.pk != obj.pk:
                    messages.success(
                        request,
                        f"Version {record.version} was copied into the draft revision; readers see the published "
                        "text until a reviewer publishes the revision.",
                    )
                else:
                    messages.success(request, f"Restored version {record.version} of {obj}.")
                return HttpResponseRedirect(self._url("change", target.pk))
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
