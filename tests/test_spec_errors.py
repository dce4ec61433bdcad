"""Every class of bad input: exit 2, one line `FILE:LINE:COL: message` on stderr, no traceback.

Specs are written into ``tmp_path``; LINE:COL must point at the offending YAML
node (or key), so each spec puts that node on a line of its own choosing.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from child_process import run_with_open_stdin
from click.testing import CliRunner

from gradcalc.cli.main import main
from gradcalc.core import registry

GOOD = "input: [[1, 2], [3, 4]]\nkernel: [[1]]\n"


# ---------------------------------------------------------------------------
# Helpers


def write(tmp_path: Path, content: str | bytes, name: str = "spec.yaml") -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def run_cli(*args: str):
    return CliRunner().invoke(main, ["conv", *args])


def assert_one_line_error(
    exit_code: int,
    stdout: str,
    stderr: str,
    source: str,
    *,
    line: int | None = None,
    column: int | None = None,
    positioned: bool | None = None,
    contains: tuple[str, ...] = (),
) -> str:
    """Exit 2, nothing on stdout, exactly one stderr line ``SOURCE[:LINE:COL]: message``.

    ``line``/``column`` (when given) must match; ``positioned=False`` requires
    no position (there is no node to point at); ``contains`` are substrings the
    message must hold (case-insensitive).  Returns the message.
    """
    assert "Traceback" not in stderr, stderr
    assert exit_code == 2, f"exit {exit_code}; stderr: {stderr!r}"
    assert stdout == "", f"stdout should be empty on an error, got {stdout[:200]!r}"
    assert stderr.endswith("\n") and stderr.count("\n") == 1, (
        f"expected exactly one line on stderr, got {stderr!r}"
    )
    text = stderr.rstrip("\n")
    match = re.fullmatch(re.escape(source) + r"(?::(\d+):(\d+))?: (.+)", text)
    assert match, f"not of the form {source}:LINE:COL: message -> {text!r}"
    got_line, got_column, message = match.groups()
    assert "internal error" not in message, f"a spec error must not be reported as a bug: {text!r}"
    if line is not None or positioned:
        assert got_line is not None, f"no LINE:COL in {text!r}"
    if positioned is False:
        assert got_line is None, f"unexpected position in {text!r}"
    if line is not None:
        assert int(got_line) == line, f"line {got_line}, expected {line}: {text!r}"
    if column is not None:
        assert int(got_column) == column, f"column {got_column}, expected {column}: {text!r}"
    for piece in contains:
        assert piece.lower() in message.lower(), f"{piece!r} not in {message!r}"
    return message


def check_spec(
    tmp_path: Path,
    content: str | bytes,
    *args: str,
    line: int | None = None,
    column: int | None = None,
    positioned: bool | None = None,
    contains: tuple[str, ...] = (),
) -> str:
    path = write(tmp_path, content)
    result = run_cli("--spec", str(path), *args)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"uncaught {type(result.exception).__name__}: {result.exception}")
    return assert_one_line_error(
        result.exit_code,
        result.stdout,
        result.stderr,
        str(path),
        line=line,
        column=column,
        positioned=positioned,
        contains=contains,
    )


def children_cpu_seconds() -> float:
    """CPU time used so far by finished child processes (wall time where that is unavailable)."""
    try:
        import resource
    except ImportError:  # not on Unix
        return time.monotonic()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_subprocess(
    args: list[str], timeout: float, cwd: Path | None = None
) -> tuple[subprocess.CompletedProcess | None, float]:
    """Run ``python -m gradcalc.cli`` with ``args`` and a wall-clock ``timeout``.

    Returns (result, CPU seconds the run used), or (None, wall seconds) on a
    timeout.  Speed is judged by CPU time, so a busy machine does not make
    the tests flaky; the timeout only catches hangs.
    """
    env = {k: v for k, v in os.environ.items() if k != "FORCE_COLOR"}
    start, cpu_start = time.monotonic(), children_cpu_seconds()
    try:
        completed = subprocess.run(
            [sys.executable, "-m", "gradcalc.cli", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=cwd,
            env=env,
        )
    except subprocess.TimeoutExpired:
        return None, time.monotonic() - start
    return completed, children_cpu_seconds() - cpu_start


def test_good_spec_is_fine(tmp_path: Path) -> None:
    """The baseline the bad specs below are variations of."""
    result = run_cli("--spec", str(write(tmp_path, GOOD)))
    assert result.exit_code == 0, result.stderr


# ---------------------------------------------------------------------------
# YAML and document shape


def test_yaml_syntax_error_bad_indentation(tmp_path: Path) -> None:
    check_spec(
        tmp_path, "input: [[1, 2]]\nkernel: [[1]]\n  stride: 1\n", line=3, contains=("YAML",)
    )


def test_yaml_syntax_error_tab(tmp_path: Path) -> None:
    check_spec(tmp_path, "input: [[1, 2]]\n\tkernel: [[1]]\n", line=2, column=1, contains=("YAML",))


def test_yaml_syntax_error_unclosed_bracket(tmp_path: Path) -> None:
    # The parser notices the missing ']' where the next key starts.
    check_spec(
        tmp_path, "input: [[1, 2]]\nkernel: [[1, 0]\nstride: 1\n", line=3, contains=("YAML",)
    )


def test_two_documents(tmp_path: Path) -> None:
    check_spec(tmp_path, "input: [[1]]\nkernel: [[1]]\n---\ninput: [[1]]\n", line=3)


def test_document_is_a_list(tmp_path: Path) -> None:
    check_spec(
        tmp_path, "# a comment first\n- 1\n- 2\n", line=2, column=1, contains=("mapping", "list")
    )


def test_document_is_a_scalar(tmp_path: Path) -> None:
    check_spec(tmp_path, "# a comment first\n42\n", line=2, column=1, contains=("mapping",))


def test_document_is_a_string(tmp_path: Path) -> None:
    check_spec(tmp_path, "just some words\n", line=1, column=1, contains=("mapping",))


def test_empty_file(tmp_path: Path) -> None:
    check_spec(tmp_path, "", line=1, column=1, contains=("empty",))  # a whole-file error: 1:1


def test_comments_only(tmp_path: Path) -> None:
    check_spec(tmp_path, "# nothing here\n# at all\n", line=1, column=1, contains=("empty",))


# ---------------------------------------------------------------------------
# kind and keys


def test_kind_naming_another_command(tmp_path: Path) -> None:
    others = [kind for kind in registry.known_kinds() if kind != "conv"]
    if not others:
        pytest.skip("conv is the only command so far")
    other = others[0]
    check_spec(
        tmp_path,
        f"input: [[1]]\nkernel: [[1]]\nkind: {other}\n",
        line=3,
        column=7,
        contains=(other, f"gradcalc {other}"),
    )


def test_unknown_kind(tmp_path: Path) -> None:
    check_spec(
        tmp_path,
        "input: [[1]]\nkernel: [[1]]\nkind: banana\n",
        line=3,
        column=7,
        contains=("banana", "conv"),
    )


def test_kind_not_text(tmp_path: Path) -> None:
    check_spec(
        tmp_path, "input: [[1]]\nkernel: [[1]]\nkind: 3\n", line=3, column=7, contains=("kind",)
    )


@pytest.mark.parametrize(
    ("typo", "meant"),
    [
        ("kernal", "kernel"),
        ("strid", "stride"),
        ("paddng", "padding"),
        ("flip_kernal", "flip_kernel"),
        ("upstrem", "upstream"),
    ],
)
def test_unknown_key_suggests(tmp_path: Path, typo: str, meant: str) -> None:
    text = f"input: [[1, 2], [3, 4]]\nkernel: [[1]]\n{typo}: 1\n"
    message = check_spec(tmp_path, text, line=3, column=1, contains=(typo,))
    assert f"did you mean '{meant}'" in message


def test_unknown_key_prefix_suggests(tmp_path: Path) -> None:
    message = check_spec(tmp_path, GOOD + "flip: true\n", line=3, column=1, contains=("flip",))
    assert "did you mean 'flip_kernel'" in message


def test_unknown_key_without_suggestion_reads_well(tmp_path: Path) -> None:
    message = check_spec(tmp_path, GOOD + "zzz: 1\n", line=3, column=1, contains=("zzz", "allowed"))
    assert re.search(r"'conv'[.;:,]\s+Allowed", message), message


def test_unknown_key_kernal_instead_of_kernel(tmp_path: Path) -> None:
    """The one in the brief: the misspelt key replaces the real one (so 'kernel' is also missing)."""
    message = check_spec(tmp_path, "input: [[1, 2]]\nkernal: [[1]]\n", line=2, column=1)
    assert "did you mean 'kernel'" in message


def test_unknown_name_role(tmp_path: Path) -> None:
    check_spec(
        tmp_path,
        "input: [[1]]\nkernel: [[1]]\nnames: {input: X, outptu: Y}\n",
        line=3,
        column=19,
        contains=("outptu", "output"),
    )


def test_unknown_tolerance_key(tmp_path: Path) -> None:
    check_spec(
        tmp_path,
        "input: [[1]]\nkernel: [[1]]\ntolerance: {atl: 1}\n",
        line=3,
        column=13,
        contains=("atl", "atol"),
    )


def test_non_text_key_points_at_the_key(tmp_path: Path) -> None:
    check_spec(tmp_path, "input: [[1]]\nkernel: [[1]]\n1: 2\n", line=3, column=1, contains=("key",))


def test_non_text_key_is_an_error(tmp_path: Path) -> None:
    check_spec(tmp_path, "input: [[1]]\nkernel: [[1]]\n1: 2\n", positioned=True, contains=("key",))


def test_duplicate_key(tmp_path: Path) -> None:
    check_spec(
        tmp_path,
        "input: [[1]]\nkernel: [[1]]\ninput: [[2]]\n",
        line=3,
        column=1,
        contains=("duplicate", "input"),
    )


def test_duplicate_nested_key(tmp_path: Path) -> None:
    text = "input: [[1]]\nkernel: [[1]]\nexpected:\n  output: [[1]]\n  output: [[1]]\n"
    check_spec(tmp_path, text, line=5, column=3, contains=("duplicate", "output"))


def test_missing_input(tmp_path: Path) -> None:
    check_spec(tmp_path, "kernel: [[1]]\nstride: 1\n", contains=("'input'",))


def test_missing_kernel(tmp_path: Path) -> None:
    check_spec(tmp_path, "input: [[1]]\nstride: 1\n", contains=("'kernel'",))


# ---------------------------------------------------------------------------
# Matrices and entries


def test_ragged_matrix(tmp_path: Path) -> None:
    check_spec(
        tmp_path,
        "input:\n  - [1, 2]\n  - [3]\nkernel: [[1]]\n",
        line=3,
        column=5,
        contains=("length",),
    )


def test_ragged_nesting(tmp_path: Path) -> None:
    check_spec(tmp_path, "input:\n  - [1, 2]\n  - [3, [4]]\nkernel: [[1]]\n", line=3, column=9)


def test_too_deep_input(tmp_path: Path) -> None:
    check_spec(tmp_path, "kernel: [[1]]\ninput: [[[[[1]]]]]\n", line=2, column=8, contains=("5",))


def test_too_deep_kernel(tmp_path: Path) -> None:
    check_spec(tmp_path, "input: [[1]]\nkernel: [[[[[1]]]]]\n", line=2, column=9, contains=("5",))


def test_input_not_a_matrix(tmp_path: Path) -> None:
    check_spec(tmp_path, "kernel: [[1]]\ninput: 3\n", line=2, column=8, contains=("input",))


def test_empty_matrix(tmp_path: Path) -> None:
    check_spec(tmp_path, "kernel: [[1]]\ninput: [[]]\n", line=2, column=8, contains=("empty",))


@pytest.mark.parametrize(
    "entry",
    [
        "abc",
        "true",
        "false",
        "null",
        "~",
        ".nan",
        ".NaN",
        ".inf",
        "-.inf",
        '"nan"',
        '"inf"',
        '"-Infinity"',
        '"1/0"',
        '""',
    ],
)
def test_bad_entry(tmp_path: Path, entry: str) -> None:
    # "  - [3, X]": X starts in column 9.
    check_spec(tmp_path, f"kernel: [[1]]\ninput:\n  - [1, 2]\n  - [3, {entry}]\n", line=4, column=9)


def test_boolean_entry_message(tmp_path: Path) -> None:
    check_spec(
        tmp_path, "kernel: [[1]]\ninput: [[1, true]]\n", line=2, column=13, contains=("boolean",)
    )


def test_null_entry_message(tmp_path: Path) -> None:
    check_spec(
        tmp_path, "kernel: [[1]]\ninput: [[1, null]]\n", line=2, column=13, contains=("null",)
    )


def test_nan_entry_message(tmp_path: Path) -> None:
    check_spec(
        tmp_path, "kernel: [[1]]\ninput: [[1, .nan]]\n", line=2, column=13, contains=("finite",)
    )


def test_bad_entry_in_kernel_bias_upstream(tmp_path: Path) -> None:
    check_spec(tmp_path, "input: [[1, 2]]\nkernel: [[.inf]]\n", line=2, column=11)
    check_spec(
        tmp_path,
        "input: [[1, 2]]\nkernel: [[1]]\nbias: abc\n",
        line=3,
        column=7,
        contains=("bias",),
    )
    check_spec(
        tmp_path, "input: [[1, 2]]\nkernel: [[1]]\nupstream: [[1, .nan]]\n", line=3, column=16
    )
    check_spec(
        tmp_path,
        "input: [[1, 2]]\nkernel: [[1]]\nexpected:\n  output: [[1, true]]\n",
        line=4,
        column=16,
    )


# ---------------------------------------------------------------------------
# Hyper-parameters


def test_stride_zero(tmp_path: Path) -> None:
    check_spec(tmp_path, GOOD + "stride: 0\n", line=3, column=9, contains=("stride", "1"))


def test_stride_pair_zero(tmp_path: Path) -> None:
    check_spec(tmp_path, GOOD + "stride: [1, 0]\n", line=3, column=13, contains=("stride",))


def test_stride_negative(tmp_path: Path) -> None:
    check_spec(tmp_path, GOOD + "stride: -2\n", line=3, column=9, contains=("stride",))


def test_stride_fractional(tmp_path: Path) -> None:
    check_spec(tmp_path, GOOD + "stride: 1.5\n", line=3, column=9, contains=("stride",))


def test_stride_list_of_three(tmp_path: Path) -> None:
    check_spec(tmp_path, GOOD + "stride: [1, 1, 1]\n", line=3, column=9, contains=("stride",))


def test_dilation_zero(tmp_path: Path) -> None:
    check_spec(tmp_path, GOOD + "dilation: 0\n", line=3, column=11, contains=("dilation", "1"))


def test_dilation_pair_zero(tmp_path: Path) -> None:
    check_spec(tmp_path, GOOD + "dilation: [0, 1]\n", line=3, column=12, contains=("dilation",))


def test_negative_padding_int(tmp_path: Path) -> None:
    check_spec(tmp_path, GOOD + "padding: -1\n", line=3, column=10, contains=("padding", "0"))


def test_negative_padding_pair_element(tmp_path: Path) -> None:
    check_spec(tmp_path, GOOD + "padding: [0, -1]\n", line=3, column=14, contains=("padding",))


def test_negative_padding_quad_element(tmp_path: Path) -> None:
    check_spec(
        tmp_path, GOOD + "padding: [0, 0, 0, -2]\n", line=3, column=20, contains=("padding",)
    )


def test_negative_padding_block_list(tmp_path: Path) -> None:
    check_spec(
        tmp_path, GOOD + "padding:\n  - 1\n  - -3\n", line=5, column=5, contains=("padding",)
    )


def test_padding_list_of_three(tmp_path: Path) -> None:
    check_spec(tmp_path, GOOD + "padding: [1, 2, 3]\n", line=3, column=10, contains=("padding",))


def test_padding_boolean(tmp_path: Path) -> None:
    check_spec(tmp_path, GOOD + "padding: true\n", line=3, column=10, contains=("padding",))


def test_padding_same_with_stride_2(tmp_path: Path) -> None:
    check_spec(
        tmp_path,
        GOOD + "stride: 2\npadding: same\n",
        line=4,
        column=10,
        contains=("same", "stride"),
    )


def test_padding_same_with_stride_pair(tmp_path: Path) -> None:
    check_spec(
        tmp_path,
        GOOD + "stride: [1, 2]\npadding: same\n",
        line=4,
        column=10,
        contains=("same", "stride"),
    )


def test_unknown_padding_word(tmp_path: Path) -> None:
    check_spec(
        tmp_path, GOOD + "padding: half\n", line=3, column=10, contains=("half", "valid", "same")
    )


def test_flip_kernel_not_boolean(tmp_path: Path) -> None:
    check_spec(tmp_path, GOOD + "flip_kernel: 1\n", line=3, column=14, contains=("true",))


def test_index_base_two(tmp_path: Path) -> None:
    check_spec(tmp_path, GOOD + "index_base: 2\n", line=3, column=13, contains=("index_base",))


def test_negative_tolerance(tmp_path: Path) -> None:
    check_spec(tmp_path, GOOD + "tolerance: -1\n", line=3, column=12, contains=("tolerance",))


# ---------------------------------------------------------------------------
# Shapes that do not fit together


def test_kernel_larger_than_input(tmp_path: Path) -> None:
    check_spec(
        tmp_path,
        "input: [[1, 2]]\nkernel: [[1, 2], [3, 4]]\n",
        line=2,
        column=9,
        contains=("kernel",),
    )


def test_dilated_kernel_larger_than_padded_input(tmp_path: Path) -> None:
    text = "input: [[1, 2, 3]]\nkernel: [[1, 2]]\ndilation: [1, 5]\npadding: [0, 1]\n"
    check_spec(tmp_path, text, line=2, column=9, contains=("kernel",))


def test_kernel_fits_only_with_padding(tmp_path: Path) -> None:
    """The same kernel fits once padding makes room (a boundary, not an error)."""
    path = write(tmp_path, "input: [[1, 2]]\nkernel: [[1, 2], [3, 4]]\npadding: [1, 0]\n")
    result = run_cli("--spec", str(path))
    assert result.exit_code == 0, result.stderr


def test_channel_mismatch(tmp_path: Path) -> None:
    check_spec(
        tmp_path,
        "input: [[[1, 2]], [[3, 4]]]\nkernel: [[[1]]]\n",
        line=2,
        column=9,
        contains=("channel",),
    )


def test_channel_mismatch_4d(tmp_path: Path) -> None:
    text = "input: [[[[1, 2]], [[3, 4]]]]\nkernel: [[[[1]], [[2]], [[3]]]]\n"
    check_spec(tmp_path, text, line=2, column=9, contains=("channel",))


def test_bias_length_mismatch(tmp_path: Path) -> None:
    text = "input: [[1, 2]]\nkernel: [[[[1]]], [[[2]]]]\nbias: [1, 2, 3]\n"
    check_spec(tmp_path, text, line=3, column=7, contains=("bias", "3", "2"))


def test_bias_matrix(tmp_path: Path) -> None:
    check_spec(
        tmp_path,
        "input: [[1, 2]]\nkernel: [[1]]\nbias: [[1]]\n",
        line=3,
        column=7,
        contains=("bias",),
    )


def test_upstream_wrong_shape(tmp_path: Path) -> None:
    check_spec(
        tmp_path,
        "input: [[1, 2]]\nkernel: [[1]]\nupstream: [[1, 2, 3]]\n",
        line=3,
        column=11,
        contains=("upstream",),
    )


def test_upstream_unknown_word(tmp_path: Path) -> None:
    check_spec(
        tmp_path,
        "input: [[1, 2]]\nkernel: [[1]]\nupstream: twos\n",
        line=3,
        column=11,
        contains=("ones",),
    )


def test_expected_wrong_shape(tmp_path: Path) -> None:
    text = "input: [[1, 2]]\nkernel: [[1]]\nexpected:\n  output: [[1]]\n"
    check_spec(tmp_path, text, line=4, column=11, contains=("output",))


def test_expected_unknown_key(tmp_path: Path) -> None:
    text = "input: [[1, 2]]\nkernel: [[1]]\nexpected:\n  outptu: [[1, 2]]\n"
    message = check_spec(tmp_path, text, line=4, column=3, contains=("outptu",))
    assert "did you mean 'output'" in message


def test_expected_grad_bias_without_bias(tmp_path: Path) -> None:
    text = "input: [[1, 2]]\nkernel: [[1]]\nexpected:\n  grad_bias: 1\n"
    check_spec(tmp_path, text, line=4, column=3, contains=("grad_bias",))


def test_expected_not_a_mapping(tmp_path: Path) -> None:
    check_spec(
        tmp_path,
        "input: [[1, 2]]\nkernel: [[1]]\nexpected: [1]\n",
        line=3,
        column=11,
        contains=("expected",),
    )


# ---------------------------------------------------------------------------
# Files


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    result = run_cli("--spec", str(path))
    assert_one_line_error(
        result.exit_code,
        result.stdout,
        result.stderr,
        str(path),
        positioned=False,
        contains=("no such file",),
    )


def test_directory(tmp_path: Path) -> None:
    result = run_cli("--spec", str(tmp_path))
    assert_one_line_error(
        result.exit_code,
        result.stdout,
        result.stderr,
        str(tmp_path),
        positioned=False,
        contains=("directory",),
    )


def test_non_utf8_bytes(tmp_path: Path) -> None:
    check_spec(
        tmp_path, b"input: [[1, 2]]\nkernel: [[\xff]]\n", line=2, column=11, contains=("UTF-8",)
    )


def test_latin1_file(tmp_path: Path) -> None:
    check_spec(
        tmp_path,
        "title: café\ninput: [[1]]\nkernel: [[1]]\n".encode("latin-1"),
        line=1,
        column=11,
        contains=("UTF-8",),
    )


def test_utf8_bom_is_fine(tmp_path: Path) -> None:
    path = write(tmp_path, "\ufeff" + GOOD)
    assert run_cli("--spec", str(path)).exit_code == 0


# ---------------------------------------------------------------------------
# Safety: tags, alias bombs, nesting, huge numbers, sizes


@pytest.mark.parametrize(
    "tag",
    [
        '!!python/object/apply:os.system ["touch {marker}"]',
        '!!python/object/new:os.system ["touch {marker}"]',
        "!!python/name:os.system",
        "!!python/module:os",
        "!!python/tuple [1, 2]",
    ],
)
def test_python_tags_are_rejected_and_never_run(tmp_path: Path, tag: str) -> None:
    marker = tmp_path / "ran"
    text = "kernel: [[1]]\ninput: " + tag.format(marker=marker) + "\n"
    check_spec(tmp_path, text, line=2, column=8, contains=("tag",))
    assert not marker.exists(), "the spec ran code"


def test_python_object_apply_echo_does_not_run(tmp_path: Path) -> None:
    """The brief's exact example, in a separate process so that its stdout is really captured."""
    path = write(tmp_path, 'input: !!python/object/apply:os.system ["echo hi"]\nkernel: [[1]]\n')
    completed, _ = run_subprocess(["conv", "--spec", str(path)], timeout=60)
    assert completed is not None
    assert "hi" not in completed.stdout
    assert_one_line_error(
        completed.returncode, completed.stdout, completed.stderr, str(path), line=1, column=8
    )


