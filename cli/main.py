"""The ``gradcalc`` command line: the group of commands and the one boundary they all pass.

Each command returns its ``ExitStatus``; ``LazyGroup.main`` turns that status, and every
error that leaves a command (a ``Failure``, a GradcalcError, a Click usage error, a
standard output that cannot be written), into one line on standard error and the exit.
The commands live in their own modules, imported only for the command invoked:
cli/problem_command.py (one per kind), cli/runner.py (run, examples), cli/authoring.py
(schema, new), cli/check.py, cli/practice.py (random).  None of them imports this module.
"""

from __future__ import annotations

import gc

# Importing numpy, Click and gradcalc creates some 25,000 objects (modules, classes,
# functions) that live as long as the process.  With the collector on, the collections that
# run while they are created free nothing, and the collection at exit walks them all once
# more: about 7% of `gradcalc conv`'s run.  So it is off while this module is imported, and
# what exists at its end is frozen (gc.freeze: left out of every later collection); the
# objects a command makes are collected as usual.
_COLLECTING = gc.isenabled()
gc.disable()

import functools
import os
import sys

# NumPy's OpenBLAS starts its worker threads when NumPy is imported (just below, through
# gradcalc's modules), and each then busy-waits for work for 2**28 cycles, about 0.1 s, before
# it sleeps: on a two-core machine a second core kept busy for the whole of a typical command
# (about 100 ms of processor time of its 250), which slows the command itself as soon as other
# work shares the machine (a class's submissions graded in parallel).  With a timeout of 2**4
# cycles the threads sleep at once; large products still use every thread, each woken by the
# call that needs it.  A value the user set is kept.  gradcalc used as a library (import
# gradcalc) does not pass here and leaves its host process's OpenBLAS alone; a host that runs
# a command in its own process (gradcalc.check) has imported NumPy already, too late for the
# setting, which would only be left in its environment for the processes it starts later.
if "numpy" not in sys.modules:
    os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")
from collections.abc import Callable, Sequence
from typing import Any

import click

from gradcalc.cli.errors import Failure, echo_error, error_line, is_output_error
from gradcalc.cli.options import UntranslatedHelp, untranslated_click_messages
from gradcalc.core import __version__
from gradcalc.core.errors import GradcalcError
from gradcalc.core.outcome import ExitStatus


def _usage_line(error: click.ClickException, command: str) -> str:
    """A Click usage error as one line like gradcalc's others:
    ``gradcalc conv: --precision: 18 is not in the range 1<=x<=17 (see gradcalc conv --help)``.
    ``command``: the command the arguments name, for an error that does not say."""
    ctx = getattr(error, "ctx", None)
    if ctx is not None:
        names = []
        while ctx is not None:
            names.append(ctx.info_name or "")
            ctx = ctx.parent
        command = " ".join(["gradcalc", *reversed(names[:-1])])  # the root as the user calls it
    message = error.format_message()
    if isinstance(error, click.BadParameter) and not isinstance(error, click.MissingParameter):
        hint = error.param_hint
        if hint is None and error.param is not None:
            hint = getattr(error.param, "opts", None) or error.param.human_readable_name
        if isinstance(hint, str):
            hint = [hint]
        if hint:
            where = "/".join(str(h).strip("'\"") for h in hint)
            message = f"{where}: {error.message}"
    message = " ".join(message.split()).rstrip(".")
    if message[:1].isupper() and message[1:2].islower():  # "No such option" -> "no such option"
        message = message[0].lower() + message[1:]
    hint = f" (see {command} --help)" if isinstance(error, click.UsageError) else ""
    return f"{command}: {message}{hint}"


def _silence_stdout() -> None:
    """After a failed write, point standard output at /dev/null: what is still buffered there
    would otherwise fail again when Python exits, with a message and exit status 120."""
    try:
        descriptor = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # not a real file (CliRunner)
        return
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, descriptor)
    os.close(null)


