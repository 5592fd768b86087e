"""User management for the Admin role, without a way to grant superuser status."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import User


class StaffUserAdmin(UserAdmin):
    def get_readonly_fields(self, request, obj=None):
        fields = super().get_readonly_fields(request, obj)
        if request.user.is_superuser:
            return fields
        # Admins manage accounts and their roles (groups). Only a superuser may make another
        # superuser or grant permissions one by one, around the roles the atlas defines.
        return (*fields, "is_superuser", "user_permissions")


admin.site.unregister(User)
admin.site.register(User, StaffUserAdmin)
