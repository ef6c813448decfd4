/*
 * ipmonitor.h - the public API of libipmonitor.
 *
 * libipmonitor is the IPMonitor class of the PCAP Filter reference
 * (shared/spec/IPMonitor-reference.txt) as a C library on libpcap. The
 * members appear here in the reference's order: properties, methods, events,
 * config settings, errors. Each reference property `foo` is ipm_get_foo()
 * and, where writable, ipm_set_foo(); each adapter property `adapter_foo` is
 * ipm_get_adapter_foo(m, index) / ipm_set_adapter_foo(m, index, value).
 *
 * Conventions (as in curl's easy API):
 *  - ipm_monitor is an opaque handle; monitors share no state, so two
 *    monitors on two adapters in one process are independent.
 *  - Calls that return int return 0 (IPM_OK) or a negative IPM_E_* code.
 *    Integer getters return the value (never negative) or a negative
 *    IPM_E_* code. String getters return a string owned by the monitor
 *    (valid until the next call that changes it) or NULL on error.
 *  - After a failed call, ipm_last_error(m) holds a message that says what
 *    went wrong and what to do, and ipm_last_error_code(m) the code, until
 *    the next setter or method that succeeds clears them (getters that
 *    succeed leave them as they are; a getter that fails records its error).
 *    A failed call changes nothing: the monitor keeps working.
 *  - Inside an event callback every call is allowed except ipm_activate,
 *    ipm_activate_many and ipm_do_events (IPM_E_BUSY). After ipm_deactivate
 *    inside a callback the monitor is "stopping" until do_events returns:
 *    settings that apply at activation are refused meanwhile (IPM_E_BUSY).
 *  - Booleans are int: 0 is false, anything else is true.
 *
 * Threads: a monitor is used from one thread at a time, except that
 * ipm_deactivate() and ipm_get_active() may be called from another thread
 * while ipm_do_events() waits or dispatches; any other call made from another
 * thread meanwhile returns IPM_E_BUSY without touching the last error (which
 * the dispatching thread owns). The last error belongs to the thread that
 * last activated the monitor or called ipm_do_events: ipm_deactivate() and
 * ipm_get_active() from any other thread never touch it, also when they land
 * between two ipm_do_events() calls of a loop.
 */
#ifndef IPMONITOR_H
#define IPMONITOR_H

#include <stdint.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && __GNUC__ >= 4
#define IPM_API __attribute__((visibility("default")))
#else
#define IPM_API
#endif

#define IPM_VERSION_MAJOR 1
#define IPM_VERSION_MINOR 0
#define IPM_VERSION_PATCH 0
#define IPM_VERSION_STRING "1.0.0"

/* ------------------------------------------------------------------ */
/* Constants                                                           */
/* ------------------------------------------------------------------ */

/* Packet directions: the `direction` property and ipm_packet_event.direction.
 * Values follow the vendor's constants page (ANY 0, INCOMING 1, OUTGOING 2);
 * see README "Deviations from the reference". */
#define IPM_PACKET_DIRECTION_ANY 0
#define IPM_PACKET_DIRECTION_INCOMING 1
#define IPM_PACKET_DIRECTION_OUTGOING 2
/* Only in events: the OS did not say which way the packet went. */
#define IPM_PACKET_DIRECTION_UNKNOWN (-1)

/* Operation modes: the `operation_mode` property. */
#define IPM_OM_CAPTURE 0 /* an on_packet event per packet */
#define IPM_OM_STAT 1    /* an on_statistics event per adapter per do_events */

/* IANA ifType values reported by ipm_get_adapter_interface_type(). */
#define IPM_IFTYPE_OTHER 1
#define IPM_IFTYPE_ETHERNET_CSMACD 6
#define IPM_IFTYPE_PPP 23
#define IPM_IFTYPE_SOFTWARE_LOOPBACK 24
#define IPM_IFTYPE_IEEE80211 71
#define IPM_IFTYPE_TUNNEL 131

/* Error codes: one list, X(NAME, value, message), from which the enum below,
 * ipm_strerror(), ipm_error_name() and the Python package's constants are
 * all generated (as libuv does with UV_ERRNO_MAP). Add a code here, and to
 * the Python stub python/ipmonitor/__init__.pyi. Values never change. */
#define IPM_ERROR_MAP(X)                                                            \
    X(OK, 0, "no error")                                                            \
    /* NULL pointer or a value out of its range */                                  \
    X(E_INVALID_ARGUMENT, -1, "invalid argument")                                   \
    /* adapter index not in 0..adapter_count-1 */                                   \
    X(E_INDEX_OUT_OF_RANGE, -2, "adapter index out of range")                       \
    X(E_ACTIVE, -3, "not allowed while the monitor is active")                      \
    X(E_NOT_ACTIVE, -4, "the monitor is not active")                                \
    /* no adapter or file by that name */                                           \
    X(E_ADAPTER_NOT_FOUND, -5, "adapter not found")                                 \
    /* the filter expression does not compile */                                    \
    X(E_BAD_FILTER, -6, "bad filter expression")                                    \
    /* missing CAP_NET_RAW / CAP_NET_ADMIN */                                       \
    X(E_PERMISSION, -7, "permission denied")                                        \
    /* libpcap failed to open or read */                                            \
    X(E_CAPTURE, -8, "capture error")                                               \
    X(E_NO_MEMORY, -9, "out of memory")                                             \
    /* unknown config setting or bad value */                                       \
    X(E_CONFIG, -10, "bad configuration setting")                                   \
    /* an event handler returned non-zero */                                        \
    X(E_HANDLER, -11, "an event handler failed")                                    \
    /* not supported by this adapter or platform */                                 \
    X(E_UNSUPPORTED, -12, "not supported")                                          \
    /* the adapter disappeared while monitored (a notice through on_error: its      \
     * capture is closed, the others go on) */                                      \
    X(E_ADAPTER_GONE, -13, "the adapter disappeared")                               \
    /* a capture file could not be read */                                          \
    X(E_FILE, -14, "capture file error")                                            \
    /* not allowed from inside an event handler, while the monitor is stopping,     \
     * or from another thread while do_events runs */                               \
    X(E_BUSY, -15, "not allowed from inside an event handler")                      \
    /* notices (on_error only, never a call's result) of a monitor that follows     \
     * the adapter set: see ipm_activate_matching */                                \
    X(E_ADAPTER_ADDED, -16, "an adapter appeared and is now monitored")             \
    X(E_ADAPTER_BACK, -17, "an adapter came back and is monitored again")

