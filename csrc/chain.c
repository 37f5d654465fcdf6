/* Indication lists: the fields of the model's WSK_DATAGRAM_INDICATION, and the builder,
 * the bulk state write and the walk over them -- the twins of wskrecv.wsk.indication's
 * storage class (PythonIndication), make_chain and walk, and of _state.settle.
 *
 * `IndicationFields` owns an indication's fields in C (next, state, data, remote,
 * timestamp_ns, _dgram, _source), each an attribute as a __slots__ entry is (empty:
 * AttributeError). Reading a hidden field that is empty goes to the model's `_unreadable`
 * (the violation its state table names), as PythonIndication's __getattr__ sends it: here
 * from the field's own getter (Fields_getset), so that legal reads pay for no __getattr__
 * hook. The model
 * keeps its indication in Python: wskrecv.core makes the native indication class from
 * the model's WskDatagramIndication (the API: properties, the verifier's checks) and this
 * storage, as the pure-Python PythonIndication is made from the same class and __slots__.
 *
 * `ChainMaker(cls, state, fallback)`, for such a class, is an IndicationCore:
 * `maker(dgrams, source)` builds the list as make_chain does -- one instance per datagram,
 * its fields filled as WskDatagramIndication.__init__ fills them, `state` the table's
 * starting state, linked in order through `next` -- without running Python code per
 * datagram; anything but a list of 4-tuples (Datagram records) goes to `fallback` (the
 * Python make_chain, building the same class). `maker.settle` is the twin of
 * _state.settle (each indication's next state from the table's row it is handed: the
 * table and its rules stay Python); `maker.walk` the twin of indication.walk. The C
 * writes only its own fields; anything else handed to settle is written as Python writes
 * it (setattr, delattr), as the twin would.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

#include "core.h"

typedef struct {
    PyObject_HEAD
    PyObject *next, *state, *data, *remote, *timestamp_ns, *dgram, *source;
} Fields;

static PyMemberDef Fields_members[] = {
    {"next", T_OBJECT_EX, offsetof(Fields, next), 0, "Next: the next indication of the list, or None"},
    {"state", T_OBJECT_EX, offsetof(Fields, state), 0, "who owns it (wsk._state.IndicationState)"},
    {"_dgram", T_OBJECT_EX, offsetof(Fields, dgram), 0, "the provider's Datagram record"},
    {"_source", T_OBJECT_EX, offsetof(Fields, source), 0, "the IndicationSource of its socket"},
    {NULL, 0, 0, 0, NULL},
};

static int
Fields_traverse(Fields *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->next);
    Py_VISIT(self->state);
    Py_VISIT(self->data);
    Py_VISIT(self->remote);
    Py_VISIT(self->timestamp_ns);
    Py_VISIT(self->dgram);
    Py_VISIT(self->source);
    return 0;
}

static int
Fields_clear(Fields *self)
{
    Py_CLEAR(self->next);
    Py_CLEAR(self->state);
    Py_CLEAR(self->data);
    Py_CLEAR(self->remote);
    Py_CLEAR(self->timestamp_ns);
    Py_CLEAR(self->dgram);
    Py_CLEAR(self->source);
    return 0;
}

static void
Fields_dealloc(Fields *self)
{
    PyObject_GC_UnTrack(self);
    Py_TRASHCAN_BEGIN(self, Fields_dealloc) /* a long list frees through `next` */
    Fields_clear(self);
    core_free((PyObject *)self);
    Py_TRASHCAN_END
}

/* The fields a state may hide (data, remote, timestamp_ns): getters that find the field
 * empty ask the model's `_unreadable(name)` (PythonIndication's __getattr__), which raises
 * the violation of a hidden field; without that method (the storage alone), the
 * AttributeError an empty __slots__ entry gives. The others are plain members, and the
 * type's attribute lookup stays the generic one: legal reads pay for no __getattr__ hook
 * (CPython's makes every read two type lookups and keeps LOAD_ATTR from specialising). */
typedef struct {
    Py_ssize_t offset;
    const char *name;
} Hidden;

static const Hidden HIDDEN[] = {
    {offsetof(Fields, data), "data"},
    {offsetof(Fields, remote), "remote"},
    {offsetof(Fields, timestamp_ns), "timestamp_ns"},
};

