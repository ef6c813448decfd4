/*
 * source_live.c - a live adapter through libpcap.
 *
 * Opens the adapter with the reference's per-adapter settings (ring size,
 * snapshot length, timeout, promiscuous and monitor mode), in non-blocking
 * mode so that do_events can wait on several adapters with one poll(2).
 * Time stamps are requested in nanoseconds. libpcap's activation errors are
 * turned into messages that say what to do; a missing privilege names the
 * running executable, so the message is complete in any program.
 *
 * An adapter that goes away is told two ways. While it is up, the kernel
 * raises an error on the capture socket when it is deleted (wait_error).
 * Once it is down the socket is unhooked from it, and a delete then raises
 * nothing: so a source whose adapter went down asks the system, once per
 * do_events at most every 100 ms, whether it is up again
 * or gone (refresh).
 */
#include "platform.h"
#include "source.h"

#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* "any": the interface names of recent interface indexes (direct-mapped by
 * index; a miss asks the system once). An index reused by a new interface
 * after a delete keeps the old name until its slot is taken by another. */
#define ANY_NAME_SLOTS 64
typedef struct any_name {
    unsigned ifindex; /* 0: empty */
    char name[IF_NAMESIZE + 8];
} any_name;

/* What only a live source has. */
typedef struct live_priv {
    any_name names[ANY_NAME_SLOTS]; /* used by "any" only */
    /* libpcap's counters are 32-bit: added up in 64 bits, read at least
     * once a second (live_refresh). */
    uint32_t counter_raw[3];
    ipm_totals counter_wide;
    struct timespec counters_read;
} live_priv;

/* pcap_stats' counters are unsigned 32-bit and wrap after 2^32 packets
 * (about 71 minutes at 1 Mpps): add up the differences, modulo 2^32, in
 * 64 bits. Read at least once a second, they cannot wrap twice unseen. */
static int live_stats(ipm_source *s, ipm_totals *out)
{
    live_priv *lp = s->priv;
    struct pcap_stat st;
    if (pcap_stats(s->pcap, &st) != 0)
        return -1;
    const uint32_t raw[3] = {st.ps_recv, st.ps_drop, st.ps_ifdrop};
    int64_t *wide[3] = {&lp->counter_wide.received, &lp->counter_wide.dropped,
                        &lp->counter_wide.adapter_dropped};
    for (int i = 0; i < 3; i++) {
        *wide[i] += (uint32_t)(raw[i] - lp->counter_raw[i]);
        lp->counter_raw[i] = raw[i];
    }
    clock_gettime(CLOCK_MONOTONIC, &lp->counters_read);
    *out = lp->counter_wide;
    return 0;
}

/* Read the counters if a second has passed since they last were, so that
 * libpcap's 32-bit counters never wrap unseen; while the adapter is down,
 * ask whether it is up again or gone (source.c). */
static ipm_wait_state live_refresh(ipm_source *s, const struct timespec *now)
{
    live_priv *lp = s->priv;
    ipm_totals ignored;
    if (now->tv_sec - lp->counters_read.tv_sec >= 1)
        live_stats(s, &ignored);
    return ipm_source_watch_down(s, now);
}

static void live_close(ipm_source *s)
{
    if (s->pcap)
        pcap_close(s->pcap);
    s->pcap = NULL;
}

static int live_set_direction(ipm_source *s, int direction)
{
    pcap_direction_t d = direction == IPM_PACKET_DIRECTION_INCOMING   ? PCAP_D_IN
                         : direction == IPM_PACKET_DIRECTION_OUTGOING ? PCAP_D_OUT
                                                                      : PCAP_D_INOUT;
    if (pcap_setdirection(s->pcap, d) == 0)
        return 0;
    snprintf(s->error, sizeof s->error, "%s", pcap_geterr(s->pcap));
    return -1;
}

/* Replace the program libpcap attached to the socket with the one that
 * also tests the direction; where the platform cannot, libpcap's program
 * and pcap_setdirection keep the result the same. */
static int live_set_kernel_filter(ipm_source *s, struct bpf_program *prog)
{
    return ipm_os_attach_kernel_filter(pcap_fileno(s->pcap), prog->bf_insns, prog->bf_len);
}