typedef enum ipm_error {
#define IPM_ERROR_ENUM(name, value, message) IPM_##name = value,
    IPM_ERROR_MAP(IPM_ERROR_ENUM)
#undef IPM_ERROR_ENUM
} ipm_error;

/* The generic message of an error code ("unknown error" for others). */
IPM_API const char *ipm_strerror(int code);
/* The name of an error code without the IPM_ prefix ("E_BAD_FILTER", "OK"),
 * or NULL for a value that is no code. */
IPM_API const char *ipm_error_name(int code);

/* ------------------------------------------------------------------ */
/* The handle                                                          */
/* ------------------------------------------------------------------ */

typedef struct ipm_monitor ipm_monitor;

/* A new monitor with the reference's defaults, or NULL if out of memory. */
IPM_API ipm_monitor *ipm_new(void);
/* Deactivates (if active) and frees. NULL is ignored. Inside one of this
 * monitor's callbacks it deactivates at once and frees when the ipm_do_events
 * below returns (which then returns normally; do not use the monitor after
 * ipm_free: calls in the rest of the callback get IPM_E_BUSY). From another
 * thread while ipm_do_events runs it does nothing. */
IPM_API void ipm_free(ipm_monitor *m);

/* The specific message of the last failed call on this monitor ("" when the
 * last setter or method succeeded). */
IPM_API const char *ipm_last_error(const ipm_monitor *m);
/* The code that goes with ipm_last_error() (IPM_OK when it is ""). */
IPM_API int ipm_last_error_code(const ipm_monitor *m);

/* ------------------------------------------------------------------ */
/* Properties                                                          */
/* ------------------------------------------------------------------ */

/* active: 1 while monitoring (after activate, until deactivate or the end of
 * a capture file), else 0. Read-only. */
IPM_API int ipm_get_active(const ipm_monitor *m);

/* adapter_count: number of adapters found by the last ipm_list_adapters(),
 * plus those a following monitor appended since (ipm_activate_matching). */
IPM_API int ipm_get_adapter_count(const ipm_monitor *m);

/* The adapter properties: one list, from which the declarations below, the
 * library's getters and setters, its adapter record, the per-adapter
 * defaults and the Python members are generated. Each entry is
 *     X(name, TYPE, ACCESS, min, max, default)
 * and declares ipm_get_adapter_<name>(m, adapter_index) and, unless
 * ACCESS is RO, ipm_set_adapter_<name>(m, adapter_index, value):
 *   TYPE    INT (int), BOOL (int: 0 or 1; a setter takes any int, non-zero
 *           is true), STRING (const char *, owned by the monitor, valid
 *           until the next list_adapters)
 *   ACCESS  RO read-only; IDLE settable only while the monitor is inactive
 *           (it applies at activation); ANY settable at any time
 *   min..max  the values a setter accepts (others: IPM_E_INVALID_ARGUMENT)
 *   default   the reference's default (what list_adapters gives)
 * Getters return the value, or a negative IPM_E_* code (NULL for strings)
 * with the last error set; a bad index is IPM_E_INDEX_OUT_OF_RANGE. Adding a
 * property is a line here plus its line in python/ipmonitor/__init__.pyi. */
