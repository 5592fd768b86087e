"""Versioned data releases: a dated, numbered copy of the published atlas in JSON and TSV (docs/releases.md).

`export_release` writes, into a folder of its own under DATA_RELEASES_DIR:
mechanisms, evidence, references, genes, therapies and cancer types as JSON and
TSV, serialised by `curation.serializers.RESOURCES` (what the API serves, field
for field); a changelog against the previous release; the CC BY 4.0 notice;
how to cite the release (CSL-JSON, RIS, BibTeX and APA text from
`curation.citations`); a manifest with every file's SHA-256, and SHA256SUMS.
A `DataRelease` row lists the files for the downloads page.

One release is built at a time (a database constraint), from one consistent
snapshot of the database on PostgreSQL, in batches of `BATCH_SIZE` rows, so
memory stays bounded by one batch plus the previous release's keys and lines.
"""

import csv
import hashlib
import json
import logging
import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from curation import task_queue
from curation.citations import export_items
from curation.citations.entries import ATLAS_NAME
from curation.models import DataRelease, Mechanism, Status
from curation.serializers import RESOURCES

__all__ = [
    "BATCH_SIZE",
    "RELEASED_RESOURCES",
    "ReleaseError",
    "ReleaseInProgress",
    "export_release",
    "read_json_items",
    "read_tsv_rows",
    "release_path",
    "request_release",
]

logger = logging.getLogger(__name__)

BATCH_SIZE = 2000
RELEASED_RESOURCES = ("mechanisms", "evidence", "references", "genes", "therapies", "cancer-types")
# A build that has not finished after this long died with its worker; the next build marks it failed.
ABANDONED_AFTER = timedelta(hours=12)
LICENCE_NAME = "Creative Commons Attribution 4.0 International (CC BY 4.0)"
LICENCE_URL = "https://creativecommons.org/licenses/by/4.0/"
LICENCE_SPDX = "CC-BY-4.0"
# Cells a spreadsheet would run as a formula (OWASP's list): TSV writes them after an apostrophe.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class ReleaseError(Exception):
    """A release could not be made; nothing was published."""


class ReleaseInProgress(ReleaseError):
    """Another release is being built right now."""


def release_path(release: DataRelease) -> Path:
    """The folder holding `release`'s files."""
    return Path(settings.DATA_RELEASES_DIR) / release.directory


def request_release(*, by) -> None:
    """Queue a release build for a Celery worker (the admin's "Make a release now"), after commit."""
    task_queue.send(task_queue.EXPORT_RELEASE, getattr(by, "pk", None))


def export_release(*, by=None) -> DataRelease:
    """Write a new release of the published atlas and record it; returns the ready `DataRelease`.

    Raises ReleaseInProgress while another build runs, ReleaseError when the
    files cannot be written (the row is then marked failed with the reason and
    the partial folder removed). `by` is the user who asked for it, if any.
    """
    _fail_abandoned_builds()
    previous = DataRelease.objects.filter(state=DataRelease.State.READY).order_by("-number").first()
    try:
        with transaction.atomic():
            release = DataRelease.objects.create(previous=previous, requested_by=by)
    except IntegrityError:
        raise ReleaseInProgress("A release is being built already; try again when it is finished.") from None

    number = (previous.number if previous else 0) + 1
    released_at = timezone.now()
    directory = f"resistance-atlas-{number}-{released_at:%Y-%m-%d}"
    root = Path(settings.DATA_RELEASES_DIR)
    building = root / f".building-{release.pk}"
    try:
        root.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(building, ignore_errors=True)
        building.mkdir()
        with _snapshot():
            counts, changelog = _write_resources(building, previous)
            retired_slugs = set(
                Mechanism.objects.originals()
                .filter(status=Status.RETIRED, slug__in=changelog["removed"].get("mechanisms", []))
                .values_list("slug", flat=True)
            )
        _split_retired(changelog, retired_slugs)
        facts = {"number": number, "date": released_at.date().isoformat(), "previous": previous}
        _write_about(building, facts, counts, changelog)
        files = _write_manifest(building, facts, counts, released_at)
        (building).rename(root / directory)
    except OSError as exc:
        shutil.rmtree(building, ignore_errors=True)
        DataRelease.objects.filter(pk=release.pk).update(state=DataRelease.State.FAILED, error=str(exc)[:2000])
        raise ReleaseError(f"The release could not be written to {root}: {exc}") from exc
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        DataRelease.objects.filter(pk=release.pk).update(state=DataRelease.State.FAILED, error="Interrupted")
        raise

    release.number = number
    release.state = DataRelease.State.READY
    release.directory = directory
    release.files = files
    release.counts = counts
    release.changes = changelog["summary"]
    release.released_at = released_at
    release.save()
    logger.info("data release %s written to %s", number, root / directory)
    return release


def _fail_abandoned_builds() -> None:
    cutoff = timezone.now() - ABANDONED_AFTER
    DataRelease.objects.filter(state=DataRelease.State.BUILDING, created_at__lt=cutoff).update(
        state=DataRelease.State.FAILED, error="The build stopped without finishing (its worker died)."
    )


