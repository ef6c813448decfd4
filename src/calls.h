/*
 * calls.h - every public call that takes a monitor, with its rules, in one
 * table; and the one entry guard that enforces them.
 *
 * As curl keeps one table of which calls may run inside callbacks, this
 * table says for each call whether it may run inside an event callback of
 * its monitor, from another thread while do_events runs, only while the
 * monitor is idle, and whether succeeding clears the last error. Each public
 * function starts with ipm_enter(m, IPM_CALL_x, ...); no function tests
 * these conditions on its own. tests/test_calls.c checks every row.
 *
 * Not in the table: ipm_new, ipm_strerror, ipm_error_name and ipm_version
 * (no monitor), and ipm_last_error / ipm_last_error_code, which only read
 * the error record and must answer even for NULL.
 */
#ifndef IPM_CALLS_H
#define IPM_CALLS_H

#include "internal.h"

enum {
    IPM_RULE_IN_CALLBACK = 1 << 0,  /* may run inside this monitor's callbacks (else IPM_E_BUSY) */
    IPM_RULE_OTHER_THREAD = 1 << 1, /* may run in another thread while do_events runs; from
                                       a thread not owning the monitor (see owner_thread)
                                       it never touches the last error */
    IPM_RULE_IDLE_ONLY = 1 << 2,    /* IPM_E_ACTIVE while active, IPM_E_BUSY while stopping */
    IPM_RULE_CLEARS_ERROR = 1 << 3, /* succeeding clears the last error (getters keep it) */
};

#define IPM_R_CB IPM_RULE_IN_CALLBACK
#define IPM_R_THREAD IPM_RULE_OTHER_THREAD
#define IPM_R_IDLE IPM_RULE_IDLE_ONLY
#define IPM_R_CLEARS IPM_RULE_CLEARS_ERROR

/* X(call, rules). The adapter properties share three rows: every
 * ipm_get_adapter_<name>, and the setters of IDLE and of ANY properties. */
#define IPM_CALLS(X)                                                     \
    X(free, IPM_R_CB) /* inside a callback: deferred until do_events unwinds */ \
    X(get_active, IPM_R_CB | IPM_R_THREAD)                               \
    X(get_adapter_count, IPM_R_CB)                                       \
    X(get_adapter_property, IPM_R_CB)                                    \
    X(set_adapter_property_idle, IPM_R_CB | IPM_R_IDLE | IPM_R_CLEARS)   \
    X(set_adapter_property_any, IPM_R_CB | IPM_R_CLEARS)                 \
    X(get_direction, IPM_R_CB)                                           \
    X(set_direction, IPM_R_CB | IPM_R_CLEARS)                            \
    X(get_filter, IPM_R_CB)                                              \
    X(set_filter, IPM_R_CB | IPM_R_CLEARS)                               \
    X(get_operation_mode, IPM_R_CB)                                      \
    X(set_operation_mode, IPM_R_CB | IPM_R_IDLE | IPM_R_CLEARS)          \
    X(get_tag, IPM_R_CB)                                                 \
    X(set_tag, IPM_R_CB | IPM_R_CLEARS)                                  \
    X(activate, IPM_R_IDLE | IPM_R_CLEARS)                               \
    X(activate_many, IPM_R_IDLE | IPM_R_CLEARS)                          \
    X(activate_matching, IPM_R_IDLE | IPM_R_CLEARS)                      \
    X(config, IPM_R_CB | IPM_R_CLEARS)                                   \
    X(deactivate, IPM_R_CB | IPM_R_THREAD | IPM_R_CLEARS)                \
    X(break_events, IPM_R_CB | IPM_R_CLEARS)                             \
    X(do_events, IPM_R_CLEARS)                                           \
    X(do_events_timeout, IPM_R_CLEARS)                                   \
    X(get_fd, IPM_R_CB)                                                  \
    X(get_timeout, IPM_R_CB)                                             \
    X(get_statistics, IPM_R_CB | IPM_R_CLEARS)                           \
    X(list_adapters, IPM_R_CB | IPM_R_CLEARS)                            \
    X(find_adapter, IPM_R_CB)                                            \
    X(get_link_type, IPM_R_CB)                                           \
    X(get_snapshot_length, IPM_R_CB)                                     \
    X(list_link_types, IPM_R_CB | IPM_R_CLEARS)                          \
    X(list_time_stamp_types, IPM_R_CB | IPM_R_CLEARS)                    \
    X(set_on_packet, IPM_R_CB | IPM_R_CLEARS)                            \
    X(set_on_statistics, IPM_R_CB | IPM_R_CLEARS)                        \
    X(set_on_error, IPM_R_CB | IPM_R_CLEARS)

typedef enum ipm_call {
#define IPM_CALL_ENUM(call, rules) IPM_CALL_##call,
    IPM_CALLS(IPM_CALL_ENUM)
#undef IPM_CALL_ENUM
    IPM_CALL_COUNT
} ipm_call;

/* The rules of each call (IPM_RULE_* bits), indexed by ipm_call. */
extern const unsigned ipm_call_rules[IPM_CALL_COUNT];
extern const char *const ipm_call_names[IPM_CALL_COUNT];

/* The entry guard: IPM_OK if `call` may run now, else the error to return.
 * `what` names the call in messages, in the reference's words
 * ("operation_mode", "activate"); NULL uses the call's name. Checks, in
 * order: m not NULL; not after ipm_free inside a callback; another thread's
 * do_events (refused without touching the error record, which that thread
 * owns); inside a callback; idle. Then clears the last error if the call's
 * success does (its failure sets it again). */
int ipm_enter(const ipm_monitor *m, ipm_call call, const char *what);

#endif
