"""Typed PubMed citation records and the efetch XML parser.

Django-free on purpose: the parser is pure data-in/data-out, so it can be
exercised on recorded XML without settings, and reused by scripts.

``parse_efetch`` takes the raw bytes of one ``efetch db=pubmed retmode=xml``
answer and returns one ``CitationRecord`` per ``<PubmedArticle>`` or
``<PubmedBookArticle>``. The tree comes from lxml; each text field is read as
``Bio.Entrez.read(escape=True)`` would give it (an escaped HTML fragment with
the inline markup as tags) and sanitised from there. A body that is not an
article set goes to ``Bio.Entrez.read``, whose errors say what it is.
``raw_xml`` is cut from the original bytes so provenance is exactly what NCBI
sent.
"""

from __future__ import annotations

import html
import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from xml.parsers import expat

import nh3
from Bio import Entrez
from lxml import etree

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
    collapsed = " ".join(value.split())
    return _CLEANER.clean(collapsed) if _needs_cleaning(collapsed) else collapsed


def plain_text(value: str) -> str:
    """Return ``value`` (an escaped HTML fragment) as plain text without tags."""
    collapsed = " ".join(value.split())
    return html.unescape(_TEXT_ONLY.clean(collapsed)) if _needs_cleaning(collapsed) else collapsed


def _needs_cleaning(collapsed: str) -> bool:
    # Most of PubMed's text has no markup and no entity: the sanitiser would hand it back
    # unchanged (checked against nh3 on random text), so it is not asked. It does change
    # a leading byte-order mark and NUL, so those still go through it.
    return "<" in collapsed or "&" in collapsed or ">" in collapsed or "\x00" in collapsed or collapsed[:1] == "\ufeff"


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
_FIRST_PMID = re.compile(r"<PMID\b[^>]*>\s*(\d+)\s*</PMID>")
_YEAR = re.compile(r"\b(1[5-9]\d\d|2\d\d\d)\b")
_ARTICLE_START = re.compile(rb"<(PubmedArticle|PubmedBookArticle)[\s>]")
_END_TAG_CLOSE = re.compile(rb"\s*>")
_UNDECLARED_MATH = re.compile(rb"<mml:math(?=[\s/>])(?![^>]*\sxmlns:mml\s*=)")
_MATH_NAMESPACE = b' xmlns:mml="http://www.w3.org/1998/Math/MathML"'


def parse_efetch(data: bytes) -> list[CitationRecord]:
    """Parse one efetch (``db=pubmed``, ``retmode=xml``) answer into records, in document order.

    An empty ``<PubmedArticleSet>`` gives ``[]``. A body that is not a well-formed
    article set goes to ``Bio.Entrez.read``, and its errors (``NotXMLError``,
    ``CorruptedXMLError``, ``RuntimeError`` for ``<ERROR>`` bodies or DTDs that
    cannot be loaded) propagate unchanged so that the HTTP layer can decide what
    is worth a retry; ``RecordParseError`` means the XML is well formed but not a
    PubMed article set.
    """
    root = _article_set(data)
    articles = [element for element in root if element.tag in _TOP_LEVEL]
    chunks = _top_level_chunks(data, len(articles))
    if [tag for tag, _ in chunks] != [element.tag for element in articles]:
        raise RecordParseError(f"found {len(chunks)} article elements in the bytes but {len(articles)} in the parse")
    records = []
    for element, (tag, raw) in zip(articles, chunks, strict=True):
        record = _article_record(element, raw) if tag == "PubmedArticle" else _book_record(element, raw)
        pmid_in_raw = _FIRST_PMID.search(raw, raw.find("<PMID"))
        if pmid_in_raw is None or int(pmid_in_raw.group(1)) != record.pmid:
            raise RecordParseError(f"raw XML and parsed record disagree about PMID {record.pmid}")
        records.append(record)
    return records


