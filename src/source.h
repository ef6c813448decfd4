/*
 * source.h - one interface for packet sources.
 *
 * A source is one libpcap handle that feeds the monitor: a live adapter
 * (source_live.c) or a capture file (source_file.c). Like libpcap's own
 * pcap-int.h, each kind fills a table of operations and keeps what only it
 * needs in a private struct (`priv`) that no other file sees, so the event
 * loop (events.c) and the filter code (filter.c) treat every kind the same
 * way and dispatch packets through one code path. What differs between
 * kinds is said once, here: an op, or a capability bit.
 *
 * Adding a kind (say a kernel statistics engine that counts with eBPF and
 * delivers no packets, only counters): write source_<kind>.c with its
 * private struct, its ops (dispatch may fill s->interval directly; stats
 * gives its counters; set_filter compiles to wherever it filters; leave
 * wait_error/link_state/set_direction/set_kernel_filter/refresh NULL if it has
 * no such thing), its capability bits and its wait_fd (-1 if it never
 * blocks), and an ipm_source_open_<kind>() that monitor.c's open_source
 * calls. events.c and filter.c need no change.
 */
#ifndef IPM_SOURCE_H
#define IPM_SOURCE_H

#include "internal.h"

#include <pcap/pcap.h>
#include <stdio.h>

/* How a source learns each packet's direction (see classify_direction). */
typedef enum ipm_direction_method {
    IPM_DIRMETHOD_FIXED,    /* the kernel filter admits one direction only */
    IPM_DIRMETHOD_ETHER_MAC,/* Ethernet: source MAC == adapter's MAC -> out */
    IPM_DIRMETHOD_SLL,      /* Linux cooked v1: packet type in the header */
    IPM_DIRMETHOD_SLL2,     /* Linux cooked v2: packet type in the header */
    IPM_DIRMETHOD_INCOMING, /* loopback: libpcap keeps only the incoming copy */
    IPM_DIRMETHOD_RECORDED, /* a pcapng file: each packet's epb_flags, read with it
                             * (ipm_source.recorded_direction) */
    IPM_DIRMETHOD_UNKNOWN
} ipm_direction_method;

typedef struct ipm_source ipm_source;

/* What a source's wait reported (see ops.wait_error). */
typedef enum ipm_wait_state {
    IPM_WAIT_OK,   /* nothing to report */
    IPM_WAIT_DOWN, /* the adapter went down; capture resumes when it is up */
    IPM_WAIT_GONE, /* the adapter disappeared: the source is dead */
} ipm_wait_state;

typedef struct ipm_source_ops {
    /* Hand every packet that is there to `handler` (user = the source), as
     * pcap_dispatch does: the count, 0 at the end of a file, PCAP_ERROR
     * with the message in s->error, or PCAP_ERROR_BREAK after a stop. */
    int (*dispatch)(ipm_source *s, pcap_handler handler);
    /* Install a compiled filter (see filter.c): 0, or -1 with s->error. */
    int (*set_filter)(ipm_source *s, struct bpf_program *prog);
    /* Cumulative capture statistics since the source was opened. */
    int (*stats)(ipm_source *s, ipm_totals *out);
    /* Release everything the source holds (not the struct itself). */
    void (*close)(ipm_source *s);

    /* Optional (NULL: the source has no such thing). */
    /* poll(2) reported an error on wait_fd: what happened to the source. */
    ipm_wait_state (*wait_error)(ipm_source *s);
    /* dispatch failed: what the system says of the source's adapter now
     * (libpcap's read may have met the adapter going down or away before
     * do_events' wait did). */
    ipm_wait_state (*link_state)(ipm_source *s);
    /* Keep only packets of one direction (IPM_PACKET_DIRECTION_*, ANY =
     * both) before they reach dispatch: 0, or -1 with s->error. A source
     * with this op gets the user's expression alone from set_filter (the
     * direction is this op's job) unless its link type carries the
     * direction in a cooked header that the program can test. */
    int (*set_direction)(ipm_source *s, int direction);
    /* Put the expression joined with the direction in the kernel, before
     * packets are copied (best effort: failing must not change results). */
    int (*set_kernel_filter)(ipm_source *s, struct bpf_program *prog);
    /* Called once per do_events: keep counters that could wrap up to date,
     * and watch an adapter that went down: IPM_WAIT_GONE once it has been
     * deleted (its socket, unhooked while down, is never told), else OK. */
    ipm_wait_state (*refresh)(ipm_source *s, const struct timespec *now);
    /* Compile a program text for this source (NULL: pcap_compile on
     * s->pcap, optimised): 0, or -1 with s->error. */
    int (*compile)(ipm_source *s, struct bpf_program *prog, const char *text);
    /* Build and check what set_filter would install for `prog`, without
     * installing it (NULL: forget it): 0, or -1 with s->error. filter.c
     * prepares every source before it installs on any, so a program one
     * source refuses leaves all with their old filter. */
    int (*prepare_filter)(ipm_source *s, struct bpf_program *prog);
} ipm_source_ops;