def test_other_nonstandard_tags(tmp_path: Path) -> None:
    check_spec(
        tmp_path, "kernel: [[1]]\ninput: !!set {a, b}\n", line=2, column=8, contains=("tag",)
    )
    check_spec(
        tmp_path, "kernel: [[1]]\ninput: !custom [[1]]\n", line=2, column=8, contains=("tag",)
    )


def billion_laughs(levels: int = 9, width: int = 10) -> str:
    lines = ["a0: &a0 [" + ", ".join(["1"] * width) + "]"]
    for level in range(1, levels):
        lines.append(f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * width) + "]")
    lines.append(f"input: *a{levels - 1}")
    lines.append("kernel: [[1]]")
    return "\n".join(lines) + "\n"


def test_billion_laughs_fails_fast(tmp_path: Path) -> None:
    """10⁹ values by aliases: a limit message, exit 2, within a few seconds (and no memory blow-up)."""
    path = write(tmp_path, billion_laughs())
    completed, cpu = run_subprocess(["conv", "--spec", str(path)], timeout=60)
    assert completed is not None, "an alias bomb must not hang gradcalc"
    assert completed.returncode >= 0, f"killed by signal {-completed.returncode}"
    assert_one_line_error(
        completed.returncode, completed.stdout, completed.stderr, str(path), contains=("limit",)
    )
    assert cpu < 5, f"used {cpu:.1f} s of CPU"


