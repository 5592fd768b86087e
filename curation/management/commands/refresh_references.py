"""Refresh references from PubMed: `refresh_references [--all | --stale DAYS | PMID...] [--wait]`."""

from django.core.management.base import BaseCommand, CommandError

from curation import refresh
from curation.management.argtypes import MAX_STALE_DAYS, bounded_int, pmid, seconds
from curation.management.commands._pubmed_cli import DEFAULT_WAIT_TIMEOUT, wait_for_run
from curation.models import RefreshRun


class Command(BaseCommand):
    help = (
        "Queue a PubMed refresh of the named PMIDs, of every reference (--all) or of those not fetched for "
        "DAYS days (--stale DAYS). Celery workers do the fetching; --wait blocks until the run ends and "
        "prints its counts."
    )

    def add_arguments(self, parser):
        parser.add_argument("pmids", nargs="*", type=pmid, metavar="PMID")
        scope = parser.add_mutually_exclusive_group()
        scope.add_argument("--all", action="store_true", help="refresh every reference")
        scope.add_argument(
            "--stale",
            type=bounded_int(0, MAX_STALE_DAYS),
            metavar="DAYS",
            help="refresh references not fetched for DAYS days",
        )
        parser.add_argument("--wait", action="store_true", help="wait for the run to end and print its counts")
        parser.add_argument(
            "--timeout",
            type=seconds,
            help=f"with --wait: stop waiting after this many seconds ({DEFAULT_WAIT_TIMEOUT} by default, "
            "or sooner if the run is stuck)",
        )

    def handle(self, *args, pmids, all, stale, wait, timeout, **options):
        chosen = [bool(pmids), all, stale is not None]
        if sum(chosen) != 1:
            raise CommandError("Name PMIDs, or give --all or --stale DAYS (exactly one of them).")
        if stale is not None and stale < 0:
            raise CommandError("--stale takes a number of days, 0 or more.")
        if all:
            kwargs = {"scope": RefreshRun.Scope.ALL}
        elif stale is not None:
            kwargs = {"scope": RefreshRun.Scope.STALE, "stale_days": stale}
        else:
            kwargs = {"scope": RefreshRun.Scope.SELECTED, "pmids": pmids}
        try:
            run = refresh.start_refresh(**kwargs)
        except refresh.NothingToRefresh as exc:
            self.stdout.write(str(exc))
            return
        except refresh.RefreshError as exc:
            raise CommandError(str(exc)) from exc
        total = run.items.count()
        self.stdout.write(f"Queued {run}: {run.scope_detail} ({total} reference{'s' if total != 1 else ''}).")
        if wait:
            wait_for_run(self, run, timeout=timeout)
