/* The native batch reader: recvmmsg(2) into preallocated slots, parsed into the model's
 * Datagram records without Python code per datagram.
 *
 * The twin, and the specification, is wskrecv/provider/mmsg.py (MmsgReader): the same
 * constructor, `read(max_n)`, and the counters `drops_seen`, `truncated` and
 * `control_truncated`, `tos_counts` and `ttl_counts`. Each datagram becomes
 * Datagram(data, remote, local, timestamp_ns): `remote` is Python's socket address tuple,
 * `local` (destination address, interface index) from IP_PKTINFO/IPV6_PKTINFO or None,
 * with (..., tos, ttl) appended when the socket asked for the TOS byte or traffic class
 * and the TTL or hop limit (each None when absent; those datagrams are counted per
 * value), `timestamp_ns` from SO_TIMESTAMPNS or None.
 * Sender and packet-info tuples are cached by their raw bytes (a small direct-mapped
 * cache), so a batch from known senders allocates only the payload, the timestamp and the
 * record.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "core.h"

#ifdef __linux__
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>

#ifndef SO_RXQ_OVFL
#define SO_RXQ_OVFL 40
#endif
#ifndef SO_TIMESTAMPNS
#define SO_TIMESTAMPNS 35
#endif

#define CONTROL_SLOT 256 /* timestamp + drop counter + packet info + TOS + TTL, with room */
#define FIELD_VALUES 256 /* TOS bytes and TTLs: one count per value (mmsg.FIELD_VALUES) */
#define CACHE_SIZE 256   /* entries of each direct-mapped conversion cache */
#define MAX_BATCH 1024
#define MAX_BUFFER (1 << 20)

typedef struct {
    unsigned char key[32];
    Py_ssize_t keylen;
    PyObject *value; /* owned; NULL when empty */
} CacheEntry;

typedef struct {
    PyObject_HEAD
    PyObject *sock;          /* the Python socket (its fileno is read per call) */
    PyObject *record_type;   /* Datagram */
    int batch;               /* 0 until __init__ has made the buffers */
    int reading;             /* in recvmmsg, the GIL released: the buffers must stay */
    Py_ssize_t buffer_size;
    unsigned long long drops_seen;
    unsigned long long truncated;
    unsigned long long control_truncated;
    unsigned long long tos_counts[FIELD_VALUES], ttl_counts[FIELD_VALUES];
    char *data;
    struct mmsghdr *msgs;
    struct iovec *iov;
    struct sockaddr_storage *names;
    char *control; /* batch * CONTROL_SLOT, 8-aligned */
    CacheEntry remotes[CACHE_SIZE];
    CacheEntry locals[CACHE_SIZE];
} Reader;

/* A hash of a cache key (a sockaddr, or a local address and its packet fields): eight
 * bytes at a time, the tail a byte at a time, then murmur3's finaliser so that every
 * input bit moves the low bits the cache index takes. A sockaddr_in is two words where a
 * byte loop took sixteen rounds, on every datagram. */
static uint32_t
hash_bytes(const unsigned char *p, Py_ssize_t n)
{
    uint64_t h = (uint64_t)n;
    Py_ssize_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8); /* unaligned-safe */
        h = (h ^ w) * 0x9e3779b97f4a7c15ull;
        h ^= h >> 32;
    }
    for (; i < n; i++) {
        h = (h ^ p[i]) * 0x100000001b3ull;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return (uint32_t)h;
}

/* The cached object for `key`, made by `make` on a miss (a new reference either way). */
static PyObject *
cached(CacheEntry *cache, const unsigned char *key, Py_ssize_t n, PyObject *(*make)(const unsigned char *, Py_ssize_t))
{
    if (n < 0 || (size_t)n > sizeof cache->key) { /* too long to keep: converted each time */
        return make(key, n);
    }
    CacheEntry *e = &cache[hash_bytes(key, n) & (CACHE_SIZE - 1)];
    if (e->value != NULL && e->keylen == n && memcmp(e->key, key, (size_t)n) == 0) {
        Py_INCREF(e->value);
        return e->value;
    }
    PyObject *value = make(key, n);
    if (value == NULL) {
        return NULL;
    }
    Py_XSETREF(e->value, value);
    Py_INCREF(value);
    memcpy(e->key, key, (size_t)n);
    e->keylen = n;
    return value;
}

