"""Citations of one Reference: the NLM text and HTML shown on pages, and the RIS, BibTeX and CSL-JSON exports."""

import json

import pytest

from curation.citations import doi_url, export_references, format_citation, format_citation_html
from curation.citations.csl import page_range
from curation.models import Reference


def to_ris(reference):
    return export_references([reference], "ris").content


def to_bibtex(reference):
    return export_references([reference], "bibtex").content


def to_csl_json(reference):
    return export_references([reference], "csl-json").content


def author(last, initials, fore=""):
    return {"last_name": last, "fore_name": fore, "initials": initials, "collective_name": "", "orcid": ""}


def sharma_2017(**overrides) -> Reference:
    """The seed review as PubMed describes it; unsaved, since formatting needs no database."""
    fields = {
        "pmid": 28187290,
        "doi": "10.1016/j.cell.2017.01.017",
        "pmcid": "PMC5391692",
        "title": "Primary, Adaptive, and Acquired Resistance to Cancer Immunotherapy.",
        "authors": [
            author("Sharma", "P", "Padmanee"),
            author("Hu-Lieskovan", "S", "Siwen"),
            author("Wargo", "JA", "Jennifer A"),
            author("Ribas", "A", "Antoni"),
        ],
        "journal_title": "Cell",
        "journal_iso": "Cell",
        "volume": "168",
        "issue": "4",
        "pages": "707-723",
        "pub_year": 2017,
        "pub_date": "2017 Feb 9",
        "abstract": [{"label": "", "category": "", "text": "Cancer immunotherapy can induce <i>long</i> responses."}],
        "keywords": ["immunotherapy", "resistance"],
    }
    fields.update(overrides)
    return Reference(**fields)


def test_citation_follows_nlm_style():
    assert format_citation(sharma_2017()) == (
        "Sharma P, Hu-Lieskovan S, Wargo JA, Ribas A. Primary, Adaptive, and Acquired Resistance to Cancer "
        "Immunotherapy. Cell. 2017;168(4):707-723. doi: 10.1016/j.cell.2017.01.017. PMID: 28187290."
    )


def test_citation_lists_six_authors_then_et_al():
    authors = [author(f"Author{n}", "A") for n in range(1, 9)]
    text = format_citation(sharma_2017(authors=authors))
    assert text.startswith("Author1 A, Author2 A, Author3 A, Author4 A, Author5 A, Author6 A, et al. Primary")
    assert "Author7" not in text


def test_citation_keeps_six_authors_without_et_al():
    authors = [author(f"Author{n}", "A") for n in range(1, 7)]
    assert format_citation(sharma_2017(authors=authors)).startswith(
        "Author1 A, Author2 A, Author3 A, Author4 A, Author5 A, Author6 A. Primary"
    )


def test_collective_author_is_written_as_pubmed_gives_it():
    authors = [author("Ribas", "A"), {"collective_name": "Cancer Genome Atlas Network", "last_name": ""}]
    assert format_citation(sharma_2017(authors=authors)).startswith("Ribas A, Cancer Genome Atlas Network. Primary")


def test_title_ending_in_a_question_mark_gets_no_extra_full_stop():
    text = format_citation(sharma_2017(title="Is resistance inevitable?"))
    assert "Is resistance inevitable? Cell." in text


def test_title_without_full_stop_gets_one():
    assert "Immunotherapy. Cell." in format_citation(sharma_2017(title="Resistance to Cancer Immunotherapy"))


def test_missing_volume_issue_and_pages_leave_no_stray_punctuation():
    text = format_citation(sharma_2017(volume="", issue="", pages="", doi=""))
    assert text.endswith("Cell. 2017. PMID: 28187290.")


def test_issue_without_volume_is_kept():
    assert "Cell. 2017;(4):707-723." in format_citation(sharma_2017(volume=""))


def test_year_comes_from_a_partial_date_when_the_year_field_is_empty():
    assert "Cell. 2019;" in format_citation(sharma_2017(pub_year=None, pub_date="2019 Spring"))


def test_plain_citation_drops_title_markup_and_keeps_entities_readable():
    text = format_citation(sharma_2017(title="<i>BRAF</i><sup>V600E</sup> &amp; PD-1 &lt;2"))
    assert "BRAFV600E & PD-1 <2. Cell." in text


