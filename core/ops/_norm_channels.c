/* Batch norm's compiled kernel (the normalization op's "channels" layout, see
 * _norm_common.h for the notation and core/ops/normalization_kernel.py for the caller):
 * x is N×C×L (L = H·W, 1 for batch norm 1d), each statistic averages the M = N·L entries
 * of one channel, γ and β are one number per channel.  A channel is walked a row of L at
 * a time, or, for short rows (L < COLUMNS_BELOW, batch norm 1d), a range of channels is
 * walked as columns (see columns_forward).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <string.h>

#include "_norm_common.h"

/* ------------------------------------------------------------------------------------
 * Channels: x N×C×L, statistics per channel over its N rows of L
 */

/* μ_c and σ²_c of channel c: each row's sum pairwise, then the N row sums pairwise
 * (sums: scratch of N). */
static void channel_moments(const double *x, Py_ssize_t n_, Py_ssize_t c_, Py_ssize_t l_,
                            Py_ssize_t c, double *sums, double *mean, double *var)
{
    double m = (double)n_ * (double)l_;
    for (Py_ssize_t n = 0; n < n_; n++) {
        const double *row = x + (n * c_ + c) * l_;
        sums[n] = sum_of(row, row, 0.0, 0.0, l_);
    }
    double mu = sum_of(sums, sums, 0.0, 0.0, n_) / m;
    for (Py_ssize_t n = 0; n < n_; n++) {
        const double *row = x + (n * c_ + c) * l_;
        sums[n] = deviation_of(row, row, mu, 0.0, l_);
    }
    *mean = mu;
    *var = sum_of(sums, sums, 0.0, 0.0, n_) / m;
}

/* ------------------------------------------------------------------------------------
 * Channels with short rows (L < COLUMNS_BELOW; batch norm 1d: L = 1).  A channel's rows
 * are too short to walk one at a time, so channels [c0, c1) are taken together as a
 * segment of K = (c1 − c0)·L entries of each sample's row of C·L, sample after sample,
 * each statistic summed per entry k of the segment and then over the channel's L entries.
 */
#define COLUMNS_BELOW 16
/* Samples whose terms are added one after the other into a block sum; the blocks' sums
 * are then added in order (blocked summation: error ~ (128 + N/128)·ε, not N·ε). */
#define COLUMN_BLOCK 128

enum { COLUMN_SUM, COLUMN_DEVIATION, COLUMN_WITH_HAT };

/* total (K) = Σ over the N samples of a term of the segments a[n·stride + k] (and b):
 * a (COLUMN_SUM), (a − μ_k)² (COLUMN_DEVIATION), b·(a − μ_k)·inv_k (COLUMN_WITH_HAT);
 * block: K scratch. */
static void column_sums(int kind, const double *a, const double *b, Py_ssize_t n_,
                        Py_ssize_t stride, Py_ssize_t k_, const double *restrict mu,
                        const double *restrict inv, double *restrict total,
                        double *restrict block)
{
    memset(total, 0, (size_t)k_ * sizeof(double));
    for (Py_ssize_t n0 = 0; n0 < n_; n0 += COLUMN_BLOCK) {
        Py_ssize_t n1 = n0 + COLUMN_BLOCK < n_ ? n0 + COLUMN_BLOCK : n_;
        memset(block, 0, (size_t)k_ * sizeof(double));
        for (Py_ssize_t n = n0; n < n1; n++) {
            const double *restrict ra = a + n * stride, *restrict rb = b + n * stride;
            if (kind == COLUMN_SUM)
                for (Py_ssize_t k = 0; k < k_; k++) block[k] += ra[k];
            else if (kind == COLUMN_DEVIATION)
                for (Py_ssize_t k = 0; k < k_; k++) block[k] += (ra[k] - mu[k]) * (ra[k] - mu[k]);
            else
                for (Py_ssize_t k = 0; k < k_; k++) block[k] += rb[k] * ((ra[k] - mu[k]) * inv[k]);
        }
        for (Py_ssize_t k = 0; k < k_; k++) total[k] += block[k];
    }
}

