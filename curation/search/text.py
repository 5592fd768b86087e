"""Matching and ranking rows by a parsed query: PostgreSQL full-text search, or a plain fallback.

On PostgreSQL every searchable table has a stored, weighted `search_vector` with a GIN index
(migration 0004), read through the `*Document` models: a match is `vector @@ tsquery`, the
rank is `ts_rank` with the weights below, snippets come from `ts_headline`. Elsewhere
(SQLite, for development) each term is a case-insensitive substring of one of the same
columns and rows whose name holds the first term rank first. Both read the same
`ParsedQuery`, so they agree on phrases, OR, exclusions and prefixes; only PostgreSQL
stems words ("presenting" finds "presentation").
"""

import re
from functools import reduce
from operator import and_, or_

from django.contrib.postgres.search import SearchHeadline, SearchQuery, SearchRank
from django.db import connection
from django.db.models import Case, F, FloatField, Func, Q, Value, When
from django.db.models.functions import Replace

from curation.models import (
    ALIAS_SEPARATOR,
    SEARCH_CONFIG,
    CancerType,
    CancerTypeDocument,
    Evidence,
    EvidenceDocument,
    Gene,
    GeneDocument,
    Mechanism,
    MechanismDocument,
    Reference,
    ReferenceDocument,
    Therapy,
    TherapyDocument,
    split_aliases,
)
from curation.search.query import ParsedQuery, Term

# ts_rank's weights for D, C, B, A: a name or symbol (A) counts ten times an abstract (D).
RANK_WEIGHTS = [0.1, 0.2, 0.4, 1.0]
MAX_GENE_EXPANSIONS = 24
# The columns each kind is searched in. On PostgreSQL the same columns, weighted, make up the
# stored vector (frozen in migration 0004); the first column is the row's name.
SEARCHED = {
    Mechanism: (MechanismDocument, ("name", "aliases", "summary", "strategies")),
    Gene: (GeneDocument, ("symbol", "aliases", "name")),
    Therapy: (TherapyDocument, ("name", "therapy_class")),
    CancerType: (CancerTypeDocument, ("name",)),
    Evidence: (EvidenceDocument, ("statement", "level", "direction")),
    Reference: (ReferenceDocument, ("title", "abstract", "mesh_terms", "keywords", "publication_types", "authors")),
}
START, STOP = "\ue000", "\ue001"  # private-use characters: the highlight, until snippets.py marks it up
# PostgreSQL's parser reads "JAK1/JAK2" as one token; the stored vectors split it, so must queries
# and headlines. The headline shows U+2215 (division slash) in its place, turned back after.
_SLASH_LOOKALIKE = "\u2215"


def uses_full_text() -> bool:
    return connection.vendor == "postgresql"


def resolve_genes(query: ParsedQuery, genes) -> tuple[ParsedQuery, dict[str, str]]:
    """The query with each gene-like term expanded to the genes it names, and how each gene matched.

    `genes` is the queryset of genes readers may see. A term names a gene by its symbol
    (any case), by one of its aliases (PD-L1 is CD274), or, typed in capitals or ending
    in `*`, as the start of symbols (JAK finds JAK1 and JAK2). One query, whatever the
    number of terms; the expansion carries the gene's symbol and aliases, so that
    searching CD274 also finds a summary that says PD-L1. Returns {symbol: "symbol" |
    "alias" | "prefix"}.
    """
    candidates = [term for term in query.positive_terms if term.could_be_gene]
    if not candidates:
        return query, {}
    condition = Q()
    for term in candidates:
        condition |= Q(symbol__iexact=term.text) | _alias_condition(term.text)
        if term.gene_prefix:
            condition |= Q(symbol__istartswith=term.gene_prefix)
    rows = list(genes.filter(condition).order_by("symbol").values_list("symbol", "aliases")[:200])
    expansions: dict[str, tuple[str, ...]] = {}
    matched: dict[str, str] = {}
    for term in candidates:
        found = []
        for symbol, aliases in sorted(rows, key=lambda row: (len(row[0]), row[0])):
            how = _how_named(term, symbol, split_aliases(aliases))
            if how:
                found.append((symbol, aliases))
                matched.setdefault(symbol, how)
        words = [word for symbol, aliases in found for word in (symbol, *split_aliases(aliases))]
        words = [word for word in dict.fromkeys(words) if word.casefold() != term.text.casefold()]
        expansions[term.text] = tuple(words[:MAX_GENE_EXPANSIONS])
    return query.expanded(expansions), matched


def _alias_condition(text: str) -> Q:
    # Aliases are stored as "A, B, C" (see AliasesField): an exact alias is a whole item.
    sep = ALIAS_SEPARATOR
    return (
        Q(aliases__iexact=text)
        | Q(aliases__istartswith=text + sep)
        | Q(aliases__iendswith=sep + text)
        | Q(aliases__icontains=sep + text + sep)
    )


def _how_named(term: Term, symbol: str, aliases: list[str]) -> str | None:
    if symbol.casefold() == term.text.casefold():
        return "symbol"
    if any(alias.casefold() == term.text.casefold() for alias in aliases):
        return "alias"
    if term.gene_prefix and symbol.casefold().startswith(term.gene_prefix.casefold()):
        return "prefix"
    return None


