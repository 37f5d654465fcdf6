/* Shared declarations of the wskrecv._core extension (see module.c).
 *
 * Every type is a heap type made from a spec by the module's exec slot
 * (PyType_FromModuleAndSpec), as multidict's _multidict.c does: the types and the Python
 * objects the module borrows from wskrecv (the Datagram record class, the Histogram
 * class, interned names) live in the module's state, not in C globals, so each module
 * object (each interpreter, each reload) has its own and the garbage collector sees them.
 */
#ifndef WSKRECV_CORE_H
#define WSKRECV_CORE_H

#include <Python.h>
#include <stdint.h>

/* Signed 128-bit integers hold sequences (u64, unwrapped u32) and their differences,
 * transit times (arrival - u64 send time) and their differences exactly, as Python's
 * ints do in the twin. */
typedef __int128 i128;

#if PY_VERSION_HEX < 0x030A0000
static inline PyObject *
Py_NewRef(PyObject *obj)
{
    Py_INCREF(obj);
    return obj;
}
static inline PyObject *
Py_XNewRef(PyObject *obj)
{
    Py_XINCREF(obj);
    return obj;
}
#define Py_TPFLAGS_IMMUTABLETYPE 0
#endif

typedef struct {
    PyTypeObject *reader_type;  /* MmsgReader (NULL off Linux) */
    PyTypeObject *tracker_type; /* StreamTracker */
    PyTypeObject *wrap32_type;  /* Wrap32Tracker */
    PyTypeObject *counter_type;
    PyTypeObject *sources_type; /* SourceTable */
    PyTypeObject *streams_type; /* StreamTable */
    PyTypeObject *source_count_type; /* a SourceTable's row (not in the module) */
    PyTypeObject *chain_type;   /* ChainMaker */
    PyTypeObject *completer_type; /* IrpCompleter */
    PyTypeObject *fields_type;  /* IndicationFields */
    PyObject *datagram_type;    /* wskrecv.wsk.datagram.Datagram, imported on first use */
    PyObject *histogram_type;   /* wskrecv.stats.latency.Histogram, imported on first use */
    PyObject *totals_type;      /* wskrecv.stats.sequence.SequenceTotals, imported on first use */
    PyObject *str_next, *str_timestamps, *str_family, *str_counts, *str_max, *str_sum, *str_state;
    PyObject *str_hidden[3]; /* an indication's readable fields: data, remote, timestamp_ns */
} core_state;

/* The state of the module that defined `type` (or one of its bases): NULL with
 * TypeError when there is none. */
core_state *core_state_of_type(PyTypeObject *type);

/* The Datagram record type, the Histogram and SequenceTotals classes (borrowed references), imported on
 * first use so that importing the module stays cheap (`wskrecv --version` does it); NULL
 * with an exception set when the import fails. */
PyObject *core_datagram_type(core_state *st);
PyObject *core_histogram_type(core_state *st);
PyObject *core_totals_type(core_state *st);

/* Each source file's types, made and added to the module (0, or -1 with an exception). */
int core_add_reader(PyObject *module, core_state *st);
int core_add_trackers(PyObject *module, core_state *st);
int core_add_tables(PyObject *module, core_state *st);
int core_add_counter(PyObject *module, core_state *st);
int core_add_chain(PyObject *module, core_state *st);
int core_add_completer(PyObject *module, core_state *st);

/* A heap type made from `spec` (bases: NULL, or one type) and added to `module` under its
 * short name; a new reference kept in the state, or NULL with an exception. */
PyTypeObject *core_add_type(PyObject *module, PyType_Spec *spec, PyTypeObject *base);

/* 0 when `ready` (the object's __init__ ran), else -1 with the AttributeError the twin's
 * empty slots raise: every method and attribute of every type asks this first. */
static inline int
core_initialised(PyObject *self, int ready)
{
    if (ready) {
        return 0;
    }
    PyErr_Format(PyExc_AttributeError, "%s is not initialised (__init__ was not called)", Py_TYPE(self)->tp_name);
    return -1;
}

/* The end of every heap type's dealloc: free the object, then drop its type's reference. */
static inline void
core_free(PyObject *self)
{
    PyTypeObject *type = Py_TYPE(self);
    type->tp_free(self);
    Py_DECREF(type);
}

uint32_t core_crc32(const unsigned char *p, size_t n);
void core_crc32_init(void);

/* Any integer (its __index__: TypeError for anything else) as a Py_ssize_t, clamped to
 * its range: a size or count far out of range is then refused as out of range
 * (ValueError), as the twin's comparisons refuse it, not as an OverflowError. */
int core_clamped_index(PyObject *obj, Py_ssize_t *out);

/* Sequences, times and their differences are held as i128; every integer that comes in
 * is bounded by CORE_BOUND (OverflowError beyond), so that no sum or difference the core
 * computes overflows 128 bits. Network headers carry 64 bits at most. */
#define CORE_BOUND ((i128)1 << 96)
PyObject *core_from_i128(i128 v);
int core_to_bounded(PyObject *obj, i128 *out);
/* The stream of the last datagram counted (counting.c): a datagram from the same remote
 * object with the same stream id goes to its tracker without a look in the table. Holds
 * references to both; {NULL, NULL, 0} is empty; core_last_stream_clear empties it. */
typedef struct {
    PyObject *remote;
    PyObject *tracker;
    uint32_t stream;
} CoreLastStream;
void core_last_stream_clear(CoreLastStream *last);
/* Counter.add(data, remote, timestamp_ns, now_ns, truncated) for a native Counter (the
 * caller checked its type): 0, or -1 with an exception, as the method would raise. With
 * `last`, the caller's memory of the last stream across several adds (one IrpCompleter
 * call), which the caller empties whenever Python code may have changed the stream
 * table since; NULL, as the method does, remembers nothing past the call. */
int core_counter_add(PyObject *counter, PyObject *data, PyObject *remote, PyObject *stamp, PyObject *now_ns,
                     int truncated, CoreLastStream *last);
/* wskrecv._core.scan_capture (capture.c): the twin of wskrecv/capture/scan.py's scan. */
PyObject *core_scan_capture(PyObject *module, PyObject *const *args, Py_ssize_t nargs);

#endif
