"""Reading an attention spec's ``mask`` and ``causal`` keys (core/kinds/attention.py), as
PyTorch's F.scaled_dot_product_attention takes ``attn_mask`` and ``is_causal``:

- a mask of true/false is a boolean mask: true = the query may attend that key;
- a mask of numbers is added to the scores (an additive float mask);
- either is broadcast to the scores' shape B×L×S (NumPy/PyTorch broadcasting);
- ``causal: true`` lets query i attend keys j ≤ i (``torch.ones(L, S).tril()``: top-left
  aligned when L ≠ S), and, as PyTorch, is refused together with a mask;
- a row of the scores that may attend no key is refused: its softmax is 0/0.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from gradcalc.core import spec as common
from gradcalc.core.errors import SpecError
from gradcalc.core.kinds.fields import read_array
from gradcalc.core.values import describe, parse_bool


def read_causal(spec: Mapping[str, Any]) -> bool:
    """causal: true or false (default false)."""
    if spec.get("causal") is None:
        return False
    return parse_bool(spec["causal"], ("causal",))


def _has_boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return True
    if isinstance(value, (list, tuple)):
        return any(_has_boolean(item) for item in value)
    return False


def _as_numbers(value: Any, path: tuple) -> Any:
    """A boolean mask as 1/0 (read as a tensor for its shape checks); an entry that is not
    true or false is refused where it is written."""
    if isinstance(value, (list, tuple)):
        return [_as_numbers(item, (*path, i)) for i, item in enumerate(value)]
    if not isinstance(value, bool):
        raise SpecError(
            path,
            f"a boolean mask holds true or false only (true = may attend), got "
            f"{describe(value)}; a mask of numbers is added to the scores instead",
        )
    return int(value)


def read_mask(
    spec: Mapping[str, Any], score_shape: tuple[int, ...], causal: bool, limits: common.Limits
) -> tuple[np.ndarray | None, np.ndarray | None, str]:
    """(bias, allowed, mask_kind): the additive mask (object array) or None, the boolean
    B×L×S array of the entries a row attends (None: all), and "boolean", "additive",
    "causal" or "none"."""
    raw = spec.get("mask")
    length, keys = score_shape[-2:]
    if raw is None:
        if not causal:
            return None, None, "none"
        lower = np.tril(np.ones((length, keys), dtype=bool))
        return None, np.broadcast_to(lower, score_shape), "causal"
    if causal:
        raise SpecError(
            ("causal",),
            "causal: true and a mask together: PyTorch refuses both (an explicit attn_mask "
            "should not be set when is_causal=True); write the causal pattern into the mask",
        )
    boolean = _has_boolean(raw)
    if not boolean:
        _refuse_infinities(raw, ("mask",))
    written = _as_numbers(raw, ("mask",)) if boolean else raw
    ndims = tuple(range(1, len(score_shape) + 1))
    mask = read_array(written, ("mask",), ndims=ndims, what="mask", limits=limits)
    try:
        fits = np.broadcast_shapes(mask.shape, score_shape) == score_shape
    except ValueError:
        fits = False
    if not fits:
        raise SpecError(
            ("mask",),
            f"mask is {'×'.join(map(str, mask.shape))}, which does not broadcast to the scores' "
            f"shape {'×'.join(map(str, score_shape))} (…×L×S): each axis, from the last, must "
            "be the scores' size or 1",
        )
    if boolean:
        allowed = np.broadcast_to(mask.astype(int).astype(bool), score_shape)
        return None, allowed, "boolean"
    return mask, None, "additive"


def _refuse_infinities(value: Any, path: tuple) -> None:
    """An additive mask's −∞ (PyTorch's float("-inf")) refused where it is written, with
    what to write instead: a boolean mask leaves the same entries out."""
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _refuse_infinities(item, (*path, i))
        return
    text = value.strip().lower().lstrip("+-") if isinstance(value, str) else None
    if (isinstance(value, float) and np.isinf(value)) or text in ("inf", "infinity"):
        raise SpecError(
            path,
            f"an additive mask holds finite numbers, got {describe(value)}: for PyTorch's "
            "−inf (a score left out of the softmax) write a boolean mask instead, false "
            "where the query may not attend (true elsewhere)",
        )


def refuse_empty_rows(allowed: np.ndarray | None, spec: Mapping[str, Any]) -> None:
    """Refuse a row of the scores that may attend no key, at the mask's row (or the mask)."""
    if allowed is None:
        return
    empty = ~allowed.any(axis=-1)
    if not empty.any():
        return
    where = tuple(int(i) for i in np.argwhere(empty)[0])
    mask_shape = np.shape(spec["mask"]) if isinstance(spec.get("mask"), list) else ()
    # The mask's own index of that row: its broadcast axes (size 1) read entry 0.
    lead = len(where) + 1 - len(mask_shape)
    path: tuple = ("mask",)
    if len(mask_shape) >= 2:
        path = (
            "mask",
            *(0 if size == 1 else where[lead + a] for a, size in enumerate(mask_shape[:-1])),
        )
    row = where[-1]
    raise SpecError(
        path,
        f"query {row} (row {row} of the scores, counted from 0{_batch_words(where[:-1])}) may "
        "attend no key: "
        "the mask is false across the row, and a softmax over no entries is 0/0; PyTorch "
        "2.13's scaled_dot_product_attention returns 0 for such a row (its output and "
        "gradients; the documented reference softmax gives NaN); let the row attend at "
        "least one key",
    )


def _batch_words(batch: tuple[int, ...]) -> str:
    return f" at batch index {', '.join(map(str, batch))}" if batch else ""
