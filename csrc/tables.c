/* The native source and stream tables: what a run's Counter knows per sender and per
 * stream, bounded however many there are.
 *
 * The twins, and the specification, are wskrecv/stats/sources.py (SourceTable) and
 * wskrecv/stats/sequence.py (StreamTable): the same constructors, methods and attributes,
 * the same eviction (the half with the fewest datagrams, or the least active streams, in
 * the order the table met them). Each table owns its data: `rows` is a copy
 * ({remote: [datagrams, bytes]}), `streams` a read-only view of the trackers, `retired`
 * and `totals()` new SequenceTotals objects. The native Counter (counting.c) updates its
 * own two tables through sources_count and streams_new.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdlib.h>

#include "core.h"
#include "tables.h"
#include "tracker.h"

/* One sender's counts: a row of SourceTable.rows, private to the table. */
typedef struct {
    PyObject_HEAD
    uint64_t datagrams, bytes;
} SourceCount;

static void
SourceCount_dealloc(PyObject *self)
{
    core_free(self);
}

static PyType_Slot SourceCount_slots[] = {
    {Py_tp_dealloc, SourceCount_dealloc},
    {0, NULL},
};

static PyType_Spec SourceCount_spec = {
    .name = "wskrecv._core.SourceCount",
    .basicsize = sizeof(SourceCount),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = SourceCount_slots,
};

/* An item of a table being sorted for eviction: its place in the table breaks ties, so
 * the order is Python's stable sort of the dict's items. */
typedef struct {
    i128 weight;
    Py_ssize_t place;
    PyObject *key, *value; /* borrowed from the dict */
} Ranked;

static int
by_weight(const void *a, const void *b)
{
    const Ranked *x = a, *y = b;
    if (x->weight != y->weight) {
        return x->weight < y->weight ? -1 : 1;
    }
    return x->place < y->place ? -1 : x->place > y->place;
}

/* The items of `dict` sorted by `weight(value)`, ties in the dict's order; each holds a
 * reference to its key and value (a key's __eq__ may run Python code while items go), so
 * release them with unranked. */
static Ranked *
ranked(PyObject *dict, i128 (*weight)(PyObject *), Py_ssize_t *n)
{
    *n = PyDict_GET_SIZE(dict);
    Ranked *items = PyMem_Calloc((size_t)(*n ? *n : 1), sizeof(Ranked));
    if (items == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    Py_ssize_t pos = 0, i = 0;
    PyObject *key, *value;
    while (i < *n && PyDict_Next(dict, &pos, &key, &value)) {
        items[i] = (Ranked){weight(value), i, Py_NewRef(key), Py_NewRef(value)};
        i++;
    }
    qsort(items, (size_t)i, sizeof(Ranked), by_weight);
    *n = i;
    return items;
}

static void
unranked(Ranked *items, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_DECREF(items[i].key);
        Py_DECREF(items[i].value);
    }
    PyMem_Free(items);
}

/* -- SourceTable ---------------------------------------------------------------------- */

static i128
source_weight(PyObject *row)
{
    return ((SourceCount *)row)->datagrams;
}

/* SourceTable._evict: the half with the fewest datagrams goes. */
static int
sources_evict(SourceTable *self)
{
    Py_ssize_t n;
    Ranked *items = ranked(self->rows, source_weight, &n);
    if (items == NULL) {
        return -1;
    }
    Py_ssize_t cut = n / 2 > 1 ? n / 2 : 1;
    int status = 0;
    for (Py_ssize_t i = 0; i < cut && i < n; i++) {
        if ((status = PyDict_DelItem(self->rows, items[i].key)) < 0) {
            break;
        }
        self->evicted++;
    }
    unranked(items, n);
    return status;
}