def test_html_citation_links_pubmed_and_doi_and_keeps_italics():
    html = format_citation_html(sharma_2017(title="Loss of <i>B2M</i> in melanoma."))
    assert '<a href="https://pubmed.ncbi.nlm.nih.gov/28187290/">28187290</a>' in html
    assert '<a href="https://doi.org/10.1016/j.cell.2017.01.017">10.1016/j.cell.2017.01.017</a>' in html
    assert "Loss of <i>B2M</i> in melanoma." in html


def test_html_citation_escapes_hostile_metadata():
    hostile = sharma_2017(
        title='<script>alert(1)</script><img src=x onerror="alert(2)">Title<iframe src="javascript:alert(3)">',
        journal_iso="<b onclick=alert(4)>J</b>",
        authors=[{"collective_name": "<script>alert(5)</script>"}],
        doi='10.1/x"><script>alert(6)</script>',
    )
    html = format_citation_html(hostile)
    assert "<script" not in html
    assert "<img" not in html
    assert "<iframe" not in html
    assert "onerror" not in html
    assert "<b onclick" not in html
    assert "&lt;script&gt;alert(5)&lt;/script&gt;" in html


def test_doi_url_percent_encodes_characters_that_would_break_the_link():
    assert doi_url("10.1002/(SICI)1097-0142(19980101)82:1<1::AID-CNCR1>3.0.CO;2-#") == (
        "https://doi.org/10.1002/(SICI)1097-0142(19980101)82:1%3C1::AID-CNCR1%3E3.0.CO;2-%23"
    )
    assert doi_url("") == ""


@pytest.mark.parametrize(
    ("pages", "expected"), [("707-23", ("707", "723")), ("e123", ("e123", "")), ("1-9", ("1", "9")), ("", ("", ""))]
)
def test_page_range_expands_medline_abbreviations(pages, expected):
    assert page_range(pages) == expected


def test_ris_record_has_one_line_per_author_and_the_identifiers():
    ris = to_ris(sharma_2017(pages="707-23", title="Two\nlines"))
    lines = ris.splitlines()
    assert lines[0] == "TY  - JOUR"
    assert "AU  - Sharma, Padmanee" in lines
    assert "AU  - Ribas, Antoni" in lines
    assert "TI  - Two lines" in lines
    assert "SP  - 707" in lines and "EP  - 723" in lines
    assert "DO  - 10.1016/j.cell.2017.01.017" in lines
    assert "AN  - 28187290" in lines
    assert lines[-1] == "ER  - "


def test_bibtex_entry_escapes_special_characters_and_braces_collective_names():
    reference = sharma_2017(
        title="50% of T cells & more_{x}",
        authors=[author("Sharma", "P", "Padmanee"), {"collective_name": "TCGA & friends"}],
    )
    bibtex = to_bibtex(reference)
    assert bibtex.startswith("@article{Sharma2017_28187290,\n")
    assert "author = {Sharma, Padmanee and {TCGA \\& friends}}," in bibtex
    assert "title = {{50\\% of T cells \\& more\\_\\textbraceleft{}x\\textbraceright{}}}," in bibtex
    assert "pages = {707--723}," in bibtex
    assert bibtex.rstrip().endswith("}")


def test_csl_json_item_carries_date_parts_and_identifiers():
    [item] = json.loads(to_csl_json(sharma_2017()))
    assert item["type"] == "article-journal"
    assert item["issued"] == {"date-parts": [[2017, 2, 9]]}
    assert item["author"][0] == {"family": "Sharma", "given": "Padmanee"}
    assert item["DOI"] == "10.1016/j.cell.2017.01.017"
    assert item["PMID"] == "28187290"
    assert item["title"] == "Primary, Adaptive, and Acquired Resistance to Cancer Immunotherapy."


def test_csl_json_gives_a_season_as_csl_season_beside_the_year():
    [item] = json.loads(to_csl_json(sharma_2017(pub_date="2019 Spring", pub_year=2019)))
    assert item["issued"] == {"date-parts": [[2019]], "season": 1}
