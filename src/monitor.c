/*
 * monitor.c - the IPMonitor object: its life cycle, its monitor-wide
 * properties and the idle/active state machine (activate, deactivate,
 * get_statistics).
 *
 * State (ipm_state): idle -> active (sources open) -> idle, or active ->
 * stopping -> idle when deactivate is called inside a handler (or from
 * another thread): it only marks the stop, and do_events closes the sources
 * when the dispatch unwinds, so no libpcap handle is closed while libpcap is
 * still using it. ipm_free inside a handler is deferred the same way.
 */
#include "calls.h"
#include "platform.h"
#include "source.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char *ipm_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *copy = malloc(n);
    return copy ? memcpy(copy, s, n) : NULL;
}

int ipm_replace_string(char **slot, const char *value)
{
    char *copy = ipm_strdup(value);
    if (!copy)
        return IPM_E_NO_MEMORY;
    free(*slot);
    *slot = copy;
    return IPM_OK;
}

const char *ipm_version(void)
{
    return IPM_VERSION_STRING;
}

ipm_monitor *ipm_new(void)
{
    ipm_monitor *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->direction = IPM_PACKET_DIRECTION_ANY;
    m->operation_mode = IPM_OM_CAPTURE;
    ipm_adapter_settings_default(&m->adapter_defaults);
    m->link_type_choice = m->tstamp_type_choice = -1;
    m->filter = ipm_strdup("");
    m->netfilter_guid = ipm_strdup("");
    m->error = calloc(1, sizeof *m->error);
    m->wait_set = -1;
    m->follow.link_fd = -1;
    if (ipm_os_wake_open(m->wake_fd) != 0)
        m->wake_fd[0] = m->wake_fd[1] = -1;
    if (!m->filter || !m->netfilter_guid || !m->error || m->wake_fd[0] < 0 ||
        pthread_mutex_init(&m->run_lock, NULL) != 0) {
        ipm_os_wake_close(m->wake_fd);
        free(m->filter);
        free(m->netfilter_guid);
        free(m->error);
        free(m);
        return NULL;
    }
    return m;
}

/* Inside a callback the monitor is still in use by the do_events below it:
 * mark it, stop the capture, and let do_events free it as it returns. From
 * another thread while do_events runs it is refused (nothing is freed). */
void ipm_free(ipm_monitor *m)
{
    if (ipm_enter(m, IPM_CALL_free, NULL) != IPM_OK)
        return;
    if (ipm_in_own_callback(m)) {
        ipm_deactivate(m);
        m->free_pending = 1;
        return;
    }
    ipm_deactivate(m);
    ipm_free_now(m);
}

void ipm_free_now(ipm_monitor *m)
{
    ipm_adapters_free(m->adapters, m->adapter_count);
    free(m->filter);
    free(m->netfilter_guid);
    for (int i = 0; i < IPM_CONFIG_SETTINGS_MAX; i++)
        free(m->config_answers[i]);
    ipm_os_wake_close(m->wake_fd);
    ipm_os_waitset_close(m->wait_set);
    ipm_follow_stop(m);
    free(m->sources);
    free(m->polled);
    free(m->poll_fds);
    pthread_mutex_destroy(&m->run_lock);
    free(m->error);
    free(m);
}

int ipm_in_own_callback(const ipm_monitor *m)
{
    return atomic_load(&m->dispatching) && atomic_load(&m->owner_thread) == ipm_this_thread();
}

/* The address of a thread-local object: distinct for every live thread,
 * and an atomic word, where a pthread_t is neither portably. */
uintptr_t ipm_this_thread(void)
{
    static _Thread_local char token;
    return (uintptr_t)&token;
}

ipm_state ipm_state_of(const ipm_monitor *m)
{
    return (ipm_state)atomic_load(&m->state);
}

/* ---- monitor-wide properties ------------------------------------------ */

int ipm_get_active(const ipm_monitor *m)
{
    int rc = ipm_enter(m, IPM_CALL_get_active, NULL);
    return rc != IPM_OK ? rc : ipm_state_of(m) == IPM_STATE_ACTIVE;
}

int ipm_get_direction(const ipm_monitor *m)
{
    int rc = ipm_enter(m, IPM_CALL_get_direction, NULL);
    return rc != IPM_OK ? rc : m->direction;
}

