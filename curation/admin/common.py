"""Small helpers every part of the curator admin uses."""

from django.core.paginator import Paginator
from django.db import connections
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils.functional import cached_property

from curation.citations.names import first_author_nlm
from curation.models import Reference


def admin_url(view: str, *args) -> str:
    """The address of one of this app's admin views: `admin_url("reference_change", pk)`."""
    return reverse(f"admin:curation_{view}", args=args)


def int_or_none(object_id) -> int | None:
    """An object id from the URL as a primary key; a hand-typed "abc" finds nothing instead of a 500."""
    return int(object_id) if str(object_id).isdigit() else None


def on_changelist(request, model_admin) -> bool:
    """Whether this request renders the model's list (where per-row counts are worth a join)."""
    match = getattr(request, "resolver_match", None)
    opts = model_admin.opts
    return bool(match) and match.url_name == f"{opts.app_label}_{opts.model_name}_changelist"


def short_citation(reference: Reference) -> str:
    """'PMID 28187290: Sharma P, 2017, Cell', the way admin lists and pickers name a reference."""
    first = first_author_nlm(reference.authors)
    parts = [first, str(reference.pub_year or ""), reference.journal_iso]
    if not any(parts):
        return str(reference)
    return f"PMID {reference.pmid}: " + ", ".join(part for part in parts if part)


def row_count(model, field: str):
    """How many `model` rows point at the outer row through `field`, as a correlated subquery.

    Admin lists annotate it instead of a JOIN with GROUP BY, which counted every row of the
    table before the page's LIMIT; PostgreSQL evaluates this for the page's rows only.
    """
    rows = model.objects.filter(**{field: OuterRef("pk")}).order_by().values(field).annotate(n=Count("pk"))
    return Coalesce(Subquery(rows.values("n")), 0)


class EstimatedCountPaginator(Paginator):
    """An admin list's paginator that reads the size of an unfiltered big table from PostgreSQL's statistics.

    `SELECT COUNT(*)` of 200,000 evidence rows reads them all on every visit of the list; the
    planner's row estimate (kept by ANALYZE and autovacuum) is free and close. A filtered or
    searched list, a small table, SQLite, or a table never analysed are counted exactly.
    The list's footer says "about" when the count is an estimate.
    """

    ESTIMATE_ABOVE = 10_000
    estimated = False

    @cached_property
    def count(self):
        query = getattr(self.object_list, "query", None)
        if query is None or query.where or query.distinct or query.combinator:
            return super().count
        connection = connections[self.object_list.db]
        if connection.vendor != "postgresql":
            return super().count
        table = connection.ops.quote_name(query.model._meta.db_table)
        # One statement whatever the table's size, so the list's queries do not change with it:
        # the estimate when it is big, else (or when the table was never analysed) the exact count.
        with connection.cursor() as cursor:
            cursor.execute(
                # The table name is the model's, quoted by the backend; nothing of the request is in it.
                f"SELECT CASE WHEN reltuples > %s THEN reltuples::bigint ELSE (SELECT COUNT(*) FROM {table}) END, "  # noqa: S608
                "reltuples > %s FROM pg_class WHERE oid = to_regclass(%s)",
                [self.ESTIMATE_ABOVE, self.ESTIMATE_ABOVE, table],
            )
            row = cursor.fetchone()
        if row is None:
            return super().count
        self.estimated = bool(row[1])
        return row[0]
