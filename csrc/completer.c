/* The built-in IRP client's steady state, completed natively.
 *
 * `IrpCompleter` is the twin of one turn of the model's receive-completion step as
 * `wskrecv listen` runs it: WskDatagramSocket._complete_receive (the datagram copied
 * into the request's WSK_BUF, SOCKADDR and ControlFlags filled, the socket's tap told)
 * and io_complete_request, whose completion routine is the built-in client's
 * (IrpClient._on_receive_complete: MSG_BCAST/MSG_MCAST counted, IoReuseIrp,
 * IoSetCompletionRoutine, WskReceiveFrom of the same context). The Python code is the
 * specification and stays what every other request runs; the socket's _pump hands this
 * object its request and datagram queues, and it completes, in order, every head request
 * whose whole state is the one the built-in client leaves behind:
 *
 * - the socket bound, its OS socket working and no failure told, inside _pump;
 * - the IRP an Irp, PENDING, its routine that client's _on_receive_complete bound to it,
 *   and the client not stopping;
 * - the request (Buffer, RemoteAddress, None, None, ControlFlags) made of its context's
 *   own WSK_BUF (a bytearray MDL written through its memoryview, Offset and Length
 *   valid), SOCKADDR and ULONG, each owned by the IRP;
 * - the datagram a 4-tuple of bytes, a (host, port[, flowinfo, scope_id]) address, its
 *   packet info and kernel time;
 * - the tap a RecorderTap on one thread, keeping no datagram (--dump/--pcap), whose
 *   recorder counts with a native Counter.
 *
 * For such a request the Python code's steps are all legal and their net effect is
 * fixed: the IRP goes PENDING -> COMPLETED -> IDLE -> PENDING (the factory checks the
 * table gives that cycle), its IO_STATUS_BLOCK ends as IoReuseIrp left it (SUCCESS, 0),
 * Cancel FALSE, its cancel routine the socket's, its request, routine and context the
 * same, and it goes to the back of the queue. This writes those end states directly.
 * Anything else stops the run at that request, which the Python code then completes:
 * every rule and caution fires there, as it would without this. An exception raised
 * where the Python code would raise one (the counting kernel, the cast flags) leaves
 * what the Python code would leave: the request and datagram taken, the buffers written,
 * the counts of the requests completed before it.
 *
 * The model's records (Irp, IO_STATUS_BLOCK, WSK_BUF, SOCKADDR, ULONG, the client's
 * context) are Python classes with __slots__ and no attribute hooks: their slots are read
 * and written here through the member descriptors the classes define (PyMemberDef
 * offsets, checked when the completer is made), as the attribute machinery would, for
 * objects of exactly those classes. The socket, the client, the tap and the recorder are
 * read through their attributes once a call.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <string.h>

#include "core.h"

/* Attributes read once a call, by name. */
enum {
    N_STATE, N_OBJ, N_STOPPING, N_EVENTS, N_TAP, N_WANT_LOCAL, N_LOCKED, N_RECORDER, N_RECORD, N_DUMPED,
    N_COUNTS, N_CLOCK_NS, N_TRUNCATED, N_BROKEN, N_FAILURE_TOLD, N_PUMPING, N_LAST_LOCAL, N_LAST_CAST,
    N_CAST_OF, N_CANCEL_METHOD, N_COMPLETIONS, N_IN_FLIGHT, N_BROADCAST, N_MULTICAST, N_POPLEFT, N_APPEND,
    N_SOCK, N_VERIFIER, N_COUNT
};

static const char *const NAMES[N_COUNT] = {
    "state", "obj", "stopping", "events", "tap", "want_local", "_locked", "recorder", "_record", "dumped",
    "counts", "clock_ns", "truncated", "_broken", "_failure_told", "_pumping", "_last_local", "_last_cast",
    "_cast_of", "_cancel", "completions", "in_flight", "broadcast", "multicast", "popleft", "append",
    "sock", "verifier",
};

enum { Y_IRP, Y_IOSB, Y_CTX, Y_BUF, Y_ADDR, Y_ULONG, Y_TAP, Y_COUNT };