static PyObject *
Fields_get_hidden(PyObject *self, void *closure)
{
    const Hidden *h = (const Hidden *)closure;
    PyObject *value = *(PyObject **)((char *)self + h->offset);
    if (value != NULL) {
        return Py_NewRef(value);
    }
    PyObject *hook = PyObject_GetAttrString(self, "_unreadable");
    if (hook == NULL) {
        if (PyErr_ExceptionMatches(PyExc_AttributeError)) {
            PyErr_Format(PyExc_AttributeError, "'%.100s' object has no attribute '%s'",
                         Py_TYPE(self)->tp_name, h->name);
        }
        return NULL;
    }
    PyObject *res = PyObject_CallFunction(hook, "s", h->name);
    Py_DECREF(hook);
    return res;
}

/* As a __slots__ entry: set, or delete (deleting an empty one is AttributeError). */
static int
Fields_set_hidden(PyObject *self, PyObject *value, void *closure)
{
    const Hidden *h = (const Hidden *)closure;
    PyObject **slot = (PyObject **)((char *)self + h->offset);
    if (value == NULL && *slot == NULL) {
        PyErr_SetString(PyExc_AttributeError, h->name);
        return -1;
    }
    Py_XSETREF(*slot, Py_XNewRef(value));
    return 0;
}

static PyGetSetDef Fields_getset[] = {
    {"data", Fields_get_hidden, Fields_set_hidden, "the datagram's bytes, while readable", (void *)&HIDDEN[0]},
    {"remote", Fields_get_hidden, Fields_set_hidden, "the sender's address, while readable", (void *)&HIDDEN[1]},
    {"timestamp_ns", Fields_get_hidden, Fields_set_hidden, "the kernel's receive time, while readable",
     (void *)&HIDDEN[2]},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot Fields_slots[] = {
    {Py_tp_doc, "IndicationFields(): an indication's fields, owned in C (the storage of the native "
                "WskDatagramIndication; the twin of wskrecv.wsk.indication.PythonIndication's __slots__)."},
    {Py_tp_new, PyType_GenericNew},
    {Py_tp_dealloc, Fields_dealloc},
    {Py_tp_traverse, Fields_traverse},
    {Py_tp_clear, Fields_clear},
    {Py_tp_members, Fields_members},
    {Py_tp_getset, Fields_getset},
    {0, NULL},
};

static PyType_Spec Fields_spec = {
    .name = "wskrecv._core.IndicationFields",
    .basicsize = sizeof(Fields),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = Fields_slots,
};

typedef struct {
    PyObject_HEAD
    PyTypeObject *cls;    /* the native WskDatagramIndication: an IndicationFields subclass */
    PyTypeObject *fields; /* IndicationFields */
    PyObject *state;      /* IndicationState.INDICATED */
    PyObject *fallback;   /* the Python make_chain, building `cls` */
    PyObject *census;     /* the Python census, for a list not all of `cls` (or NULL) */
    PyObject *timestamps_name, *next_name, *state_name;
    PyObject *hidden[3];  /* "data", "remote", "timestamp_ns" */
} ChainMaker;

static int
ChainMaker_init(ChainMaker *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"cls", "state", "fallback", "census", NULL};
    PyObject *cls, *state, *fallback, *census = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OOO|O:ChainMaker", kwlist, &cls, &state, &fallback,
                                     &census)) {
        return -1;
    }
    if (census != NULL && census != Py_None && !PyCallable_Check(census)) {
        PyErr_SetString(PyExc_TypeError, "ChainMaker: census must be callable");
        return -1;
    }
    core_state *st = core_state_of_type(Py_TYPE(self));
    if (st == NULL) {
        return -1;
    }
    if (!PyType_Check(cls) || !PyType_IsSubtype((PyTypeObject *)cls, st->fields_type)) {
        PyErr_SetString(PyExc_TypeError, "ChainMaker: cls must be a subclass of IndicationFields");
        return -1;
    }
    if (!PyCallable_Check(fallback)) {
        PyErr_SetString(PyExc_TypeError, "ChainMaker: fallback must be callable");
        return -1;
    }
    Py_XSETREF(self->timestamps_name, Py_NewRef(st->str_timestamps));
    Py_XSETREF(self->next_name, Py_NewRef(st->str_next));
    Py_XSETREF(self->state_name, Py_NewRef(st->str_state));
    for (int k = 0; k < 3; k++) {
        Py_XSETREF(self->hidden[k], Py_NewRef(st->str_hidden[k]));
    }
    Py_XSETREF(self->fields, (PyTypeObject *)Py_NewRef(st->fields_type));
    Py_XSETREF(self->cls, (PyTypeObject *)Py_NewRef(cls));
    Py_XSETREF(self->state, Py_NewRef(state));
    Py_XSETREF(self->fallback, Py_NewRef(fallback));
    Py_XSETREF(self->census, census != NULL && census != Py_None ? Py_NewRef(census) : NULL);
    return 0;
}