class TextMatch:
    """How rows of each kind match one query; `full_text()` picks the backend for this database."""

    def __init__(self, query: ParsedQuery):
        self.query = query

    @staticmethod
    def for_query(query: ParsedQuery) -> "TextMatch":
        return FullTextMatch(query) if uses_full_text() else SubstringMatch(query)

    def ids(self, model):
        """A subquery of the primary keys of `model`'s rows that match."""
        raise NotImplementedError

    def filter(self, queryset):
        return queryset.filter(pk__in=self.ids(queryset.model))

    def rank(self, model, path: str = ""):
        """An expression ranking `model`'s rows (reached by `path` from the queryset's model), higher first."""
        raise NotImplementedError

    def with_headline(self, queryset, field: str, *, whole=False):
        """`queryset` annotated with what `snippet` needs to highlight `field` (nothing for the fallback)."""
        return queryset

    def marked_text(self, row, field: str, *, whole=False) -> str:
        """`field` of `row` (or a passage of it) with the matched words between START and STOP."""
        raise NotImplementedError


class FullTextMatch(TextMatch):
    def __init__(self, query: ParsedQuery):
        super().__init__(query)
        self.tsquery = _tsquery(query)

    def ids(self, model):
        document, _ = SEARCHED[model]
        return document.objects.filter(vector=self.tsquery).values("row_id")

    def rank(self, model, path: str = ""):
        vector = F(f"{path}search_document__vector")
        return SearchRank(vector, self.tsquery, weights=RANK_WEIGHTS)

    def with_headline(self, queryset, field: str, *, whole=False):
        source = _abstract_text(field) if field == "abstract" else F(field)
        if whole:
            options = {"highlight_all": True}
        else:
            options = {"max_words": 35, "min_words": 15, "max_fragments": 2, "fragment_delimiter": " … "}
        headline = SearchHeadline(
            Replace(source, Value("/"), Value(_SLASH_LOOKALIKE)),
            self.tsquery,
            config=SEARCH_CONFIG,
            start_sel=START,
            stop_sel=STOP,
            **options,
        )
        return queryset.annotate(**{f"{field}_headline": headline})

    def marked_text(self, row, field: str, *, whole=False) -> str:
        return (getattr(row, f"{field}_headline", "") or "").replace(_SLASH_LOOKALIKE, "/")


def _abstract_text(field: str):
    # The abstract's section texts as one string (JSON elsewhere in the row is not prose).
    return Func(
        F(field),
        template="(SELECT string_agg(s #>> '{}', ' ') FROM jsonb_array_elements(jsonb_path_query_array("
        "%(expressions)s, '$[*].text')) AS s)",
    )


def _tsquery(query: ParsedQuery) -> SearchQuery:
    groups = [reduce(or_, (_term_tsquery(term) for term in group)) for group in query.groups]
    return reduce(and_, groups)


def _term_tsquery(term: Term) -> SearchQuery:
    if term.prefix:
        # Raw tsquery syntax only ever sees [a-z0-9_] words, so no input can break it.
        words = [re.sub(r"\W", "", word.lower()) for word in term.words]
        words = [word for word in words if word]
        found = SearchQuery(" <-> ".join(words) + ":*", search_type="raw", config=SEARCH_CONFIG)
    else:
        found = _phrase(term.text)
    for alternative in term.expansions:
        found = found | _phrase(alternative)
    return ~found if term.negated else found


def _phrase(text: str) -> SearchQuery:
    # phraseto_tsquery takes any text and never raises; a one-word phrase is the word.
    return SearchQuery(text.replace("/", " "), search_type="phrase", config=SEARCH_CONFIG)


class SubstringMatch(TextMatch):
    def ids(self, model):
        _, fields = SEARCHED[model]
        condition = reduce(and_, (self._group(group, fields) for group in self.query.groups), Q())
        return model.objects.filter(condition).values("pk")

    def _group(self, group, fields) -> Q:
        return reduce(or_, (self._term(term, fields) for term in group))

    def _term(self, term: Term, fields) -> Q:
        found = Q()
        for text in (term.text, *term.expansions):
            for name in fields:
                found |= Q(**{f"{name}__icontains": text})
        return ~found if term.negated else found

    def rank(self, model, path: str = ""):
        _, fields = SEARCHED[model]
        first = self.query.positive_terms[0]
        named = reduce(or_, (Q(**{f"{path}{fields[0]}__icontains": text}) for text in (first.text, *first.expansions)))
        return Case(When(named, then=Value(1.0)), default=Value(0.0), output_field=FloatField())

    def marked_text(self, row, field: str, *, whole=False) -> str:
        value = getattr(row, field, "")
        if field == "abstract":
            value = " ".join(section.get("text", "") for section in value or [] if isinstance(section, dict))
        return mark_words(str(value or ""), self.query.highlight_words(), whole=whole)


def mark_words(text: str, words: list[str], *, whole=False, width=240) -> str:
    """`text`, or the passage of about `width` characters around the first match, with matches marked."""
    words = [word for word in words if word]
    if not words:
        return text if whole else text[:width]
    pattern = re.compile("|".join(re.escape(word) for word in sorted(words, key=len, reverse=True)), re.IGNORECASE)
    if not whole:
        first = pattern.search(text)
        start = max(0, (first.start() if first else 0) - width // 3)
        text = ("…" if start else "") + text[start : start + width] + ("…" if len(text) > start + width else "")
    return pattern.sub(lambda match: f"{START}{match.group(0)}{STOP}", text)
