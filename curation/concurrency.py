"""Optimistic concurrency: no save may silently overwrite someone else's work.

Every editable model carries a `version` counter (`models.Versioned`). A save
names the version it was based on and claims the row with one conditional
statement, `UPDATE ... SET version = version + 1 WHERE id = %s AND version = %s`.
If another save got there first the statement matches no row and the save is
refused with `StaleEdit`, whose message says who changed what meanwhile, read
from the simple-history records newer than the version the user started from.

The claim runs in the same transaction as the real save, so on PostgreSQL the
row stays locked until commit and a concurrent claim waits, then matches
nothing: exactly one writer wins per version.

For the admin, `VersionedAdminMixin` and `VersionedInlineMixin` carry the
version in a hidden form field, refuse a stale form during validation (so the
page is re-rendered with the user's input and the message, and nothing is
written) and claim every row they save, inline rows included. Many-to-many
fields are saved with their parent row, so the parent's claim protects them.
"""

from dataclasses import dataclass

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import F
from django.forms.models import BaseInlineFormSet
from django.http import HttpResponseRedirect
from django.utils.text import get_text_list

from curation.models import Versioned

VERSION_FIELD = "expected_version"
UNNAMED = "an unnamed process"


@dataclass(frozen=True)
class Change:
    """What one person did to a row (or to its children) after a given version."""

    user: str
    what: list[str]

    def __str__(self):
        return f"{self.user} {get_text_list(self.what, 'and')}"


class StaleEdit(Exception):
    """A save was based on a version of the row that is no longer current."""

    def __init__(self, instance, based_on, changes):
        self.instance = instance
        self.based_on = based_on
        self.changes = changes
        super().__init__(self.message)

    @property
    def users(self) -> list[str]:
        return [change.user for change in self.changes]

    @property
    def message(self) -> str:
        label = f"{self.instance._meta.verbose_name} “{self.instance}”"
        if not self.changes:
            return f"Not saved: the {label} was changed by someone else after you opened it."
        done = "; ".join(str(change) for change in self.changes)
        return f"Not saved: after you opened the {label}, {done}."

    @property
    def form_message(self) -> str:
        return (
            f"{self.message} Nothing was overwritten. Your input is kept below: copy what you need, "
            "reload the page to see their changes, then make your edit again."
        )


# --- Reading the history --------------------------------------------------------


def _user_label(record) -> str:
    user = record.history_user
    return user.get_username() if user is not None else UNNAMED


def _field_label(model, name: str) -> str:
    return str(model._meta.get_field(name).verbose_name)


def _object_label(record) -> str:
    try:
        return f"{record.instance_type._meta.verbose_name} “{record.instance}”"
    except Exception:  # a label must never hide the conflict itself
        return f"{record.instance_type._meta.verbose_name} #{record.pk}"


def _describe(record, previous) -> str | None:
    """One history record as words: 'changed summary and genes', 'deleted it'."""
    if record.history_type == "-":
        return "deleted it"
    if previous is None:
        return "created it" if record.history_type == "+" else "changed it"
    fields = record.diff_against(previous).changed_fields
    if not fields:
        return None
    return "changed " + get_text_list([_field_label(record.instance_type, name) for name in fields], "and")


def _describe_child(record) -> str:
    label = _object_label(record)
    if record.history_type == "+":
        return f"added {label}"
    if record.history_type == "-":
        return f"deleted {label}"
    previous = record.prev_record
    fields = record.diff_against(previous).changed_fields if previous is not None else []
    named = get_text_list([_field_label(record.instance_type, name) for name in fields], "and")
    return f"changed {label}" + (f" ({named})" if named else "")


