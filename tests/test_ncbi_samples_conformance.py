"""Replays the real NCBI responses in ../shared/ncbi-samples through our parser and client.

The samples are read in place, never copied into the repo. Without the folder
(a checkout without shared/ beside it) the module is skipped.
"""

from pathlib import Path

import pytest
from Bio import Entrez, Medline
from Bio.Entrez.Parser import CorruptedXMLError, NotXMLError

from curation import pubmed
from curation.pubmed import PubMedBadResponse, fetch_batch
from curation.pubmed_records import RecordParseError, parse_efetch
from curation.search_records import parse_esearch
from tests.fake_eutils import ESEARCH_PROLOGUE

# shared/ sits beside the checkout (../shared), or beside the folder of worktrees (../../shared).
SAMPLES = next(
    (
        folder / "shared" / "ncbi-samples"
        for folder in Path(__file__).resolve().parents[1:4]
        if (folder / "shared" / "ncbi-samples").is_dir()
    ),
    Path(__file__).resolve().parents[1].parent / "shared" / "ncbi-samples",
)

pytestmark = pytest.mark.skipif(not SAMPLES.is_dir(), reason=f"real NCBI samples not found at {SAMPLES}")


def samples(pattern: str) -> list[str]:
    return sorted(p.name for p in SAMPLES.glob(pattern)) if SAMPLES.is_dir() else []


# PMID -> (display date, year) for the efetch samples, as NCBI's XML states them.
EXPECTED_PUBMED = {
    "pubmed1.xml": {12091962: ("1990 Spring", 1990), 9997: ("1976 Sep 28", 1976)},
    "pubmed2.xml": {11748933: ("2001 Jun", 2001), 11700088: ("2001 Nov", 2001)},
    "pubmed4.xml": {27797938: ("2017 Jun", 2017)},
    "pubmed5.xml": {28775130: ("2018 Feb", 2018)},
    "pubmed6.xml": {30108519: ("2018", 2018)},
    "pubmed7.xml": {29963580: ("2018 Apr", 2018)},
}
# Samples that are meant to fail, and how Biopython fails on them.
NEGATIVE = {
    "pubmed3.html": NotXMLError,
    "einfo4.xml": CorruptedXMLError,
    "epost2.xml": RuntimeError,
    "epost3.xml": RuntimeError,
    "esummary8.xml": RuntimeError,
}
OTHER_EUTILITIES = [name for name in samples("*.xml") if not name.startswith("pubmed") and name not in NEGATIVE]
EXPECTED_MEDLINE = {
    "pubmed_result1.txt": ["12230038"],
    "pubmed_result2.txt": ["16403221", "16377612", "14871861", "14630660"],
    "pubmed_result3.txt": ["23039619"],
}


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


@pytest.mark.parametrize("name", samples("pubmed*.xml"))
def test_every_efetch_sample_parses_into_complete_records(name):
    records = parse_efetch(sample(name))
    assert records
    for record in records:
        assert record.pmid > 0
        assert record.title
        assert record.authors, f"{record.pmid} has no authors"
        assert all(a["last_name"] or a["collective_name"] for a in record.authors)
        assert record.pub_year and 1800 < record.pub_year < 2100
        assert record.pub_date.startswith(str(record.pub_year))
        assert record.journal_iso
        assert record.raw_xml.encode() in sample(name)
        assert "mml:" not in record.title + "".join(s["text"] for s in record.abstract)


@pytest.mark.parametrize("name", sorted(EXPECTED_PUBMED))
def test_efetch_samples_give_the_pmids_and_dates_ncbi_sent(name):
    if not (SAMPLES / name).exists():
        pytest.skip(f"{name} is not among the samples")
    records = parse_efetch(sample(name))
    assert {r.pmid: (r.pub_date, r.pub_year) for r in records} == EXPECTED_PUBMED[name]


def test_season_date_and_review_type_in_pubmed1():
    record = {r.pmid: r for r in parse_efetch(sample("pubmed1.xml"))}[12091962]
    assert record.pub_date == "1990 Spring"
    assert record.publication_types == ["Journal Article", "Review"]
    assert record.abstract == []
    assert record.authors[0]["last_name"] == "Olivero"


def test_labelled_abstract_and_inline_markup_in_pubmed4():
    record = parse_efetch(sample("pubmed4.xml"))[0]
    assert [s["label"] for s in record.abstract] == ["OBJECTIVE", "DESIGN", "RESULTS", "CONCLUSIONS"]
    assert "<i>TERT</i>" in record.title
    assert (record.doi, record.pmcid) == ("10.1136/gutjnl-2016-312510", "PMC5442267")
    assert len(record.authors) == 22
    # CommentIn and Cites links are not corrections.
    assert record.corrections == []
    assert record.keywords and record.mesh_terms


def test_nlm_categories_in_pubmed5():
    record = parse_efetch(sample("pubmed5.xml"))[0]
    assert all(s["category"] for s in record.abstract)


def test_mathml_in_pubmed6_is_kept_as_math():
    record = parse_efetch(sample("pubmed6.xml"))[0]
    assert "<math>" in record.abstract[0]["text"]
    assert record.pages == "1034"
    assert record.issue == ""


def test_collective_author_and_orcid_url_in_pubmed7():
    record = parse_efetch(sample("pubmed7.xml"))[0]
    assert {"collective_name": "Canadian Respiratory Research Network"}.items() <= next(
        a for a in record.authors if a["collective_name"]
    ).items()
    assert "0000-0002-4590-7461" in [a["orcid"] for a in record.authors]


