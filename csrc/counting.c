/* The native counting kernel: sizes, sources, sequence analysis, jitter and latency
 * histograms for each datagram the application consumed.
 *
 * The twin, and the specification, is wskrecv/stats/counting.py (Counter): the same
 * constructor, `add`, `add_list`, `latency`, `use_seq_format` and attributes. Like the
 * twin, it owns its source and stream tables: the native SourceTable and StreamTable
 * (tables.c), which it updates directly; streams are tracked by the native StreamTracker
 * (tracker.c).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#include "core.h"
#include "hist.h"
#include "tables.h"
#include "tracker.h"

#define SIZE_BUCKETS 18  /* stats/sizes.py */

enum { FMT_NONE, FMT_WSKRECV, FMT_SOCKPERF, FMT_IPERF3, FMT_IPERF3_64 };

typedef struct {
    PyObject_HEAD
    int format;
    int wall_clock; /* send times comparable with kernel timestamps (not iperf3's) */
    uint64_t received, bytes, corrupt, unsequenced;
    uint64_t reply_requests; /* sockperf messages asking for a reply (payload.asks_reply) */
    uint64_t size_min, size_max;
    uint64_t size_counts[SIZE_BUCKETS];
    Hist owd, app; /* this interval's */
    SourceTable *sources;
    StreamTable *streams;
    /* The table key of the last sequenced datagram, reused for the next one from the
     * same stream (no key tuple built; the table is still asked, so eviction and
     * StreamTable.expect are always seen). */
    PyObject *last_remote;
    uint32_t last_stream;
    PyObject *last_key;
} Counter;

/* 0, or -1 with AttributeError when __init__ never ran (the object came from __new__),
 * as the twin's missing attributes raise. */
static int
ready(Counter *self)
{
    return core_initialised((PyObject *)self, self->sources != NULL);
}

static uint64_t
be(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++) {
        v = (v << 8) | p[i];
    }
    return v;
}

typedef struct {
    uint32_t stream;
    uint64_t seq;
    int has_send;
    uint64_t send_ns;
    int valid;
} Header;

/* payload.parse_* (payload.TRUNCATED_PARSERS' for a `truncated` datagram): 1 with `h`
 * filled for a recognised header, 0 for none. */
static int
parse(int format, const unsigned char *p, Py_ssize_t n, int truncated, Header *h)
{
    h->stream = 0;
    h->has_send = 0;
    h->send_ns = 0;
    h->valid = 1;
    switch (format) {
    case FMT_WSKRECV: {
        if (n < 36 || memcmp(p, "WSKR", 4) != 0 || p[4] != 1) {
            return 0;
        }
        uint64_t header_len = be(p + 6, 2), body_len = be(p + 28, 4);
        /* A truncated datagram must say it was longer; its body cannot be checked. */
        if (header_len < 36 || (truncated ? header_len + body_len <= (uint64_t)n : header_len + body_len != (uint64_t)n)) {
            return 0;
        }
        h->stream = (uint32_t)be(p + 8, 4);
        h->seq = be(p + 12, 8);
        h->send_ns = be(p + 20, 8);
        h->has_send = h->send_ns != 0; /* 0: the sender did not stamp it */
        h->valid = truncated ||
                   core_crc32(p + header_len, (size_t)(n - (Py_ssize_t)header_len)) == (uint32_t)be(p + 32, 4);
        return 1;
    }
    case FMT_SOCKPERF:
        if (n < 14 || (truncated ? be(p + 10, 4) <= (uint64_t)n : be(p + 10, 4) != (uint64_t)n)) {
            return 0;
        }
        h->seq = be(p, 8);
        return 1;
    case FMT_IPERF3:
    case FMT_IPERF3_64: {
        int wide = format == FMT_IPERF3_64;
        if (n < (wide ? 16 : 12)) {
            return 0;
        }
        uint64_t sec = be(p, 4), usec = be(p + 4, 4);
        if (usec >= 1000000) {
            return 0;
        }
        h->seq = be(p + 8, wide ? 8 : 4);
        h->has_send = 1;
        h->send_ns = sec * 1000000000ULL + usec * 1000ULL;
        return 1;
    }
    default:
        return 0;
    }
}