def _article_set(data: bytes):
    """The document's root element when it is a well-formed ``<PubmedArticleSet>``; else raise Biopython's error.

    libxml2 (through lxml) builds the tree in C, which is what makes a batch
    cheap; Bio.Entrez builds it with a Python call per element, at several
    times the cost. The DTD is read only for what needs it: the named
    character entities it defines (NCBI writes characters as they are, so
    this is rare).
    """
    try:
        root = _lxml_parse(data)
    except etree.XMLSyntaxError:
        # What only PubMed's DTD resolves: its named character entities, and the mml prefix
        # it fixes on <mml:math> (declared on each math element here, as the DTD's default is).
        try:
            root = _lxml_parse(_UNDECLARED_MATH.sub(rb"\g<0>" + _MATH_NAMESPACE, data), with_dtd=True)
        except etree.XMLSyntaxError:
            return _refuse(data)
    if root.tag != "PubmedArticleSet":
        return _refuse(data)
    return root


def _lxml_parse(data: bytes, *, with_dtd: bool = False):
    # A parser per call: lxml parsers must not be shared between threads. No network, and
    # no external entity is ever loaded (internal ones, declared in the document, expand as
    # in any XML parser); with the DTD, only files shipped with Biopython are read.
    parser = etree.XMLParser(
        # With the DTD, entities stay nodes, read by _entity_text: one the DTD does not
        # define then reads as nothing, as Bio.Entrez skips it, instead of failing the parse.
        resolve_entities=False if with_dtd else "internal",
        load_dtd=with_dtd,
        no_network=True,
        remove_comments=True,
        remove_pis=True,
    )
    if with_dtd:
        parser.resolvers.add(_ShippedDtds())
    return etree.fromstring(data, parser)


class _ShippedDtds(etree.Resolver):
    """Resolves a DTD, or a file it includes, to Biopython's copy by file name; anything else to nothing."""

    directory = Path(Entrez.__file__).parent / "DTDs"

    def resolve(self, url, public_id, context):
        local = self.directory / PurePosixPath(url or "").name
        if url and local.is_file():
            return self.resolve_filename(str(local), context)
        return self.resolve_string("", context)


def _refuse(data: bytes):
    """Raise what Biopython says about a body that is not a PubMed article set."""
    # escape=True keeps publisher text such as "&lt;script&gt;" as escaped text;
    # validate=False: an element newer than the shipped DTD is skipped.
    parsed = Entrez.read(io.BytesIO(data), validate=False, escape=True)
    if isinstance(parsed, Mapping) and set(_TOP_LEVEL) & parsed.keys():
        raise RecordParseError("the article set could not be read without its DTD")
    raise RecordParseError("the XML is not a PubmedArticleSet")


def _top_level_chunks(data: bytes, expected: int) -> list[tuple[str, str]]:
    """Return ``(tag, exact XML text)`` for each article element directly under the root."""
    # In well-formed XML a "<" outside comments, CDATA and processing instructions always
    # opens a tag, and articles do not nest: a pattern finds them exactly. Anything else
    # takes the slower but exact route through an event parser.
    if b"<!--" not in data and b"<![CDATA[" not in data and data.count(b"<?") <= 1 and b"<!ENTITY" not in data:
        chunks = []
        for start in _ARTICLE_START.finditer(data):
            name = start.group(1)
            end = data.find(b"</" + name, start.end())
            close = _END_TAG_CLOSE.match(data, end + len(name) + 2) if end >= 0 else None
            if close is None:
                break
            chunks.append((name.decode(), data[start.start() : close.end()].decode("utf-8")))
        else:
            if len(chunks) == expected:
                return chunks
    return _top_level_chunks_by_events(data)


def _top_level_chunks_by_events(data: bytes) -> list[tuple[str, str]]:
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


# --- Reading elements ----------------------------------------------------------
# The builders below read the tree the way the code read Bio.Entrez's result
# before: an element the DTD allows once is its last occurrence, a text element
# is its content as an escaped HTML fragment with the inline markup kept as tags
# (what Entrez.read(escape=True) returns), and a missing element is "".