def test_small_alias_bomb_with_tight_limit(tmp_path: Path) -> None:
    """With --max-elements lowered, the expansion cap follows (in-process, quick)."""
    check_spec(tmp_path, billion_laughs(levels=6), "--max-elements", "100", contains=("limit",))


def test_aliases_within_limits_are_fine(tmp_path: Path) -> None:
    path = write(tmp_path, "row: &r [1, 2, 3]\ninput: [*r, *r]\nkernel: [[1]]\n")
    result = run_cli("--spec", str(path))
    # 'row' is not a conv key: the aliases resolve, then the unknown key is reported at its line.
    assert_one_line_error(
        result.exit_code,
        result.stdout,
        result.stderr,
        str(path),
        line=1,
        column=1,
        contains=("row",),
    )
    path = write(tmp_path, "input: &r [[1, 2], [3, 4]]\nkernel: *r\n")
    assert run_cli("--spec", str(path)).exit_code == 0


@pytest.mark.parametrize(
    ("name", "payload"),
    [
        ("open brackets", b"input: " + b"[" * 100_000 + b"\nkernel: [[1]]\n"),
        (
            "balanced brackets",
            b"input: " + b"[" * 100_000 + b"1" + b"]" * 100_000 + b"\nkernel: [[1]]\n",
        ),
        ("flow mappings", b"input: " + b"{a: " * 100_000 + b"1" + b"}" * 100_000 + b"\n"),
    ],
)
def test_very_deep_nesting_does_not_crash(tmp_path: Path, name: str, payload: bytes) -> None:
    path = write(tmp_path, payload)
    completed, cpu = run_subprocess(["conv", "--spec", str(path)], timeout=60)
    assert completed is not None, f"{name}: hung"
    assert completed.returncode >= 0, (
        f"{name}: the process crashed (signal {-completed.returncode})"
    )
    assert_one_line_error(completed.returncode, completed.stdout, completed.stderr, str(path))
    assert cpu < 10, f"{name}: used {cpu:.1f} s of CPU"


