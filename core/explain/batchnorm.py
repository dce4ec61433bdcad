"""The explanation of a batchnorm problem (PyTorch BatchNorm1d/2d): each feature's statistics
over the batch, the backward pass node by node and in its compact form, and the running
statistics (core/explain/normalization.py and normalization_backward.py)."""

from __future__ import annotations

from gradcalc.core.explain.normalization import NormExplainer
from gradcalc.core.explain.normalization_backward import NormBackward
from gradcalc.core.kinds.batchnorm import SECTIONS
from gradcalc.core.words import count_words, entries


class Explainer(NormBackward, NormExplainer):
    """Batch norm: a group is one feature (channel) over the batch."""

    SECTIONS = SECTIONS

    def axes_words(self) -> str:
        p = self.p
        if p.input.ndim == 2:
            where = f"its N = {count_words(self.m, 'sample')} (axis 0, BatchNorm1d)"
        else:
            n, _, h, w = p.input.shape
            where = f"its N·H·W = {n}·{h}·{w} = {entries(self.m)} (axes 0, 2, 3, BatchNorm2d)"
        if not p.training:
            return (
                "training: false (evaluation): each feature is normalized with running_mean "
                "and running_var (as given, else PyTorch's initial 0 and 1), an affine map of x "
                "with no batch statistics"
            )
        return (
            f"training: true: each of the C = {p.input.shape[1]} features is normalized over "
            f"{where}, with the batch's own mean and variance"
        )

    def problem_words(self) -> str:
        p = self.p
        if p.training:
            return (
                "y = γ·(x − μ)/√(σ² + ε) + β per feature, μ and σ² over the batch; the running "
                f"statistics move by momentum = {float(p.momentum):g} toward μ and the unbiased "
                "variance"
            )
        return "y = γ·(x − running_mean)/√(running_var + ε) + β per feature (evaluation)"