static PyObject *
ntop(int family, const void *addr)
{
    char text[INET6_ADDRSTRLEN];
    if (inet_ntop(family, addr, text, sizeof text) == NULL) {
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    return PyUnicode_FromString(text);
}

/* A struct sockaddr_in / sockaddr_in6 as Python's socket address tuple (mmsg._sockaddr). */
static PyObject *
make_remote(const unsigned char *raw, Py_ssize_t n)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    memcpy(&ss, raw, (size_t)n < sizeof ss ? (size_t)n : sizeof ss);
    if (ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;
        PyObject *host = ntop(AF_INET6, &a->sin6_addr);
        if (host == NULL) {
            return NULL;
        }
        return Py_BuildValue("(NiIk)", host, (int)ntohs(a->sin6_port),
                             (unsigned int)ntohl(a->sin6_flowinfo), (unsigned long)a->sin6_scope_id);
    }
    const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;
    PyObject *host = ntop(AF_INET, &a->sin_addr);
    if (host == NULL) {
        return NULL;
    }
    return Py_BuildValue("(Ni)", host, (int)ntohs(a->sin_port));
}

/* The key of packet info: family (1 byte), ifindex (4), which of TOS and TTL came (1:
 * bit 0 TOS, bit 1 TTL; 0xff neither was asked for), TOS (1), TTL (1), address. */
#define LOCAL_ADDRESS 8

static PyObject *
field_value(int present, unsigned char value)
{
    return present ? PyLong_FromLong(value) : Py_NewRef(Py_None);
}

/* Packet info as (address, ifindex), or (address, ifindex, tos, ttl) (mmsg.read_ancillary). */
static PyObject *
make_local(const unsigned char *key, Py_ssize_t n)
{
    int ifindex;
    memcpy(&ifindex, key + 1, sizeof ifindex);
    PyObject *host = ntop(key[0] == 6 ? AF_INET6 : AF_INET, key + LOCAL_ADDRESS);
    if (host == NULL) {
        return NULL;
    }
    (void)n;
    if (key[5] == 0xff) {
        return Py_BuildValue("(Ni)", host, ifindex);
    }
    return Py_BuildValue("(NiNN)", host, ifindex, field_value(key[5] & 1, key[6]),
                         field_value(key[5] & 2, key[7]));
}

/* 0, or -1 with AttributeError before __init__ (as the twin's missing attributes). */
static int
reader_ready(Reader *self)
{
    return core_initialised((PyObject *)self, self->sock != NULL);
}

/* sock.fileno(), as the twin reads it per call: -1 with an exception when it is no
 * descriptor (a closed socket's -1, or beyond a C int: EBADF, as the kernel says). */
