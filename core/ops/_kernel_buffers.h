/* Taking arrays into gradcalc's compiled kernels (core/ops/_*.c) without ever reading or
 * writing outside them: shared by every kernel file, which includes it.
 *
 * A kernel takes its arrays through the buffer protocol, C-contiguous, of 8-byte entries
 * (float64 "d", or 8-byte integers "l"/"q"), and checks each length against the dims it
 * was given; it refuses an output that shares memory with another buffer (its loops take
 * restrict pointers: an output written through one and read through another would be
 * undefined behaviour); and it checks that the product of its dims fits a byte count
 * before multiplying them.
 *
 * The helpers are static inline, so each extension module gets its own copy and none is
 * exported.  setup.py lists this header in every kernel's `depends` (a change rebuilds
 * them) and the package data ships it in the sdist.  Not an extension of its own: setup.py
 * builds only `_*.c`.  In the comments, "dims" are the array sizes the Python caller
 * passes beside the buffers.
 *
 * Errors: a buffer whose entries are not of the format asked for raises TypeError; a
 * length that does not match the dims, or an overlapping output, ValueError.  A buffer the
 * object cannot give at all (not a buffer, not C-contiguous, read-only) raises the
 * object's own error (NumPy: ValueError; bytes: BufferError; a list: TypeError), or with
 * KB_TYPE_ERRORS a TypeError (_net.c's convention; the norm kernels keep the object's).
 * Dims out of range raise ValueError; a product too large, the error type the caller names
 * (_net.c: ValueError, the norm kernels: OverflowError).
 */
#ifndef GRADCALC_KERNEL_BUFFERS_H
#define GRADCALC_KERNEL_BUFFERS_H

#ifndef PY_SSIZE_T_CLEAN
#define PY_SSIZE_T_CLEAN
#endif
#include <Python.h>
#include <string.h>

/* kb_take's and kb_hold's flags */
#define KB_WRITABLE 1          /* the kernel writes the buffer */
#define KB_TYPE_ERRORS 2       /* a buffer the object cannot give: TypeError "NAME must be a
                                  C-contiguous [writable] buffer", not the object's own error */
#define KB_ORDER_PREFIX 4      /* a format with a native byte-order prefix ("@d", "=d", and
                                  on a little-endian machine "<d", as ctypes arrays give)
                                  counts as "d"; without the flag only "d" itself does */
#define KB_OPTIONAL 8          /* kb_hold: None stands for no buffer (NULL) */

/* The buffer of `obj` into `view`: C-contiguous, `count` entries of 8 bytes, its format
 * one letter of `formats` ("d": float64; "lq": 8-byte signed integers), writable with
 * KB_WRITABLE.  0 on success (PyBuffer_Release the view after); -1 with an exception set
 * (TypeError, ValueError, or the object's own: see above) and nothing held. */
static inline int kb_take(PyObject *obj, Py_buffer *view, Py_ssize_t count, const char *formats,
                          int flags, const char *name)
{
    int writable = flags & KB_WRITABLE;
    int asked = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, view, asked) < 0) {
        if (flags & KB_TYPE_ERRORS) {
            PyErr_Clear();
            PyErr_Format(PyExc_TypeError, "%s must be a C-contiguous%s buffer", name,
                         writable ? " writable" : "");
        }
        return -1;
    }
    const char *format = view->format ? view->format : "B";
#if PY_LITTLE_ENDIAN
    int native_prefix = format[0] == '<' || format[0] == '=' || format[0] == '@';
#else
    int native_prefix = format[0] == '>' || format[0] == '!' || format[0] == '=' ||
                        format[0] == '@';
