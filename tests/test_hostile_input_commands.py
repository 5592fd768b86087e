"""No arguments, files or standard input make a management command of the atlas print a traceback.

Every command of the `curation` app is found with Django's own `get_commands`,
and every argument its parser declares gets generated values chosen by the
argument's type (tests/hostile_input.py's hostile text for words, numbers in
odd spellings for numeric types, files of hostile bytes for paths). A
command may refuse with CommandError (Django prints it without a traceback);
anything else fails. Output goes through a strict UTF-8 stream, as a real
terminal's does, so text that cannot be printed fails too.
"""

import argparse
import io
import json
import os
from pathlib import Path
from unittest import mock

import pytest
from django.core.management import CommandError, call_command, get_commands, load_command_class
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from curation.management import argtypes
from tests import hostile_input
from tests.services import IN_CI

pytestmark = pytest.mark.django_db

APP = "curation"
COMMANDS = sorted(name for name, app in get_commands().items() if app == APP)
DJANGO_OPTIONS = {"help", "version", "verbosity", "settings", "pythonpath", "traceback", "no_color", "force_color"}
DJANGO_OPTIONS |= {"skip_checks"}
# A wait is the one thing a fuzz must keep short: no worker runs here, so a valid --timeout is always
# given, and small. Values the type refuses are still tried.
SHORT_WAITS = st.sampled_from(["0.05", "0.1"])
SETTINGS = settings(
    max_examples=int(os.environ.get("HOSTILE_EXAMPLES", "8")) * 2,
    deadline=None,
    derandomize=IN_CI,
    database=None if IN_CI else settings.default.database,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Arguments as a shell passes them: no NUL (argv cannot hold one), but undecodable bytes arrive as
# surrogate escapes.
_argv_text = st.one_of(
    hostile_input.hostile_text.filter(lambda value: "\x00" not in value),
    st.binary(min_size=1, max_size=8).map(lambda raw: raw.decode("utf-8", "surrogateescape")),
)
_numbers = st.one_of(
    st.sampled_from(hostile_input.ATTACKS["integers out of range"] + hostile_input.ATTACKS["numbers in odd spellings"]),
    st.integers().map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    _argv_text,
)
_file_content = st.one_of(
    st.binary(max_size=2000),
    st.lists(hostile_input.hostile_text, max_size=20).map(lambda lines: "\n".join(lines).encode("utf-8", "replace")),
    st.lists(st.integers(0, 10**12).map(str), max_size=50).map(lambda pmids: " ".join(pmids).encode()),
    st.recursive(
        st.none() | st.booleans() | st.integers() | hostile_input.hostile_text,
        lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
        max_leaves=12,
    ).map(lambda value: json.dumps({"genes": value, "mechanisms": value}).encode()),
)


def _value_strategy(action, tmp_path):
    """What to pass for one argument, by its type; None when the type has no strategy yet."""
    if action.dest == "timeout":
        return st.one_of(SHORT_WAITS, SHORT_WAITS, _numbers.filter(lambda raw: not _waits_long(action.type, raw)))
    kind = action.type
    if kind is None or kind is str:
        return _argv_text
    if kind in (int, float) or getattr(kind, "__module__", "") == argtypes.__name__:
        return _numbers
    if kind is Path:
        return st.one_of(
            st.sampled_from(["-", str(tmp_path / "missing.txt"), str(tmp_path), "/"]),
            _file_content.map(lambda content: _write(tmp_path, content)),
        )
    return None


def _waits_long(kind, raw) -> bool:
    try:
        return kind(raw) > 0.1
    except (argparse.ArgumentTypeError, TypeError, ValueError):
        return False  # refused by the parser: a fine thing to try


def _write(tmp_path, content: bytes) -> str:
    path = tmp_path / "input.txt"
    path.write_bytes(content)
    return str(path)


def _actions(name):
    parser = load_command_class(APP, name).create_parser("manage.py", name)
    return [action for action in parser._actions if action.dest not in DJANGO_OPTIONS]


@st.composite
def _argv(draw, actions, tmp_path):
    argv = []
    for action in actions:
        values = _value_strategy(action, tmp_path)
        if not action.option_strings:  # positional
            count = draw(st.integers(0, 3)) if action.nargs in ("*", "+") else 1
            argv += [draw(values) for _ in range(count)]
        elif action.nargs == 0:  # a flag
            if draw(st.integers(0, 3)):
                argv.append(action.option_strings[0])
        elif action.dest == "timeout" or draw(st.integers(0, 3)):  # options are mostly given
            argv += [action.option_strings[0], draw(values)]
    return argv


def test_every_argument_of_every_command_has_a_strategy(tmp_path):
    missing = [
        f"{name} {action.option_strings or action.dest} (type {action.type!r})"
        for name in COMMANDS
        for action in _actions(name)
        if action.nargs != 0 and _value_strategy(action, tmp_path) is None
    ]
    assert COMMANDS and missing == []


def _terminal(errors):
    # As Python sets up a UTF-8 terminal: stdout refuses what it cannot encode, stderr escapes it.
    return io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors=errors, write_through=True)


@pytest.mark.parametrize("name", COMMANDS)
def test_no_generated_arguments_make_a_command_print_a_traceback(name, tmp_path):
    actions = _actions(name)

    @SETTINGS
    @given(argv=_argv(actions, tmp_path), stdin=_file_content)
    def commands_never_crash(argv, stdin):
        with transaction.atomic(), mock.patch("sys.stdin", io.StringIO(stdin.decode("utf-8", "replace"))):
            try:
                call_command(name, *argv, stdout=_terminal("strict"), stderr=_terminal("backslashreplace"))
            except CommandError as refusal:
                assert str(refusal).strip(), argv  # a refusal says why (Django prints it to stderr)
            transaction.set_rollback(True)

    commands_never_crash()
