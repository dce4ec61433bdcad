/* Fused float64 loops of a net's numeric path (core/ops/conv.py, pool.py, elementwise.py).

Each function takes C-contiguous float64 buffers (the integer `first` of max pooling:
8-byte integers) through the buffer protocol, checks that every length matches the dims
it is given, refuses an output that overlaps another buffer, and writes only its output
buffers.  Each loop replaces several NumPy passes
(or a fancy-indexed gather or scatter) by one; the matrix products stay in NumPy's BLAS.

No loop sums many terms: a col2im cell adds at most kh*kw taps, one at a time in the
order NumPy's per-tap adds take them, so results equal the NumPy path's bit for bit.
The GIL is released around every loop: blocks of a batch (core/parallel.py) run
concurrently, each writing only its own samples' entries.
*/

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

/* ------------------------------------------------------------------------- */
/* Buffers: _kernel_buffers.h's helpers, with this file's conventions: any buffer refused
   is a TypeError (even one the object cannot give: not C-contiguous, read-only), a
   byte-order prefix on a native format is accepted, and every dim lies in [0, MOST_DIM]. */

#include "_kernel_buffers.h"

/* Holds obj's buffer in `held` (kb_hold_as with this file's flags): C-contiguous, `count`
   entries of 8 bytes in one of `formats` ("d": float64; "lq": 8-byte signed integers),
   writable when asked.  NULL once a buffer is refused (a TypeError or ValueError set); then
   kb_ready fails and releases every buffer held. */
static void *hold(KbHeld *held, PyObject *obj, Py_ssize_t count, const char *formats,
                  int writable, const char *name) {
    int flags = KB_TYPE_ERRORS | KB_ORDER_PREFIX | (writable ? KB_WRITABLE : 0);
    return kb_hold_as(held, obj, count, formats, flags, name);
}

/* Every dim at most 2^30: index arithmetic such as i*stride + m*dilation then stays far
   below 2^63 (no overflow, whatever Python passes). */
#define MOST_DIM ((Py_ssize_t)1 << 30)

/* The product of `count` dims in [0, MOST_DIM], or -1 (ValueError set) if one is outside
   or the product overflows Py_ssize_t (as a byte count). */
static Py_ssize_t product(const Py_ssize_t *dims, int count) {
    return kb_product(dims, count, 0, MOST_DIM, PyExc_ValueError);
}

/* ------------------------------------------------------------------------- */
/* Convolution geometry: (N, C, H, W, kh, kw, sh, sw, dh, dw, top, left, H_out, W_out) */

typedef struct {
    Py_ssize_t n, c, h, w, kh, kw, sh, sw, dh, dw, top, left, oh, ow;
} ConvDims;

static int conv_dims(PyObject *args_dims, ConvDims *d) {
    if (!PyArg_ParseTuple(args_dims, "nnnnnnnnnnnnnn", &d->n, &d->c, &d->h, &d->w, &d->kh,
                          &d->kw, &d->sh, &d->sw, &d->dh, &d->dw, &d->top, &d->left, &d->oh,
                          &d->ow))
        return -1;
    if (d->sh < 1 || d->sw < 1 || d->dh < 1 || d->dw < 1 || d->top < 0 || d->left < 0) {
        PyErr_SetString(PyExc_ValueError, "strides and dilations must be >= 1, padding >= 0");
        return -1;
    }
    Py_ssize_t steps[] = {d->sh, d->sw, d->dh, d->dw, d->top, d->left};
    for (int i = 0; i < 6; i++) {
        if (steps[i] > MOST_DIM) {
            PyErr_SetString(PyExc_ValueError, "strides, dilations and padding must be <= 2^30");
            return -1;
        }
    }
    Py_ssize_t all[] = {d->n, d->c, d->h, d->w, d->kh, d->kw, d->oh, d->ow};
    Py_ssize_t columns[] = {d->n, d->c, d->kh, d->kw, d->oh, d->ow};
    if (product(all, 8) < 0 || product(columns, 6) < 0) return -1;
    return 0;
}

/* The windows j (of W_out) whose column j*stride + shift lies on a row of `width` cells:
   j in [*first, *stop) (empty when none does). */
