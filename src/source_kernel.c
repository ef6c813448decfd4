/*
 * source_kernel.c - the statistics engine "kernel" (Linux): a live adapter
 * counted by an eBPF socket filter, with no packet ring at all.
 *
 * The ring engine (source_live.c) has the kernel copy the first bytes of
 * every packet into a ring, and counts them in user space. This source
 * instead attaches to a plain AF_PACKET socket (never mapped, never read)
 * a program that runs the user's expression, counts what it matches in a
 * per-CPU map, and returns 0, so nothing is ever queued (bpf_translate.c).
 * Its dispatch reads the map, once per do_events, into the interval
 * counters that events.c turns into on_statistics, exactly as the ring
 * engine's handlers would have filled them.
 *
 * The expression is compiled by libpcap for a live capture on the adapter
 * (its Linux code for `inbound`, `vlan` and `ifindex` reads the packet's
 * metadata, which a "dead" handle cannot): a short-lived handle activated
 * with a small ring, used for the compile and closed again, at opening and
 * at each filter or direction change. A filter change loads and verifies
 * the new program first (prepare_filter, for every adapter before any is
 * swapped) and swaps it in with one setsockopt; the map stays, so nothing
 * is counted twice or lost.
 *
 * ipm_source_open_kernel says why it cannot count an adapter (not
 * Ethernet or loopback, "any", config LinkType or FanoutGroup set, no
 * privilege to load BPF, a filter that does not translate or verify), so
 * that source.c can fall back to the ring engine or refuse.
 */
#include "bpf_translate.h"
#include "platform.h"
#include "source.h"

#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef SO_ATTACH_BPF
#define SO_ATTACH_BPF 50
#endif

/* The compile-only handle's ring: libpcap's smallest useful one. */
#define COMPILE_RING_BYTES (64 * 1024)

typedef struct kernel_priv {
    int sock;     /* AF_PACKET, bound to the adapter once a program is on it */
    int map;      /* the per-CPU counters */
    int prog;     /* the attached program, -1 before the first */
    ipm_bpf_tail tail;
    ipm_bpf_counts read;  /* the map at the previous dispatch */
    ipm_bpf_counts now;   /* scratch for a read */
    int64_t adapter_drops_at_open; /* the interface's own count then */
    /* The program compiled when the source was opened, for the filter.c
     * compile that follows at once with the same text (libpcap's optimizer
     * makes a long expression's compile slow: it is done once). */
    char *opened_text;
    struct bpf_program opened_prog;
    /* A program loaded and verified by prepare_filter, not yet attached,
     * with a copy of the classic program it was made from. */
    int prepared_fd;
    struct bpf_insn *prepared_insns;
    unsigned prepared_len;
} kernel_priv;

/* Compile `text` as a live capture on the adapter would (see the top). */
static int kernel_compile(ipm_source *s, struct bpf_program *prog, const char *text)
{
    kernel_priv *kp = s->priv;
    if (kp->opened_text) {
        int same = strcmp(kp->opened_text, text) == 0;
        free(kp->opened_text);
        kp->opened_text = NULL;
        if (same) {
            *prog = kp->opened_prog; /* handed over: the caller frees it */
            kp->opened_prog.bf_insns = NULL;
            return 0;
        }
        pcap_freecode(&kp->opened_prog);
    }
    char err[PCAP_ERRBUF_SIZE] = "";
    pcap_t *p = pcap_create(s->name, err);
    if (!p) {
        snprintf(s->error, sizeof s->error, "%s", err);
        return -1;
    }
    pcap_set_snaplen(p, pcap_snapshot(s->pcap));
    pcap_set_buffer_size(p, COMPILE_RING_BYTES);
    int rc = pcap_activate(p);
    if (rc < 0)
        snprintf(s->error, sizeof s->error, "%s", pcap_geterr(p)[0] ? pcap_geterr(p) : pcap_statustostr(rc));
    else if ((rc = pcap_compile(p, prog, text, 1, PCAP_NETMASK_UNKNOWN)) != 0)
        snprintf(s->error, sizeof s->error, "%s", pcap_geterr(p));
    pcap_close(p);
    return rc < 0 ? -1 : 0;
}