/* payload.asks_reply: a sockperf client's message (its length field is the datagram's)
 * whose flags ask for a reply: CLIENT 0x1 and PONG_REQUEST 0x2. */
static int
asks_reply(const unsigned char *p, Py_ssize_t n)
{
    return n >= 14 && be(p + 10, 4) == (uint64_t)n && (be(p + 8, 2) & 0x3) == 0x3;
}

static int
format_of(const char *name)
{
    static const struct {
        const char *name;
        int format;
    } names[] = {{"auto", FMT_WSKRECV}, {"wskrecv", FMT_WSKRECV}, {"sockperf", FMT_SOCKPERF},
                 {"iperf3", FMT_IPERF3}, {"iperf3-64", FMT_IPERF3_64}, {"none", FMT_NONE}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcmp(name, names[i].name) == 0) {
            return names[i].format;
        }
    }
    return -1;
}

static int
set_format(Counter *self, const char *name)
{
    int format = format_of(name);
    if (format < 0) {
        PyErr_Format(PyExc_ValueError, "unknown sequence format '%s'", name); /* the twin's words */
        return -1;
    }
    self->format = format;
    self->wall_clock = format != FMT_IPERF3 && format != FMT_IPERF3_64; /* counting.wall_clock */
    return 0;
}

/* The format named by `obj`, a str (else TypeError, as counting.check_format). */
static int
use_format(Counter *self, PyObject *obj)
{
    if (!PyUnicode_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "seq_format must be a str, not %.100s", Py_TYPE(obj)->tp_name);
        return -1;
    }
    Py_ssize_t n;
    const char *name = PyUnicode_AsUTF8AndSize(obj, &n);
    if (name == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) { /* a lone surrogate: no format's */
            return -1;
        }
        PyErr_Clear();
    }
    if (name == NULL || (size_t)n != strlen(name)) {
        PyErr_Format(PyExc_ValueError, "unknown sequence format %R", obj);
        return -1;
    }
    return set_format(self, name);
}

static int
Counter_init(Counter *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"seq_format", "window", "max_streams", "max_sources", NULL};
    PyObject *format_obj = NULL, *window_obj = NULL, *streams_obj = NULL, *sources_obj = NULL;
    Py_ssize_t window = 1 << 14, max_streams = 1024, max_sources = 1024; /* the twin's defaults */
    /* The twin's order: the format, the source table, then the stream table. */
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|OOOO:Counter", kwlist, &format_obj, &window_obj, &streams_obj,
                                     &sources_obj) ||
        (format_obj != NULL && use_format(self, format_obj) < 0) || (format_obj == NULL && set_format(self, "auto") < 0) ||
        (sources_obj != NULL && core_clamped_index(sources_obj, &max_sources) < 0) ||
        (window_obj != NULL && core_clamped_index(window_obj, &window) < 0) || !tracker_window_ok(window) ||
        (streams_obj != NULL && core_clamped_index(streams_obj, &max_streams) < 0)) {
        return -1;
    }
    core_state *st = core_state_of_type(Py_TYPE(self));
    if (st == NULL) {
        return -1;
    }
    SourceTable *sources = sources_make(st, max_sources);
    StreamTable *streams = sources != NULL ? streams_make(st, max_streams, window, self->format == FMT_IPERF3) : NULL;
    if (streams == NULL) {
        Py_XDECREF(sources);
        return -1;
    }
    Py_XSETREF(self->sources, sources);
    Py_XSETREF(self->streams, streams);
    Py_CLEAR(self->last_remote);
    Py_CLEAR(self->last_key);
    self->received = self->bytes = self->corrupt = self->unsequenced = 0;
    self->reply_requests = 0;
    self->size_min = 1 << 30;
    self->size_max = 0;
    memset(self->size_counts, 0, sizeof self->size_counts);
    memset(&self->owd, 0, sizeof self->owd);
    memset(&self->app, 0, sizeof self->app);
    return 0;
}

