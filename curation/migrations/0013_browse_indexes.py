"""Indexes that let the lists read their page in order, and the dashboard find its few rows (issue 9)."""

from django.conf import settings
from django.db import migrations, models


class AddIndexOnPostgreSQL(migrations.AddIndex):
    """An index in every database's model state, built on PostgreSQL only.

    SQLite (the development database) cannot say where an index puts NULLs; there the
    list it serves sorts without it.
    """

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)


class Migration(migrations.Migration):

    dependencies = [
        ('curation', '0012_evidence_model_system'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddIndex(
            model_name='mechanism',
            index=models.Index(fields=['name', 'id'], name='mechanism_name_id'),
        ),
        migrations.AddIndex(
            model_name='mechanism',
            index=models.Index(condition=models.Q(('revision_of__isnull', True), ('status', 'published')), fields=['category', 'name', 'id'], name='mechanism_published_by_name'),
        ),
        migrations.AddIndex(
            model_name='reference',
            index=models.Index(fields=['pub_year', 'pmid'], name='reference_year_pmid'),
        ),
        AddIndexOnPostgreSQL(
            model_name='reference',
            index=models.Index(models.OrderBy(models.F('pub_year'), descending=True, nulls_last=True), models.F('pmid'), name='reference_newest_first'),
        ),
        migrations.AddIndex(
            model_name='reference',
            index=models.Index(condition=models.Q(('is_retracted', True), ('has_expression_of_concern', True), ('has_erratum', True), _connector='OR'), fields=['pmid'], name='reference_flagged'),
        ),
        migrations.AddIndex(
            model_name='reference',
            index=models.Index(condition=models.Q(('metadata_state__in', ['failed', 'not-found']), models.Q(('last_error', ''), _negated=True), _connector='OR'), fields=['-updated_at', 'pmid'], name='reference_fetch_problem'),
        ),
    ]