static int
ChainMaker_ready(ChainMaker *self)
{
    return core_initialised((PyObject *)self, self->cls != NULL);
}

/* Whether every item is a 4-tuple: the records the C path unpacks as __init__ does. */
static int
all_records(PyObject *dgrams)
{
    Py_ssize_t n = PyList_GET_SIZE(dgrams);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *d = PyList_GET_ITEM(dgrams, i);
        if (!PyTuple_Check(d) || PyTuple_GET_SIZE(d) != 4) {
            return 0;
        }
    }
    return 1;
}

static PyObject *
ChainMaker_call(ChainMaker *self, PyObject *args, PyObject *kwds)
{
    PyObject *dgrams, *source;
    if (ChainMaker_ready(self) < 0) {
        return NULL;
    }
    if ((kwds != NULL && PyDict_GET_SIZE(kwds) != 0) || PyTuple_GET_SIZE(args) != 2) {
        return PyObject_Call(self->fallback, args, kwds); /* its own error, or its result */
    }
    dgrams = PyTuple_GET_ITEM(args, 0);
    source = PyTuple_GET_ITEM(args, 1);
    if (!PyList_Check(dgrams) || !all_records(dgrams)) {
        return PyObject_Call(self->fallback, args, NULL);
    }
    /* SO_TIMESTAMP only when SIO_TIMESTAMPING enabled it (read once per list, as the
     * Python function does after building it). */
    PyObject *flag = PyObject_GetAttr(source, self->timestamps_name);
    if (flag == NULL) {
        return NULL;
    }
    int timestamps = PyObject_IsTrue(flag);
    Py_DECREF(flag);
    if (timestamps < 0) {
        return NULL;
    }
    Py_ssize_t n = PyList_GET_SIZE(dgrams);
    PyObject *out = PyList_New(n);
    if (out == NULL) {
        return NULL;
    }
    PyTypeObject *cls = self->cls;
    PyObject *next = Py_None;
    /* Built from the last datagram back, as the Python function does: each new indication
     * points at the one after it. The list owns every indication. */
    for (Py_ssize_t i = n - 1; i >= 0; i--) {
        PyObject *d = PyList_GET_ITEM(dgrams, i);
        Fields *ind = (Fields *)cls->tp_alloc(cls, 0);
        if (ind == NULL) {
            Py_DECREF(out); /* the items set so far go with it; unset ones are NULL */
            return NULL;
        }
        ind->next = Py_NewRef(next);
        ind->state = Py_NewRef(self->state);
        ind->dgram = Py_NewRef(d);
        ind->source = Py_NewRef(source);
        ind->data = Py_NewRef(PyTuple_GET_ITEM(d, 0));
        ind->remote = Py_NewRef(PyTuple_GET_ITEM(d, 1));
        ind->timestamp_ns = Py_NewRef(timestamps ? PyTuple_GET_ITEM(d, 3) : Py_None);
        PyList_SET_ITEM(out, i, (PyObject *)ind);
        next = (PyObject *)ind;
    }
    return out;
}

/* Whether `ind` is one of the two classes whose fields are these (a subclass of either may
 * make them properties: it is read and written as Python does). */
static inline int
own(ChainMaker *self, PyObject *ind)
{
    return Py_IS_TYPE(ind, self->cls) || Py_IS_TYPE(ind, self->fields);
}

/* `ind`'s state: its own field when it is an IndicationFields, else its `state` attribute
 * (a new reference, or NULL with AttributeError as reading an empty slot). */
static PyObject *
state_of(ChainMaker *self, PyObject *ind)
{
    if (own(self, ind)) {
        PyObject *state = ((Fields *)ind)->state;
        if (state == NULL) { /* as reading an empty slot says it */
            PyErr_Format(PyExc_AttributeError, "'%.100s' object has no attribute 'state'", Py_TYPE(ind)->tp_name);
            return NULL;
        }
        return Py_NewRef(state);
    }
    return PyObject_GetAttr(ind, self->state_name);
}