#define IPM_ADAPTER_PROPERTIES(X)                                                   \
    /* kernel capture buffer (ring) in KB; 0 = libpcap's default (2 MB on Linux);  \
     * 2^21 KB = 2 GiB because libpcap takes the size in bytes as an int */       \
    X(buffer_size, INT, IDLE, 0, 2097151, 1024)                                     \
    /* whether on_statistics reports this adapter in statistics mode */            \
    X(collect_statistics, BOOL, ANY, 0, 1, 1)                                       \
    /* libpcap's description, or one made from the kind of interface and its      \
     * driver where libpcap has none */                                           \
    X(description, STRING, RO, 0, 0, "")                                            \
    /* the interface alias (ip link set X alias ...), or the name when none */    \
    X(friendly_name, STRING, RO, 0, 0, "")                                          \
    /* the OS interface index (ifindex); 0 for pseudo-devices such as "any" */    \
    X(id, INT, RO, 0, 0, 0)                                                         \
    /* the IANA ifType (IPM_IFTYPE_*) */                                            \
    X(interface_type, INT, RO, 0, 0, 0)                                             \
    /* "02-FC-00-00-00-01" (transmission order, upper-case hex, '-'), or "" */    \
    X(mac_address, STRING, RO, 0, 0, "")                                            \
    /* snapshot length: the most bytes of a packet passed in on_packet;           \
     * 0 = 262144. Statistics mode ignores it and captures only the few bytes it   \
     * needs (see config StatisticsDetail) */                                     \
    X(max_packet_bytes, INT, IDLE, 0, 262144, 262144)                               \
    /* the name to pass to ipm_activate() */                                        \
    X(name, STRING, RO, 0, 0, "")                                                   \
    /* in ms, the longest ipm_do_events() waits for packets, and the longest the  \
     * kernel holds packets before handing them over; > 0 because libpcap leaves  \
     * a zero timeout undefined (config ImmediateMode=True gives the lowest       \
     * latency) */                                                                \
    X(packet_timeout, INT, IDLE, 1, 3600000, 1000)                                  \
    /* capture frames not addressed to this host; needs CAP_NET_ADMIN */          \
    X(promiscuous_mode, BOOL, IDLE, 0, 1, 0)                                        \
    /* 802.11 monitor (rfmon) mode; activation fails with IPM_E_UNSUPPORTED if    \
     * the adapter cannot do it */                                                \
    X(wi_fi_monitor_mode, BOOL, IDLE, 0, 1, 0)                                      \
    /* pcap_can_set_rfmon() */                                                      \
    X(wi_fi_monitor_mode_supported, BOOL, RO, 0, 0, 0)                              \
    /* Beyond the reference: what users look for first. */                          \
    X(is_up, BOOL, RO, 0, 0, 0)                                                     \
    X(is_running, BOOL, RO, 0, 0, 0)                                                \
    X(is_loopback, BOOL, RO, 0, 0, 0)                                               \
    X(is_wireless, BOOL, RO, 0, 0, 0)                                               \
    /* MTU in bytes; 0 when unknown */                                              \
    X(mtu, INT, RO, 0, 0, 0)                                                        \
    /* space-separated "address/prefix" lists, e.g. "10.0.0.1/24" and             \
     * "fd00::1/64 fe80::1/64"; "" when none */                                   \
    X(ipv4_addresses, STRING, RO, 0, 0, "")                                         \
    X(ipv6_addresses, STRING, RO, 0, 0, "")

/* The C type of each TYPE. */
#define IPM_ADAPTER_CTYPE_INT int
#define IPM_ADAPTER_CTYPE_BOOL int
#define IPM_ADAPTER_CTYPE_STRING const char *

#define IPM_ADAPTER_SETTER_RO(name)
#define IPM_ADAPTER_SETTER_IDLE(name) \
    IPM_API int ipm_set_adapter_##name(ipm_monitor *m, int adapter_index, int value);
#define IPM_ADAPTER_SETTER_ANY(name) IPM_ADAPTER_SETTER_IDLE(name)
/* Beyond the reference: IPM_ADAPTER_DEFAULTS as the adapter index of a
 * setting's getter and setter reads and sets the value adapters get when
 * they are first listed, when they appear while followed
 * (ipm_activate_matching) and when a name not listed is activated. Adapters
 * already listed keep theirs. The metadata getters refuse it. */
#define IPM_ADAPTER_DEFAULTS (-1)
#define IPM_ADAPTER_DECLARE(name, type, access, min, max, def)                            \
    IPM_API IPM_ADAPTER_CTYPE_##type ipm_get_adapter_##name(const ipm_monitor *m,         \
                                                            int adapter_index);           \
    IPM_ADAPTER_SETTER_##access(name)
IPM_ADAPTER_PROPERTIES(IPM_ADAPTER_DECLARE)
#undef IPM_ADAPTER_DECLARE
#undef IPM_ADAPTER_SETTER_RO
#undef IPM_ADAPTER_SETTER_IDLE
#undef IPM_ADAPTER_SETTER_ANY

/* direction: which packets to capture, IPM_PACKET_DIRECTION_*. Default ANY.
 * Applied in the kernel's socket filter; settable before and while active. */
IPM_API int ipm_get_direction(const ipm_monitor *m);
IPM_API int ipm_set_direction(ipm_monitor *m, int direction);

/* filter: a pcap-filter(7) expression; "" (default) captures everything.
 * While active, the new expression is compiled for each monitored adapter
 * first and applied only if it compiles; otherwise IPM_E_BAD_FILTER with
 * libpcap's message and the old filter stays in force. While inactive, an
 * expression that compiles for no link type is refused at once; one valid
 * only for some link types is checked again at activation. NULL means "". */
IPM_API const char *ipm_get_filter(const ipm_monitor *m);
IPM_API int ipm_set_filter(ipm_monitor *m, const char *expression);

/* operation_mode: IPM_OM_CAPTURE (default) or IPM_OM_STAT. Settable only
 * while inactive. */
IPM_API int ipm_get_operation_mode(const ipm_monitor *m);
IPM_API int ipm_set_operation_mode(ipm_monitor *m, int mode);

/* tag: application data. Default 0. */
IPM_API int64_t ipm_get_tag(const ipm_monitor *m);
IPM_API int ipm_set_tag(ipm_monitor *m, int64_t tag);

/* ------------------------------------------------------------------ */
/* Methods                                                             */
/* ------------------------------------------------------------------ */

