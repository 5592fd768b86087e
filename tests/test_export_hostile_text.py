"""Issue 8, defect 5: exports never carry PubMed's hostile text as markup or as injected fields.

The record is the hand-written hostile one (tests/data/pubmed/hostile_markup.xml) as the parser
stores it, plus values a refresh could store in plain-text columns (newlines, "ER  -", braces).
"""

import json
import re
from pathlib import Path

import bibtexparser
import rispy

from curation.citations import export_references
from curation.models import Reference
from curation.pubmed_records import parse_efetch
from tests.factories import record_fields

DATA = Path(__file__).parent / "data" / "pubmed"
# CSL-JSON's rich text allows exactly these tags (citeproc-js, Zotero).
CSL_TAGS = re.compile(r'</?(?:i|b|sup|sub)>|<span style="font-variant:small-caps;?">|</span>')


def hostile_reference(**overrides) -> Reference:
    [record] = parse_efetch((DATA / "hostile_markup.xml").read_bytes())
    fields = record_fields(record)
    fields.update(overrides)
    return Reference(pmid=record.pmid, **fields)


def with_injections() -> Reference:
    """Plain-text columns holding what would break a line-based format."""
    return hostile_reference(
        volume="1\nER  - \nTY  - JOUR",
        issue="2\r\nAU  - Mallory, Eve",
        journal_iso="J } @misc{evil, title={x",
        pages="1-2}, note = {injected",
        keywords=["safe\nKW  - injected", "<img src=x onerror=alert(1)>"],
    )


def exported(reference: Reference, fmt: str) -> str:
    return export_references([reference], fmt).content


def assert_no_live_markup(text: str):
    assert "<script" not in text.lower()
    assert "<img" not in text.lower()
    assert "<iframe" not in text.lower()
    assert "<u" not in text.lower()


def test_ris_of_a_hostile_record_has_no_markup_and_no_injected_tags():
    ris = exported(with_injections(), "ris")
    assert_no_live_markup(ris)
    [entry] = rispy.loads(ris)
    assert entry["volume"].startswith("1 ER - TY - JOUR")
    assert "Mallory, Eve" not in entry["authors"]
    assert [line for line in ris.splitlines() if line.startswith("ER  -")] == ["ER  - "]
    assert [line for line in ris.splitlines() if line.startswith("TY  -")] == ["TY  - JOUR"]
    assert entry["title"].startswith("Checkpoint escape via")


def test_bibtex_of_a_hostile_record_has_no_markup_and_stays_one_entry():
    bibtex = exported(with_injections(), "bibtex")
    assert_no_live_markup(bibtex)
    library = bibtexparser.parse_string(bibtex)
    assert not library.failed_blocks
    [entry] = library.entries
    assert entry.entry_type == "article"
    assert "note" not in entry.fields_dict
    assert entry.fields_dict["pmid"].value == "99000010"
    assert "Checkpoint \\textit{escape} via" in entry.fields_dict["title"].value


def test_csl_json_keeps_only_the_markup_csl_allows_and_escapes_the_rest():
    [item] = json.loads(exported(hostile_reference(), "csl-json"))
    for value in _strings(item):
        assert "<" not in CSL_TAGS.sub("", value), value
    assert item["title"].startswith("Checkpoint <i>escape</i> via &lt;img src=x onerror=")
    assert item["container-title"] == "Journal of &lt;b&gt;Hostile&lt;/b&gt; Input"
    assert item["author"][0]["family"] == "&lt;script&gt;alert('author')&lt;/script&gt;Smith"


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for inner in value.values():
            yield from _strings(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _strings(inner)