/* SourceTable.new: the first datagram of `remote`; its row (a new reference), or NULL. */
static SourceCount *
sources_new(SourceTable *self, PyObject *remote, uint64_t size)
{
    if (PyDict_GET_SIZE(self->rows) >= self->max_sources && sources_evict(self) < 0) {
        return NULL;
    }
    SourceCount *row = PyObject_New(SourceCount, self->row_type);
    if (row == NULL) {
        return NULL;
    }
    row->datagrams = 1;
    row->bytes = size;
    if (PyDict_SetItem(self->rows, remote, (PyObject *)row) < 0) {
        Py_DECREF(row);
        return NULL;
    }
    self->seen++;
    return row;
}

int
sources_count(SourceTable *self, PyObject *remote, uint64_t count, uint64_t size, uint64_t first_size)
{
    PyObject *row = PyDict_GetItemWithError(self->rows, remote);
    if (row != NULL) {
        ((SourceCount *)row)->datagrams += count;
        ((SourceCount *)row)->bytes += size;
        return 0;
    }
    SourceCount *first = PyErr_Occurred() ? NULL : sources_new(self, remote, first_size);
    if (first == NULL) {
        return -1;
    }
    first->datagrams += count - 1;
    first->bytes += size - first_size;
    Py_DECREF(first);
    return 0;
}

SourceTable *
sources_make(core_state *st, Py_ssize_t max_sources)
{
    SourceTable *self = (SourceTable *)st->sources_type->tp_alloc(st->sources_type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->rows = PyDict_New();
    if (self->rows == NULL) {
        Py_DECREF(self);
        return NULL;
    }
    self->row_type = (PyTypeObject *)Py_NewRef(st->source_count_type);
    self->max_sources = max_sources > 1 ? max_sources : 1;
    return self;
}

static int
SourceTable_ready(SourceTable *self)
{
    return core_initialised((PyObject *)self, self->rows != NULL);
}

static int
SourceTable_init(SourceTable *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"max_sources", NULL};
    PyObject *max_obj = NULL;
    Py_ssize_t max_sources = 1024;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|O:SourceTable", kwlist, &max_obj) ||
        (max_obj != NULL && core_clamped_index(max_obj, &max_sources) < 0)) {
        return -1;
    }
    core_state *st = core_state_of_type(Py_TYPE(self));
    PyObject *rows = st != NULL ? PyDict_New() : NULL;
    if (rows == NULL) {
        return -1;
    }
    Py_XSETREF(self->rows, rows);
    Py_XSETREF(self->row_type, (PyTypeObject *)Py_NewRef(st->source_count_type));
    self->max_sources = max_sources > 1 ? max_sources : 1;
    self->evicted = self->seen = 0;
    return 0;
}

static PyObject *
SourceTable_new(SourceTable *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "new(remote, size)");
        return NULL;
    }
    unsigned long long size = PyLong_AsUnsignedLongLong(args[1]);
    if ((size == (unsigned long long)-1 && PyErr_Occurred()) || SourceTable_ready(self) < 0) {
        return NULL;
    }
    SourceCount *row = sources_new(self, args[0], size);
    if (row == NULL) {
        return NULL;
    }
    Py_DECREF(row);
    Py_RETURN_NONE;
}

static PyObject *
SourceTable_rows(SourceTable *self, void *closure)
{
    if (SourceTable_ready(self) < 0) {
        return NULL;
    }
    PyObject *out = PyDict_New();
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    while (out != NULL && PyDict_Next(self->rows, &pos, &key, &value)) {
        PyObject *row = Py_BuildValue("[KK]", (unsigned long long)((SourceCount *)value)->datagrams,
                                      (unsigned long long)((SourceCount *)value)->bytes);
        Py_INCREF(key); /* its __eq__ may run Python code that changes the table */
        if (row == NULL || PyDict_SetItem(out, key, row) < 0) {
            Py_CLEAR(out);
        }
        Py_DECREF(key);
        Py_XDECREF(row);
    }
    return out;
}

