"""A plain-loop reference for the rnn kind, written independently of core/: nested lists of
numbers, one scalar at a time, PyTorch's equations (nn.RNN, nn.LSTM, nn.GRU) forward and
backpropagation through time.  Works on floats (math.tanh, math.exp) and, for a relu rnn,
on Fractions (exact).

reference(cell, nonlinearity, x, w_ih, w_hh, b_ih, b_hh, h0, c0, up, up_h, up_c) with x
T×N×I (step-major), h0/c0 N×H, up T×N×H, up_h/up_c N×H (or None) -> a dict of results:
output T×N×H, h_n, c_n, grad_input, grad_h0, grad_c0, grad_weight_ih, grad_weight_hh,
grad_bias_ih, grad_bias_hh, grad_h (T×N×H).
"""

from __future__ import annotations

import math
from typing import Any

GATES = {"rnn": 1, "lstm": 4, "gru": 3}


def sig(a: float) -> float:
    return 1 / (1 + math.exp(-a)) if a >= 0 else math.exp(a) / (1 + math.exp(a))


def zeros(*shape: int) -> Any:
    if len(shape) == 1:
        return [0] * shape[0]
    return [zeros(*shape[1:]) for _ in range(shape[0])]


def affine(w: list, b: list | None, v: list, q: int) -> Any:
    total = sum(w[q][k] * v[k] for k in range(len(v)))
    return total + (b[q] if b is not None else 0)


def forward_step(cell, nl, x_t, h, c, w_ih, w_hh, b_ih, b_hh):
    """One step for one sample: x_t I, h and c H -> (h', c', record)."""
    hidden = len(h)
    rows = GATES[cell] * hidden
    ai = [affine(w_ih, b_ih, x_t, q) for q in range(rows)]
    ah = [affine(w_hh, b_hh, h, q) for q in range(rows)]
    rec = {"ai": ai, "ah": ah, "h_prev": h, "c_prev": c, "x": x_t}
    if cell == "rnn":
        a = [ai[j] + ah[j] for j in range(hidden)]
        new = [math.tanh(v) if nl == "tanh" else (v if v > 0 else 0 * v) for v in a]
        rec["h"] = new
        return new, None, rec
    if cell == "lstm":
        pre = [ai[q] + ah[q] for q in range(rows)]
        i = [sig(pre[j]) for j in range(hidden)]
        f = [sig(pre[hidden + j]) for j in range(hidden)]
        g = [math.tanh(pre[2 * hidden + j]) for j in range(hidden)]
        o = [sig(pre[3 * hidden + j]) for j in range(hidden)]
        c_new = [f[j] * c[j] + i[j] * g[j] for j in range(hidden)]
        h_new = [o[j] * math.tanh(c_new[j]) for j in range(hidden)]
        rec.update(i=i, f=f, g=g, o=o, c=c_new, h=h_new)
        return h_new, c_new, rec
    r = [sig(ai[j] + ah[j]) for j in range(hidden)]
    z = [sig(ai[hidden + j] + ah[hidden + j]) for j in range(hidden)]
    n = [math.tanh(ai[2 * hidden + j] + r[j] * ah[2 * hidden + j]) for j in range(hidden)]
    h_new = [(1 - z[j]) * n[j] + z[j] * h[j] for j in range(hidden)]
    rec.update(r=r, z=z, n=n, h=h_new)
    return h_new, None, rec