class LazyGroup(UntranslatedHelp, click.Group):
    """A group whose commands are built the first time they are needed.

    Building a problem command means creating its ~30 options, and ``check``
    and the authoring commands import their own modules: together that would
    cost more than gradcalc's whole start-up budget.  So each command is a
    factory here, run only for the command invoked (or for ``--help``).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.factories: dict[str, Callable[[], click.Command]] = {}

    def lazy(
        self, name: str, factory: Callable[[], click.Command], *, hidden: bool = False
    ) -> None:
        """``hidden``: a second spelling (conv_transpose beside the listed conv-transpose),
        accepted but not listed."""
        self.factories[name] = factory
        if hidden:
            self.aliases = {*getattr(self, "aliases", ()), name}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *self.factories} - getattr(self, "aliases", set()))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in self.commands and name in self.factories:
            self.add_command(self.factories[name](), name)
        return self.commands.get(name)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        """Click's lookup, with the closest command named when there is none
        (`gradcalc covn` -> did you mean 'conv'?)."""
        name = args[0] if args else ""
        if args and not name.startswith("-") and self.get_command(ctx, name) is None:
            import difflib

            # A stricter cutoff than for spec keys: 'nope' is not a slip for 'new'.
            close = difflib.get_close_matches(name, self.list_commands(ctx), n=1, cutoff=0.7)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise click.UsageError(f"no such command {name!r}{hint}", ctx)
        return super().resolve_command(ctx, args)

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        """The one boundary of every command: the ``ExitStatus`` it returns becomes the exit
        status; a ``Failure`` (cli/errors.py), a GradcalcError, Click's usage errors and
        standard output that cannot be written (``> /dev/full``) become one line (exit 2)
        instead of a traceback.  A closed pipe (``| head -1``) ends gradcalc quietly, as Click
        does."""
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        try:
            status = super().main(*args, standalone_mode=False, **kwargs)
        except Failure as failure:
            echo_error(failure.message)
            status = failure.status
        except GradcalcError as error:
            echo_error(error_line(error, None))
            status = ExitStatus.ERROR
        except click.ClickException as error:
            arguments = kwargs.get("args", args[0] if args else None)
            echo_error(_usage_line(error, self.command_named(arguments)))
            status = error.exit_code
        except click.Abort:
            echo_error("gradcalc: aborted")
            status = 1
        except SystemExit as done:
            status = done.code
        except OSError as error:
            if not is_output_error(error):
                raise
            status = self.output_failed(error)
        if status is None:
            status = 0
        try:
            sys.stdout.flush()  # the last of the output, if any is still buffered
        except OSError as error:
            status = self.output_failed(error)
        except (AttributeError, ValueError):  # no standard output at all, or closed
            pass
        sys.exit(int(status) if isinstance(status, int) else status)

    def command_named(self, arguments: Sequence[str] | None) -> str:
        """``gradcalc random conv`` for the arguments ``random conv --seed``: the (sub)command
        they call, as far as it is known."""
        names, command = ["gradcalc"], self
        for argument in sys.argv[1:] if arguments is None else arguments:
            if not isinstance(command, click.Group):
                break
            command = command.get_command(click.Context(command), argument)
            if command is None:
                break
            names.append(argument)
        return " ".join(names)

    @staticmethod
    def output_failed(error: OSError) -> int:
        _silence_stdout()
        echo_error(f"gradcalc: cannot write to standard output: {error.strerror or error}")
        return int(ExitStatus.ERROR)


# Click's messages for --version as written, not looked up with gettext (which imports
# `locale` and searches for catalogs: cli/options.py untranslated_click_messages).
with untranslated_click_messages():
    _version_option = click.version_option(__version__, prog_name="gradcalc")


@click.group(
    cls=LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@_version_option
def main() -> None:
    """gradcalc: work out gradients of small deep-learning problems step by step.

    Each command reads a YAML problem spec, computes the forward and backward
    pass exactly, and prints every step: sizes, sums of products, Jacobians,
    partial derivatives, and checks against the spec's expected answers.

    \b
    Example:
      gradcalc conv --spec problems/task3.yaml
    """
    try:  # the C module that `signal` wraps: `signal` builds three enums, ~1 ms of start-up
        import _signal as signal
    except ImportError:  # pragma: no cover - not CPython
        import signal  # type: ignore[no-redef]

    if hasattr(signal, "SIGPIPE"):
        # `gradcalc run *.yaml | head` ends like any Unix tool when the reader stops reading,
        # instead of a BrokenPipeError reported as an internal error.
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)


def _check_command() -> click.Command:
    from gradcalc.cli.check import check

    return check


def _problem_command(kind: str) -> click.Command:
    from gradcalc.cli.problem_command import problem_command

    return problem_command(kind)


def _authoring_command(name: str) -> click.Command:
    """``run``/``examples`` (cli.runner), ``schema``/``new`` (cli.authoring): each module
    registers its commands on a group; take the one asked for."""
    from gradcalc.cli import authoring, runner

    scratch = click.Group()
    runner.add_commands(scratch)
    authoring.add_commands(scratch)
    return scratch.commands[name]


# Names of the commands cli.runner and cli.authoring define (kept here so listing them imports nothing).
AUTHORING_COMMANDS = ("run", "examples", "schema", "new")


def _random_command() -> click.Command:
    from gradcalc.cli.practice import random_group

    return random_group()


def _register_commands(group: LazyGroup) -> None:
    from gradcalc.core.registry import OPS, command_name

    for kind in OPS:
        # conv-transpose is listed (issue 15); the kind's own name conv_transpose is accepted too.
        group.lazy(command_name(kind), functools.partial(_problem_command, kind))
        if command_name(kind) != kind:
            group.lazy(kind, functools.partial(_problem_command, kind), hidden=True)
    group.lazy("check", _check_command)
    for name in AUTHORING_COMMANDS:
        group.lazy(name, functools.partial(_authoring_command, name))
    group.lazy("random", _random_command)


_register_commands(main)
gc.freeze()
if _COLLECTING:
    gc.enable()


def run() -> None:
    """The ``gradcalc`` program (the console script, ``python -m gradcalc``): :data:`main`
    on the process's own command line, then the exit, without Python's finalization.

    Finalizing tears down every module (numpy's, Rich's, gradcalc's) one by one and runs a
    last collection: 5-10 ms of a command that takes 50, spent on memory the exit frees
    anyway.  ``main`` has written and flushed everything by then; standard output and error
    are flushed again here, and gradcalc keeps no other file open (each is closed by its
    ``with`` block), registers no atexit handler and leaves no thread working.  Whatever
    does not end as a plain exit status (an exception, a flush that fails, a status that is
    text) takes Python's usual way out.  ``main`` itself (tests, the Python API) still ends
    with SystemExit."""
    try:
        main(prog_name="gradcalc")
    except SystemExit as done:
        status = 0 if done.code is None else done.code
        if not isinstance(status, int):
            raise
        try:
            for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
                if stream is not None:
                    stream.flush()
        except (OSError, ValueError):
            raise done from None
        os._exit(status & 0xFF)


if __name__ == "__main__":  # pragma: no cover
    run()
