/*
 * ipm_py.h - declarations shared by the files of the _ipmonitor extension.
 *
 * The extension is the reference's IPMonitor class for Python, as a thin
 * layer over libipmonitor (include/ipmonitor.h):
 *   module.c    module init, the IPMonitorError exception, constants
 *   monitor.c   the IPMonitor type: properties, methods, thread guard
 *   events.c    the event-params types and the C callbacks that turn
 *               library events into calls of the Python hooks
 *   writer.c    the Writer type: pcap/pcapng files over ipm_writer
 */
#ifndef IPM_PY_H
#define IPM_PY_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "ipmonitor.h"

/* Which library call is running with the GIL released (for the guard that
 * keeps other Python threads from using the monitor meanwhile). */
enum ipm_py_op { OP_NONE = 0, OP_DO_EVENTS, OP_ACTIVATE, OP_LIST_ADAPTERS };

typedef struct PacketParams PacketParams;

typedef struct {
    PyObject_HEAD
    ipm_monitor *m;
    PyObject *on_packet, *on_statistics, *on_error; /* callables or NULL */

    /* The thread state saved while the GIL is released inside do_events;
     * NULL while this thread holds the GIL. The packet callback takes the
     * GIL back from it on the first event of a batch. */
    PyThreadState *saved_ts;
    unsigned long busy_thread; /* thread running a GIL-free call, or 0 */
    enum ipm_py_op busy_op;

    PacketParams *spare; /* packet params reused while no handler keeps them */
    PyObject *adapter_str;   /* cached str of the last packet's adapter */
    char *adapter_cstr;      /* its C copy, to check the cache */

    /* A BaseException (KeyboardInterrupt, SystemExit) raised by a handler:
     * the rest of the batch is skipped and do_events re-raises it. */
    PyObject *pending_exc;
    /* The exception an Exception-raising handler left, for the on_error
     * event the library fires next (IPM_E_HANDLER). */
    PyObject *handler_exc;
    PyObject *handler_text;

    /* How a hook's exception is reported (see hook_failed in events.c):
     * raise_hook_errors (constructor) makes the first one leave do_events;
     * else the first per hook and do_events call fires on_error (bits of
     * reported_this_call, by ipm_py_hook), or, with no on_error, a warning
     * once per hook and exception type (the set `warned`). */
    int raise_hook_errors;
    unsigned reported_this_call;
    PyObject *warned;

    /* do_events_timeout(max_packets=N): packet events of this call so far,
     * and N (0: no limit); at N the batch ends (ipm_break_events). */
    long delivered, break_after;

    /* _collect(list): while set, each packet event becomes an owned packet
     * object appended to this list in C, in place of on_packet (what
     * packets() and apackets() take their portions from: no Python call
     * per packet). */
    PyObject *collect;
} MonitorObject;

/* The hooks, for MonitorObject.reported_this_call. */
enum ipm_py_hook { HOOK_PACKET = 0, HOOK_STATISTICS = 1 };

/* module.c */
extern PyObject *ipm_py_error_type; /* ipmonitor.IPMonitorError */
extern PyObject *ipm_py_hook_warning; /* ipmonitor.IPMonitorHookWarning */
PyObject *ipm_py_raise(int code, const char *message);
PyObject *ipm_py_raise_last(MonitorObject *self);

/* monitor.c */
extern PyTypeObject MonitorType;

/* events.c */
extern PyTypeObject PacketParamsType, StatisticsParamsType, ErrorParamsType;
int ipm_py_events_init(void);
int ipm_py_packet_cb(const ipm_packet_event *ev, void *user);
int ipm_py_statistics_cb(const ipm_statistics_event *ev, void *user);
void ipm_py_error_cb(const ipm_error_event *ev, void *user);
/* The library's event for a packet params object (borrowed pointers, valid
 * while `obj` lives): 0, or -1 with TypeError set. */
int ipm_py_packet_event(PyObject *obj, ipm_packet_event *out);

/* writer.c */
extern PyTypeObject WriterType;

/* After ipm_do_events returns: take the GIL back if no event did. */
void ipm_py_after_dispatch(MonitorObject *self);
void ipm_py_events_clear(MonitorObject *self);

#endif