const char *ipm_live_packet_adapter(ipm_source *s, const uint8_t *data, uint32_t caplen)
{
    if (caplen < 8)
        return s->name;
    /* struct sll2_header: protocol (2), reserved (2), if_index (4, network order) */
    unsigned ifindex = (unsigned)data[4] << 24 | (unsigned)data[5] << 16 | (unsigned)data[6] << 8 | data[7];
    any_name *slot = &((live_priv *)s->priv)->names[ifindex % ANY_NAME_SLOTS];
    if (__builtin_expect(slot->ifindex == ifindex && ifindex, 1))
        return slot->name;
    if (!if_indextoname(ifindex, slot->name)) /* gone already: say which it was */
        snprintf(slot->name, sizeof slot->name, "if%u", ifindex);
    slot->ifindex = ifindex;
    return slot->name;
}

static const ipm_source_ops live_ops = {
    .dispatch = ipm_source_pcap_dispatch,
    .set_filter = ipm_source_pcap_set_filter,
    .stats = live_stats,
    .close = live_close,
    .wait_error = ipm_source_link_error,
    .link_state = ipm_source_link_state,
    .set_direction = live_set_direction,
    .set_kernel_filter = live_set_kernel_filter,
    .refresh = live_refresh,
};

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
        if (!ipm_os_program_path(exe, sizeof exe))
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
    pcap_set_promisc(p, set->promiscuous_mode);
    pcap_set_timeout(p, set->packet_timeout);
    if (set->buffer_size > 0)
        pcap_set_buffer_size(p, set->buffer_size * 1024);
    if (set->wi_fi_monitor_mode)
        pcap_set_rfmon(p, 1);
    if (m->immediate_mode)
        pcap_set_immediate_mode(p, 1);
    pcap_set_tstamp_precision(p, PCAP_TSTAMP_PRECISION_NANO);
}

/* Link types and time stamp types: libpcap lists and names each kind with
 * its own calls; these choose by kind, so the code using them is one. */
typedef enum type_kind { TYPES_LINK, TYPES_TSTAMP } type_kind;

static int list_of(pcap_t *p, type_kind kind, int **v)
{
    return kind == TYPES_LINK ? pcap_list_datalinks(p, v) : pcap_list_tstamp_types(p, v);
}

static void free_list(type_kind kind, int *v)
{
    if (kind == TYPES_LINK)
        pcap_free_datalinks(v);
    else
        pcap_free_tstamp_types(v);
}

static const char *type_name(type_kind kind, int v)
{
    const char *n = kind == TYPES_LINK ? pcap_datalink_val_to_name(v) : pcap_tstamp_type_val_to_name(v);
    return n ? n : "?";
}

static const char *type_description(type_kind kind, int v)
{
    const char *d = kind == TYPES_LINK ? pcap_datalink_val_to_description(v)
                                       : pcap_tstamp_type_val_to_description(v);
    return d ? d : "?";
}

/* What `p` offers of a kind, "NAME (description), ...", for messages. */
static void offered(pcap_t *p, type_kind kind, char *out, size_t size)
{
    int *v = NULL;
    int n = list_of(p, kind, &v);
    size_t used = (size_t)snprintf(out, size, "%s", n > 0 ? "" : "none");
    for (int i = 0; i < n && used < size; i++) {
        int w = snprintf(out + used, size - used, "%s%s (%s)", i ? ", " : "", type_name(kind, v[i]),
                         type_description(kind, v[i]));
        if (w < 0)
            break;
        used += (size_t)w;
    }
    if (n >= 0)
        free_list(kind, v);
}

/* ipm_live_link_types / ipm_live_time_stamp_types: link types are only
 * known once activated (so the privilege is needed), time stamp types
 * before. */