/* The slots read and written for every request, each of one of the types above. */
enum {
    S_STATE, S_ROUTINE, S_CONTEXT, S_REQUEST, S_IOSB, S_CANCEL, S_CANCEL_ROUTINE, S_INVOKE, S_VERIFIER,
    S_STATUS, S_INFORMATION, S_CTX_IRP, S_CTX_BUF, S_CTX_REMOTE, S_CTX_FLAGS, S_BUF_OWNER, S_MDL, S_OFFSET,
    S_LENGTH, S_VIEW, S_HOST, S_PORT, S_FAMILY, S_FLOWINFO, S_SCOPE_ID, S_VALUE, S_ULONG_OWNER, S_COUNT
};

static const struct {
    int type;
    const char *name;
} SLOTS[S_COUNT] = {
    {Y_IRP, "state"}, {Y_IRP, "completion_routine"}, {Y_IRP, "context"}, {Y_IRP, "request"},
    {Y_IRP, "io_status"}, {Y_IRP, "cancel"}, {Y_IRP, "cancel_routine"}, {Y_IRP, "invoke_always"},
    {Y_IRP, "verifier"}, {Y_IOSB, "status"}, {Y_IOSB, "information"}, {Y_CTX, "irp"}, {Y_CTX, "buf"},
    {Y_CTX, "remote"}, {Y_CTX, "control_flags"}, {Y_BUF, "owner"}, {Y_BUF, "mdl"}, {Y_BUF, "offset"},
    {Y_BUF, "length"}, {Y_BUF, "_view"}, {Y_ADDR, "host"}, {Y_ADDR, "port"}, {Y_ADDR, "family"},
    {Y_ADDR, "flowinfo"}, {Y_ADDR, "scope_id"}, {Y_ULONG, "value"}, {Y_ULONG, "owner"},
};
enum { K_BOUND, K_PENDING, K_SUCCESS, K_AF_INET, K_AF_INET6, K_TRUNC, K_BCAST, K_MCAST, K_COUNT };

typedef struct {
    PyObject_HEAD
    PyObject *sock;    /* the model's WskDatagramSocket */
    PyObject *client;  /* the built-in IrpClient */
    PyObject *routine; /* IrpClient._on_receive_complete (the function) */
    PyObject *record;  /* Recorder.record (the function) */
    PyObject *types[Y_COUNT];
    PyObject *consts[K_COUNT];
    long trunc, bcast, mcast;
    PyObject *names[N_COUNT];
    Py_ssize_t offset[S_COUNT]; /* of each slot in its object (its PyMemberDef) */
} Completer;

/* A slot's value (borrowed; NULL when empty), and a write to it. */
static inline PyObject *
slot(Completer *c, PyObject *obj, int s)
{
    return *(PyObject **)((char *)obj + c->offset[s]);
}

static inline void
set_slot(Completer *c, PyObject *obj, int s, PyObject *value)
{
    PyObject **where = (PyObject **)((char *)obj + c->offset[s]);
    if (*where != value) {
        Py_XSETREF(*where, Py_NewRef(value));
    }
}

static inline int
is_a(Completer *c, PyObject *obj, int t)
{
    return obj != NULL && Py_IS_TYPE(obj, (PyTypeObject *)c->types[t]);
}

/* What one call reads once: the socket's and the tap's parts (new references). */
typedef struct {
    PyObject *recorder, *counter, *clock, *cancel, *verifier, *last_local;
    long last_cast;
    CoreLastStream last_stream; /* the counting kernel's memory across this call's adds */
    int clock_builtin;          /* calling `clock` runs no Python code (builtin) */
} Run;

/* Whether calling `clock` runs no Python code: a builtin function (time.time_ns, the
 * receive commands' clock) or a C slot's method-wrapper (itertools.count().__next__). */
static int
builtin(PyObject *clock)
{
    return PyCFunction_Check(clock) || strcmp(Py_TYPE(clock)->tp_name, "method-wrapper") == 0;
}

static void
run_clear(Run *r)
{
    Py_CLEAR(r->recorder);
    Py_CLEAR(r->counter);
    Py_CLEAR(r->clock);
    Py_CLEAR(r->cancel);
    Py_CLEAR(r->verifier);
    Py_CLEAR(r->last_local);
    core_last_stream_clear(&r->last_stream);
}

/* One request and its datagram, as qualified (borrowed: the IRP holds them all). */
typedef struct {
    PyObject *ctx, *buf, *remote, *cflags, *mdl, *iosb;
    Py_ssize_t offset, length;
} Request;