int ipm_set_direction(ipm_monitor *m, int direction)
{
    int rc = ipm_enter(m, IPM_CALL_set_direction, "direction");
    if (rc != IPM_OK)
        return rc;
    if (direction < IPM_PACKET_DIRECTION_ANY || direction > IPM_PACKET_DIRECTION_OUTGOING)
        return ipm_fail(m, IPM_E_INVALID_ARGUMENT,
                        "direction must be 0 (ANY), 1 (INCOMING) or 2 (OUTGOING), not %d",
                        direction);
    if (m->source_count) {
        rc = ipm_filter_apply_all(m, m->filter, direction);
        if (rc != IPM_OK)
            return rc;
    }
    m->direction = direction;
    return IPM_OK;
}

const char *ipm_get_filter(const ipm_monitor *m)
{
    return ipm_enter(m, IPM_CALL_get_filter, NULL) == IPM_OK ? m->filter : NULL;
}

int ipm_set_filter(ipm_monitor *m, const char *expression)
{
    int rc = ipm_enter(m, IPM_CALL_set_filter, "filter");
    if (rc != IPM_OK)
        return rc;
    if (!expression)
        expression = "";
    rc = m->source_count ? ipm_filter_apply_all(m, expression, m->direction)
                             : ipm_filter_check_any_link_type(m, expression);
    if (rc != IPM_OK)
        return rc;
    if (ipm_replace_string(&m->filter, expression) != IPM_OK)
        return ipm_fail(m, IPM_E_NO_MEMORY, "out of memory while setting the filter");
    return IPM_OK;
}

int ipm_get_operation_mode(const ipm_monitor *m)
{
    int rc = ipm_enter(m, IPM_CALL_get_operation_mode, NULL);
    return rc != IPM_OK ? rc : m->operation_mode;
}

int ipm_set_operation_mode(ipm_monitor *m, int mode)
{
    int rc = ipm_enter(m, IPM_CALL_set_operation_mode, "changing operation_mode");
    if (rc != IPM_OK)
        return rc;
    if (mode != IPM_OM_CAPTURE && mode != IPM_OM_STAT)
        return ipm_fail(m, IPM_E_INVALID_ARGUMENT,
                        "operation_mode must be 0 (capture) or 1 (statistics), not %d", mode);
    m->operation_mode = mode;
    return IPM_OK;
}

int64_t ipm_get_tag(const ipm_monitor *m)
{
    return ipm_enter(m, IPM_CALL_get_tag, NULL) == IPM_OK ? m->tag : 0;
}

int ipm_set_tag(ipm_monitor *m, int64_t tag)
{
    int rc = ipm_enter(m, IPM_CALL_set_tag, NULL);
    if (rc == IPM_OK)
        m->tag = tag;
    return rc;
}

int ipm_set_on_packet(ipm_monitor *m, ipm_packet_cb cb, void *user)
{
    int rc = ipm_enter(m, IPM_CALL_set_on_packet, NULL);
    if (rc != IPM_OK)
        return rc;
    m->on_packet = cb;
    m->on_packet_user = user;
    return IPM_OK;
}

int ipm_set_on_statistics(ipm_monitor *m, ipm_statistics_cb cb, void *user)
{
    int rc = ipm_enter(m, IPM_CALL_set_on_statistics, NULL);
    if (rc != IPM_OK)
        return rc;
    m->on_statistics = cb;
    m->on_statistics_user = user;
    return IPM_OK;
}

int ipm_set_on_error(ipm_monitor *m, ipm_error_cb cb, void *user)
{
    int rc = ipm_enter(m, IPM_CALL_set_on_error, NULL);
    if (rc != IPM_OK)
        return rc;
    m->on_error = cb;
    m->on_error_user = user;
    return IPM_OK;
}

/* ---- activate / deactivate ------------------------------------------- */

static int is_regular_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Interface names cannot hold '/': such a name, or one ending like a
 * capture file, is a file path, and a missing one is a file error. */
static int looks_like_path(const char *name)
{
    static const char *const endings[] = {".pcap", ".pcapng", ".cap"};
    size_t n = strlen(name);
    if (strchr(name, '/'))
        return 1;
    for (size_t i = 0; i < sizeof endings / sizeof endings[0]; i++) {
        size_t e = strlen(endings[i]);
        if (n > e && strcmp(name + n - e, endings[i]) == 0)
            return 1;
    }
    return 0;
}