/* settle(inds, row, hide): what _state.step_all does to each indication (the twin of
 * _state.settle): its next state looked up in `row`, one event's row of the model's table
 * ({state: next state}, _state.INDICATION_ROWS), all or nothing -- a state the row does
 * not have is a KeyError of that state and nothing is written -- and with `hide` the
 * readable fields gone, so reading one lands in the model's `_unreadable`. The table is
 * the only source of the states written here. */
static PyObject *
ChainMaker_settle(ChainMaker *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (ChainMaker_ready(self) < 0) {
        return NULL;
    }
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "settle(inds, row, hide)");
        return NULL;
    }
    /* As the twin: any iterable of indications, any mapping of states. The list is copied
     * first: a hostile state's __eq__, run by a lookup, may change the caller's. */
    PyObject *items = PySequence_List(args[0]);
    if (items == NULL) {
        return NULL;
    }
    PyObject *row = args[1];
    Py_ssize_t n = PyList_GET_SIZE(items);
    PyObject **news = PyMem_Calloc(n > 0 ? n : 1, sizeof(PyObject *)); /* strong refs */
    PyObject *result = NULL;
    /* Every step first. A list's indications share a state: the row is asked once a run.
     * `last` is held (a freed state's address could come back as another object);
     * `last_next` is kept alive by `news` (or is None: the twin starts from a state of
     * None going to None). */
    PyObject *last = Py_NewRef(Py_None), *last_next = Py_None;
    if (news == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *state = state_of(self, PyList_GET_ITEM(items, i));
        if (state == NULL) {
            goto done;
        }
        if (state == last) {
            Py_DECREF(state);
            news[i] = Py_NewRef(last_next);
            continue;
        }
        PyObject *next = PyObject_GetItem(row, state); /* row[state]: KeyError when it has none */
        if (next == NULL) {
            Py_DECREF(state);
            goto done;
        }
        Py_XSETREF(last, state); /* our reference moves to `last` */
        news[i] = last_next = next;
    }
    int hide = PyObject_IsTrue(args[2]); /* where the twin asks */
    if (hide < 0) {
        goto done;
    }
    /* Then the writes: to an IndicationFields, its own fields (nothing runs Python code but
     * the old values' deallocation); to anything else, as Python writes. */
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *ind = PyList_GET_ITEM(items, i);
        if (!own(self, ind)) {
            int failed = PyObject_SetAttr(ind, self->state_name, news[i]) < 0;
            for (int k = 0; k < 3 && hide && !failed; k++) {
                failed = PyObject_DelAttr(ind, self->hidden[k]) < 0;
            }
            if (failed) {
                goto done;
            }
            continue;
        }
        Fields *f = (Fields *)ind;
        Py_XSETREF(f->state, news[i]);
        news[i] = NULL;
        if (!hide) {
            continue;
        }
        PyObject **fields[3] = {&f->data, &f->remote, &f->timestamp_ns};
        for (int k = 0; k < 3; k++) {
            if (*fields[k] == NULL) { /* `del` of an empty slot, as in Python */
                PyErr_SetObject(PyExc_AttributeError, self->hidden[k]);
                goto done;
            }
            Py_CLEAR(*fields[k]);
        }
    }
    result = Py_NewRef(Py_None);
done:
    Py_XDECREF(last);
    if (news != NULL) {
        for (Py_ssize_t i = 0; i < n; i++) {
            Py_XDECREF(news[i]);
        }
        PyMem_Free(news);
    }
    Py_DECREF(items);
    return result;
}

/* A set of object pointers (open addressing, linear probing): the indications a walk has
 * passed, kept alive by the list the walk builds. */
typedef struct {
    PyObject **slot;
    size_t mask, used;
} PtrSet;

static size_t
ptr_hash(PyObject *p)
{
    uintptr_t v = (uintptr_t)p >> 4;
    return (size_t)(v * 0x9E3779B97F4A7C15ull);
}

