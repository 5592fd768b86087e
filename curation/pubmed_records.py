"""Typed PubMed citation records and the efetch XML parser.

Django-free on purpose: the parser is pure data-in/data-out, so it can be
exercised on recorded XML without settings, and reused by scripts.

``parse_efetch`` takes the raw bytes of one ``efetch db=pubmed retmode=xml``
answer and returns one ``CitationRecord`` per ``<PubmedArticle>`` or
``<PubmedBookArticle>``. Structure comes from ``Bio.Entrez.read`` (which checks
the document against NCBI's DTD); ``raw_xml`` is cut from the original bytes so
provenance is exactly what NCBI sent.
"""

from __future__ import annotations

import html
import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from xml.parsers import expat

import nh3
from Bio import Entrez

__all__ = [
    "CORRECTION_REF_TYPES",
    "CitationRecord",
    "RecordParseError",
    "parse_efetch",
    "plain_text",
    "sanitize_html",
]


class RecordParseError(ValueError):
    """The XML parsed, but does not hold PubMed records the way the DTD says."""


# CommentsCorrections types that change how a reference may be used as evidence.
# "Cites" (the reference list) and CommentIn/CommentOn are deliberately left out:
# there can be hundreds of them and they say nothing about the article's standing.
CORRECTION_REF_TYPES = frozenset(
    {
        "RetractionIn",
        "RetractionOf",
        "ErratumIn",
        "ErratumFor",
        "ExpressionOfConcernIn",
        "ExpressionOfConcernFor",
        "RetractedandRepublishedIn",
        "RetractedandRepublishedFrom",
        "CorrectedandRepublishedIn",
        "CorrectedandRepublishedFrom",
        "UpdateIn",
        "UpdateOf",
        "RepublishedIn",
        "RepublishedFrom",
    }
)
_RETRACTING_REF_TYPES = frozenset({"RetractionIn", "RetractedandRepublishedIn"})
_RETRACTED_PUBLICATION_TYPE = "Retracted Publication"

# ---------------------------------------------------------------------------
# Sanitising
# ---------------------------------------------------------------------------
# The DTD's %text; entity allows exactly these inline elements, plus MathML.
_INLINE_TAGS = {"b", "i", "sup", "sub", "u"}
# Presentation MathML only. Left out on purpose: maction (interactive),
# annotation-xml (may embed arbitrary HTML, a known mutation-XSS vector) and
# mglyph (loads an image from a URL).
_MATHML_TAGS = {
    "math", "menclose", "merror", "mfenced", "mfrac", "mi", "mmultiscripts",
    "mn", "mo", "mover", "mpadded", "mphantom", "mprescripts", "mroot", "mrow",
    "ms", "mspace", "msqrt", "mstyle", "msub", "msubsup", "msup", "mtable",
    "mtd", "mtext", "mtr", "munder", "munderover", "none", "semantics", "annotation",
}  # fmt: skip
# Layout attributes only: nothing that carries a URL, a script or a style.
_MATHML_ATTRIBUTES = {
    "accent", "accentunder", "close", "columnalign", "columnspacing", "depth",
    "display", "displaystyle", "encoding", "fence", "form", "height", "largeop",
    "linethickness", "lspace", "mathsize", "mathvariant", "maxsize", "minsize",
    "movablelimits", "notation", "open", "rowalign", "rowspacing", "rspace",
    "scriptlevel", "separator", "separators", "stretchy", "symmetric", "width",
}  # fmt: skip

_CLEANER = nh3.Cleaner(
    tags=_INLINE_TAGS | _MATHML_TAGS,
    # "*": empty overrides ammonia's default generic lang/title attributes.
    attributes={"*": set()} | {tag: _MATHML_ATTRIBUTES for tag in _MATHML_TAGS},
    url_schemes=set(),
    link_rel=None,
    strip_comments=True,
)
_TEXT_ONLY = nh3.Cleaner(tags=set(), attributes={"*": set()}, url_schemes=set(), link_rel=None)
_WHITESPACE = re.compile(r"\s+")


