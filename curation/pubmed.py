"""All HTTP traffic to NCBI E-utilities goes through this module.

It owns the base URL, identification (tool/email/api_key), the timeout, the
cross-process rate limit and the retry policy. Nothing else in the project
should import ``Bio.Entrez`` for HTTP.

How Biopython is tamed (``Bio.Entrez`` 1.88):

- Biopython hard-codes ``https://eutils.ncbi.nlm.nih.gov/entrez/eutils/``. Its
  ``_open`` calls the module global ``Bio.Entrez.urlopen``; importing this
  module replaces that global with ``_urlopen``, which routes the request to
  ``settings.NCBI_EUTILS_URL``, adds ``settings.NCBI_TIMEOUT`` (Biopython sets
  none, so a stalled server would block a worker forever) and sends it through
  an opener whose connections take a token from the shared rate limiter once
  connected, immediately before the request leaves.
- ``Entrez.max_tries = 1``: Biopython would retry 429/5xx at once, without
  sleeping, which makes rate limiting worse. Retries live here only.
- Biopython's own per-process throttle (``_open.previous``: sleep so that
  calls in one process start >= 0.37 s apart, 0.1 s with an API key) is left
  on. It runs *before* our ``_urlopen``, so it can only delay a request before
  it takes its limiter token and can never push a request past its slot. Its
  spacing (0.37 s, or 0.1 s with a key) is about our global spacing (1.1/3 =
  0.367 s, 1.1/10 = 0.11 s), and both count from the same previous request,
  so they overlap instead of adding up: measured against the fake, one process
  gets the same requests/s with Biopython's throttle on or off. With several
  processes the shared limiter is the bound. Disabling it would mean patching
  a private function for nothing.
"""

from __future__ import annotations

import http.client
import json
import logging
import random
import re
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Literal, TypeVar
from urllib.error import HTTPError, URLError

from Bio import Entrez
from Bio.Entrez.Parser import CorruptedXMLError, NotXMLError
from django.conf import settings

from curation import ratelimit
from curation.paste import CitationQuery
from curation.pubmed_records import CitationRecord, RecordParseError, parse_efetch
from curation.search_records import ESEARCH_MAX_IDS, SearchPage, SearchParseError, parse_esearch

__all__ = [
    "TRANSIENT_ERRORS",
    "CitationMatch",
    "CitationQuery",
    "PubMedBadResponse",
    "PubMedError",
    "PubMedRateLimited",
    "PubMedUnavailable",
    "SearchPage",
    "fetch_batch",
    "fetch_from_history",
    "match_citations",
    "search",
]

logger = logging.getLogger(__name__)

# The base Biopython writes into every request URL.
BIOPYTHON_EUTILS_URL = "https://eutils.ncbi.nlm.nih.gov/entrez/eutils/"


# Tests replace this to run retries without waiting.
_sleep = time.sleep

# Retry-After is honoured, but a broken proxy saying "come back in a day" must
# not park a worker for a day.
_MAX_RETRY_AFTER = 120.0

# ECitMatch is only documented (and only seen working) as GET; Biopython
# switches to POST above 1000 characters of parameters, so requests are kept
# under that.
_ECITMATCH_MAX_BDATA = 800

T = TypeVar("T")


# ---------------------------------------------------------------------------
# Exceptions
# ---------------------------------------------------------------------------
class PubMedError(Exception):
    """Base of every failure talking to NCBI; ``str()`` says what happened."""

    def __init__(self, message: str, *, attempts: int = 0, status: int | None = None) -> None:
        super().__init__(message)
        self.attempts = attempts
        self.status = status


class PubMedUnavailable(PubMedError):
    """NCBI could not be reached or kept failing (network, 5xx, timeouts) after retries."""


class PubMedRateLimited(PubMedError):
    """NCBI still answered HTTP 429 after the retries."""


class PubMedBadResponse(PubMedError):
    """NCBI answered, but not with usable data (corrupt or non-XML body, <ERROR>, other 4xx)."""


# Failures NCBI may get over by itself, worth retrying later; any other PubMedError is final.
TRANSIENT_ERRORS = (PubMedUnavailable, PubMedRateLimited)


# ---------------------------------------------------------------------------
# The Bio.Entrez seam
# ---------------------------------------------------------------------------
class _RateLimitedHTTPConnection(http.client.HTTPConnection):
    def connect(self):
        super().connect()
        # The limiter token is taken once the connection is up, immediately
        # before the request bytes go out. NCBI counts requests when they
        # arrive; DNS, TCP and TLS set-up vary by tens to hundreds of
        # milliseconds per request and would otherwise eat the limiter's
        # timing margin. urllib opens one connection per request
        # ("Connection: close"), so this is one token per request, retries included.
        ratelimit.get_limiter().acquire()