def test_moderately_deep_nesting(tmp_path: Path) -> None:
    """40 levels: too deep for a matrix; a clean message (in-process)."""
    check_spec(tmp_path, "kernel: [[1]]\ninput: " + "[" * 40 + "1" + "]" * 40 + "\n", line=2)


@pytest.mark.parametrize(
    "text", ['"1e999999999"', "1e999999999", '"-1E+999999999"', '"1e999999999/3"']
)
def test_huge_exponent_string(tmp_path: Path, text: str) -> None:
    start = time.process_time()
    check_spec(tmp_path, f"kernel: [[1]]\ninput: [[1, {text}]]\n", line=2, column=13)
    assert time.process_time() - start < 2


def test_huge_exponent_yaml_float_fails_fast(tmp_path: Path) -> None:
    path = write(tmp_path, "kernel: [[1]]\ninput: [[1, 1.5e-999999999]]\n")
    completed, elapsed = run_subprocess(["conv", "--spec", str(path)], timeout=30)
    assert completed is not None, f"still running after {elapsed:.1f} s"
    assert_one_line_error(
        completed.returncode, completed.stdout, completed.stderr, str(path), line=2, column=13
    )


def test_integer_with_too_many_digits(tmp_path: Path) -> None:
    check_spec(tmp_path, "kernel: [[1]]\ninput: [[1, " + "9" * 100_000 + "]]\n", line=2, column=13)


