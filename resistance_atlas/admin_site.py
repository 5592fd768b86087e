"""The atlas's admin site: every list it shows refuses malformed filters cleanly.

Django's ChangeList turns a ValueError of the date hierarchy into "invalid
filters", but not the OverflowError of `?created_at__year=99999999999` nor the
ValueError of a year whose successor is out of range (`?created_at__year=9999`):
both were a 500. The site wraps every ModelAdmin registered on it, Django's and
third-party ones included, so an admin added later is covered without anyone
remembering to add a mixin; tests/test_hostile_requests.py walks the registry
to prove it.
"""

from django.contrib import admin, messages
from django.contrib.admin.apps import AdminConfig
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ERROR_FLAG, ChangeList

INVALID_FILTER_MESSAGE = (
    "The filters in the address could not be applied (a value was malformed or out of range), "
    "so the whole list is shown."
)


class HostileInputChangeList(ChangeList):
    def get_filters(self, request):
        try:
            return super().get_filters(request)
        except (ValueError, OverflowError) as exc:
            # The admin answers IncorrectLookupParameters with a redirect to ?e=1.
            raise IncorrectLookupParameters(exc) from exc


class HostileInputAdminMixin:
    """Lists rows with HostileInputChangeList and says so when filters were refused."""

    def get_changelist(self, request, **kwargs):
        changelist = super().get_changelist(request, **kwargs)
        # A custom ChangeList is kept; the registry test insists that it derives from ours.
        return HostileInputChangeList if changelist is ChangeList else changelist

    def changelist_view(self, request, extra_context=None):
        if ERROR_FLAG in request.GET:
            messages.warning(request, INVALID_FILTER_MESSAGE)
        return super().changelist_view(request, extra_context)


class AtlasAdminSite(admin.AdminSite):
    def register(self, model_or_iterable, admin_class=None, **options):
        admin_class = admin_class or admin.ModelAdmin
        if not issubclass(admin_class, HostileInputAdminMixin):
            namespace = {name: getattr(admin_class, name) for name in ("__module__", "__qualname__", "__doc__")}
            admin_class = type(admin_class.__name__, (HostileInputAdminMixin, admin_class), namespace)
        super().register(model_or_iterable, admin_class, **options)


class AtlasAdminConfig(AdminConfig):
    """django.contrib.admin with AtlasAdminSite as `admin.site`."""

    default_site = "resistance_atlas.admin_site.AtlasAdminSite"