static int
SourceTable_traverse(SourceTable *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->rows);
    Py_VISIT(self->row_type);
    return 0;
}

static int
SourceTable_clear(SourceTable *self)
{
    Py_CLEAR(self->rows);
    Py_CLEAR(self->row_type);
    return 0;
}

static void
SourceTable_dealloc(SourceTable *self)
{
    PyObject_GC_UnTrack(self);
    SourceTable_clear(self);
    core_free((PyObject *)self);
}

static PyMethodDef SourceTable_methods[] = {
    {"new", (PyCFunction)(void (*)(void))SourceTable_new, METH_FASTCALL,
     "new(remote, size): count the first datagram of `remote` (the table is full: the smallest half goes)."},
    {NULL, NULL, 0, NULL},
};

/* A read-only number of a table, AttributeError before __init__ (as the twin's). */
#define TABLE_GETTER(Type, field, convert)                  \
    static PyObject *Type##_##field(Type *self, void *c)    \
    {                                                       \
        if (Type##_ready(self) < 0) {                       \
            return NULL;                                    \
        }                                                   \
        return convert(self->field);                        \
    }
TABLE_GETTER(SourceTable, max_sources, PyLong_FromSsize_t)
TABLE_GETTER(SourceTable, evicted, PyLong_FromUnsignedLongLong)
TABLE_GETTER(SourceTable, seen, PyLong_FromUnsignedLongLong)