/* activate: start monitoring `adapter`: an adapter name (see
 * ipm_list_adapters; a name not listed is tried as a live interface with
 * default settings) or the path of a pcap/pcapng file. A file's packets go
 * through the same filter, modes and events with the file's time stamps; at
 * the end of the file the last events fire and the monitor deactivates
 * itself. If no adapters were listed yet, the list is read first so that
 * per-adapter settings can apply. Errors: IPM_E_ACTIVE, IPM_E_BUSY,
 * IPM_E_ADAPTER_NOT_FOUND, IPM_E_PERMISSION, IPM_E_BAD_FILTER,
 * IPM_E_UNSUPPORTED, IPM_E_CAPTURE, IPM_E_FILE. */
IPM_API int ipm_activate(ipm_monitor *m, const char *adapter);

/* Beyond the reference: monitor several adapters at once with one monitor.
 * Each gets its own settings and its own on_statistics events. All or
 * nothing: if one fails to open, none stays open.
 *
 * Both activate calls follow the live adapters they name (as
 * ipm_activate_matching does, for a fixed set of names): one that
 * disappears is reported (IPM_E_ADAPTER_GONE) and closed while the others
 * go on; when an adapter of that name is up again it is opened again, in
 * the same adapter index (IPM_E_ADAPTER_BACK). A monitor whose every named
 * adapter is gone stays active and waits for them (do_events waits its
 * packet_timeout and returns 0): a caller that wants to stop then calls
 * ipm_deactivate in on_error on IPM_E_ADAPTER_GONE. Capture files are not
 * followed: a monitor of files only ends when they are read. */
IPM_API int ipm_activate_many(ipm_monitor *m, const char *const *adapters, int count);

/* Beyond the reference: monitor every adapter whose name matches one of
 * `patterns` (fnmatch(3): "veth*", "eth[01]"; one starting with '!' leaves
 * matching names out: {"!docker*"} alone is every adapter but those; NULL
 * and 0 is every adapter), and follow the host while active:
 *  - at activation every matching adapter that is up and that the system
 *    knows as an interface (an ifindex: pseudo-devices such as "any",
 *    nflog or usbmon are never followed; name them in ipm_activate) is
 *    opened; one that cannot be opened because it went away or down (or
 *    libpcap refuses it) is left out; a missing privilege fails as for
 *    ipm_activate. No adapter matching is not an error: the monitor waits.
 *  - an adapter that appears later, or comes up, and matches is opened with
 *    its settings (those set on its index if it was listed, else the
 *    defaults), appended to the adapter list (ipm_get_adapter_count grows;
 *    the indexes of the others never move while active; its metadata is
 *    what the system says of the link: no addresses until list_adapters),
 *    and on_error fires once with IPM_E_ADAPTER_ADDED, its index and name;
 *  - an adapter that disappears is closed once its ring was handed over:
 *    IPM_E_ADAPTER_GONE (its last on_statistics, if any, comes in the same
 *    do_events); one that goes down and up again stays monitored (a down
 *    is reported as for ipm_do_events);
 *  - an adapter deleted and made again under its name is a new interface
 *    (new ifindex), opened again in the same index, its metadata refreshed
 *    (the strings of the old are freed): IPM_E_ADAPTER_BACK;
 *  - an adapter renamed is its old name gone and its new name appearing
 *    (counted once, under the new name).
 * These notices go through on_error only: do_events goes on with the other
 * adapters and does not return them. Changes are learnt from rtnetlink
 * (RTM_NEWLINK / RTM_DELLINK on a socket that do_events polls with the
 * captures, and that ipm_get_fd's wait set holds, so an event loop wakes
 * for them); where the platform has no such watch (IPM_PLATFORM=posix) the
 * interfaces are listed again at most once per packet_timeout of do_events.
 * do_events must run in the network namespace of the activation. Works in
 * both modes. Returns 0, IPM_E_INVALID_ARGUMENT (a NULL or empty pattern),
 * IPM_E_PERMISSION, IPM_E_BAD_FILTER, IPM_E_NO_MEMORY. */
IPM_API int ipm_activate_matching(ipm_monitor *m, const char *const *patterns, int count);

/* config: "NAME=VALUE" sets a setting and returns ""; "NAME" returns its
 * value. NULL on error (unknown setting, bad value, read-only setting);
 * see ipm_last_error(). The returned string is owned by the monitor and
 * stays valid until the same setting is read again or the monitor is freed:
 * reading one setting never invalidates another's answer, and "" (after
 * setting) stays valid for ever. Names are case-insensitive;
 * booleans take True/False/1/0/Yes/No. Settings: see README. */
IPM_API const char *ipm_config(ipm_monitor *m, const char *configuration_string);

/* deactivate: stop monitoring; `active` is 0 when it returns. Safe from
 * inside any callback (the capture closes when do_events unwinds) and from
 * another thread while do_events waits or dispatches (it wakes it and
 * waits for it). Returns 0 also when already inactive. */
IPM_API int ipm_deactivate(ipm_monitor *m);

/* break_events (beyond the reference): from inside an event handler, make
 * the ipm_do_events that called it return once the handler returns. The
 * monitor stays active, and the packets not yet handed over (the rest of
 * the kernel's ring block, the rest of a file) come with the next
 * ipm_do_events, in order: nothing is lost. For consumers that take
 * packets in bounded portions (an iterator, "the next N packets", a
 * handler that failed). Outside a handler it does nothing and returns 0
 * (unlike pcap_breakloop, it never affects a later call). */
