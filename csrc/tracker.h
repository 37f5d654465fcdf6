/* The native stream tracker's layout, shared by tracker.c, tables.c and counting.c. */
#ifndef WSKRECV_TRACKER_H
#define WSKRECV_TRACKER_H

#include "core.h"
#include "hist.h"

typedef struct {
    PyObject_HEAD
    i128 base, high, probe, last_transit, prior_expected;
    int64_t seen, reordered, duplicates, late, restarts, prior_seen, mark, mask;
    double jitter;
    char has_jitter, has_last, has_probe, wrap32;
    unsigned char *ring;
    Hist *latency; /* one-way latencies, added by the counting kernel (NULL until the first) */
    uint64_t bytes; /* the stream's datagrams' bytes, added by the counting kernel */
} Tracker;

/* SequenceTotals' counts, summed over trackers (stats/sequence.py). */
typedef struct {
    i128 lost, reordered, duplicates, late, expected, sequenced, restarts, streams;
} Totals;

/* A new tracker of `type` (StreamTracker, or Wrap32Tracker with `wrap32`) whose first
 * sequence is `first`: what StreamTracker(first, window, transit_ns) makes. */
Tracker *tracker_make(PyTypeObject *type, int wrap32, i128 first, Py_ssize_t window, int has_transit, i128 transit);
/* 1 when `window` is one a tracker takes, else 0 with ValueError. */
int tracker_window_ok(Py_ssize_t window);
void tracker_add_to(const Tracker *self, Totals *totals);
int tracker_ready(Tracker *self);
void tracker_see(Tracker *self, i128 seq, int has_transit, i128 transit);

#endif
