/*
 * module.c - the _ipmonitor module: init, the IPMonitorError exception,
 * module constants. (The benchmark's helpers are a separate module,
 * bench/python/_ipm_bench.c, that is never installed.)
 *
 * The Python-facing package (ipmonitor/__init__.py) re-exports all of this
 * and adds the Constants class; pcapfilter re-exports the package.
 */
#include "ipm_py.h"

PyObject *ipm_py_error_type;

/* Raise IPMonitorError(message) with .code and .message set. */
PyObject *ipm_py_raise(int code, const char *message)
{
    if (!message || !*message)
        message = ipm_strerror(code);
    PyObject *text = PyUnicode_DecodeUTF8(message, (Py_ssize_t)strlen(message), "replace");
    if (!text)
        return NULL;
    PyObject *exc = PyObject_CallOneArg(ipm_py_error_type, text);
    if (exc) {
        PyObject *c = PyLong_FromLong(code);
        if (c && PyObject_SetAttrString(exc, "code", c) == 0
            && PyObject_SetAttrString(exc, "message", text) == 0)
            PyErr_SetObject(ipm_py_error_type, exc);
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

static PyMethodDef module_methods[] = {
    {"strerror", strerror_py, METH_O, "The library's generic message for an error code."},
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
    {"IPM_OK", IPM_OK},
    {"IPM_E_INVALID_ARGUMENT", IPM_E_INVALID_ARGUMENT},
    {"IPM_E_INDEX_OUT_OF_RANGE", IPM_E_INDEX_OUT_OF_RANGE},
    {"IPM_E_ACTIVE", IPM_E_ACTIVE},
    {"IPM_E_NOT_ACTIVE", IPM_E_NOT_ACTIVE},
    {"IPM_E_ADAPTER_NOT_FOUND", IPM_E_ADAPTER_NOT_FOUND},
    {"IPM_E_BAD_FILTER", IPM_E_BAD_FILTER},
    {"IPM_E_PERMISSION", IPM_E_PERMISSION},
    {"IPM_E_CAPTURE", IPM_E_CAPTURE},
    {"IPM_E_NO_MEMORY", IPM_E_NO_MEMORY},
    {"IPM_E_CONFIG", IPM_E_CONFIG},
    {"IPM_E_HANDLER", IPM_E_HANDLER},
    {"IPM_E_UNSUPPORTED", IPM_E_UNSUPPORTED},
    {"IPM_E_ADAPTER_GONE", IPM_E_ADAPTER_GONE},
    {"IPM_E_FILE", IPM_E_FILE},
    {"IPM_E_BUSY", IPM_E_BUSY},
};

static int add_error_type(PyObject *mod)
{
    PyObject *dict = Py_BuildValue("{s:i,s:s}", "code", 0, "message", "");
    if (!dict)
        return -1;
    ipm_py_error_type = PyErr_NewExceptionWithDoc(
        "ipmonitor.IPMonitorError",
        "An IPMonitor call failed. .code is the library's IPM_E_* code (negative),\n"
        ".message (also str(e)) the library's message saying what went wrong.",
        NULL, dict);
    Py_DECREF(dict);
    if (!ipm_py_error_type)
        return -1;
    Py_INCREF(ipm_py_error_type);
    return PyModule_AddObject(mod, "IPMonitorError", ipm_py_error_type);
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
    if (add_error_type(mod) < 0
        || add_type(mod, "_IPMonitorBase", &MonitorType) < 0
        || add_type(mod, "IPMonitorPacketEventParams", &PacketParamsType) < 0
        || add_type(mod, "IPMonitorStatisticsEventParams", &StatisticsParamsType) < 0
        || add_type(mod, "IPMonitorErrorEventParams", &ErrorParamsType) < 0
        || PyModule_AddStringConstant(mod, "__version__", ipm_version()) < 0)
        goto fail;
    for (size_t i = 0; i < sizeof constants / sizeof constants[0]; i++)
        if (PyModule_AddIntConstant(mod, constants[i].name, constants[i].value) < 0)
            goto fail;
    return mod;
fail:
    Py_DECREF(mod);
    return NULL;
}