def _kids(element) -> dict:
    """The children of ``element`` by tag, ``{}`` for no element; of a repeated tag, the last."""
    return {} if element is None else {child.tag: child for child in element}


def _all(parent, tag: str) -> list:
    return [] if parent is None else list(parent.iterchildren(tag))


def _markup(element) -> str:
    """The element's content as an escaped HTML fragment, inline elements kept as tags."""
    if element is None:
        return ""
    if not len(element):
        return _escape(element.text) if element.text else ""
    parts = [_escape(element.text or "")]
    declared_above = set(element.nsmap.values())
    for child in element:
        _serialize(child, parts, declared_above, set())
    return "".join(parts)


def _serialize(element, parts: list[str], declared_above: set, open_namespaces: set) -> None:
    tag = element.tag
    if tag is etree.Entity:
        parts.append(_escape(_entity_text(element) + (element.tail or "")))
        return
    if tag.startswith("{"):
        uri, name = tag[1:].split("}", 1)
        # Bio.Entrez names a namespaced element by its local name and gives the outermost
        # one of its namespace a bare xmlns attribute in place of its own attributes.
        if uri in open_namespaces or uri in declared_above:
            attributes = _attributes(element)
        else:
            attributes = f' xmlns="{uri}"'
        inner = open_namespaces | {uri}
    else:
        name, attributes, inner = tag, _attributes(element), open_namespaces
    parts.append(f"<{name}{attributes}>")
    if element.text:
        parts.append(_escape(element.text))
    for child in element:
        _serialize(child, parts, declared_above, inner)
    parts.append(f"</{name}>")
    if element.tail:
        parts.append(_escape(element.tail))


def _entity_text(entity) -> str:
    """What an entity reference stands for, by the document's DTDs; "" if none defines it (or it is external)."""
    docinfo = entity.getroottree().docinfo
    for dtd in (docinfo.internalDTD, docinfo.externalDTD):
        for declared in dtd.iterentities() if dtd is not None else ():
            if declared.name == entity.name:
                return declared.content or ""
    return ""


def _attributes(element) -> str:
    # Values as they are, unescaped, like Bio.Entrez: the sanitiser decides what survives.
    return "".join(f' {_attribute_name(key)}="{value}"' for key, value in element.attrib.items())


def _attribute_name(key: str) -> str:
    return key[1:].replace("}", " ", 1) if key.startswith("{") else key


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _token(element, name: str, default: str = "") -> str:
    """An enumerated attribute, normalised as a parser that read the DTD would (outer spaces dropped)."""
    value = element.get(name)
    return default if value is None else " ".join(filter(None, value.split(" ")))


def _plain(element) -> str:
    if element is None:
        return ""
    if not len(element):
        collapsed = " ".join((element.text or "").split())
        if not _needs_cleaning(collapsed):
            # Text alone with nothing to escape: plain_text would only have collapsed its white space.
            return collapsed
    return plain_text(_markup(element))


def _pmid(element) -> int:
    text = _markup(element)
    try:
        return int(text)
    except ValueError:
        raise RecordParseError(f"a PMID is not a number: {text[:40]!r}") from None


