/* Layer and group norm's compiled kernel (the normalization op's "rows" layout, see
 * _norm_common.h for the notation and core/ops/normalization_kernel.py for the caller):
 * x is R×W rows, W = P·S; each statistic averages one row (M = W); γ and β have G·P
 * entries, entry (r, j) of x takes γ[(r mod G)·P + j / S] (layer norm: G = 1, P = W,
 * S = 1, γ along the row; group norm: row r = (n, g), P channels of S entries each).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <string.h>

#include "_norm_common.h"

/* ------------------------------------------------------------------------------------
 * Rows: x R×W (W = P·S), a statistic per row; γ, β: G·P
 */

/* One row: x̂ into hat (if any) and y (if any) = x̂·γ + β, γ and β the row's G·P slice
 * start (P entries, each over S consecutive entries of the row). */
static void normalize_params_row(const double *restrict x, double *restrict hat,
                                 double *restrict y, Py_ssize_t p_, Py_ssize_t s_, double mu,
                                 double inv, const double *weight, const double *bias)
{
    Py_ssize_t w_ = p_ * s_;
    if (hat)
        for (Py_ssize_t j = 0; j < w_; j++) hat[j] = (x[j] - mu) * inv;
    if (!y) return;
    if (!(weight || bias)) {
        normalize_row(x, NULL, y, w_, mu, inv, NULL, NULL);
    } else if (s_ > 1) {  /* per channel of S entries: scalar γ, β */
        for (Py_ssize_t k = 0; k < p_; k++)
            normalize_row(x + k * s_, NULL, y + k * s_, s_, mu, inv,
                          weight ? weight + k : NULL, bias ? bias + k : NULL);
    } else if (weight && bias) {  /* S = 1 (layer norm): γ, β along the row */
        for (Py_ssize_t j = 0; j < w_; j++) y[j] = ((x[j] - mu) * inv) * weight[j] + bias[j];
    } else if (weight) {
        for (Py_ssize_t j = 0; j < w_; j++) y[j] = ((x[j] - mu) * inv) * weight[j];
    } else {
        for (Py_ssize_t j = 0; j < w_; j++) y[j] = ((x[j] - mu) * inv) + bias[j];
    }
}

/* rows_forward(x, y, x_hat, mean, var, weight, bias, R, G, P, S, eps, frozen, r0, r1)
 *
 * x: R×W; y, x_hat: R×W or None; mean, var: R, written for rows [r0, r1) (read when
 * frozen); weight, bias: G·P or None.  Per row: μ = Σx/W, σ² = Σ(x − μ)²/W (pairwise),
 * then x̂ and y from the row in cache. */
static PyObject *rows_forward(PyObject *self, PyObject *args)
{
    PyObject *objs[7];
    Py_ssize_t r_, g_, p_, s_, r0, r1;
    double eps;
    int frozen;
    if (!PyArg_ParseTuple(args, "OOOOOOOnnnndpnn", &objs[0], &objs[1], &objs[2], &objs[3],
                          &objs[4], &objs[5], &objs[6], &r_, &g_, &p_, &s_, &eps, &frozen, &r0,
                          &r1))
        return NULL;
    Py_ssize_t total = entries(r_, p_, s_), params = entries(g_, p_, 1);
    if (total < 0 || params < 0 || kb_range(r0, r1, r_) < 0) return NULL;
    Py_ssize_t w_ = p_ * s_;
    KbHeld held = {.count = 0};
    Forward f;
    if (!take_forward(&held, objs, total, r_, params, frozen, &f)) return NULL;
    const double *x = f.x, *weight = f.weight, *bias = f.bias;
    double *y = f.y, *hat = f.hat, *mean = f.mean, *var = f.var;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t r = r0; r < r1; r++) {
        const double *row = x + r * w_;
        if (!frozen) {
            double mu = sum_of(row, row, 0.0, 0.0, w_) / (double)w_;
            mean[r] = mu;
            var[r] = deviation_of(row, row, mu, 0.0, w_) / (double)w_;
        }
        Py_ssize_t first = (r % g_) * p_;  /* the row's γ, β: G·P entries from here */
        normalize_params_row(row, hat ? hat + r * w_ : NULL, y ? y + r * w_ : NULL, p_, s_,
                             mean[r], 1.0 / sqrt(var[r] + eps),
                             weight ? weight + first : NULL, bias ? bias + first : NULL);
    }
    Py_END_ALLOW_THREADS
    kb_release(&held);
    Py_RETURN_NONE;
}

/* One row of rows_backward: hat (W) = x̂, g (W) = ∂L/∂x̂ = γ·∂L/∂y (g = dy without γ);
 * ∂L/∂x = (g − (x̂·Σg·x̂/W + Σg/W))·inv into grad; the row's ∂L/∂β and ∂L/∂γ terms added
 * to the block's accumulators bias_acc, weight_acc (G·P, from the row's first entry). */
