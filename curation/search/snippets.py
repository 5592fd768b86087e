"""Highlighted snippets that carry no markup but the highlight.

The text a snippet is cut from may hold PubMed's inline HTML (titles, abstracts) or whatever
a curator typed. The search backends mark matches with two private-use characters
(text.START, text.STOP); here the passage loses every tag, is escaped, and only then do the
marks become <mark> elements. A mark without its partner is dropped, so no input can open
an element that is not closed.
"""

import re

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from curation.pubmed_records import plain_text
from curation.search.text import START, STOP

_PAIR = re.compile(f"{START}([^{START}{STOP}]*){STOP}")
_STRAY = re.compile(f"[{START}{STOP}]")


def finish(marked: str) -> SafeString:
    """Escaped plain text of `marked`, its matches wrapped in <mark>."""
    text = escape(plain_text(marked or ""))
    text = _PAIR.sub(lambda match: f"<mark>{match.group(1)}</mark>", text)
    return mark_safe(_STRAY.sub("", text))  # noqa: S308 - escaped above; only <mark> added