IPM_API int ipm_break_events(ipm_monitor *m);

/* do_events: wait up to the smallest packet_timeout of the monitored
 * adapters for traffic, then process every packet that is there: in capture
 * mode fire on_packet for each, in order; in statistics mode fire
 * on_statistics once per monitored adapter whose collect_statistics is set,
 * zero counts included. For a capture file it processes the whole file.
 * Returns 0 at once when inactive. A read error fires on_error and returns
 * the error. An adapter that goes down fires on_error (IPM_E_CAPTURE) and
 * resumes when it is up (a down that libpcap's read meets before the wait
 * does, a narrow race, goes unreported: libpcap returns no packets for
 * it). An adapter that disappeared (deleted while up or while down, or
 * deleted and made again under its name) has what its ring still held
 * delivered, is closed, and fires on_error once with IPM_E_ADAPTER_GONE (a
 * notice: do_events does not return it); the monitor's other adapters go
 * on, and with none left the monitor stays active and waits. An interface
 * of that name that is up again (made again, a new ifindex) is opened again
 * in the same adapter index: IPM_E_ADAPTER_BACK (see
 * ipm_activate_matching). */
IPM_API int ipm_do_events(ipm_monitor *m);

/* Event loops (beyond the reference). do_events waits in poll(2) on its
 * own; a program with its own loop (epoll, libuv's uv_poll, GLib's
 * g_unix_fd_add, Python's asyncio add_reader) instead watches one fd:
 *
 *     int fd = ipm_get_fd(m);             // once: it stays the same
 *     for (;;) {
 *         int ms = ipm_get_timeout(m);    // < 0: inactive, nothing to wait for
 *         if (ms < 0) break;
 *         wait until fd is readable or ms have passed (in the loop);
 *         ipm_do_events_timeout(m, 0);    // handles what is there, no wait
 *     }
 *
 * get_fd: an fd that polls readable when do_events has packets to hand
 * over (in a capture's ring, a change of the adapter set that a following
 * monitor learns of, or a wake-up of a deactivate from another
 * thread while do_events runs). On
 * Linux it is an epoll set over the monitor's captures, the same fd for the
 * monitor's whole life (also across activations), owned by the monitor:
 * watch it, never read or close it. Where the system has no such set
 * (IPM_PLATFORM=posix) it is the capture's own fd while exactly one live
 * adapter is monitored (IPM_E_UNSUPPORTED for several), the monitor's
 * wake-up fd while none is: ask again after each activation.
 * Returns the fd (>= 0) or a negative IPM_E_* code. */
IPM_API int ipm_get_fd(ipm_monitor *m);
/* get_timeout: how many milliseconds the loop may wait for get_fd before
 * calling ipm_do_events_timeout anyway: 0 when there is work now (a capture
 * file is read without waiting), else the smallest packet_timeout of the
 * monitored adapters (statistics events are due then, with zero counts).
 * IPM_E_NOT_ACTIVE (< 0) when inactive. */
IPM_API int ipm_get_timeout(ipm_monitor *m);
/* do_events_timeout: ipm_do_events, waiting at most timeout_ms for traffic
 * (0: not at all, handle what is there; < 0: the adapters' packet_timeout,
 * exactly ipm_do_events). */
IPM_API int ipm_do_events_timeout(ipm_monitor *m, int timeout_ms);

/* get_statistics: since the last activate (kept after deactivate):
 * received = packets that passed the filter (what the kernel counted before
 * the filter was installed is left out), dropped = packets the kernel
 * dropped for lack of ring space, adapter_dropped = the interface's own
 * drops (from pcap_stats(); summed over adapters). For a capture file,
 * received counts the packets read and the drops are 0. Any pointer may be
 * NULL. */
IPM_API int ipm_get_statistics(ipm_monitor *m, int64_t *received, int64_t *dropped,
                               int64_t *adapter_dropped);

/* list_adapters: read the adapters libpcap can capture on, with OS metadata.
 * Settings of adapters already listed are kept (matched by name). While the
 * monitor is active no index moves: listed adapters keep theirs (metadata
 * refreshed), gone ones keep their slot, new ones are appended. */
IPM_API int ipm_list_adapters(ipm_monitor *m);

/* Beyond the reference: the index of the adapter called `name`, or
 * IPM_E_ADAPTER_NOT_FOUND. */
IPM_API int ipm_find_adapter(const ipm_monitor *m, const char *name);

/* Beyond the reference: the link types (DLT_*) live adapter `adapter` can
 * capture as (libpcap's pcap_list_datalinks, which needs a short activation
 * and so the capture privilege), and the time stamp types (PCAP_TSTAMP_*)
 * it offers (pcap_list_tstamp_types). Fills up to `max` values and returns
 * how many there are (which may be more than max), or a negative code:
 * IPM_E_ADAPTER_NOT_FOUND, IPM_E_PERMISSION, IPM_E_CAPTURE. Choose one for
 * the next activation with config("LinkType=NAME") and
 * config("TimeStampType=NAME"), libpcap's names (pcap_datalink_val_to_name,
 * pcap_tstamp_type_val_to_name). */
IPM_API int ipm_list_link_types(ipm_monitor *m, const char *adapter, int *link_types, int max);
IPM_API int ipm_list_time_stamp_types(ipm_monitor *m, const char *adapter, int *types, int max);

