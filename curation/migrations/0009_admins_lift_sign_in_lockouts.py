"""Let the Admin role see and lift sign-in lockouts (django-axes): re-sync the role groups."""

from django.db import migrations

from curation.migrations._roles import sync_roles


class Migration(migrations.Migration):
    dependencies = [
        ("curation", "0008_seed_gene_aliases"),
        ("axes", "0010_accessattemptexpiration"),
    ]

    operations = [migrations.RunPython(sync_roles, migrations.RunPython.noop)]
