"""An index for the evidence table's level and direction facets (issue 9: /evidence/ filtered at full size)."""

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('curation', '0014_covering_indexes_for_the_dashboard'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddIndex(
            model_name='evidence',
            index=models.Index(fields=['level', 'direction'], name='evidence_level_direction'),
        ),
    ]