static void on_input(Py_ssize_t shift, Py_ssize_t stride, Py_ssize_t width, Py_ssize_t count,
                     Py_ssize_t *first, Py_ssize_t *stop) {
    *first = shift >= 0 ? 0 : (-shift + stride - 1) / stride;
    *stop = width - shift <= 0 ? 0 : (width - shift - 1) / stride + 1;
    if (*stop > count) *stop = count;
    if (*first > *stop) *first = *stop;
}

/* im2col(x, columns, dims): columns[n, (c, m, q), (i, j)] = x_pad[n, c, i*sh + m*dh, j*sw + q*dw],
   x: N x C x H x W, columns: N x (C*kh*kw) x (H_out*W_out); x_pad is x with `top` rows and
   `left` columns of zeros before it (and zeros past its end): a cell off x reads 0. */
static PyObject *im2col(PyObject *self, PyObject *args) {
    PyObject *x_obj, *columns_obj, *dims_obj;
    ConvDims d;
    if (!PyArg_ParseTuple(args, "OOO!", &x_obj, &columns_obj, &PyTuple_Type, &dims_obj))
        return NULL;
    if (conv_dims(dims_obj, &d) < 0) return NULL;
    Py_ssize_t column_count = d.n * d.c * d.kh * d.kw * d.oh * d.ow;
    KbHeld held = {.count = 0};
    const double *restrict x = hold(&held, x_obj, d.n * d.c * d.h * d.w, "d", 0, "x");
    double *restrict out = hold(&held, columns_obj, column_count, "d", 1, "columns");
    if (kb_ready(&held) < 0) return NULL;
    /* Without columns there is nothing to write; and the loops below would run
       N*C*kh*kw*H_out times (up to 2^60 when W_out = 0): skip them.  With columns, every
       loop count is a factor of their (buffer-checked) length. */
    Py_ssize_t planes = column_count == 0 ? 0 : d.n * d.c;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t plane = 0; plane < planes; plane++) {
        const double *xp = x + plane * d.h * d.w;
        for (Py_ssize_t m = 0; m < d.kh; m++) {
            for (Py_ssize_t q = 0; q < d.kw; q++) {
                Py_ssize_t shift = q * d.dw - d.left;
                Py_ssize_t j0, j1;
                on_input(shift, d.sw, d.w, d.ow, &j0, &j1);
                for (Py_ssize_t i = 0; i < d.oh; i++, out += d.ow) {
                    Py_ssize_t row = i * d.sh + m * d.dh - d.top;
                    if (row < 0 || row >= d.h) {
                        for (Py_ssize_t j = 0; j < d.ow; j++) out[j] = 0.0;
                        continue;
                    }
                    const double *src = xp + row * d.w;
                    for (Py_ssize_t j = 0; j < j0; j++) out[j] = 0.0;
                    for (Py_ssize_t j = j0; j < j1; j++) out[j] = src[j * d.sw + shift];
                    for (Py_ssize_t j = j1; j < d.ow; j++) out[j] = 0.0;
                }
            }
        }
    }
    Py_END_ALLOW_THREADS
    kb_release(&held);
    Py_RETURN_NONE;
}

/* col2im(window_grads, grad_x, dims): the scatter-add of the window gradients onto the cells
   they read, padding cells dropped.  window_grads: N x kh x kw x C x H_out x W_out (tap-major),
   grad_x: N x C x H x W, overwritten with
   grad_x[n, c, y, x] = sum over taps (m, q) in row-major order, and windows (i, j) with
   i*sh + m*dh - top = y and j*sw + q*dw - left = x, of window_grads[n, m, q, c, i, j],
   added one at a time to 0.0 in that tap order (as NumPy's one add per tap does). */
