/*
 * source_live.c - a live adapter through libpcap.
 *
 * Opens the adapter with the reference's per-adapter settings (ring size,
 * snapshot length, timeout, promiscuous and monitor mode), in non-blocking
 * mode so that do_events can wait on several adapters with one poll(2).
 * Time stamps are requested in nanoseconds. libpcap's activation errors are
 * turned into messages that say what to do; a missing privilege names the
 * running executable, so the message is complete in any program.
 */
#include "platform.h"
#include "source.h"

#include <net/if.h>
#include <net/if_arp.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* pcap_stats' counters are unsigned 32-bit and wrap after 2^32 packets
 * (about 71 minutes at 1 Mpps): add up the differences, modulo 2^32, in
 * 64 bits. Read at least once a second, they cannot wrap twice unseen. */
static int live_stats(ipm_source *s, ipm_totals *out)
{
    struct pcap_stat st;
    if (pcap_stats(s->pcap, &st) != 0)
        return -1;
    const uint32_t raw[3] = {st.ps_recv, st.ps_drop, st.ps_ifdrop};
    int64_t *wide[3] = {&s->counter_wide.received, &s->counter_wide.dropped,
                        &s->counter_wide.adapter_dropped};
    for (int i = 0; i < 3; i++) {
        *wide[i] += (uint32_t)(raw[i] - s->counter_raw[i]);
        s->counter_raw[i] = raw[i];
    }
    clock_gettime(CLOCK_MONOTONIC, &s->counters_read);
    *out = s->counter_wide;
    return 0;
}

static void live_close(ipm_source *s)
{
    if (s->pcap)
        pcap_close(s->pcap);
    s->pcap = NULL;
}

static const ipm_source_ops live_ops = {
    ipm_source_pcap_dispatch, ipm_source_pcap_set_filter, live_stats, live_close,
};

/* The absolute path of the running executable into buf (size > 1), so that
 * a permission error can name the file to setcap; 0 if the OS does not say
 * or the path does not fit. */
static int running_program(char *buf, size_t size)
{
    ssize_t n = readlink("/proc/self/exe", buf, size - 1);
    if (n <= 0 || (size_t)n >= size - 1)
        return 0;
    buf[n] = '\0';
    return 1;
}

/* Turn a failed pcap_activate() into an error with advice. */
static int activation_error(ipm_monitor *m, pcap_t *p, const char *name, int rc)
{
    const char *detail = pcap_geterr(p);
    if (!detail || !detail[0])
        detail = pcap_statustostr(rc);
    switch (rc) {
    case PCAP_ERROR_NO_SUCH_DEVICE:
        return ipm_fail(m, IPM_E_ADAPTER_NOT_FOUND,
                        "adapter \"%s\" not found (%s): call list_adapters to see the "
                        "adapters, or pass the path of a pcap/pcapng file",
                        name, detail);
    case PCAP_ERROR_PERM_DENIED:
    case PCAP_ERROR_PROMISC_PERM_DENIED: {
        char exe[256];
        if (!running_program(exe, sizeof exe))
            return ipm_fail(m, IPM_E_PERMISSION,
                            "no permission to capture on \"%s\" (%s): run as root, or grant "
                            "this program's executable CAP_NET_RAW (and CAP_NET_ADMIN for "
                            "promiscuous mode) with setcap cap_net_raw,cap_net_admin=eip",
                            name, detail);
        return ipm_fail(m, IPM_E_PERMISSION,
                        "no permission to capture on \"%s\" (%s): run as root, or grant this "
                        "program (%s) CAP_NET_RAW (and CAP_NET_ADMIN for promiscuous mode), "
                        "e.g. setcap cap_net_raw,cap_net_admin=eip %s",
                        name, detail, exe, exe);
    }
    case PCAP_ERROR_RFMON_NOTSUP:
        return ipm_fail(m, IPM_E_UNSUPPORTED,
                        "adapter \"%s\" cannot be put in Wi-Fi monitor mode: set "
                        "adapter_wi_fi_monitor_mode to false",
                        name);
    case PCAP_ERROR_IFACE_NOT_UP:
        return ipm_fail(m, IPM_E_CAPTURE, "adapter \"%s\" is down: bring it up (ip link set %s up)",
                        name, name);
    default:
        return ipm_fail(m, IPM_E_CAPTURE, "cannot capture on \"%s\": %s", name, detail);
    }
}

static void set_options(const ipm_monitor *m, pcap_t *p, const ipm_adapter_settings *set,
                        int snaplen)
{
    pcap_set_snaplen(p, snaplen);
    pcap_set_promisc(p, set->promiscuous);
    pcap_set_timeout(p, set->packet_timeout_ms);
    if (set->buffer_size_kb > 0)
        pcap_set_buffer_size(p, set->buffer_size_kb * 1024);
    if (set->wifi_monitor)
        pcap_set_rfmon(p, 1);
    if (m->immediate_mode)
        pcap_set_immediate_mode(p, 1);
    pcap_set_tstamp_precision(p, PCAP_TSTAMP_PRECISION_NANO);
}

/* How packets on this adapter tell their direction when no direction
 * filter is installed. */
static void choose_direction_method(ipm_source *s)
{
    int hw_type = 0;
    if (s->link_type == DLT_LINUX_SLL) {
        s->base_dir_method = IPM_DIRMETHOD_SLL;
    } else if (s->link_type == DLT_LINUX_SLL2) {
        s->base_dir_method = IPM_DIRMETHOD_SLL2;
    } else if (ipm_os_hw_address(s->name, &hw_type, s->mac) == 0 && hw_type == ARPHRD_LOOPBACK) {
        s->base_dir_method = IPM_DIRMETHOD_INCOMING;
    } else if (s->link_type == DLT_EN10MB && hw_type == ARPHRD_ETHER) {
        s->base_dir_method = IPM_DIRMETHOD_ETHER_MAC;
    } else {
        s->base_dir_method = IPM_DIRMETHOD_UNKNOWN;
    }
    s->dir_method = s->base_dir_method;
}

ipm_source *ipm_source_open_live(ipm_monitor *m, const char *name, int adapter_index,
                                 const ipm_adapter_settings *settings)
{
    char err[PCAP_ERRBUF_SIZE];
    int snaplen = m->operation_mode == IPM_OM_STAT ? ipm_stat_snaplen(m)
                  : settings->max_packet_bytes > 0 ? settings->max_packet_bytes
                                                   : IPM_DEFAULT_SNAPLEN;
    pcap_t *p = pcap_create(name, err);
    if (!p) {
        ipm_fail(m, IPM_E_CAPTURE, "cannot capture on \"%s\": %s", name, err);
        return NULL;
    }
    set_options(m, p, settings, snaplen);
    int rc = pcap_activate(p);
    if (rc < 0) {
        activation_error(m, p, name, rc);
        pcap_close(p);
        return NULL;
    }
    if (pcap_setnonblock(p, 1, err) != 0) {
        ipm_fail(m, IPM_E_CAPTURE, "cannot capture on \"%s\": %s", name, err);
        pcap_close(p);
        return NULL;
    }
    ipm_source *s = ipm_source_alloc(m, name, adapter_index, settings);
    if (!s) {
        pcap_close(p);
        return NULL;
    }
    s->ops = &live_ops;
    s->pcap = p;
    s->ts_scale = pcap_get_tstamp_precision(p) == PCAP_TSTAMP_PRECISION_NANO ? 1 : 1000;
    s->poll_fd = pcap_get_selectable_fd(p);
    s->ifindex = if_nametoindex(name);
    s->link_type = s->event.link_type = pcap_datalink(p);
    choose_direction_method(s);
    return s;
}
