/* What the normalization op's two compiled kernels share (core/ops/normalization.py's
 * float64 path; core/ops/normalization_kernel.py chooses the kernel and calls it):
 *
 * - _norm_channels.c (batch norm 1d and 2d): x is N×C×L (L = H·W, 1 for 1d); each
 *   statistic averages the M = N·L entries of one channel c, γ and β are one number per
 *   channel.
 * - _norm_rows.c (layer norm, group norm): x is R×W rows, W = P·S; each statistic averages
 *   one row (M = W); γ and β have G·P entries, entry (r, j) of x takes γ[(r mod G)·P + j / S]
 *   (layer norm: G = 1, P = W, S = 1, γ along the row; group norm: row r = (n, g), P
 *   channels of S entries each).
 *
 * In the op's notation: μ = Σx/M, σ² = Σ(x − μ)²/M (biased), σ = √(σ² + ε),
 * x̂ = (x − μ)·(1/σ), y = γ·x̂ + β; backward ∂L/∂β = Σ∂L/∂y, ∂L/∂γ = Σ∂L/∂y·x̂ and
 * ∂L/∂x = ∂L/∂x̂·(1/σ) − x̂·(Σ∂L/∂x̂·x̂)/(M·σ) − (Σ∂L/∂x̂)/(M·σ), with ∂L/∂x̂ = γ·∂L/∂y;
 * with given statistics (evaluation mode, "frozen") ∂L/∂x = ∂L/∂x̂·(1/σ).
 *
 * Each call works on a range of channels [c0, c1) or of rows [r0, r1) and writes only
 * their entries, so core/parallel.py's threads can run disjoint ranges at once (the GIL
 * is released around the loops).  A channel's or a row's data is read from memory once
 * and its further passes find it in the CPU cache (a channel of batch norm's benchmark
 * is 256 KB).  x̂ is never needed from memory: backward computes it again from x, μ and
 * 1/σ, with the same expression as forward (so the same bits).
 *
 * Every buffer comes through the buffer protocol, C-contiguous float64 ("d"), and its
 * length is checked against the dims given; outputs must be writable and must not
 * overlap any other buffer (_kernel_buffers.h, with the buffer's own error when the
 * object cannot give it).  Nothing is read or written outside the buffers.
 *
 * Here: the pairwise sums, the dims check, a forward's buffers, and one row's x̂ and y.
 * Everything is static inline: each of the two modules compiles its own copy.
 */
#ifndef GRADCALC_NORM_COMMON_H
#define GRADCALC_NORM_COMMON_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <string.h>

#include "_kernel_buffers.h"

/* ------------------------------------------------------------------------------------
 * Pairwise summation, as NumPy's sum does it: up to 128 terms with 8 accumulators,
 * longer ranges split in halves (the rounding error grows as log n, not n).  Each
 * function sums one term over i < n of arrays a (and b); mu, inv are scalars.
 */
#define DEFINE_PAIRWISE(NAME, TERM)                                                     \
    static inline double NAME(const double *a, const double *b, double mu, double inv, \
                              Py_ssize_t n)                                             \
    {                                                                                   \
        (void)b; (void)mu; (void)inv;                                                   \
        if (n < 8) {                                                                    \
            double s = 0.0;                                                             \
            for (Py_ssize_t i = 0; i < n; i++) s += TERM(i);                            \
            return s;                                                                   \
        }                                                                               \
        if (n <= 128) {                                                                 \
            double r[8];                                                                \
            for (int k = 0; k < 8; k++) r[k] = TERM(k);                                 \
            Py_ssize_t i;                                                               \
            for (i = 8; i < n - (n % 8); i += 8)                                        \
                for (int k = 0; k < 8; k++) r[k] += TERM(i + k);                        \
            double s = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7])); \
            for (; i < n; i++) s += TERM(i);                                            \
            return s;                                                                   \
        }                                                                               \
        Py_ssize_t half = n / 2;                                                        \
        half -= half % 8;                                                               \
        return NAME(a, b, mu, inv, half) + NAME(a + half, b + half, mu, inv, n - half); \
    }

#define TERM_SUM(i) (a[i])                              /* Σ a */
#define TERM_DEVIATION(i) ((a[i] - mu) * (a[i] - mu))   /* Σ (x − μ)², a = x */
#define TERM_PRODUCT(i) (a[i] * b[i])                   /* Σ a·b */
#define TERM_WITH_HAT(i) (b[i] * ((a[i] - mu) * inv))   /* Σ ∂L/∂y·x̂, a = x, b = ∂L/∂y */

DEFINE_PAIRWISE(sum_of, TERM_SUM)
DEFINE_PAIRWISE(deviation_of, TERM_DEVIATION)
DEFINE_PAIRWISE(product_of, TERM_PRODUCT)
DEFINE_PAIRWISE(with_hat_of, TERM_WITH_HAT)

/* Two sums in one pass over the arrays, *one = Σ FIRST and *two = Σ SECOND: pairwise
 * as above, with 4 accumulators each up to 128 terms (8 + 8 would not fit the registers). */
