"""Hostile review of symbolic entries (issue 20): untrusted formula text in specs and
submissions is refused with one located line (exit 2) within bounded time, or compared
safely; wrong formulas never pass and right ones never fail."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from nn_cli import run, spec_error

DENSE = "kind: dense\ninput: [1, 2]\nweight: symbolic 2x2\n"


def _check(tmp_path: Path, entry: str, extra: str = "", command: str = "check"):
    path = tmp_path / "spec.yaml"
    quoted = entry.replace("\\", "\\\\").replace('"', '\\"')
    path.write_text(
        DENSE + extra + f'expected:\n  output: ["{quoted}", "W_10 + 2*W_11"]\n', encoding="utf-8"
    )
    if command == "check":
        return run("check", str(path))
    return run(command, "--spec", str(path), "--no-color")


@pytest.mark.parametrize(
    "entry",
    [
        "__import__('os').system('touch PWNED')",
        "().__class__.__bases__[0].__subclasses__()",
        "lambda: 1",
        "W_00.__class__",
        "x**99999999",
        "9**9**9**9",
        "(" * 500 + "W_00" + ")" * 500,
        "W_00 + " * 400 + "1",
        "S(1)",
        "N(W_00)",
        "W₀₀",
    ],
)
def test_hostile_text_is_refused_in_place(
    tmp_path: Path, entry: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = _check(tmp_path, entry, command="dense")
    assert not (tmp_path / "PWNED").exists()
    line, column, _ = spec_error(result)
    assert (line, column) == (5, 12)


@pytest.mark.parametrize(
    "entry",
    [
        "(W_00+W_01+W_10+W_11+1)**1000",  # 10^10 terms once expanded: hung for ever
        "(W_00 + 1)**1000*(W_00 + 1)**1000*(W_00 + 1)**1000",
        "((W_00 + W_01)**30 + W_10)**30",
    ],
)
def test_huge_expansions_are_refused_fast(tmp_path: Path, entry: str) -> None:
    started = time.perf_counter()
    result = _check(tmp_path, entry, command="dense")
    _, column, message = spec_error(result)
    assert column == 12 and "expands to more than 200 terms" in message, message
    assert time.perf_counter() - started < 10


def test_pi_and_e_entries_are_refused_not_an_internal_error(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(
        "kind: dense\ninput: [1, 2]\nweight: [[pi, b], [e, 1]]\nsymbols: [b]\n", encoding="utf-8"
    )
    line, column, message = spec_error(run("dense", "--spec", str(path), "--no-color"))
    assert (line, column) == (3, 11) and "pi or e" in message


@pytest.mark.parametrize(
    "entry",
    [
        "W_00 + 2*W_01",
        "2*W_01 + W_00",
        "(W_00 + 2*W_01)*1",
        "W_00 + 2*W_01 + 0*W_11",
        "2*(W_01 + W_00/2)",
    ],
)
def test_equivalent_forms_pass(tmp_path: Path, entry: str) -> None:
    result = _check(tmp_path, entry)
    assert result.exit_code == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "entry", ["W_00 + W_01", "W_00/3 + 2*W_01", "W_00 + 2*W_01 + 10**-300", "W_00*W_01 + 2"]
)
def test_wrong_forms_fail(tmp_path: Path, entry: str) -> None:
    assert _check(tmp_path, entry).exit_code == 1


def _spec_error(tmp_path: Path, kind: str, text: str) -> tuple[int, int, str]:
    path = tmp_path / "spec.yaml"
    path.write_text(text, encoding="utf-8")
    return spec_error(run(kind, "--spec", str(path), "--no-color"))


def test_declared_symbol_that_is_a_symbolic_fields_entry_is_refused(tmp_path: Path) -> None:
    # input x_0 = W_00 while W_00 is also a weight: "∂L/∂W_00 = W_00" would be false.
    text = "kind: dense\ninput: [W_00, 1]\nsymbols: [W_00]\nweight: symbolic 2x2\n"
    line, column, message = _spec_error(tmp_path, "dense", text)
    assert (line, column) == (4, 9) and "W_00 is also declared" in message
    text = "kind: dense\ninput: [1, 2]\nweight: [[g_0, 1], [1, 1]]\nupstream: symbolic\n"
    line, column, message = _spec_error(tmp_path, "dense", text + "symbols: [g_0]\n")
    assert (line, column) == (4, 11) and "g_0 is also declared" in message


def test_role_written_g_with_a_symbolic_upstream_is_refused(tmp_path: Path) -> None:
    # The kernel's g_00 and the upstream's g_00 = ∂L/∂y_00 would be one symbol.
    text = (
        "kind: conv\ninput: [[1, 2, 3], [4, 5, 6], [7, 8, 9]]\nkernel: symbolic 2x2\n"
        "names: {kernel: g}\nupstream: symbolic\n"
    )
    line, column, message = _spec_error(tmp_path, "conv", text)
    assert (line, column) == (4, 17) and "kernel is also written 'g'" in message


def test_expanded_entries_with_many_operations_compare_exactly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two expanded 200-term entries count over 4,000 operations; they used to be compared
    at 8 fixed points, which a crafted answer can vanish at.  Now exactly."""
    import sympy

    from gradcalc.core import symbolic

    xs = sympy.symbols("x_0:16", real=True)

    def entry(shift: int) -> object:
        return sympy.Add(
            *[
                sympy.Mul(
                    *[
                        v ** (i + 1 if j == 0 else i * (j + 3) % 13 + 1)
                        for j, v in enumerate(xs[shift : shift + 15])
                    ]
                )
                for i in range(200)
            ]
        )

    left, right = entry(0), entry(1)
    assert sympy.count_ops(left - right) > 4000
    monkeypatch.setattr(symbolic, "CHECK_POINTS", 0)  # any use of points would say "equal"
    assert not symbolic.equal(left, right)
    assert symbolic.equal(left, right + left - right)