#endif
    if ((flags & KB_ORDER_PREFIX) && native_prefix) format++;
    if (view->itemsize != 8 || strlen(format) != 1 || !strchr(formats, format[0])) {
        PyErr_Format(PyExc_TypeError, "%s must hold %s", name,
                     formats[0] == 'd' ? "float64" : "8-byte integers");
        PyBuffer_Release(view);
        return -1;
    }
    if (view->len != count * 8) {
        PyErr_Format(PyExc_ValueError, "%s holds %zd entries, the dims say %zd", name,
                     view->len / 8, count);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

/* 0 when none of views[inputs], ..., views[count - 1] (the outputs) shares a byte with
 * another of the `count` views; else -1 with a ValueError set. */
static inline int kb_apart(Py_buffer *const views[], int count, int inputs)
{
    for (int i = inputs; i < count; i++) {
        const char *start = views[i]->buf, *stop = start + views[i]->len;
        for (int k = 0; k < count; k++) {
            const char *other = views[k]->buf, *end = other + views[k]->len;
            if (k != i && start < end && other < stop) {
                PyErr_SetString(PyExc_ValueError, "an output overlaps another buffer");
                return -1;
            }
        }
    }
    return 0;
}

/* The product of `count` dims, each in [least, most], or -1 with an exception set: a
 * ValueError when a dim lies outside (every dim is checked before any product), else
 * `too_large` when the product overflows Py_ssize_t as a count of 8-byte entries' bytes.
 * Bounding every dim (kernels that index with dim·stride sums use most = 2^30) keeps the
 * index arithmetic far below 2^63. */
static inline Py_ssize_t kb_product(const Py_ssize_t *dims, int count, Py_ssize_t least,
                                    Py_ssize_t most, PyObject *too_large)
{
    for (int i = 0; i < count; i++) {
        if (dims[i] < least || dims[i] > most) {
            if (most == PY_SSIZE_T_MAX)
                PyErr_Format(PyExc_ValueError, "dims must be at least %zd", least);
            else
                PyErr_Format(PyExc_ValueError, "dims must lie in [%zd, %zd]", least, most);
            return -1;
        }
    }
    Py_ssize_t total = 1;
    for (int i = 0; i < count; i++) {
        if (dims[i] != 0 && total > (PY_SSIZE_T_MAX / 8) / dims[i]) {
            PyErr_SetString(too_large, "dims too large");
            return -1;
        }
        total *= dims[i];
    }
    return total;
}

/* 0 when [start, stop) is a range of [0, length); else -1 with a ValueError set. */
static inline int kb_range(Py_ssize_t start, Py_ssize_t stop, Py_ssize_t length)
{
    if (start < 0 || start > stop || stop > length) {
        PyErr_SetString(PyExc_ValueError, "range out of bounds");
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------------------
 * Held buffers: a kernel with many arguments takes each with kb_hold (float64) or
 * kb_hold_as (another 8-byte format), checks them all at once with kb_ready, and
 * releases them all with kb_release:
 *
 *     KbHeld held = {.count = 0};
 *     const double *x = kb_hold(&held, x_obj, n, 0, "x");
 *     double *y = kb_hold(&held, y_obj, n, KB_WRITABLE | KB_OPTIONAL, "y");
 *     if (kb_ready(&held) < 0) return NULL;
 *     ... the loops ...
 *     kb_release(&held);
 */
#define KB_MOST_HELD 8

typedef struct {
    Py_buffer views[KB_MOST_HELD];
    int writable[KB_MOST_HELD];
    int count;  /* views held (to release) */
    int failed; /* a kb_hold failed: its exception is set, later ones do nothing */
} KbHeld;

static inline void kb_release(KbHeld *held)
{
    for (int k = 0; k < held->count; k++) PyBuffer_Release(&held->views[k]);
    held->count = 0;
}

/* The data of obj, `count` entries of 8 bytes in one of `formats` (kb_take's: "d" for
 * float64, "lq" for 8-byte integers), held until kb_release (see kb_take for the flags);
 * NULL for None with KB_OPTIONAL, and NULL when this or an earlier kb_hold failed (the
 * first failure's exception stays set). */
static inline void *kb_hold_as(KbHeld *held, PyObject *obj, Py_ssize_t count,
                               const char *formats, int flags, const char *name)
{
    if (held->failed || (obj == Py_None && (flags & KB_OPTIONAL))) return NULL;
    if (held->count == KB_MOST_HELD) {
        PyErr_SetString(PyExc_SystemError, "a kernel holds more than KB_MOST_HELD buffers");
        held->failed = 1;
        return NULL;
    }
    Py_buffer *view = &held->views[held->count];
    if (kb_take(obj, view, count, formats, flags, name) < 0) {
        held->failed = 1;
        return NULL;
    }
    held->writable[held->count] = flags & KB_WRITABLE;
    held->count++;
    return view->buf;
}

/* kb_hold_as for float64 data. */
static inline double *kb_hold(KbHeld *held, PyObject *obj, Py_ssize_t count, int flags,
                              const char *name)
{
    return (double *)kb_hold_as(held, obj, count, "d", flags, name);
}

/* 0 when every kb_hold succeeded and no written buffer overlaps another; else -1 with an
 * exception set and every buffer released. */
static inline int kb_ready(KbHeld *held)
{
    if (!held->failed) {
        Py_buffer *ordered[KB_MOST_HELD]; /* the read buffers first, then the written */
        int placed = 0, inputs = 0;
        for (int k = 0; k < held->count; k++)
            if (!held->writable[k]) ordered[placed++] = &held->views[k];
        inputs = placed;
        for (int k = 0; k < held->count; k++)
            if (held->writable[k]) ordered[placed++] = &held->views[k];
        if (kb_apart(ordered, held->count, inputs) == 0) return 0;
    }
    kb_release(held);
    return -1;
}

#endif /* GRADCALC_KERNEL_BUFFERS_H */