static int
socket_fd(PyObject *sock)
{
    PyObject *result = PyObject_CallMethod(sock, "fileno", NULL);
    PyObject *index = result != NULL ? PyNumber_Index(result) : NULL;
    Py_XDECREF(result);
    if (index == NULL) {
        return -1;
    }
    int overflow;
    long fd = PyLong_AsLongAndOverflow(index, &overflow);
    Py_DECREF(index);
    if (fd == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (overflow || fd < 0 || fd > INT_MAX) {
        errno = EBADF;
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    return (int)fd;
}

static void
reader_free_buffers(Reader *self)
{
    PyMem_Free(self->data);
    PyMem_Free(self->msgs);
    PyMem_Free(self->iov);
    PyMem_Free(self->names);
    PyMem_Free(self->control);
    self->data = NULL;
    self->msgs = NULL;
    self->iov = NULL;
    self->names = NULL;
    self->control = NULL;
}

static int
Reader_init(Reader *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"sock", "batch", "buffer_size", NULL};
    PyObject *sock, *batch_obj = NULL, *size_obj = NULL;
    Py_ssize_t batch = 64, buffer_size = 65535;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|OO:MmsgReader", kwlist, &sock, &batch_obj, &size_obj)) {
        return -1;
    }
    if (self->reading) { /* another thread is in recvmmsg on these buffers */
        PyErr_SetString(PyExc_RuntimeError, "MmsgReader: __init__ during a read");
        return -1;
    }
    core_state *st = core_state_of_type(Py_TYPE(self));
    PyObject *record_type = st != NULL ? core_datagram_type(st) : NULL;
    if (record_type == NULL) {
        return -1;
    }
    PyObject *family_obj = PyObject_GetAttr(sock, st->str_family);
    long family = family_obj != NULL ? PyLong_AsLong(family_obj) : -1;
    Py_XDECREF(family_obj);
    if (family == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (family != AF_INET && family != AF_INET6) {
        PyErr_Format(PyExc_ValueError, "MmsgReader reads AF_INET and AF_INET6 sockets, not address family %ld",
                     family);
        return -1;
    }
    /* The twin's order: the socket's family, then both sizes as integers, then their range. */
    if ((batch_obj != NULL && core_clamped_index(batch_obj, &batch) < 0) ||
        (size_obj != NULL && core_clamped_index(size_obj, &buffer_size) < 0)) {
        return -1;
    }
    if (batch < 1 || batch > MAX_BATCH || buffer_size < 1 || buffer_size > MAX_BUFFER) {
        PyErr_Format(PyExc_ValueError, "MmsgReader: batch must be 1-%d and buffer_size 1-%d", MAX_BATCH, MAX_BUFFER);
        return -1;
    }
    if (!PyType_Check(record_type) || !PyType_IsSubtype((PyTypeObject *)record_type, &PyTuple_Type)) {
        PyErr_SetString(PyExc_TypeError, "MmsgReader: Datagram must be a tuple subclass");
        return -1;
    }
    reader_free_buffers(self);
    Py_INCREF(sock);
    Py_XSETREF(self->sock, sock);
    Py_INCREF(record_type);
    Py_XSETREF(self->record_type, record_type);
    self->batch = 0; /* until the buffers are there */
    self->buffer_size = buffer_size;
    self->data = PyMem_Malloc((size_t)batch * (size_t)buffer_size);
    self->msgs = PyMem_Calloc((size_t)batch, sizeof(struct mmsghdr));
    self->iov = PyMem_Calloc((size_t)batch, sizeof(struct iovec));
    self->names = PyMem_Calloc((size_t)batch, sizeof(struct sockaddr_storage));
    self->control = PyMem_Calloc((size_t)batch, CONTROL_SLOT);
    if (!self->data || !self->msgs || !self->iov || !self->names || !self->control) {
        reader_free_buffers(self);
        PyErr_NoMemory();
        return -1;
    }
    for (int i = 0; i < batch; i++) {
        self->iov[i].iov_base = self->data + (size_t)i * (size_t)buffer_size;
        self->iov[i].iov_len = (size_t)buffer_size;
    }
    self->batch = (int)batch;
    self->drops_seen = self->truncated = self->control_truncated = 0;
    memset(self->tos_counts, 0, sizeof self->tos_counts);
    memset(self->ttl_counts, 0, sizeof self->ttl_counts);
    return 0;
}

/* An int-sized TTL, hop limit or traffic class, or IP_TOS's one byte, as 0-255 (the
 * twin's _byte); -1 when the message is empty. */
static int
field_byte(const unsigned char *value, size_t len)
{
    if (len >= sizeof(int)) {
        int v;
        memcpy(&v, value, sizeof v);
        return v & 0xff;
    }
    return len ? value[0] : -1;
}

/* Sender, packet info, drop counter and timestamp of message `i`; new references. */
static int
parse_slot(Reader *self, int i, PyObject **remote, PyObject **local, PyObject **stamp)
{
    struct msghdr *h = &self->msgs[i].msg_hdr;
    /* The kernel reports the sender's full address length, even past the buffer (an
     * AF_UNIX path can be 110 bytes): only the bytes it wrote are read. */
    socklen_t namelen = h->msg_namelen < sizeof self->names[i] ? h->msg_namelen : sizeof self->names[i];
    *remote = cached(self->remotes, (const unsigned char *)&self->names[i], (Py_ssize_t)namelen, make_remote);
    if (*remote == NULL) {
        return -1;
    }
    *local = NULL;
    *stamp = NULL;
    unsigned char key[LOCAL_ADDRESS + 16];
    Py_ssize_t keylen = 0; /* 0: no packet info (the last one wins, as in the twin) */
    int tos = -1, ttl = -1;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c != NULL; c = CMSG_NXTHDR(h, c)) {
        const unsigned char *value = CMSG_DATA(c);
        size_t len = c->cmsg_len - (size_t)(value - (const unsigned char *)c);
        if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO && len >= sizeof(struct in_pktinfo)) {
            struct in_pktinfo info;
            memcpy(&info, value, sizeof info);
            key[0] = 4;
            memcpy(key + 1, &info.ipi_ifindex, 4);
            memcpy(key + LOCAL_ADDRESS, &info.ipi_addr, 4);
            keylen = LOCAL_ADDRESS + 4;
        }
        else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO &&
                 len >= sizeof(struct in6_pktinfo)) {
            struct in6_pktinfo info;
            int ifindex;
            memcpy(&info, value, sizeof info);
            ifindex = (int)info.ipi6_ifindex;
            key[0] = 6;
            memcpy(key + 1, &ifindex, 4);
            memcpy(key + LOCAL_ADDRESS, &info.ipi6_addr, 16);
            keylen = LOCAL_ADDRESS + 16;
        }
        else if ((c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TOS) ||
                 (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_TCLASS)) {
            tos = field_byte(value, len);
        }
        else if ((c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TTL) ||
                 (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_HOPLIMIT)) {
            ttl = field_byte(value, len);
        }
        else if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL && len >= 4) {
            uint32_t drops;
            memcpy(&drops, value, 4);
            if (drops > self->drops_seen) {
                self->drops_seen = drops;
            }
        }
        else if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_TIMESTAMPNS && len >= sizeof(struct timespec)) {
            struct timespec ts;
            memcpy(&ts, value, sizeof ts);
            Py_XSETREF(*stamp, PyLong_FromLongLong((long long)ts.tv_sec * 1000000000LL + (long long)ts.tv_nsec));
            if (*stamp == NULL) {
                goto fail;
            }
        }
    }
    if (keylen) {
        /* TOS and TTL travel with the packet info, and are counted with it. */
        key[5] = tos < 0 && ttl < 0 ? 0xff : (unsigned char)((tos >= 0) | (ttl >= 0) << 1);
        key[6] = tos >= 0 ? (unsigned char)tos : 0;
        key[7] = ttl >= 0 ? (unsigned char)ttl : 0;
        if (tos >= 0) {
            self->tos_counts[tos]++;
        }
        if (ttl >= 0) {
            self->ttl_counts[ttl]++;
        }
        *local = cached(self->locals, key, keylen, make_local);
        if (*local == NULL) {
            goto fail;
        }
    }
    else {
        *local = Py_NewRef(Py_None);
    }
    if (*stamp == NULL) {
        *stamp = Py_NewRef(Py_None);
    }
    return 0;
