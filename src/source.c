/*
 * source.c - what every kind of packet source shares: allocation (with the
 * kind's private state), libpcap's dispatch and filter, statistics since
 * activation, the per-packet direction method, watching a live adapter's
 * link (down, back up, gone), the statistics-mode snapshot length, and the
 * choice of statistics engine for an adapter.
 */
#include "platform.h"
#include "source.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

ipm_source *ipm_source_alloc(ipm_monitor *m, const char *name, int adapter_index,
                             const ipm_adapter_settings *settings, size_t priv_size)
{
    size_t len = strlen(name) + 1;
    /* The private struct follows the name, aligned for any type. */
    size_t align = _Alignof(max_align_t);
    size_t priv_at = (sizeof(ipm_source) + len + align - 1) / align * align;
    ipm_source *s = calloc(1, priv_at + priv_size);
    if (!s) {
        ipm_fail(m, IPM_E_NO_MEMORY, "out of memory while opening \"%s\"", name);
        return NULL;
    }
    memcpy(s->name, name, len);
    s->priv = priv_size ? (char *)s + priv_at : NULL;
    s->monitor = m;
    s->wait_fd = -1;
    s->ts_scale = 1;
    s->settings = *settings;
    s->event.adapter = s->name;
    s->event.adapter_index = adapter_index;
    s->dir_method = s->base_dir_method = IPM_DIRMETHOD_UNKNOWN;
    return s;
}

int ipm_source_pcap_dispatch(ipm_source *s, pcap_handler handler)
{
    int n = pcap_dispatch(s->pcap, -1, handler, (u_char *)s);
    if (n == PCAP_ERROR)
        snprintf(s->error, sizeof s->error, "%s", pcap_geterr(s->pcap));
    return n;
}

int ipm_source_pcap_set_filter(ipm_source *s, struct bpf_program *prog)
{
    if (pcap_setfilter(s->pcap, prog) == 0)
        return 0;
    snprintf(s->error, sizeof s->error, "%s", pcap_geterr(s->pcap));
    return -1;
}

int ipm_source_compile(ipm_source *s, struct bpf_program *prog, const char *text)
{
    if (s->ops->compile)
        return s->ops->compile(s, prog, text);
    if (pcap_compile(s->pcap, prog, text, 1, PCAP_NETMASK_UNKNOWN) == 0)
        return 0;
    snprintf(s->error, sizeof s->error, "%s", pcap_geterr(s->pcap));
    return -1;
}

void ipm_source_free(ipm_source *s)
{
    if (!s)
        return;
    s->ops->close(s);
    free(s);
}

int ipm_source_stats(ipm_source *s, ipm_totals *out)
{
    if (s->ops->stats(s, out) != 0)
        return -1;
    out->received -= s->baseline.received;
    out->dropped -= s->baseline.dropped;
    out->adapter_dropped -= s->baseline.adapter_dropped;
    return 0;
}

void ipm_source_take_baseline(ipm_source *s)
{
    if (s->ops->stats(s, &s->baseline) != 0)
        memset(&s->baseline, 0, sizeof s->baseline);
    memset(&s->last_stats, 0, sizeof s->last_stats);
}

ipm_wait_state ipm_source_refresh(ipm_source *s, const struct timespec *now)
{
    return s->ops->refresh && !s->failed ? s->ops->refresh(s, now) : IPM_WAIT_OK;
}

void ipm_source_set_direction(ipm_source *s, int direction)
{
    if (direction == IPM_PACKET_DIRECTION_INCOMING || direction == IPM_PACKET_DIRECTION_OUTGOING) {
        s->dir_method = IPM_DIRMETHOD_FIXED;
        s->fixed_direction = direction;
    } else {
        s->dir_method = s->base_dir_method;
    }
}

/* Without detail nothing is read but the length, so one byte per packet
 * lands in the ring. With detail: enough for a Linux cooked v2 header or
 * Ethernet with two VLAN tags, plus an IPv6 header (20 + 40 < 96). */
int ipm_stat_snaplen(const ipm_monitor *m)
{
    return m->statistics_detail ? 96 : 1;
}

