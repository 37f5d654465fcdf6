/* wskrecv._core: the compiled receive core (a batch reader, a counting kernel, the
 * indication-list builder).
 *
 * Optional: `pip install .` builds it when a C compiler is present, and wskrecv/core.py
 * falls back to the pure-Python twins when it is absent or WSKRECV_NO_EXTENSIONS=1. The
 * twins are the specification (provider/mmsg.py, stats/counting.py, stats/sequence.py,
 * wsk/indication.py's make_chain);
 * tests hold this module to them.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "core.h"

static struct PyModuleDef core_module;

core_state *
core_state_of_type(PyTypeObject *type)
{
#if PY_VERSION_HEX >= 0x030B0000
    PyObject *module = PyType_GetModuleByDef(type, &core_module);
    return module != NULL ? (core_state *)PyModule_GetState(module) : NULL;
#else
    /* PyType_GetModuleByDef's walk, for Pythons before 3.11 (multidict's state.h too). */
    PyObject *mro = type->tp_mro;
    Py_ssize_t n = mro != NULL ? PyTuple_GET_SIZE(mro) : 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyTypeObject *base = (PyTypeObject *)PyTuple_GET_ITEM(mro, i);
        if (!PyType_HasFeature(base, Py_TPFLAGS_HEAPTYPE)) {
            continue;
        }
        PyObject *module = PyType_GetModule(base);
        if (module == NULL) {
            PyErr_Clear();
        }
        else if (PyModule_GetDef(module) == &core_module) {
            return (core_state *)PyModule_GetState(module);
        }
    }
    PyErr_Format(PyExc_TypeError, "%s is not a type of wskrecv._core", type->tp_name);
    return NULL;
#endif
}

/* `module_name`.`name`, cached in `*slot` (a borrowed reference once there). */
static PyObject *
imported(PyObject **slot, const char *module_name, const char *name)
{
    if (*slot == NULL) {
        PyObject *module = PyImport_ImportModule(module_name);
        if (module == NULL) {
            return NULL;
        }
        *slot = PyObject_GetAttrString(module, name);
        Py_DECREF(module);
    }
    return *slot;
}

PyObject *
core_datagram_type(core_state *st)
{
    return imported(&st->datagram_type, "wskrecv.wsk.datagram", "Datagram");
}

PyObject *
core_histogram_type(core_state *st)
{
    return imported(&st->histogram_type, "wskrecv.stats.latency", "Histogram");
}

PyObject *
core_totals_type(core_state *st)
{
    return imported(&st->totals_type, "wskrecv.stats.sequence", "SequenceTotals");
}

PyTypeObject *
core_add_type(PyObject *module, PyType_Spec *spec, PyTypeObject *base)
{
    PyObject *bases = base != NULL ? PyTuple_Pack(1, (PyObject *)base) : NULL;
    if (base != NULL && bases == NULL) {
        return NULL;
    }
    PyObject *type = PyType_FromModuleAndSpec(module, spec, bases);
    Py_XDECREF(bases);
    if (type == NULL) {
        return NULL;
    }
    if (PyModule_AddType(module, (PyTypeObject *)type) < 0) {
        Py_DECREF(type);
        return NULL;
    }
    return (PyTypeObject *)type;
}

/* CRC-32 (zlib/IEEE, reflected 0xEDB88320), slicing by 8. */
static uint32_t crc_table[8][256];

void
core_crc32_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) {
            c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        }
        crc_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++) {
        for (int t = 1; t < 8; t++) {
            crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xFF];
        }
    }
}

uint32_t
core_crc32(const unsigned char *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    while (n >= 8) {
        uint32_t lo = c ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
        c = crc_table[7][lo & 0xFF] ^ crc_table[6][(lo >> 8) & 0xFF] ^ crc_table[5][(lo >> 16) & 0xFF] ^
            crc_table[4][lo >> 24] ^ crc_table[3][p[4]] ^ crc_table[2][p[5]] ^ crc_table[1][p[6]] ^
            crc_table[0][p[7]];
        p += 8;
        n -= 8;
    }
    while (n--) {
        c = crc_table[0][(c ^ *p++) & 0xFF] ^ (c >> 8);
    }
    return c ^ 0xFFFFFFFFu;
}

