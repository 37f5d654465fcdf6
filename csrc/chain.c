/* The native indication-list builder: the twin of wskrecv.wsk.indication.make_chain.
 *
 * `ChainMaker(cls, state, fallback)` binds to the model's WskDatagramIndication class once:
 * it finds where each of the class's __slots__ lives in an instance (its member
 * descriptors), and `maker(dgrams, source)` then builds the list as the Python function
 * does -- one instance per datagram through the class's own tp_new, its slots filled
 * exactly as WskDatagramIndication.__init__ fills them, linked in order through `next` --
 * without running Python code per datagram. The objects are the model's own: the Python
 * API (attributes, properties, the verifier's __getattr__) is unchanged.
 *
 * The Python function stays the specification (tests hold the two equal): anything but a
 * list of 4-tuples (Datagram records) goes to `fallback`, the Python make_chain itself.
 * `maker.settle` is the twin of _state.settle, the write that ends _state.step_all: each
 * indication's next state comes from the row of the model's table it is handed (the
 * table and its rules stay Python); `maker.walk` the twin of
 * indication.walk (WskRelease follows the application's list with it; the checks on what
 * it finds stay Python).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

#include "core.h"

/* The slots WskDatagramIndication.__init__ fills, in this order. */
enum { S_NEXT, S_STATE, S_DGRAM, S_SOURCE, S_DATA, S_REMOTE, S_STAMP, N_SLOTS };
static const char *slot_names[N_SLOTS] = {"next", "state", "_dgram", "_source", "data", "remote", "timestamp_ns"};

typedef struct {
    PyObject_HEAD
    PyTypeObject *cls;  /* WskDatagramIndication */
    PyObject *state;    /* IndicationState.INDICATED */
    PyObject *fallback; /* the Python make_chain */
    PyObject *empty;    /* () for tp_new */
    PyObject *timestamps_name;
    PyObject *next_name;
    Py_ssize_t offset[N_SLOTS];
} ChainMaker;

#define SLOT(obj, off) (*(PyObject **)((char *)(obj) + (off)))

static int
ChainMaker_init(ChainMaker *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"cls", "state", "fallback", NULL};
    PyObject *cls, *state, *fallback;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OOO:ChainMaker", kwlist, &cls, &state, &fallback)) {
        return -1;
    }
    if (!PyType_Check(cls) || ((PyTypeObject *)cls)->tp_new == NULL) {
        PyErr_SetString(PyExc_TypeError, "ChainMaker: cls must be a class");
        return -1;
    }
    if (!PyCallable_Check(fallback)) {
        PyErr_SetString(PyExc_TypeError, "ChainMaker: fallback must be callable");
        return -1;
    }
    PyTypeObject *type = (PyTypeObject *)cls;
    for (int i = 0; i < N_SLOTS; i++) {
        /* The descriptor of a __slots__ entry: in the class's own dict, a member of type
         * T_OBJECT_EX (the object pointer at `offset` in each instance), writable. */
        PyObject *descr = PyDict_GetItemString(type->tp_dict, slot_names[i]);
        if (descr == NULL || !Py_IS_TYPE(descr, &PyMemberDescr_Type)) {
            PyErr_Format(PyExc_TypeError, "ChainMaker: %s has no slot %s", type->tp_name, slot_names[i]);
            return -1;
        }
        PyMemberDef *member = ((PyMemberDescrObject *)descr)->d_member;
        if (member->type != T_OBJECT_EX || (member->flags & READONLY) || member->offset <= 0 ||
            member->offset + (Py_ssize_t)sizeof(PyObject *) > type->tp_basicsize) {
            PyErr_Format(PyExc_TypeError, "ChainMaker: %s.%s is not a plain slot", type->tp_name, slot_names[i]);
            return -1;
        }
        self->offset[i] = member->offset;
    }
    core_state *st = core_state_of_type(Py_TYPE(self));
    if (st == NULL) {
        return -1;
    }
    Py_XSETREF(self->empty, Py_NewRef(st->empty_tuple));
    Py_XSETREF(self->timestamps_name, Py_NewRef(st->str_timestamps));
    Py_XSETREF(self->next_name, Py_NewRef(st->str_next));
    Py_XSETREF(self->cls, (PyTypeObject *)Py_NewRef(cls));
    Py_XSETREF(self->state, Py_NewRef(state));
    Py_XSETREF(self->fallback, Py_NewRef(fallback));
    return 0;
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
    if (self->cls == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "ChainMaker not initialised");
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
    const Py_ssize_t *off = self->offset;
    PyObject *next = Py_None;
    /* Built from the last datagram back, as the Python function does: each new indication
     * points at the one after it. The list owns every indication. */
    for (Py_ssize_t i = n - 1; i >= 0; i--) {
        PyObject *d = PyList_GET_ITEM(dgrams, i);
        PyObject *ind = cls->tp_new(cls, self->empty, NULL);
        if (ind == NULL) {
            Py_DECREF(out); /* the items set so far go with it; unset ones are NULL */
            return NULL;
        }
        if (!Py_IS_TYPE(ind, cls)) {
            Py_DECREF(ind);
            Py_DECREF(out);
            PyErr_SetString(PyExc_TypeError, "ChainMaker: the class made something else");
            return NULL;
        }
        SLOT(ind, off[S_NEXT]) = Py_NewRef(next);
        SLOT(ind, off[S_STATE]) = Py_NewRef(self->state);
        SLOT(ind, off[S_DGRAM]) = Py_NewRef(d);
        SLOT(ind, off[S_SOURCE]) = Py_NewRef(source);
        SLOT(ind, off[S_DATA]) = Py_NewRef(PyTuple_GET_ITEM(d, 0));
        SLOT(ind, off[S_REMOTE]) = Py_NewRef(PyTuple_GET_ITEM(d, 1));
        SLOT(ind, off[S_STAMP]) = Py_NewRef(timestamps ? PyTuple_GET_ITEM(d, 3) : Py_None);
        PyList_SET_ITEM(out, i, ind);
        next = ind;
    }
    return out;
}