fail:
    Py_CLEAR(*remote);
    Py_CLEAR(*local);
    Py_CLEAR(*stamp);
    return -1;
}

static PyObject *
Reader_read(Reader *self, PyObject *arg)
{
    int overflow;
    long max_n = PyLong_AsLongAndOverflow(arg, &overflow); /* min(max_n, batch), as the twin */
    if (max_n == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (reader_ready(self) < 0) {
        return NULL;
    }
    if (overflow) {
        max_n = overflow > 0 ? self->batch : 0;
    }
    unsigned int vlen = max_n < self->batch ? (unsigned int)(max_n > 0 ? max_n : 0) : (unsigned int)self->batch;
    if (vlen == 0) {
        return PyList_New(0);
    }
    int fd = socket_fd(self->sock);
    if (fd < 0) {
        return NULL;
    }
    if (self->reading) {
        PyErr_SetString(PyExc_RuntimeError, "MmsgReader: read from two threads at once");
        return NULL;
    }
    for (unsigned int i = 0; i < vlen; i++) {
        struct msghdr *h = &self->msgs[i].msg_hdr;
        h->msg_name = &self->names[i];
        h->msg_namelen = sizeof(struct sockaddr_storage);
        h->msg_iov = &self->iov[i];
        h->msg_iovlen = 1;
        h->msg_control = self->control + (size_t)i * CONTROL_SLOT;
        h->msg_controllen = CONTROL_SLOT;
        h->msg_flags = 0;
        self->msgs[i].msg_len = 0;
    }
    int n, err = 0;
    for (;;) {
        self->reading = 1; /* the buffers are the kernel's until recvmmsg returns */
        Py_BEGIN_ALLOW_THREADS
        n = recvmmsg(fd, self->msgs, vlen, MSG_DONTWAIT, NULL);
        err = errno;
        Py_END_ALLOW_THREADS
        self->reading = 0;
        if (n >= 0) {
            break;
        }
        if (err == EAGAIN || err == EWOULDBLOCK || err == EINTR) {
            return PyList_New(0);
        }
        if (err != ECONNREFUSED) { /* ECONNREFUSED: an ICMP error queued on the socket */
            errno = err;
            return PyErr_SetFromErrno(PyExc_OSError);
        }
    }
    PyObject *out = PyList_New(n);
    if (out == NULL) {
        return NULL;
    }
    PyTypeObject *type = (PyTypeObject *)self->record_type;
    for (int i = 0; i < n; i++) {
        struct msghdr *h = &self->msgs[i].msg_hdr;
        Py_ssize_t length = (Py_ssize_t)self->msgs[i].msg_len;
        if (h->msg_flags & MSG_TRUNC) {
            self->truncated++;
        }
        if (h->msg_flags & MSG_CTRUNC) {
            self->control_truncated++;
        }
        if (length > self->buffer_size) {
            length = self->buffer_size;
        }
        PyObject *remote, *local, *stamp;
        if (parse_slot(self, i, &remote, &local, &stamp) < 0) {
            Py_DECREF(out);
            return NULL;
        }
        PyObject *data = PyBytes_FromStringAndSize(self->data + (size_t)i * (size_t)self->buffer_size, length);
        PyObject *rec = data != NULL ? type->tp_alloc(type, 4) : NULL;
        if (rec == NULL) {
            Py_XDECREF(data);
            Py_DECREF(remote);
            Py_DECREF(local);
            Py_DECREF(stamp);
            Py_DECREF(out);
            return NULL;
        }
        PyTuple_SET_ITEM(rec, 0, data);
        PyTuple_SET_ITEM(rec, 1, remote);
        PyTuple_SET_ITEM(rec, 2, local);
        PyTuple_SET_ITEM(rec, 3, stamp);
        PyList_SET_ITEM(out, i, rec);
    }
    return out;
}

static int
Reader_traverse(Reader *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->sock);
    Py_VISIT(self->record_type);
    for (int i = 0; i < CACHE_SIZE; i++) {
        Py_VISIT(self->remotes[i].value);
        Py_VISIT(self->locals[i].value);
    }
    return 0;
}

