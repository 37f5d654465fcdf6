/* The native stream tracker: loss, reordering, duplicates, restarts and RFC 3550 jitter
 * of one stream, in a sliding window of one byte per sequence.
 *
 * The twin, and the specification, is wskrecv/stats/sequence.py (StreamTracker and
 * Wrap32Tracker): the same constructor, `see`, and the same attributes, so StreamTable
 * (eviction, totals) drives either. Sequences are signed 128-bit, which holds every u64
 * sequence, an unwrapped 32-bit counter, and their differences without overflow.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "core.h"
#include "tracker.h"

#define MAX_WINDOW (1 << 30) /* sequence.MAX_WINDOW */

static i128 expected(Tracker *self);

/* Give `self` its first sequence: a fresh window (0, or -1 with MemoryError). */
static int
tracker_start(Tracker *self, i128 first, Py_ssize_t window, int has_transit, i128 transit, int wrap32)
{
    unsigned char *ring = PyMem_Calloc((size_t)window, 1);
    if (ring == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    PyMem_Free(self->ring);
    self->ring = ring;
    PyMem_Free(self->latency); /* __init__ again: a new stream */
    self->latency = NULL;
    self->bytes = 0;
    self->mask = (int64_t)window - 1;
    self->base = self->high = first;
    self->seen = 1;
    self->reordered = self->duplicates = self->late = self->restarts = 0;
    self->prior_expected = 0;
    self->prior_seen = 0;
    self->mark = 0;
    self->has_jitter = 0;
    self->jitter = 0.0;
    self->has_last = (char)has_transit;
    self->last_transit = has_transit ? transit : 0;
    self->has_probe = 0;
    self->probe = 0;
    self->wrap32 = (char)wrap32;
    ring[(int64_t)(first & self->mask)] = 1;
    return 0;
}

int
tracker_window_ok(Py_ssize_t window)
{
    if (window <= 0 || (window & (window - 1)) || window > MAX_WINDOW) {
        PyErr_SetString(PyExc_ValueError, "window must be a power of two, at most 2**30");
        return 0;
    }
    return 1;
}

Tracker *
tracker_make(PyTypeObject *type, int wrap32, i128 first, Py_ssize_t window, int has_transit, i128 transit)
{
    Tracker *self = (Tracker *)type->tp_alloc(type, 0);
    if (self != NULL && tracker_start(self, first, window, has_transit, transit, wrap32) < 0) {
        Py_CLEAR(self);
    }
    return self;
}

static int
Tracker_init(Tracker *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"first", "window", "transit_ns", NULL};
    PyObject *first_obj, *window_obj = NULL, *transit_obj = Py_None;
    Py_ssize_t window = 1 << 14;
    i128 first, transit = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|OO", kwlist, &first_obj, &window_obj, &transit_obj) ||
        (window_obj != NULL && core_clamped_index(window_obj, &window) < 0) || !tracker_window_ok(window)) {
        return -1;
    }
    core_state *st = core_state_of_type(Py_TYPE(self));
    if (st == NULL || core_to_bounded(first_obj, &first) < 0 ||
        (transit_obj != Py_None && core_to_bounded(transit_obj, &transit) < 0)) {
        return -1;
    }
    return tracker_start(self, first, window, transit_obj != Py_None, transit,
                         PyObject_TypeCheck(self, st->wrap32_type));
}

/* 0, or -1 with AttributeError when __init__ never ran (the object came from __new__):
 * the twin's empty slots raise AttributeError too. */
int
tracker_ready(Tracker *self)
{
    return core_initialised((PyObject *)self, self->ring != NULL);
}

static void
restart(Tracker *self, i128 seq)
{
    self->restarts++;
    self->has_probe = 0;
    self->late--;
    self->prior_expected += self->high - self->base + 1;
    self->prior_seen += self->seen;
    self->base = seq - 1;
    self->high = seq;
    self->seen = 2;
    memset(self->ring, 0, (size_t)(self->mask + 1));
    self->ring[(int64_t)((seq - 1) & self->mask)] = 1;
    self->ring[(int64_t)(seq & self->mask)] = 1;
}

