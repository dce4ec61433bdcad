/* Fused float64 loops of the normalization op (core/ops/normalization.py), for its two
 * large layouts (core/ops/normalization_kernel.py chooses them and calls these):
 *
 * - channels (batch norm 1d and 2d): x is N×C×L (L = H·W, 1 for 1d); each statistic
 *   averages the M = N·L entries of one channel c, γ and β are one number per channel.
 *   A channel is walked a row of L at a time, or, for short rows (L < 16, batch norm 1d),
 *   a range of channels is walked as columns (see columns_forward).
 * - rows (layer norm, group norm): x is R×W rows, W = P·S; each statistic averages one
 *   row (M = W); γ and β have G·P entries, entry (r, j) of x takes γ[(r mod G)·P + j / S]
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
 * overlap any other buffer.  Nothing is read or written outside the buffers.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <string.h>

/* ------------------------------------------------------------------------------------
 * Pairwise summation, as NumPy's sum does it: up to 128 terms with 8 accumulators,
 * longer ranges split in halves (the rounding error grows as log n, not n).  Each
 * function sums one term over i < n of arrays a (and b); mu, inv are scalars.
 */
#define DEFINE_PAIRWISE(NAME, TERM)                                                     \
    static double NAME(const double *a, const double *b, double mu, double inv,       \
                       Py_ssize_t n)                                                    \
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
    static void NAME(const double *a, const double *b, double mu, double inv,          \
                     Py_ssize_t n, double *one, double *two)                            \
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
 * Buffers
 */
#define MAX_BUFFERS 8

typedef struct {
    Py_buffer views[MAX_BUFFERS];
    int writable[MAX_BUFFERS];
    int count;
} Buffers;

static void release_all(Buffers *held)
{
    for (int k = 0; k < held->count; k++) PyBuffer_Release(&held->views[k]);
    held->count = 0;
}

/* The float64 data of obj, `length` entries (NULL for None when `optional`); NULL with
 * an exception set (and *failed = 1) when obj is not such a buffer. */
static double *take(Buffers *held, PyObject *obj, Py_ssize_t length, int writable,
                    int optional, const char *name, int *failed)
{
    if (*failed) return NULL;
    if (obj == Py_None && optional) return NULL;
    Py_buffer *view = &held->views[held->count];
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, view, flags) < 0) {
        *failed = 1;
        return NULL;
    }
    held->writable[held->count] = writable;
    held->count++;
    if (view->format == NULL || strcmp(view->format, "d") != 0 || view->itemsize != 8) {
        PyErr_Format(PyExc_TypeError, "%s must be a float64 buffer", name);
        *failed = 1;
        return NULL;
    }
    if (view->len != length * 8) {
        PyErr_Format(PyExc_ValueError, "%s has %zd entries, expected %zd", name,
                     view->len / 8, length);
        *failed = 1;
        return NULL;
    }
    return (double *)view->buf;
}

/* Whether an output shares memory with another buffer (restrict pointers need not). */
static int overlapping(Buffers *held)
{
    for (int i = 0; i < held->count; i++) {
        if (!held->writable[i]) continue;
        char *start = held->views[i].buf, *stop = start + held->views[i].len;
        for (int k = 0; k < held->count; k++) {
            if (k == i) continue;
            char *other = held->views[k].buf, *end = other + held->views[k].len;
            if (start < end && other < stop) {
                PyErr_SetString(PyExc_ValueError, "an output overlaps another buffer");
                return 1;
            }
        }
    }
    return 0;
}

/* n1·n2·n3 entries, or -1 (ValueError) if a dim is < 1 or the product overflows. */
static Py_ssize_t entries(Py_ssize_t n1, Py_ssize_t n2, Py_ssize_t n3)
{
    if (n1 < 1 || n2 < 1 || n3 < 1) {
        PyErr_SetString(PyExc_ValueError, "dims must be at least 1");
        return -1;
    }
    Py_ssize_t limit = PY_SSIZE_T_MAX / 8;
    if (n1 > limit / n2 || n1 * n2 > limit / n3) {
        PyErr_SetString(PyExc_OverflowError, "dims too large");
        return -1;
    }
    return n1 * n2 * n3;
}