def test_integer_too_large_for_float(tmp_path: Path) -> None:
    path = write(tmp_path, "kernel: [[1]]\ninput: [[1, " + "9" * 4000 + "]]\n")
    result = run_cli("--spec", str(path), "--format", "json")
    assert "internal error" not in result.stderr, result.stderr
    assert result.exit_code in (0, 2), result.stderr
    if result.exit_code == 2:
        assert_one_line_error(
            result.exit_code, result.stdout, result.stderr, str(path), line=2, column=13
        )


@pytest.mark.parametrize("text", ['"1.5/2"', '"1e3/3"'])
def test_decimal_over_integer_text(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, f"kernel: [[1]]\ninput: [[1, {text}]]\n")
    result = run_cli("--spec", str(path))
    assert "internal error" not in result.stderr, result.stderr
    assert result.exit_code in (0, 2)
    if result.exit_code == 2:
        assert_one_line_error(
            result.exit_code, result.stdout, result.stderr, str(path), line=2, column=13
        )


OVERFLOW = 'input: [["1e300"]]\nkernel: [["1e300"]]\nbias: "1/3"\n'


def test_result_beyond_float_range_json(tmp_path: Path) -> None:
    path = write(tmp_path, OVERFLOW)
    completed, _ = run_subprocess(["conv", "--spec", str(path), "--format", "json"], timeout=60)
    assert completed is not None
    assert "Traceback" not in completed.stderr, completed.stderr[-300:]
    assert completed.returncode in (0, 2)


