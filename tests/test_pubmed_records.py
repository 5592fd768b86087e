"""The efetch parser, on hand-written records in NCBI's format (tests/data/pubmed/)."""

import re
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest
from Bio.Entrez.Parser import CorruptedXMLError, NotXMLError

from curation.models import Reference
from curation.pubmed_records import CitationRecord, RecordParseError, parse_efetch, plain_text, sanitize_html
from tests.fake_eutils import PUBMED_DOCTYPE, XML_DECLARATION

DATA = Path(__file__).parent / "data" / "pubmed"


@cache
def _records(filename: str) -> dict[int, CitationRecord]:
    return {r.pmid: r for r in parse_efetch((DATA / filename).read_bytes())}


def record(filename: str, pmid: int) -> CitationRecord:
    return _records(filename)[pmid]


def efetch_document(*articles: str) -> bytes:
    body = "\n".join(articles)
    return f"{XML_DECLARATION}\n{PUBMED_DOCTYPE}\n<PubmedArticleSet>\n{body}\n</PubmedArticleSet>".encode()


def test_labelled_abstract_keeps_each_section_with_label_and_category():
    article = record("labelled_abstract_mathml.xml", 99000001)
    assert [(s["label"], s["category"]) for s in article.abstract] == [
        ("BACKGROUND", "BACKGROUND"),
        ("METHODS", "METHODS"),
        ("FINDINGS", "RESULTS"),
        ("CONCLUSIONS", "CONCLUSIONS"),
    ]


def test_unlabelled_abstract_is_one_section_with_an_empty_label():
    article = record("seed_29968044.xml", 29968044)
    assert article.abstract == [{"label": "", "category": "", "text": "Recorded test record; abstract omitted."}]


def test_inline_markup_in_title_and_abstract_survives_as_html():
    article = record("labelled_abstract_mathml.xml", 99000001)
    assert article.title == (
        "Loss of <i>B2M</i> and CD8<sup>+</sup> T-cell exclusion in PD-1 refractory melanoma (recorded test record)."
    )
    methods = article.abstract[1]["text"]
    assert "IFN-<i>γ</i>" in methods
    assert "CO<sub>2</sub>-free" in methods


def test_mathml_formula_is_kept_as_html_math_without_namespace_prefix():
    methods = record("labelled_abstract_mathml.xml", 99000001).abstract[1]["text"]
    formula = re.search(r"<math>.*</math>", methods).group(0)
    assert "mml:" not in methods
    assert re.sub(r"\s+", "", formula) == (
        "<math><mrow><msub><mi>f</mi><mi>T</mi></msub><mo>=</mo><mfrac><mi>a</mi><mi>b</mi></mfrac></mrow></math>"
    )


def test_escaped_characters_stay_escaped_in_html_fields():
    article = record("labelled_abstract_mathml.xml", 99000001)
    assert article.abstract[2]["text"] == "CD8<sup>+</sup> density fell (<i>P</i> &lt; 0.05)."
    assert article.abstract[3]["text"] == "Placeholder conclusion &amp; no clinical claim."


def test_authors_come_in_order_with_bare_orcid_ids():
    authors = record("labelled_abstract_mathml.xml", 99000001).authors
    assert [(a["last_name"], a["fore_name"], a["initials"]) for a in authors] == [
        ("Testwriter", "Ada M", "AM"),
        ("Müller", "Jörg", "J"),
        ("Ng", "", "K"),
    ]
    # One given as an https://orcid.org/ URL, one bare: both stored bare.
    assert [a["orcid"] for a in authors] == ["0000-0002-1825-0097", "0000-0001-5109-3700", ""]
    assert all(a["collective_name"] == "" for a in authors)


def test_journal_issue_pages_and_a_numeric_month_make_a_pubmed_style_date():
    article = record("labelled_abstract_mathml.xml", 99000001)
    assert (article.journal_title, article.journal_iso) == (
        "Journal for immunotherapy of cancer",
        "J Immunother Cancer",
    )
    assert (article.volume, article.issue, article.pages) == ("9", "4", "e001234")
    assert (article.pub_date, article.pub_year) == ("2021 Apr 5", 2021)


