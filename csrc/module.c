/* wskrecv._core: the compiled receive core (a batch reader and a counting kernel).
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

static PyObject *datagram_type = NULL;

/* wskrecv.wsk.datagram.Datagram, imported on first use (importing this module stays cheap:
 * `wskrecv --version` does it). A borrowed reference. */
PyObject *
core_datagram_type(void)
{
    if (datagram_type == NULL) {
        PyObject *module = PyImport_ImportModule("wskrecv.wsk.datagram");
        if (module == NULL) {
            return NULL;
        }
        datagram_type = PyObject_GetAttrString(module, "Datagram");
        Py_DECREF(module);
    }
    return datagram_type;
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
core_to_i128(PyObject *obj, i128 *out)
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
    if (overflow) {
        PyErr_SetString(PyExc_OverflowError, "integer out of the 128-bit range");
        return -1;
    }
    *out = ((i128)hi << 64) | (i128)lo;
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

static struct PyModuleDef core_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "wskrecv._core",
    .m_doc = "The compiled receive core: recvmmsg batch reader and counting kernel.",
    .m_size = -1,
    .m_methods = module_methods,
};

static int
add_type(PyObject *m, PyTypeObject *type, const char *name)
{
    if (PyType_Ready(type) < 0) {
        return -1;
    }
    Py_INCREF(type);
    if (PyModule_AddObject(m, name, (PyObject *)type) < 0) {
        Py_DECREF(type);
        return -1;
    }
    return 0;
}

PyMODINIT_FUNC
PyInit__core(void)
{
    core_crc32_init();
    PyObject *m = PyModule_Create(&core_module);
    if (m == NULL) {
        return NULL;
    }
    Wrap32Tracker_Type.tp_base = &Tracker_Type;
    if (add_type(m, &Tracker_Type, "StreamTracker") < 0 || add_type(m, &Wrap32Tracker_Type, "Wrap32Tracker") < 0 ||
        add_type(m, &Counter_Type, "Counter") < 0 || add_type(m, &ChainMaker_Type, "ChainMaker") < 0
#ifdef __linux__
        || add_type(m, &Reader_Type, "MmsgReader") < 0
#endif
    ) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