def sanitize_html(value: str) -> str:
    """Return ``value`` as safe HTML: PubMed's inline markup and MathML kept, all else dropped.

    Input is an HTML fragment as produced by ``Entrez.read(escape=True)``: text is
    already entity-escaped, so ``&lt;script&gt;`` written as text by a publisher
    stays visible text and never becomes a tag.
    """
    # MathML in efetch output is pretty-printed; the indentation means nothing in HTML.
    collapsed = _WHITESPACE.sub(" ", value).strip()
    return _CLEANER.clean(collapsed) if collapsed else ""


def plain_text(value: str) -> str:
    """Return ``value`` (an escaped HTML fragment) as plain text without tags."""
    collapsed = _WHITESPACE.sub(" ", value).strip()
    return html.unescape(_TEXT_ONLY.clean(collapsed)) if collapsed else ""


# ---------------------------------------------------------------------------
# The record
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class CitationRecord:
    """One PubMed citation, in the shape of the ``Reference`` model's fields.

    ``title`` and the abstract sections' ``text`` are sanitised HTML; every other
    string is plain text.
    """

    pmid: int
    doi: str = ""
    pmcid: str = ""
    title: str = ""
    abstract: list[dict] = field(default_factory=list)
    authors: list[dict] = field(default_factory=list)
    journal_title: str = ""
    journal_iso: str = ""
    volume: str = ""
    issue: str = ""
    pages: str = ""
    pub_year: int | None = None
    pub_date: str = ""
    publication_types: list[str] = field(default_factory=list)
    mesh_terms: list[str] = field(default_factory=list)
    keywords: list[str] = field(default_factory=list)
    is_book: bool = False
    corrections: list[dict] = field(default_factory=list)
    is_retracted: bool = False
    has_erratum: bool = False
    has_expression_of_concern: bool = False
    raw_xml: str = ""

    @property
    def book_accession(self) -> str:
        """NCBI Bookshelf accession (``NBK…``) of a book record, else ``""``.

        Not a model field; kept in ``raw_xml`` and read back from there.
        """
        if not self.is_book:
            return ""
        match = re.search(r'<ArticleId IdType="bookaccession">\s*([^<\s]+)\s*</ArticleId>', self.raw_xml)
        return match.group(1) if match else ""


# ---------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_TOP_LEVEL = ("PubmedArticle", "PubmedBookArticle")
_FIRST_PMID = re.compile(rb"<PMID\b[^>]*>\s*(\d+)\s*</PMID>")
_YEAR = re.compile(r"\b(1[5-9]\d\d|2\d\d\d)\b")


def parse_efetch(data: bytes) -> list[CitationRecord]:
    """Parse one efetch (``db=pubmed``, ``retmode=xml``) answer into records, in document order.

    An empty ``<PubmedArticleSet>`` gives ``[]``. Errors from ``Bio.Entrez.read``
    (``NotXMLError``, ``CorruptedXMLError``, ``RuntimeError`` for ``<ERROR>`` bodies
    or DTDs that cannot be loaded) propagate unchanged so that the HTTP layer can
    decide what is worth a retry; ``RecordParseError`` means the XML is well formed
    but not a PubMed article set.
    """
    # escape=True keeps publisher text such as "&lt;script&gt;" as escaped text;
    # with the default, Biopython would hand it back as a literal <script> tag.
    # validate=False: an element newer than the shipped DTD is skipped rather
    # than failing the whole batch of 200 records.
    parsed = Entrez.read(io.BytesIO(data), validate=False, escape=True)
    if not isinstance(parsed, Mapping) or not ({"PubmedArticle", "PubmedBookArticle"} & parsed.keys()):
        raise RecordParseError("the XML is not a PubmedArticleSet")

    chunks = _top_level_chunks(data)
    queues = {tag: list(parsed.get(tag, [])) for tag in _TOP_LEVEL}
    expected = sum(len(items) for items in queues.values())
    if len(chunks) != expected:
        raise RecordParseError(f"found {len(chunks)} article elements in the bytes but {expected} in the parse")

    records = []
    for tag, raw in chunks:
        item = queues[tag].pop(0)
        record = _article_record(item, raw) if tag == "PubmedArticle" else _book_record(item, raw)
        pmid_in_raw = _FIRST_PMID.search(raw.encode("utf-8"))
        if pmid_in_raw is None or int(pmid_in_raw.group(1)) != record.pmid:
            raise RecordParseError(f"raw XML and parsed record disagree about PMID {record.pmid}")
        records.append(record)
    return records