/* A name activate takes as a capture file rather than an adapter. */
static int names_a_file(const ipm_monitor *m, const char *name)
{
    return ipm_adapter_index(m, name) < 0 && (is_regular_file(name) || looks_like_path(name));
}

ipm_source *ipm_open_source(ipm_monitor *m, const char *name)
{
    ipm_adapter_settings defaults;
    ipm_source *s;
    int index = ipm_adapter_index(m, name);
    if (ipm_sources_reserve(m, m->source_count + 1) != IPM_OK) {
        ipm_fail(m, IPM_E_NO_MEMORY, "out of memory while opening \"%s\"", name);
        return NULL;
    }
    defaults = m->adapter_defaults;
    if (index >= 0)
        s = ipm_source_open_adapter(m, name, index, &m->adapters[index].settings);
    else if (names_a_file(m, name))
        s = ipm_source_open_file(m, name, &defaults);
    else /* Not listed: an interface made after list_adapters, or a typo that
          * libpcap reports as "no such device". */
        s = ipm_source_open_adapter(m, name, -1, &defaults);
    if (s) {
        m->sources[m->source_count++] = s;
        ipm_follow_mark_seen(m, index);
    }
    return s;
}

void ipm_source_retire(ipm_monitor *m, ipm_source *s)
{
    ipm_totals t;
    /* A gone adapter's socket still answers for what it counted. */
    if ((!s->failed || s->gone) && ipm_source_stats(s, &t) == 0) {
        m->closed_totals.received += t.received;
        m->closed_totals.dropped += t.dropped;
        m->closed_totals.adapter_dropped += t.adapter_dropped;
    }
    ipm_source_free(s);
}

static int check_names(ipm_monitor *m, const char *const *adapters, int count)
{
    if (!adapters || count <= 0 || count > IPM_MAX_SOURCES)
        return ipm_fail(m, IPM_E_INVALID_ARGUMENT,
                        "activate needs 1 to %d adapter names", IPM_MAX_SOURCES);
    for (int i = 0; i < count; i++) {
        if (!adapters[i] || !adapters[i][0])
            return ipm_fail(m, IPM_E_INVALID_ARGUMENT,
                            "the adapter name is empty: pass a name from list_adapters or the "
                            "path of a capture file");
        for (int j = 0; j < i; j++)
            if (strcmp(adapters[i], adapters[j]) == 0)
                return ipm_fail(m, IPM_E_INVALID_ARGUMENT, "adapter \"%s\" is named twice",
                                adapters[i]);
    }
    return IPM_OK;
}

/* The end of every activation, under run_lock, with the sources open:
 * the filter, the baselines, the wait set; then active, or everything
 * closed again (keeping the error that stopped it). */
static int finish_activation(ipm_monitor *m, int rc)
{
    if (rc == IPM_OK)
        rc = ipm_filter_apply_all(m, m->filter, m->direction);
    for (int i = 0; rc == IPM_OK && i < m->source_count; i++)
        ipm_source_take_baseline(m->sources[i]);
    if (rc == IPM_OK && ipm_wait_set_fill(m) != 0) /* an event loop watches ipm_get_fd */
        rc = ipm_fail(m, IPM_E_CAPTURE, "cannot watch the capture through get_fd: %s",
                      strerror(errno));
    memset(&m->closed_totals, 0, sizeof m->closed_totals);
    if (rc != IPM_OK) {
        ipm_close_sources(m); /* keeps the error that stopped the activation */
    } else {
        atomic_store(&m->state, IPM_STATE_ACTIVE);
        ipm_clear_error(m); /* list_adapters' failure above is not the caller's */
    }
    return rc;
}

/* Both activate calls, after their entry guard. The live adapters named
 * are followed (FIXED): one that disappears is closed and reported, and
 * opened again when it comes back. */