void ipm_source_choose_direction_method(ipm_source *s)
{
    ipm_os_link_kind kind = IPM_OS_LINK_UNKNOWN;
    if (s->link_type == DLT_LINUX_SLL) {
        s->base_dir_method = IPM_DIRMETHOD_SLL;
    } else if (s->link_type == DLT_LINUX_SLL2) {
        s->base_dir_method = IPM_DIRMETHOD_SLL2;
    } else if ((kind = ipm_os_link_kind_of(s->name, s->mac)) == IPM_OS_LINK_LOOPBACK) {
        s->base_dir_method = IPM_DIRMETHOD_INCOMING;
    } else if (s->link_type == DLT_EN10MB && kind == IPM_OS_LINK_ETHERNET) {
        s->base_dir_method = IPM_DIRMETHOD_ETHER_MAC;
    } else {
        s->base_dir_method = IPM_DIRMETHOD_UNKNOWN;
    }
    s->dir_method = s->base_dir_method;
}

/* ---- a live adapter's link ----------------------------------------------- */

/* How often a source whose adapter is down asks whether it was deleted. */
#define IPM_LINK_DOWN_CHECK_MS 100

static ipm_wait_state wait_state_of(ipm_os_link_state state)
{
    return state == IPM_OS_LINK_GONE   ? IPM_WAIT_GONE
           : state == IPM_OS_LINK_DOWN ? IPM_WAIT_DOWN
                                       : IPM_WAIT_OK;
}

static long long ms_between(const struct timespec *a, const struct timespec *b)
{
    return (long long)(b->tv_sec - a->tv_sec) * 1000 + (b->tv_nsec - a->tv_nsec) / 1000000;
}

/* A down adapter is watched by ipm_source_watch_down from now on. */
static ipm_wait_state note_down(ipm_source *s, ipm_wait_state state)
{
    if (state == IPM_WAIT_DOWN) {
        s->link_down = 1;
        clock_gettime(CLOCK_MONOTONIC, &s->link_checked);
    }
    return state;
}

ipm_wait_state ipm_source_link_error(ipm_source *s)
{
    return note_down(s, wait_state_of(ipm_os_link_error(s->wait_fd, s->name, s->ifindex)));
}

ipm_wait_state ipm_source_link_state(ipm_source *s)
{
    return note_down(s, wait_state_of(ipm_os_link_check(s->wait_fd, s->name, s->ifindex)));
}

ipm_wait_state ipm_source_watch_down(ipm_source *s, const struct timespec *now)
{
    if (!s->link_down || ms_between(&s->link_checked, now) < IPM_LINK_DOWN_CHECK_MS)
        return IPM_WAIT_OK;
    s->link_checked = *now;
    ipm_wait_state state = wait_state_of(ipm_os_link_check(s->wait_fd, s->name, s->ifindex));
    if (state == IPM_WAIT_OK)
        s->link_down = 0;
    return state == IPM_WAIT_GONE ? IPM_WAIT_GONE : IPM_WAIT_OK;
}

/* ---- the statistics engine ------------------------------------------------ */

ipm_source *ipm_source_open_adapter(ipm_monitor *m, const char *name, int adapter_index,
                                    const ipm_adapter_settings *settings)
{
    if (m->operation_mode == IPM_OM_STAT && m->statistics_engine != IPM_ENGINE_RING) {
        char why[IPM_ERRMSG_MAX / 2];
        int code = 0;
        ipm_source *s = ipm_source_open_kernel(m, name, adapter_index, settings, &code, why, sizeof why);
        if (s)
            return s;
        if (m->statistics_engine == IPM_ENGINE_KERNEL && code != 0) {
            ipm_fail(m, code, "the kernel statistics engine cannot count \"%s\": %s; set config "
                     "StatisticsEngine=auto to count it with the ring engine instead", name, why);
            return NULL;
        }
        size_t used = strlen(m->engine_reason);
        if (used + 2 < sizeof m->engine_reason) /* each adapter's, as long as they fit */
            snprintf(m->engine_reason + used, sizeof m->engine_reason - used, "%s%s: %s", used ? "; " : "",
                     name, why);
    }
    return ipm_source_open_live(m, name, adapter_index, settings);
}
