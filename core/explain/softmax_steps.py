"""One row's softmax written out with its numbers: m = max, Z = Σ exp(s_j − m), each
p_j = exp(s_j − m)/Z (or log p_j), and r = Z − 1 where log Z is taken as log(1 + r).

The softmax explanation (core/explain/softmax.py), the loss explanation's cross_entropy
(core/explain/loss_class.py) and attention's weights (core/explain/attention.py) share these
steps; they live apart from the softmax kind's explainer so that a loss does not import the
softmax kind (core/kinds/softmax.py) to write them (start-up).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from gradcalc.core.explain import Formula
from gradcalc.core.explain.pieces import factor
from gradcalc.core.ops.softmax import log_sum_exp, softmax_parts
from gradcalc.core.spec import MAX_TERMS_SHOWN


def softmax_row_steps(
    scores: Any,
    *,
    score: Callable[[int], str],
    output: Callable[[int], str],
    any_score: str,
    suffix: str,
    log: bool,
    rows: int,
    max_terms: int = MAX_TERMS_SHOWN,
    over: str = "j",
) -> list[Formula]:
    """One row's softmax with numbers: m = max, Z = Σ exp(s_j − m), then ``rows`` outputs.

    ``scores`` is the row (C floats); ``score(j)``/``output(j)`` name entry j;
    ``any_score`` is the row's s_j with a free j; ``suffix`` tells rows of a batch apart
    (m_0, Z_0).  The outputs are p_j = exp(s_j − m)/Z, or log p_j = s_j − m − log Z.
    ``over`` is the range of j under max and Σ: "j" (every entry), or a masked row's
    "{j ≤ 1}" (``scores`` then holds the entries in that range only).
    """
    under = over
    classes = scores.shape[0]
    maximum, lse = (float(v[0]) for v in log_sum_exp(scores))
    z_value = math.exp(lse - maximum)
    parts = softmax_parts(scores[None, :])
    by_log1p = bool(parts.log1p_rows[0, 0])
    m_name, z_name = f"m{suffix}", f"Z{suffix}"
    shown = min(classes, max_terms)
    max_tokens: list[Any] = ["max("]
    sum_tokens: list[Any] = []
    for j in range(shown):
        if j:
            max_tokens.append(", ")
            sum_tokens.append(" + ")
        max_tokens.append(scores[j])
        sum_tokens.extend(("exp(", scores[j], " − ", *factor(maximum), ")"))
    if classes > shown:
        max_tokens.append(f", … ({classes - shown} more)")
        sum_tokens.append(f" + … ({classes - shown} more)")
    max_tokens.append(")")
    steps = [
        Formula(m_name, f"{m_name} = max_{under} {any_score}", tuple(max_tokens), maximum),
        Formula(
            z_name, f"{z_name} = Σ_{under} exp({any_score} − {m_name})", tuple(sum_tokens), z_value
        ),
    ]
    if by_log1p:
        steps.append(rest_step(scores, int(parts.top[0]), any_score, suffix, max_terms, under))
    for j in range(rows):
        steps.append(
            output_step(
                scores[j],
                score(j),
                output(j),
                suffix,
                (maximum, lse, z_value),
                log=log,
                log1p_rest=float(parts.rest[0, 0]) if by_log1p else None,
            )
        )
    return steps


def output_step(
    score_value: float,
    score: str,
    output: str,
    suffix: str,
    row: tuple[float, float, float],
    *,
    log: bool,
    log1p_rest: float | None,
) -> Formula:
    """One output of a row's softmax: p_j = exp(s_j − m)/Z, or log p_j = s_j − m − log Z,
    with log Z as log(1 + r) where the row took it so (``log1p_rest``: r, else None).
    ``row``: the row's m, log Σ exp and Z."""
    maximum, lse, z_value = row
    m_name, z_name = f"m{suffix}", f"Z{suffix}"
    shift = (score_value, " − ", *factor(maximum))
    if log and log1p_rest is not None:
        return Formula(
            output,
            f"{output} = log p = {score} − {m_name} − log {z_name}"
            f" = {score} − {m_name} − log(1 + r{suffix})",
            (*shift, " − log(1 + ", log1p_rest, ")"),
            (score_value - maximum) - math.log1p(log1p_rest),
        )
    if log:
        return Formula(
            output,
            f"{output} = log p = {score} − {m_name} − log {z_name}",
            (*shift, " − log ", z_value),
            score_value - lse,
        )
    return Formula(
        output,
        f"{output} = exp({score} − {m_name})/{z_name}",
        ("exp(", *shift, ")/", z_value),
        math.exp(score_value - lse),
    )


def rest_step(
    scores: Any, top: int, any_score: str, suffix: str, max_terms: int, under: str = "j"
) -> Formula:
    """r = Σ_{j≠top} exp(s_j − m) = Z − 1 for a row whose other scores are far below its top
    (``scores``: C floats): Z rounds r away, so log Z is taken as log(1 + r), kept digit
    for digit by log1p (ops.softmax.softmax_parts)."""
    maximum = float(np.max(scores))
    others = [j for j in range(scores.shape[0]) if j != top]
    tokens: list[Any] = []
    for position, j in enumerate(others[:max_terms]):
        tokens.extend((" + " if position else "", "exp(", scores[j], " − ", *factor(maximum), ")"))
    if len(others) > max_terms:
        tokens.append(f" + … ({len(others) - max_terms} more)")
    rest = float(softmax_parts(scores[None, :]).rest[0, 0])
    return Formula(
        f"r{suffix}",
        f"r{suffix} = Σ_{under} 1[j ≠ argmax]·exp({any_score} − m{suffix}) = Z{suffix} − 1  "
        "(summed without the 1, which would round it away; log Z is taken as log(1 + r))",
        tuple(tokens) or ("0",),
        rest,
    )