static PyGetSetDef SourceTable_getset[] = {
    {"max_sources", (getter)SourceTable_max_sources, NULL, "senders counted at once", NULL},
    {"evicted", (getter)SourceTable_evicted, NULL, "senders dropped from the table", NULL},
    {"seen", (getter)SourceTable_seen, NULL, "senders counted (a returning one again)", NULL},
    {"rows", (getter)SourceTable_rows, NULL, "{remote: [datagrams, bytes]}, a copy, in the order senders came",
     NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot SourceTable_slots[] = {
    {Py_tp_doc, "SourceTable(max_sources=1024): the twin of wskrecv.stats.sources.SourceTable."},
    {Py_tp_new, PyType_GenericNew},
    {Py_tp_init, SourceTable_init},
    {Py_tp_dealloc, SourceTable_dealloc},
    {Py_tp_traverse, SourceTable_traverse},
    {Py_tp_clear, SourceTable_clear},
    {Py_tp_methods, SourceTable_methods},
    {Py_tp_getset, SourceTable_getset},
    {0, NULL},
};

static PyType_Spec SourceTable_spec = {
    .name = "wskrecv._core.SourceTable",
    .basicsize = sizeof(SourceTable),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = SourceTable_slots,
};

/* -- StreamTable ---------------------------------------------------------------------- */

static i128
stream_activity(PyObject *tracker)
{
    const Tracker *t = (const Tracker *)tracker;
    return (i128)(t->prior_seen + t->seen + t->duplicates + t->late) - t->mark;
}

/* StreamTable._evict: the half that delivered least since the last eviction is retired
 * (its counts kept in `retired`); the rest start a new period. */
static int
streams_evict(StreamTable *self)
{
    Py_ssize_t n;
    Ranked *items = ranked(self->streams, stream_activity, &n);
    if (items == NULL) {
        return -1;
    }
    Py_ssize_t cut = n / 2 > 1 ? n / 2 : 1;
    for (Py_ssize_t i = cut; i < n; i++) { /* before any item goes (and takes its tracker) */
        Tracker *t = (Tracker *)items[i].value;
        t->mark = t->prior_seen + t->seen + t->duplicates + t->late;
    }
    int status = 0;
    for (Py_ssize_t i = 0; i < cut && i < n; i++) {
        tracker_add_to((Tracker *)items[i].value, &self->retired);
        if ((status = PyDict_DelItem(self->streams, items[i].key)) < 0) {
            break;
        }
        self->evicted++;
    }
    unranked(items, n);
    return status;
}

/* remote[:2]: (address, port), how `expect` names a sender (as Python slices it). */
static PyObject *
address_port(PyObject *remote)
{
    PyObject *two = PyLong_FromLong(2);
    PyObject *slice = two != NULL ? PySlice_New(NULL, two, NULL) : NULL;
    PyObject *out = slice != NULL ? PyObject_GetItem(remote, slice) : NULL;
    Py_XDECREF(two);
    Py_XDECREF(slice);
    return out;
}

/* ((address, port), stream): the key `expect` files a stream under. */
static PyObject *
expected_key(PyObject *remote, PyObject *stream)
{
    PyObject *short_remote = address_port(remote);
    if (short_remote == NULL) {
        return NULL;
    }
    PyObject *key = PyTuple_Pack(2, short_remote, stream);
    Py_DECREF(short_remote);
    return key;
}

static PyObject *
item(PyObject *obj, long i)
{
    PyObject *index = PyLong_FromLong(i);
    PyObject *out = index != NULL ? PyObject_GetItem(obj, index) : NULL;
    Py_XDECREF(index);
    return out;
}

Tracker *
streams_new(StreamTable *self, PyObject *key, i128 first, int has_transit, i128 transit)
{
    if (PyDict_GET_SIZE(self->streams) >= self->max_streams && streams_evict(self) < 0) {
        return NULL;
    }
    PyObject *start = NULL; /* the first sequence `expect` announced, if any */
    if (PyDict_GET_SIZE(self->expected)) {
        /* (key[0][:2], key[1]), evaluated in Python's order */
        PyObject *remote = item(key, 0);
        PyObject *short_remote = remote != NULL ? address_port(remote) : NULL;
        PyObject *stream = short_remote != NULL ? item(key, 1) : NULL;
        PyObject *ekey = stream != NULL ? PyTuple_Pack(2, short_remote, stream) : NULL;
        Py_XDECREF(remote);
        Py_XDECREF(short_remote);
        Py_XDECREF(stream);
        if (ekey == NULL) {
            return NULL;
        }
        start = PyDict_GetItemWithError(self->expected, ekey);
        Py_XINCREF(start);
        int status = start != NULL ? PyDict_DelItem(self->expected, ekey) : (PyErr_Occurred() ? -1 : 0);
        Py_DECREF(ekey);
        if (status < 0) {
            Py_XDECREF(start);
            return NULL;
        }
    }
    i128 from = 0;
    if (start != NULL) {
        int status = core_to_bounded(start, &from); /* `expect` made it an int in range */
        Py_DECREF(start);
        if (status < 0) {
            return NULL;
        }
    }
    PyTypeObject *type = self->wrap32 ? self->wrap32_type : self->tracker_type;
    Tracker *tracker;
    if (start == NULL || first < from) {
        tracker = tracker_make(type, self->wrap32, first, self->window, has_transit, transit);
    }
    else { /* the sender said where it starts: what came before `first` is lost */
        tracker = tracker_make(type, self->wrap32, from, self->window, 0, 0);
        if (tracker != NULL) {
            tracker->ring[(int64_t)(tracker->base & tracker->mask)] = 0; /* unsee_first */
            tracker->high = tracker->base - 1;
            tracker->seen = 0;
            tracker_see(tracker, first, has_transit, transit);
        }
    }
    if (tracker == NULL) {
        return NULL;
    }
    int status = PyDict_SetItem(self->streams, key, (PyObject *)tracker);
    Py_DECREF(tracker);
    if (status < 0) {
        return NULL;
    }
    self->seen++;
    return tracker;
}

StreamTable *
streams_make(core_state *st, Py_ssize_t max_streams, Py_ssize_t window, int wrap32)
{
    if (!tracker_window_ok(window)) {
        return NULL;
    }
    StreamTable *self = (StreamTable *)st->streams_type->tp_alloc(st->streams_type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->streams = PyDict_New();
    self->expected = PyDict_New();
    if (self->streams == NULL || self->expected == NULL) {
        Py_DECREF(self);
        return NULL;
    }
    self->tracker_type = (PyTypeObject *)Py_NewRef(st->tracker_type);
    self->wrap32_type = (PyTypeObject *)Py_NewRef(st->wrap32_type);
    self->max_streams = max_streams > 1 ? max_streams : 1;
    self->window = window;
    self->wrap32 = wrap32;
    return self;
}

static int
StreamTable_ready(StreamTable *self)
{
    return core_initialised((PyObject *)self, self->streams != NULL);
}

static int
StreamTable_init(StreamTable *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"max_streams", "window", "wrap32", NULL};
    PyObject *max_obj = NULL, *window_obj = NULL, *wrap32_obj = Py_False;
    Py_ssize_t max_streams = 1024, window = 1 << 14;
    int wrap32;
    /* The twin's order: the window, the bound, then the counter's width. */
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|OOO:StreamTable", kwlist, &max_obj, &window_obj, &wrap32_obj) ||
        (window_obj != NULL && core_clamped_index(window_obj, &window) < 0) || !tracker_window_ok(window) ||
        (max_obj != NULL && core_clamped_index(max_obj, &max_streams) < 0) ||
        (wrap32 = PyObject_IsTrue(wrap32_obj)) < 0) {
        return -1;
    }
    core_state *st = core_state_of_type(Py_TYPE(self));
    if (st == NULL) {
        return -1;
    }
    PyObject *streams = PyDict_New(), *expected = PyDict_New();
    if (streams == NULL || expected == NULL) {
        Py_XDECREF(streams);
        Py_XDECREF(expected);
        return -1;
    }
    Py_XSETREF(self->streams, streams);
    Py_XSETREF(self->expected, expected);
    Py_XSETREF(self->tracker_type, (PyTypeObject *)Py_NewRef(st->tracker_type));
    Py_XSETREF(self->wrap32_type, (PyTypeObject *)Py_NewRef(st->wrap32_type));
    self->max_streams = max_streams > 1 ? max_streams : 1;
    self->window = window;
    self->wrap32 = wrap32;
    self->evicted = self->seen = 0;
    memset(&self->retired, 0, sizeof self->retired);
    return 0;
}

static PyObject *
StreamTable_new(StreamTable *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"key", "first", "transit_ns", NULL};
    PyObject *key, *first_obj, *transit_obj = Py_None;
    i128 first, transit = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO|O:new", kwlist, &key, &first_obj, &transit_obj) ||
        StreamTable_ready(self) < 0 || core_to_bounded(first_obj, &first) < 0 ||
        (transit_obj != Py_None && core_to_bounded(transit_obj, &transit) < 0)) {
        return NULL;
    }
    Tracker *tracker = streams_new(self, key, first, transit_obj != Py_None, transit);
    return tracker != NULL ? Py_NewRef((PyObject *)tracker) : NULL;
}