/* The tracker of (remote, stream), or NULL when the table has none (with *key set to a
 * new reference to the key, for StreamTable.new) or on error. A borrowed reference. */
static Tracker *
find_tracker(Counter *self, PyObject *remote, uint32_t stream, PyObject **key)
{
    *key = NULL;
    if (self->last_key != NULL && self->last_stream == stream) {
        int same = self->last_remote == remote ? 1 : PyObject_RichCompareBool(self->last_remote, remote, Py_EQ);
        if (same < 0) {
            return NULL;
        }
        if (same && self->last_key != NULL) { /* (its __eq__ may have run Python code) */
            *key = Py_NewRef(self->last_key);
        }
    }
    if (*key == NULL) {
        PyObject *sid = PyLong_FromUnsignedLong(stream);
        if (sid == NULL) {
            return NULL;
        }
        *key = PyTuple_Pack(2, remote, sid);
        Py_DECREF(sid);
        if (*key == NULL) {
            return NULL;
        }
        Py_INCREF(remote);
        Py_XSETREF(self->last_remote, remote);
        Py_INCREF(*key);
        Py_XSETREF(self->last_key, *key);
        self->last_stream = stream;
    }
    /* The table holds only trackers it made. */
    return (Tracker *)PyDict_GetItemWithError(self->streams->streams, *key);
}

/* The stream of the last datagram counted (CoreLastStream, core.h), for the twin's
 * `key_remote`, `key_stream` and `tracker`: a datagram from the same remote object
 * (identity) with the same stream id goes to that tracker without a look in the table, as
 * the twin's loop does within one call; the holder keeps references to both. */
void
core_last_stream_clear(CoreLastStream *last)
{
    Py_CLEAR(last->remote);
    Py_CLEAR(last->tracker);
}

