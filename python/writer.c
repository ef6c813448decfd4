/*
 * writer.c - ipmonitor.Writer: saving packets to a pcapng or pcap file from
 * Python, over the library's ipm_writer (so a packet keeps its direction and
 * adapter in pcapng, as in C).
 *
 *     with ipmonitor.Writer("out.pcapng", monitor=m) as w:
 *         for pkt in m.packets("eth0", count=100):
 *             w.write(pkt)
 */
#include "ipm_py.h"

typedef struct {
    PyObject_HEAD
    ipm_writer *w;
    PyObject *monitor; /* the IPMonitor it reads metadata from, or NULL */
} WriterObject;

/* "pcapng"/"pcap", or None: by the file name (".pcap" is classic pcap,
 * anything else pcapng, which keeps direction and adapter). */
static int format_of(PyObject *format, PyObject *path_bytes)
{
    if (format == NULL || format == Py_None) {
        const char *p = path_bytes ? PyBytes_AS_STRING(path_bytes) : "";
        size_t n = strlen(p);
        return n >= 5 && strcmp(p + n - 5, ".pcap") == 0 ? IPM_FORMAT_PCAP : IPM_FORMAT_PCAPNG;
    }
    const char *f = PyUnicode_Check(format) ? PyUnicode_AsUTF8(format) : NULL;
    if (f && strcmp(f, "pcapng") == 0)
        return IPM_FORMAT_PCAPNG;
    if (f && strcmp(f, "pcap") == 0)
        return IPM_FORMAT_PCAP;
    if (!PyErr_Occurred())
        ipm_py_raise(IPM_E_INVALID_ARGUMENT, "Writer format is \"pcapng\" or \"pcap\" (or None: "
                                             "by the file name)");
    return -1;
}

static int writer_init(WriterObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"file", "format", "monitor", NULL};
    PyObject *file, *format = NULL, *monitor = NULL, *path = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|O$O:Writer", kwlist, &file, &format,
                                     &monitor))
        return -1;
    if (self->w) {
        PyErr_SetString(PyExc_RuntimeError, "Writer is already open");
        return -1;
    }
    if (monitor == Py_None)
        monitor = NULL;
    if (monitor && !PyObject_TypeCheck(monitor, &MonitorType)) {
        PyErr_SetString(PyExc_TypeError, "monitor must be an IPMonitor (or None)");
        return -1;
    }
    int fd = -1;
    if (PyLong_Check(file)) {
        fd = (int)PyLong_AsLong(file);
        if (fd == -1 && PyErr_Occurred())
            return -1;
    } else if (!PyUnicode_FSConverter(file, &path)) {
        return -1;
    }
    int fmt = format_of(format, path);
    if (fmt < 0) {
        Py_XDECREF(path);
        return -1;
    }
    char err[IPM_ERRBUF_SIZE] = "";
    ipm_monitor *m = monitor ? ((MonitorObject *)monitor)->m : NULL;
    if (path) {
        Py_BEGIN_ALLOW_THREADS
        self->w = ipm_writer_open(PyBytes_AS_STRING(path), fmt, m, err);
        Py_END_ALLOW_THREADS
    } else {
        self->w = ipm_writer_fdopen(fd, fmt, m, err);
    }
    Py_XDECREF(path);
    if (!self->w) {
        ipm_py_raise(IPM_E_FILE, err);
        return -1;
    }
    Py_XINCREF(monitor);
    self->monitor = monitor;
    return 0;
}

static int check_open(WriterObject *self)
{
    if (self->w)
        return 0;
    PyErr_SetString(PyExc_ValueError, "I/O operation on a closed Writer");
    return -1;
}

static PyObject *raise_writer(WriterObject *self, int rc)
{
    return ipm_py_raise(rc, ipm_writer_error(self->w));
}

static PyObject *writer_write(WriterObject *self, PyObject *pkt)
{
    ipm_packet_event ev;
    if (check_open(self) || ipm_py_packet_event(pkt, &ev) < 0)
        return NULL;
    int rc = ipm_writer_write(self->w, &ev);
    if (rc != IPM_OK)
        return raise_writer(self, rc);
    Py_RETURN_NONE;
}

