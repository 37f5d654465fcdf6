/* scan_capture: the compiled twin of wskrecv/capture/scan.py's `scan` (read it first:
 * it is the specification, and its docstring the contract). Walks whole pcap records or
 * pcapng Enhanced Packet Blocks and appends each whole, unfragmented UDP datagram to the
 * column lists; hands every record it does not decide itself to the general path
 * (SLOW), which is always allowed: only the columns and the tally must agree with the
 * twin's. The decoding mirrors wskrecv/capture/packets.py's `decode`.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <arpa/inet.h>
#include <string.h>

#include "core.h"

enum { ST_END = 0, ST_SLOW = 1, ST_TIME = 2, ST_FULL = 3 };
enum { NOT_IP = 0, NOT_UDP = 1, OTHER_PORT = 2, MALFORMED = 3, FRAMES = 4, TALLY_SIZE = 5 };
enum { KIND_PCAP = 0, KIND_PCAPNG = 1 };
#define MAX_BLOCK (16 * 1024 * 1024)
#define CACHE_MAX 4096
#define MAX_IFACES 256
#define PCAP_RECORD 16
#define EPB 6

/* A decoded record: TAKEN (a whole datagram in `d`), SKIPPED (reason) or SLOW. */
enum { TAKEN, SKIPPED, SLOW };

typedef struct {
    int version;
    const unsigned char *src, *dst;
    uint16_t sport, dport;
    const unsigned char *data;
    Py_ssize_t len;
} Found;

typedef struct {
    long linktype;
    long long unit; /* ns per timestamp unit; 0: the general path converts */
    long long offset;
} Iface;

