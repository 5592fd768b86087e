"""The atlas's admin site: every list it shows refuses malformed filters and oversized searches cleanly.

Django's ChangeList turns a ValueError of the date hierarchy into "invalid
filters", but not the OverflowError of `?created_at__year=99999999999` nor the
ValueError of a year whose successor is out of range (`?created_at__year=9999`):
both were a 500. Its search adds one condition per word and search field, so
a search of 200 words kept PostgreSQL planning for 5 s; searches are capped.
Its autocomplete widgets, redrawing a form that came back with errors, look
up whatever was posted: `cancer_type=abc` was a 500 instead of "Select a valid
choice"; they now look up only values the key field accepts.

The site wraps every ModelAdmin registered on it and the inlines it declares,
Django's and third-party ones included, so an admin added later is covered
without anyone remembering to add a mixin; tests/test_hostile_requests.py
walks the registry to prove it.
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.apps import AdminConfig
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ERROR_FLAG, SEARCH_VAR, ChangeList, ChangeListSearchForm
from django.contrib.admin.widgets import AutocompleteSelect, AutocompleteSelectMultiple
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect
from django.utils.text import smart_split

INVALID_FILTER_MESSAGE = (
    "The filters in the address could not be applied (a value was malformed or out of range), "
    "so the whole list is shown."
)
MAX_SEARCH_LENGTH = 200
MAX_SEARCH_WORDS = 10


def _few_words(value: str) -> None:
    # Counted as the admin splits them: a "quoted phrase" is one word.
    if len(list(smart_split(value))) > MAX_SEARCH_WORDS:
        raise forms.ValidationError(f"Search for at most {MAX_SEARCH_WORDS} words; the search was not applied.")


class BoundedSearchForm(ChangeListSearchForm):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields[SEARCH_VAR] = forms.CharField(
            required=False,
            strip=False,
            max_length=MAX_SEARCH_LENGTH,
            validators=[_few_words],
            error_messages={"max_length": f"Search for at most {MAX_SEARCH_LENGTH} characters; it was not applied."},
        )


class HostileInputChangeList(ChangeList):
    # An invalid search is reported by ChangeList as a message, and the list is shown unsearched.
    search_form_class = BoundedSearchForm

    def get_filters(self, request):
        try:
            return super().get_filters(request)
        except (ValueError, OverflowError) as exc:
            # The admin answers IncorrectLookupParameters with a redirect to ?e=1.
            raise IncorrectLookupParameters(exc) from exc


class _LooksUpOnlyValidKeys:
    """An autocomplete widget that, redrawing a refused form, ignores posted values no row could have."""

    def optgroups(self, name, value, attr=None):
        remote = self.field.remote_field
        key = remote.model._meta.get_field(getattr(remote, "field_name", None) or remote.model._meta.pk.name)
        return super().optgroups(name, [v for v in value if _is_valid_key(key, v)], attr)


def _is_valid_key(field, value) -> bool:
    try:
        field.to_python(value)
    except ValidationError:
        return False
    return True


class BoundedAutocompleteSelect(_LooksUpOnlyValidKeys, AutocompleteSelect):
    pass


class BoundedAutocompleteSelectMultiple(_LooksUpOnlyValidKeys, AutocompleteSelectMultiple):
    pass


class BoundedAutocompleteMixin:
    """For ModelAdmins and inlines: autocomplete fields drawn with the widgets above."""

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if "widget" not in kwargs and db_field.name in self.get_autocomplete_fields(request):
            kwargs["widget"] = BoundedAutocompleteSelect(db_field, self.admin_site, using=kwargs.get("using"))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if "widget" not in kwargs and db_field.name in self.get_autocomplete_fields(request):
            kwargs["widget"] = BoundedAutocompleteSelectMultiple(db_field, self.admin_site, using=kwargs.get("using"))
        return super().formfield_for_manytomany(db_field, request, **kwargs)


class HostileInputAdminMixin(BoundedAutocompleteMixin):
    """Lists rows with HostileInputChangeList and says so when filters were refused."""

    def get_changelist(self, request, **kwargs):
        changelist = super().get_changelist(request, **kwargs)
        # A custom ChangeList is kept; the registry test insists that it derives from ours.
        return HostileInputChangeList if changelist is ChangeList else changelist

    def changelist_view(self, request, extra_context=None):
        if ERROR_FLAG in request.GET:
            messages.warning(request, INVALID_FILTER_MESSAGE)
        if request.method == "POST" and not self._selection_is_valid(request):
            # Django's action runner would pass these to `pk__in` and raise ValueError (a 500).
            messages.error(request, "The selection names rows that do not exist; nothing was changed.")
            return HttpResponseRedirect(request.get_full_path())
        return super().changelist_view(request, extra_context)

    def _selection_is_valid(self, request) -> bool:
        pk = self.model._meta.pk
        try:
            for value in request.POST.getlist(helpers.ACTION_CHECKBOX_NAME):
                pk.to_python(value)
        except ValidationError:
            return False
        return True


def _with(mixin, cls, **attributes):
    """`cls` with `mixin` first in its bases, under the same name; `cls` itself if it has it already."""
    if issubclass(cls, mixin):
        return cls
    namespace = {name: getattr(cls, name) for name in ("__module__", "__qualname__", "__doc__")}
    return type(cls.__name__, (mixin, cls), {**namespace, **attributes})


class AtlasAdminSite(admin.AdminSite):
    def register(self, model_or_iterable, admin_class=None, **options):
        admin_class = admin_class or admin.ModelAdmin
        inlines = [_with(BoundedAutocompleteMixin, inline) for inline in admin_class.inlines]
        super().register(model_or_iterable, _with(HostileInputAdminMixin, admin_class, inlines=inlines), **options)


class AtlasAdminConfig(AdminConfig):
    """django.contrib.admin with AtlasAdminSite as `admin.site`."""

    default_site = "resistance_atlas.admin_site.AtlasAdminSite"