def test_latex_names_are_faithful_and_compile(tmp_path: Path) -> None:
    """SymPy typesets a__b as the power a^{b}, and W_0_0 as W_{0 0}: W_{00} on the page."""
    import sympy
    from tex import assert_compiles

    from gradcalc.core import symbolic

    def shown(name: str) -> str:
        return symbolic.latex(2 * sympy.Symbol(name, real=True) ** 2)

    assert shown("W_0_0") != shown("W_00") and "W_{0,0}" in shown("W_0_0")
    assert "^{b}" not in shown("a__b") and r"a\_\_b" in shown("a__b")
    assert shown("beta") == r"2 \beta^{2}" and shown("x_1") == "2 x_{1}^{2}"
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "kind: dense\ninput: [a__b, x_10_2]\nsymbols: [a__b, x_10_2, beta, E, I, lamda]\n"
        "weight: [[beta, E], [I, lamda]]\n",
        encoding="utf-8",
    )
    result = run("dense", "--spec", str(spec), "--format", "latex")
    assert result.exit_code == 0 and r"\mathit{a\_\_b}" in result.stdout
    assert "a^{b}" not in result.stdout
    assert_compiles(tmp_path, result.stdout)


def test_symbol_names_with_a_middle_dot_are_refused(tmp_path: Path) -> None:
    """'w·x' is a Python name, and a table showed its entries as y_0 = W_00·w·x_0."""
    text = 'kind: dense\ninput: symbolic 2\nnames: {input: "w·x"}\nweight: [[2, 1], [1, 1]]\n'
    line, _, message = _spec_error(tmp_path, "dense", text)
    assert line == 2 and "not a plain name" in message
    text = 'kind: dense\ninput: [b, 1]\nsymbols: ["w·x", b]\nweight: [[2, 1], [1, 1]]\n'
    line, column, message = _spec_error(tmp_path, "dense", text)
    assert (line, column) == (3, 11) and "letters, digits and _" in message


def test_submission_lookalike_name_is_an_unknown_name(tmp_path: Path) -> None:
    """A Cyrillic Х_11 printed as "given … Х_11, correct … X_11": two identical-looking
    formulas graded wrong.  Now the name is unknown, with a did-you-mean."""
    import json
    import shutil

    problems = Path(__file__).resolve().parent.parent / "problems" / "symbolic"
    shutil.copy(problems / "seed004_symbolic_input.yaml", tmp_path / "task.yaml")
    (tmp_path / "sub.yaml").write_text(
        "problem: task.yaml\nanswers:\n"
        '  output: ["X_00 - X_10 - 2*Х_11", "X_10 - X_20 - 2*X_21", "X_20 - X_30 - 2*X_31"]\n'
        '  grad_kernel: [["(X_10 + X_20 + X_11 + X_21 + X_00)**1000", 0], [0, 0]]\n'
        "  jacobian_kernel: [[X_00, X_01, X_10, X_11], [X_10, X_11, X_20, X_21], "
        "[X_20, X_21, X_30, X_31]]\n",
        encoding="utf-8",
    )
    result = run("check", str(tmp_path / "sub.yaml"), "--format", "json")
    grades = {g["name"]: g for g in json.loads(result.stdout)["files"][0]["results"]}
    assert "did you mean 'X_11'" in grades["output"]["error"]
    assert "expands to more than 200 terms" in grades["grad_kernel"]["error"]
    assert grades["jacobian_kernel"]["ok"]


def test_symbolic_size_of_thousands_of_digits_is_a_located_limit(tmp_path: Path) -> None:
    """int() of 4,300 digits or more raises: this was an internal error."""
    text = "kind: dense\ninput: [1, 2]\nweight: symbolic 2x" + "9" * 5000 + "\n"
    line, column, message = _spec_error(tmp_path, "dense", text)
    assert (line, column) == (3, 9) and "over 10^12 entries" in message


def test_expansion_work_is_bounded_per_entry_and_per_array(tmp_path: Path) -> None:
    """150 powers (a + k)**199 in one entry took 7 s to expand (200 terms in the end); a
    matrix of such entries, hours."""
    heavy = " + ".join(f"(W_00 + {k})**199" for k in range(1, 90))
    started = time.perf_counter()
    _, column, message = spec_error(_check(tmp_path, heavy, command="dense"))
    assert column == 12 and "as it is expanded" in message, message
    assert time.perf_counter() - started < 10


def test_array_work_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gradcalc.core import symbolic

    monkeypatch.setattr(symbolic, "MAX_ARRAY_WORK", 100)
    row = ", ".join(f"(b + {k})**10" for k in range(20))
    text = f"kind: dense\ninput: [{', '.join(['1'] * 20)}]\nsymbols: [b]\nweight: [[{row}]]\n"
    line, _, message = _spec_error(tmp_path, "dense", text)
    assert line == 4 and "the formulas up to here build more than 100 terms" in message