def test_doi_and_pmcid_come_from_the_articles_own_ids_not_its_reference_list():
    article = record("labelled_abstract_mathml.xml", 99000001)
    assert article.doi == "10.5555/ra.test.0001"
    assert article.pmcid == "PMC9900001"


def test_keywords_from_several_lists_are_merged_once_each_as_plain_text():
    assert record("labelled_abstract_mathml.xml", 99000001).keywords == [
        "immune checkpoint inhibitors",
        "antigen presentation",
        "B2M loss",
    ]


def test_mesh_terms_are_descriptor_names_in_order():
    assert record("labelled_abstract_mathml.xml", 99000001).mesh_terms == [
        "beta 2-Microglobulin",
        "Humans",
        "Melanoma",
    ]


def test_publication_types_are_listed():
    article = record("labelled_abstract_mathml.xml", 99000001)
    assert article.publication_types == ["Journal Article", "Research Support, Non-U.S. Gov't"]


def test_comments_and_cited_articles_are_not_corrections():
    article = record("labelled_abstract_mathml.xml", 99000001)
    assert article.corrections == []
    assert not (article.is_retracted or article.has_erratum or article.has_expression_of_concern)


def test_retracted_article_is_flagged_and_points_at_its_retraction_notice():
    article = record("retraction_pair.xml", 99000002)
    assert article.is_retracted
    assert "Retracted Publication" in article.publication_types
    assert article.corrections == [
        {
            "type": "RetractionIn",
            "pmid": 99000003,
            "source": "J Immunother Cancer. 2023 Jul;11(7):e000999. doi: 10.5555/ra.test.0003",
        }
    ]


def test_retraction_notice_links_back_but_is_not_itself_retracted():
    notice = record("retraction_pair.xml", 99000003)
    assert not notice.is_retracted
    assert notice.publication_types == ["Retraction of Publication"]
    assert [(c["type"], c["pmid"]) for c in notice.corrections] == [("RetractionOf", 99000002)]
    # No Pagination at all: only ELocationID, which the DTD allows.
    assert notice.pages == ""


def test_retracted_publication_type_alone_marks_an_article_retracted():
    article = record("retraction_pair.xml", 99000002)
    without_link = article.raw_xml.replace('RefType="RetractionIn"', 'RefType="CommentIn"')
    (reparsed,) = parse_efetch(efetch_document(without_link))
    assert reparsed.corrections == []
    assert reparsed.is_retracted


def test_retraction_link_alone_marks_an_article_retracted():
    article = record("retraction_pair.xml", 99000002)
    without_type = article.raw_xml.replace('<PublicationType UI="D016441">Retracted Publication</PublicationType>', "")
    (reparsed,) = parse_efetch(efetch_document(without_type))
    assert reparsed.publication_types == ["Journal Article"]
    assert reparsed.is_retracted


def test_erratum_is_flagged_even_when_pubmed_gives_no_pmid_for_it():
    article = record("erratum_and_concern.xml", 99000004)
    assert article.has_erratum
    assert not article.is_retracted
    assert [(c["type"], c["pmid"]) for c in article.corrections] == [("ErratumIn", 99000005), ("ErratumIn", None)]


def test_expression_of_concern_and_update_are_recorded():
    article = record("erratum_and_concern.xml", 99000006)
    assert article.has_expression_of_concern
    assert not (article.has_erratum or article.is_retracted)
    assert [(c["type"], c["pmid"]) for c in article.corrections] == [
        ("ExpressionOfConcernIn", 99000012),
        ("UpdateIn", 99000013),
    ]


def test_medline_date_is_shown_as_written_and_gives_its_first_year():
    article = record("medline_date_season_collective.xml", 99000007)
    assert (article.pub_date, article.pub_year) == ("1998 Dec-1999 Jan", 1998)


def test_journal_abbreviation_falls_back_to_medline_ta():
    article = record("medline_date_season_collective.xml", 99000007)
    assert article.journal_iso == "Arch Rec Tumour Immunol"
    assert article.journal_title == "Archives of recorded tumour immunology"
    assert article.pages == "1116-22"


def test_season_dates_keep_the_season():
    article = record("medline_date_season_collective.xml", 99000008)
    assert (article.pub_date, article.pub_year) == ("2002 Spring", 2002)