def changes_since(model, pk, based_on: int, *, related=()) -> list[Change]:
    """Who changed what on row `pk` after version `based_on`, oldest first, one entry per person.

    `related` names child rows whose changes count as changes to this row, as
    (model, foreign key name) pairs, e.g. `[(Evidence, "mechanism")]`.
    """
    records = list(
        model.history.filter(**{model._meta.pk.attname: pk})
        .select_related("history_user")
        .order_by("history_date", "history_id")
    )
    # The state the user saw is the last record of their version (m2m saves
    # add records with the same version after the row's own record).
    seen = [record for record in records if record.version <= based_on]
    base = seen[-1] if seen else None
    # A deletion keeps the last version number; it is news all the same.
    newer = [record for record in records if record.version > based_on or record.history_type == "-"]

    per_user: dict[str, list[str]] = {}
    previous = base
    for record in newer:
        what = _describe(record, previous)
        bucket = per_user.setdefault(_user_label(record), [])
        if what and what not in bucket:
            bucket.append(what)
        previous = record
    if newer:
        # Children saved with the row (an inline formset) are recorded just
        # after the row's own record; earlier child changes were on the page.
        for child_model, fk_name in related:
            child_records = (
                child_model.history.filter(**{f"{fk_name}_id": pk}, history_date__gte=newer[0].history_date)
                .select_related("history_user")
                .order_by("history_date", "history_id")
            )
            for record in child_records:
                bucket = per_user.setdefault(_user_label(record), [])
                what = _describe_child(record)
                if what not in bucket:
                    bucket.append(what)
    return [Change(user, what or ["saved it"]) for user, what in per_user.items()]


def stale_edit(instance, based_on, *, related=()) -> StaleEdit:
    if based_on is None:
        return StaleEdit(instance, None, [])
    return StaleEdit(instance, based_on, changes_since(type(instance), instance.pk, based_on, related=related))


# --- Saving -----------------------------------------------------------------------


def current_version(instance) -> int | None:
    """The row's version in the database now, or None if it was deleted."""
    return type(instance)._base_manager.filter(pk=instance.pk).values_list("version", flat=True).first()


def check_version(instance, based_on, *, related=()) -> None:
    """Raise StaleEdit if the row is no longer at version `based_on` (a read, no lock)."""
    if current_version(instance) != based_on:
        raise stale_edit(instance, based_on, related=related)


def claim(instance, based_on, *, related=()) -> None:
    """Bump the row's version if it is still `based_on`, else raise StaleEdit.

    Call inside a transaction, followed by the real save: on PostgreSQL the
    claimed row stays locked until commit. Sets `instance.version` to the new
    version so that the following `save()` writes it.
    """
    if based_on is None:
        raise StaleEdit(instance, None, [])
    claimed = type(instance)._base_manager.filter(pk=instance.pk, version=based_on).update(version=F("version") + 1)
    if not claimed:
        raise stale_edit(instance, based_on, related=related)
    instance.version = based_on + 1


def save_versioned(instance, based_on=None, *, related=(), **save_kwargs):
    """Save `instance` only if nobody saved its row since version `based_on`.

    `based_on` defaults to the version the instance was loaded with. New rows
    are simply inserted. Raises StaleEdit and writes nothing on a conflict.
    """
    if instance._state.adding:
        instance.save(**save_kwargs)
        return instance
    with transaction.atomic():
        claim(instance, instance.version if based_on is None else based_on, related=related)
        instance.save(**save_kwargs)
    return instance


def delete_versioned(instance, based_on=None):
    """Delete `instance` only if nobody saved it since version `based_on`."""
    with transaction.atomic():
        claim(instance, instance.version if based_on is None else based_on)
        instance.delete()


# --- Forms and the admin ----------------------------------------------------------


def _posted_version(form):
    """The version a bound form was based on, even when its validation failed."""
    if VERSION_FIELD in getattr(form, "cleaned_data", {}):
        return form.cleaned_data[VERSION_FIELD]
    try:
        return int(form[VERSION_FIELD].data)
    except (TypeError, ValueError):
        return None


class VersionedModelForm(forms.ModelForm):
    """Carries the version the user started from and refuses a stale save in validation."""

    expected_version = forms.IntegerField(widget=forms.HiddenInput, required=False, min_value=1)
    # Child rows whose changes make this form stale too: [(model, fk name)].
    stale_related = ()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None:
            self.fields[VERSION_FIELD].initial = self.instance.version

    def clean(self):
        cleaned = super().clean()
        if self.instance.pk is None:
            return cleaned
        based_on = cleaned.get(VERSION_FIELD)
        if based_on is None:
            raise ValidationError(
                "This form did not say which version it edits; reload the page and make your edit again.",
                code="stale",
            )
        try:
            check_version(self.instance, based_on, related=self.stale_related)
        except StaleEdit as stale:
            raise ValidationError(stale.form_message, code="stale") from None
        return cleaned