/* Beyond the reference: the libpcap link type (DLT_*) of the first monitored
 * adapter, to decode packets or write them to a pcap file; IPM_E_NOT_ACTIVE
 * when inactive. Each packet event also carries its own. */
IPM_API int ipm_get_link_type(const ipm_monitor *m);
/* Beyond the reference: the snapshot length of the first monitored adapter
 * (the most bytes of a packet it captures) or capture file (the snaplen its
 * header records, what `tcpdump -r` announces); IPM_E_NOT_ACTIVE when
 * inactive. */
IPM_API int ipm_get_snapshot_length(const ipm_monitor *m);

/* ------------------------------------------------------------------ */
/* Events                                                              */
/* ------------------------------------------------------------------ */

/* Passed to on_packet. Valid only during the callback: copy what you keep. */
typedef struct ipm_packet_event {
    struct timespec time_stamp; /* when the adapter received it (ns precision) */
    uint32_t packet_size;       /* length on the wire */
    const uint8_t *data;        /* the captured bytes */
    uint32_t data_size;         /* bytes in data (<= max_packet_bytes) */
    int direction;              /* IPM_PACKET_DIRECTION_INCOMING/_OUTGOING/_UNKNOWN */
    int adapter_index;          /* index in the adapter list, -1 if not listed */
    const char *adapter;        /* adapter name or file path; on Linux's "any" (opened
                                 * as Linux cooked v2, DLT_LINUX_SLL2) the name of
                                 * the interface the packet crossed */
    int link_type;              /* libpcap DLT_* of data */
} ipm_packet_event;

/* Protocol classes of the detailed statistics (config StatisticsDetail). */
enum ipm_protocol { IPM_PROTO_TCP, IPM_PROTO_UDP, IPM_PROTO_ICMP, IPM_PROTO_OTHER, IPM_PROTO_COUNT };
enum ipm_family { IPM_FAMILY_IPV4, IPM_FAMILY_IPV6, IPM_FAMILY_OTHER, IPM_FAMILY_COUNT };
/* Direction classes of the detailed statistics' joint counts (class_packets):
 * the first index. Unknown: the adapter's link type carries no direction. */
enum ipm_direction_class {
    IPM_DIRCLASS_INCOMING, IPM_DIRCLASS_OUTGOING, IPM_DIRCLASS_UNKNOWN, IPM_DIRECTION_CLASSES
};

/* Passed to on_statistics: what was captured on one adapter since the
 * previous on_statistics of that adapter. */
typedef struct ipm_statistics_event {
    struct timespec time_stamp; /* when the statistics were collected */
    int64_t captured_packets;
    int64_t captured_bytes;     /* sum of packet_size */
    int adapter_index;          /* as in ipm_packet_event */
    const char *adapter;
    int64_t dropped;            /* kernel drops in this interval (pcap_stats) */
    int64_t adapter_dropped;    /* interface drops in this interval */
    /* Filled only when config StatisticsDetail is True (detail == 1); zero
     * otherwise. Direction counts cover packets whose direction is known. */
    int detail;
    int64_t incoming_packets, incoming_bytes;
    int64_t outgoing_packets, outgoing_bytes;
    int64_t protocol_packets[IPM_PROTO_COUNT], protocol_bytes[IPM_PROTO_COUNT];
    int64_t family_packets[IPM_FAMILY_COUNT], family_bytes[IPM_FAMILY_COUNT];
    /* The joint counts (detail only): packets and bytes of each direction
     * class, protocol class and family together, e.g.
     * class_packets[IPM_DIRCLASS_INCOMING][IPM_PROTO_UDP][IPM_FAMILY_IPV6].
     * Every packet of the interval is in exactly one cell, so the cells sum
     * to captured_packets / captured_bytes, and the split counts above are
     * their sums over the other two indices (incoming_packets is the sum of
     * class_packets[IPM_DIRCLASS_INCOMING][*][*], and so on). */
    int64_t class_packets[IPM_DIRECTION_CLASSES][IPM_PROTO_COUNT][IPM_FAMILY_COUNT];
    int64_t class_bytes[IPM_DIRECTION_CLASSES][IPM_PROTO_COUNT][IPM_FAMILY_COUNT];
} ipm_statistics_event;

/* Passed to on_error. */
typedef struct ipm_error_event {
    int error_code;          /* IPM_E_* (IPM_E_HANDLER for a failed handler) */
    const char *description; /* what went wrong */
    int handler_result;      /* the non-zero value a handler returned, else 0 */
    int adapter_index;
    const char *adapter;     /* NULL when not about one adapter */
} ipm_error_event;

/* A packet or statistics handler returns 0, or non-zero for "my handler
 * failed": the library then fires on_error (IPM_E_HANDLER) and goes on. */
typedef int (*ipm_packet_cb)(const ipm_packet_event *event, void *user);
typedef int (*ipm_statistics_cb)(const ipm_statistics_event *event, void *user);
typedef void (*ipm_error_cb)(const ipm_error_event *event, void *user);

/* Set or clear (NULL) a handler; `user` is passed back to it. Allowed any
 * time, including from inside handlers. */
IPM_API int ipm_set_on_packet(ipm_monitor *m, ipm_packet_cb cb, void *user);
IPM_API int ipm_set_on_statistics(ipm_monitor *m, ipm_statistics_cb cb, void *user);
IPM_API int ipm_set_on_error(ipm_monitor *m, ipm_error_cb cb, void *user);

/* ------------------------------------------------------------------ */
/* Decoding                                                            */
/* ------------------------------------------------------------------ */