static int activate_sources(ipm_monitor *m, const char *const *adapters, int count)
{
    int rc = check_names(m, adapters, count);
    if (rc != IPM_OK)
        return rc;
    if (m->adapter_count == 0)
        ipm_list_adapters(m); /* so listed adapters' settings apply */
    atomic_store(&m->owner_thread, ipm_this_thread());

    pthread_mutex_lock(&m->run_lock);
    m->engine_reason[0] = '\0';
    const char **live = calloc((size_t)count, sizeof *live);
    int nlive = 0;
    for (int i = 0; live && i < count; i++)
        if (!names_a_file(m, adapters[i]))
            live[nlive++] = adapters[i];
    /* The watch first, so that no change after the opening is missed. */
    rc = !live || ipm_sources_reserve(m, 1) != IPM_OK /* do_events' poll set, even empty */
             ? ipm_fail(m, IPM_E_NO_MEMORY, "out of memory while activating")
         : ipm_follow_start(m, nlive ? IPM_FOLLOW_FIXED : IPM_FOLLOW_NONE, live, nlive) != IPM_OK
             ? ipm_fail(m, IPM_E_NO_MEMORY, "out of memory while activating")
             : IPM_OK;
    free(live);
    for (int i = 0; rc == IPM_OK && i < count; i++)
        if (!ipm_open_source(m, adapters[i]))
            rc = m->error->code;
    rc = finish_activation(m, rc);
    pthread_mutex_unlock(&m->run_lock);
    return rc;
}

static int check_patterns(ipm_monitor *m, const char *const *patterns, int count)
{
    if (count < 0 || (count > 0 && !patterns))
        return ipm_fail(m, IPM_E_INVALID_ARGUMENT,
                        "activate_matching needs an array of %d patterns, or NULL and 0 for "
                        "every adapter", count);
    for (int i = 0; i < count; i++)
        if (!patterns[i] || !patterns[i][0] || (patterns[i][0] == '!' && !patterns[i][1]))
            return ipm_fail(m, IPM_E_INVALID_ARGUMENT,
                            "pattern %d is empty: give a name or an fnmatch(3) pattern such "
                            "as \"veth*\", or \"!docker*\" to leave adapters out", i);
    return IPM_OK;
}

/* Only an adapter the OS knows as an interface (an index: not "any",
 * nflog, usbmon...) that is up can be followed. */
static int followable(const ipm_adapter *a)
{
    return a->id > 0 && a->is_up;
}

int ipm_activate_matching(ipm_monitor *m, const char *const *patterns, int count)
{
    int rc = ipm_enter(m, IPM_CALL_activate_matching, NULL);
    if (rc != IPM_OK)
        return rc;
    if ((rc = check_patterns(m, patterns, count)) != IPM_OK)
        return rc;
    atomic_store(&m->owner_thread, ipm_this_thread());
    pthread_mutex_lock(&m->run_lock);
    m->engine_reason[0] = '\0';
    /* The watch before the listing, so that no change after it is missed. */
    if (ipm_sources_reserve(m, 1) != IPM_OK || /* do_events' poll set, even empty */
        ipm_follow_start(m, IPM_FOLLOW_MATCHING, patterns, count) != IPM_OK)
        rc = ipm_fail(m, IPM_E_NO_MEMORY, "out of memory while activating");
    if (rc == IPM_OK && (rc = ipm_list_adapters(m)) != IPM_OK)
        rc = m->error->code;
    for (int i = 0; rc == IPM_OK && i < m->adapter_count; i++) {
        if (!followable(&m->adapters[i]) || !ipm_follow_wants(m, m->adapters[i].name))
            continue;
        if (ipm_open_source(m, m->adapters[i].name))
            continue;
        /* Gone or down since the listing, or not an adapter libpcap can
         * capture on: left out (a change of it brings it in). No privilege
         * or no memory fails the activation, as for any adapter. */
        rc = m->error->code;
        if (rc == IPM_E_ADAPTER_NOT_FOUND || rc == IPM_E_CAPTURE)
            rc = IPM_OK;
    }
    rc = finish_activation(m, rc);
    pthread_mutex_unlock(&m->run_lock);
    return rc;
}

int ipm_activate_many(ipm_monitor *m, const char *const *adapters, int count)
{
    int rc = ipm_enter(m, IPM_CALL_activate_many, NULL);
    return rc != IPM_OK ? rc : activate_sources(m, adapters, count);
}