PyObject *
core_from_i128(i128 v)
{
    if (v >= (i128)INT64_MIN && v <= (i128)INT64_MAX) {
        return PyLong_FromLongLong((long long)v);
    }
    /* hi * 2**64 + lo, with hi signed and lo unsigned */
    PyObject *hi = PyLong_FromLongLong((long long)(v >> 64));
    PyObject *lo = PyLong_FromUnsignedLongLong((unsigned long long)(uint64_t)v);
    PyObject *sixty_four = PyLong_FromLong(64);
    PyObject *shifted = hi && lo && sixty_four ? PyNumber_Lshift(hi, sixty_four) : NULL;
    PyObject *out = shifted ? PyNumber_Add(shifted, lo) : NULL;
    Py_XDECREF(hi);
    Py_XDECREF(lo);
    Py_XDECREF(sixty_four);
    Py_XDECREF(shifted);
    return out;
}

int
core_to_bounded(PyObject *obj, i128 *out)
{
    int overflow;
    long long v = PyLong_AsLongLongAndOverflow(obj, &overflow);
    if (v == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (!overflow) {
        *out = v;
        return 0;
    }
    unsigned long long lo = PyLong_AsUnsignedLongLongMask(obj);
    PyObject *sixty_four = PyLong_FromLong(64);
    PyObject *high = sixty_four ? PyNumber_Rshift(obj, sixty_four) : NULL;
    Py_XDECREF(sixty_four);
    if (high == NULL) {
        return -1;
    }
    long long hi = PyLong_AsLongLongAndOverflow(high, &overflow);
    Py_DECREF(high);
    if (hi == -1 && PyErr_Occurred()) {
        return -1;
    }
    i128 wide = (i128)(((unsigned __int128)(uint64_t)hi << 64) | lo); /* no signed shift */
    if (overflow || wide > CORE_BOUND || wide < -CORE_BOUND) {
        PyErr_SetString(PyExc_OverflowError, "integer beyond ±2**96: outside the native core's range");
        return -1;
    }
    *out = wide;
    return 0;
}

int
core_clamped_index(PyObject *obj, Py_ssize_t *out)
{
    PyObject *index = PyNumber_Index(obj);
    if (index == NULL) {
        return -1;
    }
    int overflow;
    long long v = PyLong_AsLongLongAndOverflow(index, &overflow);
    Py_DECREF(index);
    if (v == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (overflow || v > PY_SSIZE_T_MAX || v < PY_SSIZE_T_MIN) {
        *out = overflow < 0 || v < 0 ? PY_SSIZE_T_MIN : PY_SSIZE_T_MAX;
    }
    else {
        *out = (Py_ssize_t)v;
    }
    return 0;
}

static PyObject *
crc32_py(PyObject *module, PyObject *arg)
{
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    uint32_t c = core_crc32(view.buf, (size_t)view.len);
    PyBuffer_Release(&view);
    return PyLong_FromUnsignedLong(c);
}

static PyMethodDef module_methods[] = {
    {"crc32", crc32_py, METH_O, "crc32(data) -> int: zlib's CRC-32 of `data` (the kernel's own)."},
    {"scan_capture", (PyCFunction)(void (*)(void))core_scan_capture, METH_FASTCALL,
     "scan_capture(buf, pos, kind, big, ifaces, port, stop_ns, limit, cache, datas, sources, dests, "
     "stamps, tally) -> (pos, status): wskrecv.capture.scan.scan's twin."},
    {NULL, NULL, 0, NULL},
};

static int
core_traverse(PyObject *module, visitproc visit, void *arg)
{
    core_state *st = PyModule_GetState(module);
    Py_VISIT(st->reader_type);
    Py_VISIT(st->tracker_type);
    Py_VISIT(st->wrap32_type);
    Py_VISIT(st->counter_type);
    Py_VISIT(st->sources_type);
    Py_VISIT(st->streams_type);
    Py_VISIT(st->source_count_type);
    Py_VISIT(st->chain_type);
    Py_VISIT(st->completer_type);
    Py_VISIT(st->fields_type);
    Py_VISIT(st->datagram_type);
    Py_VISIT(st->histogram_type);
    Py_VISIT(st->totals_type);
    return 0;
}

static int
core_clear(PyObject *module)
{
    core_state *st = PyModule_GetState(module);
    Py_CLEAR(st->reader_type);
    Py_CLEAR(st->tracker_type);
    Py_CLEAR(st->wrap32_type);
    Py_CLEAR(st->counter_type);
    Py_CLEAR(st->sources_type);
    Py_CLEAR(st->streams_type);
    Py_CLEAR(st->source_count_type);
    Py_CLEAR(st->chain_type);
    Py_CLEAR(st->completer_type);
    Py_CLEAR(st->fields_type);
    Py_CLEAR(st->datagram_type);
    Py_CLEAR(st->histogram_type);
    Py_CLEAR(st->totals_type);
    Py_CLEAR(st->str_next);
    Py_CLEAR(st->str_timestamps);
    Py_CLEAR(st->str_family);
    Py_CLEAR(st->str_counts);
    Py_CLEAR(st->str_max);
    Py_CLEAR(st->str_sum);
    Py_CLEAR(st->str_state);
    for (int k = 0; k < 3; k++) {
        Py_CLEAR(st->str_hidden[k]);
    }
    return 0;
}

static void
core_free_module(void *module)
{
    core_clear((PyObject *)module);
}

static int
core_exec(PyObject *module)
{
    core_state *st = PyModule_GetState(module);
    core_crc32_init(); /* a constant table: the same for every module object */
    if ((st->str_next = PyUnicode_InternFromString("next")) == NULL ||
        (st->str_timestamps = PyUnicode_InternFromString("timestamps")) == NULL ||
        (st->str_family = PyUnicode_InternFromString("family")) == NULL ||
        (st->str_counts = PyUnicode_InternFromString("counts")) == NULL ||
        (st->str_max = PyUnicode_InternFromString("max")) == NULL ||
        (st->str_sum = PyUnicode_InternFromString("sum")) == NULL ||
        (st->str_state = PyUnicode_InternFromString("state")) == NULL ||
        (st->str_hidden[0] = PyUnicode_InternFromString("data")) == NULL ||
        (st->str_hidden[1] = PyUnicode_InternFromString("remote")) == NULL ||
        (st->str_hidden[2] = PyUnicode_InternFromString("timestamp_ns")) == NULL) {
        return -1;
    }
    if (core_add_trackers(module, st) < 0 || core_add_tables(module, st) < 0 || core_add_counter(module, st) < 0 || core_add_chain(module, st) < 0 ||
        core_add_completer(module, st) < 0 ||
        core_add_reader(module, st) < 0) {
        return -1;
    }
    return 0;
}

static PyModuleDef_Slot core_slots[] = {
    {Py_mod_exec, core_exec},
    {0, NULL},
};

static struct PyModuleDef core_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "wskrecv._core",
    .m_doc = "The compiled receive core: recvmmsg batch reader, counting kernel, indication lists.",
    .m_size = sizeof(core_state),
    .m_methods = module_methods,
    .m_slots = core_slots,
    .m_traverse = core_traverse,
    .m_clear = core_clear,
    .m_free = core_free_module,
};

PyMODINIT_FUNC
PyInit__core(void)
{
    return PyModuleDef_Init(&core_module);
}
