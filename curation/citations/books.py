"""What a citation of a PubMed book or chapter needs beyond the Reference's columns.

The Reference model keeps a book's title (``journal_title``) and a chapter's own title
and authors, but not its editors, publisher, place, edition, ISBN or chapter label;
those stay in the stored PubMed XML (``raw_xml``), as the Bookshelf accession does
(see ``CitationRecord.book_accession``). They are read back from there, Django-free.
"""

import re
from dataclasses import dataclass, field
from xml.etree import ElementTree

from curation.citations.text import one_line

__all__ = ["BookDetails", "book_details"]

# The stored record of one book is a few kilobytes; a larger value is not a PubMed book.
MAX_BOOK_XML = 1_000_000
_CHAPTER = re.compile(r"^chapter\s*", re.IGNORECASE)


@dataclass(frozen=True)
class BookDetails:
    is_chapter: bool = False
    editors: list[dict] = field(default_factory=list)
    publisher: str = ""
    place: str = ""
    edition: str = ""
    isbn: str = ""
    chapter: str = ""
    accession: str = ""


def _text(element) -> str:
    return one_line("".join(element.itertext())) if element is not None else ""


def _people(author_list) -> list[dict]:
    people = []
    for author in author_list.findall("Author"):
        if author.get("ValidYN") == "N":
            continue
        people.append(
            {
                "last_name": _text(author.find("LastName")),
                "fore_name": _text(author.find("ForeName")),
                "initials": _text(author.find("Initials")),
                "collective_name": _text(author.find("CollectiveName")),
                "orcid": "",
            }
        )
    return people


def book_details(raw_xml: str) -> BookDetails:
    """Book facts from a stored ``<PubmedBookArticle>``; empty details when there is none."""
    if not raw_xml or len(raw_xml) > MAX_BOOK_XML or "<PubmedBookArticle" not in raw_xml:
        return BookDetails()
    if "<!" in raw_xml:
        # The stored chunk is one element cut from NCBI's answer and never has a DOCTYPE;
        # refusing one means no entity can be declared, so none can be expanded.
        return BookDetails()
    try:
        root = ElementTree.fromstring(raw_xml)  # noqa: S314 - no DOCTYPE, checked above
    except ElementTree.ParseError:
        return BookDetails()
    document = root.find("BookDocument")
    book = document.find("Book") if document is not None else None
    if book is None:
        return BookDetails()
    editors = []
    for author_list in book.findall("AuthorList"):
        if author_list.get("Type") == "editors":
            editors.extend(_people(author_list))
    label = document.find("LocationLabel")
    accession = next(
        (_text(i) for i in document.findall("ArticleIdList/ArticleId") if i.get("IdType") == "bookaccession"), ""
    )
    return BookDetails(
        is_chapter=document.find("ArticleTitle") is not None,
        editors=editors,
        publisher=_text(book.find("Publisher/PublisherName")),
        place=_text(book.find("Publisher/PublisherLocation")),
        edition=_text(book.find("Edition")),
        isbn=_text(book.find("Isbn")),
        # "Chapter 3" → "3": CSL's chapter-number and RIS/BibTeX chapter hold the number.
        chapter=_CHAPTER.sub("", _text(label)) if label is not None and label.get("Type") == "chapter" else "",
        accession=accession,
    )
