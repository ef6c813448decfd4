/*
 * monitor.c - the IPMonitor type: every property of the reference as
 * get_x()/set_x() methods (adapter_x taking adapter_index) and, for the
 * non-indexed ones, as Python properties; the methods activate, config,
 * deactivate, do_events, get_statistics, list_adapters; the event hooks.
 *
 * Each method is a thin call into libipmonitor; a failed call raises
 * IPMonitorError with the library's code and message. Calls that may block
 * (do_events, activate, list_adapters, deactivate) release the GIL. While
 * one of them runs, other Python threads may only call deactivate() and
 * read `active` (the library's threading rule); anything else raises
 * IPMonitorError(IPM_E_BUSY) instead of racing.
 */
#include "ipm_py.h"

#include <limits.h>

#define SELF MonitorObject *self

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

/* Refuse calls from a second thread while a GIL-free call is running. */
static int guard(SELF)
{
    if (self->busy_thread && self->busy_thread != PyThread_get_thread_ident()) {
        ipm_py_raise(IPM_E_BUSY, "this IPMonitor is busy in another thread (in do_events, "
                                 "activate or list_adapters); only deactivate() and "
                                 "`active` may be used from other threads meanwhile");
        return -1;
    }
    return 0;
}

/* Mark a GIL-free call as running; returns the previous mark, which
 * end_busy restores (calls nest when a hook calls back into the monitor). */
static enum ipm_py_op begin_busy(SELF, enum ipm_py_op op)
{
    enum ipm_py_op prev = self->busy_op;
    if (prev == OP_NONE) {
        self->busy_thread = PyThread_get_thread_ident();
        self->busy_op = op;
    }
    return prev;
}

static void end_busy(SELF, enum ipm_py_op prev)
{
    if (prev == OP_NONE) {
        self->busy_thread = 0;
        self->busy_op = OP_NONE;
    }
}

/* An int result of the library: the value, or raise for a negative code. */
static PyObject *int_result(SELF, int v)
{
    return v < 0 ? ipm_py_raise_last(self) : PyLong_FromLong(v);
}

static PyObject *bool_result(SELF, int v)
{
    return v < 0 ? ipm_py_raise_last(self) : PyBool_FromLong(v);
}

static PyObject *str_result(SELF, const char *s)
{
    if (!s)
        return ipm_py_raise_last(self);
    return PyUnicode_DecodeUTF8(s, (Py_ssize_t)strlen(s), "replace");
}

static PyObject *none_result(SELF, int rc)
{
    if (rc < 0)
        return ipm_py_raise_last(self);
    Py_RETURN_NONE;
}

/* An adapter index argument: any int; out-of-range values (including ones
 * too big for C) are left to the library's index check. */
static int index_arg(PyObject *arg, int *out)
{
    int overflow = 0;
    long v = PyLong_AsLongAndOverflow(arg, &overflow);
    if (v == -1 && PyErr_Occurred())
        return -1;
    *out = (overflow || v > INT_MAX || v < INT_MIN) ? INT_MIN : (int)v;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Lifetime                                                            */
/* ------------------------------------------------------------------ */

static PyObject *monitor_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    (void)args;
    (void)kwds;
    MonitorObject *self = (MonitorObject *)type->tp_alloc(type, 0);
    if (!self)
        return NULL;
    self->m = ipm_new();
    if (!self->m) {
        Py_DECREF(self);
        return PyErr_NoMemory();
    }
    ipm_set_on_error(self->m, ipm_py_error_cb, self);
    return (PyObject *)self;
}

static int monitor_init(PyObject *obj, PyObject *args, PyObject *kwds)
{
    MonitorObject *self = (MonitorObject *)obj;
    static char *kwlist[] = {"raise_hook_errors", NULL};
    int raise_hook_errors = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|$p:IPMonitor", kwlist, &raise_hook_errors))
        return -1;
    self->raise_hook_errors = raise_hook_errors;
    return 0;
}

static int monitor_traverse(SELF, visitproc visit, void *arg)
{
    Py_VISIT(self->on_packet);
    Py_VISIT(self->on_statistics);
    Py_VISIT(self->on_error);
    Py_VISIT(self->pending_exc);
    Py_VISIT(self->handler_exc);
    Py_VISIT(self->warned);
    Py_VISIT(self->collect);
    return 0;
}

static int monitor_clear(SELF)
{
    Py_CLEAR(self->on_packet);
    Py_CLEAR(self->on_statistics);
    Py_CLEAR(self->on_error);
    ipm_py_events_clear(self);
    return 0;
}