static void drop_prepared(kernel_priv *kp)
{
    if (kp->prepared_fd >= 0)
        close(kp->prepared_fd);
    kp->prepared_fd = -1;
    free(kp->prepared_insns);
    kp->prepared_insns = NULL;
    kp->prepared_len = 0;
}

/* Load and verify the program for `prog` (translated) without attaching
 * it, so that filter.c knows every adapter takes its program before any is
 * swapped; NULL drops what was prepared. */
static int kernel_prepare_filter(ipm_source *s, struct bpf_program *prog)
{
    kernel_priv *kp = s->priv;
    drop_prepared(kp);
    if (!prog)
        return 0;
    char why[IPM_ERRMSG_MAX / 4];
    int fd = ipm_bpf_counting_filter_load((const ipm_cbpf_insn *)prog->bf_insns, prog->bf_len, kp->map,
                                          &kp->tail, why, sizeof why);
    if (fd < 0) {
        snprintf(s->error, sizeof s->error,
                 "the kernel statistics engine cannot run it (%s); the previous filter stays (config "
                 "StatisticsEngine=ring counts any filter)", why);
        return -1;
    }
    kp->prepared_insns = malloc(prog->bf_len * sizeof *prog->bf_insns);
    if (!kp->prepared_insns) {
        close(fd);
        snprintf(s->error, sizeof s->error, "out of memory");
        return -1;
    }
    memcpy(kp->prepared_insns, prog->bf_insns, prog->bf_len * sizeof *prog->bf_insns);
    kp->prepared_len = prog->bf_len;
    kp->prepared_fd = fd;
    return 0;
}

/* Put the program for `prog` on the socket in place of the old one (which
 * stays if anything fails), the prepared one when it was made from the
 * same classic program; the first one also binds the socket to the
 * adapter, so no packet ever meets it unfiltered. */
static int kernel_set_filter(ipm_source *s, struct bpf_program *prog)
{
    kernel_priv *kp = s->priv;
    int same = kp->prepared_fd >= 0 && kp->prepared_len == prog->bf_len &&
               memcmp(kp->prepared_insns, prog->bf_insns, prog->bf_len * sizeof *prog->bf_insns) == 0;
    if (!same && kernel_prepare_filter(s, prog) != 0)
        return -1;
    int fd = kp->prepared_fd;
    kp->prepared_fd = -1; /* ours now */
    drop_prepared(kp);
    if (setsockopt(kp->sock, SOL_SOCKET, SO_ATTACH_BPF, &fd, sizeof fd) != 0) {
        snprintf(s->error, sizeof s->error, "attaching the BPF program: %s", strerror(errno));
        close(fd);
        return -1;
    }
    if (kp->prog < 0) {
        struct sockaddr_ll addr;
        memset(&addr, 0, sizeof addr);
        addr.sll_family = AF_PACKET;
        addr.sll_protocol = htons(ETH_P_ALL);
        addr.sll_ifindex = (int)s->ifindex;
        if (bind(kp->sock, (struct sockaddr *)&addr, sizeof addr) != 0) {
            snprintf(s->error, sizeof s->error, "binding to \"%s\": %s", s->name, strerror(errno));
            close(fd);
            return -1;
        }
    } else {
        close(kp->prog);
    }
    kp->prog = fd;
    return 0;
}