static int
Reader_clear(Reader *self)
{
    Py_CLEAR(self->sock);
    Py_CLEAR(self->record_type);
    for (int i = 0; i < CACHE_SIZE; i++) {
        Py_CLEAR(self->remotes[i].value);
        Py_CLEAR(self->locals[i].value);
    }
    return 0;
}

static void
Reader_dealloc(Reader *self)
{
    PyObject_GC_UnTrack(self);
    Reader_clear(self);
    reader_free_buffers(self);
    core_free((PyObject *)self);
}

static PyMethodDef Reader_methods[] = {
    {"read", (PyCFunction)Reader_read, METH_O,
     "read(max_n) -> list of Datagram: up to min(max_n, batch) datagrams already queued (never blocks)."},
    {NULL, NULL, 0, NULL},
};

#define READER_GETTER(field, convert)                        \
    static PyObject *get_##field(Reader *self, void *c)      \
    {                                                        \
        if (reader_ready(self) < 0) {                        \
            return NULL;                                     \
        }                                                    \
        return convert(self->field);                         \
    }
READER_GETTER(sock, Py_NewRef)
READER_GETTER(batch, PyLong_FromLong)
READER_GETTER(buffer_size, PyLong_FromSsize_t)
READER_GETTER(drops_seen, PyLong_FromUnsignedLongLong)
READER_GETTER(truncated, PyLong_FromUnsignedLongLong)
READER_GETTER(control_truncated, PyLong_FromUnsignedLongLong)

