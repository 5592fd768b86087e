"""The site's search: one query over mechanisms, evidence, papers and genes, narrowed by facets.

Readers only ever find published content: published mechanisms, the evidence of published
mechanisms, the papers that evidence cites and the genes published mechanisms name. The
evidence items found (by their own text or through their mechanism, paper, therapy or
cancer type) are what the facets count; a facet in use also narrows the other kinds to
those that published evidence with that value backs.
"""

from dataclasses import dataclass, field

from django.db.models import Case, IntegerField, Q, QuerySet, Value, When

from curation.models import Evidence, Gene, Mechanism, Reference
from curation.paging import Paged, paginate
from curation.search import facets, snippets
from curation.search.evidence import for_table, matching, public_genes, published_evidence
from curation.search.query import ParsedQuery, QueryTooLong, parse
from curation.search.text import TextMatch, resolve_genes


@dataclass(frozen=True)
class Kind:
    key: str
    label: str
    shown: int  # rows shown on the overview; the kind's own page paginates


KINDS = (
    Kind("mechanisms", "Mechanisms", 8),
    Kind("evidence", "Evidence", 10),
    Kind("papers", "Papers", 8),
    Kind("genes", "Genes", 12),
)
KIND_KEYS = tuple(kind.key for kind in KINDS)


@dataclass
class Group:
    kind: Kind
    count: int
    rows: list
    paged: Paged | None = None  # on the kind's own page


@dataclass
class SearchResults:
    q: str
    form: facets.FacetForm
    kind: str = ""
    query: ParsedQuery | None = None
    message: str = ""  # why nothing was searched (no words, too long, bad facet)
    groups: list[Group] = field(default_factory=list)
    counts: facets.FacetCounts | None = None

    @property
    def total(self) -> int:
        return sum(group.count for group in self.groups)


def site_search(params) -> SearchResults:
    """Results for the GET parameters `q`, the facets, `kind` (one kind, paginated) and `page`.

    Never raises for what a reader can type: a query that is too long, has no words to
    look for or names an unknown facet value gives no results and a message. Runs a fixed
    number of queries: the genes the words name, the facet counts, then per kind shown a
    count, the page's ids in rank order and their rows with headlines.
    """
    q = params.get("q", "")
    kind = params.get("kind", "") if params.get("kind", "") in KIND_KEYS else ""
    form = facets.FacetForm(params)
    results = SearchResults(q=q, form=form, kind=kind)
    try:
        query = parse(q)
    except QueryTooLong as error:
        results.message = str(error)
        return results
    results.q = query.text
    if not form.is_valid():
        results.message = " ".join(m for errors in form.errors.values() for m in errors)
        return results
    if not query:
        if query.terms:
            results.message = "Add a word to look for: exclusions (-word) alone select nothing."
        elif q.strip():
            results.message = "Nothing to look for in this query: use words, “quoted phrases”, OR and -word."
        return results

    query, named_genes = resolve_genes(query, public_genes())
    results.query = query
    match = TextMatch.for_query(query)
    selected = form.selected()
    backed = facets.narrow(published_evidence(), selected)
    found_evidence = backed.filter(matching(query))
    results.counts = facets.count(found_evidence, selected)
    finders = {
        "mechanisms": lambda: _mechanisms(match, backed, selected),
        "evidence": lambda: _evidence(match, found_evidence),
        "papers": lambda: _papers(match, backed),
        "genes": lambda: _genes(match, backed, selected, named_genes),
    }
    for spec in KINDS:
        if kind and spec.key != kind:
            continue
        found, ordered, shown, annotate_rows = finders[spec.key]()
        # Counted without the ranking and headline joins, which only the shown rows need.
        count = results.counts.total if spec.key == "evidence" else found.count()
        if shown is not None:
            # The page's ids first, then its rows with their headlines: PostgreSQL would
            # otherwise run ts_headline over every match before sorting them.
            ordered = ordered.values_list("pk", flat=True)
        if kind:
            paged = paginate(ordered, params, count=count)
            rows = paged.rows
        else:
            paged, rows = None, list(ordered[: spec.shown]) if count else []
        if shown is not None:
            rows = _in_order(shown, rows)
        results.groups.append(Group(spec, count, annotate_rows(rows), paged))
    return results


def _in_order(queryset: QuerySet, ids: list) -> list:
    by_pk = {row.pk: row for row in queryset.filter(pk__in=ids)} if ids else {}
    return [by_pk[pk] for pk in ids if pk in by_pk]


def _mechanisms(match: TextMatch, backed: QuerySet, selected: dict):
    mechanisms = match.filter(Mechanism.objects.published())
    if selected:
        mechanisms = mechanisms.filter(pk__in=backed.values("mechanism_id"))
    # The shown rows are read by id (found above), so their query need not match again.
    shown = match.with_headline(Mechanism.objects.select_related("parent"), "summary")
    ordered = mechanisms.annotate(rank=match.rank(Mechanism)).order_by("-rank", "name", "pk")
    return mechanisms, ordered, shown, lambda rows: _snippets(match, rows, "summary")


def _evidence(match: TextMatch, found: QuerySet):
    shown = match.with_headline(for_table(Evidence.objects.all()), "statement", whole=True)
    ordered = found.annotate(rank=match.rank(Evidence), mechanism_rank=match.rank(Mechanism, "mechanism__")).order_by(
        "-rank", "-mechanism_rank", "-reference__pub_year", "pk"
    )
    return found, ordered, shown, lambda rows: _snippets(match, rows, "statement", whole=True)


def _papers(match: TextMatch, backed: QuerySet):
    papers = match.filter(Reference.objects.defer("raw_xml")).filter(pk__in=backed.values("reference_id"))
    shown = Reference.objects.defer("raw_xml")
    shown = match.with_headline(match.with_headline(shown, "title", whole=True), "abstract")
    ordered = papers.annotate(rank=match.rank(Reference)).order_by("-rank", "-pub_year", "pmid")

    def annotate(rows):
        _snippets(match, rows, "title", whole=True)
        return _snippets(match, rows, "abstract")

    return papers, ordered, shown, annotate


def _genes(match: TextMatch, backed: QuerySet, selected: dict, named: dict[str, str]):
    genes = public_genes().filter(Q(pk__in=match.ids(Gene)) | Q(symbol__in=named))
    if selected:
        links = Mechanism.genes.through.objects.filter(mechanism_id__in=backed.values("mechanism_id"))
        genes = genes.filter(pk__in=links.values("gene_id"))
    # A gene the query names (by symbol or alias) comes first, then those it names by prefix.
    how = Case(
        When(symbol__in=[s for s, h in named.items() if h != "prefix"], then=Value(2)),
        When(symbol__in=[s for s, h in named.items() if h == "prefix"], then=Value(1)),
        default=Value(0),
        output_field=IntegerField(),
    )
    ordered = genes.annotate(named=how, rank=match.rank(Gene)).order_by("-named", "-rank", "symbol")
    return genes, ordered, None, lambda rows: rows


def _snippets(match: TextMatch, rows: list, field: str, *, whole=False) -> list:
    for row in rows:
        setattr(row, f"{field}_snippet", snippets.finish(match.marked_text(row, field, whole=whole)))
    return rows