/* The counters since the previous read, into the interval (see the top). */
static int kernel_dispatch(ipm_source *s, pcap_handler handler)
{
    kernel_priv *kp = s->priv;
    (void)handler;
    if (ipm_bpf_counter_read(kp->map, &kp->now) != 0) {
        snprintf(s->error, sizeof s->error, "reading the BPF counters: %s", strerror(errno));
        return PCAP_ERROR;
    }
    ipm_interval *iv = &s->interval;
    int64_t packets = (int64_t)(kp->now.packets - kp->read.packets);
    iv->packets += packets;
    iv->bytes += (int64_t)(kp->now.bytes - kp->read.bytes);
    int64_t *cell_packets = &iv->cell_packets[0][0][0], *cell_bytes = &iv->cell_bytes[0][0][0];
    _Static_assert(sizeof iv->cell_packets / sizeof(int64_t) == IPM_BPF_CELLS, "one cell each");
    for (int i = 0; i < IPM_BPF_CELLS; i++) {
        cell_packets[i] += (int64_t)(kp->now.cell_packets[i] - kp->read.cell_packets[i]);
        cell_bytes[i] += (int64_t)(kp->now.cell_bytes[i] - kp->read.cell_bytes[i]);
    }
    kp->read = kp->now;
    return packets > INT32_MAX ? INT32_MAX : (int)packets;
}

/* Received: what the program counted (nothing is queued, so nothing is
 * dropped by the socket); the adapter's drops from the interface. */
static int kernel_stats(ipm_source *s, ipm_totals *out)
{
    kernel_priv *kp = s->priv;
    if (ipm_bpf_counter_read(kp->map, &kp->now) != 0)
        return -1;
    int64_t drops = 0;
    out->received = (int64_t)kp->now.packets;
    out->dropped = 0;
    out->adapter_dropped = ipm_os_adapter_drops(s->name, &drops) == 0 && drops >= kp->adapter_drops_at_open
                               ? drops - kp->adapter_drops_at_open
                               : 0;
    return 0;
}

static ipm_wait_state kernel_refresh(ipm_source *s, const struct timespec *now)
{
    return ipm_source_watch_down(s, now);
}

static void kernel_close(ipm_source *s)
{
    kernel_priv *kp = s->priv;
    if (kp->prog >= 0)
        close(kp->prog);
    if (kp->map >= 0)
        close(kp->map);
    if (kp->sock >= 0)
        close(kp->sock);
    kp->prog = kp->map = kp->sock = -1;
    drop_prepared(kp);
    free(kp->opened_text);
    kp->opened_text = NULL;
    if (kp->opened_prog.bf_insns)
        pcap_freecode(&kp->opened_prog);
    if (s->pcap)
        pcap_close(s->pcap);
    s->pcap = NULL;
}

static const ipm_source_ops kernel_ops = {
    .dispatch = kernel_dispatch,
    .set_filter = kernel_set_filter,
    .stats = kernel_stats,
    .close = kernel_close,
    .wait_error = ipm_source_link_error,
    .link_state = ipm_source_link_state,
    .refresh = kernel_refresh,
    .compile = kernel_compile,
    .prepare_filter = kernel_prepare_filter,
};

/* Why this adapter is not for the kernel engine before anything is
 * opened, or NULL when it may be. */
static const char *not_eligible(const ipm_monitor *m, const char *name, const ipm_adapter_settings *set)
{
    if (strcmp(name, "any") == 0)
        return "\"any\" is counted by the ring engine (the kernel engine counts each adapter's own socket)";
    if (m->link_type_choice >= 0)
        return "config LinkType is set (the kernel engine counts Ethernet frames as the adapter gives them)";
    if (m->fanout_group)
        return "config FanoutGroup is set (fanout shares a ring's packets; the kernel engine has no ring)";
    if (set->wi_fi_monitor_mode)
        return "Wi-Fi monitor mode is on (the kernel engine counts Ethernet frames only)";
    return NULL;
}

