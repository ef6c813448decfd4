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

/* Reference defaults of the per-adapter settings. */
#define IPM_DEFAULT_BUFFER_KB 1024
#define IPM_DEFAULT_SNAPLEN 262144
#define IPM_DEFAULT_TIMEOUT_MS 1000

/* The settable per-adapter properties; they take effect at activation. */
typedef struct ipm_adapter_settings {
    int buffer_size_kb;
    int collect_statistics;
    int max_packet_bytes;
    int packet_timeout_ms;
    int promiscuous;
    int wifi_monitor;
} ipm_adapter_settings;

/* One entry of the adapter list: libpcap's device joined with OS metadata. */
typedef struct ipm_adapter {
    char *name, *description, *friendly_name, *mac_address;
    char *ipv4_addresses, *ipv6_addresses;
    int id, interface_type, mtu;
    int is_up, is_running, is_loopback, is_wireless;
    int wifi_monitor_supported;
    ipm_adapter_settings settings;
} ipm_adapter;

/* Capture totals, kept across the sources of one activation. */
typedef struct ipm_totals {
    int64_t received, dropped, adapter_dropped;
} ipm_totals;

struct ipm_source;

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
    char *config_value; /* the last string config() returned */

    /* Active state. `active` is what users see; the sources may outlive it
     * briefly when deactivate is called from inside a callback. */
    atomic_int active;
    struct ipm_source *sources[IPM_MAX_SOURCES];
    int source_count;
    ipm_totals closed_totals; /* of sources already closed this activation */

    /* Cross-thread deactivation: do_events holds run_lock while it waits
     * and dispatches; deactivate from another thread sets stop_requested,
     * wakes the wait through wake_fd (platform.h's wake-up: read end,
     * write end) and then takes run_lock. */
    pthread_mutex_t run_lock;
    atomic_int stop_requested;
    atomic_int dispatching;
    pthread_t dispatch_thread;
    int wake_fd[2];

    /* Errors. */
    int last_error_code;
    char last_error[IPM_ERRMSG_MAX];
    char error_description[IPM_ERRMSG_MAX]; /* for on_error events */
};

/* errors.c */
int ipm_fail(ipm_monitor *m, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void ipm_clear_error(ipm_monitor *m);
void ipm_fire_error(ipm_monitor *m, int code, int handler_result, int adapter_index,
                    const char *adapter, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* adapters.c */
void ipm_adapter_settings_default(ipm_adapter_settings *s);
void ipm_adapters_free(ipm_adapter *list, int count);
const ipm_adapter *ipm_adapter_at(const ipm_monitor *m, int index);

/* filter.c */
int ipm_filter_check_any_link_type(ipm_monitor *m, const char *expression);
int ipm_filter_apply_all(ipm_monitor *m, const char *expression, int direction);

/* monitor.c */
int ipm_in_own_callback(const ipm_monitor *m);
void ipm_close_sources(ipm_monitor *m);

/* Small helpers. */
char *ipm_strdup(const char *s);
int ipm_replace_string(char **slot, const char *value);

#endif
