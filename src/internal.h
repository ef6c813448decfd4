/*
 * internal.h - the monitor's private state, shared by the library's files.
 *
 * Nothing here is public: the ipm_monitor handle is opaque to users. The
 * adapter inventory (adapters.c), the capture sources (source_*.c), the
 * event loop (events.c) and the property/state code (monitor.c) all work on
 * the structures below.
 */
#ifndef IPM_INTERNAL_H
#define IPM_INTERNAL_H

#include "ipmonitor.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>

#define IPM_ERRMSG_MAX 768
#define IPM_MAX_SOURCES 64
/* Why the packet loop should stop (ipm_monitor.stop_requested): the
 * monitor is deactivating, or a handler asked for the batch to end. */
#define IPM_STOP_DEACTIVATE 1
#define IPM_STOP_BATCH 2
#define IPM_CONFIG_SETTINGS_MAX 16 /* config.c checks its table fits */
/* libpcap's largest snapshot length: "whole packets". */
#define IPM_DEFAULT_SNAPLEN 262144

/* The adapter record, generated from IPM_ADAPTER_PROPERTIES (ipmonitor.h):
 * the settable properties form ipm_adapter_settings, which each source copies
 * at activation; the read-only ones are the adapter's metadata. */
#define IPM_FIELD_INT int
#define IPM_FIELD_BOOL int
#define IPM_FIELD_STRING char *
#define IPM_SETTING_FIELD_RO(name, type)
#define IPM_SETTING_FIELD_IDLE(name, type) IPM_FIELD_##type name;
#define IPM_SETTING_FIELD_ANY(name, type) IPM_FIELD_##type name;
#define IPM_METADATA_FIELD_RO(name, type) IPM_FIELD_##type name;
#define IPM_METADATA_FIELD_IDLE(name, type)
#define IPM_METADATA_FIELD_ANY(name, type)

typedef struct ipm_adapter_settings {
#define IPM_SETTING_FIELD(name, type, access, min, max, def) IPM_SETTING_FIELD_##access(name, type)
    IPM_ADAPTER_PROPERTIES(IPM_SETTING_FIELD)
#undef IPM_SETTING_FIELD
} ipm_adapter_settings;

/* One entry of the adapter list: libpcap's device joined with OS metadata. */
typedef struct ipm_adapter {
#define IPM_METADATA_FIELD(name, type, access, min, max, def) IPM_METADATA_FIELD_##access(name, type)
    IPM_ADAPTER_PROPERTIES(IPM_METADATA_FIELD)
#undef IPM_METADATA_FIELD
    ipm_adapter_settings settings;
} ipm_adapter;

/* Capture totals, kept across the sources of one activation. */
typedef struct ipm_totals {
    int64_t received, dropped, adapter_dropped;
} ipm_totals;

struct ipm_source;

/* The monitor's life cycle. STOPPING: deactivate was called inside a
 * callback (or from another thread); `active` already reads 0, but the
 * sources stay open until do_events unwinds and closes them. */
typedef enum ipm_state { IPM_STATE_IDLE, IPM_STATE_ACTIVE, IPM_STATE_STOPPING } ipm_state;

/* What ipm_last_error() and on_error report. */
typedef struct ipm_error_record {
    int code;
    char message[IPM_ERRMSG_MAX];
    char description[IPM_ERRMSG_MAX]; /* of the on_error event being fired */
} ipm_error_record;

struct ipm_monitor {
    /* Properties. */
    int direction;
    int operation_mode;
    int64_t tag;
    char *filter;
    ipm_adapter *adapters;
    int adapter_count;

    /* Event handlers. */
    ipm_packet_cb on_packet;
    void *on_packet_user;
    ipm_statistics_cb on_statistics;
    void *on_statistics_user;
    ipm_error_cb on_error;
    void *on_error_user;

    /* config() settings. */
    int immediate_mode;
    int statistics_detail;
    char *netfilter_guid;
    /* What config() last returned for each setting that needs a copy
     * (index: config.c's settings table), so that one answer stays valid
     * while others are read. */
    char *config_answers[IPM_CONFIG_SETTINGS_MAX];

    /* The state (see ipm_state), read through ipm_state_of(). Atomic
     * because get_active and deactivate may run in another thread. */
    atomic_int state;
    atomic_int free_pending; /* ipm_free was called inside a callback: free on unwind */
    struct ipm_source *sources[IPM_MAX_SOURCES];
    int source_count;
    ipm_totals closed_totals; /* of sources already closed this activation */

    /* Cross-thread deactivation: do_events holds run_lock while it waits
     * and dispatches; deactivate from another thread sets stop_requested,
     * wakes the wait through wake_fd (platform.h's wake-up: read end,
     * write end) and then takes run_lock. */
    pthread_mutex_t run_lock;
    atomic_int stop_requested; /* IPM_STOP_* bits: any of them ends a batch */
    atomic_int dispatching;
    /* The thread that owns the last error: the one that last activated the
     * monitor or entered do_events (an ipm_this_thread() token; 0 before
     * either). Deactivate or get_active from any other thread leave the
     * error alone, even between two do_events of the owner. */
    atomic_uintptr_t owner_thread;
    int wake_fd[2];
    /* ipm_get_fd's wait set (-1 until first asked for): the wake-up and
     * the sources' fds, added again at each activation (see events.c). */
    int wait_set;

    /* The last error. Kept out of line: getters take a const monitor and
     * still record why they failed (a bad index), the one part of the
     * monitor that a const call may change, as C++ would say `mutable`. */
    ipm_error_record *error;
};

/* errors.c */
/* Record `code` and a message saying what went wrong and what to do; returns
 * code. */
int ipm_fail(const ipm_monitor *m, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void ipm_clear_error(const ipm_monitor *m);
void ipm_fire_error(ipm_monitor *m, int code, int handler_result, int adapter_index,
                    const char *adapter, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* adapters.c */
void ipm_adapter_settings_default(ipm_adapter_settings *s);
void ipm_adapters_free(ipm_adapter *list, int count);
/* The adapter at `index`, or NULL with IPM_E_INDEX_OUT_OF_RANGE recorded. */
const ipm_adapter *ipm_adapter_at(const ipm_monitor *m, int index);
/* ipm_find_adapter without the entry guard, for the library's own use. */
int ipm_adapter_index(const ipm_monitor *m, const char *name);

/* filter.c */
int ipm_filter_check_any_link_type(ipm_monitor *m, const char *expression);
/* After an activation: put the new sources' fds in ipm_get_fd's wait set,
 * if there is one. 0, or -1 when the system refused. */
int ipm_wait_set_fill(ipm_monitor *m);
int ipm_filter_apply_all(ipm_monitor *m, const char *expression, int direction);

/* monitor.c */
int ipm_in_own_callback(const ipm_monitor *m);
/* A token that tells the calling thread from any other live thread. */
uintptr_t ipm_this_thread(void);
ipm_state ipm_state_of(const ipm_monitor *m);
void ipm_close_sources(ipm_monitor *m);
/* Release an idle monitor (ipm_free's second half, also run by do_events
 * for an ipm_free deferred from a callback). */
void ipm_free_now(ipm_monitor *m);

/* Small helpers. */
char *ipm_strdup(const char *s);
int ipm_replace_string(char **slot, const char *value);

#endif