@pytest.mark.parametrize(("name", "error"), sorted(NEGATIVE.items()))
def test_negative_samples_raise_biopythons_error(name, error):
    with pytest.raises(error):
        parse_efetch(sample(name))


@pytest.mark.parametrize("name", sorted(NEGATIVE))
def test_negative_samples_served_by_ncbi_become_bad_responses(ncbi_settings, fake_eutils, name):
    ncbi_settings.NCBI_MAX_ATTEMPTS = 2
    content_type = "text/html" if name.endswith(".html") else "text/xml; charset=UTF-8"
    fake_eutils.respond_next(sample(name), content_type=content_type, n=2)
    with pytest.raises(PubMedBadResponse) as caught:
        fetch_batch([29968044])
    assert "gave up after 2 attempts" in str(caught.value)
    if NEGATIVE[name] is RuntimeError:
        assert "<ERROR>" in str(caught.value)


@pytest.mark.parametrize("name", OTHER_EUTILITIES)
def test_other_eutilities_samples_parse_but_are_not_article_sets(name):
    assert Entrez.read(SAMPLES / name) is not None
    with pytest.raises(RecordParseError):
        parse_efetch(sample(name))


def test_a_non_efetch_answer_to_efetch_is_a_bad_response_without_retry(ncbi_settings, fake_eutils):
    fake_eutils.respond_next(sample("esearch1.xml"), n=5)
    with pytest.raises(PubMedBadResponse, match="not a PubMed article set.*not retried"):
        fetch_batch([29968044])
    assert len(fake_eutils.requests) == 1


@pytest.mark.parametrize("name", sorted(EXPECTED_MEDLINE))
def test_medline_text_samples_parse_with_bio_medline(name):
    with open(SAMPLES / name, encoding="utf-8") as handle:
        records = list(Medline.parse(handle))
    assert [r["PMID"] for r in records] == EXPECTED_MEDLINE[name]
    assert all(r.get("TI") for r in records)


# --- ESearch ---------------------------------------------------------------------------------------------------

# What each esearch sample says, as our parser must read it: Count, IDs listed, RetStart, history, NCBI's notes.
EXPECTED_ESEARCH = {
    "esearch1.xml": (63, 20, 0, False, [], []),
    "esearch2.xml": (42249, 100, 0, True, [], []),
    "esearch3.xml": (2651, 6, 6, False, [], []),
    "esearch8.xml": (0, 0, 0, False, ["PhraseNotFound: abcXYZ"], ["OutputMessage: No items found."]),
}


@pytest.mark.parametrize("name", sorted(EXPECTED_ESEARCH))
def test_esearch_samples_parse_into_count_ids_history_and_ncbis_notes(name):
    page = parse_esearch(sample(name))
    count, listed, retstart, history, errors, warnings = EXPECTED_ESEARCH[name]
    assert (page.count, len(page.pmids), page.retstart) == (count, listed, retstart)
    assert bool(page.webenv and page.query_key) == history
    assert (page.errors, page.warnings) == (errors, warnings)
    assert page.translation


def test_esearch2s_translation_carries_the_entry_date_window_as_the_fake_writes_it():
    assert parse_esearch(sample("esearch2.xml")).translation.endswith("AND 2025/09/27:2025/11/26[Date - Entry]")


@pytest.mark.parametrize("name", sorted(EXPECTED_ESEARCH))
def test_esearch_samples_served_by_ncbi_reach_the_client_intact(ncbi_settings, fake_eutils, name):
    fake_eutils.respond_next(sample(name), endpoint="esearch.fcgi")
    assert pubmed.search("anything") == parse_esearch(sample(name))


def _shape(xml: bytes) -> list[str]:
    """The element names of an eSearchResult in document order, each once: its shape, not its values."""
    import re

    return list(dict.fromkeys(re.findall(rb"<([A-Za-z]+)[ />]", xml.split(b"<eSearchResult>", 1)[1])))


@pytest.mark.parametrize(
    ("name", "query"),
    [("esearch1.xml", "synthetic"), ("esearch2.xml", "synthetic"), ("esearch8.xml", "abcXYZ")],
)
def test_the_fake_answers_esearch_in_ncbis_shape(ncbi_settings, fake_eutils, name, query):
    from datetime import date

    fake_eutils.add_synthetic(range(46_000_000, 46_000_030), entry_date=date(2025, 10, 1))
    history = name == "esearch2.xml"
    params = {"db": "pubmed", "term": query, "retmax": 20, **({"usehistory": "y"} if history else {})}
    if history:
        params.update(datetype="edat", mindate="2025/09/27", maxdate="2025/11/26")
    answer = fake_eutils._esearch_body({k: str(v) for k, v in params.items()})[2]
    real = sample(name)
    assert answer.startswith(ESEARCH_PROLOGUE.encode()) and real.startswith(ESEARCH_PROLOGUE.encode())
    expected = [tag.decode() for tag in _shape(real)]
    if name != "esearch8.xml":
        expected = [tag for tag in expected if tag not in ("Translation", "From", "To")]  # the fake maps no MeSH
    assert [tag.decode() for tag in _shape(answer)] == expected
    ours, theirs = parse_esearch(answer), parse_esearch(real)
    assert (bool(ours.webenv), ours.errors, ours.warnings) == (bool(theirs.webenv), theirs.errors, theirs.warnings)
