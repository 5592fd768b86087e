"""Argument types for the management commands: bounded, with a message naming the rule.

argparse turns the ArgumentTypeError raised here into "argument --stale: ...";
Django's CommandParser then prints it with the usage (exit status 2) on the
command line, or raises CommandError under call_command. Without bounds,
`--stale 99999999999999999999` overflowed a timedelta into a traceback and
`--timeout nan` waited for ever.
"""

import argparse
import math

from curation.paste import pmid_problem

MAX_STALE_DAYS = 36_500  # a century: anything older is simply "every reference"
MAX_WAIT_SECONDS = 7 * 24 * 3600


def bounded_int(minimum: int, maximum: int):
    """An argparse type accepting whole numbers from `minimum` to `maximum`."""

    def parse(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise argparse.ArgumentTypeError(f"“{raw}” is not a whole number") from None
        if not minimum <= value <= maximum:
            raise argparse.ArgumentTypeError(f"must be from {minimum} to {maximum}; got {raw}")
        return value

    parse.__name__ = "whole number"  # argparse names the type in its own messages
    return parse


def seconds(raw: str) -> float:
    """An argparse type for a wait: more than 0 and at most MAX_WAIT_SECONDS seconds."""
    try:
        value = float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"“{raw}” is not a number of seconds") from None
    if not (math.isfinite(value) and 0 < value <= MAX_WAIT_SECONDS):
        raise argparse.ArgumentTypeError(f"must be more than 0 and at most {MAX_WAIT_SECONDS} seconds; got {raw}")
    return value


def pmid(raw: str) -> int:
    """An argparse type for a PMID, by the same rule as pasted PMIDs (curation.paste)."""
    problem = pmid_problem(raw)
    if problem:
        raise argparse.ArgumentTypeError(f"“{raw}” is not a PMID: {problem}")
    return int(raw)
