"""Helpers shared by the PubMed management commands: reading input, waiting for a run with a progress bar."""

import sys
import time
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core.management.base import CommandError

from curation import recovery
from curation.models import RefreshRun

BAR_WIDTH = 30
# --wait without --timeout: a finite wait, long enough for a large run (20,000 references take minutes).
DEFAULT_WAIT_TIMEOUT = 3600


def describe(counts: dict) -> str:
    return f"{counts['done']}/{counts['total']} done: " + RefreshRun.summary(counts, with_zeros=True)


def wait_for_run(command, run: RefreshRun, *, interval: float = 0.5, timeout: float | None = None) -> RefreshRun:
    """Block until `run` ends, drawing a bar when stdout is a terminal; print its counts; return it.

    Raises CommandError when the run failed as a whole, when `timeout` seconds
    pass (DEFAULT_WAIT_TIMEOUT without one), or as soon as part of the run is
    plainly stuck: items no task has touched for longer than beat's recovery
    pass would have let them wait, which means no worker or no beat is running.
    The message says how many references are stuck and how to recover them.
    The run itself goes on either way; only the waiting stops.
    """
    timeout = DEFAULT_WAIT_TIMEOUT if timeout is None else timeout
    terminal = command.stdout.isatty()
    deadline = time.monotonic() + timeout
    # Past this, the recovery pass has missed at least two chances to queue an item again.
    hopeless = timedelta(seconds=settings.REFRESH_STUCK_AFTER + 2 * settings.RECOVERY_INTERVAL)
    if not terminal:
        command.stdout.write(f"Waiting for {run} to finish…")
    while True:
        run.refresh_from_db()
        counts = run.counts()
        if terminal:
            filled = BAR_WIDTH * counts["done"] // max(counts["total"], 1)
            bar = "#" * filled + "." * (BAR_WIDTH - filled)
            command.stdout.write(f"\r[{bar}] {counts['percent']:3d}% {describe(counts)}", ending="")
            command.stdout.flush()
        if not run.is_active:
            break
        report = recovery.stuck_report(run)
        timed_out = time.monotonic() > deadline
        if timed_out or (report.oldest_touch is not None and report.oldest_touch > hopeless):
            if terminal:
                command.stdout.write("")
            why = f"Gave up waiting after {timeout:g} s" if timed_out else "Gave up waiting"
            raise CommandError(f"{why}; {run} goes on ({describe(counts)}). {explain_stuck(run, report)}")
        time.sleep(interval)
    if terminal:
        command.stdout.write("")
    command.stdout.write(f"{run}: {run.get_state_display().lower()}. {describe(counts)}.")
    failed = run.items.filter(outcome="failed").exclude(error="").values_list("error", flat=True).first()
    if failed:
        command.stdout.write(f"First failure: {failed}")
    if run.state == RefreshRun.State.FAILED:
        raise CommandError(run.error or f"{run} failed.")
    return run


def explain_stuck(run: RefreshRun, report: recovery.StuckReport) -> str:
    """What the queued references of an unfinished run are waiting for, in a sentence or two."""
    if not report.queued:
        return (
            f"Nothing is left to fetch, but the run was not closed: `manage.py recover_runs --run {run.pk}` closes it."
        )
    since = ""
    if report.oldest_touch is not None:
        since = f" (the oldest untouched for {int(report.oldest_touch.total_seconds())} s)"
    if report.stuck:
        return (
            f"{report.stuck} of {report.queued} queued references are stuck: no worker has touched them for over "
            f"{settings.REFRESH_STUCK_AFTER} s{since}, so their batch was lost. Beat's recovery pass queues them "
            f"again every {settings.RECOVERY_INTERVAL} s if beat and a worker run; to do it now: "
            f"`manage.py recover_runs --run {run.pk} --now`."
        )
    return (
        f"{report.queued} {'reference is' if report.queued == 1 else 'references are'} still queued{since}, "
        "none stuck yet: is a Celery worker running? "
        f"If a worker died, beat's recovery pass queues them again after {settings.REFRESH_STUCK_AFTER} s; "
        f"`manage.py recover_runs --run {run.pk} --now` does it at once."
    )


def read_input(path: Path) -> str:
    """The text of `path`, or of standard input for "-"; a clear CommandError if it cannot be read."""
    if str(path) == "-":
        return sys.stdin.read()
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CommandError(f"Cannot read {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise CommandError(f"{path} is not UTF-8 text.") from exc