def test_collective_author_has_only_a_collective_name():
    authors = record("medline_date_season_collective.xml", 99000008).authors
    assert authors[0] == {
        "last_name": "",
        "fore_name": "",
        "initials": "",
        "collective_name": "Fixture Immunotherapy Resistance Consortium",
        "orcid": "",
    }
    assert authors[1]["last_name"] == "Chair"


def test_start_and_end_page_are_joined_when_there_is_no_medline_pagination():
    assert record("medline_date_season_collective.xml", 99000008).pages == "77-81"


def test_doi_falls_back_to_elocation_id():
    article = record("elocation_doi_only.xml", 99000011)
    assert article.doi == "10.5555/ra.test.0011"
    assert (article.pmcid, article.issue, article.pages) == ("", "", "")
    assert article.pub_date == "2024 Sep 30"


def test_book_chapter_uses_its_own_title_and_authors_not_the_editors():
    chapter = record("book_articles.xml", 99000009)
    assert chapter.is_book
    assert chapter.title == "Antigen presentation defects and <i>HLA</i> loss (recorded test record)"
    assert chapter.journal_title == "Handbook of Recorded Immunotherapy Resistance"
    assert [a["last_name"] for a in chapter.authors] == ["Chapman", "Folio"]
    assert chapter.publication_types == ["Review"]
    assert (chapter.pub_date, chapter.pub_year) == ("2020 May", 2020)
    assert [s["label"] for s in chapter.abstract] == ["INTRODUCTION", "SUMMARY"]
    assert chapter.keywords == ["HLA loss"]
    assert chapter.book_accession == "NBK999009"
    assert chapter.mesh_terms == [] and chapter.corrections == []


def test_whole_book_falls_back_to_book_title_book_authors_and_book_doi():
    book = record("book_articles.xml", 99000014)
    assert book.title == book.journal_title == "Casebook of Checkpoint Failure (recorded test record)"
    assert [a["last_name"] for a in book.authors] == ["Whole"]
    assert book.doi == "10.5555/ra.test.book.0014"
    assert book.book_accession == "NBK999014"
    assert (book.pub_date, book.pub_year) == ("2019", 2019)


def test_journal_articles_have_no_book_accession():
    assert record("seed_29968044.xml", 29968044).book_accession == ""


# A live tag that runs or loads something, or an attribute that does, inside any tag.
# Escaped text such as "&lt;img onerror=…&gt;" is harmless and does not match.
DANGEROUS = re.compile(
    r"<\s*(script|style|iframe|img|a|svg|annotation-xml|maction|mglyph|form|input|noscript)\b"
    r"|<[^>]*\s(on\w+|href|src|style|xlink:href)\s*="
    r"|<[^>]*javascript:",
    re.I,
)


def test_hostile_markup_never_reaches_html_fields():
    article = record("hostile_markup.xml", 99000010)
    html_fields = [article.title] + [s["text"] for s in article.abstract]
    assert all(DANGEROUS.search(value) is None for value in html_fields), html_fields


def test_hostile_markup_keeps_the_harmless_parts():
    article = record("hostile_markup.xml", 99000010)
    assert article.title.startswith("Checkpoint <i>escape</i> via ")
    assert article.abstract[0]["text"] == "Recorded test record. click <b>bold</b>"
    assert article.abstract[1]["text"] == (
        'Value <math><mi mathvariant="bold">x</mi><mi>y</mi><mtext>alert</mtext></math> end.'
    )


def test_tags_written_as_text_by_a_publisher_stay_visible_text():
    title = record("hostile_markup.xml", 99000010).title
    assert "&lt;img src=x onerror=alert('escaped-text')&gt;" in title


def test_attribute_values_cannot_break_out_into_new_attributes():
    # Biopython re-serialises attributes without escaping quotes, so
    # title='x" onclick="…"' comes out as two attributes; both must go.
    assert "<u>quotes</u>" in record("hostile_markup.xml", 99000010).title