/* Capability bits (ipm_source.caps). */
enum {
    /* Dispatch reads to an end: any return >= 0 means nothing is left and
     * the source has finished (a file). */
    IPM_SOURCE_ENDS = 1 << 0,
    /* Time is the packets' own: on_statistics is stamped with the last
     * packet's time, not the clock (a file is "collected" as it was). */
    IPM_SOURCE_PACKET_CLOCK = 1 << 1,
    /* The kernel truncates packets only to what the filter program keeps,
     * so even "" must be installed; without this bit an accept-all
     * program is left out (libpcap would run it for every packet). */
    IPM_SOURCE_NEEDS_FILTER = 1 << 2,
};

/* Counters since the previous on_statistics of this source. */
typedef struct ipm_interval {
    int64_t packets, bytes;
    /* Detail only: the joint counts, one cell per packet (the split counts
     * of the event are summed from them once per event). First index:
     * direction + 1 (unknown, -, in, out), so a packet costs one index. */
    int64_t cell_packets[4][IPM_PROTO_COUNT][IPM_FAMILY_COUNT];
    int64_t cell_bytes[4][IPM_PROTO_COUNT][IPM_FAMILY_COUNT];
} ipm_interval;

struct ipm_source {
    const ipm_source_ops *ops;
    void *priv;           /* the kind's own state, owned by its source_*.c */
    ipm_monitor *monitor;
    pcap_t *pcap;
    int wait_fd;          /* fd to poll for packets, or -1: always ready */
    unsigned caps;        /* IPM_SOURCE_* */
    int finished;         /* read to its end (IPM_SOURCE_ENDS) */
    int link_type;
    int ts_scale;         /* nanoseconds per unit of pcap_pkthdr.ts.tv_usec */
    int failed;           /* a read error closed this source's capture */
    int gone;             /* its adapter disappeared: closed once its ring is read */
    int has_filter;       /* a program was ever given to libpcap */
    unsigned ifindex;     /* a live adapter's OS index when opened; 0 otherwise
                           * (a file, "any"): what follow.c tells a delete by */
    int counted_in_kernel; /* the statistics engine "kernel" (source_kernel.c) */
    int names_per_packet; /* "any" in Linux cooked v2: each packet's event names
                           * its own interface (ipm_live_packet_adapter) */
    ipm_adapter_settings settings;

    /* Direction of each packet (read per packet, so kept here). */
    ipm_direction_method dir_method;
    int fixed_direction;
    int base_dir_method;  /* the method when no direction filter is set */
    int recorded_direction; /* IPM_DIRMETHOD_RECORDED: the current packet's */
    uint8_t mac[6];

    /* A live adapter's link: reported down, and when last asked since. */
    int link_down;
    struct timespec link_checked;

    /* Per-packet state: the event is filled in place, never allocated. */
    ipm_packet_event event;
    ipm_interval interval;
    int64_t total_packets;
    struct timeval last_packet_time; /* as libpcap gave it: ts_scale units */
    ipm_totals baseline;   /* pcap_stats when the filter went in: see ipm_source_stats */
    ipm_totals last_stats; /* ipm_source_stats at the previous on_statistics */

    char error[512]; /* why an op failed (a libpcap message, or ours around one) */
    char name[]; /* adapter name or file path; event.adapter points here */
};

/* The name of the interface a packet of an "any" source (Linux cooked v2,
 * names_per_packet) came in or went out on, from the header's interface
 * index: a small cache, so the system is asked once per interface. */
const char *ipm_live_packet_adapter(ipm_source *s, const uint8_t *data, uint32_t caplen);