# --- Building records ------------------------------------------------------------
def _article_record(article, raw_xml: str) -> CitationRecord:
    citation = _required(article, "MedlineCitation")
    c = _kids(citation)
    art = _required(citation, "Article", c)
    a = _kids(art)
    journal = _required(art, "Journal", a)
    j = _kids(journal)
    issue = _kids(j.get("JournalIssue"))
    article_ids = _article_ids(_all(_kids(article.find("PubmedData")).get("ArticleIdList"), "ArticleId"))
    publication_types = [_plain(p) for p in _all(a.get("PublicationTypeList"), "PublicationType")]
    corrections = _corrections(_all(c.get("CommentsCorrectionsList"), "CommentsCorrections"))
    pub_date, pub_year = _pub_date(issue.get("PubDate"))
    elocations = _all(art, "ELocationID")

    title = sanitize_html(_markup(a.get("ArticleTitle")))
    if not title:
        # Non-English articles may carry only the original-language title.
        title = sanitize_html(_markup(a.get("VernacularTitle")))

    return CitationRecord(
        pmid=_pmid(c.get("PMID")),
        doi=article_ids.get("doi") or _elocation(elocations, "doi"),
        pmcid=article_ids.get("pmc", ""),
        title=title,
        abstract=_abstract(a.get("Abstract")),
        authors=_authors(_all(a.get("AuthorList"), "Author")),
        journal_title=_plain(j.get("Title")),
        journal_iso=_plain(j.get("ISOAbbreviation")) or _plain(_kids(c.get("MedlineJournalInfo")).get("MedlineTA")),
        volume=_plain(issue.get("Volume")),
        issue=_plain(issue.get("Issue")),
        # Online-only articles have no Pagination; PubMed then cites their e-locator ("Elife. 2019;8:e41090").
        pages=_pages(a.get("Pagination")) or _elocation(elocations, "pii"),
        pub_year=pub_year,
        pub_date=pub_date,
        publication_types=publication_types,
        mesh_terms=[_plain(_kids(h).get("DescriptorName")) for h in _all(c.get("MeshHeadingList"), "MeshHeading")],
        keywords=_keywords(_all(citation, "KeywordList")),
        is_book=False,
        corrections=corrections,
        is_retracted=_is_retracted(corrections, publication_types),
        has_erratum=any(c["type"] == "ErratumIn" for c in corrections),
        has_expression_of_concern=any(c["type"] == "ExpressionOfConcernIn" for c in corrections),
        raw_xml=raw_xml,
    )


def _book_record(book_article, raw_xml: str) -> CitationRecord:
    document = _required(book_article, "BookDocument")
    d = _kids(document)
    book = _required(document, "Book", d)
    b = _kids(book)
    article_ids = _article_ids(_all(d.get("ArticleIdList"), "ArticleId"))
    publication_types = [_plain(p) for p in _all(document, "PublicationType")]
    pub_date, pub_year = _pub_date(b.get("PubDate"))
    book_title = _markup(b.get("BookTitle"))

    # A chapter has its own ArticleTitle and authors; a whole book has neither,
    # so the book's title and the book-level author list stand in.
    authors = _authors(_author_list_of_type(_all(document, "AuthorList"), "authors"))
    if not authors:
        authors = _authors(_author_list_of_type(_all(book, "AuthorList"), "authors"))

    return CitationRecord(
        pmid=_pmid(d.get("PMID")),
        doi=article_ids.get("doi") or _elocation(_all(book, "ELocationID"), "doi"),
        pmcid=article_ids.get("pmc", ""),
        title=sanitize_html(_markup(d.get("ArticleTitle"))) or sanitize_html(book_title),
        abstract=_abstract(d.get("Abstract")),
        authors=authors,
        journal_title=plain_text(book_title),
        journal_iso="",
        volume=_plain(b.get("Volume")),
        issue="",
        pages=_pages(d.get("Pagination")),
        pub_year=pub_year,
        pub_date=pub_date,
        publication_types=publication_types,
        mesh_terms=[],
        keywords=_keywords(_all(document, "KeywordList")),
        is_book=True,
        corrections=[],
        is_retracted=_is_retracted([], publication_types),
        has_erratum=False,
        has_expression_of_concern=False,
        raw_xml=raw_xml,
    )


def _required(parent, tag: str, kids: dict | None = None):
    element = (_kids(parent) if kids is None else kids).get(tag)
    if element is None:
        raise RecordParseError(f"<{parent.tag}> has no <{tag}>")
    return element


def _article_ids(article_ids: Iterable) -> dict[str, str]:
    ids: dict[str, str] = {}
    for article_id in article_ids:
        id_type = _token(article_id, "IdType", "pubmed")
        value = _plain(article_id)
        if value and id_type not in ids:
            ids[id_type] = value
    return ids