static PyObject *
StreamTable_expect(StreamTable *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "expect(remote, stream, first)");
        return NULL;
    }
    if (StreamTable_ready(self) < 0) {
        return NULL;
    }
    PyObject *remote = args[0], *stream = args[1];
    i128 check;
    PyObject *first = PyNumber_Index(args[2]);
    if (first == NULL || core_to_bounded(first, &check) < 0) {
        Py_XDECREF(first);
        return NULL;
    }
    PyObject *ekey = expected_key(remote, stream);
    if (ekey == NULL) {
        Py_DECREF(first);
        return NULL;
    }
    if (PyDict_GET_SIZE(self->expected) >= self->max_streams) {
        PyDict_Clear(self->expected);
    }
    int status = PyDict_SetItem(self->expected, ekey, first);
    Py_DECREF(first);
    PyObject *full = status == 0 ? PyTuple_Pack(2, remote, stream) : NULL;
    PyObject *keys[2] = {full, ekey};
    for (int k = 0; k < 2 && full != NULL; k++) { /* a tracker there: a new stream on a reused port */
        PyObject *old = PyDict_GetItemWithError(self->streams, keys[k]);
        if (old == NULL) {
            if (PyErr_Occurred()) {
                Py_CLEAR(full);
            }
            continue;
        }
        tracker_add_to((Tracker *)old, &self->retired);
        if (PyDict_DelItem(self->streams, keys[k]) < 0) {
            Py_CLEAR(full);
        }
    }
    Py_DECREF(ekey);
    if (full == NULL) {
        return NULL;
    }
    Py_DECREF(full);
    Py_RETURN_NONE;
}

