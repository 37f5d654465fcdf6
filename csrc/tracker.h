/* The native stream tracker's layout, shared by tracker.c and counting.c. */
#ifndef WSKRECV_TRACKER_H
#define WSKRECV_TRACKER_H

#include "core.h"

typedef struct {
    PyObject_HEAD
    i128 base, high, probe, last_transit, prior_expected;
    int64_t seen, reordered, duplicates, late, restarts, prior_seen, mark, mask;
    double jitter;
    char has_jitter, has_last, has_probe, wrap32;
    unsigned char *ring;
} Tracker;

int tracker_ready(Tracker *self);
void tracker_see(Tracker *self, i128 seq, int has_transit, i128 transit);

#endif
