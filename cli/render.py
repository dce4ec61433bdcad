"""Print a solved problem in the format ``--format`` names: one table, FORMAT -> renderer.

Each renderer imports its module only when it is used (Rich, Markdown and LaTeX cost
start-up time); the whole output is built before it is printed.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from gradcalc.cli.options import RunOptions
    from gradcalc.core.outcome import Solution

Sections = frozenset[str] | None  # the sections --show asked for; None: all
# (solution, the command's kind, sections, options) -> None, the report printed.
ProblemRenderer = Callable[["Solution", str, Sections, "RunOptions"], None]


def render_table(solution: Solution, kind: str, sections: Sections, options: RunOptions) -> None:
    """Step-by-step Rich tables on standard output, and the ``--export`` file if asked."""
    from rich.console import Console

    from gradcalc.cli.numbers import NumberStyle
    from gradcalc.cli.render_table import TableRenderer
    from gradcalc.cli.summary import summarise

    # --no-color and NO_COLOR (any non-empty value, no-color.org) mean plain text: no colors,
    # and no bold or dim either (Rich's own NO_COLOR handling keeps those).
    plain = bool(options.no_color or os.environ.get("NO_COLOR"))
    console = Console(
        no_color=True if plain else None, highlight=False, emoji=False, width=options.width
    )
    style = NumberStyle(decimal=options.decimal, precision=options.precision)
    # Every line fits the console: --width, else Rich's (the terminal's, COLUMNS, or 80).
    renderer = TableRenderer(
        console,
        style,
        sections,
        truncate=options.steps is not None,
        plain=plain,
        width=console.width,
        direct=True,
    )
    # A Jacobian above JACOBIAN_CELLS entries is one line here, unless --show or --steps all.
    solution = summarise(solution, sections, options.steps)
    renderer.render(solution, kind)
    if options.export is not None:
        from gradcalc.cli.export import export_report

        export_report(options, renderer, solution, kind)


def render_json(solution: Solution, kind: str, sections: Sections, options: RunOptions) -> None:
    """The JSON contract: one document (one line each with ``gradcalc run`` of several specs)."""
    from gradcalc.cli.render_json import render_json as document
    from gradcalc.cli.safe_text import json_visible

    click.echo(json_visible(document(solution, one_line=options.json_lines)))


def render_markdown(solution: Solution, kind: str, sections: Sections, options: RunOptions) -> None:
    from gradcalc.cli.render_markdown import MarkdownRenderer

    _render_document(MarkdownRenderer, solution, kind, sections, options)


def render_latex(solution: Solution, kind: str, sections: Sections, options: RunOptions) -> None:
    from gradcalc.cli.render_latex import LatexRenderer

    _render_document(LatexRenderer, solution, kind, sections, options)


def _render_document(
    renderer_class: type, solution: Solution, kind: str, sections: Sections, options: RunOptions
) -> None:
    """A Markdown or LaTeX write-up (cli/render_doc.py's DocumentRenderer ``renderer_class``)."""
    from gradcalc.cli.numbers import NumberStyle
    from gradcalc.cli.safe_text import visible

    style = NumberStyle(decimal=options.decimal, precision=options.precision)
    renderer = renderer_class(style, sections, truncate=options.steps is not None)
    # LaTeX writes control characters out in its own, compilable way (render_latex.text).
    click.echo(visible(renderer.render(solution, kind)), nl=False)


def render_dot(solution: Solution, kind: str, sections: Sections, options: RunOptions) -> None:
    """A net's computational graph as Graphviz DOT text (cli/render_dot.py)."""
    from gradcalc.cli.numbers import NumberStyle
    from gradcalc.cli.render_dot import dot_graph

    style = NumberStyle(decimal=options.decimal, precision=options.precision)
    click.echo(dot_graph(solution, style, options), nl=False)


# --format's choices, in the order --help lists them.
PROBLEM_RENDERERS: dict[str, ProblemRenderer] = {
    "table": render_table,
    "json": render_json,
    "markdown": render_markdown,
    "latex": render_latex,
    "dot": render_dot,
}


def render(solution: Solution, kind: str, sections: Sections, options: RunOptions) -> None:
    """Print ``solution`` in the chosen format."""
    PROBLEM_RENDERERS[options.output_format](solution, kind, sections, options)