int ipm_activate(ipm_monitor *m, const char *adapter)
{
    int rc = ipm_enter(m, IPM_CALL_activate, NULL);
    return rc != IPM_OK ? rc : activate_sources(m, &adapter, 1);
}

void ipm_close_sources(ipm_monitor *m)
{
    for (int i = 0; i < m->source_count; i++) {
        ipm_source_retire(m, m->sources[i]);
        m->sources[i] = NULL;
    }
    m->source_count = 0;
    ipm_follow_stop(m);
    ipm_os_wake_drain(m->wake_fd);
    atomic_store(&m->stop_requested, 0);
    atomic_store(&m->state, IPM_STATE_IDLE);
}

int ipm_break_events(ipm_monitor *m)
{
    int rc = ipm_enter(m, IPM_CALL_break_events, NULL);
    if (rc != IPM_OK)
        return rc;
    /* The packet loop stops at the flag as for a deactivate; do_events
     * clears it before it returns, so it never outlives this batch. */
    if (ipm_in_own_callback(m))
        atomic_fetch_or(&m->stop_requested, IPM_STOP_BATCH);
    return IPM_OK;
}

int ipm_deactivate(ipm_monitor *m)
{
    int rc = ipm_enter(m, IPM_CALL_deactivate, NULL);
    if (rc != IPM_OK)
        return rc;
    /* `active` reads 0 from here on; the sources close below or, inside a
     * callback, when do_events unwinds. */
    int expected = IPM_STATE_ACTIVE;
    atomic_compare_exchange_strong(&m->state, &expected, IPM_STATE_STOPPING);
    if (ipm_in_own_callback(m)) {
        /* The handler's caller breaks the loop; do_events closes. */
        atomic_fetch_or(&m->stop_requested, IPM_STOP_DEACTIVATE);
        return IPM_OK;
    }
    /* Stop a do_events that may be waiting or dispatching in another
     * thread (it closes the sources itself), then wait for it. */
    atomic_fetch_or(&m->stop_requested, IPM_STOP_DEACTIVATE);
    ipm_os_wake_signal(m->wake_fd);
    pthread_mutex_lock(&m->run_lock);
    ipm_close_sources(m); /* also drains the wake-up and clears the stop */
    pthread_mutex_unlock(&m->run_lock);
    return IPM_OK;
}

int ipm_get_statistics(ipm_monitor *m, int64_t *received, int64_t *dropped,
                       int64_t *adapter_dropped)
{
    int rc = ipm_enter(m, IPM_CALL_get_statistics, NULL);
    if (rc != IPM_OK)
        return rc;
    ipm_totals sum = m->closed_totals;
    for (int i = 0; i < m->source_count; i++) {
        ipm_totals t;
        if (m->sources[i]->failed || ipm_source_stats(m->sources[i], &t) != 0)
            continue;
        sum.received += t.received;
        sum.dropped += t.dropped;
        sum.adapter_dropped += t.adapter_dropped;
    }
    if (received)
        *received = sum.received;
    if (dropped)
        *dropped = sum.dropped;
    if (adapter_dropped)
        *adapter_dropped = sum.adapter_dropped;
    return IPM_OK;
}

int ipm_get_link_type(const ipm_monitor *m)
{
    int rc = ipm_enter(m, IPM_CALL_get_link_type, NULL);
    if (rc != IPM_OK)
        return rc;
    if (ipm_state_of(m) != IPM_STATE_ACTIVE || m->source_count == 0)
        return ipm_fail(m, IPM_E_NOT_ACTIVE,
                        "the link type is known only while the monitor is active on an adapter");
    return m->sources[0]->link_type;
}

int ipm_get_snapshot_length(const ipm_monitor *m)
{
    int rc = ipm_enter(m, IPM_CALL_get_snapshot_length, NULL);
    if (rc != IPM_OK)
        return rc;
    if (ipm_state_of(m) != IPM_STATE_ACTIVE || m->source_count == 0)
        return ipm_fail(m, IPM_E_NOT_ACTIVE,
                        "the snapshot length is known only while the monitor is active");
    /* every kind of source keeps a libpcap handle that knows it (the
     * kernel engine's a dead one with its snapshot) */
    const ipm_source *s = m->sources[0];
    return s->pcap ? pcap_snapshot(s->pcap) : s->settings.max_packet_bytes;
}