static void monitor_dealloc(SELF)
{
    PyObject_GC_UnTrack(self);
    if (self->m) {
        /* No Python hook may run on a dying object. */
        ipm_set_on_packet(self->m, NULL, NULL);
        ipm_set_on_statistics(self->m, NULL, NULL);
        ipm_set_on_error(self->m, NULL, NULL);
        Py_BEGIN_ALLOW_THREADS
        ipm_free(self->m);
        Py_END_ALLOW_THREADS
        self->m = NULL;
    }
    monitor_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* ------------------------------------------------------------------ */
/* Plain properties                                                    */
/* ------------------------------------------------------------------ */

static PyObject *m_get_active(SELF, PyObject *unused)
{
    (void)unused;
    return bool_result(self, ipm_get_active(self->m));
}

static PyObject *m_get_adapter_count(SELF, PyObject *unused)
{
    (void)unused;
    if (guard(self))
        return NULL;
    return int_result(self, ipm_get_adapter_count(self->m));
}

static PyObject *m_get_direction(SELF, PyObject *unused)
{
    (void)unused;
    if (guard(self))
        return NULL;
    return int_result(self, ipm_get_direction(self->m));
}

static PyObject *m_get_operation_mode(SELF, PyObject *unused)
{
    (void)unused;
    if (guard(self))
        return NULL;
    return int_result(self, ipm_get_operation_mode(self->m));
}

static PyObject *m_get_filter(SELF, PyObject *unused)
{
    (void)unused;
    if (guard(self))
        return NULL;
    return str_result(self, ipm_get_filter(self->m));
}

static PyObject *m_get_tag(SELF, PyObject *unused)
{
    (void)unused;
    if (guard(self))
        return NULL;
    return PyLong_FromLongLong((long long)ipm_get_tag(self->m));
}

/* An int value argument; values beyond C int become INT_MIN so that the
 * library's range check reports them. */
static int int_arg(PyObject *v, int *out)
{
    if (!PyLong_Check(v) && !PyIndex_Check(v)) {
        PyErr_Format(PyExc_TypeError, "an integer is required, not %.100s", Py_TYPE(v)->tp_name);
        return -1;
    }
    return index_arg(v, out);
}

static PyObject *m_set_direction(SELF, PyObject *v)
{
    int x;
    if (guard(self) || int_arg(v, &x))
        return NULL;
    return none_result(self, ipm_set_direction(self->m, x));
}

static PyObject *m_set_operation_mode(SELF, PyObject *v)
{
    int x;
    if (guard(self) || int_arg(v, &x))
        return NULL;
    return none_result(self, ipm_set_operation_mode(self->m, x));
}

static PyObject *m_set_filter(SELF, PyObject *v)
{
    if (guard(self))
        return NULL;
    const char *expr = NULL;
    if (v != Py_None) {
        if (!PyUnicode_Check(v))
            return PyErr_Format(PyExc_TypeError, "filter must be a str, not %.100s",
                                Py_TYPE(v)->tp_name);
        if (!(expr = PyUnicode_AsUTF8(v)))
            return NULL;
    }
    return none_result(self, ipm_set_filter(self->m, expr));
}

static PyObject *m_set_tag(SELF, PyObject *v)
{
    if (guard(self))
        return NULL;
    long long t = PyLong_AsLongLong(v);
    if (t == -1 && PyErr_Occurred())
        return NULL;
    return none_result(self, ipm_set_tag(self->m, (int64_t)t));
}

/* ------------------------------------------------------------------ */
/* Adapter properties                                                  */
/* ------------------------------------------------------------------ */

/* An adapter index: -1 would mean "the last" to a Python reader, and is
 * IPM_ADAPTER_DEFAULTS to the library, so negative indexes are refused
 * here, as the library refuses other out-of-range ones. */
static int adapter_index_arg(MonitorObject *self, PyObject *arg, int *out)
{
    if (index_arg(arg, out))
        return -1;
    if (*out < 0 && *out != INT_MIN) {
        int n = ipm_get_adapter_count(self->m);
        ipm_py_raise(IPM_E_INDEX_OUT_OF_RANGE, n > 0 ? "adapter index is out of range: negative indexes do "
                                                       "not count from the end; there are as many adapters as "
                                                       "get_adapter_count() says (0 up)"
                                                     : "adapter index is out of range: call list_adapters first");
        return -1;
    }
    return 0;
}

#define ADAPTER_GETTER(name, result)                                       \
    static PyObject *m_get_adapter_##name(SELF, PyObject *arg)             \
    {                                                                      \
        int i;                                                             \
        if (guard(self) || adapter_index_arg(self, arg, &i))               \
            return NULL;                                                   \
        return result(self, ipm_get_adapter_##name(self->m, i));           \
    }

#define ADAPTER_SETTER(name, fmt)                                          \
    static PyObject *m_set_adapter_##name(SELF, PyObject *args, PyObject *kwds) \
    {                                                                      \
        static char *kwlist[] = {"adapter_index", "value", NULL};          \
        PyObject *idx;                                                     \
        int i, v;                                                          \
        if (guard(self)                                                    \
            || !PyArg_ParseTupleAndKeywords(args, kwds, "O" fmt ":set_adapter_" #name, \
                                            kwlist, &idx, &v)              \
            || adapter_index_arg(self, idx, &i))                           \
            return NULL;                                                   \
        return none_result(self, ipm_set_adapter_##name(self->m, i, v));   \
    }

/* Generated from the library's IPM_ADAPTER_PROPERTIES: a getter for each,
 * a setter for each writable one. */
#define ADAPTER_RESULT_INT int_result
#define ADAPTER_RESULT_BOOL bool_result
#define ADAPTER_RESULT_STRING str_result
#define ADAPTER_FORMAT_INT "i"
#define ADAPTER_FORMAT_BOOL "p"
#define ADAPTER_SETTER_RO(name, type)
#define ADAPTER_SETTER_IDLE(name, type) ADAPTER_SETTER(name, ADAPTER_FORMAT_##type)
#define ADAPTER_SETTER_ANY(name, type) ADAPTER_SETTER(name, ADAPTER_FORMAT_##type)
#define ADAPTER_MEMBERS(name, type, access, min, max, def) \
    ADAPTER_GETTER(name, ADAPTER_RESULT_##type)             \
    ADAPTER_SETTER_##access(name, type)
IPM_ADAPTER_PROPERTIES(ADAPTER_MEMBERS)

/* ------------------------------------------------------------------ */
/* Methods                                                             */
/* ------------------------------------------------------------------ */

static PyObject *m_activate(SELF, PyObject *arg)
{
    PyObject *path = NULL;
    if (guard(self) || !PyUnicode_FSConverter(arg, &path))
        return NULL;
    int rc;
    enum ipm_py_op prev = begin_busy(self, OP_ACTIVATE);
    Py_BEGIN_ALLOW_THREADS
    rc = ipm_activate(self->m, PyBytes_AS_STRING(path));
    Py_END_ALLOW_THREADS
    end_busy(self, prev);
    Py_DECREF(path);
    return none_result(self, rc);
}

/* activate_many(adapters): beyond the reference, several adapters at once. */
static PyObject *m_activate_many(SELF, PyObject *arg)
{
    if (guard(self))
        return NULL;
    PyObject *seq = PySequence_Fast(arg, "activate_many() takes a sequence of adapter names");
    if (!seq)
        return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject **paths = PyMem_Calloc(n ? (size_t)n : 1, sizeof *paths);
    const char **names = PyMem_Calloc(n ? (size_t)n : 1, sizeof *names);
    PyObject *result = NULL;
    Py_ssize_t got = 0;
    if (!paths || !names) {
        PyErr_NoMemory();
        goto done;
    }
    for (; got < n; got++) {
        if (!PyUnicode_FSConverter(PySequence_Fast_GET_ITEM(seq, got), &paths[got]))
            goto done;
        names[got] = PyBytes_AS_STRING(paths[got]);
    }
    int rc;
    enum ipm_py_op prev = begin_busy(self, OP_ACTIVATE);
    Py_BEGIN_ALLOW_THREADS
    rc = ipm_activate_many(self->m, names, (int)n);
    Py_END_ALLOW_THREADS
    end_busy(self, prev);
    result = none_result(self, rc);
done:
    for (Py_ssize_t i = 0; paths && i < got; i++)
        Py_XDECREF(paths[i]);
    PyMem_Free(paths);
    PyMem_Free(names);
    Py_DECREF(seq);
    return result;
}

/* activate_matching(patterns=None): beyond the reference, every adapter
 * whose name matches, following the host (adapters that come and go). */
static PyObject *m_activate_matching(SELF, PyObject *arg)
{
    if (guard(self))
        return NULL;
    PyObject *seq = NULL;
    Py_ssize_t n = 0;
    if (arg != Py_None) {
        if (PyUnicode_Check(arg) || PyBytes_Check(arg)) {
            PyErr_SetString(PyExc_TypeError,
                            "activate_matching() takes a sequence of patterns (or None), not one "
                            "string: activate_matching([\"veth*\"])");
            return NULL;
        }
        seq = PySequence_Fast(arg, "activate_matching() takes a sequence of patterns, or None");
        if (!seq)
            return NULL;
        n = PySequence_Fast_GET_SIZE(seq);
    }
    PyObject **encoded = PyMem_Calloc(n ? (size_t)n : 1, sizeof *encoded);
    const char **patterns = PyMem_Calloc(n ? (size_t)n : 1, sizeof *patterns);
    PyObject *result = NULL;
    Py_ssize_t got = 0;
    if (!encoded || !patterns) {
        PyErr_NoMemory();
        goto done;
    }
    for (; got < n; got++) {
        if (!PyUnicode_FSConverter(PySequence_Fast_GET_ITEM(seq, got), &encoded[got]))
            goto done;
        patterns[got] = PyBytes_AS_STRING(encoded[got]);
    }
    int rc;
    enum ipm_py_op prev = begin_busy(self, OP_ACTIVATE);
    Py_BEGIN_ALLOW_THREADS
    rc = ipm_activate_matching(self->m, n ? patterns : NULL, (int)n);
    Py_END_ALLOW_THREADS
    end_busy(self, prev);
    result = none_result(self, rc);
done:
    for (Py_ssize_t i = 0; encoded && i < got; i++)
        Py_XDECREF(encoded[i]);
    PyMem_Free(encoded);
    PyMem_Free(patterns);
    Py_XDECREF(seq);
    return result;
}

static PyObject *m_config(SELF, PyObject *arg)
{
    if (guard(self))
        return NULL;
    if (!PyUnicode_Check(arg))
        return PyErr_Format(PyExc_TypeError, "config() takes a str, not %.100s",
                           Py_TYPE(arg)->tp_name);
    const char *s = PyUnicode_AsUTF8(arg);
    if (!s)
        return NULL;
    return str_result(self, ipm_config(self->m, s));
}

static PyObject *m_deactivate(SELF, PyObject *unused)
{
    (void)unused;
    if (self->busy_thread && self->busy_thread != PyThread_get_thread_ident()
        && self->busy_op != OP_DO_EVENTS) {
        guard(self); /* raises IPM_E_BUSY */
        return NULL;
    }
    int rc;
    /* The GIL goes: deactivate waits for a do_events in another thread,
     * whose handlers may need it. */
    Py_BEGIN_ALLOW_THREADS
    rc = ipm_deactivate(self->m);
    Py_END_ALLOW_THREADS
    return none_result(self, rc);
}

/* Raise what a handler raised that must leave do_events (KeyboardInterrupt). */
static PyObject *raise_pending(SELF)
{
    PyObject *e = self->pending_exc;
    self->pending_exc = NULL;
    PyErr_SetObject((PyObject *)Py_TYPE(e), e);
    Py_DECREF(e);
    return NULL;
}

static PyObject *m_break_events(SELF, PyObject *unused)
{
    (void)unused;
    return none_result(self, ipm_break_events(self->m));
}

/* do_events and do_events_timeout: the library call with the GIL released
 * (handlers take it back), then what a handler left to raise. */
static PyObject *run_do_events(SELF, int timeout_ms)
{
    if (guard(self))
        return NULL;
    int rc;
    if (self->busy_thread) {
        /* Called again from inside a handler: the GIL is ours already. */
        rc = ipm_do_events_timeout(self->m, timeout_ms);
    } else {
        Py_CLEAR(self->handler_exc);
        Py_CLEAR(self->handler_text);
        self->reported_this_call = 0;
        begin_busy(self, OP_DO_EVENTS);
        self->saved_ts = PyEval_SaveThread();
        rc = ipm_do_events_timeout(self->m, timeout_ms);
        ipm_py_after_dispatch(self);
        end_busy(self, OP_NONE);
    }
    if (self->pending_exc)
        return raise_pending(self);
    /* A failed handler was reported through on_error already. */
    if (rc < 0 && rc != IPM_E_HANDLER)
        return ipm_py_raise(rc, ipm_last_error(self->m));
    if (PyErr_CheckSignals() < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *m_do_events(SELF, PyObject *unused)
{
    (void)unused;
    return run_do_events(self, -1);
}

/* do_events_timeout(timeout_ms, max_packets=0): also ends the batch after
 * max_packets packet events (the rest stay for the next call), so that a
 * consumer takes bounded portions without a check in Python per packet. */
static PyObject *m_do_events_timeout(SELF, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"timeout_ms", "max_packets", NULL};
    long ms, max_packets = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "l|l:do_events_timeout", kwlist, &ms,
                                     &max_packets))
        return NULL;
    if (max_packets < 0)
        return ipm_py_raise(IPM_E_INVALID_ARGUMENT, "max_packets must be >= 0 (0: no limit)");
    long saved_after = self->break_after, saved_delivered = self->delivered;
    self->break_after = max_packets;
    self->delivered = 0;
    PyObject *r = run_do_events(self, ms > INT_MAX ? INT_MAX : ms < -1 ? -1 : (int)ms);
    self->break_after = saved_after; /* a nested call from a hook leaves the outer one's */
    self->delivered = saved_delivered;
    return r;
}

/* fileno() and get_timeout(): the library's event-loop pair (ipm_get_fd,
 * ipm_get_timeout), for selectors and asyncio's add_reader. */
static PyObject *m_fileno(SELF, PyObject *unused)
{
    (void)unused;
    if (guard(self))
        return NULL;
    int fd = ipm_get_fd(self->m);
    return fd < 0 ? ipm_py_raise_last(self) : PyLong_FromLong(fd);
}

static PyObject *m_get_timeout(SELF, PyObject *unused)
{
    (void)unused;
    if (guard(self))
        return NULL;
    int ms = ipm_get_timeout(self->m);
    if (ms == IPM_E_NOT_ACTIVE)
        Py_RETURN_NONE;
    return ms < 0 ? ipm_py_raise_last(self) : PyLong_FromLong(ms);
}

/* Store v into a list's first element (the reference's by-reference style). */
static int store_out(PyObject *out, int64_t v)
{
    if (out == Py_None)
        return 0;
    if (!PyList_Check(out)) {
        PyErr_Format(PyExc_TypeError, "get_statistics() takes lists to fill, not %.100s",
                     Py_TYPE(out)->tp_name);
        return -1;
    }
    PyObject *n = PyLong_FromLongLong((long long)v);
    if (!n)
        return -1;
    int rc;
    if (PyList_GET_SIZE(out)) {
        rc = PyList_SetItem(out, 0, n); /* steals n */
    } else {
        rc = PyList_Append(out, n);
        Py_DECREF(n);
    }
    return rc;
}

static PyObject *m_get_statistics(SELF, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"received", "dropped", "adapter_dropped", NULL};
    PyObject *r = Py_None, *d = Py_None, *a = Py_None;
    if (guard(self)
        || !PyArg_ParseTupleAndKeywords(args, kwds, "|OOO:get_statistics", kwlist, &r, &d, &a))
        return NULL;
    int64_t received = 0, dropped = 0, adapter_dropped = 0;
    if (ipm_get_statistics(self->m, &received, &dropped, &adapter_dropped) < 0)
        return ipm_py_raise_last(self);
    if (store_out(r, received) < 0 || store_out(d, dropped) < 0 || store_out(a, adapter_dropped) < 0)
        return NULL;
    return Py_BuildValue("(LLL)", (long long)received, (long long)dropped,
                         (long long)adapter_dropped);
}

static PyObject *m_list_adapters(SELF, PyObject *unused)
{
    (void)unused;
    if (guard(self))
        return NULL;
    int rc;
    enum ipm_py_op prev = begin_busy(self, OP_LIST_ADAPTERS);
    Py_BEGIN_ALLOW_THREADS
    rc = ipm_list_adapters(self->m);
    Py_END_ALLOW_THREADS
    end_busy(self, prev);
    return none_result(self, rc);
}

static PyObject *m_find_adapter(SELF, PyObject *arg)
{
    if (guard(self))
        return NULL;
    if (!PyUnicode_Check(arg))
        return PyErr_Format(PyExc_TypeError, "find_adapter() takes a str, not %.100s",
                            Py_TYPE(arg)->tp_name);
    const char *s = PyUnicode_AsUTF8(arg);
    return s ? int_result(self, ipm_find_adapter(self->m, s)) : NULL;
}

static PyObject *m_get_link_type(SELF, PyObject *unused)
{
    (void)unused;
    if (guard(self))
        return NULL;
    return int_result(self, ipm_get_link_type(self->m));
}

static PyObject *m_get_snapshot_length(SELF, PyObject *unused)
{
    (void)unused;
    if (guard(self))
        return NULL;
    return int_result(self, ipm_get_snapshot_length(self->m));
}

/* ------------------------------------------------------------------ */
/* Event hooks                                                         */
/* ------------------------------------------------------------------ */

static PyObject *hook_get(PyObject *hook)
{
    PyObject *h = hook ? hook : Py_None;
    Py_INCREF(h);
    return h;
}

/* Store a hook (None or NULL clears it); returns 1 if set, 0 if cleared. */
static int hook_set(SELF, PyObject **slot, PyObject *v, const char *name)
{
    if (guard(self))
        return -1;
    if (v && v != Py_None && !PyCallable_Check(v)) {
        PyErr_Format(PyExc_TypeError, "%s must be callable or None, not %.100s", name,
                     Py_TYPE(v)->tp_name);
        return -1;
    }
    PyObject *nv = (v && v != Py_None) ? v : NULL;
    Py_XINCREF(nv);
    Py_XSETREF(*slot, nv);
    return nv != NULL;
}

static PyObject *p_get_on_packet(SELF, void *c)
{
    (void)c;
    return hook_get(self->on_packet);
}

static int p_set_on_packet(SELF, PyObject *v, void *c)
{
    (void)c;
    int set = hook_set(self, &self->on_packet, v, "on_packet");
    if (set < 0)
        return -1;
    /* Unregistered when None, so a capture without a hook never takes the GIL. */
    ipm_set_on_packet(self->m, set || self->collect ? ipm_py_packet_cb : NULL, self);
    return 0;
}

/* _collect(list | None), private to packets()/apackets(): while a list is
 * set, every packet event is appended to it as an owned packet object, in
 * C, and on_packet is not called; None ends that. */
static PyObject *m_collect(SELF, PyObject *arg)
{
    if (guard(self))
        return NULL;
    if (arg != Py_None && !PyList_CheckExact(arg)) {
        PyErr_Format(PyExc_TypeError, "_collect() takes a list or None, not %.100s", Py_TYPE(arg)->tp_name);
        return NULL;
    }
    Py_XSETREF(self->collect, arg == Py_None ? NULL : Py_NewRef(arg));
    ipm_set_on_packet(self->m, self->collect || self->on_packet ? ipm_py_packet_cb : NULL, self);
    Py_RETURN_NONE;
}

static PyObject *p_get_on_statistics(SELF, void *c)
{
    (void)c;
    return hook_get(self->on_statistics);
}

static int p_set_on_statistics(SELF, PyObject *v, void *c)
{
    (void)c;
    int set = hook_set(self, &self->on_statistics, v, "on_statistics");
    if (set < 0)
        return -1;
    ipm_set_on_statistics(self->m, set ? ipm_py_statistics_cb : NULL, self);
    return 0;
}

static PyObject *p_get_on_error(SELF, void *c)
{
    (void)c;
    return hook_get(self->on_error);
}

static int p_set_on_error(SELF, PyObject *v, void *c)
{
    (void)c;
    /* The C error callback stays registered: it also clears what a failed
     * hook left when no Python on_error is set. */
    return hook_set(self, &self->on_error, v, "on_error") < 0 ? -1 : 0;
}

/* ------------------------------------------------------------------ */
/* Python properties over the get_/set_ methods                        */
/* ------------------------------------------------------------------ */

#define PROP_GET(name)                                      \
    static PyObject *p_get_##name(SELF, void *c)            \
    {                                                       \
        (void)c;                                            \
        return m_get_##name(self, NULL);                    \
    }
#define PROP_SET(name)                                      \
    static int p_set_##name(SELF, PyObject *v, void *c)     \
    {                                                       \
        (void)c;                                            \
        if (!v) {                                           \
            PyErr_SetString(PyExc_AttributeError, "cannot delete " #name); \
            return -1;                                      \
        }                                                   \
        PyObject *r = m_set_##name(self, v);                \
        Py_XDECREF(r);                                      \
        return r ? 0 : -1;                                  \
    }

PROP_GET(active)
PROP_GET(adapter_count)
PROP_GET(direction)
PROP_SET(direction)
PROP_GET(filter)
PROP_SET(filter)
PROP_GET(operation_mode)
PROP_SET(operation_mode)
PROP_GET(tag)
PROP_SET(tag)

static PyGetSetDef monitor_getset[] = {
    {"active", (getter)p_get_active, NULL, "Whether the class is monitoring (read-only).", NULL},
    {"adapter_count", (getter)p_get_adapter_count, NULL,
     "The number of adapters found by list_adapters (read-only).", NULL},
    {"direction", (getter)p_get_direction, (setter)p_set_direction,
     "Which packets to capture: PACKET_DIRECTION_ANY (0), _INCOMING (1), _OUTGOING (2).", NULL},
    {"filter", (getter)p_get_filter, (setter)p_set_filter,
     "A pcap-filter(7) expression; \"\" captures everything.", NULL},
    {"operation_mode", (getter)p_get_operation_mode, (setter)p_set_operation_mode,
     "PCAP_MODE_CAPT (0): on_packet per packet; PCAP_MODE_STAT (1): on_statistics.", NULL},
    {"tag", (getter)p_get_tag, (setter)p_set_tag, "Application data (int).", NULL},
    {"on_packet", (getter)p_get_on_packet, (setter)p_set_on_packet,
     "Hook called with IPMonitorPacketEventParams for each captured packet.", NULL},
    {"on_statistics", (getter)p_get_on_statistics, (setter)p_set_on_statistics,
     "Hook called with IPMonitorStatisticsEventParams in statistics mode.", NULL},
    {"on_error", (getter)p_get_on_error, (setter)p_set_on_error,
     "Hook called with IPMonitorErrorEventParams when an error occurs during an event.", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

/* Every method takes its arguments by position or by the reference's
 * parameter names (set_tag(value=5), get_adapter_name(adapter_index=0)), and
 * says its signature to inspect.signature() and IDEs (the "name($self,
 * ...)\n--\n\n" head of the doc is __text_signature__). The one-argument
 * methods are written as METH_O functions (the properties call them too);
 * KW1 wraps each in a function that also takes the keyword. */
#define KW1(name, arg)                                                        \
    static PyObject *k_##name(SELF, PyObject *args, PyObject *kwds)           \
    {                                                                         \
        static char *kwlist[] = {arg, NULL};                                  \
        PyObject *a;                                                          \
        if (!PyArg_ParseTupleAndKeywords(args, kwds, "O:" #name, kwlist, &a)) \
            return NULL;                                                      \
        return m_##name(self, a);                                             \
    }
#define ADAPTER_KW_GETTER(name, type, access, min, max, def) KW1(get_adapter_##name, "adapter_index")
IPM_ADAPTER_PROPERTIES(ADAPTER_KW_GETTER)
KW1(set_direction, "value")
KW1(set_filter, "value")
KW1(set_operation_mode, "value")
KW1(set_tag, "value")
KW1(activate, "adapter")
KW1(activate_many, "adapters")
/* activate_matching(patterns=None): the one optional argument. */
static PyObject *k_activate_matching(SELF, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"patterns", NULL};
    PyObject *a = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|O:activate_matching", kwlist, &a))
        return NULL;
    return m_activate_matching(self, a);
}
KW1(config, "configuration_string")
KW1(find_adapter, "name")

#define SIG(name, params) #name "($self" params ")\n--\n\n"
#define M0(name, doc) {#name, (PyCFunction)m_##name, METH_NOARGS, SIG(name, ", /") doc}
#define M1(name, arg, doc)                                                              \
    {#name, (PyCFunction)(void (*)(void))k_##name, METH_VARARGS | METH_KEYWORDS,        \
     SIG(name, ", " arg) doc}

static PyMethodDef monitor_methods[] = {
    M0(get_active, "-> bool: whether the class is monitoring."),
    M0(get_adapter_count, "-> int: the number of adapters list_adapters found."),
#define ADAPTER_TYPE_DOC_INT "int"
#define ADAPTER_TYPE_DOC_BOOL "bool"
#define ADAPTER_TYPE_DOC_STRING "str"
#define ADAPTER_METHOD_RO(name, type)
#define ADAPTER_METHOD_SET(name, type, note)                                                 \
    {"set_adapter_" #name, (PyCFunction)(void (*)(void))m_set_adapter_##name,               \
     METH_VARARGS | METH_KEYWORDS,                                                          \
     SIG(set_adapter_##name, ", adapter_index, value") "Set adapter_" #name " of the "      \
     "adapter at adapter_index" note "."},
#define ADAPTER_METHOD_IDLE(name, type) ADAPTER_METHOD_SET(name, type, " (only while inactive)")
#define ADAPTER_METHOD_ANY(name, type) ADAPTER_METHOD_SET(name, type, "")
#define ADAPTER_METHODS(name, type, access, min, max, def)                                    \
    M1(get_adapter_##name, "adapter_index", "-> " ADAPTER_TYPE_DOC_##type ": adapter_" #name    \
       " of the adapter at adapter_index."),                                                  \
    ADAPTER_METHOD_##access(name, type)
    IPM_ADAPTER_PROPERTIES(ADAPTER_METHODS)
    M0(get_direction, "-> int"),
    M1(set_direction, "value", "Set direction: PACKET_DIRECTION_ANY, _INCOMING or _OUTGOING."),
    M0(get_filter, "-> str"),
    M1(set_filter, "value", "Set the pcap-filter(7) expression (\"\" for everything)."),
    M0(get_operation_mode, "-> int"),
    M1(set_operation_mode, "value", "PCAP_MODE_CAPT (0) or PCAP_MODE_STAT (1); while inactive."),
    M0(get_tag, "-> int"),
    M1(set_tag, "value", "Set the application's tag (int)."),
    M1(activate, "adapter", "Start monitoring an adapter name or a pcap/pcapng file."),
    M1(activate_many, "adapters", "Monitor several adapters (beyond the reference)."),
    {"activate_matching", (PyCFunction)(void (*)(void))k_activate_matching,
     METH_VARARGS | METH_KEYWORDS, SIG(activate_matching, ", patterns=None")
     "Monitor every adapter whose name matches one of the fnmatch patterns (\"veth*\"; "
     "\"!docker*\" leaves names out; None: every adapter), and follow the host: adapters "
     "that appear are added (on_error IPM_E_ADAPTER_ADDED), ones that disappear removed "
     "(IPM_E_ADAPTER_GONE), one made again comes back in its index (IPM_E_ADAPTER_BACK) "
     "(beyond the reference)."},
    M1(config, "configuration_string", "-> str: set NAME=VALUE (returns \"\") or query NAME."),
    M0(deactivate, "Stop monitoring (also from another thread or a hook)."),
    M0(break_events, "From a hook, end the running do_events after this event; the monitor "
                     "stays active and the next do_events goes on from there."),
    M0(do_events, "Wait for traffic, then fire the events (the GIL is released while waiting)."),
    {"do_events_timeout", (PyCFunction)(void (*)(void))m_do_events_timeout,
     METH_VARARGS | METH_KEYWORDS,
     SIG(do_events_timeout, ", timeout_ms, max_packets=0")
     "do_events waiting at most timeout_ms (0: handle what is there; < 0: the packet "
     "timeout), and handing over at most max_packets packets (0: all; the rest come with "
     "the next call)."},
    {"_collect", (PyCFunction)m_collect, METH_O, "packets()' and apackets()' portions (private)."},
    M0(fileno, "-> int: an fd that is readable when do_events has packets (for selectors, "
               "asyncio add_reader); the same for the monitor's life on Linux."),
    M0(get_timeout, "-> int | None: ms to wait on fileno() before calling do_events_timeout(0) "
                    "anyway (0: now); None when inactive."),
    {"get_statistics", (PyCFunction)(void (*)(void))m_get_statistics, METH_VARARGS | METH_KEYWORDS,
     SIG(get_statistics, ", received=None, dropped=None, adapter_dropped=None")
     "Fills element [0] of each list given; also returns (received, dropped, adapter_dropped)."},
    M0(list_adapters, "Read the adapters available for monitoring."),
    M1(find_adapter, "name", "-> int: the index of an adapter (beyond the reference)."),
    M0(get_link_type, "-> int: DLT_* of the first monitored adapter."),
    M0(get_snapshot_length, "-> int: snapshot length of the first monitored adapter or file."),
    {NULL, NULL, 0, NULL}};

PyTypeObject MonitorType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "ipmonitor._IPMonitorBase",
    .tp_basicsize = sizeof(MonitorObject),
    .tp_dealloc = (destructor)monitor_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "_IPMonitorBase(*, raise_hook_errors=False)\n--\n\n"
              "Monitor network packets through libpcap (see the reference).",
    .tp_traverse = (traverseproc)monitor_traverse,
    .tp_clear = (inquiry)monitor_clear,
    .tp_methods = monitor_methods,
    .tp_getset = monitor_getset,
    .tp_init = monitor_init,
    .tp_new = monitor_new,
};