static int live_types(const char *name, type_kind kind, int *out, int max, char *err)
{
    pcap_t *p = pcap_create(name, err);
    if (!p)
        return IPM_E_ADAPTER_NOT_FOUND;
    int rc = kind == TYPES_LINK ? pcap_activate(p) : 0;
    if (rc < 0) {
        snprintf(err, PCAP_ERRBUF_SIZE, "%s", pcap_geterr(p)[0] ? pcap_geterr(p) : pcap_statustostr(rc));
        pcap_close(p);
        return rc == PCAP_ERROR_NO_SUCH_DEVICE ? IPM_E_ADAPTER_NOT_FOUND
               : rc == PCAP_ERROR_PERM_DENIED ? IPM_E_PERMISSION
                                              : IPM_E_CAPTURE;
    }
    int *v = NULL;
    int n = list_of(p, kind, &v);
    if (n < 0) {
        snprintf(err, PCAP_ERRBUF_SIZE, "%s", pcap_geterr(p));
        pcap_close(p);
        return IPM_E_CAPTURE;
    }
    for (int i = 0; i < n && i < max; i++)
        out[i] = v[i];
    free_list(kind, v);
    pcap_close(p);
    return n;
}

int ipm_live_link_types(const char *name, int *out, int max, char *err)
{
    return live_types(name, TYPES_LINK, out, max, err);
}

int ipm_live_time_stamp_types(const char *name, int *out, int max, char *err)
{
    return live_types(name, TYPES_TSTAMP, out, max, err);
}

/* How packets on this adapter tell their direction when no direction
 * filter is installed. */
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
    /* config TimeStampType: before activation; a type the adapter does not
     * offer is refused here rather than left to a warning. */
    if (m->tstamp_type_choice >= 0 && pcap_set_tstamp_type(p, m->tstamp_type_choice) != 0) {
        char list[512];
        offered(p, TYPES_TSTAMP, list, sizeof list);
        ipm_fail(m, IPM_E_UNSUPPORTED,
                 "adapter \"%s\" has no time stamp type %s (config TimeStampType); it offers: %s", name,
                 type_name(TYPES_TSTAMP, m->tstamp_type_choice), list);
        pcap_close(p);
        return NULL;
    }
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
    /* config FanoutGroup: share the adapter's packets with the group's
     * other sockets (other monitors, in other threads), each its own ring. */
    if (m->fanout_group && ipm_os_join_fanout(pcap_fileno(p), m->fanout_group, m->fanout_mode) != 0) {
        int e = errno;
        ipm_fail(m, e == ENOTSUP ? IPM_E_UNSUPPORTED : IPM_E_CAPTURE,
                 "cannot join fanout group %d on \"%s\": %s%s", m->fanout_group, name, strerror(e),
                 e == EINVAL ? " (every member of a group must use the same FanoutMode, and the "
                               "group must not be in use on another adapter)"
                 : e == ENOTSUP ? " (PACKET_FANOUT is Linux's)"
                                : "");
        pcap_close(p);
        return NULL;
    }
    ipm_source *s = ipm_source_alloc(m, name, adapter_index, settings, sizeof(live_priv));
    if (!s) {
        pcap_close(p);
        return NULL;
    }
    s->ops = &live_ops;
    s->pcap = p;
    s->ts_scale = pcap_get_tstamp_precision(p) == PCAP_TSTAMP_PRECISION_NANO ? 1 : 1000;
    s->wait_fd = pcap_get_selectable_fd(p);
    s->caps = IPM_SOURCE_NEEDS_FILTER;
    s->ifindex = ipm_os_ifindex(name);
    /* config LinkType, else for "any" Linux cooked v2, as tcpdump 4.99
     * opens it: each packet then carries its interface's index, so its event
     * names the real interface (and a pcapng file gets one interface per
     * real adapter). */
    if (m->link_type_choice >= 0 && pcap_set_datalink(p, m->link_type_choice) != 0) {
        char list[512];
        offered(p, TYPES_LINK, list, sizeof list);
        ipm_fail(m, IPM_E_UNSUPPORTED, "adapter \"%s\" cannot capture as link type %s (config LinkType); "
                 "it offers: %s", name, type_name(TYPES_LINK, m->link_type_choice), list);
        ipm_source_free(s);
        return NULL;
    }
    if (m->link_type_choice < 0 && strcmp(name, "any") == 0)
        pcap_set_datalink(p, DLT_LINUX_SLL2);
    s->link_type = s->event.link_type = pcap_datalink(p);
    s->names_per_packet = strcmp(name, "any") == 0 && s->link_type == DLT_LINUX_SLL2;
    ipm_source_choose_direction_method(s);
    return s;
}