/* ipm_decode() reads the headers of one captured packet (link layer,
 * VLAN tags, ARP / IPv4 / IPv6 with its extension headers, TCP / UDP /
 * UDP-Lite / SCTP / ICMP / ICMPv6) into an ipm_decoded. It is the decoder
 * `ipmon capture` prints from and the one the detailed statistics count
 * with (their family and protocol class are ipm_decoded.family and
 * .protocol), so the two always agree on the same bytes. Link types:
 * DLT_EN10MB, DLT_LINUX_SLL, DLT_LINUX_SLL2, DLT_RAW / DLT_IPV4 / DLT_IPV6
 * and DLT_NULL / DLT_LOOP; any other is reported as not decoded.
 *
 * Every read is checked against caplen; nothing is allocated or formatted.
 * Numbers are in host order; offsets count from the start of data. A field
 * that does not apply or was not captured is -1 (ints) or flagged absent. */

/* ipm_decoded.network: what follows the link header. */
enum ipm_network {
    IPM_NET_NONE,  /* nothing: an unknown link type, or the link header was cut */
    IPM_NET_IPV4,
    IPM_NET_IPV6,
    IPM_NET_ARP,
    IPM_NET_LLC,   /* an IEEE 802.3 frame (a length where the EtherType goes) */
    IPM_NET_OTHER  /* an EtherType, cooked protocol or address family not decoded */
};

/* ipm_decoded.flags */
#define IPM_DECODED_TRUNCATED 0x01      /* capture ended inside a header, or one is malformed */
#define IPM_DECODED_MAC_SRC 0x02        /* mac_src is valid */
#define IPM_DECODED_MAC_DST 0x04        /* mac_dst is valid */
#define IPM_DECODED_MORE_FRAGMENTS 0x08 /* an IP fragment with more to follow */

/* VLAN tags read (TPID 0x8100, 0x88a8 or 0x9100), outermost first. */
#define IPM_DECODE_MAX_VLANS 2

typedef struct ipm_decoded {
    int link_type;   /* the DLT_* given */
    uint32_t caplen; /* the bytes given */
    unsigned flags;  /* IPM_DECODED_* */

    /* Link layer */
    uint8_t mac_src[6], mac_dst[6];      /* see IPM_DECODED_MAC_SRC/_DST */
    int vlan_count;                      /* 0 .. IPM_DECODE_MAX_VLANS */
    uint16_t vlan[IPM_DECODE_MAX_VLANS]; /* VLAN ids (12 bits) */
    /* The link header's protocol field: EtherType (after the VLAN tags
     * read; a tag's TPID when the capture ends inside it), 802.3 length,
     * cooked-header protocol, or BSD loopback address family; -1 if none
     * was read. */
    int link_protocol;

    /* Network layer */
    int network;   /* IPM_NET_* */
    /* The network layer's EtherType; -1 when the link has none (raw IP, BSD
     * loopback, 802.3, cooked protocol below 0x0600). */
    int ethertype;
    int family;    /* IPM_FAMILY_IPV4/_IPV6 when network is IPv4/IPv6, else _OTHER */
    uint32_t network_offset; /* where the network header starts (unless IPM_NET_NONE) */
    int llc_dsap;  /* 802.3 frames: the LLC DSAP (0x42 is STP), -1 if not captured */
    /* Family of src/dst: IPM_FAMILY_IPV4 (4 bytes), _IPV6 (16 bytes), or
     * IPM_FAMILY_OTHER when there are none. */
    int addr_family;
    uint8_t src[16], dst[16]; /* IP addresses; for ARP the sender's and target's */
    /* IP fragment offset in bytes: -1 when not a fragment, 0 for the first
     * of several (with IPM_DECODED_MORE_FRAGMENTS). */
    int fragment_offset;
    int arp_op;                     /* ARP operation (1 request, 2 reply); -1 if not read */
    int arp_hardware, arp_protocol; /* ARP hardware and protocol types; -1 if not read */
    uint8_t arp_sender_mac[6];      /* Ethernet/IPv4 ARP, with addr_family IPv4 */

    /* Transport layer */
    /* The IP protocol number after the IPv6 extension headers (a later
     * fragment's own protocol; the extension header where the capture ends
     * inside the chain); -1 if not read. */
    int ip_protocol;
    int protocol;              /* IPM_PROTO_TCP/_UDP/_ICMP (also ICMPv6)/_OTHER */
    uint32_t transport_offset; /* where the transport header starts (with ip_protocol >= 0) */
    int sport, dport;          /* TCP, UDP, UDP-Lite, SCTP ports; -1 when none */
    int tcp_flags;             /* TCP flags byte (FIN 0x01 ... CWR 0x80); -1 unless a
                                * whole TCP header was captured */
    uint32_t tcp_seq, tcp_ack; /* valid with tcp_flags >= 0 */
    int tcp_window;            /* -1 unless tcp_flags >= 0 */
    int icmp_type, icmp_code;  /* ICMP and ICMPv6; -1 otherwise */
    int icmp_id, icmp_seq;     /* echo request and reply; -1 otherwise */

    /* Payload: what follows the last header decoded, as the headers say
     * (so it may extend past caplen). For TCP/UDP/UDP-Lite/SCTP the
     * transport payload; for an unknown IP protocol or a later fragment
     * what follows the IP headers; for an undecoded EtherType or an 802.3
     * frame the captured rest. -1 when unknown (ICMP, ARP, cut headers). */
    int64_t payload_offset, payload_len;
} ipm_decoded;