static inline PyObject *
get(Completer *c, PyObject *obj, int name)
{
    return PyObject_GetAttr(obj, c->names[name]);
}

/* 1 when obj.name is `expected`, 0 when it is not or cannot be read (no exception left:
 * the Python code reads it again and raises what it raises). */
static int
attr_is(Completer *c, PyObject *obj, int name, PyObject *expected)
{
    PyObject *v = get(c, obj, name);
    if (v == NULL) {
        PyErr_Clear();
        return 0;
    }
    int same = v == expected;
    Py_DECREF(v);
    return same;
}

/* obj.name += delta (a Python int). */
static int
add_to(Completer *c, PyObject *obj, int name, long delta)
{
    if (delta == 0) {
        return 0;
    }
    PyObject *v = get(c, obj, name);
    if (v == NULL) {
        return -1;
    }
    PyObject *d = PyLong_FromLong(delta);
    PyObject *sum = d != NULL ? PyNumber_Add(v, d) : NULL;
    Py_DECREF(v);
    Py_XDECREF(d);
    if (sum == NULL) {
        return -1;
    }
    int status = PyObject_SetAttr(obj, c->names[name], sum);
    Py_DECREF(sum);
    return status;
}

/* The socket, the client and the tap as the built-in client's steady state has them:
 * 1 (and `r` filled), 0 when not (no exception). */
static int
prepare(Completer *c, Run *r)
{
    PyObject *sock = c->sock;
    if (!attr_is(c, sock, N_STATE, c->consts[K_BOUND]) || !attr_is(c, sock, N_BROKEN, Py_False) ||
        !attr_is(c, sock, N_FAILURE_TOLD, Py_False) || !attr_is(c, sock, N_PUMPING, Py_True) ||
        !attr_is(c, c->client, N_STOPPING, Py_False) || !attr_is(c, c->client, N_SOCK, sock)) {
        return 0;
    }
    PyObject *events = get(c, sock, N_EVENTS);
    PyObject *tap = events != NULL ? get(c, events, N_TAP) : NULL;
    Py_XDECREF(events);
    if (tap == NULL) {
        PyErr_Clear();
        return 0;
    }
    int ok = is_a(c, tap, Y_TAP) && attr_is(c, tap, N_WANT_LOCAL, Py_False) && attr_is(c, tap, N_LOCKED, Py_False);
    if (ok) {
        r->recorder = get(c, tap, N_RECORDER);
        PyObject *record = get(c, tap, N_RECORD);
        /* the tap records through its recorder's own `record` */
        ok = r->recorder != NULL && record != NULL && PyMethod_Check(record) &&
             PyMethod_GET_FUNCTION(record) == c->record && PyMethod_GET_SELF(record) == r->recorder;
        Py_XDECREF(record);
    }
    Py_DECREF(tap);
    if (ok) {
        core_state *st = core_state_of_type(Py_TYPE(c));
        r->counter = get(c, r->recorder, N_COUNTS);
        r->clock = get(c, r->recorder, N_CLOCK_NS);
        ok = st != NULL && r->counter != NULL && r->clock != NULL && Py_IS_TYPE(r->counter, st->counter_type) &&
             attr_is(c, r->recorder, N_DUMPED, Py_None);
        r->clock_builtin = ok && builtin(r->clock);
    }
    if (ok) {
        r->cancel = get(c, sock, N_CANCEL_METHOD);
        r->verifier = get(c, sock, N_VERIFIER);
        r->last_local = get(c, sock, N_LAST_LOCAL);
        PyObject *cast = get(c, sock, N_LAST_CAST);
        ok = r->cancel != NULL && r->verifier != NULL && r->last_local != NULL && cast != NULL &&
             PyLong_CheckExact(cast);
        r->last_cast = ok ? PyLong_AsLong(cast) : 0;
        Py_XDECREF(cast);
        ok = ok && !PyErr_Occurred();
    }
    if (!ok) {
        PyErr_Clear();
        run_clear(r);
    }
    return ok;
}

/* An exact int in [0, PY_SSIZE_T_MAX], or -1. */
static Py_ssize_t
size_of(PyObject *v)
{
    if (v == NULL || !PyLong_CheckExact(v)) {
        return -1;
    }
    Py_ssize_t n = PyLong_AsSsize_t(v);
    if (n == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        return -1;
    }
    return n;
}

