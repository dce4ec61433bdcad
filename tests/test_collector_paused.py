"""A problem command runs with the garbage collector paused (cli/problem_command.py
run_problem_command) and leaves it as it found it, whatever the command's end."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest
from click.testing import CliRunner

from gradcalc.cli.main import main
from gradcalc.core import registry

ROOT = Path(__file__).resolve().parents[1]
NET = str(ROOT / "problems" / "net_mlp_sigmoid_mse.yaml")


@pytest.mark.parametrize("enabled", [True, False])
@pytest.mark.parametrize("spec", [NET, str(ROOT / "nope.yaml")])
def test_the_collector_is_paused_during_a_command_and_restored(
    monkeypatch: pytest.MonkeyPatch, enabled: bool, spec: str
) -> None:
    seen: list[bool] = []
    solve = registry.solve

    def watched(*args, **kwargs):
        seen.append(gc.isenabled())
        return solve(*args, **kwargs)

    monkeypatch.setattr(registry, "solve", watched)
    was = gc.isenabled()
    (gc.enable if enabled else gc.disable)()
    try:
        done = CliRunner().invoke(main, ["net", "--spec", spec, "--format", "json"])
        after = gc.isenabled()
    finally:
        (gc.enable if was else gc.disable)()
    assert after is enabled
    assert seen == ([False] if spec == NET else [])
    assert done.exit_code == (0 if spec == NET else 2)
