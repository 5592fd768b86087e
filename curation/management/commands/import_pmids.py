"""Add references by PMID and queue their PubMed fetch: `import_pmids PMID... [--file F] [--wait]`."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from curation import importing
from curation.management.commands._pubmed_cli import read_input, wait_for_run


class Command(BaseCommand):
    help = (
        "Create a pending reference for each PMID not yet in the atlas and queue a PubMed fetch for them. "
        "PMIDs come from the arguments and/or a file (one per line, or separated by commas or spaces). "
        "If any item is not a PMID, nothing is created."
    )

    def add_arguments(self, parser):
        parser.add_argument("pmids", nargs="*", metavar="PMID")
        parser.add_argument("--file", type=Path, help="a file of PMIDs; '-' reads standard input")
        parser.add_argument("--wait", action="store_true", help="wait for the fetch to end and print its counts")
        parser.add_argument("--timeout", type=float, help="with --wait: stop waiting after this many seconds")

    def handle(self, *args, pmids, file, wait, timeout, **options):
        text = "\n".join(pmids)
        if file is not None:
            text += "\n" + read_input(file)
        parsed = importing.parse_pmids(text)
        if parsed.errors:
            raise CommandError("Nothing was imported:\n  " + "\n  ".join(parsed.errors))
        if not parsed.pmids:
            raise CommandError("No PMIDs given: name them as arguments or with --file.")
        result = importing.add_references(parsed.pmids, by=None)
        self.stdout.write(f"Added {len(result.created)} reference(s); {len(result.existing)} already in the atlas.")
        if result.run is None:
            return
        self.stdout.write(f"Queued {result.run}: {result.run.scope_detail}.")
        if wait:
            wait_for_run(self, result.run, timeout=timeout)
