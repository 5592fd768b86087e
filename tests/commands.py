"""Running management commands in tests, as a terminal or a script would."""

import io

from django.core.management import call_command


class Terminal(io.StringIO):
    """Standard output that says it is a terminal, so commands draw their progress bars."""

    def isatty(self):
        return True


def run_command(*args, stdout=None) -> str:
    """Run a management command; returns what it printed."""
    out = stdout or io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()