/* 1 when `p` was there, 0 when added, -1 on memory error. */
static int
ptrset_add(PtrSet *set, PyObject *p)
{
    if ((set->used + 1) * 2 > set->mask + 1) {
        size_t size = (set->mask + 1) * 2;
        PyObject **bigger = PyMem_Calloc(size, sizeof(PyObject *));
        if (bigger == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        for (size_t i = 0; i <= set->mask; i++) {
            PyObject *q = set->slot[i];
            if (q != NULL) {
                size_t j = ptr_hash(q) & (size - 1);
                while (bigger[j] != NULL) {
                    j = (j + 1) & (size - 1);
                }
                bigger[j] = q;
            }
        }
        PyMem_Free(set->slot);
        set->slot = bigger;
        set->mask = size - 1;
    }
    size_t j = ptr_hash(p) & set->mask;
    while (set->slot[j] != NULL) {
        if (set->slot[j] == p) {
            return 1;
        }
        j = (j + 1) & set->mask;
    }
    set->slot[j] = p;
    set->used++;
    return 0;
}

/* walk(head) -> (inds, again): the twin of indication.walk. The indications reachable from
 * `head` through `next` (getattr(ind, "next", None)), and the position of the first that
 * comes round again, -1 when the list ends properly. */
static PyObject *
ChainMaker_walk(ChainMaker *self, PyObject *head)
{
    if (ChainMaker_ready(self) < 0) {
        return NULL;
    }
    PyObject *next_name = self->next_name;
    PtrSet set = {PyMem_Calloc(64, sizeof(PyObject *)), 63, 0};
    PyObject *inds = PyList_New(0);
    PyObject *result = NULL;
    if (set.slot == NULL || inds == NULL) {
        if (set.slot == NULL) {
            PyErr_NoMemory();
        }
        goto done;
    }
    Py_ssize_t again = -1;
    PyObject *ind = Py_NewRef(head);
    while (ind != Py_None) {
        int seen = ptrset_add(&set, ind);
        if (seen != 0) {
            Py_DECREF(ind);
            if (seen < 0) {
                goto done;
            }
            again = PyList_GET_SIZE(inds);
            break;
        }
        if (PyList_Append(inds, ind) < 0) { /* the list keeps it alive for the set */
            Py_DECREF(ind);
            goto done;
        }
        PyObject *next = own(self, ind) ? Py_XNewRef(((Fields *)ind)->next)
                                                                : PyObject_GetAttr(ind, next_name);
        if (next == NULL && !PyErr_Occurred()) { /* an empty field reads as a missing attribute */
            PyErr_SetObject(PyExc_AttributeError, next_name);
        }
        Py_DECREF(ind);
        if (next == NULL) {
            if (!PyErr_ExceptionMatches(PyExc_AttributeError)) {
                goto done;
            }
            PyErr_Clear();
            next = Py_NewRef(Py_None);
        }
        ind = next;
    }
    if (again < 0) {
        Py_DECREF(ind); /* None */
    }
    result = Py_BuildValue("(On)", inds, again);
done:
    Py_XDECREF(inds);
    PyMem_Free(set.slot);
    return result;
}

/* list.count(value) over `items` (==, identity first, as list.count compares): the count,
 * or -1 with the comparison's exception set. */
static Py_ssize_t
count_equal(PyObject *items, PyObject *value)
{
    Py_ssize_t count = 0;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(items); i++) {
        PyObject *item = Py_NewRef(PyList_GET_ITEM(items, i));
        int eq = PyObject_RichCompareBool(item, value, Py_EQ);
        Py_DECREF(item);
        if (eq < 0) {
            return -1;
        }
        count += eq;
    }
    return count;
}

/* census(inds, source, state) -> int: the twin of indication.census. For a list whose
 * items are all of `cls`: -1 unless every one's `_source` is `source` (as list.count
 * compares, an AttributeError on the way reading as "not ours"); else how many have
 * `state`. The fields are read as the Python passes read them: each pass first takes a
 * snapshot list, then counts it. Any other list goes to the Python census. */
