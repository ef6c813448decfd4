/*
 * module.c - the _ipmonitor module: init, the IPMonitorError exception,
 * module constants. (The benchmark's helpers are a separate module,
 * bench/python/_ipm_bench.c, that is never installed.)
 *
 * The Python-facing package (ipmonitor/__init__.py) re-exports all of this
 * and adds the Constants class; pcapfilter re-exports the package.
 */
#include "ipm_py.h"

#include <limits.h>

PyObject *ipm_py_error_type;
PyObject *ipm_py_hook_warning;

/* The subclasses of IPMonitorError that are also Python's standard
 * exceptions, so that `except IndexError` or `except PermissionError`
 * catches what a Python programmer expects; each library code maps to one
 * (error_class_of), or to IPMonitorError itself. */
typedef struct error_class {
    const char *name; /* in the ipmonitor package */
    PyObject **standard;
    const char *doc;
    PyObject *type; /* made at import */
} error_class;

static error_class error_classes[] = {
    {"IPMonitorIndexError", &PyExc_IndexError,
     "An adapter index out of range (IPM_E_INDEX_OUT_OF_RANGE).", NULL},
    {"IPMonitorValueError", &PyExc_ValueError,
     "A bad value: an argument out of its range, a filter expression that does not\n"
     "compile, an unknown config setting or value (IPM_E_INVALID_ARGUMENT,\n"
     "IPM_E_BAD_FILTER, IPM_E_CONFIG).", NULL},
    {"IPMonitorPermissionError", &PyExc_PermissionError,
     "Missing privileges to capture (IPM_E_PERMISSION); the message says what to grant.",
     NULL},
    {"IPMonitorFileNotFoundError", &PyExc_FileNotFoundError,
     "No adapter and no capture file by that name (IPM_E_ADAPTER_NOT_FOUND).", NULL},
    {"IPMonitorOSError", &PyExc_OSError,
     "Capturing or reading failed: libpcap, the adapter (gone) or the file\n"
     "(IPM_E_CAPTURE, IPM_E_ADAPTER_GONE, IPM_E_FILE).", NULL},
    {"IPMonitorMemoryError", &PyExc_MemoryError, "Out of memory (IPM_E_NO_MEMORY).", NULL},
    {"IPMonitorStateError", &PyExc_RuntimeError,
     "Not allowed in the monitor's state: while active, while inactive, from inside an\n"
     "event hook or from another thread meanwhile (IPM_E_ACTIVE, IPM_E_NOT_ACTIVE,\n"
     "IPM_E_BUSY).", NULL},
    {"IPMonitorNotSupportedError", &PyExc_NotImplementedError,
     "Not supported by this adapter or platform (IPM_E_UNSUPPORTED).", NULL},
};

static PyObject *error_class_of(int code)
{
    int i;
    switch (code) {
    case IPM_E_INDEX_OUT_OF_RANGE: i = 0; break;
    case IPM_E_INVALID_ARGUMENT:
    case IPM_E_BAD_FILTER:
    case IPM_E_CONFIG: i = 1; break;
    case IPM_E_PERMISSION: i = 2; break;
    case IPM_E_ADAPTER_NOT_FOUND: i = 3; break;
    case IPM_E_CAPTURE:
    case IPM_E_ADAPTER_GONE:
    case IPM_E_FILE: i = 4; break;
    case IPM_E_NO_MEMORY: i = 5; break;
    case IPM_E_ACTIVE:
    case IPM_E_NOT_ACTIVE:
    case IPM_E_BUSY: i = 6; break;
    case IPM_E_UNSUPPORTED: i = 7; break;
    default: return ipm_py_error_type; /* IPM_E_HANDLER, unknown codes */
    }
    return error_classes[i].type;
}

/* Raise the IPMonitorError subclass of `code` with str(e) = the message,
 * .code the library's code and .description (also .message) the message. */
PyObject *ipm_py_raise(int code, const char *message)
{
    if (!message || !*message)
        message = ipm_strerror(code);
    PyObject *text = PyUnicode_DecodeUTF8(message, (Py_ssize_t)strlen(message), "replace");
    if (!text)
        return NULL;
    PyObject *type = error_class_of(code);
    PyObject *exc = PyObject_CallOneArg(type, text);
    if (exc) {
        PyObject *c = PyLong_FromLong(code);
        if (c && PyObject_SetAttrString(exc, "code", c) == 0
            && PyObject_SetAttrString(exc, "message", text) == 0
            && PyObject_SetAttrString(exc, "description", text) == 0)
            PyErr_SetObject(type, exc);
        Py_XDECREF(c);
        Py_DECREF(exc);
    }
    Py_DECREF(text);
    return NULL;
}