static PyObject *col2im(PyObject *self, PyObject *args) {
    PyObject *grads_obj, *out_obj, *dims_obj;
    ConvDims d;
    if (!PyArg_ParseTuple(args, "OOO!", &grads_obj, &out_obj, &PyTuple_Type, &dims_obj))
        return NULL;
    if (conv_dims(dims_obj, &d) < 0) return NULL;
    Py_ssize_t grad_count = d.n * d.kh * d.kw * d.c * d.oh * d.ow;
    Py_ssize_t cell_count = d.n * d.c * d.h * d.w;
    KbHeld held = {.count = 0};
    const double *restrict grads = hold(&held, grads_obj, grad_count, "d", 0, "window_grads");
    double *restrict out = hold(&held, out_obj, cell_count, "d", 1, "grad_x");
    if (kb_ready(&held) < 0) return NULL;
    Py_ssize_t plane = d.oh * d.ow;
    /* Without window gradients grad_x is all 0, and the loops below (N*kh*kw*C*H_out
       times, up to 2^60 when W_out = 0) are skipped; with them, every loop count is a
       factor of their (buffer-checked) length. */
    Py_ssize_t samples = grad_count == 0 ? 0 : d.n;
    Py_BEGIN_ALLOW_THREADS
    memset(out, 0, (size_t)cell_count * sizeof(double));
    for (Py_ssize_t n = 0; n < samples; n++) {
        for (Py_ssize_t m = 0; m < d.kh; m++) {
            for (Py_ssize_t q = 0; q < d.kw; q++) {
                Py_ssize_t shift = q * d.dw - d.left, j0, j1;
                on_input(shift, d.sw, d.w, d.ow, &j0, &j1);
                for (Py_ssize_t c = 0; c < d.c; c++) {
                    const double *tap = grads + (((n * d.kh + m) * d.kw + q) * d.c + c) * plane;
                    double *xp = out + (n * d.c + c) * d.h * d.w;
                    for (Py_ssize_t i = 0; i < d.oh; i++) {
                        Py_ssize_t row = i * d.sh + m * d.dh - d.top;
                        if (row < 0 || row >= d.h) continue;
                        double *dst = xp + row * d.w;
                        const double *src = tap + i * d.ow;
                        for (Py_ssize_t j = j0; j < j1; j++) dst[j * d.sw + shift] += src[j];
                    }
                }
            }
        }
    }
    Py_END_ALLOW_THREADS
    kb_release(&held);
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------------------- */
/* Max pooling where the windows tile the input: dims (N, C, H_out, W_out, kh, kw), x and
   ∂L/∂x N x C x (H_out*kh) x (W_out*kw), the pooled arrays N x C x H_out x W_out. */

static int pool_dims(PyObject *dims_obj, Py_ssize_t *d, Py_ssize_t *cells, Py_ssize_t *pooled) {
    if (!PyArg_ParseTuple(dims_obj, "nnnnnn", &d[0], &d[1], &d[2], &d[3], &d[4], &d[5]))
        return -1;
    if (d[4] < 1 || d[5] < 1) {
        PyErr_SetString(PyExc_ValueError, "the window must have at least one tap");
        return -1;
    }
    if ((*cells = product(d, 6)) < 0 || (*pooled = product(d, 4)) < 0) return -1;
    return 0;
}

/* max_pool_tiled(x, maximum, first, dims) -> True when every window was decided here:
   maximum[n,c,i,j] = max over taps (m, q) of x[n, c, i*kh + m, j*kw + q], and first[n,c,i,j]
   = m*kw + q of the first tap (row-major) equal to it.  False (the caller takes NumPy's
   path) when a window holds a nan or an infinity, or a -0.0 beside a maximum of 0: there
   NumPy's own reduction decides the maximum (nan propagation, which of 0.0 and -0.0) and
   the outputs are incomplete.  (An infinity is no such case, but it is told apart from a
   nan in the same test, x*0.0, and is as rare.) */
static PyObject *max_pool_tiled(PyObject *self, PyObject *args) {
    PyObject *x_obj, *max_obj, *first_obj, *dims_obj;
    Py_ssize_t d[6], cells, pooled;
    if (!PyArg_ParseTuple(args, "OOOO!", &x_obj, &max_obj, &first_obj, &PyTuple_Type, &dims_obj))
        return NULL;
    if (pool_dims(dims_obj, d, &cells, &pooled) < 0) return NULL;
    KbHeld held = {.count = 0};
    const double *restrict x = hold(&held, x_obj, cells, "d", 0, "x");
    double *restrict maximum = hold(&held, max_obj, pooled, "d", 1, "maximum");
    int64_t *restrict first = hold(&held, first_obj, pooled, "lq", 1, "first");
    if (kb_ready(&held) < 0) return NULL;
    Py_ssize_t oh = d[2], ow = d[3], kh = d[4], kw = d[5], width = ow * kw;
    /* unsure: a window holds a nan or an infinity (Σ x*0.0 over it is nan), or its maximum
       is 0 and it holds a -0.0; then NumPy's path takes the whole array (it is rare) */
    int unsure = 0;
    /* no windows (W_out = 0): no pass over the N*C*H_out pooled rows, up to 2^60 of them */
    Py_ssize_t rows = pooled == 0 ? 0 : d[0] * d[1] * oh;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t row = 0; row < rows; row++) {
        /* the windows of one pooled row: x rows row*kh ... row*kh + kh - 1 */
        const double *xr = x + row * kh * width;
        double *restrict best_row = maximum + row * ow;
        int64_t *restrict at_row = first + row * ow;
        if (kh == 2 && kw == 2) { /* the common 2x2 window, unrolled and without branches */
            const double *below = xr + width;
            for (Py_ssize_t j = 0; j < ow; j++) {
                double a = xr[2 * j], b = xr[2 * j + 1], c = below[2 * j], e = below[2 * j + 1];
                /* the maximum of the taps (a, b / c, e), pairwise; without a nan and without
                   a -0.0 beside a maximum of 0 (else unsure, below) it is the value the
                   row-major "strictly greater" scan keeps */
                double upper = b > a ? b : a, lower = e > c ? e : c;
                double best = lower > upper ? lower : upper;
                /* the first tap (row-major) equal to it: 0 if a is, else 1 if b is, ... */
                int64_t off_a = a != best, off_b = b != best, off_c = c != best;
                best_row[j] = best;
                at_row[j] = off_a + off_a * off_b + off_a * off_b * off_c;
                /* a maximum of 0 with a tap whose sign bit is set (-0.0, or below 0): the
                   signs' sum is 4 only when no tap has it */
                double signs = copysign(1.0, a) + copysign(1.0, b) + copysign(1.0, c) +
                               copysign(1.0, e);
                unsure |= (((a * 0.0 + b * 0.0) + (c * 0.0 + e * 0.0)) != 0.0) |
                          ((best == 0.0) & (signs < 4.0));
            }
            continue;
        }
        for (Py_ssize_t j = 0; j < ow; j++) {
            const double *corner = xr + j * kw;
            double best = corner[0], probe = 0.0;
            int64_t at = 0;
            /* taps in row-major order; strictly greater, so the first maximum stays */
            for (Py_ssize_t m = 0; m < kh; m++) {
                for (Py_ssize_t q = 0; q < kw; q++) {
                    double value = corner[m * width + q];
                    int greater = value > best;
                    best = greater ? value : best;
                    at = greater ? m * kw + q : at;
                    probe += value * 0.0;
                }
            }
            best_row[j] = best;
            at_row[j] = at;
            unsure |= probe != 0.0;
            if (best == 0.0) {
                for (Py_ssize_t m = 0; m < kh; m++)
                    for (Py_ssize_t q = 0; q < kw; q++)
                        unsure |= signbit(corner[m * width + q]) != 0;
            }
        }
    }
    Py_END_ALLOW_THREADS
    kb_release(&held);
    return PyBool_FromLong(!unsure);
}