static PyObject *
ChainMaker_census(ChainMaker *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (ChainMaker_ready(self) < 0) {
        return NULL;
    }
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "census(inds, source, state) takes 3 arguments");
        return NULL;
    }
    PyObject *inds = args[0], *source = args[1], *state = args[2];
    int mine = PyList_CheckExact(inds);
    for (Py_ssize_t i = 0; mine && i < PyList_GET_SIZE(inds); i++) {
        mine = Py_IS_TYPE(PyList_GET_ITEM(inds, i), self->cls);
    }
    if (!mine) {
        if (self->census == NULL) {
            PyErr_SetString(PyExc_TypeError, "census: a list not all of the indication class");
            return NULL;
        }
        return PyObject_Vectorcall(self->census, args, (size_t)nargs, NULL);
    }
    Py_ssize_t n = PyList_GET_SIZE(inds);
    PyObject *snap = PyList_New(n);
    if (snap == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *src = ((Fields *)PyList_GET_ITEM(inds, i))->source;
        if (src == NULL) { /* no source: not ours */
            Py_DECREF(snap);
            return PyLong_FromLong(-1);
        }
        PyList_SET_ITEM(snap, i, Py_NewRef(src));
    }
    Py_ssize_t ours = count_equal(snap, source);
    Py_DECREF(snap);
    if (ours < 0) {
        if (!PyErr_ExceptionMatches(PyExc_AttributeError)) {
            return NULL;
        }
        PyErr_Clear();
        return PyLong_FromLong(-1);
    }
    if (ours != PyList_GET_SIZE(inds)) {
        return PyLong_FromLong(-1);
    }
    /* The states, read from the list as it is now, item by item as a list iterator reads
     * it: a comparison above ran Python code, and a state read may too (an item that is
     * no longer ours), which may change the list under us. */
    snap = PyList_New(0);
    if (snap == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(inds); i++) {
        PyObject *item = Py_NewRef(PyList_GET_ITEM(inds, i));
        PyObject *st = state_of(self, item);
        Py_DECREF(item);
        if (st == NULL || PyList_Append(snap, st) < 0) {
            Py_XDECREF(st);
            Py_DECREF(snap);
            return NULL;
        }
        Py_DECREF(st);
    }
    Py_ssize_t during = count_equal(snap, state);
    Py_DECREF(snap);
    return during < 0 ? NULL : PyLong_FromSsize_t(during);
}

static PyMethodDef ChainMaker_methods[] = {
    {"walk", (PyCFunction)ChainMaker_walk, METH_O,
     "walk(head) -> (indications, again): the twin of wskrecv.wsk.indication.walk."},
    {"census", (PyCFunction)(void (*)(void))ChainMaker_census, METH_FASTCALL,
     "census(inds, source, state) -> int: the twin of wskrecv.wsk.indication.census."},
    {"settle", (PyCFunction)(void (*)(void))ChainMaker_settle, METH_FASTCALL,
     "settle(inds, row, hide): move each indication to row[its state] (a row of the model's "
     "table); with hide, remove its readable fields (the twin of wskrecv.wsk._state.settle)."},
    {NULL, NULL, 0, NULL},
};

static int
ChainMaker_traverse(ChainMaker *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->cls);
    Py_VISIT(self->fields);
    Py_VISIT(self->state);
    Py_VISIT(self->fallback);
    Py_VISIT(self->census);
    return 0;
}

static int
ChainMaker_clear(ChainMaker *self)
{
    Py_CLEAR(self->cls);
    Py_CLEAR(self->fields);
    Py_CLEAR(self->state);
    Py_CLEAR(self->fallback);
    Py_CLEAR(self->census);
    Py_CLEAR(self->timestamps_name);
    Py_CLEAR(self->next_name);
    Py_CLEAR(self->state_name);
    for (int k = 0; k < 3; k++) {
        Py_CLEAR(self->hidden[k]);
    }
    return 0;
}

static void
ChainMaker_dealloc(ChainMaker *self)
{
    PyObject_GC_UnTrack(self);
    ChainMaker_clear(self);
    core_free((PyObject *)self);
}

static PyType_Slot ChainMaker_slots[] = {
    {Py_tp_doc, "ChainMaker(cls, state, fallback): maker(dgrams, source) builds the indication "
                "list of wskrecv.wsk.indication.make_chain (its twin)."},
    {Py_tp_new, PyType_GenericNew},
    {Py_tp_init, ChainMaker_init},
    {Py_tp_call, ChainMaker_call},
    {Py_tp_methods, ChainMaker_methods},
    {Py_tp_traverse, ChainMaker_traverse},
    {Py_tp_clear, ChainMaker_clear},
    {Py_tp_dealloc, ChainMaker_dealloc},
    {0, NULL},
};

static PyType_Spec ChainMaker_spec = {
    .name = "wskrecv._core.ChainMaker",
    .basicsize = sizeof(ChainMaker),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = ChainMaker_slots,
};

int
core_add_chain(PyObject *module, core_state *st)
{
    st->fields_type = core_add_type(module, &Fields_spec, NULL);
    if (st->fields_type == NULL) {
        return -1;
    }
    st->chain_type = core_add_type(module, &ChainMaker_spec, NULL);
    return st->chain_type != NULL ? 0 : -1;
}
