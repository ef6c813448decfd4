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
/* The most names one ipm_activate_many takes (and the most interfaces of
 * one capture file a writer describes); a following monitor
 * (ipm_activate_matching) has no such limit: its sources grow as needed. */
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
struct pollfd;

/* What a monitor follows of the host's adapter set while active (follow.c).
 * NONE: capture files only. FIXED: the live adapters named at activation,
 * each attached again when it comes back. MATCHING: every adapter whose
 * name matches the patterns, attached as it appears. */
typedef enum ipm_follow_mode { IPM_FOLLOW_NONE, IPM_FOLLOW_FIXED, IPM_FOLLOW_MATCHING } ipm_follow_mode;

typedef struct ipm_follow {
    ipm_follow_mode mode;
    char **names;      /* FIXED: the live names; MATCHING: the patterns (may be 0) */
    int name_count;
    int link_fd;       /* the platform's link watch (rtnetlink), -1 where none */
    int relist_due;    /* posix fallback: list again at the next round */
    struct timespec last_relist;
    /* Links the watch reported (platform.h's ipm_os_link), to attach if
     * wanted and up once this round's gone adapters are closed. */
    struct ipm_os_link *news;
    int news_count, news_cap;
    /* One flag per adapter slot (index of m->adapters): attached at least
     * once during this activation, so a return is IPM_E_ADAPTER_BACK. */
    unsigned char *seen;
    int seen_cap;
} ipm_follow;

/* config StatisticsEngine: who counts in statistics mode (source.c). */
enum ipm_statistics_engine { IPM_ENGINE_AUTO, IPM_ENGINE_KERNEL, IPM_ENGINE_RING };

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
    /* What an adapter's settings are when it is first listed, appears
     * while followed, or is activated unlisted (IPM_ADAPTER_DEFAULTS). */
    ipm_adapter_settings adapter_defaults;

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
    int fanout_group; /* config FanoutGroup: 0 = none */
    int link_type_choice;  /* config LinkType: a DLT_, or -1: each adapter's own */
    int tstamp_type_choice; /* config TimeStampType: a PCAP_TSTAMP_, or -1: libpcap's */
    int fanout_mode;  /* config FanoutMode: enum ipm_fanout_mode */
    int statistics_engine; /* config StatisticsEngine: enum ipm_statistics_engine */
    /* Why adapters opened under StatisticsEngine=auto since the activation
     * are counted by the ring engine, "NAME: reason; NAME: reason" ("" when
     * none is): config("StatisticsEngineReason"). */
    char engine_reason[IPM_ERRMSG_MAX];
    char *netfilter_guid;
    /* What config() last returned for each setting that needs a copy
     * (index: config.c's settings table), so that one answer stays valid
     * while others are read. */
    char *config_answers[IPM_CONFIG_SETTINGS_MAX];

    /* The state (see ipm_state), read through ipm_state_of(). Atomic
     * because get_active and deactivate may run in another thread. */
    atomic_int state;
    atomic_int free_pending; /* ipm_free was called inside a callback: free on unwind */
    struct ipm_source **sources; /* grown as adapters are attached (follow.c) */
    int source_count, source_cap;
    /* do_events' poll set: the sources' fds, the link watch and the wake-up
     * (grown with sources, so the wait allocates nothing). */
    struct pollfd *poll_fds;
    struct ipm_source **polled;
    int poll_cap;
    ipm_follow follow;
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
/* ipm_filter_apply_all for the sources from index `first` on (a source
 * attached while active gets the monitor's filter and direction). */
int ipm_filter_apply_from(ipm_monitor *m, int first, const char *expression, int direction);
/* After an activation: put the new sources' fds in ipm_get_fd's wait set,
 * if there is one. 0, or -1 when the system refused. */
int ipm_wait_set_fill(ipm_monitor *m);
int ipm_filter_apply_all(ipm_monitor *m, const char *expression, int direction);

/* follow.c */
/* Room for one more source (and its poll entry): 0, or IPM_E_NO_MEMORY. */
int ipm_sources_reserve(ipm_monitor *m, int count);
/* Start following at activation, before the adapters are listed (so no
 * change between the listing and the watch is missed): 0 or an error. */
int ipm_follow_start(ipm_monitor *m, ipm_follow_mode mode, const char *const *names, int count);
/* Whether the adapter `name` (with an OS index) is one the monitor follows. */
int ipm_follow_wants(const ipm_monitor *m, const char *name);
/* Mark the adapter slot `index` as attached during this activation. */
void ipm_follow_mark_seen(ipm_monitor *m, int index);
/* Once per do_events, before the sources are looked after: read the link
 * watch (or list again, posix), mark sources whose adapter was deleted as
 * gone, and remember links that may need attaching. */
void ipm_follow_read(ipm_monitor *m, const struct timespec *now);
/* Once per do_events, after gone sources were closed: attach what came. */
void ipm_follow_attach_news(ipm_monitor *m);
/* The fd do_events polls for link changes, or -1. */
int ipm_follow_fd(const ipm_monitor *m);
/* How long do_events waits when it follows but has no source. */
int ipm_follow_timeout(const ipm_monitor *m);
/* Stop following (deactivate): closes the watch, frees the lists. */
void ipm_follow_stop(ipm_monitor *m);
/* Close and drop the sources whose adapter is gone and was reported. */
void ipm_sources_sweep(ipm_monitor *m);

/* adapters.c (for follow.c) */
struct ipm_os_link;
/* The slot of adapter `link->name`: its metadata refreshed from the OS's
 * description when listed, else a new slot appended with the settings
 * default. The index, or IPM_E_NO_MEMORY. */
int ipm_adapter_slot_for_link(ipm_monitor *m, const struct ipm_os_link *link);

/* monitor.c */
int ipm_in_own_callback(const ipm_monitor *m);
/* A token that tells the calling thread from any other live thread. */
uintptr_t ipm_this_thread(void);
ipm_state ipm_state_of(const ipm_monitor *m);
void ipm_close_sources(ipm_monitor *m);
/* Open the live adapter in slot `index` (or `name` unlisted, index -1) and
 * append it to the sources; NULL with the error set. */
struct ipm_source *ipm_open_source(ipm_monitor *m, const char *name);
/* Add a closed source's totals to the monitor's and free it. */
void ipm_source_retire(ipm_monitor *m, struct ipm_source *s);
/* Release an idle monitor (ipm_free's second half, also run by do_events
 * for an ipm_free deferred from a callback). */
void ipm_free_now(ipm_monitor *m);

/* Small helpers. */
char *ipm_strdup(const char *s);
int ipm_replace_string(char **slot, const char *value);

#endif