def _top_level_chunks(data: bytes) -> list[tuple[str, str]]:
    """Return ``(tag, exact XML text)`` for each article element directly under the root."""
    spans: list[tuple[str, int, int]] = []
    depth = 0
    start = 0
    parser = expat.ParserCreate()

    def on_start(name, attrs):
        nonlocal depth, start
        depth += 1
        if depth == 2 and name in _TOP_LEVEL:
            start = parser.CurrentByteIndex

    def on_end(name):
        nonlocal depth
        if depth == 2 and name in _TOP_LEVEL:
            # CurrentByteIndex is the "<" of the end tag; include up to its ">".
            end = data.index(b">", parser.CurrentByteIndex) + 1
            spans.append((name, start, end))
        depth -= 1

    parser.StartElementHandler = on_start
    parser.EndElementHandler = on_end
    parser.Parse(data, True)
    # NCBI always sends UTF-8 (the XML declaration carries no other encoding).
    return [(name, data[s:e].decode("utf-8")) for name, s, e in spans]


def _article_record(article: Mapping, raw_xml: str) -> CitationRecord:
    citation = article["MedlineCitation"]
    art = citation["Article"]
    journal = art["Journal"]
    issue = journal.get("JournalIssue", {})
    article_ids = _article_ids(article.get("PubmedData", {}).get("ArticleIdList", []))
    publication_types = [plain_text(p) for p in art.get("PublicationTypeList", [])]
    corrections = _corrections(citation.get("CommentsCorrectionsList", []))
    pub_date, pub_year = _pub_date(issue.get("PubDate", {}))

    title = sanitize_html(art.get("ArticleTitle", ""))
    if not title:
        # Non-English articles may carry only the original-language title.
        title = sanitize_html(art.get("VernacularTitle", ""))

    return CitationRecord(
        pmid=int(citation["PMID"]),
        doi=article_ids.get("doi") or _elocation_doi(art.get("ELocationID", [])),
        pmcid=article_ids.get("pmc", ""),
        title=title,
        abstract=_abstract(art.get("Abstract")),
        authors=_authors(art.get("AuthorList", [])),
        journal_title=plain_text(journal.get("Title", "")),
        journal_iso=plain_text(journal.get("ISOAbbreviation", ""))
        or plain_text(citation.get("MedlineJournalInfo", {}).get("MedlineTA", "")),
        volume=plain_text(issue.get("Volume", "")),
        issue=plain_text(issue.get("Issue", "")),
        # Online-only articles have no Pagination; PubMed then cites their e-locator ("Elife. 2019;8:e41090").
        pages=_pages(art.get("Pagination")) or _elocation(art.get("ELocationID", []), "pii"),
        pub_year=pub_year,
        pub_date=pub_date,
        publication_types=publication_types,
        mesh_terms=[plain_text(h["DescriptorName"]) for h in citation.get("MeshHeadingList", [])],
        keywords=_keywords(citation.get("KeywordList", [])),
        is_book=False,
        corrections=corrections,
        is_retracted=_is_retracted(corrections, publication_types),
        has_erratum=any(c["type"] == "ErratumIn" for c in corrections),
        has_expression_of_concern=any(c["type"] == "ExpressionOfConcernIn" for c in corrections),
        raw_xml=raw_xml,
    )