class _RateLimitedHTTPSConnection(http.client.HTTPSConnection):
    # Not derived from the class above: HTTPSConnection.connect calls
    # super().connect(), which would take a second token before the TLS handshake.
    def connect(self):
        super().connect()
        ratelimit.get_limiter().acquire()


class _RateLimitedHTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req):
        return self.do_open(_RateLimitedHTTPConnection, req)


class _RateLimitedHTTPSHandler(urllib.request.HTTPSHandler):
    def https_open(self, req):
        return self.do_open(_RateLimitedHTTPSConnection, req, context=self._context)


# Same handlers as urllib.request.urlopen's default opener (proxies from the
# environment, redirects, HTTP errors raised as HTTPError), with the two
# connection classes swapped for rate-limited ones.
_opener = urllib.request.build_opener(_RateLimitedHTTPHandler, _RateLimitedHTTPSHandler)


def _urlopen(request: urllib.request.Request, *args, **kwargs):
    """``Bio.Entrez.urlopen`` replacement: route to the configured base, time out, rate-limit, send."""
    _route(request)
    kwargs.setdefault("timeout", float(settings.NCBI_TIMEOUT))
    return _opener.open(request, *args, **kwargs)


def _route(request: urllib.request.Request) -> None:
    url = request.full_url
    if not url.startswith(BIOPYTHON_EUTILS_URL):
        return
    base = str(settings.NCBI_EUTILS_URL)
    url = base.rstrip("/") + "/" + url[len(BIOPYTHON_EUTILS_URL) :]
    path, _, query = url.partition("?")
    if request.get_method() == "GET" and path.endswith("/efetch.fcgi") and query:
        # Biopython only switches to POST at 200 IDs or 1000 characters; send
        # every efetch as a form POST so that a batch looks the same whatever
        # its size and PMID lists never end up in URL logs or length limits.
        request.full_url = path
        request.data = query.encode("utf-8")
        request.method = "POST"
    else:
        request.full_url = url


Entrez.urlopen = _urlopen
Entrez.max_tries = 1


def _identification() -> dict[str, str | None]:
    # Passed per request instead of through the Entrez.tool/email/api_key
    # globals, so a settings override applies to exactly the requests made
    # under it. Empty means "do not send" (None is dropped by Biopython).
    return {
        "tool": settings.NCBI_TOOL or None,
        "email": settings.NCBI_EMAIL or None,
        "api_key": settings.NCBI_API_KEY or None,
    }


# ---------------------------------------------------------------------------
# Retry policy
# ---------------------------------------------------------------------------
@dataclass
class _Failure:
    kind: type[PubMedError]
    reason: str
    retryable: bool = True
    retry_after: float | None = None
    status: int | None = None