def test_plain_text_fields_hold_literal_text_for_templates_to_escape():
    article = record("hostile_markup.xml", 99000010)
    assert article.authors[0]["last_name"] == "<script>alert('author')</script>Smith"
    assert article.authors[1]["collective_name"] == "Group with markup"
    assert article.keywords == ["safe keyword"]
    assert article.journal_title == "Journal of <b>Hostile</b> Input"
    assert article.abstract[0]["label"] == "BACKGROUND<script>"


@pytest.mark.parametrize(
    "hostile",
    [
        '<svg onload="alert(1)"><circle/></svg>',
        '<math><mi xlink:href="javascript:alert(1)">x</mi></math>',
        "<math><annotation-xml encoding='text/html'><img src=x onerror=alert(1)></annotation-xml></math>",
        "<i><script>alert(1)</script></i>",
        '<sup style="position:fixed" class="x" id="y">1</sup>',
        '<noscript><p title="</noscript><img src=x onerror=alert(1)>"></noscript>',
        "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)></style></mglyph></table></mtext></math>",
        '<a href="javascript:alert(1)">x</a><form action="/"><input></form>',
    ],
)
def test_sanitiser_strips_known_xss_vectors(hostile):
    cleaned = sanitize_html(hostile)
    assert DANGEROUS.search(cleaned) is None, cleaned
    assert not re.search(r"<[^>]*\s(class|id)=", cleaned), cleaned


def test_plain_text_unescapes_entities_and_drops_tags():
    assert plain_text("A &amp; B <i>in vivo</i> &lt;5") == "A & B in vivo <5"


def test_seed_draghi_review_has_the_stated_bibliographic_facts():
    article = record("seed_29968044.xml", 29968044)
    assert article.title == "Acquired resistance to cancer immunotherapy."
    assert article.authors[0]["last_name"] == "Draghi" and article.authors[0]["initials"] == "A"
    assert (article.journal_iso, article.volume, article.issue, article.pages) == (
        "Semin Immunopathol",
        "41",
        "1",
        "31-40",
    )
    assert article.pub_year == 2019
    assert article.doi == "10.1007/s00281-018-0692-y"


def test_seed_zaretsky_has_the_stated_bibliographic_facts():
    article = record("seed_27433843.xml", 27433843)
    assert article.title == "Mutations Associated with Acquired Resistance to PD-1 Blockade in Melanoma."
    assert (article.authors[0]["last_name"], article.authors[0]["initials"]) == ("Zaretsky", "JM")
    assert (article.journal_iso, article.pub_year) == ("N Engl J Med", 2016)
    assert (article.doi, article.pmcid) == ("10.1056/NEJMoa1604958", "PMC5007206")


def test_records_come_in_document_order_with_raw_xml_cut_exactly_from_the_bytes():
    data = (DATA / "retraction_pair.xml").read_bytes()
    records = parse_efetch(data)
    assert [r.pmid for r in records] == [99000002, 99000003]
    for r in records:
        assert r.raw_xml.startswith("<PubmedArticle><MedlineCitation")
        assert r.raw_xml.endswith("</PubmedArticle>")
        assert r.raw_xml.encode() in data
    assert records[0].raw_xml.count("<PubmedArticle>") == 1


def test_raw_xml_reparses_to_the_same_record():
    for filename in ("labelled_abstract_mathml.xml", "book_articles.xml"):
        for original in _records(filename).values():
            (again,) = parse_efetch(efetch_document(original.raw_xml))
            assert again == original


def test_articles_and_books_mixed_in_one_answer_keep_their_order():
    book = record("book_articles.xml", 99000009).raw_xml
    article = record("seed_29968044.xml", 29968044).raw_xml
    assert [r.pmid for r in parse_efetch(efetch_document(article, book, article.replace("29968044", "29968045")))] == [
        29968044,
        99000009,
        29968045,
    ]


def test_the_record_pmid_is_the_citation_pmid_not_a_linked_one():
    # 99000001 links 99000090 (CommentIn) and 27433843 (Cites, ReferenceList) before
    # and after its own ArticleIdList; only MedlineCitation/PMID counts.
    assert list(_records("labelled_abstract_mathml.xml")) == [99000001]


