"""The identities section of a conv_transpose explanation, for 1-D, 2-D and 3-D alike.

"conv_transpose forward = the input-gradient of conv", checked by building that conv's
input-gradient from the conv op's forward pass on unit images or volumes (never the scatter
the run used), and the adjoint identity Σ ∂L/∂Y ⊙ (Y − b) = Σ X ⊙ ∂L/∂X. Formulas are
compared by expanding their difference (SymPy, imported only for them): unexpanded sums of
products of the same polynomial are not equal as trees.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np

from gradcalc.core.explain import Note, Section, sentence
from gradcalc.core.explain.pieces import same
from gradcalc.core.values import holds_formulas

# The identity is checked entry by entry (one unit image or volume through conv per output
# entry of a group) while those units × (their entries + the work of one pass) stays below this.
IDENTITY_WORK = 1_000_000


class AdjointIdentities:
    """``section_identities`` of a conv_transpose explainer; the explainer supplies
    ``_identity_words`` (through :meth:`identity_statement`) and
    ``_by_conv_input_gradient(x, w)`` (the conv's input-gradient built on unit inputs)."""

    t: Any
    c: Any
    p: Any
    x: np.ndarray
    w: np.ndarray
    up: np.ndarray
    bias: np.ndarray | None
    X: str
    K: str
    Y: str
    L: str
    B: str

    def section_identities(self) -> Section:
        section = Section("identities", "Compact identities")
        section.add(Note(self._identity_words()))
        section.add(self._adjoint_sentence())
        return section

    def identity_statement(self, conv: str, unit_input: str, units: str, spatial: int) -> str:
        """The identity in words, and whether it was rebuilt entry for entry.

        ``conv`` names the conv ("conv2d"), ``unit_input`` what it convolves ("3×3 image U"),
        ``units`` the unit inputs ("unit images"), ``spatial`` the entries of one output channel.
        """
        statement = (
            f"conv_transpose forward = the input-gradient of conv: {self.Y}"
            + (f" − {self.B}" if self.p.bias is not None else "")
            + f" is ∂(Σ {self.X} ⊙ {conv}(U, {self.K}))/∂U, the gradient that a {conv} of a "
            f"{unit_input} (stride, padding, dilation and groups as here) sends "
            f"back to U when {self.X} is its upstream"
            + (" (extended by zeros to that conv's larger output)" if self.conv_is_larger() else "")
        )
        count = self.t.out_per_group * spatial
        if count * (count + self.t.work) > IDENTITY_WORK:
            return statement + "; not rebuilt entry by entry at this size (the sum below checks it)"
        if agree(self._rebuilt(), self._without_bias(), self.c.exact):
            return statement + f": ✓ rebuilt from {conv}'s outputs on {units}, entry for entry"
        return (
            statement + ": ✗ the rebuilt input-gradient DOES NOT equal the output (please report)"
        )

    def _without_bias(self) -> np.ndarray:
        """The output (N×C_out×…) less its bias, formulas expanded."""
        output = self.c.output
        if self.bias is None:
            return output
        if self.bias.ndim == 1:  # one bias per output channel
            return expanded_formulas(output - self.bias.reshape((1, -1) + (1,) * (output.ndim - 2)))
        return expanded_formulas(output - self.bias)

    def _rebuilt(self) -> np.ndarray:
        """``_by_conv_input_gradient``, on SymPy's polynomials when the operands hold formulas
        (fast, and expanded as the run's results are)."""
        if not holds_formulas(self.x, self.w):
            return self._by_conv_input_gradient(self.x, self.w)
        from gradcalc.core import symbolic

        return symbolic.evaluate(self._by_conv_input_gradient, self.x, self.w)

    def _adjoint_sentence(self) -> Note:
        """Σ ∂L/∂Y ⊙ (Y − b) = Σ X ⊙ ∂L/∂X: the scatter and the convolution are adjoint."""
        zero = Fraction(0) if self.c.exact else 0.0
        left = expanded_formulas(sum((self.up * self._without_bias()).ravel(), zero))
        right = expanded_formulas(sum((self.x * self.c.grad_input).ravel(), zero))
        bias = f" − {self.B}" if self.p.bias is not None else ""
        return sentence(
            f"adjoint check: Σ ∂{self.L}/∂{self.Y} ⊙ "
            + (f"({self.Y}{bias})" if bias else self.Y)
            + " = ",
            left,
            f" and Σ {self.X} ⊙ ∂{self.L}/∂{self.X} = ",
            right,
            ": "
            + (
                "equal ✓ (the scatter and the convolution are each other's transpose)"
                if agree(left, right, self.c.exact)
                else "NOT equal ✗ (please report)"
            ),
        )


def expanded_formulas(values):
    """``values`` (an array or one entry) with its formulas expanded, as results are (a sum
    of products of formulas is otherwise left unexpanded); numbers as they are."""
    if not holds_formulas(values):
        return values
    from gradcalc.core import symbolic

    tidied = symbolic.tidy(values)
    return tidied[()] if not isinstance(values, np.ndarray) else tidied


def agree(left, right, exact: bool) -> bool:
    """Two arrays (or entries) agree: formulas when their difference expands to 0, numbers
    as pieces.same compares them."""
    if holds_formulas(left, right):
        from gradcalc.core import symbolic

        pairs = zip(np.ravel(left).tolist(), np.ravel(right).tolist(), strict=True)
        return all(symbolic.equal(a, b) for a, b in pairs)
    if np.ndim(left) == 0:
        return left == right if exact else abs(left - right) <= 1e-9 * max(1.0, abs(left))
    return same(left, right, exact)