/* Whether `buf`'s memoryview is its whole bytearray MDL, writable, bytes, not released
 * (WskBuf.fill writes through it, and reads `view.obj` first). */
static int
view_is_mdl(Completer *c, PyObject *buf, PyObject *mdl)
{
    PyObject *view = slot(c, buf, S_VIEW);
    if (view == NULL || !PyMemoryView_Check(view) || !attr_is(c, view, N_OBJ, mdl)) {
        return 0;
    }
    Py_buffer *b = PyMemoryView_GET_BUFFER(view);
    return b->buf == PyByteArray_AS_STRING(mdl) && b->len == PyByteArray_GET_SIZE(mdl) && !b->readonly &&
           b->itemsize == 1 && b->ndim == 1;
}

/* Whether the head request `irp` with datagram `dgram` is the steady state (see the
 * file's comment): 1 with `q` filled, else 0. */
static int
qualify(Completer *c, PyObject *irp, PyObject *dgram, Request *q)
{
    if (!is_a(c, irp, Y_IRP) || slot(c, irp, S_STATE) != c->consts[K_PENDING]) {
        return 0;
    }
    /* the datagram: (bytes, address, packet info, kernel time) */
    if (!PyTuple_Check(dgram) || PyTuple_GET_SIZE(dgram) != 4 || !PyBytes_CheckExact(PyTuple_GET_ITEM(dgram, 0))) {
        return 0;
    }
    PyObject *addr = PyTuple_GET_ITEM(dgram, 1);
    if (!PyTuple_Check(addr) || (PyTuple_GET_SIZE(addr) != 2 && PyTuple_GET_SIZE(addr) < 4)) {
        return 0;
    }
    PyObject *routine = slot(c, irp, S_ROUTINE);
    if (routine == NULL || !PyMethod_Check(routine) || PyMethod_GET_FUNCTION(routine) != c->routine ||
        PyMethod_GET_SELF(routine) != c->client) {
        return 0;
    }
    PyObject *req = slot(c, irp, S_REQUEST);
    q->ctx = slot(c, irp, S_CONTEXT);
    q->iosb = slot(c, irp, S_IOSB);
    if (req == NULL || !PyTuple_CheckExact(req) || PyTuple_GET_SIZE(req) != 5 || PyTuple_GET_ITEM(req, 2) != Py_None ||
        PyTuple_GET_ITEM(req, 3) != Py_None || !is_a(c, q->ctx, Y_CTX) || !is_a(c, q->iosb, Y_IOSB)) {
        return 0;
    }
    /* The routine reposts its context's IRP and buffers: they must be the request's. */
    q->buf = PyTuple_GET_ITEM(req, 0);
    q->remote = PyTuple_GET_ITEM(req, 1);
    q->cflags = PyTuple_GET_ITEM(req, 4);
    if (!is_a(c, q->buf, Y_BUF) || (q->remote != Py_None && !is_a(c, q->remote, Y_ADDR)) ||
        !is_a(c, q->cflags, Y_ULONG) || slot(c, q->ctx, S_CTX_IRP) != irp || slot(c, q->ctx, S_CTX_BUF) != q->buf ||
        slot(c, q->ctx, S_CTX_REMOTE) != q->remote || slot(c, q->ctx, S_CTX_FLAGS) != q->cflags ||
        slot(c, q->buf, S_BUF_OWNER) != irp || slot(c, q->cflags, S_ULONG_OWNER) != irp) {
        return 0;
    }
    /* WskBuf.is_valid for a bytearray MDL, and fill's memoryview */
    q->mdl = slot(c, q->buf, S_MDL);
    q->offset = size_of(slot(c, q->buf, S_OFFSET));
    q->length = size_of(slot(c, q->buf, S_LENGTH));
    return q->mdl != NULL && PyByteArray_CheckExact(q->mdl) && q->offset >= 0 && q->length >= 0 &&
           q->offset <= PyByteArray_GET_SIZE(q->mdl) - q->length && view_is_mdl(c, q->buf, q->mdl);
}

