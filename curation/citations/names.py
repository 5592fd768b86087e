"""How one author of a Reference is written, one function per form.

An author is a dict as the PubMed parser stores it: ``last_name``, ``fore_name``,
``initials``, ``collective_name`` and ``orcid``. A collective (a consortium) has
only ``collective_name``; it is never split into given and family names. Every
form below is plain text: callers escape for their own format.
"""

__all__ = ["csl_name", "display_name", "first_author_nlm", "inverted_name", "nlm_name"]


def nlm_name(author: dict) -> str:
    """NLM/Vancouver form: 'Sharma P'; a collective name as PubMed gives it."""
    if author.get("collective_name"):
        return author["collective_name"]
    return " ".join(part for part in (author.get("last_name", ""), author.get("initials", "")) if part)


def display_name(author: dict) -> str:
    """Reading form for pages: 'Padmanee Sharma' (initials when PubMed has no fore name)."""
    if author.get("collective_name"):
        return author["collective_name"]
    given = author.get("fore_name") or author.get("initials", "")
    return " ".join(part for part in (given, author.get("last_name", "")) if part)


def inverted_name(author: dict) -> str:
    """Family name first, as RIS and BibTeX want it: 'Sharma, Padmanee'."""
    if author.get("collective_name"):
        return author["collective_name"]
    given = author.get("fore_name") or author.get("initials", "")
    last = author.get("last_name", "")
    return f"{last}, {given}" if last and given else last or given


def csl_name(author: dict) -> dict:
    """CSL-JSON name object: {family, given}, or {literal} for a collective."""
    if author.get("collective_name"):
        return {"literal": author["collective_name"]}
    name = {"family": author.get("last_name", ""), "given": author.get("fore_name") or author.get("initials", "")}
    return {key: value for key, value in name.items() if value}


def first_author_nlm(authors: list[dict] | None) -> str:
    """The first author in NLM form ('Sharma P'), or '' when PubMed lists none."""
    for author in authors or []:
        name = nlm_name(author)
        if name:
            return name
    return ""