/* per_channel[c0 + j] = Σ over l < L of total[j·L + l] / m, for the segment's channels. */
static void channel_totals(const double *total, Py_ssize_t channels, Py_ssize_t l_, double m,
                           double *per_channel)
{
    for (Py_ssize_t j = 0; j < channels; j++) {
        double s = 0.0;
        for (Py_ssize_t l = 0; l < l_; l++) s += total[j * l_ + l];
        per_channel[j] = s / m;
    }
}

/* out[k] (K) = channel c0 + k / L's value of a per-channel vector (C), or `otherwise`
 * when it is NULL. */
static void spread(const double *values, Py_ssize_t c0, Py_ssize_t k_, Py_ssize_t l_,
                   double otherwise, double *out)
{
    for (Py_ssize_t k = 0; k < k_; k++) out[k] = values ? values[c0 + k / l_] : otherwise;
}

/* channels_forward for channels [c0, c1) by segments; work: 5·K scratch. */
static void columns_forward(const double *x, double *y, double *hat, double *mean,
                            double *var, const double *weight, const double *bias,
                            Py_ssize_t n_, Py_ssize_t c_, Py_ssize_t l_, double eps,
                            int frozen, Py_ssize_t c0, Py_ssize_t c1, double *work)
{
    Py_ssize_t stride = c_ * l_, first = c0 * l_, k_ = (c1 - c0) * l_;
    double *total = work, *block = work + k_, *mu = work + 2 * k_, *inv = work + 3 * k_;
    double *w = work + 4 * k_, m = (double)n_ * (double)l_;
    if (!frozen) {  /* μ, then σ² = Σ(x − μ)²/M, per channel */
        column_sums(COLUMN_SUM, x + first, x + first, n_, stride, k_, mu, inv, total, block);
        channel_totals(total, c1 - c0, l_, m, mean + c0);
        spread(mean, c0, k_, l_, 0.0, mu);
        column_sums(COLUMN_DEVIATION, x + first, x + first, n_, stride, k_, mu, inv, total,
                    block);
        channel_totals(total, c1 - c0, l_, m, var + c0);
    }
    spread(mean, c0, k_, l_, 0.0, mu);
    for (Py_ssize_t k = 0; k < k_; k++) inv[k] = 1.0 / sqrt(var[c0 + k / l_] + eps);
    spread(weight, c0, k_, l_, 1.0, w);
    spread(bias, c0, k_, l_, 0.0, block);  /* β_k, in the block sums' place */
    for (Py_ssize_t n = 0; n < n_; n++) {
        /* x̂ = (x − μ)·(1/σ) and y = x̂·γ + β over the segment of sample n */
        Py_ssize_t at = n * stride + first;
        const double *restrict xs = x + at;
        if (hat)
            for (Py_ssize_t k = 0; k < k_; k++) hat[at + k] = (xs[k] - mu[k]) * inv[k];
        if (!y) continue;
        double *restrict ys = y + at;
        if (weight && bias)
            for (Py_ssize_t k = 0; k < k_; k++) ys[k] = ((xs[k] - mu[k]) * inv[k]) * w[k] + block[k];
        else if (weight)
            for (Py_ssize_t k = 0; k < k_; k++) ys[k] = ((xs[k] - mu[k]) * inv[k]) * w[k];
        else if (bias)
            for (Py_ssize_t k = 0; k < k_; k++) ys[k] = ((xs[k] - mu[k]) * inv[k]) + block[k];
        else
            for (Py_ssize_t k = 0; k < k_; k++) ys[k] = (xs[k] - mu[k]) * inv[k];
    }
}

