/*
 * _ipm_bench.c - the Python benchmark's own extension module, `_ipm_bench`:
 * the "C library alone" rows of bench_python.py, measured in the same
 * process as the Python rows so that both see the same (shared) machine.
 *
 * Built by bench/python/CMakeLists.txt into build/bench/python/, linked to
 * the static library; never part of the installed Python package.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <time.h>

#include "ipmonitor.h"

typedef struct {
    int64_t packets, bytes;
} native_counts;

/* Capture mode: count the packet; the library's cheapest possible handler. */
static int native_packet(const ipm_packet_event *ev, void *user)
{
    native_counts *c = user;
    c->packets++;
    c->bytes += ev->packet_size;
    return 0;
}

/* Statistics mode: add up the interval's counts. */
static int native_stats(const ipm_statistics_event *ev, void *user)
{
    native_counts *c = user;
    c->packets += ev->captured_packets;
    c->bytes += ev->captured_bytes;
    return 0;
}

/* native_run(path, mode) -> (packets, bytes, seconds): libipmonitor alone,
 * with the C handlers above, over the capture file `path` in operation
 * mode `mode` (0 capture, 1 statistics), until the file ends; the GIL is
 * released meanwhile. A library error raises RuntimeError with its message. */
static PyObject *native_run(PyObject *mod, PyObject *args)
{
    (void)mod;
    const char *path;
    int mode;
    if (!PyArg_ParseTuple(args, "si:native_run", &path, &mode))
        return NULL;
    ipm_monitor *m = ipm_new();
    if (!m)
        return PyErr_NoMemory();
    native_counts c = {0, 0};
    struct timespec t0, t1;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    ipm_set_on_packet(m, native_packet, &c);
    ipm_set_on_statistics(m, native_stats, &c);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    rc = ipm_set_operation_mode(m, mode);
    if (rc == 0)
        rc = ipm_activate(m, path);
    while (rc == 0 && ipm_get_active(m))
        rc = ipm_do_events(m);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    Py_END_ALLOW_THREADS
    if (rc != 0) {
        PyErr_Format(PyExc_RuntimeError, "%s (%s)", ipm_last_error(m), ipm_strerror(rc));
        ipm_free(m);
        return NULL;
    }
    ipm_free(m);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    return Py_BuildValue("(LLd)", (long long)c.packets, (long long)c.bytes, secs);
}

static PyMethodDef methods[] = {
    {"native_run", native_run, METH_VARARGS,
     "native_run(path, mode) -> (packets, bytes, seconds): the C library alone over a file."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_ipm_bench",
    "The Python benchmark's helpers (bench/python/); not part of the ipmonitor package.",
    -1, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__ipm_bench(void)
{
    return PyModule_Create(&module_def);
}