class VersionedInlineFormSet(BaseInlineFormSet):
    """Refuses to delete a row that someone changed after the page was opened."""

    def clean(self):
        super().clean()
        for form in self.deleted_forms:
            if form.instance.pk is None:
                continue
            try:
                check_version(form.instance, _posted_version(form))
            except StaleEdit as stale:
                raise ValidationError(stale.form_message, code="stale") from None


def versioned_form(form_class, related=()):
    if issubclass(form_class, VersionedModelForm) and form_class.stale_related == tuple(related):
        return form_class
    return type(f"Versioned{form_class.__name__}", (VersionedModelForm, form_class), {"stale_related": tuple(related)})


def _with_version_field(fieldsets, include: bool):
    """The fieldsets without the hidden version field, plus it in the first fieldset if `include`."""
    cleaned = [
        (name, {**options, "fields": [f for f in options["fields"] if f != VERSION_FIELD]})
        for name, options in fieldsets
    ]
    if include and cleaned:
        name, options = cleaned[0]
        cleaned[0] = (name, {**options, "fields": [*options["fields"], VERSION_FIELD]})
    return cleaned


def _is_versioned(model) -> bool:
    return issubclass(model, Versioned)


class VersionedAdminMixin:
    """ModelAdmin mixin: stale saves of the row or its versioned inline rows are refused.

    Put it before `admin.ModelAdmin` in the bases. The refusal is a form
    error, so the change page is rendered again with the user's input.
    """

    def __init__(self, model, admin_site):
        super().__init__(model, admin_site)
        self.form = versioned_form(self.form, related=self.stale_related())

    def stale_related(self):
        """Versioned children edited inline on this page, as (model, fk name) pairs."""
        related = []
        for inline in self.inlines:
            if not (_is_versioned(inline.model) and hasattr(inline.model, "history")):
                continue
            fk_name = inline.fk_name or next(
                field.name
                for field in inline.model._meta.concrete_fields
                if isinstance(field, models.ForeignKey) and field.related_model is self.model
            )
            related.append((inline.model, fk_name))
        return related

    def get_fieldsets(self, request, obj=None):
        include = obj is not None and self.has_change_permission(request, obj)
        return _with_version_field(super().get_fieldsets(request, obj), include)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except StaleEdit:
            # Someone saved between our validation and our save; the whole save
            # was rolled back. Validating again reports the conflict on the
            # page with the user's input kept.
            try:
                return super().changeform_view(request, object_id, form_url, extra_context)
            except StaleEdit as stale:
                messages.error(request, stale.message)
                return HttpResponseRedirect(request.path)

    def save_model(self, request, obj, form, change):
        obj._history_user = request.user
        if change:
            claim(obj, _posted_version(form), related=self.stale_related())
        else:
            if hasattr(obj, "created_by_id") and obj.created_by_id is None:
                obj.created_by = request.user
        if hasattr(obj, "updated_by_id"):
            obj.updated_by = request.user
        super().save_model(request, obj, form, change)

    def save_formset(self, request, form, formset, change):
        if _is_versioned(formset.model):
            for inline_form in formset.initial_forms:
                deleting = inline_form in formset.deleted_forms
                if deleting or inline_form.has_changed():
                    inline_form.instance._history_user = request.user
                    claim(inline_form.instance, _posted_version(inline_form))
            for inline_form in formset.extra_forms:
                instance = inline_form.instance
                if hasattr(instance, "created_by_id") and instance.created_by_id is None:
                    instance.created_by = request.user
        super().save_formset(request, form, formset, change)


class VersionedInlineMixin:
    """InlineModelAdmin mixin for versioned child rows (e.g. evidence on a mechanism)."""

    def __init__(self, parent_model, admin_site):
        super().__init__(parent_model, admin_site)
        self.form = versioned_form(self.form)
        if not issubclass(self.formset, VersionedInlineFormSet):
            self.formset = type(f"Versioned{self.formset.__name__}", (VersionedInlineFormSet, self.formset), {})

    def get_fieldsets(self, request, obj=None):
        include = obj is not None and self.has_change_permission(request, obj)
        return _with_version_field(super().get_fieldsets(request, obj), include)