/* max_pool_route(grad_y, first, grad_x, dims): grad_x[n, c, i*kh + m, j*kw + q] =
   grad_y[n,c,i,j] * (1.0 if m*kw + q == first[n,c,i,j] else 0.0) + 0.0, every cell written
   (the products NumPy's routing takes: nan where grad_y is infinite off the maximum; + 0.0
   turns -0.0 into 0). */
static PyObject *max_pool_route(PyObject *self, PyObject *args) {
    PyObject *grad_obj, *first_obj, *out_obj, *dims_obj;
    Py_ssize_t d[6], cells, pooled;
    if (!PyArg_ParseTuple(args, "OOOO!", &grad_obj, &first_obj, &out_obj, &PyTuple_Type,
                          &dims_obj))
        return NULL;
    if (pool_dims(dims_obj, d, &cells, &pooled) < 0) return NULL;
    KbHeld held = {.count = 0};
    const double *restrict grad = hold(&held, grad_obj, pooled, "d", 0, "grad_y");
    const int64_t *restrict first = hold(&held, first_obj, pooled, "lq", 0, "first");
    double *restrict out = hold(&held, out_obj, cells, "d", 1, "grad_x");
    if (kb_ready(&held) < 0) return NULL;
    Py_ssize_t oh = d[2], ow = d[3], kh = d[4], kw = d[5], width = ow * kw;
    Py_ssize_t taps = kh * kw;
    int bad_first = 0;
    /* no windows (W_out = 0): no pass over the N*C*H_out pooled rows, up to 2^60 of them */
    Py_ssize_t rows = pooled == 0 ? 0 : d[0] * d[1] * oh;
    Py_BEGIN_ALLOW_THREADS
    if (kh == 2 && kw == 2) {
        /* the common 2x2 window: its four cells written once each (the windows tile
           grad_x), grad_y * 0.0 + 0.0 (0.0 for a finite grad_y, nan else), then its first
           maximum grad_y * 1.0 + 0.0; no memset, no division by kw */
        for (Py_ssize_t row = 0; row < rows; row++) {
            double *upper = out + row * 2 * width, *lower = upper + width;
            for (Py_ssize_t j = 0; j < ow; j++) {
                double g = grad[row * ow + j];
                int64_t tap = first[row * ow + j];
                double off = g * 0.0 + 0.0;
                upper[2 * j] = off;
                upper[2 * j + 1] = off;
                lower[2 * j] = off;
                lower[2 * j + 1] = off;
                if (tap < 0 || tap >= 4) {
                    bad_first = 1;
                    continue;
                }
                (tap < 2 ? upper : lower)[2 * j + (tap & 1)] = g * 1.0 + 0.0;
            }
        }
    } else {
        /* grad_y * 0.0 + 0.0 is 0.0 for a finite grad_y: every cell starts so, and only
           each window's first maximum, and every tap of a window whose grad_y is not
           finite, move */
        memset(out, 0, (size_t)cells * sizeof(double));
        for (Py_ssize_t row = 0; row < rows; row++) {
            double *window_rows = out + row * kh * width;
            for (Py_ssize_t j = 0; j < ow; j++) {
                double g = grad[row * ow + j];
                int64_t tap = first[row * ow + j];
                if (tap < 0 || tap >= taps) {
                    bad_first = 1;
                    continue;
                }
                double *corner = window_rows + j * kw;
                if (!(g - g == 0.0)) { /* inf or nan: g * 0.0 is nan off the maximum too */
                    for (Py_ssize_t m = 0; m < kh; m++)
                        for (Py_ssize_t q = 0; q < kw; q++)
                            corner[m * width + q] = g * 0.0 + 0.0;
                }
                corner[(tap / kw) * width + tap % kw] = g * 1.0 + 0.0;
            }
        }
    }
    Py_END_ALLOW_THREADS
    kb_release(&held);
    if (bad_first) {
        PyErr_SetString(PyExc_ValueError, "first holds a tap outside the window");
        return NULL;
    }
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------------------- */
/* ReLU */

/* relu(x, y, slope): y = x if x > 0 else 0.0, and slope = 1.0 if x > 0 else 0.0 (nan and
   -0.0 give 0.0), for each of the `count` entries of x, y and slope (any one shape). */
static PyObject *relu(PyObject *self, PyObject *args) {
    PyObject *x_obj, *y_obj, *slope_obj;
    Py_ssize_t count;
    if (!PyArg_ParseTuple(args, "OOOn", &x_obj, &y_obj, &slope_obj, &count)) return NULL;
    if (product(&count, 1) < 0) return NULL;
    KbHeld held = {.count = 0};
    const double *restrict x = hold(&held, x_obj, count, "d", 0, "x");
    double *restrict y = hold(&held, y_obj, count, "d", 1, "y");
    double *restrict slope = hold(&held, slope_obj, count, "d", 1, "slope");
    if (kb_ready(&held) < 0) return NULL;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t k = 0; k < count; k++) {
        int positive = x[k] > 0.0;
        y[k] = positive ? x[k] : 0.0;
        slope[k] = positive ? 1.0 : 0.0;
    }
    Py_END_ALLOW_THREADS
    kb_release(&held);
    Py_RETURN_NONE;
}

