"""The role groups the migrations create hold exactly the permissions curation/roles.py names."""

import pytest
from django.contrib.auth.models import Group

from curation import roles

pytestmark = pytest.mark.django_db


def test_after_the_migrations_every_role_holds_exactly_its_permissions(roles_as_migrated):
    # The groups as the data migrations (0002 and those after it) left them, read before any test ran.
    assert set(roles_as_migrated) == set(roles.ROLE_PERMISSIONS)
    for role, wanted in roles.ROLE_PERMISSIONS.items():
        assert roles_as_migrated[role] == set(wanted), role


def test_syncing_refuses_a_permission_that_does_not_exist_unless_told_to_skip_it(monkeypatch):
    from django.contrib.auth.models import Permission

    monkeypatch.setitem(roles.ROLE_PERMISSIONS, roles.CURATOR, [*roles.CURATOR_PERMISSIONS, "curation.no_such_thing"])
    with pytest.raises(Permission.DoesNotExist, match="curation.no_such_thing"):
        roles.sync_role_groups(Group, Permission)
    assert roles.sync_role_groups(Group, Permission, skip_missing=True) == ["curation.no_such_thing"]


def test_curators_and_up_triage_the_literature_and_only_admins_delete_saved_searches():
    for role in (roles.CURATOR, roles.REVIEWER, roles.ADMIN):
        assert set(roles.TRIAGE_PERMISSIONS) <= set(roles.ROLE_PERMISSIONS[role])
    assert "curation.delete_savedsearch" not in roles.REVIEWER_PERMISSIONS
    assert "curation.delete_savedsearch" in roles.ADMIN_PERMISSIONS