def _elocation(elocations: Iterable, id_type: str) -> str:
    for elocation in elocations:
        if _token(elocation, "EIdType") == id_type and _token(elocation, "ValidYN", "Y") == "Y":
            return _plain(elocation)
    return ""


def _abstract(abstract) -> list[dict]:
    sections = []
    for text in _all(abstract, "AbstractText"):
        html_text = sanitize_html(_markup(text))
        if not html_text:
            continue  # an empty <AbstractText/> (seen in real records) is no section to show
        sections.append(
            {
                # Attribute values are plain text already.
                "label": _WHITESPACE.sub(" ", text.get("Label", "")).strip(),
                "category": _token(text, "NlmCategory"),
                "text": html_text,
            }
        )
    return sections


def _author_list_of_type(author_lists: Iterable, wanted: str) -> list:
    """The authors of the AuthorList(s) of one ``Type`` (books repeat AuthorList for editors)."""
    authors = []
    for author_list in author_lists:
        if _token(author_list, "Type", "authors") == wanted:
            authors.extend(_all(author_list, "Author"))
    return authors


def _authors(author_list: Iterable) -> list[dict]:
    authors = []
    for author in author_list:
        if _token(author, "ValidYN", "Y") == "N":
            # A name an erratum corrected: PubMed keeps it, marked invalid, beside the right one.
            continue
        fields = _kids(author)
        if "CollectiveName" in fields:
            authors.append(_author_dict(collective_name=_plain(fields["CollectiveName"])))
            continue
        authors.append(
            _author_dict(
                last_name=_plain(fields.get("LastName")),
                fore_name=_plain(fields.get("ForeName")),
                initials=_plain(fields.get("Initials")),
                orcid=_orcid(_all(author, "Identifier")),
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
        if identifier.get("Source") == "ORCID":
            match = _ORCID.search(_plain(identifier))
            if match:
                return match.group(1).upper()
    return ""


def _pages(pagination) -> str:
    fields = _kids(pagination)
    medline = _plain(fields.get("MedlinePgn"))
    if medline:
        return medline
    start = _plain(fields.get("StartPage"))
    end = _plain(fields.get("EndPage"))
    return f"{start}-{end}" if start and end else start


def _pub_date(pub_date) -> tuple[str, int | None]:
    """Return PubMed's display date ("2019 Jan 15", "2002 Spring", "1998 Dec-1999 Jan") and its year."""
    fields = _kids(pub_date)
    medline_date = _plain(fields.get("MedlineDate"))
    if medline_date:
        # Free text by definition; the first plausible year is the publication year.
        match = _YEAR.search(medline_date)
        return medline_date, int(match.group(1)) if match else None
    year = _plain(fields.get("Year"))
    parts = [year]
    season, month, day = (_markup(fields.get(name)) for name in ("Season", "Month", "Day"))
    if season:
        parts.append(plain_text(season))
    elif month:
        parts.append(_month_name(plain_text(month)))
        if day:
            day = plain_text(day)
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
        for keyword in _all(keyword_list, "Keyword"):
            text = _plain(keyword)
            if text and text not in keywords:
                keywords.append(text)
    return keywords


def _corrections(comments_corrections: Iterable) -> list[dict]:
    corrections = []
    for entry in comments_corrections:
        ref_type = _token(entry, "RefType")
        if ref_type not in CORRECTION_REF_TYPES:
            continue
        fields = _kids(entry)
        pmid = _plain(fields.get("PMID"))
        corrections.append(
            {
                "type": ref_type,
                "pmid": int(pmid) if pmid.isdigit() else None,
                "source": _plain(fields.get("RefSource")),
            }
        )
    return corrections


def _is_retracted(corrections: list[dict], publication_types: list[str]) -> bool:
    return _RETRACTED_PUBLICATION_TYPE in publication_types or any(
        c["type"] in _RETRACTING_REF_TYPES for c in corrections
    )