def _book_record(book_article: Mapping, raw_xml: str) -> CitationRecord:
    document = book_article["BookDocument"]
    book = document["Book"]
    article_ids = _article_ids(document.get("ArticleIdList", []))
    publication_types = [plain_text(p) for p in document.get("PublicationType", [])]
    pub_date, pub_year = _pub_date(book.get("PubDate", {}))
    book_title = book.get("BookTitle", "")

    # A chapter has its own ArticleTitle and authors; a whole book has neither,
    # so the book's title and the book-level author list stand in.
    authors = _authors(_author_list_of_type(document.get("AuthorList", []), "authors"))
    if not authors:
        authors = _authors(_author_list_of_type(book.get("AuthorList", []), "authors"))

    return CitationRecord(
        pmid=int(document["PMID"]),
        doi=article_ids.get("doi") or _elocation_doi(book.get("ELocationID", [])),
        pmcid=article_ids.get("pmc", ""),
        title=sanitize_html(document.get("ArticleTitle", "")) or sanitize_html(book_title),
        abstract=_abstract(document.get("Abstract")),
        authors=authors,
        journal_title=plain_text(book_title),
        journal_iso="",
        volume=plain_text(book.get("Volume", "")),
        issue="",
        pages=_pages(document.get("Pagination")),
        pub_year=pub_year,
        pub_date=pub_date,
        publication_types=publication_types,
        mesh_terms=[],
        keywords=_keywords(document.get("KeywordList", [])),
        is_book=True,
        corrections=[],
        is_retracted=_is_retracted([], publication_types),
        has_erratum=False,
        has_expression_of_concern=False,
        raw_xml=raw_xml,
    )


def _article_ids(article_id_list: Iterable) -> dict[str, str]:
    ids: dict[str, str] = {}
    for article_id in article_id_list:
        id_type = article_id.attributes.get("IdType", "pubmed")
        value = plain_text(article_id)
        if value and id_type not in ids:
            ids[id_type] = value
    return ids


def _elocation_doi(elocations: Iterable) -> str:
    return _elocation(elocations, "doi")


def _elocation(elocations: Iterable, id_type: str) -> str:
    for elocation in elocations:
        attrs = elocation.attributes
        if attrs.get("EIdType") == id_type and attrs.get("ValidYN", "Y") == "Y":
            return plain_text(elocation)
    return ""


def _abstract(abstract: Mapping | None) -> list[dict]:
    if not abstract:
        return []
    sections = []
    for text in abstract.get("AbstractText", []):
        attrs = getattr(text, "attributes", {})
        html_text = sanitize_html(text)
        if not html_text:
            continue  # an empty <AbstractText/> (seen in real records) is no section to show
        sections.append(
            {
                # Attribute values are never escaped by Biopython: already plain text.
                "label": _WHITESPACE.sub(" ", attrs.get("Label", "")).strip(),
                "category": attrs.get("NlmCategory", ""),
                "text": html_text,
            }
        )
    return sections


def _author_list_of_type(author_lists, wanted: str) -> list:
    """Flatten the AuthorList(s) of one ``Type`` (books repeat AuthorList for editors)."""
    # Article/AuthorList is a single list; BookDocument/AuthorList is a list of lists.
    if author_lists and not isinstance(author_lists[0], list):
        author_lists = [author_lists]
    authors = []
    for author_list in author_lists:
        if getattr(author_list, "attributes", {}).get("Type", "authors") == wanted:
            authors.extend(author_list)
    return authors