def step_back(cell, nl, rec, dh, dc):
    """(dai, dah, dc_prev) for one sample at one step."""
    hidden = len(dh)
    if cell == "rnn":
        if nl == "tanh":
            da = [dh[j] * (1 - rec["h"][j] ** 2) for j in range(hidden)]
        else:
            da = [dh[j] if rec["ai"][j] + rec["ah"][j] > 0 else 0 * dh[j] for j in range(hidden)]
        return da, da, None
    if cell == "lstm":
        i, f, g, o, c = rec["i"], rec["f"], rec["g"], rec["o"], rec["c"]
        dct = [dc[j] + dh[j] * o[j] * (1 - math.tanh(c[j]) ** 2) for j in range(hidden)]
        da = (
            [dct[j] * g[j] * i[j] * (1 - i[j]) for j in range(hidden)]
            + [dct[j] * rec["c_prev"][j] * f[j] * (1 - f[j]) for j in range(hidden)]
            + [dct[j] * i[j] * (1 - g[j] ** 2) for j in range(hidden)]
            + [dh[j] * math.tanh(c[j]) * o[j] * (1 - o[j]) for j in range(hidden)]
        )
        return da, da, [dct[j] * f[j] for j in range(hidden)]
    r, z, n = rec["r"], rec["z"], rec["n"]
    dn = [dh[j] * (1 - z[j]) * (1 - n[j] ** 2) for j in range(hidden)]
    dr = [dn[j] * rec["ah"][2 * hidden + j] * r[j] * (1 - r[j]) for j in range(hidden)]
    dz = [dh[j] * (rec["h_prev"][j] - n[j]) * z[j] * (1 - z[j]) for j in range(hidden)]
    return dr + dz + dn, dr + dz + [dn[j] * r[j] for j in range(hidden)], None


def reference(cell, nl, x, w_ih, w_hh, b_ih, b_hh, h0, c0, up, up_h=None, up_c=None):
    count, batch, inputs = len(x), len(x[0]), len(x[0][0])
    hidden = len(w_hh[0])
    rows = GATES[cell] * hidden
    records = [[None] * batch for _ in range(count)]
    output = zeros(count, batch, hidden)
    h_n, c_n = [list(v) for v in h0], [list(v) for v in c0] if c0 is not None else None
    for n in range(batch):
        h, c = list(h0[n]), list(c0[n]) if c0 is not None else None
        for t in range(count):
            h, c, records[t][n] = forward_step(cell, nl, x[t][n], h, c, w_ih, w_hh, b_ih, b_hh)
            output[t][n] = h
        h_n[n] = h
        if c is not None:
            c_n[n] = c
    g_wih, g_whh = zeros(rows, inputs), zeros(rows, hidden)
    g_bih, g_bhh = zeros(rows), zeros(rows)
    g_x, g_h = zeros(count, batch, inputs), zeros(count, batch, hidden)
    g_h0, g_c0 = zeros(batch, hidden), zeros(batch, hidden)
    for n in range(batch):
        dh_next = list(up_h[n]) if up_h is not None else [0] * hidden
        dc = list(up_c[n]) if up_c is not None else [0] * hidden
        for t in reversed(range(count)):
            rec = records[t][n]
            dh = [up[t][n][j] + dh_next[j] for j in range(hidden)]
            g_h[t][n] = dh
            dai, dah, dc = step_back(cell, nl, rec, dh, dc)
            for q in range(rows):
                g_bih[q] += dai[q]
                g_bhh[q] += dah[q]
                for k in range(inputs):
                    g_wih[q][k] += dai[q] * rec["x"][k]
                for k in range(hidden):
                    g_whh[q][k] += dah[q] * rec["h_prev"][k]
            for k in range(inputs):
                g_x[t][n][k] = sum(dai[q] * w_ih[q][k] for q in range(rows))
            dh_next = [sum(dah[q] * w_hh[q][k] for q in range(rows)) for k in range(hidden)]
            if cell == "gru":
                dh_next = [dh_next[k] + dh[k] * rec["z"][k] for k in range(hidden)]
        g_h0[n] = dh_next
        if cell == "lstm":
            g_c0[n] = dc
    out = {
        "output": output,
        "h_n": h_n,
        "grad_input": g_x,
        "grad_h0": g_h0,
        "grad_weight_ih": g_wih,
        "grad_weight_hh": g_whh,
        "grad_bias_ih": g_bih,
        "grad_bias_hh": g_bhh,
        "grad_h": g_h,
    }
    if cell == "lstm":
        out.update(c_n=c_n, grad_c0=g_c0)
    return out
