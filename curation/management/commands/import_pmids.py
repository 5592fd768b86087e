"""Add references by PMID or citation string, as the admin's "Add references" page does.

`import_pmids [PMID | "CITATION" ...] [--file F] [--confirm] [--wait] [--timeout S]`
"""

import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from curation import importing
from curation.management.argtypes import seconds
from curation.management.commands._pubmed_cli import DEFAULT_WAIT_TIMEOUT, read_input, wait_for_run
from curation.models import ReferenceImport

STATUS_LABELS = {"pmid": "PMID", "matched": "matched", "not_found": "NOT FOUND", "ambiguous": "AMBIGUOUS"}
LOOKUP_TIMEOUT = 300  # seconds to wait for the citation lookup when --timeout is not given


class Command(BaseCommand):
    help = (
        "Add references as the admin's Add references page does. PMIDs (arguments, or a file: one per line, or "
        "separated by commas or spaces) are created at once and their PubMed fetch is queued. Citation strings "
        "(one per line, e.g. 'Cell. 2017 Feb 9;168(4):707-723') are looked up with PubMed's ECitMatch on a Celery "
        "worker and listed as matched, not found or ambiguous; --confirm adds the matched ones too. If any item is "
        "neither a PMID nor a citation, nothing is created."
    )

    def add_arguments(self, parser):
        parser.add_argument("items", nargs="*", metavar="PMID", help="a PMID, or a quoted citation string")
        parser.add_argument("--file", type=Path, help="a file of PMIDs and/or citations; '-' reads standard input")
        parser.add_argument("--confirm", action="store_true", help="also add the references whose citations matched")
        parser.add_argument("--wait", action="store_true", help="wait for the PubMed fetch to end and print its counts")
        parser.add_argument(
            "--timeout",
            type=seconds,
            help=f"stop waiting after this many seconds (lookup: {LOOKUP_TIMEOUT} by default; "
            f"the fetch: {DEFAULT_WAIT_TIMEOUT}, or sooner if it is stuck)",
        )

    def handle(self, *args, items, file, confirm, wait, timeout, **options):
        text = "\n".join([*items, read_input(file)] if file is not None else items)
        try:
            result = importing.start_import(text, by=None)
        except importing.InvalidImport as exc:
            raise CommandError("Nothing was imported:\n  " + "\n  ".join(exc.errors)) from exc
        added = result.added
        self.stdout.write(f"Added {len(added.created)} reference(s); {len(added.existing)} already in the atlas.")
        runs = [added.run] if added.run is not None else []
        if result.citations is not None:
            reference_import = self._lookup(result.citations, timeout)
            if confirm:
                confirmed = importing.confirm_import(reference_import, by=None)
                self.stdout.write(
                    f"Added {len(confirmed.created)} reference(s) from citations; "
                    f"{len(confirmed.existing)} already in the atlas."
                )
                runs += [confirmed.run] if confirmed.run is not None else []
            else:
                self.stdout.write(
                    f"Nothing was added from the citations: run again with --confirm, or confirm {reference_import} "
                    "on the admin's Add references page."
                )
        for run in runs:
            self.stdout.write(f"Queued {run}: {run.scope_detail}.")
            if wait:
                wait_for_run(self, run, timeout=timeout)

    def _lookup(self, reference_import: ReferenceImport, timeout: float | None) -> ReferenceImport:
        """Wait for the worker to match the citations, then list what each line matched."""
        limit = LOOKUP_TIMEOUT if timeout is None else timeout
        deadline = time.monotonic() + limit
        while reference_import.state == ReferenceImport.State.MATCHING:
            if time.monotonic() > deadline:
                raise CommandError(f"No answer from PubMed's lookup within {limit:g} s: is a Celery worker running?")
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
            f"{statuses.count('ambiguous')} ambiguous."
        )
        return reference_import