/* A queue method called by name the first time in a call and bound from the second on (a
 * look up by name per datagram was a tenth of a completion's instructions; binding for a
 * call that completes one request would cost more than it saves: -n 1). */
typedef struct {
    PyObject *bound;
    int used;
} Method;

static int
call_method(Completer *c, Method *m, PyObject *queue, int name, PyObject *arg)
{
    PyObject *got;
    if (m->bound != NULL) {
        got = arg != NULL ? PyObject_CallOneArg(m->bound, arg) : PyObject_CallNoArgs(m->bound);
    }
    else if (m->used++ == 0) {
        got = arg != NULL ? PyObject_CallMethodOneArg(queue, c->names[name], arg)
                          : PyObject_CallMethodNoArgs(queue, c->names[name]);
    }
    else {
        if ((m->bound = PyObject_GetAttr(queue, c->names[name])) == NULL) {
            return -1;
        }
        got = arg != NULL ? PyObject_CallOneArg(m->bound, arg) : PyObject_CallNoArgs(m->bound);
    }
    Py_XDECREF(got);
    return got != NULL ? 0 : -1;
}

/* Pop the head of `queue` (deque.popleft), or append `item` to it. */
static int
popleft(Completer *c, Method *m, PyObject *queue)
{
    return call_method(c, m, queue, N_POPLEFT, NULL);
}

static int
append(Completer *c, Method *m, PyObject *queue, PyObject *item)
{
    return call_method(c, m, queue, N_APPEND, item);
}

/* SOCKADDR.set(addr) */
static void
set_address(Completer *c, PyObject *sa, PyObject *addr, PyObject *zero)
{
    set_slot(c, sa, S_HOST, PyTuple_GET_ITEM(addr, 0));
    set_slot(c, sa, S_PORT, PyTuple_GET_ITEM(addr, 1));
    if (PyTuple_GET_SIZE(addr) > 2) {
        set_slot(c, sa, S_FAMILY, c->consts[K_AF_INET6]);
        set_slot(c, sa, S_FLOWINFO, PyTuple_GET_ITEM(addr, 2));
        set_slot(c, sa, S_SCOPE_ID, PyTuple_GET_ITEM(addr, 3));
    }
    else {
        set_slot(c, sa, S_FAMILY, c->consts[K_AF_INET]);
        set_slot(c, sa, S_FLOWINFO, zero);
        set_slot(c, sa, S_SCOPE_ID, zero);
    }
}

/* The datagram's cast flags (the socket's _cast_of, remembered by identity). */
static int
cast_of(Completer *c, Run *r, PyObject *local, long *flags)
{
    if (local == Py_None) {
        return 0;
    }
    if (local != r->last_local) {
        core_last_stream_clear(&r->last_stream); /* Python code runs: see plain_remote */
        PyObject *cast = PyObject_CallMethodOneArg(c->sock, c->names[N_CAST_OF], local);
        if (cast == NULL) {
            return -1;
        }
        long value = PyLong_AsLong(cast);
        Py_DECREF(cast);
        if (value == -1 && PyErr_Occurred()) {
            return -1;
        }
        Py_SETREF(r->last_local, Py_NewRef(local));
        r->last_cast = value;
    }
    *flags |= r->last_cast;
    return 0;
}

/* Whether hashing `remote` runs no Python code: a tuple of exact str and int, as the
 * providers make (an application's own object could run anything). */
static int
plain_remote(PyObject *remote)
{
    if (!PyTuple_CheckExact(remote)) {
        return 0;
    }
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(remote); i++) {
        PyObject *item = PyTuple_GET_ITEM(remote, i);
        if (!PyUnicode_CheckExact(item) && !PyLong_CheckExact(item)) {
            return 0;
        }
    }
    return 1;
}

/* The tap: RecorderTap.completed -> Recorder.record -> Counter.add (and `truncated`).
 * The counting kernel's memory of the last stream (r->last_stream) spans the call only
 * while no Python code can have changed the stream table since it was filled: a clock
 * that is not a builtin, a `_cast_of` call or a remote whose hash is Python code empties
 * it, and the next datagram looks its stream up as Counter.add does. */