void
tracker_see(Tracker *self, i128 seq, int has_transit, i128 transit)
{
    i128 high = self->high;
    int64_t mask = self->mask;
    unsigned char *ring = self->ring;
    if (self->wrap32) { /* the sequence nearest to the highest seen */
        const i128 wrap = (i128)1 << 32, half = (i128)1 << 31;
        seq |= high & ~(wrap - 1);
        i128 diff = seq - high;
        if (diff > half) {
            seq -= wrap;
        }
        else if (diff < -half) {
            seq += wrap;
        }
    }
    if (seq == high + 1) {
        ring[(int64_t)(seq & mask)] = 1;
        self->high = seq;
        self->seen++;
    }
    else if (seq > high) {
        /* The skipped sequences enter the window unseen: clear their slots. */
        if (seq - high > mask) {
            memset(ring, 0, (size_t)mask + 1);
        }
        else {
            int64_t start = (int64_t)((high + 1) & mask), end = (int64_t)(seq & mask);
            if (start < end) {
                memset(ring + start, 0, (size_t)(end - start));
            }
            else {
                memset(ring + start, 0, (size_t)(mask + 1 - start));
                memset(ring, 0, (size_t)end);
            }
        }
        ring[(int64_t)(seq & mask)] = 1;
        self->high = seq;
        self->seen++;
    }
    else if (seq > high - mask - 1) {
        int64_t i = (int64_t)(seq & mask);
        if (ring[i]) {
            self->duplicates++;
        }
        else {
            ring[i] = 1;
            self->seen++;
            self->reordered++;
            if (seq < self->base) {
                self->base = seq;
            }
        }
    }
    else if (self->has_probe && seq == self->probe) {
        restart(self, seq);
    }
    else {
        self->late++;
        self->has_probe = 1;
        self->probe = seq + 1;
    }
    if (has_transit) { /* RFC 3550 jitter, over consecutive arrivals whatever their sequence */
        if (self->has_last) {
            i128 d = transit - self->last_transit;
            if (d < 0) {
                d = -d;
            }
            double dd = (double)d;
            self->jitter = self->has_jitter ? self->jitter + (dd - self->jitter) / 16 : dd / 16;
            self->has_jitter = 1;
        }
        self->last_transit = transit;
        self->has_last = 1;
    }
}

void
tracker_add_to(const Tracker *self, Totals *totals)
{
    i128 expect = expected((Tracker *)self), distinct = self->prior_seen + self->seen;
    totals->lost += expect - distinct;
    totals->reordered += self->reordered;
    totals->duplicates += self->duplicates;
    totals->late += self->late;
    totals->expected += expect;
    totals->sequenced += distinct + self->duplicates + self->late;
    totals->restarts += self->restarts;
    totals->streams++;
}

static PyObject *
Tracker_see(Tracker *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"seq", "transit_ns", NULL};
    PyObject *seq_obj, *transit_obj = Py_None;
    i128 seq, transit = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|O:see", kwlist, &seq_obj, &transit_obj) ||
        tracker_ready(self) < 0) {
        return NULL;
    }
    if (core_to_bounded(seq_obj, &seq) < 0) {
        return NULL;
    }
    if (transit_obj != Py_None && core_to_bounded(transit_obj, &transit) < 0) {
        return NULL;
    }
    tracker_see(self, seq, transit_obj != Py_None, transit);
    Py_RETURN_NONE;
}

static PyObject *
Tracker_unsee_first(Tracker *self, PyObject *unused)
{
    if (tracker_ready(self) < 0) {
        return NULL;
    }
    self->ring[(int64_t)(self->base & self->mask)] = 0;
    self->high = self->base - 1;
    self->seen = 0;
    Py_RETURN_NONE;
}

static void
Tracker_dealloc(Tracker *self)
{
    PyMem_Free(self->ring);
    PyMem_Free(self->latency);
    core_free((PyObject *)self);
}

static PyObject *
get_base(Tracker *self, void *c)
{
    if (tracker_ready(self) < 0) {
        return NULL;
    }
    return core_from_i128(self->base);
}

static PyObject *
get_high(Tracker *self, void *c)
{
    if (tracker_ready(self) < 0) {
        return NULL;
    }
    return core_from_i128(self->high);
}

static PyObject *
get_window(Tracker *self, void *c)
{
    if (tracker_ready(self) < 0) {
        return NULL;
    }
    return PyLong_FromLongLong(self->mask + 1);
}

static PyObject *
get_distinct(Tracker *self, void *c)
{
    if (tracker_ready(self) < 0) {
        return NULL;
    }
    return PyLong_FromLongLong(self->prior_seen + self->seen);
}

static PyObject *
get_datagrams(Tracker *self, void *c)
{
    if (tracker_ready(self) < 0) {
        return NULL;
    }
    return PyLong_FromLongLong(self->prior_seen + self->seen + self->duplicates + self->late);
}

static i128
expected(Tracker *self)
{
    return self->prior_expected + self->high - self->base + 1;
}

static PyObject *
get_expected(Tracker *self, void *c)
{
    if (tracker_ready(self) < 0) {
        return NULL;
    }
    return core_from_i128(expected(self));
}

static PyObject *
get_lost(Tracker *self, void *c)
{
    if (tracker_ready(self) < 0) {
        return NULL;
    }
    return core_from_i128(expected(self) - (self->prior_seen + self->seen));
}

static PyObject *
get_jitter(Tracker *self, void *c)
{
    if (tracker_ready(self) < 0) {
        return NULL;
    }
    if (!self->has_jitter) {
        Py_RETURN_NONE;
    }
    return PyFloat_FromDouble(self->jitter);
}

static PyObject *
get_last_transit(Tracker *self, void *c)
{
    if (tracker_ready(self) < 0) {
        return NULL;
    }
    if (!self->has_last) {
        Py_RETURN_NONE;
    }
    return core_from_i128(self->last_transit);
}

static PyObject *
get_probe(Tracker *self, void *c)
{
    if (tracker_ready(self) < 0) {
        return NULL;
    }
    if (!self->has_probe) {
        Py_RETURN_NONE;
    }
    return core_from_i128(self->probe);
}