/* The link types (DLT_*) / time stamp types (PCAP_TSTAMP_*) adapter `name`
 * offers, as libpcap lists them (link types need a short activation, so
 * the capture privilege): up to `max` in `out`; the count, or a negative
 * IPM_E_* code with libpcap's reason in err (PCAP_ERRBUF_SIZE bytes). */
int ipm_live_link_types(const char *name, int *out, int max, char *err);
int ipm_live_time_stamp_types(const char *name, int *out, int max, char *err);

/* Open a live adapter / a capture file. On failure returns NULL with the
 * monitor's last error set. `adapter_index` is -1 when not listed. */
ipm_source *ipm_source_open_live(ipm_monitor *m, const char *name, int adapter_index,
                                 const ipm_adapter_settings *settings);
ipm_source *ipm_source_open_file(ipm_monitor *m, const char *path,
                                 const ipm_adapter_settings *settings);
/* A live adapter counted by the statistics engine "kernel" (statistics mode
 * only): the source, or NULL with the reason in `why` and in *code the
 * IPM_E_* a caller that insists on this engine reports (0 when the ring
 * engine's opening would report the problem better: an adapter that is
 * not there, no permission to capture). Sets no error. On a platform
 * without it (source_kernel_none.c) always NULL. */
ipm_source *ipm_source_open_kernel(ipm_monitor *m, const char *name, int adapter_index,
                                   const ipm_adapter_settings *settings, int *code, char *why,
                                   size_t whylen);
/* A live adapter by the monitor's statistics engine (config
 * StatisticsEngine): kernel, else the ring (source_live.c); under auto a
 * fallback's reason is kept for config("StatisticsEngineReason"). NULL with
 * the monitor's error set. */
ipm_source *ipm_source_open_adapter(ipm_monitor *m, const char *name, int adapter_index,
                                    const ipm_adapter_settings *settings);
/* Shared by both kinds: libpcap's own dispatch and filter. */
int ipm_source_pcap_dispatch(ipm_source *s, pcap_handler handler);
int ipm_source_pcap_set_filter(ipm_source *s, struct bpf_program *prog);
/* A zeroed source with `priv_size` zeroed bytes for the kind at s->priv
 * (one allocation, freed by ipm_source_free); NULL with the error set. */
ipm_source *ipm_source_alloc(ipm_monitor *m, const char *name, int adapter_index,
                             const ipm_adapter_settings *settings, size_t priv_size);
void ipm_source_free(ipm_source *s);
/* Capture statistics since activation. The kernel counts from the moment
 * the socket opens, before the filter is attached; what it counted in that
 * window (unfiltered traffic) is the baseline and is left out. */
int ipm_source_stats(ipm_source *s, ipm_totals *out);
void ipm_source_take_baseline(ipm_source *s);
/* Once per do_events: the source's refresh op (IPM_WAIT_OK when it has
 * none or has failed). */
ipm_wait_state ipm_source_refresh(ipm_source *s, const struct timespec *now);

/* How a live adapter's packets tell their direction (base_dir_method),
 * from its link type and kind; set once it is opened. */
void ipm_source_choose_direction_method(ipm_source *s);

/* A live adapter's link, for the wait_error, link_state and refresh ops:
 * what the socket's error (wait_fd) means, what the system says after a
 * failed read, and, once per do_events while the adapter is down (at most
 * every 100 ms), whether it came back (then no longer asked) or was
 * deleted (IPM_WAIT_GONE: its socket, unhooked while down, is never told). */
ipm_wait_state ipm_source_link_error(ipm_source *s);
ipm_wait_state ipm_source_link_state(ipm_source *s);
ipm_wait_state ipm_source_watch_down(ipm_source *s, const struct timespec *now);

/* `text` compiled for s (its compile op, or libpcap on s->pcap): 0, or -1
 * with the reason in s->error. */
int ipm_source_compile(ipm_source *s, struct bpf_program *prog, const char *text);

/* The program text (filter.c) for a source that filters in the kernel
 * only: the expression joined with the direction (and with `inbound` on a
 * loopback, whose outgoing copy the ring engine never sees). malloc'd;
 * NULL when out of memory. */
char *ipm_filter_kernel_text(const ipm_source *s, const char *expression, int direction);

/* Called after a filter was installed: how direction is told from now on. */
void ipm_source_set_direction(ipm_source *s, int direction);

/* The snapshot length statistics mode captures: the few bytes needed to
 * classify a packet (0 = no classification, just count lengths). */
int ipm_stat_snaplen(const ipm_monitor *m);

#endif
