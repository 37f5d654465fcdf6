/* The native source and stream tables (tables.c), owned by the native Counter
 * (counting.c), which updates them through these functions on its hot path. */
#ifndef WSKRECV_TABLES_H
#define WSKRECV_TABLES_H

#include "core.h"
#include "tracker.h"

typedef struct {
    PyObject_HEAD
    PyObject *rows;          /* dict: remote -> SourceCount, in the order senders came */
    PyTypeObject *row_type;  /* SourceCount */
    Py_ssize_t max_sources;
    uint64_t evicted, seen;
} SourceTable;

typedef struct {
    PyObject_HEAD
    PyObject *streams;       /* dict: (remote, stream) -> StreamTracker */
    PyObject *expected;      /* dict: ((address, port), stream) -> first sequence (an int) */
    PyTypeObject *tracker_type, *wrap32_type, *totals_type;
    Py_ssize_t max_streams, window;
    int wrap32;              /* new streams unwrap a 32-bit counter */
    uint64_t evicted, seen;
    Totals retired;
} StreamTable;

/* Count `count` datagrams of `size` bytes in all from `remote`; a sender not in the table
 * gets its first one (of `first_size` bytes) through SourceTable.new's rule, the rest
 * added. 0, or -1 with an exception. */
int sources_count(SourceTable *self, PyObject *remote, uint64_t count, uint64_t size, uint64_t first_size);

/* StreamTable.new(key, first, transit_ns): the new tracker (borrowed: the table holds
 * it), or NULL with an exception. */
Tracker *streams_new(StreamTable *self, PyObject *key, i128 first, int has_transit, i128 transit);

/* A table of the module's type, as SourceTable(max_sources) / StreamTable(max_streams,
 * window, wrap32) make it (new references, or NULL with an exception). */
SourceTable *sources_make(core_state *st, Py_ssize_t max_sources);
StreamTable *streams_make(core_state *st, Py_ssize_t max_streams, Py_ssize_t window, int wrap32);

#endif