/* Decode `caplen` bytes of link type `link_type` (a DLT_* value) into
 * *out. Returns IPM_OK, or IPM_E_INVALID_ARGUMENT when out is NULL or data
 * is NULL with caplen > 0. A packet that cannot be decoded is not an error:
 * what was found is reported, the rest is -1 or absent. Safe from any
 * thread and inside callbacks (it touches no monitor). */
IPM_API int ipm_decode(int link_type, const uint8_t *data, uint32_t caplen, ipm_decoded *out);

/* Room for any name ipm_decoded_protocol_name() writes. */
#define IPM_DECODE_NAME_LEN 24

/* The name of the innermost protocol decoded, as `ipmon capture` prints
 * it: "TCP", "UDP", "ICMPv6", "GRE", "IP-PROTO-253", "ARP", "IPv4" (a cut
 * or malformed IP header), "LLDP", "ETHERTYPE-0x1234", "STP", "LLC", "VLAN",
 * "Ethernet", "SLL", "SLL-PROTO-0x0004", "NULL", "LINKTYPE-147". Returns a
 * static string or `buf` (IPM_DECODE_NAME_LEN bytes) holding it; NULL
 * when d or buf is NULL. */
IPM_API const char *ipm_decoded_protocol_name(const ipm_decoded *d, char *buf);

/* ------------------------------------------------------------------ */
/* Saving packets: pcap and pcapng files                               */
/* ------------------------------------------------------------------ */

/* Beyond the reference. A writer saves packet events to a capture file:
 *  IPM_FORMAT_PCAPNG: what Wireshark reads best. One interface description
 *    per adapter (appearing as its first packet comes: name, and with a
 *    monitor its description, MAC, IPv4/IPv6 addresses, snapshot length and
 *    filter), nanosecond time stamps, each packet's direction (epb_flags),
 *    several adapters and link types in one file, and at ipm_writer_close a
 *    statistics block per interface (first/last packet, packets written;
 *    with a monitor and one adapter also filter accepts and kernel and
 *    interface drops, from ipm_get_statistics).
 *  IPM_FORMAT_PCAP: classic pcap (nanosecond): one link type, packets of
 *    any adapter with that link type (the file does not say which).
 * Writes are buffered (256 KiB) and checked: the first failure (a full
 * disk, a closed pipe: IPM_E_FILE with the system's reason) is kept, every
 * later call returns it, and ipm_writer_error() says what happened. A
 * writer is not tied to a thread but is not safe from two at once. The
 * typical use is ipm_writer_write(w, e) inside on_packet. */
typedef struct ipm_writer ipm_writer;
enum ipm_file_format { IPM_FORMAT_PCAP = 0, IPM_FORMAT_PCAPNG = 1 };
/* Room for a writer's error message. */
#define IPM_ERRBUF_SIZE 256

/* Create (or truncate) the file at `path`. `m` (may be NULL) is the monitor
 * the packets come from, read for interface metadata and statistics; it
 * must outlive the writer. NULL on failure, with the reason in errbuf
 * (IPM_ERRBUF_SIZE bytes; may be NULL). */
IPM_API ipm_writer *ipm_writer_open(const char *path, int format, ipm_monitor *m, char *errbuf);
/* The same on an open fd (standard output for a pipe); the writer owns it
 * and closes it in ipm_writer_close. */
IPM_API ipm_writer *ipm_writer_fdopen(int fd, int format, ipm_monitor *m, char *errbuf);
/* Save one packet: IPM_OK, or a negative code: IPM_E_FILE (writing failed),
 * IPM_E_UNSUPPORTED (a second adapter or link type in a classic pcap file),
 * IPM_E_INVALID_ARGUMENT (NULL). */
IPM_API int ipm_writer_write(ipm_writer *w, const ipm_packet_event *ev);
/* Write out what is buffered (for a reader at the other end of a pipe). */
IPM_API int ipm_writer_flush(ipm_writer *w);
/* Write the statistics blocks (pcapng), flush, close the file and free the
 * writer: IPM_OK, or the first error (then the file holds every packet
 * written before it, whole, as far as the system kept it, and errno is the
 * system's reason, as ipm_writer_os_error said, or 0 when the failure was
 * not the system's). */
IPM_API int ipm_writer_close(ipm_writer *w);
/* The first error's message ("writing the capture file failed: No space
 * left on device"), or "" when there was none. */
IPM_API const char *ipm_writer_error(const ipm_writer *w);
/* Packets accepted by ipm_writer_write so far. */
IPM_API int64_t ipm_writer_packets(const ipm_writer *w);
/* Packets the system has taken whole (out of the writer's buffer, after
 * ipm_writer_flush: all that were accepted). After a failed write, the
 * number of packets the file holds whole. */
IPM_API int64_t ipm_writer_packets_saved(const ipm_writer *w);
/* The errno of the first failed write or close (ENOSPC, EPIPE...), 0 if
 * none: for callers that treat a closed pipe as the end, not a failure. */
IPM_API int ipm_writer_os_error(const ipm_writer *w);

/* ------------------------------------------------------------------ */
/* Library information                                                 */
/* ------------------------------------------------------------------ */

/* "1.0.0" */
IPM_API const char *ipm_version(void);

#ifdef __cplusplus
}
#endif

#endif /* IPMONITOR_H */