class _snapshot:
    """On PostgreSQL, every read of the build in one REPEATABLE READ transaction: one consistent atlas.

    Inside an open transaction (a test's) the reads simply join it.
    """

    def __enter__(self):
        self._atomic = transaction.atomic()
        fresh = not connection.in_atomic_block
        self._atomic.__enter__()
        if fresh and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")

    def __exit__(self, *exc):
        return self._atomic.__exit__(*exc)


def _published_items(name: str) -> Iterator[dict]:
    """Every published item of resource `name`, serialised as the API serialises it, in key order."""
    resource = RESOURCES[name]
    key = resource.key
    last = None
    while True:
        rows = resource.rows().order_by(key)
        if last is not None:
            rows = rows.filter(**{f"{key}__gt": last})
        batch = list(rows[:BATCH_SIZE])
        if not batch:
            return
        yield from resource.serialize(batch)
        last = getattr(batch[-1], key)


def _json_line(item) -> str:
    return json.dumps(item, ensure_ascii=False)


def _write_resources(folder: Path, previous: DataRelease | None) -> tuple[dict, dict]:
    counts = {}
    changelog = {"added": {}, "changed": {}, "removed": {}, "newly_retracted": [], "newly_corrected": []}
    for name in RELEASED_RESOURCES:
        resource = RESOURCES[name]
        before = _previous_lines(previous, name)
        added, changed = [], []
        fields = list(resource.serializer().fields)
        count = 0
        with (
            open(folder / f"{name}.json", "w", encoding="utf-8", newline="\n") as json_file,
            open(folder / f"{name}.tsv", "w", encoding="utf-8", newline="") as tsv_file,
        ):
            tsv = csv.writer(tsv_file, dialect="excel-tab", lineterminator="\n")
            tsv.writerow(fields)
            json_file.write("[")
            for item in _published_items(name):
                line = _json_line(item)
                # One item a line: the file is a JSON array that can also be read line by line.
                json_file.write(("\n" if count == 0 else ",\n") + line)
                tsv.writerow([tsv_cell(item[field]) for field in fields])
                count += 1
                key = item[resource.key]
                old = before.pop(key, None)
                if old is None:
                    added.append(key)
                elif old != line:
                    old_item = json.loads(old)
                    changed.append({resource.key: key, "fields": [f for f in fields if old_item.get(f) != item.get(f)]})
                    if name == "references":
                        _note_new_notices(changelog, old_item, item)
            json_file.write("\n]\n" if count else "]\n")
        counts[name] = count
        for section, keys in (("added", added), ("changed", changed), ("removed", sorted(before))):
            if keys:
                changelog[section][name] = keys
    return counts, changelog


def _note_new_notices(changelog: dict, old: dict, new: dict) -> None:
    """A paper that gained a retraction, erratum or expression of concern since the previous release."""
    gained = [flag for flag in new["flags"] if flag not in old.get("flags", [])]
    new_corrections = [c for c in new["corrections"] if c not in old.get("corrections", [])]
    if "retracted" in gained:
        changelog["newly_retracted"].append(new["pmid"])
    corrected = [flag for flag in gained if flag != "retracted"]
    if corrected or (new_corrections and "retracted" not in gained):
        changelog["newly_corrected"].append({"pmid": new["pmid"], "flags": corrected, "corrections": new_corrections})


def _split_retired(changelog: dict, retired_slugs: set[str]) -> None:
    """Mechanisms that left the release because a reviewer retired them are 'retired', not just 'removed'."""
    removed = changelog["removed"].get("mechanisms", [])
    retired = [slug for slug in removed if slug in retired_slugs]
    changelog["retired"] = {"mechanisms": retired} if retired else {}
    still_removed = [slug for slug in removed if slug not in retired_slugs]
    if still_removed:
        changelog["removed"]["mechanisms"] = still_removed
    else:
        changelog["removed"].pop("mechanisms", None)
    changelog["summary"] = {
        "added": {name: len(keys) for name, keys in changelog["added"].items()},
        "changed": {name: len(items) for name, items in changelog["changed"].items()},
        "removed": {name: len(keys) for name, keys in changelog["removed"].items()},
        "retired": changelog["retired"].get("mechanisms", []),
        "newly_retracted": changelog["newly_retracted"],
        "newly_corrected": [entry["pmid"] for entry in changelog["newly_corrected"]],
    }


def _previous_lines(previous: DataRelease | None, name: str) -> dict:
    """{key: JSON line} of resource `name` in the previous release ({} if none or its file is gone)."""
    if previous is None:
        return {}
    path = release_path(previous) / f"{name}.json"
    if not path.exists():
        logger.warning("release %s has no %s; the changelog counts every item as added", previous.number, path)
        return {}
    key = RESOURCES[name].key
    return {item[key]: _json_line(item) for item in read_json_items(path)}


def read_json_items(path: Path) -> Iterator[dict]:
    """The items of a release's JSON file, one line at a time (any JSON array works, read whole)."""
    with open(path, encoding="utf-8") as f:
        first = f.readline()
        if first.strip() != "[":
            yield from json.loads(first + f.read())
            return
        for line in f:
            line = line.strip().removesuffix(",")
            if line and line != "]":
                yield json.loads(line)