def test_math_whose_mml_prefix_is_left_to_the_dtd_is_kept():
    # PubMed's DTD fixes the mml prefix, so a valid answer may use it without declaring it.
    article = record("labelled_abstract_mathml.xml", 99000001)
    undeclared = article.raw_xml.replace(' xmlns:mml="http://www.w3.org/1998/Math/MathML"', "")
    assert "xmlns:mml" not in undeclared
    (reparsed,) = parse_efetch(efetch_document(undeclared))
    assert reparsed.abstract == article.abstract
    assert reparsed.raw_xml == undeclared


def test_comments_and_cdata_inside_an_article_change_neither_its_fields_nor_its_raw_xml():
    article = record("retraction_pair.xml", 99000002)
    title = "<ArticleTitle>"
    commented = article.raw_xml.replace(title, title + "<!-- a note --><![CDATA[]]>", 1)
    (reparsed,) = parse_efetch(efetch_document("<!-- before -->", commented))
    assert reparsed.title == article.title
    assert reparsed.raw_xml == commented


def test_a_named_character_from_pubmeds_dtd_is_read_as_that_character():
    article = record("retraction_pair.xml", 99000002)
    named = article.raw_xml.replace("<ArticleTitle>", "<ArticleTitle>Caf&eacute; ", 1)
    (reparsed,) = parse_efetch(efetch_document(named))
    assert reparsed.title == "Café " + article.title


def test_an_entity_nobody_defines_reads_as_nothing():
    article = record("retraction_pair.xml", 99000002)
    (reparsed,) = parse_efetch(efetch_document(article.raw_xml.replace("<ArticleTitle>", "<ArticleTitle>&nosuch;", 1)))
    assert reparsed.title == article.title


def test_an_empty_article_set_means_no_records():
    data = f"{XML_DECLARATION}\n{PUBMED_DOCTYPE}\n<PubmedArticleSet></PubmedArticleSet>".encode()
    assert parse_efetch(data) == []


def test_truncated_xml_raises_biopythons_corrupted_xml_error():
    data = (DATA / "retraction_pair.xml").read_bytes()
    with pytest.raises(CorruptedXMLError):
        parse_efetch(data[: len(data) // 2])


def test_html_instead_of_xml_raises_not_xml_error():
    with pytest.raises(NotXMLError):
        parse_efetch(b"<html><body>Service maintenance</body></html>")


def test_other_eutilities_xml_is_not_mistaken_for_articles():
    esearch = (
        b'<?xml version="1.0" encoding="UTF-8" ?>\n'
        b'<!DOCTYPE eSearchResult PUBLIC "-//NLM//DTD esearch 20060628//EN" '
        b'"https://eutils.ncbi.nlm.nih.gov/eutils/dtd/20060628/esearch.dtd">\n'
        b"<eSearchResult><Count>1</Count><RetMax>1</RetMax><RetStart>0</RetStart>"
        b"<IdList><Id>29968044</Id></IdList><TranslationSet/><QueryTranslation>x</QueryTranslation></eSearchResult>"
    )
    with pytest.raises(RecordParseError):
        parse_efetch(esearch)


def test_a_record_has_the_shape_of_a_reference():
    # The pipeline copies a record's fields onto a Reference by name (curation.refresh): every field
    # but the PMID, which identifies the row, is a Reference field of the same name.
    reference_fields = {field.name for field in Reference._meta.concrete_fields}
    assert set(CitationRecord.__dataclass_fields__) - {"pmid"} <= reference_fields
    article = record("labelled_abstract_mathml.xml", 99000001)
    assert article.authors[0]["last_name"] == "Testwriter" and len(article.abstract) == 4


def test_the_parser_module_does_not_import_django():
    code = "import sys, curation.pubmed_records; sys.exit(1 if 'django' in sys.modules else 0)"
    assert subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).parents[1]).returncode == 0