static int
count_sequence(Counter *self, PyObject *remote, const Header *h, i128 arrival, uint64_t size,
               CoreLastStream *last)
{
    int has_transit = h->has_send;
    i128 transit = 0;
    if (!h->valid) {
        self->corrupt++;
    }
    if (has_transit) {
        transit = arrival - (i128)h->send_ns;
        if (self->wall_clock && hist_add(&self->owd, transit) < 0) {
            return -1;
        }
    }
    Tracker *tracker;
    if (last->tracker != NULL && last->remote == remote && last->stream == h->stream) {
        tracker = (Tracker *)last->tracker;
        tracker_see(tracker, (i128)h->seq, has_transit, transit);
    }
    else {
        PyObject *key;
        tracker = find_tracker(self, remote, h->stream, &key);
        if (tracker == NULL) {
            if (PyErr_Occurred()) {
                Py_XDECREF(key);
                return -1;
            }
            tracker = streams_new(self->streams, key, (i128)h->seq, has_transit, transit);
            Py_DECREF(key);
            if (tracker == NULL) {
                return -1;
            }
        }
        else {
            Py_DECREF(key);
            tracker_see(tracker, (i128)h->seq, has_transit, transit);
        }
        Py_INCREF(tracker); /* borrowed from the table, which Python code may change */
        Py_XSETREF(last->tracker, (PyObject *)tracker);
        Py_INCREF(remote);
        Py_XSETREF(last->remote, remote);
        last->stream = h->stream;
    }
    tracker->bytes += size;
    if (has_transit && self->wall_clock) { /* the stream's own latency percentiles */
        if (tracker->latency == NULL && (tracker->latency = PyMem_Calloc(1, sizeof(Hist))) == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        return hist_add(tracker->latency, transit);
    }
    return 0;
}

/* A time in ns (a kernel timestamp, the time a list was consumed). Beyond the core's
 * bound every latency it takes part in is 2**64 ns or more, or negative: IndexError, as
 * the twin's Histogram raises for such a latency. */
static int
read_time(PyObject *obj, i128 *out)
{
    if (core_to_bounded(obj, out) < 0) {
        if (PyErr_ExceptionMatches(PyExc_OverflowError)) {
            PyErr_SetString(PyExc_IndexError, "a time beyond ±2**96 ns has no latency bucket");
        }
        return -1;
    }
    return 0;
}

static int
read_stamp(PyObject *stamp, i128 now, i128 *arrival, int *known)
{
    if (stamp == Py_None) {
        *known = 0;
        *arrival = now;
        return 0;
    }
    *known = 1;
    return read_time(stamp, arrival);
}

/* Everything but the source row for one datagram. */
static int
count_one(Counter *self, PyObject *data, PyObject *remote, PyObject *stamp, i128 now, int truncated,
          CoreLastStream *last)
{
    Py_buffer view;
    const unsigned char *p;
    Py_ssize_t n;
    int own_view = 0;
    if (PyBytes_CheckExact(data)) {
        p = (const unsigned char *)PyBytes_AS_STRING(data);
        n = PyBytes_GET_SIZE(data);
    }
    else {
        if (PyObject_GetBuffer(data, &view, PyBUF_SIMPLE) < 0) {
            return -1;
        }
        own_view = 1;
        p = view.buf;
        n = view.len;
    }
    i128 arrival;
    int known;
    int status = read_stamp(stamp, now, &arrival, &known);
    if (status == 0) {
        self->received++;
        self->bytes += (uint64_t)n;
        self->size_counts[hist_bit_length((uint64_t)n) < SIZE_BUCKETS ? hist_bit_length((uint64_t)n) : SIZE_BUCKETS - 1]++;
        if ((uint64_t)n > self->size_max) {
            self->size_max = (uint64_t)n;
        }
        if ((uint64_t)n < self->size_min) {
            self->size_min = (uint64_t)n;
        }
        Header h;
        if (known && hist_add(&self->app, now - arrival) < 0) {
            status = -1;
        }
        else if (self->format != FMT_NONE && parse(self->format, p, n, truncated, &h)) {
            if (self->format == FMT_SOCKPERF && asks_reply(p, n)) {
                self->reply_requests++;
            }
            status = count_sequence(self, remote, &h, arrival, (uint64_t)n, last);
        }
        else {
            self->unsequenced++;
            if (asks_reply(p, n)) {
                self->reply_requests++;
            }
        }
    }
    if (own_view) {
        PyBuffer_Release(&view);
    }
    return status;
}

static Py_ssize_t
length_of(PyObject *data)
{
    if (PyBytes_CheckExact(data)) {
        return PyBytes_GET_SIZE(data);
    }
    return PyObject_Length(data);
}

static int
read_now(PyObject *obj, i128 *now)
{
    return read_time(obj, now);
}

/* One datagram at `now`: its source row and everything else (the caller checked ready). */
static int
add_at(Counter *self, PyObject *data, PyObject *remote, PyObject *stamp, i128 now, int truncated,
       CoreLastStream *kept)
{
    Py_ssize_t n = length_of(data);
    if (n < 0) {
        return -1;
    }
    /* Held for the call: a remote's __eq__ may run Python code, even __init__ again. */
    PyObject *sources = Py_NewRef((PyObject *)self->sources), *streams = Py_NewRef((PyObject *)self->streams);
    int status = sources_count(self->sources, remote, 1, (uint64_t)n, (uint64_t)n);
    if (status == 0) {
        CoreLastStream last = {NULL, NULL, 0};
        status = count_one(self, data, remote, stamp, now, truncated, kept != NULL ? kept : &last);
        core_last_stream_clear(&last);
    }
    Py_DECREF(sources);
    Py_DECREF(streams);
    return status;
}

int
core_counter_add(PyObject *counter, PyObject *data, PyObject *remote, PyObject *stamp, PyObject *now_ns,
                 int truncated, CoreLastStream *last)
{
    Counter *self = (Counter *)counter;
    i128 now;
    if (ready(self) < 0 || read_now(now_ns, &now) < 0) {
        return -1;
    }
    return add_at(self, data, remote, stamp, now, truncated, last);
}

static PyObject *
Counter_add(Counter *self, PyObject *const *args, Py_ssize_t nargs)
{
    i128 now;
    int truncated = 0;
    if (nargs != 4 && nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "add(data, remote, timestamp_ns, now_ns, truncated=False)");
        return NULL;
    }
    if (ready(self) < 0) {
        return NULL;
    }
    if (read_now(args[3], &now) < 0 || (nargs == 5 && (truncated = PyObject_IsTrue(args[4])) < 0)) {
        return NULL;
    }
    if (add_at(self, args[0], args[1], args[2], now, truncated, NULL) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
Counter_add_list(Counter *self, PyObject *const *args, Py_ssize_t nargs)
{
    i128 now;
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "add_list(datas, remotes, timestamps_ns, now_ns)");
        return NULL;
    }
    if (ready(self) < 0) {
        return NULL;
    }
    if (read_now(args[3], &now) < 0) {
        return NULL;
    }
    /* Three columns of one length (the twin's check, in its order). */
    Py_ssize_t lengths[3];
    for (int k = 0; k < 3; k++) {
        if ((lengths[k] = PyObject_Length(args[k])) < 0) {
            return NULL;
        }
    }
    if (lengths[1] != lengths[0] || lengths[2] != lengths[0]) {
        PyErr_SetString(PyExc_ValueError, "datas, remotes and timestamps differ in length");
        return NULL;
    }
    /* Held for the call: a remote's __eq__ may run Python code, even __init__ again. */
    PyObject *sources = Py_NewRef((PyObject *)self->sources), *streams = Py_NewRef((PyObject *)self->streams);
    CoreLastStream last = {NULL, NULL, 0};
    /* Tuples of the columns as they are now (the twin's snapshot): what the loop reads
     * cannot change under it, whatever Python code a remote's == runs (a list's items
     * are borrowed, and a list can shrink). A tuple is taken as it is, no copy. */
    PyObject *datas = PySequence_Tuple(args[0]);
    PyObject *remotes = datas ? PySequence_Tuple(args[1]) : NULL;
    PyObject *stamps = remotes ? PySequence_Tuple(args[2]) : NULL;
    PyObject *result = NULL;
    if (stamps == NULL) {
        goto done;
    }
    Py_ssize_t n = PyTuple_GET_SIZE(datas);
    if (PyTuple_GET_SIZE(remotes) != n || PyTuple_GET_SIZE(stamps) != n) {
        PyErr_SetString(PyExc_ValueError, "datas, remotes and timestamps differ in length");
        goto done;
    }
    /* Consecutive datagrams of one sender update its row once (the usual list), and of
     * one stream find its tracker once (`last`, declared above: `done` clears it). */
    PyObject *run_remote = NULL;
    uint64_t run_count = 0, run_bytes = 0, run_first = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *data = PyTuple_GET_ITEM(datas, i);
        PyObject *remote = PyTuple_GET_ITEM(remotes, i);
        Py_ssize_t size = length_of(data);
        if (size < 0) {
            goto done;
        }
        if (run_remote != NULL && run_remote != remote) {
            if (sources_count(self->sources, run_remote, run_count, run_bytes, run_first) < 0) {
                goto done;
            }
            run_remote = NULL;
        }
        if (run_remote == NULL) {
            run_remote = remote;
            run_count = 0;
            run_bytes = 0;
            run_first = (uint64_t)size;
        }
        run_count++;
        run_bytes += (uint64_t)size;
        if (count_one(self, data, remote, PyTuple_GET_ITEM(stamps, i), now, 0, &last) < 0) {
            goto done;
        }
    }
    if (run_remote != NULL && sources_count(self->sources, run_remote, run_count, run_bytes, run_first) < 0) {
        goto done;
    }
    result = Py_NewRef(Py_None);
