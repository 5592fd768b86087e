"""Optimistic concurrency in the admin: forms that carry the version they edit.

`VersionedAdminMixin` and `VersionedInlineMixin` carry the version in a hidden
form field, refuse a stale form during validation (so the page is rendered
again with the user's input and the message, and nothing is written) and
claim every row they save, inline rows included (`curation.concurrency.claim`).
Many-to-many fields are saved with their parent row, so the parent's claim
protects them.
"""

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import models
from django.forms.models import BaseInlineFormSet
from django.http import HttpResponseRedirect

from curation.concurrency import StaleEdit, check_version, claim
from curation.models import Versioned

VERSION_FIELD = "expected_version"


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