class _BadBody(Exception):
    """A body was received but cannot be used; carries the reason."""

    def __init__(self, reason: str, *, retryable: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable


def _with_retries(what: str, call: Callable[[], T]) -> T:
    max_attempts = max(1, int(settings.NCBI_MAX_ATTEMPTS))
    failures: list[_Failure] = []
    for attempt in range(1, max_attempts + 1):
        try:
            return call()
        except Exception as exc:  # classified below; anything unknown is re-raised untouched
            failure = _classify(exc)
            if failure is None:
                raise
        failures.append(failure)
        if not failure.retryable:
            raise failure.kind(f"{what}: {failure.reason}; not retried", attempts=attempt, status=failure.status)
        if attempt < max_attempts:
            delay = _delay(attempt, failure)
            logger.warning("%s: %s; retry %d/%d in %.2f s", what, failure.reason, attempt, max_attempts - 1, delay)
            _sleep(delay)
    last = failures[-1]
    raise last.kind(
        f"{what}: {_summary(failures)}; gave up after {max_attempts} attempt{'s' if max_attempts != 1 else ''}",
        attempts=max_attempts,
        status=last.status,
    )


def _delay(attempt: int, failure: _Failure) -> float:
    if failure.retry_after is not None:
        return min(failure.retry_after, _MAX_RETRY_AFTER)
    # Exponential backoff with full jitter: workers that failed together do not
    # come back together.
    base = float(settings.NCBI_BACKOFF_BASE)
    cap = float(settings.NCBI_BACKOFF_MAX)
    return random.uniform(0, min(cap, base * 2 ** (attempt - 1)))


def _summary(failures: list[_Failure]) -> str:
    counts = Counter(f.reason for f in failures)
    return "; ".join(reason if n == 1 else f"{reason} ({n} times)" for reason, n in counts.items())


def _classify(exc: Exception) -> _Failure | None:
    """Map an exception from one attempt to what it means for the retry policy."""
    timeout = float(settings.NCBI_TIMEOUT)
    if isinstance(exc, HTTPError):
        return _http_failure(exc)
    if isinstance(exc, _BadBody):
        return _Failure(PubMedBadResponse, exc.reason, retryable=exc.retryable)
    if isinstance(exc, TimeoutError) or (isinstance(exc, URLError) and isinstance(exc.reason, TimeoutError)):
        return _Failure(PubMedUnavailable, f"no answer within {timeout:g} s")
    if isinstance(exc, URLError):
        return _Failure(PubMedUnavailable, f"could not reach NCBI ({exc.reason})")
    if isinstance(exc, http.client.IncompleteRead):
        return _Failure(PubMedBadResponse, "the answer was cut off before its announced length")
    if isinstance(exc, (ConnectionError, http.client.HTTPException)):
        return _Failure(PubMedUnavailable, f"the connection failed ({type(exc).__name__}: {exc})")
    if isinstance(exc, ratelimit.RateLimiterError):
        return _Failure(PubMedUnavailable, str(exc))
    return None


def _http_failure(exc: HTTPError) -> _Failure:
    code = exc.code
    try:
        body = exc.read() or b""
    except (OSError, http.client.HTTPException):
        body = b""
    if code == 429:
        # The body's "count" grows with every rejected request; only the limit
        # goes into the reason, so that repeated 429s summarise as one line.
        detail = ""
        try:
            payload = json.loads(body)
            detail = f" (limit {payload['limit']}/s)" if "limit" in payload else ""
        except (ValueError, TypeError, KeyError):
            pass
        return _Failure(
            PubMedRateLimited,
            f"NCBI answered HTTP 429 Too Many Requests{detail}",
            retry_after=_retry_after(exc.headers.get("Retry-After") if exc.headers else None),
            status=code,
        )
    status_text = f"HTTP {code} {exc.reason}".rstrip()
    if 500 <= code < 600:
        return _Failure(PubMedUnavailable, f"NCBI answered {status_text}", status=code)
    return _Failure(PubMedBadResponse, f"NCBI answered {status_text}{_body_hint(body)}", retryable=False, status=code)


def _retry_after(value: str | None) -> float | None:
    # NCBI sends whole seconds; an HTTP-date form is not worth parsing here.
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None
    return seconds if seconds is not None and seconds >= 0 else None


_ERROR_ELEMENT = re.compile(rb"<ERROR>(.*?)</ERROR>", re.DOTALL)
_TAGS = re.compile(r"<[^>]*>")


def _body_hint(body: bytes | str) -> str:
    """A short, log-safe description of what a body contained."""
    raw = body.encode("utf-8", "replace") if isinstance(body, str) else body
    error = _ERROR_ELEMENT.search(raw)
    if error:
        return f": <ERROR>{error.group(1).decode('utf-8', 'replace').strip()}</ERROR>"
    text = " ".join(_TAGS.sub(" ", raw[:2000].decode("utf-8", "replace")).split())
    return f": {text[:120]!r}" if text else ""


def _read(handle) -> bytes:
    try:
        body = handle.read()
    finally:
        handle.close()
    # Biopython wraps text/plain answers in a TextIOWrapper.
    return body.encode("utf-8") if isinstance(body, str) else body


def _parse_efetch_body(body: bytes) -> list[CitationRecord]:
    try:
        return parse_efetch(body)
    except CorruptedXMLError as exc:
        # Biopython's message wraps expat's ("no element found: line 4, column 785") in boilerplate.
        expat_message = re.search(r"\((.*)\)", str(exc))
        raise _BadBody(f"the XML was truncated or corrupt ({expat_message[1] if expat_message else exc})") from exc
    except NotXMLError:
        raise _BadBody(f"the answer was not XML{_body_hint(body)}") from None
    except RuntimeError as exc:
        # Entrez.read raises RuntimeError for an <ERROR> element, and also when
        # the DTD named in the DOCTYPE cannot be loaded: efetch's own error DTD
        # is not shipped with Biopython, so offline a real <eFetchResult><ERROR>
        # reply fails that way. Say what NCBI said in either case.
        hint = _body_hint(body) if _ERROR_ELEMENT.search(body) else f": {exc}"
        raise _BadBody(f"NCBI answered with an error instead of records{hint}") from exc
    except RecordParseError as exc:
        raise _BadBody(f"the XML was not a PubMed article set ({exc})", retryable=False) from exc


# ---------------------------------------------------------------------------
# EFetch
# ---------------------------------------------------------------------------
def fetch_batch(pmids: Sequence[int | str]) -> tuple[dict[int, CitationRecord], set[int]]:
    """Fetch one batch with a single efetch request (plus retries).

    Returns ``(records by PMID, PMIDs PubMed does not know)``. Raises
    ``PubMedUnavailable``, ``PubMedRateLimited`` or ``PubMedBadResponse``.
    """
    wanted = _clean_pmids(pmids)
    if not wanted:
        return {}, set()
    what = f"PubMed efetch of {len(wanted)} PMID{'s' if len(wanted) != 1 else ''} ({_preview(wanted)})"

    def attempt() -> list[CitationRecord]:
        handle = Entrez.efetch(
            db="pubmed", id=",".join(map(str, wanted)), retmode="xml", rettype="abstract", **_identification()
        )
        return _parse_efetch_body(_read(handle))

    parsed = _with_retries(what, attempt)
    requested = set(wanted)
    records = {r.pmid: r for r in parsed if r.pmid in requested}
    unexpected = sorted({r.pmid for r in parsed} - requested)
    if unexpected:
        logger.warning("%s: ignored records nobody asked for: %s", what, unexpected[:10])
    return records, requested - records.keys()


def _clean_pmids(pmids: Iterable[int | str]) -> list[int]:
    seen: dict[int, None] = {}
    for value in pmids:
        pmid = int(value)
        if pmid <= 0:
            raise ValueError(f"not a PMID: {value!r}")
        seen.setdefault(pmid)
    return list(seen)


def _preview(pmids: Sequence[int]) -> str:
    shown = ", ".join(map(str, pmids[:3]))
    return shown if len(pmids) <= 3 else f"{shown}, …"


# ---------------------------------------------------------------------------
# ECitMatch
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class CitationMatch:
    """ECitMatch's verdict on one ``CitationQuery``."""

    key: str
    status: Literal["matched", "not_found", "ambiguous"]
    pmid: int | None
    candidates: list[int]
    detail: str  # NCBI's raw code, e.g. "NOT_FOUND;INVALID_JOURNAL", "AMBIGUOUS (5 citations)"


def match_citations(citations: list[CitationQuery]) -> list[CitationMatch]:
    """Look citations up with ECitMatch; returns one match per citation, in input order."""
    if not citations:
        return []
    # Keys of our own in the request: the caller's keys may contain "|" or repeat.
    lines = [_bdata_line(c, f"c{i}") for i, c in enumerate(citations)]
    answers: dict[str, str] = {}
    for chunk in _chunks_by_length(lines, _ECITMATCH_MAX_BDATA):
        what = f"PubMed ECitMatch of {len(chunk)} citation{'s' if len(chunk) != 1 else ''}"
        answers.update(_with_retries(what, lambda chunk=chunk: _ecitmatch_once(chunk)))
    return [_citation_match(c.key, answers.get(f"c{i}")) for i, c in enumerate(citations)]


def _bdata_line(citation: CitationQuery, key: str) -> str:
    fields = (citation.journal, citation.year, citation.volume, citation.first_page, citation.author)
    # NCBI's format: fields joined by "|", each citation ending with "|".
    return "|".join(_bdata_field(f) for f in fields) + f"|{key}|"


def _bdata_field(value) -> str:
    return " ".join(str(value if value is not None else "").replace("|", " ").split())


def _chunks_by_length(lines: list[str], limit: int) -> Iterable[list[str]]:
    chunk: list[str] = []
    length = 0
    for line in lines:
        if chunk and length + len(line) + 1 > limit:
            yield chunk
            chunk, length = [], 0
        chunk.append(line)
        length += len(line) + 1
    if chunk:
        yield chunk


def _ecitmatch_once(lines: list[str]) -> dict[str, str]:
    handle = Entrez.ecitmatch(db="pubmed", bdata="\r".join(lines), **_identification())
    body = _read(handle).decode("utf-8", "replace")
    answers: dict[str, str] = {}
    for line in body.splitlines():
        parts = [p.strip() for p in line.split("|")]
        # The result is the last field and our key the one before it; some
        # clients report that NCBI drops the author on a miss, so positions
        # from the left are not trusted.
        if len(parts) >= 2 and re.fullmatch(r"c\d+", parts[-2]):
            answers[parts[-2]] = parts[-1]
    if not answers:
        raise _BadBody(f"the ECitMatch answer had no citation lines{_body_hint(body)}")
    return answers


def _citation_match(key: str, code: str | None) -> CitationMatch:
    if code is None:
        return CitationMatch(key, "not_found", None, [], "no answer line for this citation")
    if code.isdigit():
        return CitationMatch(key, "matched", int(code), [int(code)], code)
    if code.upper().startswith("AMBIGUOUS"):
        # "AMBIGUOUS (783 citations)" gives a count only; "AMBIGUOUS 1,2" lists PMIDs.
        listed = [] if "citation" in code.lower() else [int(p) for p in re.findall(r"\d+", code)]
        return CitationMatch(key, "ambiguous", None, listed, code)
    return CitationMatch(key, "not_found", None, [], code)


# ---------------------------------------------------------------------------
# ESearch, and EFetch from the history server
# ---------------------------------------------------------------------------
# Backend trouble NCBI reports inside a 200 answer (<ERROR>Search Backend failed: ...</ERROR>): worth a retry.
_TRANSIENT_SEARCH_ERROR = re.compile(rb"<ERROR>\s*Search Backend failed", re.IGNORECASE)


def search(
    term: str,
    *,
    mindate: date | None = None,
    maxdate: date | None = None,
    retmax: int = ESEARCH_MAX_IDS,
    retstart: int = 0,
    webenv: str = "",
) -> SearchPage:
    """One ESearch of PubMed with ``usehistory=y`` (plus retries), optionally within an entry-date window.

    ``mindate``/``maxdate`` (inclusive, both or neither) restrict the Entrez
    date (``datetype=edat``), the date a record entered PubMed. ``webenv``
    appends the result to an existing history-server environment. PubMed
    hands out at most ``ESEARCH_MAX_IDS`` IDs per result, so a caller that
    needs every PMID of a larger result splits the window. A query NCBI only
    partly understands is not an error: its ErrorList and WarningList come
    back in the page. Raises ``PubMedUnavailable``, ``PubMedRateLimited`` or
    ``PubMedBadResponse`` (an ``<ERROR>`` answer, e.g. an empty query).
    """
    if (mindate is None) != (maxdate is None):
        raise ValueError("give both mindate and maxdate, or neither")
    params = {"db": "pubmed", "term": term, "usehistory": "y", "retmax": retmax, "retstart": retstart}
    window = ""
    if mindate is not None:
        params.update(datetype="edat", mindate=f"{mindate:%Y/%m/%d}", maxdate=f"{maxdate:%Y/%m/%d}")
        window = f" entered {mindate:%Y/%m/%d}–{maxdate:%Y/%m/%d}"
    if webenv:
        params["WebEnv"] = webenv
    what = f"PubMed esearch for {_quoted(term)}{window}"

    def attempt() -> SearchPage:
        handle = Entrez.esearch(**params, **_identification())
        return _parse_esearch_body(_read(handle))

    return _with_retries(what, attempt)


def fetch_from_history(webenv: str, query_key: str, *, retstart: int = 0, retmax: int = 20) -> list[CitationRecord]:
    """EFetch records of a history-server result (``WebEnv`` + ``query_key``), from ``retstart``, at most ``retmax``.

    Used to show the first papers of a search without listing their PMIDs
    again. An expired or unknown WebEnv is a ``PubMedBadResponse``.
    """
    what = f"PubMed efetch of {retmax} records from search #{query_key}"

    def attempt() -> list[CitationRecord]:
        handle = Entrez.efetch(
            db="pubmed",
            WebEnv=webenv,
            query_key=query_key,
            retstart=retstart,
            retmax=retmax,
            retmode="xml",
            rettype="abstract",
            **_identification(),
        )
        return _parse_efetch_body(_read(handle))

    return _with_retries(what, attempt)


def _quoted(term: str) -> str:
    return repr(term if len(term) <= 80 else term[:79] + "…")


def _parse_esearch_body(body: bytes) -> SearchPage:
    try:
        return parse_esearch(body)
    except CorruptedXMLError as exc:
        raise _BadBody(f"the XML was truncated or corrupt ({exc})") from exc
    except NotXMLError:
        raise _BadBody(f"the answer was not XML{_body_hint(body)}") from None
    except RuntimeError as exc:
        # Biopython raises RuntimeError for <ERROR>: NCBI refusing the query (not retried) or its backend
        # failing (retried).
        hint = _body_hint(body) if _ERROR_ELEMENT.search(body) else f": {exc}"
        retryable = bool(_TRANSIENT_SEARCH_ERROR.search(body))
        raise _BadBody(f"NCBI answered with an error instead of results{hint}", retryable=retryable) from exc
    except SearchParseError as exc:
        raise _BadBody(f"the XML was not an ESearch result ({exc})", retryable=False) from exc
