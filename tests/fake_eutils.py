"""A local fake of NCBI E-utilities (esearch, efetch and ECitMatch) that speaks the real protocol.

What it reproduces, per /work/shared/NCBI-EUTILS.md:

- ``/entrez/eutils/efetch.fcgi`` by GET or form POST, answering with NCBI's exact
  XML declaration and DOCTYPE (Biopython refuses any other DTD URL offline),
  ``Content-Type: text/xml; charset=UTF-8``, only the records it knows, and an
  empty ``<PubmedArticleSet></PubmedArticleSet>`` when it knows none.
- ``/entrez/eutils/esearch.fcgi``: PubMed's search, answered like the real samples in
  /work/shared/ncbi-samples/esearch*.xml (see "ESearch" below): Count, RetMax, RetStart,
  QueryKey and WebEnv with ``usehistory=y``, IdList, TranslationSet, QueryTranslation,
  ErrorList/WarningList; entry-date windows (``datetype=edat&mindate=&maxdate=``); at most
  9,999 IDs per answer whatever the Count; efetch of a result by ``WebEnv`` + ``query_key``.
- ``/entrez/eutils/ecitmatch.cgi``: text/plain, one line per ``\\r``-separated
  citation, echoing the fields then ``|PMID`` or ``NOT_FOUND``,
  ``NOT_FOUND;INVALID_JOURNAL`` or ``AMBIGUOUS (N citations)``.
- NCBI's rate limit: more than 3 requests in a rolling second per client IP
  (10 per API key) gets HTTP 429 with NCBI's JSON body, ``Retry-After`` and
  ``X-RateLimit-*`` headers. Rejected requests count too, as at NCBI.
- Faults on demand (``fail_next``/``fail_pmids``): 5xx with an HTML body,
  truncated XML, an ``<eFetchResult><ERROR>`` body (whose efetch.dtd Biopython
  does not ship, exactly as with the real thing), HTML instead of XML, an
  empty body, a dropped connection, a forced 429, and a stall that never answers.

Records: every ``*.xml`` efetch answer in ``tests/data/pubmed/`` (hand-written),
plus deterministic synthetic PubmedArticles for PMIDs added with
``add_synthetic()``, so tests can import thousands of PMIDs. Each record has an
entry date (its ``PubMedPubDate PubStatus="entrez"``; ``add_synthetic(...,
entry_date=)`` and ``set_entry_date()`` choose it), which date windows search.

Standalone, for development::

    python -m tests.fake_eutils --port 8765 [--records DIR] [--synthetic 30000000-30000999]
    NCBI_EUTILS_URL=http://127.0.0.1:8765/entrez/eutils/ ...
"""

from __future__ import annotations

import argparse
import functools
import html
import json
import random
import re
import threading
import time
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict, deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

RECORDS_DIR = Path(__file__).resolve().parent / "data" / "pubmed"
EUTILS_PATH = "/entrez/eutils/"
STATS_PATH = "/_fake/stats"

XML_DECLARATION = '<?xml version="1.0" ?>'
PUBMED_DOCTYPE = (
    '<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, 1st January 2025//EN" '
    '"https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_250101.dtd">'
)
# What NCBI sends for efetch errors; note "eEfetchResult" in the DOCTYPE but
# "eFetchResult" as the root, and a DTD that Biopython does not ship.
EFETCH_ERROR_PROLOGUE = (
    '<?xml version="1.0" encoding="UTF-8" ?>\n'
    '<!DOCTYPE eEfetchResult PUBLIC "-//NLM//DTD efetch 20131226//EN" '
    '"https://eutils.ncbi.nlm.nih.gov/eutils/dtd/20131226/efetch.dtd">\n'
)

# Byte for byte what NCBI's esearch answers start with (shared/ncbi-samples/esearch*.xml).
ESEARCH_PROLOGUE = (
    '<?xml version="1.0" encoding="UTF-8" ?>\n'
    '<!DOCTYPE eSearchResult PUBLIC "-//NLM//DTD esearch 20060628//EN" '
    '"https://eutils.ncbi.nlm.nih.gov/eutils/dtd/20060628/esearch.dtd">\n'
)
# PubMed's ESearch hands out at most this many IDs of one result (biopython/biopython#4189).
ESEARCH_MAX_IDS = 9_999

FAULT_KINDS = frozenset(
    {"http500", "http502", "http503", "truncated", "error", "html", "empty", "disconnect", "stall", "rate_limit"}
)
_HTTP_FAULT_REASONS = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}