static PyObject *
StreamTable_use_wrap32(StreamTable *self, PyObject *arg)
{
    int wrap32 = PyObject_IsTrue(arg);
    if (wrap32 < 0 || StreamTable_ready(self) < 0) {
        return NULL;
    }
    self->wrap32 = wrap32;
    Py_RETURN_NONE;
}

/* A SequenceTotals (stats/sequence.py) holding `totals`. */
static PyObject *
totals_object(StreamTable *self, const Totals *totals)
{
    core_state *st = core_state_of_type(Py_TYPE(self));
    PyObject *cls = st != NULL ? core_totals_type(st) : NULL;
    PyObject *out = cls != NULL ? PyObject_CallNoArgs(cls) : NULL;
    if (out == NULL) {
        return NULL;
    }
    const struct {
        const char *name;
        i128 value;
    } fields[] = {{"lost", totals->lost}, {"reordered", totals->reordered}, {"duplicates", totals->duplicates},
                  {"late", totals->late}, {"expected", totals->expected}, {"sequenced", totals->sequenced},
                  {"restarts", totals->restarts}, {"streams", totals->streams}};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        PyObject *v = core_from_i128(fields[i].value);
        int status = v != NULL ? PyObject_SetAttrString(out, fields[i].name, v) : -1;
        Py_XDECREF(v);
        if (status < 0) {
            Py_DECREF(out);
            return NULL;
        }
    }
    return out;
}

static PyObject *
StreamTable_retired(StreamTable *self, void *closure)
{
    if (StreamTable_ready(self) < 0) {
        return NULL;
    }
    return totals_object(self, &self->retired);
}

static PyObject *
StreamTable_totals(StreamTable *self, PyObject *unused)
{
    if (StreamTable_ready(self) < 0) {
        return NULL;
    }
    Totals totals = self->retired;
    Py_ssize_t pos = 0;
    PyObject *key, *tracker;
    while (PyDict_Next(self->streams, &pos, &key, &tracker)) {
        tracker_add_to((Tracker *)tracker, &totals);
    }
    return totals_object(self, &totals);
}

static PyObject *
StreamTable_mean_jitter_ns(StreamTable *self, PyObject *unused)
{
    if (StreamTable_ready(self) < 0) {
        return NULL;
    }
    double sum = 0.0;
    Py_ssize_t n = 0, pos = 0;
    PyObject *key, *tracker;
    while (PyDict_Next(self->streams, &pos, &key, &tracker)) {
        if (((Tracker *)tracker)->has_jitter) {
            sum += ((Tracker *)tracker)->jitter;
            n++;
        }
    }
    if (n == 0) {
        Py_RETURN_NONE;
    }
    return PyFloat_FromDouble(sum / (double)n);
}

static PyObject *
StreamTable_streams(StreamTable *self, void *closure)
{
    if (StreamTable_ready(self) < 0) {
        return NULL;
    }
    return PyDictProxy_New(self->streams);
}

static int
StreamTable_traverse(StreamTable *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->streams);
    Py_VISIT(self->expected);
    Py_VISIT(self->tracker_type);
    Py_VISIT(self->wrap32_type);
    return 0;
}

