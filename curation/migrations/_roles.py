"""What every data migration that syncs the role groups runs (Django's loader skips modules starting with "_")."""

from django.contrib.auth.management import create_permissions

from curation.roles import sync_role_groups


def sync_roles(apps, schema_editor):
    # Permissions are normally created after all migrations; make sure those of the models so far exist now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    # Later migrations add models whose permissions the roles name; each syncs the groups again.
    sync_role_groups(apps.get_model("auth", "Group"), apps.get_model("auth", "Permission"), skip_missing=True)