def test_result_beyond_float_range_decimal(tmp_path: Path) -> None:
    path = write(tmp_path, OVERFLOW)
    completed, _ = run_subprocess(
        ["conv", "--spec", str(path), "--decimal", "--show", "results"], timeout=60
    )
    assert completed is not None
    assert "Traceback" not in completed.stderr, completed.stderr[-300:]
    assert completed.returncode in (0, 2)


def test_float_overflow_json_is_valid_json(tmp_path: Path) -> None:
    import json

    path = write(tmp_path, 'input: [["1e300"]]\nkernel: [["1e300"]]\n')
    result = run_cli("--spec", str(path), "--float", "--format", "json")
    assert "Warning" not in result.stderr, result.stderr
    if result.exit_code == 2:
        assert_one_line_error(result.exit_code, result.stdout, result.stderr, str(path))
        return

    def reject(constant: str) -> None:
        raise ValueError(f"{constant} is not JSON")

    json.loads(result.stdout, parse_constant=reject)


def test_max_elements(tmp_path: Path) -> None:
    text = "kernel: [[1]]\ninput: [[1, 2, 3], [4, 5, 6]]\n"
    check_spec(
        tmp_path, text, "--max-elements", "5", line=2, column=8, contains=("--max-elements",)
    )
    path = write(tmp_path, text, "ok.yaml")
    assert run_cli("--spec", str(path), "--max-elements", "6").exit_code == 0


def test_max_elements_applies_to_every_array(tmp_path: Path) -> None:
    text = "input: [[1, 2, 3], [4, 5, 6]]\nkernel: [[1]]\nupstream: [[1, 2, 3], [4, 5, 6]]\n"
    check_spec(
        tmp_path, text, "--max-elements", "5", line=1, column=8, contains=("--max-elements",)
    )


def test_max_work(tmp_path: Path) -> None:
    check_spec(
        tmp_path,
        "kernel: [[1, 1], [1, 1]]\ninput: [[1, 2, 3], [4, 5, 6]]\n",
        "--max-work",
        "7",
        contains=("--max-work",),
    )


def test_max_jacobian_for_an_expected_jacobian(tmp_path: Path) -> None:
    text = "input: [[1, 2], [3, 4]]\nkernel: [[1]]\nexpected:\n  jacobian_kernel: [[1], [2], [3], [4]]\n"
    check_spec(tmp_path, text, "--max-jacobian", "2", line=4, contains=("--max-jacobian",))
    path = write(tmp_path, text, "ok.yaml")
    assert run_cli("--spec", str(path)).exit_code == 0


def test_default_limits_are_documented() -> None:
    result = CliRunner().invoke(main, ["conv", "--help"])
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    assert re.search(r"--max-elements\s+INTEGER.*default: 250000", text), (
        "the default --max-elements is documented"
    )


def big_flat_spec(size_bytes: int) -> bytes:
    """`input: [[1,1,1,...]]` padded to ``size_bytes``: one huge row of ones."""
    head, tail = b"kernel: [[1]]\ninput: [[", b"]]\n"
    count = (size_bytes - len(head) - len(tail) + 1) // 2
    body = b",".join([b"1"] * count)
    return head + body + tail


def test_file_above_the_byte_limit_is_rejected_at_once(tmp_path: Path) -> None:
    from gradcalc.cli.spec_loader import MAX_FILE_BYTES

    path = write(tmp_path, big_flat_spec(MAX_FILE_BYTES + 64))
    start = time.process_time()
    result = run_cli("--spec", str(path))
    assert_one_line_error(
        result.exit_code, result.stdout, result.stderr, str(path), line=1, contains=("limit",)
    )
    assert time.process_time() - start < 2


def test_spec_just_under_the_byte_limit_is_rejected_fast(tmp_path: Path) -> None:
    from gradcalc.cli.spec_loader import MAX_FILE_BYTES

    path = write(tmp_path, big_flat_spec(MAX_FILE_BYTES - 64))
    completed, elapsed = run_subprocess(["conv", "--spec", str(path)], timeout=30)
    assert completed is not None, f"still running after {elapsed:.1f} s"
    assert_one_line_error(
        completed.returncode,
        completed.stdout,
        completed.stderr,
        str(path),
        line=1,
        column=1,
        contains=("limit",),
    )


def test_traceback_flag_shows_one(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD + "stride: 0\n")
    result = run_cli("--spec", str(path), "--traceback")
    assert result.exit_code == 2
    assert "Traceback" in result.stderr
    assert result.stderr.rstrip("\n").splitlines()[-1].startswith(f"{path}:3:9: ")