static int check_range(Py_ssize_t start, Py_ssize_t stop, Py_ssize_t length)
{
    if (start < 0 || start > stop || stop > length) {
        PyErr_SetString(PyExc_ValueError, "range out of bounds");
        return 0;
    }
    return 1;
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
static int take_forward(Buffers *held, PyObject *const objs[7], Py_ssize_t total,
                        Py_ssize_t stats, Py_ssize_t params, int frozen, Forward *out)
{
    int failed = 0;
    out->x = take(held, objs[0], total, 0, 0, "x", &failed);
    out->y = take(held, objs[1], total, 1, 1, "y", &failed);
    out->hat = take(held, objs[2], total, 1, 1, "x_hat", &failed);
    out->mean = take(held, objs[3], stats, !frozen, 0, "mean", &failed);
    out->var = take(held, objs[4], stats, !frozen, 0, "var", &failed);
    out->weight = take(held, objs[5], params, 0, 1, "weight", &failed);
    out->bias = take(held, objs[6], params, 0, 1, "bias", &failed);
    if (failed || overlapping(held)) {
        release_all(held);
        return 0;
    }
    return 1;
}

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

/* One row of L entries: x̂ = (x − μ)·inv into hat (if any), y = x̂·γ + β into y (if any;
 * without γ y = x̂, without β no addition). */
static void normalize_row(const double *restrict x, double *restrict hat, double *restrict y,
                          Py_ssize_t l_, double mu, double inv, const double *weight,
                          const double *bias)
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
    if (total < 0 || !check_range(c0, c1, c_)) return NULL;
    Buffers held = {.count = 0};
    Forward f;
    if (!take_forward(&held, objs, total, c_, c_, frozen, &f)) return NULL;
    const double *x = f.x, *weight = f.weight, *bias = f.bias;
    double *y = f.y, *hat = f.hat, *mean = f.mean, *var = f.var;
    int columns = l_ < COLUMNS_BELOW;
    /* scratch: N row sums, or 5·K for columns_forward */
    size_t scratch = columns ? 5 * (size_t)(c1 - c0) * (size_t)l_ : (size_t)n_;
    double *sums = PyMem_RawMalloc((scratch ? scratch : 1) * sizeof(double));
    if (!sums) {
        release_all(&held);
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
    release_all(&held);
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
    if (total < 0 || !check_range(c0, c1, c_)) return NULL;
    Buffers held = {.count = 0};
    int failed = 0;
    const double *dy = take(&held, odys, total, 0, 0, "grad_y", &failed);
    const double *x = take(&held, ox, total, 0, 0, "x", &failed);
    const double *mean = take(&held, omean, c_, 0, 0, "mean", &failed);
    const double *var = take(&held, ovar, c_, 0, 0, "var", &failed);
    const double *weight = take(&held, oweight, c_, 0, 1, "weight", &failed);
    double *grad = take(&held, ograd, total, 1, 0, "grad", &failed);
    double *grad_weight = take(&held, ogw, c_, 1, 0, "grad_weight", &failed);
    double *grad_bias = take(&held, ogb, c_, 1, 0, "grad_bias", &failed);
    if (failed || overlapping(&held)) {
        release_all(&held);
        return NULL;
    }
    int columns = l_ < COLUMNS_BELOW;
    /* scratch: N row sums, or 7·K for columns_backward */
    size_t scratch = columns ? 7 * (size_t)(c1 - c0) * (size_t)l_ : (size_t)n_;
    double *sums = PyMem_RawMalloc((scratch ? scratch : 1) * sizeof(double));
    if (!sums) {
        release_all(&held);
        return PyErr_NoMemory();
    }
    double m = (double)n_ * (double)l_;
    Py_BEGIN_ALLOW_THREADS
    if (columns && c1 > c0)
        columns_backward(dy, x, mean, var, weight, grad, grad_weight, grad_bias, n_, c_, l_, eps,
                         frozen, c0, c1, sums);
    for (Py_ssize_t c = c0; c < c1 && !columns; c++) {
        double mu = mean[c], inv = 1.0 / sqrt(var[c] + eps);
        /* Σ∂L/∂y and Σ∂L/∂y·x̂ over the channel: per row pairwise, then over the N rows
         * pairwise (sums: N row sums).  Two passes: the second finds the channel in cache,
         * and one fused pass would need more accumulators than there are registers. */
        for (Py_ssize_t n = 0; n < n_; n++) {
            const double *row = dy + (n * c_ + c) * l_;
            sums[n] = sum_of(row, row, 0.0, 0.0, l_);
        }
        double bias_sum = sum_of(sums, sums, 0.0, 0.0, n_);
        for (Py_ssize_t n = 0; n < n_; n++) {
            Py_ssize_t at = (n * c_ + c) * l_;
            sums[n] = with_hat_of(x + at, dy + at, mu, inv, l_);
        }
        double weight_sum = sum_of(sums, sums, 0.0, 0.0, n_);
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
    release_all(&held);
    Py_RETURN_NONE;
}

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
    if (total < 0 || params < 0 || !check_range(r0, r1, r_)) return NULL;
    Py_ssize_t w_ = p_ * s_;
    Buffers held = {.count = 0};
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
    release_all(&held);
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
    if (total < 0 || params < 0 || !check_range(r0, r1, r_)) return NULL;
    if (block < 1 || r0 % block != 0) {
        PyErr_SetString(PyExc_ValueError, "r0 must be a multiple of block >= 1");
        return NULL;
    }
    /* ⌈R/block⌉ without R + block − 1, which overflows for a block near 2^63 */
    Py_ssize_t blocks = r_ / block + (r_ % block != 0), w_ = p_ * s_;
    if (entries(blocks, params, 1) < 0) return NULL;
    Buffers held = {.count = 0};
    int failed = 0;
    const double *dy = take(&held, odys, total, 0, 0, "grad_y", &failed);
    const double *x = take(&held, ox, total, 0, 0, "x", &failed);
    const double *mean = take(&held, omean, r_, 0, 0, "mean", &failed);
    const double *var = take(&held, ovar, r_, 0, 0, "var", &failed);
    const double *weight = take(&held, oweight, params, 0, 1, "weight", &failed);
    double *grad = take(&held, ograd, total, 1, 0, "grad", &failed);
    double *weight_parts = take(&held, owp, blocks * params, 1, 0, "weight_parts", &failed);
    double *bias_parts = take(&held, obp, blocks * params, 1, 0, "bias_parts", &failed);
    if (failed || overlapping(&held)) {
        release_all(&held);
        return NULL;
    }
    double *scratch = PyMem_RawMalloc(2 * (size_t)w_ * sizeof(double)); /* x̂, ∂L/∂x̂ */
    if (!scratch) {
        release_all(&held);
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
    release_all(&held);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"channels_forward", channels_forward, METH_VARARGS,
     "channels_forward(x, y, x_hat, mean, var, weight, bias, N, C, L, eps, frozen, c0, c1)"},
    {"channels_backward", channels_backward, METH_VARARGS,
     "channels_backward(grad_y, x, mean, var, weight, grad, grad_weight, grad_bias, N, C, L,"
     " eps, frozen, c0, c1)"},
    {"rows_forward", rows_forward, METH_VARARGS,
     "rows_forward(x, y, x_hat, mean, var, weight, bias, R, G, P, S, eps, frozen, r0, r1)"},
    {"rows_backward", rows_backward, METH_VARARGS,
     "rows_backward(grad_y, x, mean, var, weight, grad, weight_parts, bias_parts, R, G, P, S,"
     " eps, block, r0, r1)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_norm",
    "Fused float64 loops of the normalization op (see core/ops/normalization_kernel.py).", -1,
    methods,
};

PyMODINIT_FUNC PyInit__norm(void)
{
    PyObject *made = PyModule_Create(&module);
    if (made && PyModule_AddIntConstant(made, "COLUMNS_BELOW", COLUMNS_BELOW) < 0) {
        Py_DECREF(made);
        return NULL;
    }
    return made;
}
