/* wskrecv._sigexit: the second stop signal exits the process, whatever the main thread
 * is doing (wskrecv/signals.py).
 *
 * Python runs its signal handlers in the main thread, between bytecodes: a main thread
 * stuck in C code that holds the GIL (a client's callback computing sum(range(10**12)))
 * runs none, and no Python thread gets the GIL to act for it. The C-level handler still
 * writes each signal's number to the wake-up descriptor (signal.set_wakeup_fd). `watch`
 * starts a thread of plain C, holding no GIL, that reads those numbers and applies the
 * rule of signals.StopSignals: the first stop request is left to Python; the same signal
 * again within `window` seconds is that request delivered again (a process group's);
 * any other request exits at once, with 128 + its number. A 0 byte ends the thread.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

struct watch {
    int fd;
    double window;
    int first;       /* the first stop request's signal, 0: none yet */
    double first_at; /* when it came (CLOCK_MONOTONIC seconds) */
};

static double monotonic(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int is_stop(int s)
{
    return s == SIGINT || s == SIGTERM || s == SIGHUP;
}

static void *watcher(void *arg)
{
    struct watch w = *(struct watch *)arg;
    unsigned char buf[64];
    free(arg);
    for (;;) {
        ssize_t n = read(w.fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        for (ssize_t i = 0; i < n; i++) {
            int s = buf[i];
            if (s == 0) {
                close(w.fd);  /* the read end is the thread's: Python leaves it */
                return NULL;
            }
            if (!is_stop(s))
                continue;
            double now = monotonic();
            if (w.first == 0) {
                w.first = s;
                w.first_at = now;
            } else if (!(s == w.first && now - w.first_at < w.window)) {
                _exit(128 + s);
            }
        }
    }
    close(w.fd);
    return NULL;
}

PyDoc_STRVAR(watch_doc,
"watch(fd, window, first=0, first_age=0.0)\n--\n\n"
"Start a C thread reading signal numbers from descriptor `fd` (the read end of the\n"
"wake-up pipe): a stop request after the first exits the process with 128 + its number;\n"
"the same signal within `window` seconds of the first is the first. `first` is a request\n"
"already taken (its signal), `first_age` seconds ago. A 0 byte on `fd` ends the thread,\n"
"which closes `fd`: it is the thread's from then on.");

static PyObject *watch(PyObject *module, PyObject *args)
{
    int fd, first = 0;
    double window, first_age = 0.0;
    if (!PyArg_ParseTuple(args, "id|id", &fd, &window, &first, &first_age))
        return NULL;
    if (fd < 0 || window < 0 || first < 0 || first > 255) {
        PyErr_SetString(PyExc_ValueError, "watch: fd, window and first must be >= 0 (first < 256)");
        return NULL;
    }
    struct watch *w = malloc(sizeof *w);
    if (w == NULL)
        return PyErr_NoMemory();
    w->fd = fd;
    w->window = window;
    w->first = first;
    w->first_at = monotonic() - first_age;
    pthread_attr_t attr;
    pthread_t thread;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    /* The thread must take no signal itself: they belong to Python's handlers. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int err = pthread_create(&thread, &attr, watcher, w);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (err != 0) {
        free(w);
        errno = err;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"watch", watch, METH_VARARGS, watch_doc},
    {NULL, NULL, 0, NULL},
};

static PyModuleDef_Slot slots[] = {
    {0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "wskrecv._sigexit",
    "The second stop signal exits the process, from a C thread (see signals.py).",
    0, methods, slots, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__sigexit(void)
{
    return PyModuleDef_Init(&module);
}
