"""The explanation of a layernorm problem (PyTorch LayerNorm): each leading entry's statistics
over the normalized axes, the backward pass node by node and in its compact form
(core/explain/normalization.py and normalization_backward.py)."""

from __future__ import annotations

from gradcalc.core.explain.normalization import NormExplainer
from gradcalc.core.explain.normalization_backward import NormBackward
from gradcalc.core.kinds.layernorm import SECTIONS
from gradcalc.core.words import entries


class Explainer(NormBackward, NormExplainer):
    """Layer norm: a group is one entry of the leading axes over the normalized ones."""

    SECTIONS = SECTIONS

    def axes_words(self) -> str:
        p = self.p
        lead = p.input.ndim - len(p.axes)
        normalized = list(p.input.shape[lead:])
        axes = ", ".join(str(a) for a in p.axes)
        rows = f"each of the {p.groups} leading entr{'ies' if p.groups != 1 else 'y'}"
        return (
            f"normalized_shape {normalized}: {rows} is normalized over the last "
            f"{len(p.axes)} ax{'es' if len(p.axes) != 1 else 'is'} (axes {axes}), its M = "
            f"{entries(self.m)}; γ and β have one entry per normalized position"
        )

    def problem_words(self) -> str:
        return (
            "y = γ·(x − μ)/√(σ² + ε) + β, μ and σ² over the normalized axes of each leading entry"
        )
