"""curation.pubmed against the fake E-utilities server: batching, identification, retries, ECitMatch."""

import json
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.error import HTTPError

import pytest
from Bio import Entrez
from django.conf import settings

from curation import pubmed
from curation.paste import parse_citation_string
from curation.pubmed import (
    CitationQuery,
    PubMedBadResponse,
    PubMedError,
    PubMedRateLimited,
    PubMedUnavailable,
    fetch_batch,
    match_citations,
)
from curation.pubmed_records import CitationRecord
from tests.fixtures_ncbi import TEST_API_KEY, TEST_EMAIL, TEST_TOOL


@dataclass(frozen=True)
class BatchResult:
    """What one efetch batch produced; handed to ``fetch_records``' ``on_batch`` callback."""

    index: int  # 1-based position of this batch
    total: int  # number of batches in the whole fetch
    pmids: tuple[int, ...]  # what this batch asked for
    records: dict[int, CitationRecord]
    missing: set[int]  # asked for, answered, not in the answer: PubMed does not know them
    error: PubMedError | None = None  # set when the whole batch failed after retries

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def failed(self) -> dict[int, str]:
        return {} if self.error is None else dict.fromkeys(self.pmids, str(self.error))


@dataclass
class FetchResult:
    """Outcome of ``fetch_records``: every requested PMID is in exactly one of the three."""

    records: dict[int, CitationRecord] = field(default_factory=dict)
    missing: set[int] = field(default_factory=set)
    failed: dict[int, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failed

    def _add(self, batch: BatchResult) -> None:
        self.records.update(batch.records)
        self.missing |= batch.missing
        self.failed.update(batch.failed)


def fetch_records(pmids: Iterable[int | str], *, on_batch: Callable[[BatchResult], None] | None = None) -> FetchResult:
    """Fetch PubMed records in batches of ``NCBI_BATCH_SIZE``; one failed batch does not stop the rest.

    Duplicates are fetched once. ``on_batch`` is called after every batch,
    successful or not, so the caller can save progress as it goes; an exception
    it raises stops the fetch and propagates.
    """
    wanted = list(dict.fromkeys(int(p) for p in pmids))
    size = max(1, int(settings.NCBI_BATCH_SIZE))
    batches = [wanted[i : i + size] for i in range(0, len(wanted), size)]
    result = FetchResult()
    for index, batch in enumerate(batches, start=1):
        try:
            records, missing = fetch_batch(batch)
            outcome = BatchResult(index, len(batches), tuple(batch), records, missing)
        except PubMedError as exc:
            outcome = BatchResult(index, len(batches), tuple(batch), {}, set(), error=exc)
        result._add(outcome)
        if on_batch is not None:
            on_batch(outcome)
    return result


SEEDS = [29968044, 27433843]


SYNTHETIC = range(30_000_000, 30_000_450)


@pytest.fixture
def sleeps(monkeypatch):
    """Record every backoff sleep while still sleeping for real (the fake keeps real time)."""
    recorded = []

    def sleep(seconds):
        recorded.append(seconds)
        time.sleep(seconds)

    monkeypatch.setattr(pubmed, "_sleep", sleep)
    return recorded


def test_importing_the_client_takes_over_biopythons_http_and_retries():
    assert Entrez.urlopen is pubmed._urlopen
    assert Entrez.max_tries == 1


def test_seed_records_are_fetched_from_the_configured_base_url(ncbi_settings, fake_eutils):
    records, missing = fetch_batch(SEEDS)
    assert sorted(records) == sorted(SEEDS) and missing == set()
    assert records[27433843].pmcid == "PMC5007206"
    (request,) = fake_eutils.requests
    assert request.path == "/entrez/eutils/efetch.fcgi"


def test_every_efetch_is_a_form_post_with_pubmed_xml_abstract_and_identification(ncbi_settings, fake_eutils):
    fetch_batch([29968044])
    (request,) = fake_eutils.requests
    assert request.method == "POST"
    assert request.content_type == "application/x-www-form-urlencoded"
    assert request.params == {
        "db": "pubmed",
        "id": "29968044",
        "retmode": "xml",
        "rettype": "abstract",
        "tool": TEST_TOOL,
        "email": TEST_EMAIL,
        "api_key": TEST_API_KEY,
    }


def test_no_api_key_is_sent_when_none_is_configured(ncbi_settings, fake_eutils):
    ncbi_settings.NCBI_API_KEY = ""
    fetch_batch([29968044])
    (request,) = fake_eutils.requests
    assert "api_key" not in request.params
    assert request.client_key == "127.0.0.1"


def test_450_pmids_go_in_batches_of_at_most_200(ncbi_settings, fake_eutils):
    fake_eutils.add_synthetic(SYNTHETIC)
    result = fetch_records(SYNTHETIC)
    assert len(result.records) == 450 and result.ok and not result.missing
    efetches = fake_eutils.requests_to("efetch.fcgi")
    assert [len(r.ids) for r in efetches] == [200, 200, 50]
    assert {r.method for r in efetches} == {"POST"}
    assert [pmid for r in efetches for pmid in r.ids] == list(SYNTHETIC)


def test_batch_size_follows_the_setting(ncbi_settings, fake_eutils):
    ncbi_settings.NCBI_BATCH_SIZE = 3
    fake_eutils.add_synthetic(SYNTHETIC)
    fetch_records(SYNTHETIC[:7])
    assert [len(r.ids) for r in fake_eutils.requests] == [3, 3, 1]


def test_a_thousand_pmids_import_in_five_requests(ncbi_settings, fake_eutils):
    pmids = range(31_000_000, 31_001_000)
    fake_eutils.add_synthetic(pmids)
    result = fetch_records(pmids)
    assert len(result.records) == 1000
    assert len(fake_eutils.requests) == 5
    assert result.records[31_000_999].doi == "10.5555/synthetic.31000999"


def test_duplicates_are_fetched_once(ncbi_settings, fake_eutils):
    result = fetch_records([29968044, 29968044, "29968044", 27433843])
    assert sorted(result.records) == sorted(SEEDS)
    assert fake_eutils.requests[0].ids == [29968044, 27433843]


def test_nonsense_pmids_are_refused_before_any_request(ncbi_settings, fake_eutils):
    with pytest.raises(ValueError):
        fetch_records([29968044, 0])
    with pytest.raises(ValueError):
        fetch_records(["PMC5007206"])
    assert fake_eutils.requests == []


def test_nothing_to_fetch_sends_nothing(ncbi_settings, fake_eutils):
    assert fetch_batch([]) == ({}, set())
    result = fetch_records([])
    assert (result.records, result.missing, result.failed) == ({}, set(), {})
    assert fake_eutils.requests == []


def test_pmids_pubmed_does_not_know_are_missing_not_failed(ncbi_settings, fake_eutils):
    result = fetch_records([98_765_431, 98_765_432])
    assert result.records == {}
    assert result.missing == {98_765_431, 98_765_432}
    assert result.failed == {} and result.ok


def test_a_mixed_batch_returns_the_known_records_and_reports_the_rest_missing(ncbi_settings, fake_eutils):
    records, missing = fetch_batch([29968044, 98_765_431, 27433843])
    assert sorted(records) == sorted(SEEDS)
    assert missing == {98_765_431}
    assert records[29968044].raw_xml.startswith("<PubmedArticle>")


def test_a_429_is_retried_after_the_retry_after_seconds(ncbi_settings, fake_eutils, sleeps):
    fake_eutils.retry_after = 1
    fake_eutils.fail_next(1, "rate_limit")
    records, _ = fetch_batch([29968044])
    assert list(records) == [29968044]
    assert sleeps == [1.0]
    first, second = fake_eutils.requests
    assert (first.status, second.status) == (429, 200)
    assert second.time - first.time >= 1.0


def test_persistent_429s_raise_rate_limited_with_the_reason(ncbi_settings, fake_eutils, sleeps):
    fake_eutils.retry_after = 0
    fake_eutils.fail_next(10, "rate_limit")
    with pytest.raises(PubMedRateLimited) as caught:
        fetch_batch([29968044])
    assert str(caught.value) == (
        "PubMed efetch of 1 PMID (29968044): NCBI answered HTTP 429 Too Many Requests (limit 10/s) (5 times); "
        "gave up after 5 attempts"
    )
    assert caught.value.attempts == 5 and caught.value.status == 429
    assert len(fake_eutils.requests) == 5


def test_server_errors_are_retried_until_an_answer_comes(ncbi_settings, fake_eutils, sleeps):
    fake_eutils.fail_next(2, "http503")
    records, _ = fetch_batch(SEEDS)
    assert sorted(records) == sorted(SEEDS)
    assert [r.status for r in fake_eutils.requests] == [503, 503, 200]
    # Full jitter: each sleep is somewhere in [0, min(cap, base * 2**n)].
    assert len(sleeps) == 2 and 0 <= sleeps[0] <= 0.01 and 0 <= sleeps[1] <= 0.02


def test_five_503s_give_up_after_five_attempts_saying_so(ncbi_settings, fake_eutils):
    fake_eutils.fail_next(5, "http503")
    with pytest.raises(PubMedUnavailable) as caught:
        fetch_batch([29968044])
    assert str(caught.value) == (
        "PubMed efetch of 1 PMID (29968044): NCBI answered HTTP 503 Service Unavailable (5 times); "
        "gave up after 5 attempts"
    )
    assert caught.value.status == 503


@pytest.mark.parametrize(
    ("kind", "exception", "reason"),
    [
        ("http500", PubMedUnavailable, "NCBI answered HTTP 500 Internal Server Error"),
        ("http502", PubMedUnavailable, "NCBI answered HTTP 502 Bad Gateway"),
        ("truncated", PubMedBadResponse, "the XML was truncated or corrupt (no element found"),
        (
            "error",
            PubMedBadResponse,
            "NCBI answered with an error instead of records: <ERROR>Unable to obtain query #1",
        ),
        ("html", PubMedBadResponse, "the answer was not XML: 'PubMed Maintenance'"),
        ("empty", PubMedBadResponse, "the answer was not XML"),
        ("disconnect", PubMedUnavailable, "the connection failed (RemoteDisconnected"),
        ("stall", PubMedUnavailable, "no answer within 0.3 s"),
    ],
)
def test_each_kind_of_bad_answer_is_retried_then_reported(ncbi_settings, fake_eutils, kind, exception, reason):
    ncbi_settings.NCBI_MAX_ATTEMPTS = 3
    ncbi_settings.NCBI_TIMEOUT = 0.3
    fake_eutils.fail_next(3, kind)
    with pytest.raises(exception) as caught:
        fetch_batch([29968044])
    assert reason in str(caught.value)
    assert str(caught.value).endswith("(3 times); gave up after 3 attempts")
    assert len(fake_eutils.requests) == 3


def test_a_transient_bad_answer_followed_by_a_good_one_succeeds(ncbi_settings, fake_eutils):
    fake_eutils.fail_next(1, "truncated")
    fake_eutils.fail_next(1, "error")
    records, _ = fetch_batch([29968044])
    assert list(records) == [29968044]
    assert len(fake_eutils.requests) == 3


def test_the_timeout_applies_to_every_request(ncbi_settings, fake_eutils):
    ncbi_settings.NCBI_MAX_ATTEMPTS = 2
    ncbi_settings.NCBI_TIMEOUT = 0.2
    fake_eutils.fail_next(2, "stall")
    started = time.monotonic()
    with pytest.raises(PubMedUnavailable, match="no answer within 0.2 s"):
        fetch_batch([29968044])
    assert time.monotonic() - started < 2.0


def test_a_client_error_is_not_retried(ncbi_settings, fake_eutils):
    fake_eutils.respond_next(b"Bad Request: id list too long\n", status=400, content_type="text/plain")
    with pytest.raises(PubMedBadResponse) as caught:
        fetch_batch([29968044])
    assert str(caught.value) == (
        "PubMed efetch of 1 PMID (29968044): NCBI answered HTTP 400 Bad Request: "
        "'Bad Request: id list too long'; not retried"
    )
    assert caught.value.status == 400 and caught.value.attempts == 1
    assert len(fake_eutils.requests) == 1


def test_an_unreachable_server_is_unavailable(ncbi_settings, fake_eutils):
    ncbi_settings.NCBI_MAX_ATTEMPTS = 2
    ncbi_settings.NCBI_EUTILS_URL = "http://127.0.0.1:9/entrez/eutils/"
    with pytest.raises(PubMedUnavailable, match=r"could not reach NCBI \(.*refused"):
        fetch_batch([29968044])


def test_a_broken_batch_does_not_lose_the_other_batches(ncbi_settings, fake_eutils):
    ncbi_settings.NCBI_BATCH_SIZE = 2
    ncbi_settings.NCBI_MAX_ATTEMPTS = 2
    fake_eutils.add_synthetic(SYNTHETIC)
    pmids = list(SYNTHETIC[:5])
    fake_eutils.fail_pmids([pmids[2]], "http502")
    seen = []

    result = fetch_records(pmids, on_batch=seen.append)

    assert sorted(result.records) == [pmids[0], pmids[1], pmids[4]]
    assert set(result.failed) == {pmids[2], pmids[3]}
    assert "HTTP 502 Bad Gateway" in result.failed[pmids[2]]
    assert not result.ok and result.missing == set()
    assert [(b.index, b.total, b.ok) for b in seen] == [(1, 3, True), (2, 3, False), (3, 3, True)]
    assert isinstance(seen[1].error, PubMedUnavailable)
    assert seen[1].failed == result.failed


def test_each_batch_is_reported_as_soon_as_it_is_done(ncbi_settings, fake_eutils):
    ncbi_settings.NCBI_BATCH_SIZE = 1
    progress = []

    def on_batch(batch):
        # The next request has not been sent yet when this batch is reported.
        progress.append((batch.pmids, len(fake_eutils.requests), set(batch.records), batch.missing))

    fetch_records([29968044, 98_765_431], on_batch=on_batch)
    assert progress == [((29968044,), 1, {29968044}, set()), ((98_765_431,), 2, set(), {98_765_431})]


def test_an_exception_in_the_callback_stops_the_fetch(ncbi_settings, fake_eutils):
    ncbi_settings.NCBI_BATCH_SIZE = 1

    def on_batch(batch):
        raise RuntimeError("database is down")

    with pytest.raises(RuntimeError, match="database is down"):
        fetch_records(SEEDS, on_batch=on_batch)
    assert len(fake_eutils.requests) == 1


def test_fetch_batch_raises_the_domain_exception(ncbi_settings, fake_eutils):
    ncbi_settings.NCBI_MAX_ATTEMPTS = 1
    fake_eutils.fail_next(1, "http503")
    with pytest.raises(PubMedError, match="gave up after 1 attempt$"):
        fetch_batch(SEEDS)


def test_without_an_api_key_requests_stay_within_three_per_second(ncbi_settings, fake_eutils):
    ncbi_settings.NCBI_API_KEY = ""
    ncbi_settings.NCBI_BATCH_SIZE = 1
    fake_eutils.add_synthetic(SYNTHETIC)
    result = fetch_records(SYNTHETIC[:5])
    assert len(result.records) == 5
    assert fake_eutils.rate_limited_count == 0
    assert fake_eutils.max_requests_per_second() == 3


def test_concurrent_workers_sharing_the_limiter_never_trip_ncbis_limit(ncbi_settings, fake_eutils):
    ncbi_settings.NCBI_BATCH_SIZE = 1
    fake_eutils.add_synthetic(SYNTHETIC)
    results = []

    def worker(offset):
        results.append(fetch_records(SYNTHETIC[offset * 5 : offset * 5 + 5]))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sum(len(r.records) for r in results) == 20
    timeline = [(round(r.time - fake_eutils.requests[0].time, 3), r.status) for r in fake_eutils.requests]
    assert fake_eutils.rate_limited_count == 0, f"(seconds, status) of each request: {timeline}"
    assert fake_eutils.max_requests_per_second(TEST_API_KEY) <= 10


def test_citations_are_matched_to_pmids_in_input_order(ncbi_settings, fake_eutils):
    matches = match_citations(
        [
            CitationQuery("Semin Immunopathol", 2019, "41", "31", "Draghi A", key="draghi"),
            CitationQuery("Journal of Nothing", 2019, "1", "1", "Nobody N", key="bogus journal"),
            CitationQuery("Cell", 2017, "168", "707", "Sharma P", key="unknown article"),
            CitationQuery("J Immunother Cancer", None, key="too vague"),
        ]
    )
    assert [(m.key, m.status, m.pmid, m.candidates, m.detail) for m in matches] == [
        ("draghi", "matched", 29968044, [29968044], "29968044"),
        ("bogus journal", "not_found", None, [], "NOT_FOUND;INVALID_JOURNAL"),
        ("unknown article", "not_found", None, [], "NOT_FOUND"),
        ("too vague", "ambiguous", None, [], "AMBIGUOUS (4 citations)"),
    ]


def test_ecitmatch_request_uses_ncbis_bdata_format(ncbi_settings, fake_eutils):
    match_citations([CitationQuery("Semin Immunopathol", 2019, "41", "31", "Draghi A", key="x|y")])
    (request,) = fake_eutils.requests
    assert request.method == "GET" and request.endpoint == "ecitmatch.cgi"
    assert request.params["db"] == "pubmed"
    assert request.params["tool"] == TEST_TOOL and request.params["email"] == TEST_EMAIL
    # Our own key on the wire, each citation ending with "|" as NCBI documents.
    assert request.params["bdata"] == "Semin Immunopathol|2019|41|31|Draghi A|c0|"


def test_many_citations_are_split_into_short_get_requests(ncbi_settings, fake_eutils):
    fake_eutils.add_citation(pmid=27433843, journal="N Engl J Med", year=2016, volume="375", first_page="819")
    queries = [CitationQuery("N Engl J Med", 2016, "375", "819", "Zaretsky JM", key=str(i)) for i in range(40)]
    matches = match_citations(queries)
    assert [m.pmid for m in matches] == [27433843] * 40
    assert [m.key for m in matches] == [str(i) for i in range(40)]
    assert len(fake_eutils.requests) > 1
    assert all(r.method == "GET" for r in fake_eutils.requests)


def test_ecitmatch_failures_use_the_same_retry_policy(ncbi_settings, fake_eutils):
    fake_eutils.fail_next(1, "http503", endpoint="ecitmatch.cgi")
    (match,) = match_citations([CitationQuery("Semin Immunopathol", 2019, "41", "31", key="k")])
    assert match.pmid == 29968044
    assert [r.status for r in fake_eutils.requests] == [503, 200]


def test_a_citation_ncbi_does_not_answer_for_is_not_found():
    assert pubmed._citation_match("k", None).detail == "no answer line for this citation"


def test_ambiguous_answers_listing_pmids_become_candidates():
    match = pubmed._citation_match("k", "AMBIGUOUS 26315901,25768914")
    assert (match.status, match.pmid, match.candidates) == ("ambiguous", None, [26315901, 25768914])


def test_no_citations_means_no_request(ncbi_settings, fake_eutils):
    assert match_citations([]) == []
    assert fake_eutils.requests == []


def test_a_parsed_citation_string_can_be_matched(ncbi_settings, fake_eutils):
    query = parse_citation_string("Draghi A, et al. Semin Immunopathol. 2019 Jan;41(1):31-40.", key="ref-1")
    (match,) = match_citations([query])
    assert (match.key, match.status, match.pmid) == ("ref-1", "matched", 29968044)


def test_the_fake_forgets_edited_records_on_reset(ncbi_settings, fake_eutils):
    original = fake_eutils.article_xml(29968044)
    fake_eutils.add_records_from(original.replace("Acquired resistance", "Edited title"))
    assert "Edited title" in fetch_batch([29968044])[0][29968044].title
    fake_eutils.reset()
    assert fake_eutils.article_xml(29968044) == original


def test_the_fake_answers_429_with_ncbis_body_and_headers(fake_eutils):
    url = f"{fake_eutils.base_url}efetch.fcgi?db=pubmed&id=29968044&retmode=xml"
    statuses = []
    for _ in range(4):
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                statuses.append(response.status)
                assert response.headers["X-RateLimit-Limit"] == "3"
        except HTTPError as exc:
            statuses.append(exc.code)
            assert json.loads(exc.read()) == {
                "error": "API rate limit exceeded",
                "api-key": "127.0.0.1",
                "count": "4",
                "limit": "3",
            }
            assert exc.headers["Content-Type"] == "application/json"
            assert exc.headers["Retry-After"] == "2"
            assert exc.headers["X-RateLimit-Remaining"] == "0"
    assert statuses == [200, 200, 200, 429]
    assert fake_eutils.rate_limited_count == 1
    assert fake_eutils.max_requests_per_second("127.0.0.1") == 4


def test_the_fake_sends_ncbis_doctype_and_an_empty_set_for_unknown_pmids(fake_eutils):
    url = f"{fake_eutils.base_url}efetch.fcgi?db=pubmed&id=98765431&retmode=xml&rettype=abstract"
    with urllib.request.urlopen(url, timeout=5) as response:
        assert response.headers["Content-Type"] == "text/xml; charset=UTF-8"
        body = response.read().decode()
    assert body == (
        '<?xml version="1.0" ?>\n'
        '<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, 1st January 2025//EN" '
        '"https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_250101.dtd">\n'
        "<PubmedArticleSet></PubmedArticleSet>"
    )


def test_every_request_and_every_retry_takes_exactly_one_limiter_token(ncbi_settings, fake_eutils, monkeypatch):
    tokens = []

    class CountingLimiter:
        def acquire(self):
            tokens.append(len(fake_eutils.requests))

    monkeypatch.setattr(pubmed.ratelimit, "get_limiter", CountingLimiter)
    fake_eutils.fail_next(2, "http503")
    fetch_batch([29968044])
    match_citations([CitationQuery("Semin Immunopathol", 2019, "41", "31")])
    # Each token was taken before the fake saw the request it belongs to.
    assert tokens == [0, 1, 2, 3]
    assert len(fake_eutils.requests) == 4


def test_https_connections_take_one_token_after_the_tls_handshake(monkeypatch):
    events = []
    monkeypatch.setattr(pubmed.http.client.HTTPConnection, "connect", lambda self: events.append("tcp"))
    monkeypatch.setattr(pubmed.http.client.HTTPSConnection, "connect", lambda self: events.append("tls"))

    class RecordingLimiter:
        def acquire(self):
            events.append("token")

    monkeypatch.setattr(pubmed.ratelimit, "get_limiter", RecordingLimiter)
    pubmed._RateLimitedHTTPSConnection("eutils.ncbi.nlm.nih.gov").connect()
    assert events == ["tls", "token"]
