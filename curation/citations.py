"""How a Reference is written out: one function per format, each taking the same Reference.

- `format_citation` / `format_citation_html`: Vancouver (NLM) style, for reading.
- `to_ris`, `to_bibtex`, `to_csl_json`: for reference managers.

Reference.title and abstract texts are stored as sanitised HTML (PubMed's
inline markup); plain-text formats strip it, the HTML format sanitises it
again before marking it safe. Every other field is plain text and is escaped.
"""

import json
import re
from urllib.parse import quote

from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from curation.models import Reference
from curation.pubmed_records import plain_text, sanitize_html

MAX_AUTHORS = 6  # NLM: list the first six, then "et al."

# Characters a DOI may contain that would end or redirect a URL path.
_DOI_SAFE = "/:;()[]._-,"


def doi_url(doi: str) -> str:
    """https://doi.org/ link for a DOI, percent-encoding what a URL path cannot hold (e.g. SICI's '#')."""
    return f"https://doi.org/{quote(doi, safe=_DOI_SAFE)}" if doi else ""


def author_name(author: dict) -> str:
    """NLM form of one author: 'Sharma P'; a collective name as PubMed gives it."""
    if author.get("collective_name"):
        return author["collective_name"]
    return " ".join(part for part in (author.get("last_name", ""), author.get("initials", "")) if part)


def author_list(reference: Reference) -> str:
    names = [name for name in (author_name(a) for a in reference.authors or []) if name]
    if len(names) > MAX_AUTHORS:
        return ", ".join(names[:MAX_AUTHORS]) + ", et al."
    return ", ".join(names)


def publication_year(reference: Reference) -> str:
    if reference.pub_year:
        return str(reference.pub_year)
    match = re.search(r"\b\d{4}\b", reference.pub_date or "")
    return match.group(0) if match else ""


def source_details(reference: Reference) -> str:
    """'2017;168(4):707-723': year, then volume, issue and pages where known."""
    text = publication_year(reference)
    if reference.volume:
        text += f";{reference.volume}"
    if reference.issue:
        text += f"({reference.issue})" if reference.volume else f";({reference.issue})"
    if reference.pages:
        text += f":{reference.pages}"
    return text


def _with_stop(text: str) -> str:
    # A title already ending in ? or ! keeps its own punctuation.
    text = text.rstrip()
    return text if not text or text[-1] in ".?!" else f"{text}."


def _parts(reference: Reference) -> dict:
    return {
        "authors": author_list(reference),
        "title": plain_text(reference.title or ""),
        "journal": reference.journal_iso or reference.journal_title,
        "source": source_details(reference),
    }


def format_citation(reference: Reference) -> str:
    """Vancouver/NLM citation as plain text.

    'Sharma P, Hu-Lieskovan S, Wargo JA, Ribas A. Primary, Adaptive, and Acquired
    Resistance to Cancer Immunotherapy. Cell. 2017;168(4):707-723.
    doi: 10.1016/j.cell.2017.01.017. PMID: 28187290.'
    """
    p = _parts(reference)
    pieces = [_with_stop(p["authors"]), _with_stop(p["title"]), _with_stop(p["journal"]), _with_stop(p["source"])]
    if reference.doi:
        pieces.append(f"doi: {reference.doi}.")
    pieces.append(f"PMID: {reference.pmid}.")
    return " ".join(piece for piece in pieces if piece)


def format_citation_html(reference: Reference) -> SafeString:
    """The same citation as safe HTML: title markup kept (sanitised again), DOI and PMID linked."""
    p = _parts(reference)
    title_html = sanitize_html(reference.title or "")
    # The stop goes after the markup, judged on the visible text.
    title_stop = "" if not p["title"] or p["title"].rstrip()[-1] in ".?!" else "."
    pieces = []
    if p["authors"]:
        pieces.append(format_html("{}", _with_stop(p["authors"])))
    if title_html:
        pieces.append(format_html('<span class="citation-title">{}</span>{}', mark_safe(title_html), title_stop))  # noqa: S308
    if p["journal"]:
        pieces.append(format_html('<span class="citation-journal">{}</span>', _with_stop(p["journal"])))
    if p["source"]:
        pieces.append(format_html("{}", _with_stop(p["source"])))
    if reference.doi:
        pieces.append(format_html('doi: <a href="{}">{}</a>.', doi_url(reference.doi), reference.doi))
    pieces.append(format_html('PMID: <a href="{}">{}</a>.', reference.pubmed_url, reference.pmid))
    return mark_safe(" ".join(pieces))  # noqa: S308 - every piece above came from format_html


# --- Reference-manager formats --------------------------------------------------


def page_range(pages: str) -> tuple[str, str]:
    """Split MEDLINE pages into first and last, expanding '707-23' to ('707', '723')."""
    first, _, last = (pages or "").partition("-")
    first, last = first.strip(), last.strip()
    if first.isdigit() and last.isdigit() and len(last) < len(first):
        last = first[: len(first) - len(last)] + last
    return first, last


def _abstract_text(reference: Reference) -> str:
    sections = []
    for section in reference.abstract or []:
        text = plain_text(section.get("text", ""))
        label = section.get("label", "")
        sections.append(f"{label}: {text}" if label else text)
    return " ".join(sections)


