"""PubMed text as each export format may carry it.

Titles and abstracts are stored as sanitised HTML (PubMed's inline <i>, <b>, <sup>,
<sub>, <u> and MathML); every other column is plain text. Exports never copy either
as it is, because the programs that read them render markup:

- CSL-JSON is *rich text*: citeproc-js and Zotero render <i>, <b>, <sup>, <sub> and
  <span style="font-variant:small-caps;"> in any string. Exactly those survive;
  every other '<', '>' and '&' is written as an entity, so text that reads like a
  tag (a publisher's "&lt;img onerror=…&gt;") stays text.
- BibTeX is LaTeX: the four tags become \\textit, \\textbf, \\textsuperscript and
  \\textsubscript; LaTeX's special characters are escaped, braces included, so a
  value can never close its field or open another.
- RIS has no markup and no escaping: plain text on one line, with tag-like text
  removed (Zotero reads RIS titles as rich text too).

Markup is read with the standard library's HTML tokenizer, not with regular
expressions: attribute values may hold '>' and entities must be decoded once.
"""

import html
import re
from html.parser import HTMLParser

__all__ = ["csl_escape", "csl_rich_text", "latex", "one_line", "plain"]

# The rich-text tags CSL processors render, and what each is in LaTeX.
_LATEX_COMMANDS = {"i": r"\textit", "b": r"\textbf", "sup": r"\textsuperscript", "sub": r"\textsubscript"}
_SMALL_CAPS = "sc"
_SMALL_CAPS_SPAN = '<span style="font-variant:small-caps;">'
_SKIPPED_CONTENT = {"script", "style"}
# Text that reads like an HTML tag or comment: '<img …>', '</b>', '<!-- … -->'.
_TAG_LIKE = re.compile(r"<[A-Za-z/!?][^<>]*>")
_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    # BibTeX counts braces even when escaped with a backslash: \{ would unbalance a field.
    "{": r"\textbraceleft{}",
    "}": r"\textbraceright{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    # Valid inside a braced value, but lenient BibTeX readers take any '@' for the start of an entry.
    "@": r"{\char64}",
}


def one_line(text: str) -> str:
    """Collapse every run of whitespace, line and paragraph separators included, to one space."""
    return " ".join(str(text or "").split())


class _Tokens(HTMLParser):
    """("open"|"close", tag) for the rich-text tags, ("text", decoded text) for the rest."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tokens: list[tuple[str, str]] = []
        self._skipping = 0

    def handle_starttag(self, tag, attrs):
        if tag in _SKIPPED_CONTENT:
            self._skipping += 1
        elif tag in _LATEX_COMMANDS:
            self.tokens.append(("open", tag))
        elif tag == "span" and ("style", "font-variant:small-caps;") in attrs:
            self.tokens.append(("open", _SMALL_CAPS))

    def handle_endtag(self, tag):
        if tag in _SKIPPED_CONTENT:
            self._skipping = max(0, self._skipping - 1)
        elif tag in _LATEX_COMMANDS:
            self.tokens.append(("close", tag))
        elif tag == "span":
            self.tokens.append(("close", _SMALL_CAPS))

    def handle_data(self, data):
        if not self._skipping:
            self.tokens.append(("text", data))


def _balanced_tokens(markup: str) -> list[tuple[str, str]]:
    """Tokens of `markup` with every rich-text tag closed in order (unmatched closers dropped)."""
    parser = _Tokens()
    parser.feed(markup or "")
    parser.close()
    out, stack = [], []
    for kind, value in parser.tokens:
        if kind == "open":
            stack.append(value)
            out.append((kind, value))
        elif kind == "close":
            if value not in stack:
                continue
            # Close inner tags first, then reopen them: <i><b>x</i>y</b> → <i><b>x</b></i><b>y</b>.
            inner = []
            while stack[-1] != value:
                inner.append(stack.pop())
                out.append(("close", inner[-1]))
            stack.pop()
            out.append(("close", value))
            for tag in reversed(inner):
                stack.append(tag)
                out.append(("open", tag))
        else:
            out.append((kind, value))
    out.extend(("close", tag) for tag in reversed(stack))
    return out


def _plain_piece(text: str) -> str:
    return _TAG_LIKE.sub("", text)


def csl_escape(text: str) -> str:
    """Plain text as CSL rich text: '&', '<' and '>' as entities, on one line."""
    return html.escape(one_line(text), quote=False)


def csl_rich_text(markup: str) -> str:
    """Sanitised PubMed HTML as CSL rich text: the CSL tags kept, all other text escaped."""
    pieces = []
    for kind, value in _balanced_tokens(one_line(markup)):
        if kind == "text":
            pieces.append(html.escape(value, quote=False))
        elif value == _SMALL_CAPS:
            pieces.append(_SMALL_CAPS_SPAN if kind == "open" else "</span>")
        else:
            pieces.append(f"<{value}>" if kind == "open" else f"</{value}>")
    return "".join(pieces)


def plain(markup: str) -> str:
    """HTML or CSL rich text as plain text on one line: tags dropped, entities decoded,
    and tag-like text removed."""
    return one_line("".join(_plain_piece(value) for kind, value in _balanced_tokens(markup) if kind == "text"))


def latex(markup: str) -> str:
    """HTML or CSL rich text as a LaTeX string for a BibTeX field, braces always balanced."""
    pieces = []
    for kind, value in _balanced_tokens(one_line(markup)):
        if kind == "text":
            pieces.append("".join(_LATEX_SPECIAL.get(char, char) for char in _plain_piece(value)))
        elif kind == "open":
            pieces.append((r"\textsc" if value == _SMALL_CAPS else _LATEX_COMMANDS[value]) + "{")
        else:
            pieces.append("}")
    return one_line("".join(pieces))