/* channels_backward for channels [c0, c1) by segments; work: 7·K scratch. */
static void columns_backward(const double *dy, const double *x, const double *mean,
                             const double *var, const double *weight, double *grad,
                             double *grad_weight, double *grad_bias, Py_ssize_t n_,
                             Py_ssize_t c_, Py_ssize_t l_, double eps, int frozen,
                             Py_ssize_t c0, Py_ssize_t c1, double *work)
{
    Py_ssize_t stride = c_ * l_, first = c0 * l_, k_ = (c1 - c0) * l_;
    double *total = work, *block = work + k_, *mu = work + 2 * k_, *inv = work + 3 * k_;
    double *scale = work + 4 * k_, *slope = work + 5 * k_, *shift = work + 6 * k_;
    double m = (double)n_ * (double)l_;
    spread(mean, c0, k_, l_, 0.0, mu);
    for (Py_ssize_t k = 0; k < k_; k++) inv[k] = 1.0 / sqrt(var[c0 + k / l_] + eps);
    /* ∂L/∂β = Σ∂L/∂y, ∂L/∂γ = Σ∂L/∂y·x̂ per channel (channel_totals divides by 1) */
    column_sums(COLUMN_SUM, dy + first, dy + first, n_, stride, k_, mu, inv, total, block);
    channel_totals(total, c1 - c0, l_, 1.0, grad_bias + c0);
    column_sums(COLUMN_WITH_HAT, x + first, dy + first, n_, stride, k_, mu, inv, total, block);
    channel_totals(total, c1 - c0, l_, 1.0, grad_weight + c0);
    for (Py_ssize_t k = 0; k < k_; k++) {
        /* the per-channel constants of ∂L/∂x, as channels_backward computes them */
        Py_ssize_t c = c0 + k / l_;
        double i = inv[k];
        double total_hat = weight ? weight[c] * grad_bias[c] : grad_bias[c];
        double projected = weight ? weight[c] * grad_weight[c] : grad_weight[c];
        scale[k] = weight ? weight[c] * i : i;
        slope[k] = projected * i / m;
        shift[k] = total_hat * i / m;
    }
    for (Py_ssize_t n = 0; n < n_; n++) {
        Py_ssize_t at = n * stride + first;
        const double *restrict ds = dy + at, *restrict xs = x + at;
        double *restrict gs = grad + at;
        if (frozen)
            for (Py_ssize_t k = 0; k < k_; k++) gs[k] = ds[k] * scale[k];
        else
            for (Py_ssize_t k = 0; k < k_; k++)
                gs[k] = (ds[k] * scale[k] - ((xs[k] - mu[k]) * inv[k]) * slope[k]) - shift[k];
    }
}

/* channels_forward(x, y, x_hat, mean, var, weight, bias, N, C, L, eps, frozen, c0, c1)
 *
 * x: N×C×L; y, x_hat: N×C×L or None (not written); mean, var: C, written for channels
 * [c0, c1) from the batch, or read there when frozen (given statistics); weight, bias:
 * C or None.  For each channel: μ, σ² (unless frozen), then x̂ and y. */
