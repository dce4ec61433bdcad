"""The benchmark of issue 17 for the rnn kind: an LSTM over T = 64, N = 16, I = H = 128,
forward + backward in float mode (core/ops/recurrent.py through the op adapter, as
``gradcalc rnn --float`` runs it) against PyTorch float64 on the CPU (nn.LSTM and autograd) in
the same process; medians of interleaved rounds, and the ratio gradcalc / torch (target ≤ 1.5).

Both run with the same number of BLAS threads, ``--threads`` (default 1: on a shared, loaded
machine OpenBLAS's and torch's worker threads spin against each other and against the load,
and the small per-step products of a recurrence gain nothing from them); ``--threads 0`` leaves
both at their defaults.  The environment variables are set before NumPy is imported.

Run from the repo root with gradcalc importable as ``gradcalc`` (``PYTHONPATH=/tmp/p`` with
/tmp/p/gradcalc a link to the repo); torch is optional (without it gradcalc is timed alone).

    python benchmarks/rnn_speed.py [--reps 7] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

PARSER = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
PARSER.add_argument("--reps", type=int, default=7)
PARSER.add_argument("--threads", type=int, default=1, help="BLAS threads for both (0: defaults)")
ARGS = PARSER.parse_args(sys.argv[1:] if __name__ == "__main__" else [])
if ARGS.threads:
    for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[variable] = str(ARGS.threads)

import numpy as np  # noqa: E402

from gradcalc.core.ops import adapter  # noqa: E402
from gradcalc.core.ops.recurrent import RECURRENT  # noqa: E402

try:
    import torch
except ImportError as error:  # torch is optional
    torch = None
    MISSING = str(error)

T, N, I, H = 64, 16, 128, 128  # noqa: E741 - the issue's names


def arrays(seed: int = 0) -> dict[str, np.ndarray]:
    """The LSTM's input T×N×I, weights 4H×I and 4H×H, biases, h0 and c0 N×H, and the
    upstream on the outputs, h_n and c_n ((T+2)×N×H), drawn once."""
    rng = np.random.default_rng(seed)
    scale = 1 / np.sqrt(H)
    return {
        "x": rng.normal(size=(T, N, I)),
        "weight_ih": rng.uniform(-scale, scale, (4 * H, I)),
        "weight_hh": rng.uniform(-scale, scale, (4 * H, H)),
        "bias_ih": rng.uniform(-scale, scale, 4 * H),
        "bias_hh": rng.uniform(-scale, scale, 4 * H),
        "h0": rng.normal(size=(N, H)),
        "c0": rng.normal(size=(N, H)),
        "up": rng.normal(size=(T + 2, N, H)),
    }


def gradcalc_once(a: dict[str, np.ndarray]) -> float:
    start = time.perf_counter()
    params = {"cell": "lstm", "nonlinearity": "tanh"}
    params.update({k: a[k] for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "h0", "c0")})
    _, trace = adapter.forward(RECURRENT, a["x"], params, exact=False)
    adapter.backward(a["up"], trace)
    return time.perf_counter() - start


def torch_once(a: dict[str, np.ndarray], module) -> float:
    x = torch.tensor(a["x"], requires_grad=True)
    h0 = torch.tensor(a["h0"][None], requires_grad=True)
    c0 = torch.tensor(a["c0"][None], requires_grad=True)
    up = torch.tensor(a["up"])
    start = time.perf_counter()
    module.zero_grad()
    output, (h_n, c_n) = module(x, (h0, c0))
    loss = (output * up[:T]).sum() + (h_n[0] * up[T]).sum() + (c_n[0] * up[T + 1]).sum()
    loss.backward()
    return time.perf_counter() - start


def main() -> None:
    a = arrays()
    threads = ARGS.threads or "default"
    load = os.getloadavg()[0]
    print(f"LSTM T={T}, N={N}, I={I}, H={H}; BLAS threads: {threads}; load average {load:.2f}")
    gradcalc_once(a)
    if torch is None:
        times = [gradcalc_once(a) for _ in range(ARGS.reps)]
        median = statistics.median(times) * 1e3
        print(f"gradcalc float: {median:.1f} ms (skipped torch: not importable: {MISSING})")
        return
    if ARGS.threads:
        torch.set_num_threads(ARGS.threads)
    module = torch.nn.LSTM(I, H).double()
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(module, f"{name}_l0").copy_(torch.tensor(a[name]))
    torch_once(a, module)
    ours, theirs = [], []
    for _ in range(ARGS.reps):  # interleaved, so that changes in the load hit both alike
        ours.append(gradcalc_once(a))
        theirs.append(torch_once(a, module))
    mine, best = statistics.median(ours), statistics.median(theirs)
    print(f"gradcalc float  {mine * 1e3:8.1f} ms")
    print(f"torch float64   {best * 1e3:8.1f} ms ({torch.get_num_threads()} threads)")
    print(f"ratio gradcalc / torch = {mine / best:.2f} (target ≤ 1.5)")


if __name__ == "__main__":
    main()