ipm_source *ipm_source_open_kernel(ipm_monitor *m, const char *name, int adapter_index,
                                   const ipm_adapter_settings *settings, int *code, char *why,
                                   size_t whylen)
{
    *code = IPM_E_UNSUPPORTED;
    const char *no = not_eligible(m, name, settings);
    if (no) {
        snprintf(why, whylen, "%s", no);
        return NULL;
    }
    ipm_source *s = ipm_source_alloc(m, name, adapter_index, settings, sizeof(kernel_priv));
    if (!s) {
        *code = IPM_E_NO_MEMORY;
        snprintf(why, whylen, "out of memory");
        return NULL;
    }
    kernel_priv *kp = s->priv;
    kp->sock = kp->map = kp->prog = kp->prepared_fd = -1;
    kp->tail.detail = m->statistics_detail;
    kp->tail.snapshot = (uint32_t)ipm_stat_snaplen(m);
    s->ops = &kernel_ops;
    s->caps = IPM_SOURCE_NEEDS_FILTER;
    s->counted_in_kernel = 1;
    s->link_type = s->event.link_type = DLT_EN10MB;
    s->ifindex = ipm_os_ifindex(name);
    /* A handle that answers pcap_snapshot and names the link type. */
    s->pcap = pcap_open_dead(DLT_EN10MB, ipm_stat_snaplen(m));
    ipm_os_link_kind kind = ipm_os_link_kind_of(name, s->mac);
    char *text = NULL;
    struct bpf_program prog = {0, NULL};
    int fd = -1;
    if (!s->pcap) {
        *code = IPM_E_NO_MEMORY;
        snprintf(why, whylen, "out of memory");
    } else if (s->ifindex == 0) {
        *code = 0; /* not there: the ring engine says so, as it always has */
        snprintf(why, whylen, "no such adapter");
    } else if (kind != IPM_OS_LINK_ETHERNET && kind != IPM_OS_LINK_LOOPBACK) {
        snprintf(why, whylen, "the kernel engine counts Ethernet and loopback adapters only");
    } else if ((kp->map = ipm_bpf_counter_map_create(why, whylen)) < 0) {
        *code = errno == EPERM ? IPM_E_PERMISSION : IPM_E_UNSUPPORTED;
    } else if ((kp->sock = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) < 0) {
        *code = errno == EPERM ? IPM_E_PERMISSION : IPM_E_CAPTURE;
        snprintf(why, whylen, "opening a packet socket: %s%s", strerror(errno),
                 errno == EPERM ? " (capturing needs CAP_NET_RAW)" : "");
    } else {
        /* The filter as it stands, tried now: a filter the engine cannot run
         * is known before the adapter is given to it. */
        ipm_source_choose_direction_method(s);
        text = ipm_filter_kernel_text(s, m->filter ? m->filter : "", m->direction);
        if (!text) {
            *code = IPM_E_NO_MEMORY;
            snprintf(why, whylen, "out of memory");
        } else if (kernel_compile(s, &prog, text) != 0) {
            *code = 0; /* no permission, or gone: the ring engine reports it in its words */
            snprintf(why, whylen, "%s", s->error);
        } else if ((fd = ipm_bpf_counting_filter_load((const ipm_cbpf_insn *)prog.bf_insns, prog.bf_len,
                                                      kp->map, &kp->tail, why, whylen)) < 0) {
            *code = errno == EPERM ? IPM_E_PERMISSION : IPM_E_UNSUPPORTED;
        }
    }
    if (fd >= 0) {
        close(fd);
        kp->opened_text = text;
        kp->opened_prog = prog;
    } else {
        if (prog.bf_insns)
            pcap_freecode(&prog);
        free(text);
    }
    if (fd < 0) {
        ipm_source_free(s);
        return NULL;
    }
    /* Promiscuous as the ring engine would be: the membership lasts as long
     * as the socket. */
    if (settings->promiscuous_mode) {
        struct packet_mreq mr;
        memset(&mr, 0, sizeof mr);
        mr.mr_ifindex = (int)s->ifindex;
        mr.mr_type = PACKET_MR_PROMISC;
        if (setsockopt(kp->sock, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof mr) != 0) {
            *code = errno == EPERM ? IPM_E_PERMISSION : IPM_E_CAPTURE;
            snprintf(why, whylen, "promiscuous mode on \"%s\": %s", name, strerror(errno));
            ipm_source_free(s);
            return NULL;
        }
    }
    int64_t drops = 0;
    if (ipm_os_adapter_drops(name, &drops) == 0)
        kp->adapter_drops_at_open = drops;
    s->wait_fd = kp->sock; /* never readable; errors (down, gone) show here */
    return s;
}
