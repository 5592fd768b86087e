"""Audit: the efetch parser on odd but real PubMed records (dates, titles, pagination, author lists)."""

import pytest

from curation.pubmed_records import parse_efetch
from tests.fake_eutils import PUBMED_DOCTYPE, XML_DECLARATION


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