def to_ris(reference: Reference) -> str:
    """RIS record (EndNote, Zotero, Mendeley)."""
    lines = [("TY", "BOOK" if reference.is_book else "JOUR")]
    for author in reference.authors or []:
        if author.get("collective_name"):
            lines.append(("AU", author["collective_name"]))
        elif author.get("last_name"):
            given = author.get("fore_name") or author.get("initials", "")
            lines.append(("AU", f"{author['last_name']}, {given}" if given else author["last_name"]))
    first, last = page_range(reference.pages)
    lines += [
        ("TI", plain_text(reference.title or "")),
        ("T2", reference.journal_title),
        ("J2", reference.journal_iso),
        ("PY", publication_year(reference)),
        ("VL", reference.volume),
        ("IS", reference.issue),
        ("SP", first),
        ("EP", last),
        ("DO", reference.doi),
        ("AN", str(reference.pmid)),
        ("DB", "PubMed"),
        ("UR", reference.pubmed_url),
        ("AB", _abstract_text(reference)),
    ]
    lines += [("KW", keyword) for keyword in reference.keywords or []]
    # RIS is line-based: a newline inside a value would start a bogus tag.
    body = [f"{tag}  - {' '.join(str(value).split())}" for tag, value in lines if value]
    return "\n".join([*body, "ER  - ", ""])


_BIBTEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "{": r"\{",
    "}": r"\}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def _bibtex_escape(text: str) -> str:
    return "".join(_BIBTEX_SPECIAL.get(char, char) for char in " ".join(text.split()))


def to_bibtex(reference: Reference) -> str:
    """BibTeX entry keyed by first author, year and PMID (unique, stable)."""
    names = []
    for author in reference.authors or []:
        if author.get("collective_name"):
            # Braces keep a group name from being split into first and last names.
            names.append("{" + _bibtex_escape(author["collective_name"]) + "}")
        elif author.get("last_name"):
            given = author.get("fore_name") or author.get("initials", "")
            last = _bibtex_escape(author["last_name"])
            names.append(f"{last}, {_bibtex_escape(given)}" if given else last)
    first_author = (reference.authors or [{}])[0]
    key_name = re.sub(r"[^A-Za-z0-9]", "", first_author.get("last_name") or first_author.get("collective_name") or "")
    key = f"{key_name or 'pmid'}{publication_year(reference)}_{reference.pmid}"
    first, last = page_range(reference.pages)
    fields = [
        ("author", " and ".join(names)),
        ("title", "{" + _bibtex_escape(plain_text(reference.title or "")) + "}"),
        ("journal", _bibtex_escape(reference.journal_iso or reference.journal_title)),
        ("year", publication_year(reference)),
        ("volume", _bibtex_escape(reference.volume)),
        ("number", _bibtex_escape(reference.issue)),
        ("pages", f"{_bibtex_escape(first)}--{_bibtex_escape(last)}" if last else _bibtex_escape(first)),
        ("doi", _bibtex_escape(reference.doi)),
        ("pmid", str(reference.pmid)),
    ]
    entry_type = "book" if reference.is_book else "article"
    body = "".join(f"  {name} = {{{value}}},\n" for name, value in fields if value and value != "{}")
    return f"@{entry_type}{{{key},\n{body}}}\n"


_MONTHS = {m: i for i, m in enumerate("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(), start=1)}


def _date_parts(reference: Reference) -> list[int]:
    """[year, month, day] as far as PubMed's date says (seasons and ranges keep only the year)."""
    year = publication_year(reference)
    if not year:
        return []
    parts = [int(year)]
    match = re.fullmatch(r"\d{4} ([A-Z][a-z]{2})(?: (\d{1,2}))?", (reference.pub_date or "").strip())
    if match and match.group(1) in _MONTHS:
        parts.append(_MONTHS[match.group(1)])
        if match.group(2):
            parts.append(int(match.group(2)))
    return parts


def csl_item(reference: Reference) -> dict:
    """CSL-JSON item (citeproc, Zotero, Pandoc)."""
    authors = []
    for author in reference.authors or []:
        if author.get("collective_name"):
            authors.append({"literal": author["collective_name"]})
        elif author.get("last_name"):
            authors.append(
                {"family": author["last_name"], "given": author.get("fore_name") or author.get("initials", "")}
            )
    item = {
        "id": f"pmid:{reference.pmid}",
        "type": "book" if reference.is_book else "article-journal",
        "title": plain_text(reference.title or ""),
        "author": authors,
        "container-title": reference.journal_title,
        "container-title-short": reference.journal_iso,
        "volume": reference.volume,
        "issue": reference.issue,
        "page": reference.pages,
        "DOI": reference.doi,
        "PMID": str(reference.pmid),
        "PMCID": reference.pmcid,
        "URL": reference.pubmed_url,
        "abstract": _abstract_text(reference),
    }
    date_parts = _date_parts(reference)
    if date_parts:
        item["issued"] = {"date-parts": [date_parts]}
    return {key: value for key, value in item.items() if value}


def to_csl_json(reference: Reference) -> str:
    """A CSL-JSON document: an array holding the one item."""
    return json.dumps([csl_item(reference)], ensure_ascii=False, indent=2) + "\n"


EXPORT_FORMATS = {
    # name in the URL: (function, content type, file extension)
    "ris": (to_ris, "application/x-research-info-systems", "ris"),
    "bibtex": (to_bibtex, "application/x-bibtex", "bib"),
    "csl-json": (to_csl_json, "application/vnd.citationstyles.csl+json", "json"),
}