def _authors(author_list: Iterable) -> list[dict]:
    authors = []
    for author in author_list:
        if getattr(author, "attributes", {}).get("ValidYN") == "N":
            # A name an erratum corrected: PubMed keeps it, marked invalid, beside the right one.
            continue
        if "CollectiveName" in author:
            authors.append(_author_dict(collective_name=plain_text(author["CollectiveName"])))
            continue
        authors.append(
            _author_dict(
                last_name=plain_text(author.get("LastName", "")),
                fore_name=plain_text(author.get("ForeName", "")),
                initials=plain_text(author.get("Initials", "")),
                orcid=_orcid(author.get("Identifier", [])),
            )
        )
    return authors


def _author_dict(*, last_name="", fore_name="", initials="", collective_name="", orcid="") -> dict:
    return {
        "last_name": last_name,
        "fore_name": fore_name,
        "initials": initials,
        "collective_name": collective_name,
        "orcid": orcid,
    }


_ORCID = re.compile(r"(\d{4}-\d{4}-\d{4}-\d{3}[\dX])", re.IGNORECASE)


def _orcid(identifiers: Iterable) -> str:
    # PubMed has both "0000-0002-…" and "https://orcid.org/0000-0002-…";
    # store the bare iD so the same person compares equal across records.
    for identifier in identifiers:
        if identifier.attributes.get("Source") == "ORCID":
            match = _ORCID.search(plain_text(identifier))
            if match:
                return match.group(1).upper()
    return ""


def _pages(pagination: Mapping | None) -> str:
    if not pagination:
        return ""
    medline = plain_text(pagination.get("MedlinePgn", ""))
    if medline:
        return medline
    start = plain_text(pagination.get("StartPage", ""))
    end = plain_text(pagination.get("EndPage", ""))
    return f"{start}-{end}" if start and end else start


def _pub_date(pub_date: Mapping) -> tuple[str, int | None]:
    """Return PubMed's display date ("2019 Jan 15", "2002 Spring", "1998 Dec-1999 Jan") and its year."""
    medline_date = plain_text(pub_date.get("MedlineDate", ""))
    if medline_date:
        # Free text by definition; the first plausible year is the publication year.
        match = _YEAR.search(medline_date)
        return medline_date, int(match.group(1)) if match else None
    year = plain_text(pub_date.get("Year", ""))
    parts = [year]
    if pub_date.get("Season"):
        parts.append(plain_text(pub_date["Season"]))
    elif pub_date.get("Month"):
        parts.append(_month_name(plain_text(pub_date["Month"])))
        if pub_date.get("Day"):
            day = plain_text(pub_date["Day"])
            parts.append(str(int(day)) if day.isdigit() else day)
    display = " ".join(p for p in parts if p)
    return display, int(year) if year.isdigit() else None


def _month_name(month: str) -> str:
    # Month is "Sep" in most records but "09" in some (pubmed4.xml).
    if month.isdigit() and 1 <= int(month) <= 12:
        return _MONTHS[int(month) - 1]
    return month[:1].upper() + month[1:3].lower() if len(month) >= 3 else month


def _keywords(keyword_lists: Iterable) -> list[str]:
    keywords: list[str] = []
    for keyword_list in keyword_lists:
        for keyword in keyword_list:
            text = plain_text(keyword)
            if text and text not in keywords:
                keywords.append(text)
    return keywords


def _corrections(comments_corrections: Iterable) -> list[dict]:
    corrections = []
    for entry in comments_corrections:
        ref_type = entry.attributes.get("RefType", "")
        if ref_type not in CORRECTION_REF_TYPES:
            continue
        pmid = plain_text(entry.get("PMID", ""))
        corrections.append(
            {
                "type": ref_type,
                "pmid": int(pmid) if pmid.isdigit() else None,
                "source": plain_text(entry.get("RefSource", "")),
            }
        )
    return corrections


def _is_retracted(corrections: list[dict], publication_types: list[str]) -> bool:
    return _RETRACTED_PUBLICATION_TYPE in publication_types or any(
        c["type"] in _RETRACTING_REF_TYPES for c in corrections
    )