static PyObject *writer_flush(WriterObject *self, PyObject *unused)
{
    (void)unused;
    if (check_open(self))
        return NULL;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = ipm_writer_flush(self->w);
    Py_END_ALLOW_THREADS
    if (rc != IPM_OK)
        return raise_writer(self, rc);
    Py_RETURN_NONE;
}

static PyObject *writer_close(WriterObject *self, PyObject *unused)
{
    (void)unused;
    if (!self->w)
        Py_RETURN_NONE; /* closing twice is fine, as for files */
    char message[IPM_ERRBUF_SIZE];
    snprintf(message, sizeof message, "%s", ipm_writer_error(self->w));
    ipm_writer *w = self->w;
    self->w = NULL;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = ipm_writer_close(w);
    Py_END_ALLOW_THREADS
    Py_CLEAR(self->monitor);
    if (rc != IPM_OK)
        return ipm_py_raise(rc, message[0] ? message : "closing the capture file failed");
    Py_RETURN_NONE;
}

static PyObject *writer_enter(WriterObject *self, PyObject *unused)
{
    (void)unused;
    if (check_open(self))
        return NULL;
    Py_INCREF(self);
    return (PyObject *)self;
}

static PyObject *writer_exit(WriterObject *self, PyObject *args)
{
    (void)args;
    PyObject *r = writer_close(self, NULL);
    if (!r)
        return NULL;
    Py_DECREF(r);
    Py_RETURN_FALSE;
}

static PyObject *writer_get_packets(WriterObject *self, void *c)
{
    (void)c;
    return PyLong_FromLongLong(self->w ? ipm_writer_packets(self->w) : 0);
}

static PyObject *writer_get_closed(WriterObject *self, void *c)
{
    (void)c;
    return PyBool_FromLong(self->w == NULL);
}

static void writer_dealloc(WriterObject *self)
{
    if (self->w) { /* not closed: close quietly, as a file object would */
        ipm_writer_close(self->w);
        self->w = NULL;
    }
    Py_CLEAR(self->monitor);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef writer_methods[] = {
    {"write", (PyCFunction)writer_write, METH_O,
     "write($self, packet, /)\n--\n\nSave one IPMonitorPacketEventParams (kept or in a hook)."},
    {"flush", (PyCFunction)writer_flush, METH_NOARGS,
     "flush($self, /)\n--\n\nWrite out what is buffered."},
    {"close", (PyCFunction)writer_close, METH_NOARGS,
     "close($self, /)\n--\n\nWrite the statistics (pcapng), flush and close the file."},
    {"__enter__", (PyCFunction)writer_enter, METH_NOARGS, NULL},
    {"__exit__", (PyCFunction)writer_exit, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL}};

static PyGetSetDef writer_getset[] = {
    {"packets", (getter)writer_get_packets, NULL, "Packets written so far.", NULL},
    {"closed", (getter)writer_get_closed, NULL, "Whether close() was called.", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

PyTypeObject WriterType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "ipmonitor.Writer",
    .tp_basicsize = sizeof(WriterObject),
    .tp_dealloc = (destructor)writer_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Writer(file, format=None, *, monitor=None)\n--\n\n"
              "Save packets to a capture file: `file` is a path or an open fd; `format` is "
              "\"pcapng\" (keeps each packet's direction and adapter, several adapters in one "
              "file) or \"pcap\", or None to choose by the file name (.pcap: classic pcap); "
              "`monitor`, the IPMonitor the packets come from, adds its adapters' descriptions, "
              "MACs, addresses and filter, and its capture statistics at close. Failures raise "
              "IPMonitorError subclasses (a full disk: IPMonitorOSError).",
    .tp_methods = writer_methods,
    .tp_getset = writer_getset,
    .tp_init = (initproc)writer_init,
    .tp_new = PyType_GenericNew,
};