static PyObject *channels_forward(PyObject *self, PyObject *args)
{
    PyObject *objs[7];
    Py_ssize_t n_, c_, l_, c0, c1;
    double eps;
    int frozen;
    if (!PyArg_ParseTuple(args, "OOOOOOOnnndpnn", &objs[0], &objs[1], &objs[2], &objs[3],
                          &objs[4], &objs[5], &objs[6], &n_, &c_, &l_, &eps, &frozen, &c0, &c1))
        return NULL;
    Py_ssize_t total = entries(n_, c_, l_);
    if (total < 0 || kb_range(c0, c1, c_) < 0) return NULL;
    KbHeld held = {.count = 0};
    Forward f;
    if (!take_forward(&held, objs, total, c_, c_, frozen, &f)) return NULL;
    const double *x = f.x, *weight = f.weight, *bias = f.bias;
    double *y = f.y, *hat = f.hat, *mean = f.mean, *var = f.var;
    int columns = l_ < COLUMNS_BELOW;
    /* scratch: N row sums, or 5·K for columns_forward */
    size_t scratch = columns ? 5 * (size_t)(c1 - c0) * (size_t)l_ : (size_t)n_;
    double *sums = PyMem_RawMalloc((scratch ? scratch : 1) * sizeof(double));
    if (!sums) {
        kb_release(&held);
        return PyErr_NoMemory();
    }
    Py_BEGIN_ALLOW_THREADS
    if (columns && c1 > c0)
        columns_forward(x, y, hat, mean, var, weight, bias, n_, c_, l_, eps, frozen, c0, c1,
                        sums);
    for (Py_ssize_t c = c0; c < c1 && !columns; c++) {
        if (!frozen) channel_moments(x, n_, c_, l_, c, sums, &mean[c], &var[c]);
        double inv = 1.0 / sqrt(var[c] + eps);
        for (Py_ssize_t n = 0; n < n_; n++) {
            Py_ssize_t at = (n * c_ + c) * l_;
            normalize_row(x + at, hat ? hat + at : NULL, y ? y + at : NULL, l_, mean[c], inv,
                          weight ? weight + c : NULL, bias ? bias + c : NULL);
        }
    }
    Py_END_ALLOW_THREADS
    PyMem_RawFree(sums);
    kb_release(&held);
    Py_RETURN_NONE;
}

/* ∂L/∂x over one row of L: dy·scale − x̂·slope − shift (x̂ = (x − μ)·inv), or dy·scale
 * when frozen. */
static void gradient_row(const double *restrict dy, const double *restrict x,
                         double *restrict grad, Py_ssize_t l_, double mu, double inv,
                         double scale, double slope, double shift, int frozen)
{
    if (frozen)
        for (Py_ssize_t l = 0; l < l_; l++) grad[l] = dy[l] * scale;
    else
        for (Py_ssize_t l = 0; l < l_; l++)
            grad[l] = (dy[l] * scale - ((x[l] - mu) * inv) * slope) - shift;
}

/* Σ∂L/∂y (*bias_sum) and Σ∂L/∂y·x̂ (*weight_sum) over channel c of dy and x (N×C×L):
 * per row pairwise, then over the N rows pairwise (sums: scratch of N).  Two passes: the
 * second finds the channel in cache, and one fused pass would need more accumulators than
 * there are registers. */
static void channel_gradient_sums(const double *dy, const double *x, Py_ssize_t n_,
                                  Py_ssize_t c_, Py_ssize_t l_, Py_ssize_t c, double mu,
                                  double inv, double *sums, double *bias_sum, double *weight_sum)
{
    for (Py_ssize_t n = 0; n < n_; n++) {
        const double *row = dy + (n * c_ + c) * l_;
        sums[n] = sum_of(row, row, 0.0, 0.0, l_);
    }
    *bias_sum = sum_of(sums, sums, 0.0, 0.0, n_);
    for (Py_ssize_t n = 0; n < n_; n++) {
        Py_ssize_t at = (n * c_ + c) * l_;
        sums[n] = with_hat_of(x + at, dy + at, mu, inv, l_);
    }
    *weight_sum = sum_of(sums, sums, 0.0, 0.0, n_);
}

/* channels_backward(grad_y, x, mean, var, weight, grad, grad_weight, grad_bias,
 *                   N, C, L, eps, frozen, c0, c1)
 *
 * grad_y, x: N×C×L; mean, var: C (the forward's); weight: C or None; writes for channels
 * [c0, c1): grad (N×C×L) ∂L/∂x, grad_weight (C) Σ∂L/∂y·x̂, grad_bias (C) Σ∂L/∂y.
 * With γ one number per channel, Σ∂L/∂x̂ = γ·Σ∂L/∂y and Σ∂L/∂x̂·x̂ = γ·Σ∂L/∂y·x̂. */
