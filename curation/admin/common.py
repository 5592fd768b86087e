"""Small helpers every part of the curator admin uses."""

from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.urls import reverse

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
