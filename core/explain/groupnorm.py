"""The explanation of a groupnorm problem (PyTorch GroupNorm): each sample's group of channels
normalized over its entries, the backward pass node by node and in its compact form
(core/explain/normalization.py and normalization_backward.py)."""

from __future__ import annotations

from gradcalc.core.explain.normalization import NormExplainer
from gradcalc.core.explain.normalization_backward import NormBackward
from gradcalc.core.kinds.groupnorm import SECTIONS
from gradcalc.core.words import count_words, entries


class Explainer(NormBackward, NormExplainer):
    """Group norm: a group is one sample's C/G consecutive channels (and their H·W)."""

    SECTIONS = SECTIONS

    def axes_words(self) -> str:
        p = self.p
        channels = p.input.shape[1]
        per = channels // p.groups
        spatial = p.op_shape[3]
        where = f"its C/G = {count_words(per, 'channel')}" + (
            f" × {spatial} positions" if spatial > 1 else ""
        )
        return (
            f"num_groups = {p.groups}: the C = {channels} channel{'s' * (channels > 1)} form "
            f"{p.groups} group{'s' * (p.groups > 1)} of {per} consecutive "
            f"channel{'s' * (per > 1)}; each sample's group is normalized over {where}, "
            f"M = {entries(self.m)} (μ and σ² are indexed sample, group); γ and β are per channel"
        )

    def problem_words(self) -> str:
        return "y = γ_c·(x − μ)/√(σ² + ε) + β_c, μ and σ² over each sample's group of channels"
