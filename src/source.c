/*
 * source.c - what every kind of packet source shares: allocation (with the
 * kind's private state), libpcap's dispatch and filter, statistics since
 * activation, the per-packet direction method, and the statistics-mode
 * snapshot length.
 */
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