static PyObject *
get_mark(Tracker *self, void *c)
{
    if (tracker_ready(self) < 0) {
        return NULL;
    }
    return PyLong_FromLongLong(self->mark);
}

static int
set_mark(Tracker *self, PyObject *value, void *c)
{
    if (value == NULL) {
        PyErr_SetString(PyExc_AttributeError, "cannot delete mark");
        return -1;
    }
    long long v = PyLong_AsLongLong(value);
    if (v == -1 && PyErr_Occurred()) {
        return -1;
    }
    self->mark = v;
    return 0;
}

#define COUNT_GETTER(name)                                  \
    static PyObject *get_##name(Tracker *self, void *c)     \
    {                                                       \
        if (tracker_ready(self) < 0) {                      \
            return NULL;                                    \
        }                                                   \
        return PyLong_FromLongLong(self->name);             \
    }
COUNT_GETTER(seen)
COUNT_GETTER(reordered)
COUNT_GETTER(duplicates)
COUNT_GETTER(late)
COUNT_GETTER(restarts)

static PyObject *
get_bytes(Tracker *self, void *c)
{
    if (tracker_ready(self) < 0) {
        return NULL;
    }
    return PyLong_FromUnsignedLongLong(self->bytes);
}

static PyObject *
get_latency(Tracker *self, void *c)
{
    if (tracker_ready(self) < 0) {
        return NULL;
    }
    if (self->latency == NULL) {
        Py_RETURN_NONE;
    }
    core_state *st = core_state_of_type(Py_TYPE(self));
    return st != NULL ? hist_object(st, self->latency) : NULL;
}

static PyGetSetDef Tracker_getset[] = {
    {"base", (getter)get_base, NULL, "lowest sequence seen", NULL},
    {"high", (getter)get_high, NULL, "highest sequence seen", NULL},
    {"seen", (getter)get_seen, NULL, "distinct sequences seen in the current run", NULL},
    {"reordered", (getter)get_reordered, NULL, NULL, NULL},
    {"duplicates", (getter)get_duplicates, NULL, NULL, NULL},
    {"late", (getter)get_late, NULL, NULL, NULL},
    {"restarts", (getter)get_restarts, NULL, NULL, NULL},
    {"jitter_ns", (getter)get_jitter, NULL, "RFC 3550 jitter estimate, or None", NULL},
    {"last_transit", (getter)get_last_transit, NULL, NULL, NULL},
    {"probe", (getter)get_probe, NULL, NULL, NULL},
    {"mark", (getter)get_mark, (setter)set_mark, "datagrams when the table last looked", NULL},
    {"window", (getter)get_window, NULL, NULL, NULL},
    {"distinct", (getter)get_distinct, NULL, NULL, NULL},
    {"datagrams", (getter)get_datagrams, NULL, NULL, NULL},
    {"lost", (getter)get_lost, NULL, NULL, NULL},
    {"expected", (getter)get_expected, NULL, NULL, NULL},
    {"bytes", (getter)get_bytes, NULL, "the stream's datagrams' bytes", NULL},
    {"latency", (getter)get_latency, NULL,
     "the stream's one-way latency Histogram (a copy), or None before the first", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMethodDef Tracker_methods[] = {
    {"see", (PyCFunction)(void (*)(void))Tracker_see, METH_VARARGS | METH_KEYWORDS,
     "see(seq, transit_ns=None): count one datagram carrying `seq`."},
    {"unsee_first", (PyCFunction)Tracker_unsee_first, METH_NOARGS,
     "unsee_first(): forget the first sequence before any datagram carried it (StreamTable.expect)."},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot Tracker_slots[] = {
    {Py_tp_doc, "StreamTracker(first, window=16384, transit_ns=None): the twin of wskrecv.stats.sequence.StreamTracker."},
    {Py_tp_new, PyType_GenericNew},
    {Py_tp_init, Tracker_init},
    {Py_tp_dealloc, Tracker_dealloc},
    {Py_tp_methods, Tracker_methods},
    {Py_tp_getset, Tracker_getset},
    {0, NULL},
};

static PyType_Spec Tracker_spec = {
    .name = "wskrecv._core.StreamTracker",
    .basicsize = sizeof(Tracker),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = Tracker_slots,
};

static PyType_Slot Wrap32Tracker_slots[] = {
    {Py_tp_doc, "A StreamTracker that unwraps a 32-bit counter (iperf3's default): the twin of "
                "wskrecv.stats.sequence.Wrap32Tracker."},
    {0, NULL},
};

static PyType_Spec Wrap32Tracker_spec = {
    .name = "wskrecv._core.Wrap32Tracker",
    .basicsize = sizeof(Tracker),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = Wrap32Tracker_slots,
};

int
core_add_trackers(PyObject *module, core_state *st)
{
    st->tracker_type = core_add_type(module, &Tracker_spec, NULL);
    if (st->tracker_type == NULL) {
        return -1;
    }
    st->wrap32_type = core_add_type(module, &Wrap32Tracker_spec, st->tracker_type);
    return st->wrap32_type != NULL ? 0 : -1;
}