/* settle(inds, row, hide): what _state.step_all does to each indication (the twin of
 * _state.settle): its next state looked up in `row`, one event's row of the model's table
 * ({state: next state}, _state.INDICATION_ROWS), all or nothing -- a state the row does
 * not have is a KeyError of that state and nothing is written -- and with `hide` the
 * readable fields gone, so reading one lands in the verifier's __getattr__. The table is
 * the only source of the states written here. */
static PyObject *
ChainMaker_settle(ChainMaker *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (self->cls == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "ChainMaker not initialised");
        return NULL;
    }
    if (nargs != 3 || !PyList_Check(args[0]) || !PyDict_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "settle(inds: list, row: dict, hide: bool)");
        return NULL;
    }
    PyObject *inds = args[0], *row = args[1];
    int hide = PyObject_IsTrue(args[2]);
    if (hide < 0) {
        return NULL;
    }
    const Py_ssize_t *off = self->offset;
    static const int hidden[] = {S_DATA, S_REMOTE, S_STAMP};
    /* The list is copied first: a hostile state's __eq__, run by a lookup, may change it. */
    PyObject *items = PySequence_List(inds);
    if (items == NULL) {
        return NULL;
    }
    Py_ssize_t n = PyList_GET_SIZE(items);
    PyObject **news = PyMem_Calloc(n > 0 ? n : 1, sizeof(PyObject *)); /* strong refs */
    PyObject *result = NULL;
    /* Every step first. A list's indications share a state: the row is asked once a run.
     * `last` is held (a freed state's address could come back as another object);
     * `last_next` is kept alive by `news`. */
    PyObject *last = NULL, *last_next = NULL;
    if (news == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *ind = PyList_GET_ITEM(items, i);
        if (!Py_IS_TYPE(ind, self->cls)) {
            PyErr_Format(PyExc_TypeError, "settle: %.100s is not an indication", Py_TYPE(ind)->tp_name);
            goto done;
        }
        PyObject *state = SLOT(ind, off[S_STATE]);
        if (state == NULL) { /* as reading an empty slot in Python */
            PyErr_SetString(PyExc_AttributeError, "state");
            goto done;
        }
        if (state == last) {
            news[i] = Py_NewRef(last_next);
            continue;
        }
        Py_INCREF(state); /* the lookup may run a hostile state's __eq__ */
        PyObject *next = PyDict_GetItemWithError(row, state);
        Py_XINCREF(next);
        if (next == NULL) { /* as row[state] in Python: a step the table does not have */
            if (!PyErr_Occurred()) {
                PyErr_SetObject(PyExc_KeyError, state);
            }
            Py_DECREF(state);
            goto done;
        }
        Py_XSETREF(last, state); /* our reference moves to `last` */
        news[i] = last_next = next;
    }
    /* Then the writes: nothing below runs Python code but the old values' deallocation. */
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *ind = PyList_GET_ITEM(items, i);
        Py_XSETREF(SLOT(ind, off[S_STATE]), news[i]);
        news[i] = NULL;
        if (!hide) {
            continue;
        }
        for (int k = 0; k < 3; k++) {
            PyObject **slot = &SLOT(ind, off[hidden[k]]);
            if (*slot == NULL) { /* `del` of an empty slot, as in Python */
                PyErr_SetString(PyExc_AttributeError, slot_names[hidden[k]]);
                goto done;
            }
            Py_CLEAR(*slot);
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
    PyObject *next_name = self->next_name;
    if (next_name == NULL) {
        PyErr_SetString(PyExc_AttributeError, "ChainMaker is not initialised (__init__ was not called)");
        return NULL;
    }
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
        PyObject *next = PyObject_GetAttr(ind, next_name);
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

static PyMethodDef ChainMaker_methods[] = {
    {"walk", (PyCFunction)ChainMaker_walk, METH_O,
     "walk(head) -> (indications, again): the twin of wskrecv.wsk.indication.walk."},
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
    Py_VISIT(self->state);
    Py_VISIT(self->fallback);
    return 0;
}

static int
ChainMaker_clear(ChainMaker *self)
{
    Py_CLEAR(self->cls);
    Py_CLEAR(self->state);
    Py_CLEAR(self->fallback);
    Py_CLEAR(self->empty);
    Py_CLEAR(self->timestamps_name);
    Py_CLEAR(self->next_name);
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
    st->chain_type = core_add_type(module, &ChainMaker_spec, NULL);
    return st->chain_type != NULL ? 0 : -1;
}