static PyObject *channels_backward(PyObject *self, PyObject *args)
{
    PyObject *odys, *ox, *omean, *ovar, *oweight, *ograd, *ogw, *ogb;
    Py_ssize_t n_, c_, l_, c0, c1;
    double eps;
    int frozen;
    if (!PyArg_ParseTuple(args, "OOOOOOOOnnndpnn", &odys, &ox, &omean, &ovar, &oweight,
                          &ograd, &ogw, &ogb, &n_, &c_, &l_, &eps, &frozen, &c0, &c1))
        return NULL;
    Py_ssize_t total = entries(n_, c_, l_);
    if (total < 0 || kb_range(c0, c1, c_) < 0) return NULL;
    KbHeld held = {.count = 0};
    const double *dy = kb_hold(&held, odys, total, 0, "grad_y");
    const double *x = kb_hold(&held, ox, total, 0, "x");
    const double *mean = kb_hold(&held, omean, c_, 0, "mean");
    const double *var = kb_hold(&held, ovar, c_, 0, "var");
    const double *weight = kb_hold(&held, oweight, c_, KB_OPTIONAL, "weight");
    double *grad = kb_hold(&held, ograd, total, KB_WRITABLE, "grad");
    double *grad_weight = kb_hold(&held, ogw, c_, KB_WRITABLE, "grad_weight");
    double *grad_bias = kb_hold(&held, ogb, c_, KB_WRITABLE, "grad_bias");
    if (kb_ready(&held) < 0) return NULL;
    int columns = l_ < COLUMNS_BELOW;
    /* scratch: N row sums, or 7·K for columns_backward */
    size_t scratch = columns ? 7 * (size_t)(c1 - c0) * (size_t)l_ : (size_t)n_;
    double *sums = PyMem_RawMalloc((scratch ? scratch : 1) * sizeof(double));
    if (!sums) {
        kb_release(&held);
        return PyErr_NoMemory();
    }
    double m = (double)n_ * (double)l_;
    Py_BEGIN_ALLOW_THREADS
    if (columns && c1 > c0)
        columns_backward(dy, x, mean, var, weight, grad, grad_weight, grad_bias, n_, c_, l_, eps,
                         frozen, c0, c1, sums);
    for (Py_ssize_t c = c0; c < c1 && !columns; c++) {
        double mu = mean[c], inv = 1.0 / sqrt(var[c] + eps), bias_sum, weight_sum;
        channel_gradient_sums(dy, x, n_, c_, l_, c, mu, inv, sums, &bias_sum, &weight_sum);
        grad_bias[c] = bias_sum;
        grad_weight[c] = weight_sum;
        double total_hat = weight ? weight[c] * bias_sum : bias_sum;       /* Σ∂L/∂x̂ */
        double projected = weight ? weight[c] * weight_sum : weight_sum;   /* Σ∂L/∂x̂·x̂ */
        double scale = weight ? weight[c] * inv : inv;
        double slope = projected * inv / m, shift = total_hat * inv / m;
        for (Py_ssize_t n = 0; n < n_; n++) {
            Py_ssize_t at = (n * c_ + c) * l_;
            gradient_row(dy + at, x + at, grad + at, l_, mu, inv, scale, slope, shift, frozen);
        }
    }
    Py_END_ALLOW_THREADS
    PyMem_RawFree(sums);
    kb_release(&held);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"channels_forward", channels_forward, METH_VARARGS,
     "channels_forward(x, y, x_hat, mean, var, weight, bias, N, C, L, eps, frozen, c0, c1)"},
    {"channels_backward", channels_backward, METH_VARARGS,
     "channels_backward(grad_y, x, mean, var, weight, grad, grad_weight, grad_bias, N, C, L,"
     " eps, frozen, c0, c1)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_norm_channels",
    "Batch norm's fused float64 loops (see core/ops/normalization_kernel.py).", -1, methods,
};

PyMODINIT_FUNC PyInit__norm_channels(void)
{
    PyObject *made = PyModule_Create(&module);
    if (made && PyModule_AddIntConstant(made, "COLUMNS_BELOW", COLUMNS_BELOW) < 0) {
        Py_DECREF(made);
        return NULL;
    }
    return made;
}
