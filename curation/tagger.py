"""A dictionary tagger: finds the atlas's own terms (genes and their aliases, therapies, mechanism
names) in PubMed text, and highlights them. No Django, no external service.

Terms are compiled into one regular expression per case rule, built from a
trie, so a scan costs about the length of the text times the length of the
longest term, however many terms the atlas has. A term matches as a whole
word (no letter or digit right before or after it); where terms overlap, the
leftmost wins, then the longest ("PD-1 blockade" over "PD-1"). Gene symbols and
aliases match case-sensitively (B2M, not b2m); therapies and mechanism names
ignore case. A symbol ending in digits also matches with a hyphen before them
(CTLA4 and CTLA-4), the way papers often write it.

`highlight` escapes every character of the text and wraps each match, itself
escaped, in a <mark>: the output is safe HTML whatever the text contains.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from html import escape

__all__ = ["GENE", "MECHANISM", "THERAPY", "Match", "Tagger", "Term", "gene_terms"]

GENE, THERAPY, MECHANISM = "gene", "therapy", "mechanism"
KINDS = (GENE, MECHANISM, THERAPY)
MIN_TERM_LENGTH = 2
_LAST_DIGITS = re.compile(r"^(.*[A-Za-z])(\d+)$")
_BEFORE, _AFTER = r"(?<![A-Za-z0-9])", r"(?![A-Za-z0-9])"


@dataclass(frozen=True)
class Term:
    text: str  # as it is matched
    kind: str  # GENE, THERAPY or MECHANISM
    key: str  # what it stands for: a gene symbol, a therapy's name, a mechanism's slug
    label: str  # how a reader is told what matched: "gene B2M", "therapy Pembrolizumab"

    @property
    def case_sensitive(self) -> bool:
        return self.kind == GENE


@dataclass(frozen=True)
class Match:
    start: int
    end: int
    terms: tuple[Term, ...]  # one text can stand for several things (an alias two genes share)


def gene_terms(symbol: str, aliases: Iterable[str] = ()) -> list[Term]:
    """A gene's symbol, its hyphenated form (CTLA4 → CTLA-4) and its aliases, as terms."""
    label = f"gene {symbol}"
    texts = [symbol, *aliases]
    hyphenated = _LAST_DIGITS.match(symbol)
    if hyphenated and "-" not in symbol:
        texts.append(f"{hyphenated[1]}-{hyphenated[2]}")
    return [Term(text, GENE, symbol, label) for text in dict.fromkeys(texts)]


class Tagger:
    """Finds `terms` in text; build one per dictionary and reuse it (compiling is the costly part)."""

    def __init__(self, terms: Iterable[Term]):
        self._by_text: dict[tuple[bool, str], list[Term]] = {}
        for term in terms:
            text = " ".join(term.text.split())
            if len(text) < MIN_TERM_LENGTH:
                continue
            key = (term.case_sensitive, text if term.case_sensitive else text.lower())
            if term not in self._by_text.setdefault(key, []):
                self._by_text[key].append(term)
        self._patterns = []
        for case_sensitive in (True, False):
            texts = [text for sensitive, text in self._by_text if sensitive == case_sensitive]
            if texts:
                flags = 0 if case_sensitive else re.IGNORECASE
                self._patterns.append((case_sensitive, re.compile(_BEFORE + _trie_pattern(texts) + _AFTER, flags)))

    def _all_matches(self, text: str) -> list[Match]:
        # Each case rule scans on its own, so a gene inside a mechanism's name ("Loss of B2M") is found too.
        found = []
        for case_sensitive, pattern in self._patterns:
            for match in pattern.finditer(text):
                matched = " ".join(match.group(0).split())
                terms = self._by_text[(case_sensitive, matched if case_sensitive else matched.lower())]
                found.append(Match(match.start(), match.end(), tuple(terms)))
        return found

    def find(self, text: str) -> list[Match]:
        """Non-overlapping matches in `text`, left to right (the leftmost, then the longest, wins an overlap)."""
        found = sorted(self._all_matches(text), key=lambda m: (m.start, -(m.end - m.start)))
        kept, reached = [], 0
        for match in found:
            if match.start >= reached:
                kept.append(match)
                reached = match.end
        return kept

    def keys(self, texts: Iterable[str]) -> dict[str, list[str]]:
        """Every term found in `texts`, overlapping ones included, as {kind: sorted distinct keys}."""
        found: dict[str, set[str]] = {kind: set() for kind in KINDS}
        for text in texts:
            for match in self._all_matches(text):
                for term in match.terms:
                    found[term.kind].add(term.key)
        return {kind: sorted(keys) for kind, keys in found.items()}

    def highlight(self, text: str) -> str:
        """`text` as safe HTML: everything escaped, each match wrapped in <mark class="term term-KIND">."""
        parts, position = [], 0
        for match in self.find(text):
            kinds = " ".join(sorted({f"term-{term.kind}" for term in match.terms}))
            labels = "; ".join(dict.fromkeys(term.label for term in match.terms))
            parts.append(escape(text[position : match.start]))
            parts.append(
                f'<mark class="term {kinds}" title="{escape(labels)}">{escape(text[match.start : match.end])}</mark>'
            )
            position = match.end
        parts.append(escape(text[position:]))
        return "".join(parts)


def _trie_pattern(texts: Iterable[str]) -> str:
    """One regular expression matching any of `texts`, longest first, as a trie of alternatives."""
    trie: dict = {}
    for text in texts:
        node = trie
        for char in text:
            node = node.setdefault(char, {})
        node[""] = {}

    def build(node: dict) -> str:
        branches = [_char(char) + build(child) for char, child in sorted(node.items()) if char]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        # A term that ends here and continues in a longer one: the optional group is greedy, so longest first.
        return f"(?:{body})?" if "" in node else body

    return build(trie)


def _char(char: str) -> str:
    # Papers break lines and double spaces inside names: any run of white space matches a space.
    return r"\s+" if char == " " else re.escape(char)
