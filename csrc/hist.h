/* The latency histogram of stats/latency.py (Histogram) in C, shared by the counting
 * kernel (the run's histograms, counting.c) and the stream tracker (each stream's one-way
 * latencies, tracker.c): log-linear buckets, the exact maximum and the exact sum. */
#ifndef WSKRECV_HIST_H
#define WSKRECV_HIST_H

#include "core.h"

#define SUB_BITS 5 /* stats/latency.py */
#define LINEAR (1 << (SUB_BITS + 1))
#define HIST_BUCKETS (((64 - SUB_BITS - 1) << SUB_BITS) + LINEAR) /* 1920 */

typedef struct {
    uint64_t counts[HIST_BUCKETS];
    uint64_t max;
    i128 sum; /* exact: fewer than 2**63 values below 2**64 each never reach 2**127 */
} Hist;

static inline int
hist_bit_length(uint64_t v)
{
    return v ? 64 - __builtin_clzll(v) : 0;
}

/* Histogram.add: 0, or -1 with IndexError for a value of 2**64 or more. */
static inline int
hist_add(Hist *h, i128 value)
{
    if (value >> 64) {
        if (value > 0) { /* Histogram.add fails too: no bucket lies beyond 64 bits */
            PyErr_SetString(PyExc_IndexError, "a latency of 2**64 ns or more has no bucket");
            return -1;
        }
        value = 0; /* clocks out of step count as 0 */
    }
    uint64_t v = (uint64_t)value;
    int shift = hist_bit_length(v) - SUB_BITS - 1;
    int bucket = shift <= 0 ? (int)v : (shift << SUB_BITS) + (int)(v >> shift);
    h->counts[bucket]++;
    h->sum += (i128)v;
    if (v > h->max) {
        h->max = v;
    }
    return 0;
}

/* A new Histogram (stats/latency.py) holding `h`, or NULL with an exception. */
PyObject *hist_object(core_state *st, const Hist *h);

#endif
