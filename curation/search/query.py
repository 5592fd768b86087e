"""What a reader typed, understood as web-search syntax; Django-free.

`parse` turns a query into terms: words, "quoted phrases", `OR` between two terms, `-word`
to exclude, and `word*` for a prefix. Anything else is text: markup, operators alone, an
unbalanced quote (the phrase runs to the end) or control characters never raise; at worst
they leave no term, and a query without terms finds nothing. Both search backends read the
same parse, so PostgreSQL and the SQLite fallback agree on what a query means.
"""

import re
from dataclasses import dataclass, field, replace

MAX_QUERY_LENGTH = 200
# Lexemes PostgreSQL's parser and the fallback both understand: letters and digits.
_WORD_CHARS = re.compile(r"[^\w]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\ue000\ue001]")
_TOKEN = re.compile(r'(-?)"([^"]*)"?|(\S+)')
# What a gene symbol looks like when typed as one: capitals or digits (JAK, B2M, HLA-A).
_SYMBOL_LIKE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,31}$")
_CAPITALISED_SYMBOL = re.compile(r"^(?=.*[A-Z])[A-Z0-9-]{2,32}$")


class QueryTooLong(ValueError):
    """The query is longer than MAX_QUERY_LENGTH; the message says so in words."""


@dataclass(frozen=True)
class Term:
    text: str
    phrase: bool = False
    negated: bool = False
    prefix: bool = False
    # Gene symbols this term names (by symbol, alias or symbol prefix): matching any counts.
    expansions: tuple[str, ...] = ()

    @property
    def words(self) -> list[str]:
        return [word for word in _WORD_CHARS.split(self.text) if word]

    @property
    def could_be_gene(self) -> bool:
        return not (self.phrase or self.negated) and bool(_SYMBOL_LIKE.match(self.text))

    @property
    def gene_prefix(self) -> str | None:
        """The symbol prefix this term asks for: `JAK` (in capitals) or `jak*` finds JAK1 and JAK2."""
        if not self.could_be_gene:
            return None
        if self.prefix or _CAPITALISED_SYMBOL.match(self.text):
            return self.text
        return None


@dataclass(frozen=True)
class ParsedQuery:
    """Groups of alternatives: every group must match (AND), any term of a group will do (OR)."""

    groups: tuple[tuple[Term, ...], ...] = ()
    text: str = ""
    notes: tuple[str, ...] = field(default=())

    @property
    def terms(self) -> list[Term]:
        return [term for group in self.groups for term in group]

    @property
    def positive_terms(self) -> list[Term]:
        return [term for term in self.terms if not term.negated]

    def __bool__(self) -> bool:
        """A query finds something only with a term to look for; exclusions alone select nothing."""
        return bool(self.positive_terms)

    def highlight_words(self) -> list[str]:
        """The words a snippet marks: what was asked for, and the symbols it named."""
        words = []
        for term in self.positive_terms:
            words.append(term.text)
            words.extend(term.expansions)
        return words

    def without_exclusions(self) -> "ParsedQuery":
        groups = (tuple(term for term in group if not term.negated) for group in self.groups)
        return replace(self, groups=tuple(group for group in groups if group))

    def exclusions(self) -> "ParsedQuery":
        """The excluded terms as one group of alternatives: what a row must not match any of."""
        excluded = tuple(replace(term, negated=False) for term in self.terms if term.negated)
        return replace(self, groups=(excluded,) if excluded else ())

    def expanded(self, symbols_by_term: dict[str, tuple[str, ...]]) -> "ParsedQuery":
        """The same query with the gene symbols each term resolves to (see `Term.expansions`)."""
        groups = tuple(
            tuple(replace(term, expansions=symbols_by_term.get(term.text, ())) for term in group)
            for group in self.groups
        )
        return replace(self, groups=groups)


def clean(text: str) -> str:
    """The query as searched: control characters are spaces, runs of spaces one space."""
    return " ".join(_CONTROL.sub(" ", text or "").split())


def check_length(text: str) -> None:
    if len(text) > MAX_QUERY_LENGTH:
        raise QueryTooLong(
            f"A search is at most {MAX_QUERY_LENGTH} characters; this one has {len(text):,}. "
            "Shorten it to the words that matter."
        )


def parse(text: str) -> ParsedQuery:
    """The query's terms; raises QueryTooLong for a query over MAX_QUERY_LENGTH characters."""
    text = clean(text)
    check_length(text)
    groups: list[list[Term]] = []
    join_next = False
    for match in _TOKEN.finditer(text):
        minus, quoted, bare = match.groups()
        if quoted is not None:
            term = _term(quoted, phrase=True, negated=bool(minus))
        elif bare.upper() == "OR":
            join_next = bool(groups)
            continue
        else:
            term = _term(bare.lstrip("-"), negated=bare.startswith("-") and len(bare) > 1)
        if term is None:
            continue
        if join_next and groups:
            groups[-1].append(term)
        else:
            groups.append([term])
        join_next = False
    return ParsedQuery(groups=tuple(tuple(group) for group in groups), text=text)


def _term(raw: str, *, phrase=False, negated=False) -> Term | None:
    prefix = not phrase and raw.endswith("*")
    # Outer punctuation is not part of a word ("(PD-1)," is PD-1); inner hyphens and dots are.
    stripped = raw.strip("*").strip("\"'()[]{},;:!?.<>")
    if not _WORD_CHARS.sub("", stripped):
        return None
    return Term(text=stripped, phrase=phrase and " " in stripped, negated=negated, prefix=prefix)
