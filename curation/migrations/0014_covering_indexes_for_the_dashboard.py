"""Covering indexes: the dashboard checks each mechanism's papers' years without reading rows (issue 9)."""

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('curation', '0013_browse_indexes'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddIndex(
            model_name='evidence',
            index=models.Index(fields=['mechanism', 'reference'], name='evidence_mechanism_reference'),
        ),
        migrations.AddIndex(
            model_name='reference',
            index=models.Index(fields=['id', 'pub_year'], name='reference_id_with_year'),
        ),
    ]