def article(
    pmid=99100001,
    *,
    pub_date="<Year>2019</Year>",
    journal_title="<Title>Journal of Odd Records</Title>",
    title="<ArticleTitle>A study.</ArticleTitle>",
    pagination="<Pagination><MedlinePgn>1-9</MedlinePgn></Pagination>",
    after_title="",
    authors="",
) -> str:
    return (
        f"<PubmedArticle><MedlineCitation Status='MEDLINE' Owner='NLM'><PMID Version='1'>{pmid}</PMID>"
        "<Article PubModel='Print'><Journal><JournalIssue CitedMedium='Print'><Volume>8</Volume>"
        f"<PubDate>{pub_date}</PubDate></JournalIssue>{journal_title}<ISOAbbreviation>J Odd Rec</ISOAbbreviation>"
        f"</Journal>{title}{pagination}{after_title}{authors}<Language>eng</Language>"
        "<PublicationTypeList><PublicationType UI='D016428'>Journal Article</PublicationType></PublicationTypeList>"
        "</Article><MedlineJournalInfo><MedlineTA>J Odd Rec</MedlineTA></MedlineJournalInfo></MedlineCitation>"
        f"<PubmedData><ArticleIdList><ArticleId IdType='pubmed'>{pmid}</ArticleId></ArticleIdList></PubmedData>"
        "</PubmedArticle>"
    )


def parse_one(xml: str):
    data = f"{XML_DECLARATION}\n{PUBMED_DOCTYPE}\n<PubmedArticleSet>\n{xml}\n</PubmedArticleSet>".encode()
    (record,) = parse_efetch(data)
    return record


@pytest.mark.parametrize(
    ("pub_date", "shown", "year"),
    [
        ("<MedlineDate>2019 Jan-Feb</MedlineDate>", "2019 Jan-Feb", 2019),
        ("<MedlineDate>Winter 2018-2019</MedlineDate>", "Winter 2018-2019", 2018),
        ("<Year>2018</Year><Season>Winter</Season>", "2018 Winter", 2018),
        ("<Year>2019</Year>", "2019", 2019),
    ],
)
def test_partial_publication_dates_are_shown_as_pubmed_writes_them(pub_date, shown, year):
    record = parse_one(article(pub_date=pub_date))

    assert (record.pub_date, record.pub_year) == (shown, year)


def test_an_article_with_only_a_vernacular_title_gets_that_title():
    record = parse_one(
        article(title="<ArticleTitle></ArticleTitle>", after_title="<VernacularTitle>Titre</VernacularTitle>")
    )

    assert record.title == "Titre"


def test_a_journal_without_a_full_title_keeps_its_abbreviation():
    record = parse_one(article(journal_title=""))

    assert (record.journal_title, record.journal_iso) == ("", "J Odd Rec")


def test_an_empty_abstract_text_gives_no_empty_abstract_section():
    record = parse_one(
        article(
            after_title="<Abstract><AbstractText/><AbstractText Label='RESULTS'>B2M loss.</AbstractText></Abstract>"
        )
    )

    assert record.abstract == [{"label": "RESULTS", "category": "", "text": "B2M loss."}]


def test_an_abstract_of_only_empty_text_means_no_abstract():
    record = parse_one(article(after_title="<Abstract><AbstractText></AbstractText></Abstract>"))

    assert record.abstract == []


def test_an_article_numbered_by_its_elocation_id_uses_it_as_its_pages():
    # Online-only journals (eLife, PLoS) have no Pagination; PubMed cites the pii: "Elife. 2019;8:e41090."
    record = parse_one(
        article(
            pagination="",
            after_title="<ELocationID EIdType='doi' ValidYN='Y'>10.7554/eLife.41090</ELocationID>"
            "<ELocationID EIdType='pii' ValidYN='Y'>e41090</ELocationID>",
        )
    )

    assert (record.pages, record.doi) == ("e41090", "10.7554/eLife.41090")


def test_an_author_name_pubmed_marks_invalid_is_left_out():
    # An erratum that corrects a misspelled name keeps the wrong one with ValidYN="N"; PubMed does not show it.
    record = parse_one(
        article(
            authors="<AuthorList CompleteYN='Y'>"
            "<Author ValidYN='N'><LastName>Smiht</LastName><Initials>J</Initials></Author>"
            "<Author ValidYN='Y'><LastName>Smith</LastName><Initials>J</Initials></Author>"
            "<Author ValidYN='Y'><LastName>Okafor</LastName><Initials>B</Initials></Author>"
            "</AuthorList>"
        )
    )

    assert [author["last_name"] for author in record.authors] == ["Smith", "Okafor"]