static inline uint16_t
be16(const unsigned char *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

static inline uint32_t
u32(const unsigned char *p, int big)
{
    if (big) {
        return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
    }
    return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

static int
known_linktype(long t)
{
    return t == 0 || t == 1 || t == 101 || t == 108 || t == 113 || t == 228 || t == 229 || t == 276;
}

/* packets.udp, for the decisive cases. */
static int
decode_udp(const unsigned char *f, Py_ssize_t n, Py_ssize_t pos, Py_ssize_t end, long long cut, int port,
           Found *out, int *reason)
{
    if (n < pos + 8 || end < pos + 8 || (long long)end > (long long)n + cut) {
        return SLOW;
    }
    uint16_t length = be16(f + pos + 4);
    if (length < 8 || pos + length > end) {
        return SLOW;
    }
    uint16_t dport = be16(f + pos + 2);
    if (port && dport != port) {
        *reason = OTHER_PORT;
        return SKIPPED;
    }
    Py_ssize_t stop = pos + length < n ? pos + length : n;
    if (stop - (pos + 8) != length - 8) {
        return SLOW; /* truncated by the capture: the general path marks it */
    }
    out->sport = be16(f + pos);
    out->dport = dport;
    out->data = f + pos + 8;
    out->len = length - 8;
    return TAKEN;
}

static int
by_ethertype(long ethertype, Py_ssize_t off, Py_ssize_t n, int *version, int *reason)
{
    if (ethertype == 0x0800 || ethertype == 0x86DD) {
        if (off >= n) {
            return SLOW;
        }
        *version = ethertype == 0x0800 ? 4 : 6;
        return TAKEN;
    }
    *reason = NOT_IP;
    return SKIPPED;
}

/* packets.network_layer: TAKEN with the IP header's offset and version. */
static int
network_layer(long linktype, const unsigned char *f, Py_ssize_t n, Py_ssize_t *off, int *version, int *reason)
{
    if (linktype == 1) {
        if (n < 14) {
            return SLOW;
        }
        long ethertype = be16(f + 12);
        *off = 14;
        for (int i = 0; i < 2; i++) {
            if ((ethertype == 0x8100 || ethertype == 0x88A8 || ethertype == 0x9100) && n >= *off + 4) {
                ethertype = be16(f + *off + 2);
                *off += 4;
            }
        }
        return by_ethertype(ethertype, *off, n, version, reason);
    }
    if (linktype == 113) {
        if (n < 16) {
            return SLOW;
        }
        *off = 16;
        return by_ethertype(be16(f + 14), 16, n, version, reason);
    }
    if (linktype == 276) {
        if (n < 20) {
            return SLOW;
        }
        *off = 20;
        return by_ethertype(be16(f), 20, n, version, reason);
    }
    if (linktype == 0 || linktype == 108) {
        if (n < 4) {
            return SLOW;
        }
        uint32_t be = u32(f, 1), le = u32(f, 0);
        uint32_t family = linktype == 108 ? be : (le < 256 ? le : be);
        if (family != 2 && family != 10 && family != 24 && family != 28 && family != 30) {
            *reason = NOT_IP;
            return SKIPPED;
        }
        *off = 4;
    } else if (linktype == 101 || linktype == 228 || linktype == 229) {
        *off = 0;
    } else {
        return SLOW;
    }
    if (*off >= n) {
        return SLOW;
    }
    int v = f[*off] >> 4;
    if ((v != 4 && v != 6) || (linktype == 228 && v != 4) || (linktype == 229 && v != 6)) {
        *reason = NOT_IP;
        return SKIPPED;
    }
    *version = v;
    return TAKEN;
}

/* packets.decode, for the decisive cases. */
static int
decode(long linktype, const unsigned char *f, Py_ssize_t n, uint32_t wire, int port, Found *out, int *reason)
{
    Py_ssize_t off;
    int version;
    int r = network_layer(linktype, f, n, &off, &version, reason);
    if (r != TAKEN) {
        return r;
    }
    long long cut = (long long)wire - (long long)n;
    out->version = version;
    if (version == 4) {
        if (n < off + 20) {
            return SLOW;
        }
        const unsigned char *ip = f + off;
        Py_ssize_t ihl = (ip[0] & 15) * 4;
        Py_ssize_t total = be16(ip + 2);
        if (ihl < 20 || total < ihl || n < off + ihl) {
            return SLOW;
        }
        if (be16(ip + 6) & 0x3FFF) {
            return SLOW; /* a fragment */
        }
        if (ip[9] != 17) {
            *reason = NOT_UDP;
            return SKIPPED;
        }
        out->src = ip + 12;
        out->dst = ip + 16;
        return decode_udp(f, n, off + ihl, off + total, cut, port, out, reason);
    }
    if (n < off + 40) {
        return SLOW;
    }
    const unsigned char *ip = f + off;
    Py_ssize_t plen = be16(ip + 4);
    int nxt = ip[6];
    if (plen == 0) {
        return SLOW;
    }
    if (nxt != 17) {
        switch (nxt) {
        case 0: case 43: case 44: case 51: case 60: case 135: case 139: case 140: case 253: case 254:
            return SLOW; /* extension headers: the general path walks them */
        default:
            *reason = NOT_UDP;
            return SKIPPED;
        }
    }
    out->src = ip + 8;
    out->dst = ip + 24;
    return decode_udp(f, n, off + 40, off + 40 + plen, cut, port, out, reason);
}

/* The socket address of (version, packed address, port), memoised in `cache` as
 * scan.endpoint does (keys: packed address + big-endian port). A new reference. */
static PyObject *
endpoint(PyObject *cache, int version, const unsigned char *packed, uint16_t port)
{
    unsigned char key[18];
    size_t alen = version == 4 ? 4 : 16;
    memcpy(key, packed, alen);
    key[alen] = (unsigned char)(port >> 8);
    key[alen + 1] = (unsigned char)port;
    PyObject *k = PyBytes_FromStringAndSize((const char *)key, (Py_ssize_t)alen + 2);
    if (k == NULL) {
        return NULL;
    }
    PyObject *found = PyDict_GetItemWithError(cache, k);
    if (found != NULL) {
        Py_DECREF(k);
        return Py_NewRef(found);
    }
    if (PyErr_Occurred()) {
        Py_DECREF(k);
        return NULL;
    }
    char text[INET6_ADDRSTRLEN];
    if (inet_ntop(version == 4 ? AF_INET : AF_INET6, packed, text, sizeof text) == NULL) {
        Py_DECREF(k);
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    PyObject *tuple = version == 4 ? Py_BuildValue("(sH)", text, port) : Py_BuildValue("(sHii)", text, port, 0, 0);
    if (tuple == NULL) {
        Py_DECREF(k);
        return NULL;
    }
    if (PyDict_GET_SIZE(cache) >= CACHE_MAX) {
        PyDict_Clear(cache);
    }
    int failed = PyDict_SetItem(cache, k, tuple);
    Py_DECREF(k);
    if (failed < 0) {
        Py_DECREF(tuple);
        return NULL;
    }
    return tuple;
}

/* The last address made, reused while the same one repeats (the usual capture). */
typedef struct {
    int version;
    unsigned char packed[16];
    uint16_t port;
    PyObject *tuple; /* owned */
} Last;

static PyObject *
address(PyObject *cache, Last *last, int version, const unsigned char *packed, uint16_t port)
{
    size_t alen = version == 4 ? 4 : 16;
    if (last->tuple != NULL && last->version == version && last->port == port &&
        memcmp(last->packed, packed, alen) == 0) {
        return Py_NewRef(last->tuple);
    }
    PyObject *tuple = endpoint(cache, version, packed, port);
    if (tuple == NULL) {
        return NULL;
    }
    Py_XSETREF(last->tuple, Py_NewRef(tuple));
    last->version = version;
    last->port = port;
    memcpy(last->packed, packed, alen);
    return tuple;
}

static int
append_new(PyObject *list, PyObject *item)
{
    if (item == NULL) {
        return -1;
    }
    int r = PyList_Append(list, item);
    Py_DECREF(item);
    return r;
}

/* Each interface (linktype, unit, offset), as the twin's prologue unpacks and checks them
 * all (TypeError, ValueError); the first MAX_IFACES are kept (beyond: the general path). */
static int
read_ifaces(PyObject *obj, Iface *ifaces, Py_ssize_t *count)
{
    PyObject *seq = PySequence_Fast(obj, "ifaces must be a sequence");
    if (seq == NULL) {
        return -1;
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    *count = n < MAX_IFACES ? n : MAX_IFACES;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *t = PySequence_Fast(PySequence_Fast_GET_ITEM(seq, i), "cannot unpack an interface");
        if (t == NULL) {
            Py_DECREF(seq);
            return -1;
        }
        Iface iface;
        if (PySequence_Fast_GET_SIZE(t) != 3) {
            PyErr_Format(PyExc_ValueError, "an interface is (linktype, unit, offset), not %zd values",
                         PySequence_Fast_GET_SIZE(t));
        }
        else {
            PyObject *const *v = PySequence_Fast_ITEMS(t);
            if ((iface.linktype = PyLong_AsLong(v[0])) != -1 || !PyErr_Occurred()) {
                if ((iface.unit = PyLong_AsLongLong(v[1])) != -1 || !PyErr_Occurred()) {
                    iface.offset = PyLong_AsLongLong(v[2]);
                }
            }
        }
        Py_DECREF(t);
        if (PyErr_Occurred()) {
            Py_DECREF(seq);
            return -1;
        }
        if (i < MAX_IFACES) {
            ifaces[i] = iface;
        }
    }
    Py_DECREF(seq);
    return 0;
}

static PyObject *
tally_add(PyObject *tally, int index, long long by)
{
    PyObject *old = PyList_GetItem(tally, index);
    if (old == NULL) {
        return NULL;
    }
    long long v = PyLong_AsLongLong(old);
    if (v == -1 && PyErr_Occurred()) {
        return NULL;
    }
    PyObject *nv = PyLong_FromLongLong(v + by);
    if (nv == NULL || PyList_SetItem(tally, index, nv) < 0) {
        return NULL;
    }
    return tally;
}

/* scan_capture(buf, pos, kind, big, ifaces, port, stop_ns, limit, cache, datas, sources,
 *              dests, stamps, tally) -> (pos, status) */
PyObject *
core_scan_capture(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 14) {
        PyErr_SetString(PyExc_TypeError, "scan_capture(buf, pos, kind, big, ifaces, port, stop_ns, limit, "
                                         "cache, datas, sources, dests, stamps, tally)");
        return NULL;
    }
    /* The twin's prologue, in its order: each argument checked before any is used. */
    Py_ssize_t n = PyObject_Length(args[0]), pos, kind, port, limit;
    int big;
    Iface ifaces[MAX_IFACES];
    Py_ssize_t nifaces = 0;
    if (n < 0 || core_clamped_index(args[1], &pos) < 0 || core_clamped_index(args[2], &kind) < 0) {
        return NULL;
    }
    if (kind != KIND_PCAP && kind != KIND_PCAPNG) {
        PyErr_Format(PyExc_ValueError, "scan_capture: kind %zd is neither PCAP nor PCAPNG", kind);
        return NULL;
    }
    if ((big = PyObject_IsTrue(args[3])) < 0 || read_ifaces(args[4], ifaces, &nifaces) < 0 ||
        core_clamped_index(args[5], &port) < 0) {
        return NULL;
    }
    int has_stop = args[6] != Py_None;
    i128 stop_ns = 0;
    if ((has_stop && core_to_bounded(args[6], &stop_ns) < 0) || core_clamped_index(args[7], &limit) < 0) {
        return NULL;
    }
    PyObject *cache = args[8], *datas = args[9], *sources = args[10], *dests = args[11], *stamps = args[12];
    PyObject *tally = args[13];
    if (!PyDict_Check(cache)) {
        PyErr_SetString(PyExc_TypeError, "scan_capture: cache must be a dict");
        return NULL;
    }
    if (!PyList_Check(datas) || !PyList_Check(sources) || !PyList_Check(dests) || !PyList_Check(stamps) ||
        !PyList_Check(tally) || PyList_GET_SIZE(tally) < TALLY_SIZE) {
        PyErr_SetString(PyExc_TypeError, "scan_capture: the columns and the tally must be lists");
        return NULL;
    }
    if (pos < 0 || pos > n) {
        PyErr_Format(PyExc_ValueError, "scan_capture: pos %zd is outside the buffer (0-%zd)", pos, n);
        return NULL;
    }
    Py_buffer view;
    if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    if (view.len != n) { /* a __len__ that is not its buffer's: no record is read past it */
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "scan_capture: the buffer's length is not its len()");
        return NULL;
    }
    const unsigned char *buf = view.buf;
    long long counts[TALLY_SIZE] = {0};
    Last src_last = {0}, dst_last = {0};
    int status = ST_END, failed = 0;
    for (;;) {
        if (PyList_GET_SIZE(datas) >= limit) {
            status = ST_FULL;
            break;
        }
        Py_ssize_t start, next;
        uint32_t caplen, wire;
        const Iface *iface;
        i128 time_ns;
        if (kind == KIND_PCAP) {
            if (pos + PCAP_RECORD > n) {
                status = ST_END;
                break;
            }
            const unsigned char *h = buf + pos;
            caplen = u32(h + 8, big);
            wire = u32(h + 12, big);
            if (caplen > MAX_BLOCK) {
                status = ST_SLOW;
                break;
            }
            start = pos + PCAP_RECORD;
            next = start + caplen;
            if (next > n) {
                status = ST_END;
                break;
            }
            if (nifaces < 1) { /* ifaces[0], as the twin reads it */
                PyErr_SetString(PyExc_IndexError, "scan_capture: a pcap record but no interface");
                failed = 1;
                break;
            }
            iface = &ifaces[0];
            time_ns = (i128)u32(h, big) * 1000000000 + (i128)u32(h + 4, big) * iface->unit;
        } else {
            if (pos + 8 > n) {
                status = ST_END;
                break;
            }
            const unsigned char *h = buf + pos;
            uint32_t btype = u32(h, big), total = u32(h + 4, big);
            if (btype != EPB || total < 32 || total % 4 || total > MAX_BLOCK) {
                status = ST_SLOW;
                break;
            }
            if (pos + (Py_ssize_t)total > n) {
                status = ST_END;
                break;
            }
            uint32_t id = u32(h + 8, big);
            caplen = u32(h + 20, big);
            wire = u32(h + 24, big);
            if (u32(h + total - 4, big) != total || id >= nifaces || caplen > total - 32 || ifaces[id].unit == 0) {
                status = ST_SLOW;
                break;
            }
            iface = &ifaces[id];
            start = pos + 28;
            next = pos + total;
            uint64_t ts = (uint64_t)u32(h + 12, big) << 32 | u32(h + 16, big);
            time_ns = (i128)ts * iface->unit + iface->offset;
        }
        if (!known_linktype(iface->linktype)) {
            status = ST_SLOW;
            break;
        }
        if (has_stop && time_ns >= stop_ns) {
            status = ST_TIME;
            break;
        }
        Found d;
        int reason = 0;
        /* a port no datagram has (beyond 0-65535) matches none, as in the twin */
        int r = decode(iface->linktype, buf + start, (Py_ssize_t)caplen, wire, port < 0 || port > 65535 ? -1 : (int)port,
                       &d, &reason);
        if (r == SLOW) {
            status = ST_SLOW;
            break;
        }
        if (r == SKIPPED) {
            counts[reason]++;
        } else {
            Py_ssize_t base = PyList_GET_SIZE(datas);
            if (append_new(datas, PyBytes_FromStringAndSize((const char *)d.data, d.len)) < 0 ||
                append_new(sources, address(cache, &src_last, d.version, d.src, d.sport)) < 0 ||
                append_new(dests, address(cache, &dst_last, d.version, d.dst, d.dport)) < 0 ||
                append_new(stamps, core_from_i128(time_ns)) < 0) {
                /* The columns stay of one length (a failed datagram is in none). */
                PyObject *columns[4] = {datas, sources, dests, stamps};
                for (int c = 0; c < 4; c++) {
                    if (PyList_GET_SIZE(columns[c]) > base) {
                        PyList_SetSlice(columns[c], base, PyList_GET_SIZE(columns[c]), NULL);
                    }
                }
                failed = 1;
                break;
            }
        }
        counts[FRAMES]++;
        pos = next;
    }
    PyBuffer_Release(&view);
    Py_XDECREF(src_last.tuple);
    Py_XDECREF(dst_last.tuple);
    for (int i = 0; i < TALLY_SIZE && !failed; i++) {
        if (counts[i] && tally_add(tally, i, counts[i]) == NULL) {
            failed = 1;
        }
    }
    if (failed) {
        return NULL;
    }
    return Py_BuildValue("(ni)", pos, status);
}