/* Raise the monitor's last error (after a failed library call). */
PyObject *ipm_py_raise_last(MonitorObject *self)
{
    int code = ipm_last_error_code(self->m);
    return ipm_py_raise(code ? code : IPM_E_INVALID_ARGUMENT, ipm_last_error(self->m));
}

/* strerror(code) -> str: ipm_strerror, for codes without a monitor. */
static PyObject *strerror_py(PyObject *mod, PyObject *arg)
{
    (void)mod;
    long v = PyLong_AsLong(arg);
    if (v == -1 && PyErr_Occurred())
        return NULL;
    return PyUnicode_FromString(ipm_strerror((int)v));
}

static PyObject *error_name_py(PyObject *mod, PyObject *arg)
{
    (void)mod;
    long v = PyLong_AsLong(arg);
    if (v == -1 && PyErr_Occurred())
        return NULL;
    const char *name = v >= INT_MIN && v <= INT_MAX ? ipm_error_name((int)v) : NULL;
    if (!name)
        Py_RETURN_NONE;
    return PyUnicode_FromString(name);
}

static PyMethodDef module_methods[] = {
    {"strerror", strerror_py, METH_O, "The library's generic message for an error code."},
    {"error_name", error_name_py, METH_O,
     "The name of an error code without the IPM_ prefix (\"E_BAD_FILTER\"), or None."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_ipmonitor",
    "The IPMonitor class of the PCAP Filter reference over libipmonitor (C extension).",
    -1, module_methods, NULL, NULL, NULL, NULL};

static const struct { const char *name; long value; } constants[] = {
    {"PACKET_DIRECTION_ANY", IPM_PACKET_DIRECTION_ANY},
    {"PACKET_DIRECTION_INCOMING", IPM_PACKET_DIRECTION_INCOMING},
    {"PACKET_DIRECTION_OUTGOING", IPM_PACKET_DIRECTION_OUTGOING},
    {"PACKET_DIRECTION_UNKNOWN", IPM_PACKET_DIRECTION_UNKNOWN},
    {"PCAP_MODE_CAPT", IPM_OM_CAPTURE},
    {"PCAP_MODE_STAT", IPM_OM_STAT},
    {"IFTYPE_OTHER", IPM_IFTYPE_OTHER},
    {"IFTYPE_ETHERNET_CSMACD", IPM_IFTYPE_ETHERNET_CSMACD},
    {"IFTYPE_PPP", IPM_IFTYPE_PPP},
    {"IFTYPE_SOFTWARE_LOOPBACK", IPM_IFTYPE_SOFTWARE_LOOPBACK},
    {"IFTYPE_IEEE80211", IPM_IFTYPE_IEEE80211},
    {"IFTYPE_TUNNEL", IPM_IFTYPE_TUNNEL},
#define IPM_PY_ERROR_CONSTANT(name, value, message) {"IPM_" #name, IPM_##name},
    IPM_ERROR_MAP(IPM_PY_ERROR_CONSTANT)
#undef IPM_PY_ERROR_CONSTANT
};

/* _CONSTANTS (every name above, for the package to re-export without
 * listing them again) and _ADAPTER_PROPERTIES ((name, writable) pairs, from
 * IPM_ADAPTER_PROPERTIES, for the Adapter view). */
static int add_name_lists(PyObject *mod)
{
    static const struct { const char *name; int writable; } adapter_properties[] = {
#define IPM_PY_WRITABLE_RO 0
#define IPM_PY_WRITABLE_IDLE 1
#define IPM_PY_WRITABLE_ANY 1
#define IPM_PY_ADAPTER_PROPERTY(name, type, access, min, max, def) {#name, IPM_PY_WRITABLE_##access},
        IPM_ADAPTER_PROPERTIES(IPM_PY_ADAPTER_PROPERTY)
#undef IPM_PY_ADAPTER_PROPERTY
    };
    size_t nc = sizeof constants / sizeof constants[0];
    size_t np = sizeof adapter_properties / sizeof adapter_properties[0];
    PyObject *names = PyTuple_New((Py_ssize_t)nc), *props = PyTuple_New((Py_ssize_t)np);
    if (!names || !props)
        goto fail;
    for (size_t i = 0; i < nc; i++) {
        PyObject *n = PyUnicode_FromString(constants[i].name);
        if (!n)
            goto fail;
        PyTuple_SET_ITEM(names, (Py_ssize_t)i, n);
    }
    for (size_t i = 0; i < np; i++) {
        PyObject *p = Py_BuildValue("(sO)", adapter_properties[i].name,
                                    adapter_properties[i].writable ? Py_True : Py_False);
        if (!p)
            goto fail;
        PyTuple_SET_ITEM(props, (Py_ssize_t)i, p);
    }
    if (PyModule_AddObject(mod, "_CONSTANTS", names) < 0)
        goto fail;
    names = NULL;
    if (PyModule_AddObject(mod, "_ADAPTER_PROPERTIES", props) < 0)
        goto fail;
    return 0;
fail:
    Py_XDECREF(names);
    Py_XDECREF(props);
    return -1;
}

static int add_error_types(PyObject *mod)
{
    PyObject *dict = Py_BuildValue("{s:i,s:s,s:s}", "code", 0, "message", "", "description", "");
    if (!dict)
        return -1;
    ipm_py_error_type = PyErr_NewExceptionWithDoc(
        "ipmonitor.IPMonitorError",
        "An IPMonitor call failed. .code is the library's IPM_E_* code (negative),\n"
        ".description (also .message and str(e)) the library's message saying what\n"
        "went wrong and what to do. Raised as the subclass that is also the matching\n"
        "standard exception (IPMonitorIndexError is an IndexError, ...).",
        NULL, dict);
    Py_DECREF(dict);
    if (!ipm_py_error_type)
        return -1;
    Py_INCREF(ipm_py_error_type);
    if (PyModule_AddObject(mod, "IPMonitorError", ipm_py_error_type) < 0)
        return -1;
    ipm_py_hook_warning = PyErr_NewExceptionWithDoc(
        "ipmonitor.IPMonitorHookWarning",
        "An event hook raised and no on_error hook is set: said once per hook and\n"
        "exception type; the capture goes on.",
        PyExc_RuntimeWarning, NULL);
    if (!ipm_py_hook_warning)
        return -1;
    Py_INCREF(ipm_py_hook_warning);
    if (PyModule_AddObject(mod, "IPMonitorHookWarning", ipm_py_hook_warning) < 0)
        return -1;
    for (size_t i = 0; i < sizeof error_classes / sizeof error_classes[0]; i++) {
        error_class *e = &error_classes[i];
        char qualified[64];
        snprintf(qualified, sizeof qualified, "ipmonitor.%s", e->name);
        PyObject *bases = PyTuple_Pack(2, ipm_py_error_type, *e->standard);
        if (!bases)
            return -1;
        e->type = PyErr_NewExceptionWithDoc(qualified, e->doc, bases, NULL);
        Py_DECREF(bases);
        if (!e->type)
            return -1;
        Py_INCREF(e->type);
        if (PyModule_AddObject(mod, e->name, e->type) < 0)
            return -1;
    }
    return 0;
}

static int add_type(PyObject *mod, const char *name, PyTypeObject *t)
{
    if (PyType_Ready(t) < 0)
        return -1;
    Py_INCREF(t);
    if (PyModule_AddObject(mod, name, (PyObject *)t) < 0) {
        Py_DECREF(t);
        return -1;
    }
    return 0;
}

PyMODINIT_FUNC PyInit__ipmonitor(void)
{
    if (ipm_py_events_init() < 0)
        return NULL;
    PyObject *mod = PyModule_Create(&module_def);
    if (!mod)
        return NULL;
    if (add_error_types(mod) < 0
        || add_type(mod, "_IPMonitorBase", &MonitorType) < 0
        || add_type(mod, "IPMonitorPacketEventParams", &PacketParamsType) < 0
        || add_type(mod, "IPMonitorStatisticsEventParams", &StatisticsParamsType) < 0
        || add_type(mod, "IPMonitorErrorEventParams", &ErrorParamsType) < 0
        || add_type(mod, "Writer", &WriterType) < 0
        || PyModule_AddStringConstant(mod, "__version__", ipm_version()) < 0)
        goto fail;
    for (size_t i = 0; i < sizeof constants / sizeof constants[0]; i++)
        if (PyModule_AddIntConstant(mod, constants[i].name, constants[i].value) < 0)
            goto fail;
    if (add_name_lists(mod) < 0)
        goto fail;
    return mod;
fail:
    Py_DECREF(mod);
    return NULL;
}
