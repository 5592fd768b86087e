"""Create the Curator, Reviewer and Admin groups with their permissions."""

from django.db import migrations

from curation.migrations._roles import sync_roles
from curation.roles import ROLE_PERMISSIONS


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLE_PERMISSIONS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("curation", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(sync_roles, remove_roles)]
