"""ESearch answers as typed values; Django-free like `pubmed_records`, whose efetch parser it sits beside.

``parse_esearch`` takes the bytes of one ``esearch db=pubmed`` answer (the
``eSearchResult`` DTD of 2006-06-28 that Biopython ships) and returns a
``SearchPage``: the total Count, the PMIDs of this page, the history server's
WebEnv and query key when ``usehistory=y`` was sent, and what NCBI says about
the query: its translation, and the ErrorList and WarningList it adds instead
of failing (``PhraseNotFound``, ``OutputMessage: No items found.``, the
"Restrictions achieved" note when more than 9,999 IDs were asked for).

An ``<ERROR>`` answer ("Search Backend failed: ...") raises Biopython's
``RuntimeError`` unchanged, so that the HTTP layer decides what is worth a retry.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass, field

from Bio import Entrez

__all__ = ["ESEARCH_MAX_IDS", "SearchPage", "SearchParseError", "parse_esearch"]

# PubMed's ESearch hands out at most this many IDs of one result, whatever retmax and retstart say
# (it answers "Restrictions achieved. start and count adjusted to 0, 9999").
ESEARCH_MAX_IDS = 9_999


class SearchParseError(ValueError):
    """The XML parsed, but is not an eSearchResult."""


@dataclass(frozen=True)
class SearchPage:
    count: int  # every PMID the query matches, not only those on this page
    pmids: list[int] = field(default_factory=list)
    retstart: int = 0
    retmax: int = 0
    webenv: str = ""
    query_key: str = ""
    translation: str = ""
    errors: list[str] = field(default_factory=list)  # "PhraseNotFound: abcXYZ"
    warnings: list[str] = field(default_factory=list)  # "OutputMessage: No items found."


def parse_esearch(data: bytes) -> SearchPage:
    """Parse one ESearch answer; raises ``SearchParseError`` if it is some other E-utility's XML."""
    parsed = Entrez.read(io.BytesIO(data), validate=False)
    if not isinstance(parsed, Mapping) or "Count" not in parsed or "IdList" not in parsed:
        raise SearchParseError("the XML is not an eSearchResult")
    return SearchPage(
        count=int(parsed["Count"]),
        pmids=[int(pmid) for pmid in parsed["IdList"]],
        retstart=int(parsed.get("RetStart") or 0),
        retmax=int(parsed.get("RetMax") or 0),
        webenv=str(parsed.get("WebEnv") or ""),
        query_key=str(parsed.get("QueryKey") or ""),
        translation=str(parsed.get("QueryTranslation") or ""),
        errors=_messages(parsed.get("ErrorList")),
        warnings=_messages(parsed.get("WarningList")),
    )


def _messages(element) -> list[str]:
    # Biopython gives {"PhraseNotFound": ["abcXYZ"], "FieldNotFound": []}: one line per entry, kind first.
    if not element:
        return []
    return [f"{kind}: {text}" for kind, texts in element.items() for text in texts]