_ARTICLE = re.compile(r"<(PubmedArticle|PubmedBookArticle)>.*?</\1>", re.DOTALL)
_PMID = re.compile(r"<PMID\b[^>]*>\s*(\d+)\s*</PMID>")


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the fake saw it."""

    method: str
    path: str
    endpoint: str  # "efetch.fcgi", "ecitmatch.cgi", ...
    params: dict[str, str]  # query string and form body merged (body wins)
    time: float
    status: int
    client_key: str  # api_key, or the client IP without one: what NCBI counts against
    content_type: str = ""  # of the request body, for POSTs

    @property
    def ids(self) -> list[int]:
        return [int(p) for p in self.params.get("id", "").split(",") if p.strip().isdigit()]


@dataclass
class _Fault:
    kind: str
    remaining: int
    endpoint: str | None
    response: tuple[int, str, bytes] | None = None  # for kind "raw": status, content type, body


class FakeEutils:
    """The fake server; ``start()`` it, point ``NCBI_EUTILS_URL`` at ``base_url``."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        records_dir: Path | str | None = RECORDS_DIR,
        *,
        retry_after: int = 2,
        limit_without_key: int = 3,
        limit_with_key: int = 10,
        stall_seconds: float = 60.0,
    ) -> None:
        self._lock = threading.Lock()
        self._search_cache: dict[tuple, frozenset[int]] = {}
        self._records: dict[int, str] = {}
        self._citations: list[dict] = []
        self._known_journals: set[str] = {_norm(j) for j in ("Cell", "Nature", "Science", "N Engl J Med")}
        if records_dir is not None:
            for path in sorted(Path(records_dir).glob("*.xml")):
                self.add_records_from(path.read_text(encoding="utf-8"))
        # What reset() goes back to: records edited or added by a test must not leak into the next.
        self._pristine = (dict(self._records), list(self._citations), set(self._known_journals))
        self._defaults = {
            "retry_after": retry_after,
            "limit_without_key": limit_without_key,
            "limit_with_key": limit_with_key,
            "rate_limiting": True,
            "stall_seconds": stall_seconds,
        }
        self._httpd = ThreadingHTTPServer((host, port), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.fake = self
        self._thread: threading.Thread | None = None
        self._stall_release = threading.Event()
        self.reset()

    # -- lifecycle ---------------------------------------------------------
    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}{EUTILS_PATH}"

    def start(self) -> FakeEutils:
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="fake-eutils", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stall_release.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> FakeEutils:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def reset(self) -> None:
        """Forget requests, faults, counters, synthetic PMIDs and added or edited records; restore default limits."""
        with self._lock:
            records, citations, journals = self._pristine
            self._records, self._citations, self._known_journals = dict(records), list(citations), set(journals)
            self._log: list[RecordedRequest] = []
            self._faults: list[_Fault] = []
            self._pmid_faults: dict[int, str] = {}
            self._fault_rates: list[tuple[str, float]] = []
            self._fault_random = random.Random(0)
            self.injected_faults: Counter = Counter()  # what fail_at_rates() injected, by kind
            self._synthetic: set[int] = set()
            self._entry_dates: dict[int, date] = {}
            self._histories: dict[str, list[list[int]]] = {}
            self._search_cache: dict[tuple, frozenset[int]] = {}
            self.search_error_message = "Search Backend failed: Database is not supported: pubmed"
            self._windows: dict[str, deque] = defaultdict(deque)
            self.rate_limited_count = 0
            for name, value in self._defaults.items():
                setattr(self, name, value)
            self.error_message = "Unable to obtain query #1"
            # Let stalled handler threads go before the next test starts.
            self._stall_release.set()
            self._stall_release = threading.Event()

    # -- data --------------------------------------------------------------
    def add_records_from(self, efetch_xml: str) -> list[int]:
        """Serve every article in an efetch answer; returns their PMIDs."""
        pmids = []
        for match in _ARTICLE.finditer(efetch_xml):
            chunk = match.group(0)
            pmid = int(_PMID.search(chunk).group(1))
            self._records[pmid] = chunk
            self._search_cache.clear()
            self._index_citation(pmid, chunk)
            pmids.append(pmid)
        return pmids

    def add_synthetic(self, pmids: Iterable[int], *, entry_date: date | None = None) -> None:
        """Make these PMIDs known, each with a deterministic synthetic PubmedArticle (entered on `entry_date`)."""
        pmids = [int(p) for p in pmids]
        with self._lock:
            self._synthetic.update(pmids)
            if entry_date is not None:
                self._entry_dates.update(dict.fromkeys(pmids, entry_date))
            self._search_cache.clear()

    def set_entry_date(self, pmids: Iterable[int], entry_date: date) -> None:
        """Say these known PMIDs entered PubMed on `entry_date` (the ``edat`` date windows search)."""
        with self._lock:
            self._entry_dates.update(dict.fromkeys((int(p) for p in pmids), entry_date))
            self._search_cache.clear()

    def entry_date(self, pmid: int) -> date | None:
        if pmid in self._entry_dates:
            return self._entry_dates[pmid]
        if pmid in self._synthetic:
            return _synthetic_fields(pmid)["entered"]
        if pmid in self._records:
            return _recorded_entry_date(self._records[pmid])
        return None

    def add_citation(self, *, pmid: int, journal: str, year, volume="", first_page="", author="") -> None:
        """Make ECitMatch find ``pmid`` for this citation (journals are matched case- and punctuation-blind)."""
        self._citations.append(
            {
                "pmid": int(pmid),
                "journals": {_norm(journal)},
                "year": str(year),
                "volume": str(volume),
                "first_page": str(first_page),
                "author": _norm(author),
            }
        )
        self._known_journals.add(_norm(journal))

    def article_xml(self, pmid: int) -> str | None:
        """The ``<PubmedArticle>`` text served for ``pmid``, or None if unknown."""
        if pmid in self._records:
            return self._records[pmid]
        if pmid in self._synthetic:
            return synthetic_article(pmid, entry_date=self._entry_dates.get(pmid))
        return None

    # -- faults ------------------------------------------------------------
    def fail_next(self, n: int = 1, kind: str = "http503", *, endpoint: str | None = "efetch.fcgi") -> None:
        """Answer the next ``n`` requests (to ``endpoint``; None = any) with fault ``kind``."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; choose from {sorted(FAULT_KINDS)}")
        with self._lock:
            self._faults.append(_Fault(kind, n, endpoint))

    def respond_next(
        self,
        body: bytes,
        *,
        status: int = 200,
        content_type: str = "text/xml; charset=UTF-8",
        n: int = 1,
        endpoint: str | None = "efetch.fcgi",
    ) -> None:
        """Answer the next ``n`` requests with exactly this body (e.g. a recorded NCBI reply)."""
        with self._lock:
            self._faults.append(_Fault("raw", n, endpoint, (status, content_type, body)))

    def fail_pmids(self, pmids: Iterable[int], kind: str = "http503") -> None:
        """Answer every efetch that asks for any of ``pmids`` with fault ``kind``, until reset."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}")
        with self._lock:
            self._pmid_faults.update(dict.fromkeys((int(p) for p in pmids), kind))

    def fail_at_rates(self, rates: dict[str, float], *, seed: int = 0) -> None:
        """Answer each efetch with fault ``kind`` at probability ``rates[kind]``, drawn per request, until reset.

        For soaks: ``{"http503": 0.10, "truncated": 0.05, "stall": 0.02}``. Seeded, so a run can be repeated;
        which request draws which fault still depends on the order requests arrive in.
        """
        unknown = set(rates) - FAULT_KINDS
        if unknown or sum(rates.values()) > 1:
            raise ValueError(f"fault rates must name known faults and add up to at most 1: {rates}")
        with self._lock:
            self._fault_rates = list(rates.items())
            self._fault_random = random.Random(seed)

    def release_stalls(self) -> None:
        self._stall_release.set()

    # -- observations --------------------------------------------------------
    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._log)

    def requests_to(self, endpoint: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.endpoint == endpoint]

    def max_requests_per_second(self, client_key: str | None = None, *, since: float = 0.0) -> int:
        """Most requests seen from one key in any rolling 1-second window (of those at or after ``since``)."""
        by_key: dict[str, list[float]] = defaultdict(list)
        for request in self.requests:
            if request.time >= since and (client_key is None or request.client_key == client_key):
                by_key[request.client_key].append(request.time)
        return max((max_in_window(sorted(times), 1.0) for times in by_key.values()), default=0)

    def stats(self, since: float = 0.0) -> dict[str, int]:
        """What the fake saw at or after ``since`` (epoch seconds): efetch requests, 429s, the busiest second."""
        seen = [r for r in self.requests if r.time >= since]
        return {
            "efetch_requests": sum(r.endpoint == "efetch.fcgi" for r in seen),
            "http_429": sum(r.status == 429 for r in seen),
            "max_requests_in_any_second": self.max_requests_per_second(since=since),
        }

    # -- request handling (called from handler threads) ----------------------
    def _admit(self, client_key: str, has_key: bool, now: float) -> tuple[bool, int, int]:
        """Count the request against its key; return (allowed, count in window, limit)."""
        limit = self.limit_with_key if has_key else self.limit_without_key
        with self._lock:
            window = self._windows[client_key]
            window.append(now)
            while window and window[0] <= now - 1.0:
                window.popleft()
            count = len(window)
        return (not self.rate_limiting or count <= limit), count, limit

    def _take_fault(self, endpoint: str, ids: list[int]) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.remaining > 0 and fault.endpoint in (None, endpoint):
                    fault.remaining -= 1
                    return fault
            if endpoint == "efetch.fcgi":
                for pmid in ids:
                    if pmid in self._pmid_faults:
                        return _Fault(self._pmid_faults[pmid], 1, endpoint)
                if self._fault_rates:
                    draw, cumulative = self._fault_random.random(), 0.0
                    for kind, rate in self._fault_rates:
                        cumulative += rate
                        if draw < cumulative:
                            self.injected_faults[kind] += 1
                            return _Fault(kind, 1, endpoint)
        return None

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._log.append(request)
            if request.status == 429:
                self.rate_limited_count += 1

    def _efetch_body(self, params: dict[str, str]) -> tuple[int, str, bytes]:
        if params.get("db", "").lower() != "pubmed":
            return 400, "text/xml; charset=UTF-8", _efetch_error(f"Invalid db name specified: {params.get('db')}")
        if params.get("retmode", "").lower() != "xml":
            # Real PubMed answers text here since 2022; this fake only does XML.
            return 400, "text/plain; charset=UTF-8", b"fake_eutils: only retmode=xml is implemented\n"
        ids = [p.strip() for p in params.get("id", "").split(",") if p.strip().isdigit()]
        webenv = _param(params, "WebEnv")
        if not ids and webenv:
            found = self._history_ids(webenv, params.get("query_key", ""))
            if found is None:
                return (
                    200,
                    "text/xml; charset=UTF-8",
                    _efetch_error(f"Unable to obtain query #{params.get('query_key')}"),
                )
            start, count = _int_param(params, "retstart", 0), _int_param(params, "retmax", 20)
            ids = [str(p) for p in found[start : start + count]]
            if not ids:
                return 200, "text/xml; charset=UTF-8", _efetch_pubmed_xml([])
        if not ids:
            return 400, "text/xml; charset=UTF-8", _efetch_error("ID list is empty! Possibly it has no correct IDs.")
        articles = []
        for pmid in dict.fromkeys(int(p) for p in ids):
            article = self.article_xml(pmid)
            if article is not None:
                articles.append(article)
        return 200, "text/xml; charset=UTF-8", _efetch_pubmed_xml(articles)

    # -- ESearch ---------------------------------------------------------------
    def _esearch_body(self, params: dict[str, str]) -> tuple[int, str, bytes]:
        xml = "text/xml; charset=UTF-8"
        if params.get("db", "").lower() != "pubmed":
            return 200, xml, _esearch_error(f"Invalid db name specified: {params.get('db')}")
        term = params.get("term", "").strip()
        webenv = _param(params, "WebEnv")
        if not term:
            return 200, xml, _esearch_error("Empty term and query_key - nothing todo")
        window = None
        if params.get("mindate") or params.get("maxdate"):
            if params.get("datetype", "edat").lower() != "edat":
                return 400, "text/plain; charset=UTF-8", b"fake_eutils: only datetype=edat is implemented\n"
            try:
                window = (_query_date(params["mindate"], end=False), _query_date(params["maxdate"], end=True))
            except (KeyError, ValueError):
                return 200, xml, _esearch_error("Invalid date range: give both mindate and maxdate as YYYY/MM/DD")
        query = _parse_query(term)
        with self._lock:
            corpus = set(self._records) | self._synthetic
            matched, not_found, bad_fields = self._evaluate(query, corpus)
            if window is not None:
                matched = {p for p in matched if (d := self.entry_date(p)) is not None and window[0] <= d <= window[1]}
            found = sorted(matched, reverse=True)  # newest PMIDs first, like PubMed's default order
            retstart, retmax = _int_param(params, "retstart", 0), _int_param(params, "retmax", 20)
            if retstart > ESEARCH_MAX_IDS - 1 and found:
                message = (
                    f"Search Backend failed: Exception:\nPosition {retstart} is out of acceptable range "
                    f"[{ESEARCH_MAX_IDS},{ESEARCH_MAX_IDS - 1}]"
                )
                return 200, xml, _esearch_error(message)
            warnings = []
            if retstart + retmax > ESEARCH_MAX_IDS and len(found) > ESEARCH_MAX_IDS:
                retmax = ESEARCH_MAX_IDS - retstart
                warnings.append(
                    ("OutputMessage", f"Restrictions achieved. start and count adjusted to {retstart}, {retmax}")
                )
            page = found[retstart : retstart + retmax]
            history = ""
            if params.get("usehistory", "").lower() == "y":
                if webenv not in self._histories:
                    webenv = "MCID_" + "".join(random.choice("0123456789abcdef") for _ in range(24))
                    self._histories[webenv] = []
                self._histories[webenv].append(found)
                history = f"<QueryKey>{len(self._histories[webenv])}</QueryKey><WebEnv>{webenv}</WebEnv>"
        if not found:
            warnings.append(("OutputMessage", "No items found."))
        translation = _translate(query, top=True)
        if window is not None:
            translation = f"({translation}) AND {window[0]:%Y/%m/%d}:{window[1]:%Y/%m/%d}[Date - Entry]"
        ids = "<IdList>\n" + "".join(f"<Id>{pmid}</Id>\n" for pmid in page) + "</IdList>" if page else "<IdList/>"
        body = (
            f"{ESEARCH_PROLOGUE}<eSearchResult><Count>{len(found)}</Count><RetMax>{len(page)}</RetMax>"
            f"<RetStart>{retstart if page else 0}</RetStart>{history}{ids}<TranslationSet/>"
            f"<QueryTranslation>{_xml_text(translation)}</QueryTranslation>"
        )
        errors = [("PhraseNotFound", phrase) for phrase in not_found] + [("FieldNotFound", f) for f in bad_fields]
        if errors:
            body += "<ErrorList>" + "".join(f"<{k}>{_xml_text(v)}</{k}>" for k, v in errors) + "</ErrorList>"
        if warnings:
            body += "<WarningList>" + "".join(f"<{k}>{_xml_text(v)}</{k}>" for k, v in warnings) + "</WarningList>"
        return 200, xml, (body + "</eSearchResult>\n").encode("utf-8")

    def _history_ids(self, webenv: str, query_key: str) -> list[int] | None:
        with self._lock:
            results = self._histories.get(webenv)
            if results is None or not query_key.isdigit() or not 1 <= int(query_key) <= len(results):
                return None
            return results[int(query_key) - 1]

    def _evaluate(self, node, corpus: set[int]) -> tuple[set[int], list[str], list[str]]:
        """PMIDs matching a parsed query, the phrases nothing matches, and unknown field tags; caller holds the lock."""
        not_found: list[str] = []
        bad_fields: list[str] = []

        def walk(node) -> set[int]:
            if node[0] == "term":
                _, text, field, quoted = node
                where = _FIELDS.get(field.lower(), "all") if field else "all"
                if field and field.lower() not in _FIELDS:
                    bad_fields.append(field)
                hits = self._term_hits(text, where, quoted, corpus)
                if not hits:
                    not_found.append(text)
                return set(hits)
            _, operator, left, right = node
            a, b = walk(left), walk(right)
            return a & b if operator == "AND" else a | b if operator == "OR" else a - b

        return walk(node), not_found, bad_fields

    def _term_hits(self, text: str, where: str, quoted: bool, corpus: set[int]) -> frozenset[int]:
        key = (text.lower(), where, quoted)
        if key not in self._search_cache:
            pattern = _term_pattern(text, quoted)
            self._search_cache[key] = frozenset(p for p in corpus if pattern.search(self._search_text(p)[where]))
        return self._search_cache[key]

    def _search_text(self, pmid: int) -> dict[str, str]:
        if pmid in self._records:  # a recorded or edited record wins over the synthetic one, as in efetch
            return _recorded_text(self._records[pmid])
        return _synthetic_text(pmid)

    def _ecitmatch_body(self, params: dict[str, str]) -> bytes:
        lines = []
        for citation in params.get("bdata", "").split("\r"):
            if not citation.strip():
                continue
            fields = citation.split("|")
            if fields and fields[-1] == "":
                fields = fields[:-1]  # NCBI's format ends each citation with "|"; Biopython's does not
            fields = (fields + [""] * 6)[:6]
            lines.append("|".join(fields) + "|" + self._match_citation(*fields[:5]))
        return ("\n".join(lines) + "\n").encode("utf-8")

    def _match_citation(self, journal: str, year: str, volume: str, first_page: str, author: str) -> str:
        journal = _norm(journal)
        if journal not in self._known_journals:
            return "NOT_FOUND;INVALID_JOURNAL"
        candidates = [
            c
            for c in self._citations
            if journal in c["journals"]
            and (not year.strip() or c["year"] == year.strip())
            and (not volume.strip() or c["volume"] == volume.strip())
            and (not first_page.strip() or c["first_page"] == first_page.strip())
        ]
        if len(candidates) > 1 and author.strip():
            by_author = [c for c in candidates if c["author"].startswith(_norm(author).split(" ")[0])]
            candidates = by_author or candidates
        if not candidates:
            return "NOT_FOUND"
        if len(candidates) > 1:
            return f"AMBIGUOUS ({len(candidates)} citations)"
        return str(candidates[0]["pmid"])

    def _index_citation(self, pmid: int, chunk: str) -> None:
        try:
            element = ET.fromstring(chunk)
        except ET.ParseError:
            return
        if element.tag != "PubmedArticle":
            return  # ECitMatch is for journal citations
        journals = {
            _norm(element.findtext(p) or "") for p in (".//MedlineTA", ".//ISOAbbreviation", ".//Journal/Title")
        }
        journals.discard("")
        year = element.findtext(".//PubDate/Year") or ""
        if not year:
            match = re.search(r"\d{4}", element.findtext(".//PubDate/MedlineDate") or "")
            year = match.group(0) if match else ""
        pages = element.findtext(".//Pagination/StartPage") or element.findtext(".//Pagination/MedlinePgn") or ""
        first_author = element.find(".//AuthorList/Author")
        author = ""
        if first_author is not None:
            author = " ".join(filter(None, [first_author.findtext("LastName"), first_author.findtext("Initials")]))
        self._citations.append(
            {
                "pmid": pmid,
                "journals": journals,
                "year": year,
                "volume": element.findtext(".//JournalIssue/Volume") or "",
                "first_page": pages.split("-")[0],
                "author": _norm(author),
            }
        )
        self._known_journals |= journals


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "Finatra"  # what NCBI's front end calls itself
    sys_version = ""

    def version_string(self):
        return self.server_version

    def log_message(self, format, *args):  # noqa: A002 - signature from BaseHTTPRequestHandler
        pass  # tests read fake.requests instead of stderr

    def do_GET(self):
        self._handle(body=b"")

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        self._handle(body=self.rfile.read(length))

    def _handle(self, body: bytes) -> None:
        fake: FakeEutils = self.server.fake
        now = time.time()
        url = urlsplit(self.path)
        params = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        if body:
            params.update({k: v[-1] for k, v in parse_qs(body.decode("utf-8"), keep_blank_values=True).items()})
        if url.path == STATS_PATH:
            # Not NCBI's: lets a benchmark read a fake running in another process. Not counted as a request.
            since = float(params.get("since") or 0)
            self._send(200, "application/json", json.dumps(fake.stats(since)).encode(), {})
            return
        endpoint = url.path[len(EUTILS_PATH) :] if url.path.startswith(EUTILS_PATH) else url.path
        api_key = params.get("api_key", "")
        client_key = api_key or self.client_address[0]

        def record(status: int) -> None:
            fake._record(
                RecordedRequest(
                    method=self.command,
                    path=url.path,
                    endpoint=endpoint,
                    params=params,
                    time=now,
                    status=status,
                    client_key=client_key,
                    content_type=self.headers.get("Content-Type", ""),
                )
            )

        allowed, count, limit = fake._admit(client_key, bool(api_key), now)
        remaining = max(0, limit - count)
        ids = [int(p) for p in params.get("id", "").split(",") if p.strip().isdigit()]
        taken = fake._take_fault(endpoint, ids) if allowed else None
        fault = taken.kind if taken else None
        if not allowed or fault == "rate_limit":
            record(429)
            payload = {
                "error": "API rate limit exceeded",
                "api-key": client_key,
                "count": str(count),
                "limit": str(limit),
            }
            self._send(
                429,
                "application/json",
                json.dumps(payload, separators=(",", ":")).encode(),
                {"Retry-After": str(fake.retry_after), "X-RateLimit-Limit": str(limit), "X-RateLimit-Remaining": "0"},
            )
            return
        rate_headers = {"X-RateLimit-Limit": str(limit), "X-RateLimit-Remaining": str(remaining)}

        if fault == "raw":
            status, content_type, payload = taken.response
            record(status)
            self._send(status, content_type, payload, rate_headers)
            return
        if fault == "stall":
            record(0)
            # Accept and never answer; the client must time out. Released on reset().
            fake._stall_release.wait(fake.stall_seconds)
            self.close_connection = True
            return
        if fault == "disconnect":
            record(0)
            self.close_connection = True
            return
        if fault in ("http500", "http502", "http503"):
            code = int(fault[4:])
            record(code)
            reason = _HTTP_FAULT_REASONS[code]
            page = f"<html><head><title>{code} {reason}</title></head><body><h1>{reason}</h1></body></html>\n"
            self._send(code, "text/html", page.encode(), rate_headers)
            return
        if fault == "html":
            record(200)
            page = "<!DOCTYPE html>\n<html><head><title>PubMed</title></head><body><p>Maintenance</p></body></html>\n"
            self._send(200, "text/html; charset=UTF-8", page.encode(), rate_headers)
            return
        if fault == "empty":
            record(200)
            self._send(200, "text/xml; charset=UTF-8", b"", rate_headers)
            return
        if fault == "error":
            record(200)
            if endpoint == "esearch.fcgi":
                body = _esearch_error(fake.search_error_message)
            else:
                body = _efetch_error(fake.error_message)
            self._send(200, "text/xml; charset=UTF-8", body, rate_headers)
            return

        if endpoint == "efetch.fcgi":
            status, content_type, payload = fake._efetch_body(params)
            if fault == "truncated" and status == 200:
                # A complete HTTP answer whose XML stops mid-element.
                cut = max(len(XML_DECLARATION) + len(PUBMED_DOCTYPE) + 40, len(payload) * 2 // 3)
                payload = payload[: min(cut, len(payload) - 20)]
        elif endpoint == "esearch.fcgi":
            status, content_type, payload = fake._esearch_body(params)
            if fault == "truncated" and status == 200:
                payload = payload[: max(len(ESEARCH_PROLOGUE) + 20, len(payload) * 2 // 3)]
        elif endpoint == "ecitmatch.cgi":
            status, content_type, payload = 200, "text/plain; charset=UTF-8", fake._ecitmatch_body(params)
        else:
            status, content_type, payload = 404, "text/plain", f"fake_eutils does not implement {endpoint}\n".encode()
        record(status)
        self._send(status, content_type, payload, rate_headers)

    def _send(self, status: int, content_type: str, payload: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)


def _efetch_pubmed_xml(articles: list[str]) -> bytes:
    body = f"{XML_DECLARATION}\n{PUBMED_DOCTYPE}\n<PubmedArticleSet>"
    body += "\n" + "\n".join(articles) + "\n</PubmedArticleSet>" if articles else "</PubmedArticleSet>"
    return body.encode("utf-8")


def _efetch_error(message: str) -> bytes:
    return f"{EFETCH_ERROR_PROLOGUE}<eFetchResult>\n\t<ERROR>{message}</ERROR>\n</eFetchResult>\n".encode()


def _esearch_error(message: str) -> bytes:
    return f"{ESEARCH_PROLOGUE}<eSearchResult><ERROR>{_xml_text(message)}</ERROR></eSearchResult>\n".encode()


def _xml_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _param(params: dict[str, str], name: str) -> str:
    # NCBI's parameter names are case-insensitive; its documentation writes WebEnv with capitals.
    return next((value for key, value in params.items() if key.lower() == name.lower()), "")


def _int_param(params: dict[str, str], name: str, default: int) -> int:
    value = params.get(name, "")
    return int(value) if value.isdigit() else default


def _query_date(text: str, *, end: bool) -> date:
    """An E-utilities date (YYYY, YYYY/MM or YYYY/MM/DD) as the first or last day it names."""
    parts = [int(p) for p in text.strip().split("/")]
    year, month, day = (parts + [None, None])[:3]
    if month is None:
        return date(year, 12, 31) if end else date(year, 1, 1)
    if day is None:
        if not end:
            return date(year, month, 1)
        following = date(year + (month == 12), month % 12 + 1, 1)
        return date.fromordinal(following.toordinal() - 1)
    return date(year, month, day)


# The field tags the fake understands, and which text of a record each searches.
_FIELDS = {
    "tiab": "all",
    "tw": "all",
    "all": "all",
    "all fields": "all",
    "ti": "title",
    "title": "title",
    "ab": "abstract",
    "abstract": "abstract",
    "mh": "mesh",
    "mesh": "mesh",
    "mesh terms": "mesh",
}
_QUERY_TOKEN = re.compile(r'\s*(?:(\()|(\))|"([^"]*)"(?:\[([^\]]*)\])?|([^\s()"\[]+)(?:\[([^\]]*)\])?)')


def _parse_query(term: str):
    """PubMed's syntax, as much of it as tests use: words, "phrases", [field] tags, AND/OR/NOT, parentheses.

    Words side by side are ANDed, as PubMed does; stray parentheses and
    operators are ignored rather than refused, as PubMed does too.
    """
    tokens = []
    for match in _QUERY_TOKEN.finditer(term):
        opened, closed, phrase, phrase_field, word, word_field = match.groups()
        if opened or closed:
            tokens.append(opened or closed)
        elif phrase is not None:
            tokens.append(("term", phrase, phrase_field or "", True))
        elif word in ("AND", "OR", "NOT"):
            tokens.append(word)
        elif word:
            tokens.append(("term", word, word_field or "", False))
    position = 0

    def expression():
        nonlocal position
        left = operand()
        while position < len(tokens) and tokens[position] != ")":
            operator = tokens[position] if tokens[position] in ("AND", "OR", "NOT") else "AND"
            position += operator == tokens[position]
            right = operand()
            if right is not None:
                left = right if left is None else ("op", operator, left, right)
        return left

    def operand():
        nonlocal position
        while position < len(tokens) and tokens[position] in ("AND", "OR", "NOT"):
            position += 1
        if position >= len(tokens):
            return None
        token = tokens[position]
        position += 1
        if token == "(":
            inner = expression()
            position += position < len(tokens) and tokens[position] == ")"
            return inner
        return None if token == ")" else token

    return expression() or ("term", "", "", False)


def _translate(node, *, top=False) -> str:
    if node[0] == "term":
        _, text, field, _quoted = node
        label = {"all": "All Fields", "title": "Title", "abstract": "Abstract", "mesh": "MeSH Terms"}
        return f'"{text.lower()}"[{label[_FIELDS.get(field.lower(), "all")] if field else "All Fields"}]'
    _, operator, left, right = node
    inner = f"{_translate(left)} {operator} {_translate(right)}"
    return inner if top else f"({inner})"


@functools.lru_cache(maxsize=1024)
def _term_pattern(text: str, quoted: bool) -> re.Pattern:
    # A word or phrase matches whole words, case-insensitively; a trailing * matches any ending.
    words = text.lower().rstrip("*")
    pattern = r"(?<![a-z0-9])" + re.escape(words).replace(r"\ ", r"\s+")
    if not text.endswith("*"):
        pattern += r"(?![a-z0-9])"
    return re.compile(pattern)


_TAG = re.compile(r"<[^>]+>")


def _plain(markup: str) -> str:
    return " ".join(html.unescape(_TAG.sub(" ", markup)).lower().split())


@functools.lru_cache(maxsize=4096)
def _recorded_text(chunk: str) -> dict[str, str]:
    def texts(element_pattern: str) -> str:
        return _plain(" ".join(re.findall(element_pattern, chunk, re.DOTALL)))

    title = texts(r"<ArticleTitle[^>]*>(.*?)</ArticleTitle>")
    abstract = texts(r"<AbstractText[^>]*>(.*?)</AbstractText>")
    mesh = texts(r"<DescriptorName[^>]*>(.*?)</DescriptorName>")
    keywords = texts(r"<Keyword[^>]*>(.*?)</Keyword>")
    return {"title": title, "abstract": abstract, "mesh": mesh, "all": " ".join((title, abstract, mesh, keywords))}


def _recorded_entry_date(chunk: str) -> date | None:
    match = re.search(
        r'<PubMedPubDate PubStatus="(?:entrez|pubmed)">\s*<Year>(\d+)</Year>\s*<Month>(\d+)</Month>\s*<Day>(\d+)</Day>',
        chunk,
    )
    return date(*(int(g) for g in match.groups())) if match else None


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def max_in_window(times: list[float], window: float) -> int:
    """Most of the sorted ``times`` that fall in any half-open window of ``window`` seconds."""
    best = 0
    start = 0
    for end, t in enumerate(times):
        while times[start] <= t - window:
            start += 1
        best = max(best, end - start + 1)
    return best


# ---------------------------------------------------------------------------
# Synthetic records
# ---------------------------------------------------------------------------
_JOURNALS = [
    ("Journal for immunotherapy of cancer", "J Immunother Cancer", "England"),
    ("Cancer immunology research", "Cancer Immunol Res", "United States"),
    ("Nature medicine", "Nat Med", "United States"),
    ("Clinical cancer research", "Clin Cancer Res", "United States"),
    ("Frontiers in immunology", "Front Immunol", "Switzerland"),
]
_MECHANISMS = [
    ("loss of <i>B2M</i>", "beta 2-Microglobulin"),
    ("<i>JAK1</i>/<i>JAK2</i> inactivation", "Janus Kinases"),
    ("T-cell exclusion by TGF-<i>&#x3b2;</i>", "Transforming Growth Factor beta"),
    ("PD-L1 amplification", "B7-H1 Antigen"),
    ("WNT/<i>&#x3b2;</i>-catenin activation", "Wnt Signaling Pathway"),
    ("myeloid-derived suppressor cells", "Myeloid-Derived Suppressor Cells"),
]
_CANCERS = [("melanoma", "Melanoma"), ("non-small-cell lung cancer", "Carcinoma, Non-Small-Cell Lung")]
_THERAPIES = ["PD-1 blockade", "CTLA-4 blockade", "CAR-T cell therapy", "combined checkpoint inhibition"]
_LAST = ["Garcia", "Smith", "Chen", "Okafor", "Nielsen", "Rossi", "Kowalski", "Haddad", "Tanaka", "Silva"]
_FORE = [("Maria", "M"), ("John", "J"), ("Wei", "W"), ("Ngozi", "N"), ("Lars", "L"), ("Giulia", "G")]
_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def _synthetic_fields(pmid: int) -> dict:
    """The random picks behind PMID `pmid`'s synthetic record, in a fixed order (so records never change)."""
    rng = random.Random(pmid)
    fields = {
        "journal": rng.choice(_JOURNALS),
        "mechanism": rng.choice(_MECHANISMS),
        "cancer": rng.choice(_CANCERS),
        "therapy": rng.choice(_THERAPIES),
        "year": rng.randint(2012, 2024),
        "month": rng.randint(1, 12),
        "day": rng.randint(1, 28),
    }
    fields["volume"] = fields["year"] - 2000 + rng.randint(0, 5)
    fields["issue"] = rng.randint(1, 12)
    fields["first_page"] = rng.randint(1, 900)
    fields["last_page"] = fields["first_page"] + rng.randint(4, 14)
    # Given name before family name: the order the first version drew them in, so records stay as they were.
    fields["authors"] = [(fore, rng.choice(_LAST)) for fore in (rng.choice(_FORE) for _ in range(rng.randint(1, 6)))]
    fields["entered"] = date(fields["year"], fields["month"], fields["day"])
    return fields


@functools.lru_cache(maxsize=65_536)
def _synthetic_text(pmid: int) -> dict[str, str]:
    """What a search reads of a synthetic record: its title, abstract and indexing, as lower-case plain text."""
    f = _synthetic_fields(pmid)
    mechanism, mechanism_mesh = f["mechanism"]
    cancer, cancer_mesh = f["cancer"]
    title = _plain(f"Synthetic record {pmid}: {mechanism} and resistance to {f['therapy']} in {cancer}.")
    abstract = _plain(
        f"Synthetic test abstract for PMID {pmid}; not NCBI text. Placeholder result mentioning {mechanism}."
    )
    mesh = _plain(f"Humans {cancer_mesh} {mechanism_mesh}")
    keywords = _plain(f"{f['therapy']} {cancer}")
    return {"title": title, "abstract": abstract, "mesh": mesh, "all": " ".join((title, abstract, mesh, keywords))}


def synthetic_article(pmid: int, *, entry_date: date | None = None) -> str:
    """A deterministic, DTD-conformant ``<PubmedArticle>`` for ``pmid`` (pubmed_250101 format)."""
    f = _synthetic_fields(pmid)
    journal, iso, country = f["journal"]
    mechanism, mechanism_mesh = f["mechanism"]
    cancer, cancer_mesh = f["cancer"]
    therapy, year, month, day = f["therapy"], f["year"], f["month"], f["day"]
    volume, issue, first_page, last_page = f["volume"], f["issue"], f["first_page"], f["last_page"]
    entered = entry_date or f["entered"]
    authors = "".join(
        f'<Author ValidYN="Y"><LastName>{last}</LastName><ForeName>{fore}</ForeName>'
        f"<Initials>{initials}</Initials></Author>"
        for (fore, initials), last in f["authors"]
    )
    doi = f"10.5555/synthetic.{pmid}"
    pmc = f'<ArticleId IdType="pmc">PMC{pmid % 10_000_000 + 1_000_000}</ArticleId>' if pmid % 3 == 0 else ""
    return (
        f'<PubmedArticle><MedlineCitation Status="MEDLINE" Owner="NLM" IndexingMethod="Automated">'
        f'<PMID Version="1">{pmid}</PMID>'
        f"<DateCompleted><Year>{year}</Year><Month>{min(month + 1, 12):02d}</Month><Day>{day:02d}</Day>"
        f"</DateCompleted>"
        f"<DateRevised><Year>{year + 1}</Year><Month>01</Month><Day>15</Day></DateRevised>"
        f'<Article PubModel="Print-Electronic">'
        f'<Journal><JournalIssue CitedMedium="Internet"><Volume>{volume}</Volume><Issue>{issue}</Issue>'
        f"<PubDate><Year>{year}</Year><Month>{_MONTHS[month - 1]}</Month><Day>{day}</Day></PubDate></JournalIssue>"
        f"<Title>{journal}</Title><ISOAbbreviation>{iso}</ISOAbbreviation></Journal>"
        f"<ArticleTitle>Synthetic record {pmid}: {mechanism} and resistance to {therapy} in {cancer}.</ArticleTitle>"
        f"<Pagination><StartPage>{first_page}</StartPage><EndPage>{last_page}</EndPage>"
        f"<MedlinePgn>{first_page}-{last_page}</MedlinePgn></Pagination>"
        f'<ELocationID EIdType="doi" ValidYN="Y">{doi}</ELocationID>'
        f'<Abstract><AbstractText Label="BACKGROUND" NlmCategory="BACKGROUND">Synthetic test abstract for PMID {pmid}; '
        f"not NCBI text.</AbstractText>"
        f'<AbstractText Label="RESULTS" NlmCategory="RESULTS">Placeholder result mentioning {mechanism}.</AbstractText>'
        f"</Abstract>"
        f'<AuthorList CompleteYN="Y">{authors}</AuthorList><Language>eng</Language>'
        f'<PublicationTypeList><PublicationType UI="D016428">Journal Article</PublicationType></PublicationTypeList>'
        f'<ArticleDate DateType="Electronic"><Year>{year}</Year><Month>{month:02d}</Month>'
        f"<Day>{day:02d}</Day></ArticleDate>"
        f"</Article><MedlineJournalInfo><Country>{country}</Country><MedlineTA>{iso}</MedlineTA></MedlineJournalInfo>"
        f'<MeshHeadingList><MeshHeading><DescriptorName UI="D006801" MajorTopicYN="N">Humans</DescriptorName>'
        f"</MeshHeading>"
        f'<MeshHeading><DescriptorName UI="D000000" MajorTopicYN="Y">{cancer_mesh}</DescriptorName></MeshHeading>'
        f'<MeshHeading><DescriptorName UI="D000001" MajorTopicYN="N">{mechanism_mesh}</DescriptorName></MeshHeading>'
        f"</MeshHeadingList>"
        f'<KeywordList Owner="NOTNLM"><Keyword MajorTopicYN="N">{therapy}</Keyword>'
        f'<Keyword MajorTopicYN="N">{cancer}</Keyword></KeywordList></MedlineCitation>'
        f'<PubmedData><History><PubMedPubDate PubStatus="entrez"><Year>{entered.year}</Year>'
        f"<Month>{entered.month}</Month><Day>{entered.day}</Day><Hour>6</Hour><Minute>0</Minute></PubMedPubDate>"
        f"</History><PublicationStatus>ppublish</PublicationStatus><ArticleIdList>"
        f'<ArticleId IdType="pubmed">{pmid}</ArticleId><ArticleId IdType="doi">{doi}</ArticleId>{pmc}'
        f"</ArticleIdList></PubmedData></PubmedArticle>"
    )


def _pmid_range(text: str) -> range:
    start, _, end = text.partition("-")
    return range(int(start), int(end or start) + 1)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Fake NCBI E-utilities (efetch, ecitmatch) for development.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--records", default=str(RECORDS_DIR), help="folder of efetch *.xml answers to serve")
    parser.add_argument(
        "--synthetic", action="append", default=[], metavar="START-END", help="PMIDs to serve synthetic records for"
    )
    parser.add_argument("--no-rate-limit", action="store_true", help="never answer 429")
    args = parser.parse_args(argv)
    fake = FakeEutils(args.host, args.port, args.records)
    fake._defaults["rate_limiting"] = not args.no_rate_limit
    fake.reset()
    for spec in args.synthetic:
        fake.add_synthetic(_pmid_range(spec))
    print(f"fake E-utilities at {fake.base_url} serving {len(fake._records)} recorded records", flush=True)
    print(f"  NCBI_EUTILS_URL={fake.base_url}", flush=True)
    try:
        fake._httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        fake._httpd.server_close()


if __name__ == "__main__":
    main()