static int
StreamTable_clear(StreamTable *self)
{
    Py_CLEAR(self->streams);
    Py_CLEAR(self->expected);
    Py_CLEAR(self->tracker_type);
    Py_CLEAR(self->wrap32_type);
    return 0;
}

static void
StreamTable_dealloc(StreamTable *self)
{
    PyObject_GC_UnTrack(self);
    StreamTable_clear(self);
    core_free((PyObject *)self);
}

static PyMethodDef StreamTable_methods[] = {
    {"new", (PyCFunction)(void (*)(void))StreamTable_new, METH_VARARGS | METH_KEYWORDS,
     "new(key, first, transit_ns=None) -> StreamTracker: start tracking `key` at sequence `first`."},
    {"expect", (PyCFunction)(void (*)(void))StreamTable_expect, METH_FASTCALL,
     "expect(remote, stream, first): the sender at `remote` will start `stream` at sequence `first`."},
    {"use_wrap32", (PyCFunction)StreamTable_use_wrap32, METH_O,
     "use_wrap32(wrap32): unwrap 32-bit counters in streams started from now on."},
    {"totals", (PyCFunction)StreamTable_totals, METH_NOARGS,
     "totals() -> SequenceTotals: retired plus live counts, summed now."},
    {"mean_jitter_ns", (PyCFunction)StreamTable_mean_jitter_ns, METH_NOARGS,
     "mean_jitter_ns() -> float or None: the mean of the live streams' jitter estimates."},
    {NULL, NULL, 0, NULL},
};

TABLE_GETTER(StreamTable, max_streams, PyLong_FromSsize_t)
TABLE_GETTER(StreamTable, window, PyLong_FromSsize_t)
TABLE_GETTER(StreamTable, evicted, PyLong_FromUnsignedLongLong)
TABLE_GETTER(StreamTable, seen, PyLong_FromUnsignedLongLong)

static PyGetSetDef StreamTable_getset[] = {
    {"max_streams", (getter)StreamTable_max_streams, NULL, "streams tracked at once", NULL},
    {"window", (getter)StreamTable_window, NULL, "each tracker's window", NULL},
    {"evicted", (getter)StreamTable_evicted, NULL, "streams retired to bound memory", NULL},
    {"seen", (getter)StreamTable_seen, NULL, "streams started", NULL},
    {"streams", (getter)StreamTable_streams, NULL, "{(remote, stream): StreamTracker}, read-only", NULL},
    {"retired", (getter)StreamTable_retired, NULL, "SequenceTotals of the retired streams (a copy)", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot StreamTable_slots[] = {
    {Py_tp_doc, "StreamTable(max_streams=1024, window=16384, wrap32=False): the twin of "
                "wskrecv.stats.sequence.StreamTable."},
    {Py_tp_new, PyType_GenericNew},
    {Py_tp_init, StreamTable_init},
    {Py_tp_dealloc, StreamTable_dealloc},
    {Py_tp_traverse, StreamTable_traverse},
    {Py_tp_clear, StreamTable_clear},
    {Py_tp_methods, StreamTable_methods},
    {Py_tp_getset, StreamTable_getset},
    {0, NULL},
};

static PyType_Spec StreamTable_spec = {
    .name = "wskrecv._core.StreamTable",
    .basicsize = sizeof(StreamTable),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = StreamTable_slots,
};

int
core_add_tables(PyObject *module, core_state *st)
{
    st->source_count_type = (PyTypeObject *)PyType_FromModuleAndSpec(module, &SourceCount_spec, NULL);
    if (st->source_count_type == NULL) {
        return -1;
    }
    st->sources_type = core_add_type(module, &SourceTable_spec, NULL);
    if (st->sources_type == NULL) {
        return -1;
    }
    st->streams_type = core_add_type(module, &StreamTable_spec, NULL);
    return st->streams_type != NULL ? 0 : -1;
}
