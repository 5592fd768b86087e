"""Give the roles the literature triage permissions (saved searches, their runs, the candidate queue)."""

from django.db import migrations

from curation.migrations._roles import sync_roles


class Migration(migrations.Migration):
    dependencies = [("curation", "0004_literature_triage")]

    operations = [migrations.RunPython(sync_roles, migrations.RunPython.noop)]
