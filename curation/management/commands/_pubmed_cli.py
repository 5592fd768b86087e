"""Helpers shared by the PubMed management commands: reading input, waiting for a run with a progress bar."""

import sys
import time
from pathlib import Path

from django.core.management.base import CommandError

from curation.models import RefreshRun

BAR_WIDTH = 30


def describe(counts: dict) -> str:
    return f"{counts['done']}/{counts['total']} done: " + RefreshRun.summary(counts, with_zeros=True)


def wait_for_run(command, run: RefreshRun, *, interval: float = 0.5, timeout: float | None = None) -> RefreshRun:
    """Block until `run` ends, drawing a bar when stdout is a terminal; print its counts; return it.

    Raises CommandError when the run failed as a whole or `timeout` seconds pass
    (the run itself goes on; only the waiting stops).
    """
    terminal = command.stdout.isatty()
    deadline = None if timeout is None else time.monotonic() + timeout
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
        if deadline is not None and time.monotonic() > deadline:
            if terminal:
                command.stdout.write("")
            raise CommandError(f"Gave up waiting after {timeout:g} s; {run} goes on ({describe(counts)}).")
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