static int
count(Completer *c, Run *r, PyObject *dgram, Py_ssize_t n, int truncated)
{
    PyObject *data = PyTuple_GET_ITEM(dgram, 0);
    PyObject *taken = n != PyBytes_GET_SIZE(data) ? PyBytes_FromStringAndSize(PyBytes_AS_STRING(data), n)
                                                  : Py_NewRef(data);
    if (taken == NULL) {
        return -1;
    }
    PyObject *now = PyObject_CallNoArgs(r->clock);
    if (!r->clock_builtin || !plain_remote(PyTuple_GET_ITEM(dgram, 1))) {
        core_last_stream_clear(&r->last_stream);
    }
    int status = now != NULL ? core_counter_add(r->counter, taken, PyTuple_GET_ITEM(dgram, 1),
                                                PyTuple_GET_ITEM(dgram, 3), now, truncated, &r->last_stream)
                             : -1;
    Py_XDECREF(now);
    Py_DECREF(taken);
    if (status == 0 && truncated) {
        status = add_to(c, r->recorder, N_TRUNCATED, 1);
    }
    return status;
}

/* One request completed and reposted: the end state of the Python code's steps. 0, or
 * -1 with an exception raised where _complete_receive raises one, before
 * io_complete_request (the request is not counted as completed). */
static int
complete(Completer *c, Run *r, PyObject *irp, PyObject *dgram, Request *q, long *bcast, long *mcast)
{
    PyObject *data = PyTuple_GET_ITEM(dgram, 0);
    Py_ssize_t size = PyBytes_GET_SIZE(data);
    Py_ssize_t n = size < q->length ? size : q->length;
    if (n > 0) {
        memcpy(PyByteArray_AS_STRING(q->mdl) + q->offset, PyBytes_AS_STRING(data), (size_t)n);
    }
    long flags = n < size ? c->trunc : 0;
    if (cast_of(c, r, PyTuple_GET_ITEM(dgram, 2), &flags) < 0) {
        return -1;
    }
    PyObject *zero = PyLong_FromLong(0); /* a small int: cached, never fails */
    if (q->remote != Py_None) {
        set_address(c, q->remote, PyTuple_GET_ITEM(dgram, 1), zero);
    }
    PyObject *value = PyLong_FromLong(flags);
    if (value == NULL) {
        Py_DECREF(zero);
        return -1;
    }
    set_slot(c, q->cflags, S_VALUE, value);
    Py_DECREF(value);
    if (count(c, r, dgram, n, (flags & c->trunc) != 0) < 0) {
        Py_DECREF(zero);
        return -1;
    }
    /* io_complete_request, the routine's IoReuseIrp, IoSetCompletionRoutine, WskReceiveFrom */
    set_slot(c, q->iosb, S_STATUS, c->consts[K_SUCCESS]);
    set_slot(c, q->iosb, S_INFORMATION, zero);
    set_slot(c, irp, S_CANCEL, Py_False);
    set_slot(c, irp, S_INVOKE, Py_True);
    set_slot(c, irp, S_VERIFIER, r->verifier);
    set_slot(c, irp, S_CANCEL_ROUTINE, r->cancel);
    Py_DECREF(zero);
    if (flags & (c->bcast | c->mcast)) {
        ++*(flags & c->bcast ? bcast : mcast);
    }
    return 0;
}

