"""Resolve citation strings to PMIDs with PubMed's ECitMatch: `match_citations FILE [--import]`."""

import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from curation import importing
from curation.management.commands._pubmed_cli import read_input, wait_for_run
from curation.models import ReferenceImport

STATUS_LABELS = {"pmid": "PMID", "matched": "matched", "not_found": "NOT FOUND", "ambiguous": "AMBIGUOUS"}


class Command(BaseCommand):
    help = (
        "Look up a file of citations (one per line, e.g. 'Cell. 2017 Feb 9;168(4):707-723'; PMIDs are accepted "
        "too) and print which matched, were not found or are ambiguous. The lookup runs on a Celery worker; "
        "this command waits for it. With --import, the matched references are then created and fetched."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path, help="the citations; '-' reads standard input")
        parser.add_argument("--import", dest="do_import", action="store_true", help="create what matched")
        parser.add_argument("--wait", action="store_true", help="with --import: wait for the PubMed fetch too")
        parser.add_argument("--timeout", type=float, default=300, help="seconds to wait for the lookup (300)")

    def handle(self, *args, file, do_import, wait, timeout, **options):
        try:
            reference_import = importing.start_import(read_input(file), by=None)
        except importing.InvalidImport as exc:
            raise CommandError("Nothing was looked up:\n  " + "\n  ".join(exc.errors)) from exc
        deadline = time.monotonic() + timeout
        while reference_import.state == ReferenceImport.State.MATCHING:
            if time.monotonic() > deadline:
                raise CommandError(f"No answer within {timeout:g} s: is a Celery worker running?")
            time.sleep(0.3)
            reference_import.refresh_from_db()
        if reference_import.state == ReferenceImport.State.FAILED:
            raise CommandError(f"PubMed could not be asked: {reference_import.error}")

        for entry in reference_import.entries:
            label = STATUS_LABELS.get(entry["status"], entry["status"])
            found = entry["pmid"] or ", ".join(map(str, entry.get("candidates") or [])) or entry.get("detail", "")
            self.stdout.write(f"line {entry['line']}\t{label}\t{found}\t{entry['text']}")
        statuses = [entry["status"] for entry in reference_import.entries]
        self.stdout.write(
            f"{statuses.count('matched')} matched, {statuses.count('not_found')} not found, "
            f"{statuses.count('ambiguous')} ambiguous, {statuses.count('pmid')} given as PMIDs."
        )
        if not do_import:
            return
        result = importing.confirm_import(reference_import, by=None)
        self.stdout.write(f"Added {len(result.created)} reference(s); {len(result.existing)} already in the atlas.")
        if result.run is not None:
            self.stdout.write(f"Queued {result.run}: {result.run.scope_detail}.")
            if wait:
                wait_for_run(self, result.run)