/* relu_forward(x, y, count): y = x if x > 0 else 0.0 (nan and -0.0 give 0.0), for each of
   the `count` entries of x and y (any one shape): relu's output alone.  Its slope [x > 0]
   is left to relu_backward, which reads it off x (one array written, not two). */
static PyObject *relu_forward(PyObject *self, PyObject *args) {
    PyObject *x_obj, *y_obj;
    Py_ssize_t count;
    if (!PyArg_ParseTuple(args, "OOn", &x_obj, &y_obj, &count)) return NULL;
    if (product(&count, 1) < 0) return NULL;
    KbHeld held = {.count = 0};
    const double *restrict x = hold(&held, x_obj, count, "d", 0, "x");
    double *restrict y = hold(&held, y_obj, count, "d", 1, "y");
    if (kb_ready(&held) < 0) return NULL;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t k = 0; k < count; k++) y[k] = x[k] > 0.0 ? x[k] : 0.0;
    Py_END_ALLOW_THREADS
    kb_release(&held);
    Py_RETURN_NONE;
}

/* relu_backward(grad_y, x, grad_x, count): grad_x = grad_y * (1.0 if x > 0 else 0.0), for
   each of the `count` entries of grad_y, x and grad_x (any one shape): ∂L/∂y ⊙ relu'(x),
   the product NumPy's grad_y * slope takes (-0.0 where grad_y < 0 off the positive
   entries, nan where grad_y is not finite), with relu'(0) = 0 as PyTorch's. */