# ---------------------------------------------------------------------------
# Every class of YAML error: one line with LINE:COL (conv --spec and check alike)

CONTROL_CHARACTERS = [
    # (file bytes, line, column, code point)
    (b'kind: conv\ntitle: "a\x01b"\n', 2, 10, "U+0001"),
    # LibYAML counts bytes in its error's position: the column must count characters.
    ('kind: conv\ntitle: "éé a\x01b"\n'.encode(), 2, 13, "U+0001"),
    (b"\xef\xbb\xbfkind: conv\ntitle: a\x02\n", 2, 9, "U+0002"),
    (b"kind: conv\x0b\n", 1, 11, "U+000B"),
    (b"kind: conv\ntitle: x\x7fy\n", 2, 9, "U+007F"),
    ("kind: conv\ntitle: x\x80y\n".encode(), 2, 9, "U+0080"),
    # A lone CR is a line break in YAML, as in PyYAML's marks.
    (b'kind: conv\r\ntitle: "a\rb\x0c"\n', 3, 2, "U+000C"),
    ("kind: conv\ntitle: x\ufffe\n".encode(), 2, 9, "U+FFFE"),
]


@pytest.mark.parametrize(("content", "line", "column", "code"), CONTROL_CHARACTERS)
def test_control_character_has_its_line_and_column(
    tmp_path: Path, content: bytes, line: int, column: int, code: str
) -> None:
    message = check_spec(tmp_path, content, line=line, column=column, contains=(code,))
    assert message.endswith("is not allowed in YAML; remove it (tabs and newlines are fine)")
    assert "position" not in message and "<unicode string>" not in message


@pytest.mark.parametrize("pure_python", [False, True])
def test_control_character_position_with_either_yaml_parser(
    monkeypatch: pytest.MonkeyPatch, pure_python: bool
) -> None:
    from gradcalc.cli import spec_loader, yaml_nodes

    if pure_python:
        monkeypatch.setattr(yaml_nodes, "_MemoLoader", None)
    with pytest.raises(spec_loader.SpecFileError) as caught:
        spec_loader.parse_text('kind: conv\ntitle: "ü a\x01b"\n', "x.yaml")
    assert str(caught.value) == (
        "x.yaml:2:12: control character U+0001 is not allowed in YAML; "
        "remove it (tabs and newlines are fine)"
    )


YAML_ERRORS = [
    # (name, file bytes, line, column, words the message holds)
    ("reader: control character", b'kind: conv\ntitle: "a\x01b"\n', 2, 10, ("U+0001",)),
    ("reader: bad UTF-8", b"kind: conv\ntitle: a\xff\n", 2, 9, ("UTF-8",)),
    ("reader: UTF-16 surrogate bytes", b"kind: conv\ntitle: a\xed\xa0\x80\n", 2, 9, ("UTF-8",)),
    ("scanner: tab", b"kind: conv\n\tinput: [[1]]\n", 2, 1, ("YAML", "spaces")),
    ("scanner: bad escape", b'kind: conv\ntitle: "\\x"\n', 2, 11, ("YAML",)),
    ("parser: unclosed bracket", b"kind: conv\ninput: [[1, 2]\nkernel: 1\n", 3, 1, ("YAML",)),
    ("parser: extra bracket", b"kind: conv\ninput: [1, 2]]\n", 2, 14, ("YAML",)),
    ("parser: YAML 2.0", b"%YAML 2.0\n---\nkind: conv\n", 1, 1, ("YAML",)),
    ("composer: undefined alias", b"kind: conv\ninput: *nope\n", 2, 8, ("alias",)),
    ("composer: two documents", b"kind: conv\n---\nkind: conv\n", 2, 1, ("one document",)),
    ("constructor: unknown tag", b"kind: conv\ninput: !foo 1\n", 2, 8, ("tag",)),
    ("constructor: python tag", b"kind: conv\ninput: !!python/name:os.system x\n", 2, 8, ("tag",)),
    ("constructor: key", b"kind: conv\n? [a]\n: 1\n", 2, 3, ("keys",)),
    ("constructor: duplicate", b"kind: conv\nkind: conv\n", 2, 1, ("duplicate",)),
]
CONV_HEAD = b"kind: conv\ninput: [[1]]\nkernel: [[1]]\n"
EXPECTED = b"expected: {output: [[1]]}\n"  # so that check grades it
# Standard tags on values they cannot hold: the core's number reader says what is expected.
YAML_ERRORS += [
    (
        "constructor: !!float abc",
        CONV_HEAD + b"stride: !!float abc\n" + EXPECTED,
        4,
        9,
        ("stride",),
    ),
    ('constructor: !!float ""', CONV_HEAD + b'stride: !!float ""\n' + EXPECTED, 4, 9, ("stride",)),
    (
        "constructor: !!float 1:3x",
        CONV_HEAD + b"stride: !!float 1:3x\n" + EXPECTED,
        4,
        9,
        ("stride",),
    ),
    (
        "constructor: !!bool maybe",
        CONV_HEAD + b"flip_kernel: !!bool maybe\n" + EXPECTED,
        4,
        14,
        ("true",),
    ),
]

every_yaml_error = pytest.mark.parametrize(
    ("content", "line", "column", "words"),
    [case[1:] for case in YAML_ERRORS],
    ids=[case[0] for case in YAML_ERRORS],
)


@every_yaml_error
def test_every_yaml_error_is_one_positioned_line(
    tmp_path: Path, content: bytes, line: int, column: int, words: tuple[str, ...]
) -> None:
    check_spec(tmp_path, content, line=line, column=column, contains=words)