def tsv_cell(value) -> str:
    """One TSV cell: text as is (formula-like text after an apostrophe), lists and objects as JSON."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return str(value)


def read_tsv_rows(path: Path) -> list[dict]:
    """The rows of a release's TSV file as dicts of text, read with the csv module as the file was written."""
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, dialect="excel-tab"))


def _citation_item(facts: dict) -> dict:
    item = {
        "id": f"resistance-atlas-release-{facts['number']}",
        "type": "dataset",
        "title": f"{ATLAS_NAME} data release {facts['number']}",
        "author": [{"literal": f"{ATLAS_NAME} curators"}],
        "publisher": ATLAS_NAME,
        "version": str(facts["number"]),
        "issued": {"date-parts": [[int(part) for part in facts["date"].split("-")]]},
    }
    if settings.ATLAS_PUBLIC_URL:
        item["URL"] = f"{settings.ATLAS_PUBLIC_URL.rstrip('/')}/downloads/{facts['number']}/"
    return item


def _write_about(folder: Path, facts: dict, counts: dict, changelog: dict) -> None:
    previous = facts["previous"]
    changelog = {
        "release": facts["number"],
        "date": facts["date"],
        "previous_release": previous.number if previous else None,
        **changelog,
    }
    (folder / "changelog.json").write_text(json.dumps(changelog, ensure_ascii=False, indent=1) + "\n", "utf-8")
    item = _citation_item(facts)
    citation_text = export_items([item], "apa.txt").content.strip()
    for fmt, name in (("csl-json", "CITATION.json"), ("ris", "CITATION.ris"), ("bibtex", "CITATION.bib")):
        (folder / name).write_text(export_items([item], fmt).content, "utf-8")
    (folder / "LICENSE.txt").write_text(
        f"{ATLAS_NAME} data release {facts['number']} ({facts['date']}) is licensed under the\n"
        f"{LICENCE_NAME} licence: {LICENCE_URL}\n\n"
        "You may share and adapt it for any purpose, provided you give appropriate credit (cite the\n"
        "release as in CITATION.*), link to the licence, and indicate if changes were made.\n\n"
        "Citation metadata of papers comes from PubMed (NCBI). Abstracts are not included: they belong\n"
        "to their publishers.\n",
        "utf-8",
    )
    listing = "\n".join(f"  {name}.json, {name}.tsv: {counts[name]} items" for name in RELEASED_RESOURCES)
    (folder / "README.txt").write_text(
        f"{ATLAS_NAME} data release {facts['number']}, {facts['date']}\n\n"
        f"The published atlas, as its read API (/api/) serves it, field for field:\n{listing}\n\n"
        "JSON: an array, one item a line. TSV: tab-separated, a header row, fields quoted as Python's csv\n"
        "module and pandas.read_csv(path, sep='\\t') read them; lists and objects are JSON; a text cell\n"
        "starting with = + - or @ is written after an apostrophe so that spreadsheets do not run it.\n"
        "changelog.json: what was added, changed, removed or retired since the previous release, and\n"
        "papers newly retracted or corrected. manifest.json and SHA256SUMS: every file's checksum.\n\n"
        f"Licence: {LICENCE_NAME}, {LICENCE_URL}\n\nCite as:\n  {citation_text}\n",
        "utf-8",
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _write_manifest(folder: Path, facts: dict, counts: dict, released_at) -> list[dict]:
    """manifest.json (files with SHA-256) and SHA256SUMS (`sha256sum -c` reads it); returns the file list."""
    entries = [
        {"name": path.name, "bytes": path.stat().st_size, "sha256": _sha256(path)}
        for path in sorted(folder.iterdir())
        if path.is_file()
    ]
    previous = facts["previous"]
    manifest = {
        "title": f"{ATLAS_NAME} data release {facts['number']}",
        "release": facts["number"],
        "date": facts["date"],
        "created_at": released_at.isoformat(),
        "previous_release": previous.number if previous else None,
        "licence": {"name": LICENCE_NAME, "spdx": LICENCE_SPDX, "url": LICENCE_URL},
        "citation": export_items([_citation_item(facts)], "apa.txt").content.strip(),
        "counts": counts,
        "files": entries,
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1) + "\n", "utf-8")
    sums = [{"name": "manifest.json", "sha256": _sha256(folder / "manifest.json")}, *entries]
    (folder / "SHA256SUMS").write_text("".join(f"{e['sha256']}  {e['name']}\n" for e in sums), "utf-8")
    manifest_entry = {"name": "manifest.json", "bytes": (folder / "manifest.json").stat().st_size}
    sums_entry = {"name": "SHA256SUMS", "bytes": (folder / "SHA256SUMS").stat().st_size}
    return [
        {**manifest_entry, "sha256": sums[0]["sha256"]},
        {**sums_entry, "sha256": _sha256(folder / "SHA256SUMS")},
        *entries,
    ]