static PyObject *relu_backward(PyObject *self, PyObject *args) {
    PyObject *grad_obj, *x_obj, *out_obj;
    Py_ssize_t count;
    if (!PyArg_ParseTuple(args, "OOOn", &grad_obj, &x_obj, &out_obj, &count)) return NULL;
    if (product(&count, 1) < 0) return NULL;
    KbHeld held = {.count = 0};
    const double *restrict grad = hold(&held, grad_obj, count, "d", 0, "grad_y");
    const double *restrict x = hold(&held, x_obj, count, "d", 0, "x");
    double *restrict out = hold(&held, out_obj, count, "d", 1, "grad_x");
    if (kb_ready(&held) < 0) return NULL;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t k = 0; k < count; k++) {
        double slope = x[k] > 0.0 ? 1.0 : 0.0; /* a select, no branch: the loop vectorizes */
        out[k] = grad[k] * slope;
    }
    Py_END_ALLOW_THREADS
    kb_release(&held);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"im2col", im2col, METH_VARARGS, "im2col(x, columns, dims): the windows' entries, padded."},
    {"col2im", col2im, METH_VARARGS, "col2im(window_grads, grad_x, dims): their scatter-add."},
    {"max_pool_tiled", max_pool_tiled, METH_VARARGS,
     "max_pool_tiled(x, maximum, first, dims) -> whether every window was decided."},
    {"max_pool_route", max_pool_route, METH_VARARGS,
     "max_pool_route(grad_y, first, grad_x, dims): grad_y onto each window's first maximum."},
    {"relu", relu, METH_VARARGS, "relu(x, y, slope, count): y = relu(x), slope = [x > 0]."},
    {"relu_forward", relu_forward, METH_VARARGS, "relu_forward(x, y, count): y = relu(x)."},
    {"relu_backward", relu_backward, METH_VARARGS,
     "relu_backward(grad_y, x, grad_x, count): grad_x = grad_y * [x > 0]."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_net",
    "Fused float64 loops of a net's numeric path (im2col, col2im, tiled max pooling, ReLU).",
    -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__net(void) { return PyModule_Create(&module); }