/* A list of FIELD_VALUES counts (a copy). */
static PyObject *
counts_list(const unsigned long long *counts)
{
    PyObject *out = PyList_New(FIELD_VALUES);
    for (int i = 0; out != NULL && i < FIELD_VALUES; i++) {
        PyObject *v = PyLong_FromUnsignedLongLong(counts[i]);
        if (v == NULL) {
            Py_CLEAR(out);
            break;
        }
        PyList_SET_ITEM(out, i, v);
    }
    return out;
}

READER_GETTER(tos_counts, counts_list)
READER_GETTER(ttl_counts, counts_list)

static PyGetSetDef Reader_getset[] = {
    {"sock", (getter)get_sock, NULL, "the socket read from", NULL},
    {"batch", (getter)get_batch, NULL, "most datagrams per read", NULL},
    {"buffer_size", (getter)get_buffer_size, NULL, "bytes per datagram slot", NULL},
    {"drops_seen", (getter)get_drops_seen, NULL, "latest SO_RXQ_OVFL counter", NULL},
    {"truncated", (getter)get_truncated, NULL, "datagrams longer than buffer_size", NULL},
    {"control_truncated", (getter)get_control_truncated, NULL, "control data that did not fit (MSG_CTRUNC)", NULL},
    {"tos_counts", (getter)get_tos_counts, NULL, "datagrams per TOS byte / traffic class (a copy)", NULL},
    {"ttl_counts", (getter)get_ttl_counts, NULL, "datagrams per TTL / hop limit (a copy)", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot Reader_slots[] = {
    {Py_tp_doc, "MmsgReader(sock, batch=64, buffer_size=65535): recvmmsg batches as Datagram records "
                "(the twin of wskrecv.provider.mmsg.MmsgReader)."},
    {Py_tp_new, PyType_GenericNew},
    {Py_tp_init, Reader_init},
    {Py_tp_dealloc, Reader_dealloc},
    {Py_tp_traverse, Reader_traverse},
    {Py_tp_clear, Reader_clear},
    {Py_tp_methods, Reader_methods},
    {Py_tp_getset, Reader_getset},
    {0, NULL},
};

static PyType_Spec Reader_spec = {
    .name = "wskrecv._core.MmsgReader",
    .basicsize = sizeof(Reader),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = Reader_slots,
};

int
core_add_reader(PyObject *module, core_state *st)
{
    st->reader_type = core_add_type(module, &Reader_spec, NULL);
    return st->reader_type != NULL ? 0 : -1;
}

#else /* not Linux: no recvmmsg, no reader (the twin says so too) */

int
core_add_reader(PyObject *module, core_state *st)
{
    return 0;
}

#endif /* __linux__ */
