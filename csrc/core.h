/* Shared declarations of the wskrecv._core extension (see module.c). */
#ifndef WSKRECV_CORE_H
#define WSKRECV_CORE_H

#include <Python.h>
#include <stdint.h>

/* Signed 128-bit integers hold sequences (u64, unwrapped u32) and their differences,
 * transit times (arrival - u64 send time) and their differences exactly, as Python's
 * ints do in the twin. */
typedef __int128 i128;

#if PY_VERSION_HEX < 0x030A0000
static inline PyObject *
Py_NewRef(PyObject *obj)
{
    Py_INCREF(obj);
    return obj;
}
#endif
#if PY_VERSION_HEX < 0x03090000
#define PyObject_CallNoArgs(f) PyObject_CallObject((f), NULL)
#endif

extern PyTypeObject Reader_Type;
extern PyTypeObject Tracker_Type;
extern PyTypeObject Wrap32Tracker_Type;
extern PyTypeObject Counter_Type;
extern PyTypeObject ChainMaker_Type;

/* The Datagram record type (wskrecv.wsk.datagram.Datagram); NULL with an exception set
 * when it cannot be imported. */
PyObject *core_datagram_type(void);

uint32_t core_crc32(const unsigned char *p, size_t n);
void core_crc32_init(void);

PyObject *core_from_i128(i128 v);
/* wskrecv._core.scan_capture (capture.c): the twin of wskrecv/capture/scan.py's scan. */
PyObject *core_scan_capture(PyObject *module, PyObject *const *args, Py_ssize_t nargs);
int core_to_i128(PyObject *obj, i128 *out);

#endif