done:
    core_last_stream_clear(&last);
    Py_XDECREF(datas);
    Py_XDECREF(remotes);
    Py_XDECREF(stamps);
    Py_DECREF(sources);
    Py_DECREF(streams);
    return result;
}


PyObject *
hist_object(core_state *st, const Hist *h)
{
    PyObject *cls = st != NULL ? core_histogram_type(st) : NULL;
    PyObject *obj = cls != NULL ? PyObject_CallNoArgs(cls) : NULL;
    PyObject *counts = obj ? PyList_New(HIST_BUCKETS) : NULL;
    PyObject *max = counts ? PyLong_FromUnsignedLongLong(h->max) : NULL;
    PyObject *sum = max ? core_from_i128(h->sum) : NULL;
    if (sum == NULL) {
        goto fail;
    }
    for (int i = 0; i < HIST_BUCKETS; i++) {
        PyObject *c = PyLong_FromUnsignedLongLong(h->counts[i]);
        if (c == NULL) {
            goto fail;
        }
        PyList_SET_ITEM(counts, i, c);
    }
    if (PyObject_SetAttr(obj, st->str_counts, counts) < 0 || PyObject_SetAttr(obj, st->str_max, max) < 0 ||
        PyObject_SetAttr(obj, st->str_sum, sum) < 0) {
        goto fail;
    }
    Py_DECREF(counts);
    Py_DECREF(max);
    Py_DECREF(sum);
    return obj;
fail:
    Py_XDECREF(obj);
    Py_XDECREF(counts);
    Py_XDECREF(max);
    Py_XDECREF(sum);
    return NULL;
}