#define DEFINE_PAIRWISE_TWO(NAME, FIRST, SECOND)                                        \
    static inline void NAME(const double *a, const double *b, double mu, double inv,   \
                            Py_ssize_t n, double *one, double *two)                     \
    {                                                                                   \
        (void)mu; (void)inv;                                                            \
        if (n < 4) {                                                                    \
            double s = 0.0, t = 0.0;                                                    \
            for (Py_ssize_t i = 0; i < n; i++) { s += FIRST(i); t += SECOND(i); }       \
            *one = s; *two = t;                                                         \
            return;                                                                     \
        }                                                                               \
        if (n <= 128) {                                                                 \
            double r[4], q[4];                                                          \
            for (int k = 0; k < 4; k++) { r[k] = FIRST(k); q[k] = SECOND(k); }         \
            Py_ssize_t i;                                                               \
            for (i = 4; i < n - (n % 4); i += 4)                                        \
                for (int k = 0; k < 4; k++) { r[k] += FIRST(i + k); q[k] += SECOND(i + k); } \
            double s = (r[0] + r[1]) + (r[2] + r[3]);                                   \
            double t = (q[0] + q[1]) + (q[2] + q[3]);                                   \
            for (; i < n; i++) { s += FIRST(i); t += SECOND(i); }                       \
            *one = s; *two = t;                                                         \
            return;                                                                     \
        }                                                                               \
        Py_ssize_t half = n / 2;                                                        \
        half -= half % 8;                                                               \
        double s1, t1, s2, t2;                                                          \
        NAME(a, b, mu, inv, half, &s1, &t1);                                            \
        NAME(a + half, b + half, mu, inv, n - half, &s2, &t2);                          \
        *one = s1 + s2; *two = t1 + t2;                                                 \
    }

DEFINE_PAIRWISE_TWO(sum_and_product_of, TERM_SUM, TERM_PRODUCT)   /* Σa, Σa·b */

/* ------------------------------------------------------------------------------------
 * Dims and buffers
 */

/* n1·n2·n3 entries, or -1 with a ValueError if a dim is < 1, an OverflowError if the
 * product overflows (as a byte count). */
static inline Py_ssize_t entries(Py_ssize_t n1, Py_ssize_t n2, Py_ssize_t n3)
{
    const Py_ssize_t dims[3] = {n1, n2, n3};
    return kb_product(dims, 3, 1, PY_SSIZE_T_MAX, PyExc_OverflowError);
}

/* A forward's buffers: x and y, x̂ (total entries each; y, x̂ may be None), μ and σ²
 * (stats entries; written unless frozen), γ and β (params entries or None). */
typedef struct {
    const double *x;
    double *y, *hat, *mean, *var;
    const double *weight, *bias;
} Forward;

/* Forward's buffers from the objects (x, y, x_hat, mean, var, weight, bias); 0 with an
 * exception set (and every buffer released) when one is not what it must be. */
static inline int take_forward(KbHeld *held, PyObject *const objs[7], Py_ssize_t total,
                               Py_ssize_t stats, Py_ssize_t params, int frozen, Forward *out)
{
    int stats_flags = frozen ? 0 : KB_WRITABLE;  /* μ, σ²: given when frozen */
    out->x = kb_hold(held, objs[0], total, 0, "x");
    out->y = kb_hold(held, objs[1], total, KB_WRITABLE | KB_OPTIONAL, "y");
    out->hat = kb_hold(held, objs[2], total, KB_WRITABLE | KB_OPTIONAL, "x_hat");
    out->mean = kb_hold(held, objs[3], stats, stats_flags, "mean");
    out->var = kb_hold(held, objs[4], stats, stats_flags, "var");
    out->weight = kb_hold(held, objs[5], params, KB_OPTIONAL, "weight");
    out->bias = kb_hold(held, objs[6], params, KB_OPTIONAL, "bias");
    return kb_ready(held) == 0;
}

/* ------------------------------------------------------------------------------------
 * One row
 */

/* One row of L entries: x̂ = (x − μ)·inv into hat (if any), y = x̂·γ + β into y (if any;
 * without γ y = x̂, without β no addition). */
static inline void normalize_row(const double *restrict x, double *restrict hat,
                                 double *restrict y, Py_ssize_t l_, double mu, double inv,
                                 const double *weight, const double *bias)
{
    double w = weight ? *weight : 1.0, b = bias ? *bias : 0.0;
    if (hat)
        for (Py_ssize_t l = 0; l < l_; l++) hat[l] = (x[l] - mu) * inv;
    if (!y) return;
    if (weight && bias)
        for (Py_ssize_t l = 0; l < l_; l++) y[l] = ((x[l] - mu) * inv) * w + b;
    else if (weight)
        for (Py_ssize_t l = 0; l < l_; l++) y[l] = ((x[l] - mu) * inv) * w;
    else if (bias)
        for (Py_ssize_t l = 0; l < l_; l++) y[l] = ((x[l] - mu) * inv) + b;
    else
        for (Py_ssize_t l = 0; l < l_; l++) y[l] = (x[l] - mu) * inv;
}

#endif /* GRADCALC_NORM_COMMON_H */