static void gradient_params_row(const double *restrict dy, const double *restrict x,
                                double *restrict grad, double *restrict hat,
                                double *restrict g, Py_ssize_t p_, Py_ssize_t s_, double mu,
                                double inv, const double *weight, double *restrict bias_acc,
                                double *restrict weight_acc)
{
    Py_ssize_t w_ = p_ * s_;
    const double *gs = dy;
    if (weight && s_ == 1) {
        for (Py_ssize_t j = 0; j < w_; j++) {
            hat[j] = (x[j] - mu) * inv;
            g[j] = dy[j] * weight[j];
        }
        gs = g;
    } else {
        for (Py_ssize_t j = 0; j < w_; j++) hat[j] = (x[j] - mu) * inv;
        if (weight) {
            for (Py_ssize_t k = 0; k < p_; k++)
                for (Py_ssize_t s = 0; s < s_; s++) g[k * s_ + s] = dy[k * s_ + s] * weight[k];
            gs = g;
        }
    }
    double total, projected;  /* Σ∂L/∂x̂ / W and Σ∂L/∂x̂·x̂ / W */
    sum_and_product_of(gs, hat, 0.0, 0.0, w_, &total, &projected);
    total /= (double)w_;
    projected /= (double)w_;
    if (s_ == 1) {  /* with the row's terms of ∂L/∂β and ∂L/∂γ in the same pass */
        for (Py_ssize_t j = 0; j < w_; j++) {
            grad[j] = (gs[j] - (hat[j] * projected + total)) * inv;
            bias_acc[j] += dy[j];
            weight_acc[j] += dy[j] * hat[j];
        }
        return;
    }
    for (Py_ssize_t j = 0; j < w_; j++) grad[j] = (gs[j] - (hat[j] * projected + total)) * inv;
    {
        for (Py_ssize_t k = 0; k < p_; k++) {
            bias_acc[k] += sum_of(dy + k * s_, dy + k * s_, 0.0, 0.0, s_);
            weight_acc[k] += product_of(dy + k * s_, hat + k * s_, 0.0, 0.0, s_);
        }
    }
}

/* rows_backward(grad_y, x, mean, var, weight, grad, weight_parts, bias_parts,
 *               R, G, P, S, eps, block, r0, r1)
 *
 * grad_y, x: R×W; mean, var: R; weight: G·P or None; writes ∂L/∂x (grad, R×W) for rows
 * [r0, r1), and for each block b of `block` rows there (r0 a multiple of block) row b of
 * weight_parts and bias_parts (⌈R/block⌉×G·P): Σ∂L/∂y·x̂ and Σ∂L/∂y over the block's
 * rows, added row after row (per channel of S entries pairwise first).  Python adds the
 * blocks' rows in block order: the same sums for any split of the blocks into calls. */
static PyObject *rows_backward(PyObject *self, PyObject *args)
{
    PyObject *odys, *ox, *omean, *ovar, *oweight, *ograd, *owp, *obp;
    Py_ssize_t r_, g_, p_, s_, block, r0, r1;
    double eps;
    if (!PyArg_ParseTuple(args, "OOOOOOOOnnnndnnn", &odys, &ox, &omean, &ovar, &oweight,
                          &ograd, &owp, &obp, &r_, &g_, &p_, &s_, &eps, &block, &r0, &r1))
        return NULL;
    Py_ssize_t total = entries(r_, p_, s_), params = entries(g_, p_, 1);
    if (total < 0 || params < 0 || kb_range(r0, r1, r_) < 0) return NULL;
    if (block < 1 || r0 % block != 0) {
        PyErr_SetString(PyExc_ValueError, "r0 must be a multiple of block >= 1");
        return NULL;
    }
    /* ⌈R/block⌉ without R + block − 1, which overflows for a block near 2^63 */
    Py_ssize_t blocks = r_ / block + (r_ % block != 0), w_ = p_ * s_;
    if (entries(blocks, params, 1) < 0) return NULL;
    KbHeld held = {.count = 0};
    const double *dy = kb_hold(&held, odys, total, 0, "grad_y");
    const double *x = kb_hold(&held, ox, total, 0, "x");
    const double *mean = kb_hold(&held, omean, r_, 0, "mean");
    const double *var = kb_hold(&held, ovar, r_, 0, "var");
    const double *weight = kb_hold(&held, oweight, params, KB_OPTIONAL, "weight");
    double *grad = kb_hold(&held, ograd, total, KB_WRITABLE, "grad");
    double *weight_parts = kb_hold(&held, owp, blocks * params, KB_WRITABLE, "weight_parts");
    double *bias_parts = kb_hold(&held, obp, blocks * params, KB_WRITABLE, "bias_parts");
    if (kb_ready(&held) < 0) return NULL;
    double *scratch = PyMem_RawMalloc(2 * (size_t)w_ * sizeof(double)); /* x̂, ∂L/∂x̂ */
    if (!scratch) {
        kb_release(&held);
        return PyErr_NoMemory();
    }
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t r = r0; r < r1; r++) {
        double *bias_acc = bias_parts + (r / block) * params;
        double *weight_acc = weight_parts + (r / block) * params;
        if (r % block == 0) {
            memset(bias_acc, 0, (size_t)params * sizeof(double));
            memset(weight_acc, 0, (size_t)params * sizeof(double));
        }
        Py_ssize_t first = (r % g_) * p_;
        gradient_params_row(dy + r * w_, x + r * w_, grad + r * w_, scratch, scratch + w_,
                            p_, s_, mean[r], 1.0 / sqrt(var[r] + eps),
                            weight ? weight + first : NULL, bias_acc + first,
                            weight_acc + first);
    }
    Py_END_ALLOW_THREADS
    PyMem_RawFree(scratch);
    kb_release(&held);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"rows_forward", rows_forward, METH_VARARGS,
     "rows_forward(x, y, x_hat, mean, var, weight, bias, R, G, P, S, eps, frozen, r0, r1)"},
    {"rows_backward", rows_backward, METH_VARARGS,
     "rows_backward(grad_y, x, mean, var, weight, grad, weight_parts, bias_parts, R, G, P, S,"
     " eps, block, r0, r1)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_norm_rows",
    "Layer and group norm's fused float64 loops (see core/ops/normalization_kernel.py).", -1,
    methods,
};

PyMODINIT_FUNC PyInit__norm_rows(void) { return PyModule_Create(&module); }