static PyObject *
Counter_latency(Counter *self, PyObject *arg)
{
    if (ready(self) < 0) {
        return NULL;
    }
    int advance = PyObject_IsTrue(arg);
    if (advance < 0) {
        return NULL;
    }
    core_state *st = core_state_of_type(Py_TYPE(self));
    PyObject *owd = st != NULL ? hist_object(st, &self->owd) : NULL;
    PyObject *app = owd ? hist_object(st, &self->app) : NULL;
    if (app == NULL) {
        Py_XDECREF(owd);
        return NULL;
    }
    if (advance) {
        memset(&self->owd, 0, sizeof self->owd);
        memset(&self->app, 0, sizeof self->app);
    }
    return Py_BuildValue("(NN)", owd, app);
}

static PyObject *
Counter_use_seq_format(Counter *self, PyObject *arg)
{
    if (ready(self) < 0 || use_format(self, arg) < 0) {
        return NULL;
    }
    self->streams->wrap32 = self->format == FMT_IPERF3;
    Py_RETURN_NONE;
}

static PyObject *
get_size_counts(Counter *self, void *c)
{
    if (ready(self) < 0) {
        return NULL;
    }
    PyObject *out = PyList_New(SIZE_BUCKETS);
    if (out == NULL) {
        return NULL;
    }
    for (int i = 0; i < SIZE_BUCKETS; i++) {
        PyObject *v = PyLong_FromUnsignedLongLong(self->size_counts[i]);
        if (v == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        PyList_SET_ITEM(out, i, v);
    }
    return out;
}

#define U64_GETTER(name)                                    \
    static PyObject *get_##name(Counter *self, void *c)     \
    {                                                       \
        if (ready(self) < 0) {                              \
            return NULL;                                    \
        }                                                   \
        return PyLong_FromUnsignedLongLong(self->name);     \
    }
U64_GETTER(received)
U64_GETTER(bytes)
U64_GETTER(corrupt)
U64_GETTER(unsequenced)
U64_GETTER(reply_requests)
U64_GETTER(size_min)
U64_GETTER(size_max)

static PyObject *
get_sources(Counter *self, void *c)
{
    if (ready(self) < 0) {
        return NULL;
    }
    return Py_NewRef((PyObject *)self->sources);
}

static PyObject *
get_streams(Counter *self, void *c)
{
    if (ready(self) < 0) {
        return NULL;
    }
    return Py_NewRef((PyObject *)self->streams);
}

static PyGetSetDef Counter_getset[] = {
    {"received", (getter)get_received, NULL, "datagrams counted", NULL},
    {"bytes", (getter)get_bytes, NULL, "their bytes", NULL},
    {"corrupt", (getter)get_corrupt, NULL, "wskrecv datagrams whose body fails the CRC", NULL},
    {"unsequenced", (getter)get_unsequenced, NULL, "datagrams without a recognised header", NULL},
    {"reply_requests", (getter)get_reply_requests, NULL, "sockperf messages asking for a reply", NULL},
    {"size_min", (getter)get_size_min, NULL, NULL, NULL},
    {"size_max", (getter)get_size_max, NULL, NULL, NULL},
    {"size_counts", (getter)get_size_counts, NULL, "datagrams per size bucket (bit length)", NULL},
    {"sources", (getter)get_sources, NULL, "the run's senders (a SourceTable)", NULL},
    {"streams", (getter)get_streams, NULL, "the run's streams (a StreamTable)", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMethodDef Counter_methods[] = {
    {"add", (PyCFunction)(void (*)(void))Counter_add, METH_FASTCALL,
     "add(data, remote, timestamp_ns, now_ns, truncated=False): count one datagram."},
    {"add_list", (PyCFunction)(void (*)(void))Counter_add_list, METH_FASTCALL,
     "add_list(datas, remotes, timestamps_ns, now_ns): count a list consumed at one instant."},
    {"use_seq_format", (PyCFunction)Counter_use_seq_format, METH_O,
     "use_seq_format(seq_format): read payload headers as `seq_format` from now on."},
    {"latency", (PyCFunction)Counter_latency, METH_O,
     "latency(advance) -> (one-way, application) Histograms of this interval; advance starts a new one."},
    {NULL, NULL, 0, NULL},
};

static int
Counter_traverse(Counter *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->sources);
    Py_VISIT(self->streams);
    Py_VISIT(self->last_remote);
    Py_VISIT(self->last_key);
    return 0;
}

static int
Counter_clear(Counter *self)
{
    Py_CLEAR(self->sources);
    Py_CLEAR(self->streams);
    Py_CLEAR(self->last_remote);
    Py_CLEAR(self->last_key);
    return 0;
}

static void
Counter_dealloc(Counter *self)
{
    PyObject_GC_UnTrack(self);
    Counter_clear(self);
    core_free((PyObject *)self);
}

static PyType_Slot Counter_slots[] = {
    {Py_tp_doc, "Counter(seq_format='auto', window=16384, max_streams=1024, max_sources=1024): the twin of "
                "wskrecv.stats.counting.Counter."},
    {Py_tp_new, PyType_GenericNew},
    {Py_tp_init, Counter_init},
    {Py_tp_dealloc, Counter_dealloc},
    {Py_tp_traverse, Counter_traverse},
    {Py_tp_clear, Counter_clear},
    {Py_tp_methods, Counter_methods},
    {Py_tp_getset, Counter_getset},
    {0, NULL},
};

static PyType_Spec Counter_spec = {
    .name = "wskrecv._core.Counter",
    .basicsize = sizeof(Counter),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = Counter_slots,
};

int
core_add_counter(PyObject *module, core_state *st)
{
    st->counter_type = core_add_type(module, &Counter_spec, NULL);
    return st->counter_type != NULL ? 0 : -1;
}