static PyObject *
Completer_call(Completer *c, PyObject *args, PyObject *kwds)
{
    PyObject *requests, *backlog;
    if (kwds != NULL && PyDict_GET_SIZE(kwds)) {
        PyErr_SetString(PyExc_TypeError, "IrpCompleter takes no keyword arguments");
        return NULL;
    }
    if (!PyArg_UnpackTuple(args, "IrpCompleter", 2, 2, &requests, &backlog)) {
        return NULL;
    }
    if (c->sock == NULL) {
        return PyErr_Format(PyExc_AttributeError, "IrpCompleter is not initialised (__init__ was not called)");
    }
    Run r = {0};
    if (!prepare(c, &r)) {
        return PyLong_FromLong(0);
    }
    long done = 0, bcast = 0, mcast = 0;
    int status = 0;
    Method take_request = {NULL, 0}, take_datagram = {NULL, 0}, repost = {NULL, 0};
    while (status == 0) {
        Py_ssize_t nreq = PyObject_Length(requests), nback = nreq > 0 ? PyObject_Length(backlog) : 0;
        if (nreq < 0 || nback < 0) {
            status = -1;
            break;
        }
        if (nreq == 0 || nback == 0) {
            break;
        }
        PyObject *irp = PySequence_GetItem(requests, 0);
        PyObject *dgram = irp != NULL ? PySequence_GetItem(backlog, 0) : NULL;
        Request q;
        if (dgram == NULL) {
            status = -1;
        }
        else if (!qualify(c, irp, dgram, &q)) {
            PyErr_Clear();
            Py_DECREF(irp);
            Py_DECREF(dgram);
            break;
        }
        else if (popleft(c, &take_request, requests) < 0 || popleft(c, &take_datagram, backlog) < 0) {
            status = -1;
        }
        else {
            /* Held while the IRP's and the request's own references are rewritten. */
            Py_INCREF(q.ctx);
            Py_INCREF(q.iosb);
            PyObject *req = Py_NewRef(slot(c, irp, S_REQUEST));
            status = complete(c, &r, irp, dgram, &q, &bcast, &mcast);
            Py_DECREF(req);
            Py_DECREF(q.iosb);
            Py_DECREF(q.ctx);
            if (status == 0) {
                done++;
                status = append(c, &repost, requests, irp);
            }
        }
        Py_XDECREF(irp);
        Py_XDECREF(dgram);
    }
    Py_XDECREF(take_request.bound);
    Py_XDECREF(take_datagram.bound);
    Py_XDECREF(repost.bound);
    /* What the Python code adds up per request (the socket's counts, the client's casts),
     * added once; an exception already raised stays the one raised. */
    PyObject *exc_type, *exc_value, *exc_tb;
    PyErr_Fetch(&exc_type, &exc_value, &exc_tb);
    PyObject *counts = get(c, c->sock, N_COUNTS);
    int tally = counts != NULL && add_to(c, counts, N_COMPLETIONS, done) == 0 &&
                        add_to(c, counts, N_IN_FLIGHT, -done) == 0 && add_to(c, c->client, N_BROADCAST, bcast) == 0 &&
                        add_to(c, c->client, N_MULTICAST, mcast) == 0
                    ? 0
                    : -1;
    Py_XDECREF(counts);
    run_clear(&r);
    if (exc_type != NULL) {
        if (tally < 0) {
            PyErr_Clear();
        }
        PyErr_Restore(exc_type, exc_value, exc_tb);
        return NULL;
    }
    if (status < 0 || tally < 0) {
        return NULL;
    }
    return PyLong_FromLong(done);
}

/* The offset of slot `name` of `type`: its own member descriptor, an object slot, with no
 * attribute hook on the class that would bypass it. */
static int
slot_offset(PyObject *type, const char *name, Py_ssize_t *offset)
{
    PyTypeObject *t = (PyTypeObject *)type;
    if (t->tp_getattro != PyObject_GenericGetAttr || t->tp_setattro != PyObject_GenericSetAttr) {
        PyErr_Format(PyExc_TypeError, "IrpCompleter: %s has its own attribute access", t->tp_name);
        return -1;
    }
    PyObject *descr = PyDict_GetItemString(t->tp_dict, name); /* borrowed */
    if (descr == NULL || !Py_IS_TYPE(descr, &PyMemberDescr_Type) ||
        ((PyMemberDescrObject *)descr)->d_common.d_type != t ||
        ((PyMemberDescrObject *)descr)->d_member->type != T_OBJECT_EX ||
        ((PyMemberDescrObject *)descr)->d_member->flags & READONLY) {
        PyErr_Format(PyExc_TypeError, "IrpCompleter: %s.%s is not a slot", t->tp_name, name);
        return -1;
    }
    *offset = ((PyMemberDescrObject *)descr)->d_member->offset;
    return 0;
}