@every_yaml_error
def test_every_yaml_error_is_one_positioned_line_in_check(
    tmp_path: Path, content: bytes, line: int, column: int, words: tuple[str, ...]
) -> None:
    path = write(tmp_path, content)
    result = CliRunner().invoke(main, ["check", "--format", "json", str(path)])
    assert result.exit_code == 2, result.output
    [report] = json.loads(result.stdout)["files"]
    error = report["error"]
    assert "\n" not in error and "internal error" not in error, error
    assert error.startswith(f"{path}:{line}:{column}: "), error
    for word in words:
        assert word.lower() in error.lower(), error


# ---------------------------------------------------------------------------
# Paths that are not regular files: refused before they are opened, never a hang

needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs (POSIX)")


@needs_fifo
def test_a_fifo_named_on_the_command_line_is_read_like_standard_input(tmp_path: Path) -> None:
    # `gradcalc run <(gradcalc random conv)`: the shell hands over a pipe with a writer.
    os.mkfifo(tmp_path / "ff.yaml")
    writer = threading.Thread(target=(tmp_path / "ff.yaml").write_text, args=(GOOD,))
    writer.start()
    result = run_with_open_stdin(["conv", "--spec", "ff.yaml"], cwd=tmp_path)
    writer.join(timeout=30)
    assert result.returncode == 0, result.stderr


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
@pytest.mark.parametrize("command", [["conv", "--spec"], ["run"]])
def test_dev_zero_is_read_only_up_to_the_size_limit(command: list[str]) -> None:
    result, cpu_seconds = run_subprocess([*command, "/dev/zero"], timeout=30)
    assert result is not None, "hung"
    assert_one_line_error(
        result.returncode,
        result.stdout,
        result.stderr,
        "/dev/zero",
        line=1,
        column=1,
        contains=("the input is larger than the limit of",),
    )
    assert cpu_seconds < 10


@pytest.mark.skipif(not os.path.exists("/dev/stdin"), reason="needs /dev/stdin")
def test_dev_stdin_as_a_path_reads_the_pipe() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "gradcalc.cli", "conv", "--spec", "/dev/stdin"],
        input=GOOD,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 0, completed.stderr


@pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="needs Unix sockets")
def test_a_socket_is_never_read(tmp_path: Path) -> None:
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(tmp_path / "s.yaml"))
        result = run_with_open_stdin(["conv", "--spec", "s.yaml"], cwd=tmp_path)
    finally:
        server.close()
    assert result.stderr == "s.yaml: not a regular file (a socket); give a .yaml file\n"


def test_dash_still_reads_standard_input() -> None:
    result = CliRunner().invoke(main, ["conv", "--spec", "-"], input=GOOD)
    assert result.exit_code == 0, result.stderr


@needs_fifo
def test_a_path_that_becomes_a_fifo_after_the_check_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gradcalc.cli import spec_loader

    regular = os.stat(write(tmp_path, GOOD))
    os.mkfifo(tmp_path / "ff.yaml")
    # os.stat sees a regular file, as if the FIFO replaced it just after the check.
    monkeypatch.setattr(spec_loader.os, "stat", lambda path: regular)
    with pytest.raises(spec_loader.SpecFileError, match=r"not a regular file \(a FIFO\)"):
        spec_loader.read_spec_bytes(str(tmp_path / "ff.yaml"))


@pytest.mark.parametrize(
    ("field", "column", "message"),
    [
        (
            "stride: 2x1",
            9,
            "stride '2x1': write [2, 1] here; allowed: a whole number or [rows, cols]",
        ),
        ("stride: 2×1", 9, "write [2, 1] here"),
        ("stride: abc", 9, "got the text 'abc'; allowed: a whole number or [rows, cols]"),
        ("stride: 2.5", 9, "expected stride, got 5/2; allowed: a whole number or [rows, cols]"),
        ("stride: [1, 2, 3]", 9, "stride is a list of 3; allowed: a whole number or [rows, cols]"),
        ("stride: [2, x]", 13, "expected stride (cols), got the text 'x'; allowed: a whole"),
        ("dilation: 1x2", 11, "dilation '1x2': write [1, 2] here"),
        ("padding: 1x0", 10, "padding '1x0': write [1, 0] here; allowed: an integer, [rows, cols]"),
        ("padding: 0.5", 10, "got 1/2; allowed: an integer, [rows, cols], [top, bottom, left"),
    ],
)
def test_pair_fields_in_a_file_say_what_is_allowed(
    tmp_path: Path, field: str, column: int, message: str
) -> None:
    """A spec file writes pairs as [h, w] ("2x1" is for inline options and `random`)."""
    path = write(tmp_path, GOOD + field + "\n")
    result = run_cli("--spec", str(path))
    text = assert_one_line_error(
        result.exit_code, result.stdout, result.stderr, str(path), line=3, column=column
    )
    assert message in text, text


def test_pool_size_in_a_file_says_how_to_write_a_pair(tmp_path: Path) -> None:
    spec = "kind: pool\nmode: max\ninput: [[1, 2], [3, 4]]\nsize: 1x2\n"
    result = CliRunner().invoke(main, ["pool", "--spec", str(write(tmp_path, spec))])
    assert result.exit_code == 2
    assert "size '1x2': write [1, 2] here; allowed: an integer, [kh, kw] or \"global\"" in (
        result.stderr
    )


def test_a_name_role_with_spaces_says_which_role(tmp_path: Path) -> None:
    message = check_spec(
        tmp_path, GOOD + 'names: {" input": X}\n', line=3, contains=("did you mean 'input'",)
    )
    assert "(without the spaces)" in message


def test_a_kind_key_with_spaces_says_kind(tmp_path: Path) -> None:
    path = write(tmp_path, '" kind": conv\n' + GOOD)
    result = CliRunner().invoke(main, ["run", str(path)])
    message = assert_one_line_error(
        result.exit_code, result.stdout, result.stderr, str(path), line=1, column=1
    )
    assert "did you mean 'kind' (without the spaces)?" in message