static int
Completer_init(Completer *c, PyObject *args, PyObject *kwds)
{
    PyObject *sock, *client, *routine, *record, *types, *consts;
    static char *kwlist[] = {"sock", "client", "routine", "record", "types", "constants", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OOOOO!O!:IrpCompleter", kwlist, &sock, &client, &routine, &record,
                                     &PyTuple_Type, &types, &PyTuple_Type, &consts)) {
        return -1;
    }
    if (PyTuple_GET_SIZE(types) != Y_COUNT || PyTuple_GET_SIZE(consts) != K_COUNT) {
        PyErr_Format(PyExc_TypeError, "IrpCompleter: %d types and %d constants", Y_COUNT, K_COUNT);
        return -1;
    }
    for (int k = 0; k < Y_COUNT; k++) {
        if (!PyType_Check(PyTuple_GET_ITEM(types, k))) {
            PyErr_SetString(PyExc_TypeError, "IrpCompleter: `types` must hold types");
            return -1;
        }
    }
    Py_ssize_t offset[S_COUNT];
    for (int k = 0; k < S_COUNT; k++) {
        if (slot_offset(PyTuple_GET_ITEM(types, SLOTS[k].type), SLOTS[k].name, &offset[k]) < 0) {
            return -1;
        }
    }
    long flag[3];
    for (int k = 0; k < 3; k++) {
        flag[k] = PyLong_AsLong(PyTuple_GET_ITEM(consts, K_TRUNC + k));
        if (flag[k] == -1 && PyErr_Occurred()) {
            return -1;
        }
    }
    for (int k = 0; k < N_COUNT; k++) {
        if (c->names[k] == NULL && (c->names[k] = PyUnicode_InternFromString(NAMES[k])) == NULL) {
            return -1;
        }
    }
    Py_XSETREF(c->sock, Py_NewRef(sock));
    Py_XSETREF(c->client, Py_NewRef(client));
    Py_XSETREF(c->routine, Py_NewRef(routine));
    Py_XSETREF(c->record, Py_NewRef(record));
    for (int k = 0; k < Y_COUNT; k++) {
        Py_XSETREF(c->types[k], Py_NewRef(PyTuple_GET_ITEM(types, k)));
    }
    for (int k = 0; k < K_COUNT; k++) {
        Py_XSETREF(c->consts[k], Py_NewRef(PyTuple_GET_ITEM(consts, k)));
    }
    memcpy(c->offset, offset, sizeof offset);
    c->trunc = flag[0];
    c->bcast = flag[1];
    c->mcast = flag[2];
    return 0;
}

static int
Completer_traverse(Completer *c, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(c));
    Py_VISIT(c->sock);
    Py_VISIT(c->client);
    Py_VISIT(c->routine);
    Py_VISIT(c->record);
    for (int k = 0; k < Y_COUNT; k++) {
        Py_VISIT(c->types[k]);
    }
    for (int k = 0; k < K_COUNT; k++) {
        Py_VISIT(c->consts[k]);
    }
    return 0;
}

static int
Completer_clear(Completer *c)
{
    Py_CLEAR(c->sock);
    Py_CLEAR(c->client);
    Py_CLEAR(c->routine);
    Py_CLEAR(c->record);
    for (int k = 0; k < Y_COUNT; k++) {
        Py_CLEAR(c->types[k]);
    }
    for (int k = 0; k < K_COUNT; k++) {
        Py_CLEAR(c->consts[k]);
    }
    return 0;
}

static void
Completer_dealloc(Completer *c)
{
    PyObject_GC_UnTrack(c);
    Completer_clear(c);
    for (int k = 0; k < N_COUNT; k++) {
        Py_CLEAR(c->names[k]);
    }
    core_free((PyObject *)c);
}

static PyType_Slot Completer_slots[] = {
    {Py_tp_doc, "IrpCompleter(sock, client, routine, record, types, constants): completer(requests, backlog) "
                "completes the built-in IRP client's steady-state requests natively, in order, and returns how "
                "many (0: the head request is the Python code's). The twin of WskDatagramSocket._complete_receive "
                "running IrpClient._on_receive_complete (see csrc/completer.c)."},
    {Py_tp_new, PyType_GenericNew},
    {Py_tp_init, Completer_init},
    {Py_tp_call, Completer_call},
    {Py_tp_traverse, Completer_traverse},
    {Py_tp_clear, Completer_clear},
    {Py_tp_dealloc, Completer_dealloc},
    {0, NULL},
};

static PyType_Spec Completer_spec = {
    .name = "wskrecv._core.IrpCompleter",
    .basicsize = sizeof(Completer),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = Completer_slots,
};

int
core_add_completer(PyObject *module, core_state *st)
{
    st->completer_type = core_add_type(module, &Completer_spec, NULL);
    return st->completer_type != NULL ? 0 : -1;
}
