/*
 * source.h - one small interface for packet sources.
 *
 * A source is one libpcap handle that feeds the monitor: a live adapter
 * (source_live.c) or a capture file (source_file.c). Like libpcap's own
 * pcap-int.h, each kind fills a table of operations, so the event loop
 * (events.c) and the filter code (filter.c) treat both the same way and
 * dispatch packets through one code path.
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
    IPM_DIRMETHOD_UNKNOWN
} ipm_direction_method;

typedef struct ipm_source ipm_source;

typedef struct ipm_source_ops {
    /* Hand every packet that is there to `handler` (user = the source), as
     * pcap_dispatch does: the count, 0 at the end of a file, PCAP_ERROR
     * with the message in s->error, or PCAP_ERROR_BREAK after a stop. */
    int (*dispatch)(ipm_source *s, pcap_handler handler);
    /* Install a compiled filter (see filter.c). */
    int (*set_filter)(ipm_source *s, struct bpf_program *prog);
    /* Cumulative capture statistics since the source was opened. */
    int (*stats)(ipm_source *s, ipm_totals *out);
    /* Release everything the source holds (not the struct itself). */
    void (*close)(ipm_source *s);
} ipm_source_ops;

struct ipm_file_map; /* source_file.c: a classic pcap file read in place */

/* Counters since the previous on_statistics of this source. */
typedef struct ipm_interval {
    int64_t packets, bytes;
    int64_t dir_packets[4], dir_bytes[4]; /* index: direction + 1 (unknown, -, in, out) */
    int64_t protocol_packets[IPM_PROTO_COUNT], protocol_bytes[IPM_PROTO_COUNT];
    int64_t family_packets[IPM_FAMILY_COUNT], family_bytes[IPM_FAMILY_COUNT];
} ipm_interval;

struct ipm_source {
    const ipm_source_ops *ops;
    ipm_monitor *monitor;
    pcap_t *pcap;
    int poll_fd;          /* fd to wait on, or -1: always ready (files) */
    unsigned ifindex;     /* the interface captured on; 0 for files and "any" */
    int finished;         /* end of file reached */
    int link_type;
    int ts_scale;         /* nanoseconds per unit of pcap_pkthdr.ts.tv_usec */
    int failed;           /* a read error closed this source's capture */
    int has_filter;       /* a program was ever given to libpcap */
    ipm_adapter_settings settings;

    /* Direction of each packet. */
    ipm_direction_method dir_method;
    int fixed_direction;
    int base_dir_method;  /* the method when no direction filter is set */
    uint8_t mac[6];

    /* Per-packet state: the event is filled in place, never allocated. */
    ipm_packet_event event;
    ipm_interval interval;
    int64_t total_packets;
    struct timespec last_packet_time;
    ipm_totals baseline;   /* pcap_stats when the filter went in: see ipm_source_stats */
    /* libpcap's counters are 32-bit: live sources add up their deltas in
     * 64 bits, read at least once a second (ipm_refresh_counters). */
    uint32_t counter_raw[3];
    ipm_totals counter_wide;
    struct timespec counters_read;
    ipm_totals last_stats; /* ipm_source_stats at the previous on_statistics */

    /* Files only: libpcap's stdio buffer, and the mapping when the file is
     * read in place. */
    char *file_buffer;
    struct ipm_file_map *map;
    char error[PCAP_ERRBUF_SIZE]; /* why dispatch returned PCAP_ERROR */
    char name[]; /* adapter name or file path; event.adapter points here */
};

/* Open a live adapter / a capture file. On failure returns NULL with the
 * monitor's last error set. `adapter_index` is -1 when not listed. */
ipm_source *ipm_source_open_live(ipm_monitor *m, const char *name, int adapter_index,
                                 const ipm_adapter_settings *settings);
ipm_source *ipm_source_open_file(ipm_monitor *m, const char *path,
                                 const ipm_adapter_settings *settings);
/* Shared by both kinds: libpcap's own dispatch and filter. */
int ipm_source_pcap_dispatch(ipm_source *s, pcap_handler handler);
int ipm_source_pcap_set_filter(ipm_source *s, struct bpf_program *prog);
ipm_source *ipm_source_alloc(ipm_monitor *m, const char *name, int adapter_index,
                             const ipm_adapter_settings *settings);
void ipm_source_free(ipm_source *s);
/* Capture statistics since activation. The kernel counts from the moment
 * the socket opens, before the filter is attached; what it counted in that
 * window (unfiltered traffic) is the baseline and is left out. */
int ipm_source_stats(ipm_source *s, ipm_totals *out);
void ipm_source_take_baseline(ipm_source *s);
/* Read a live source's counters if a second has passed since the last read,
 * so that libpcap's 32-bit counters never wrap unseen. */
void ipm_source_refresh_counters(ipm_source *s, const struct timespec *now);

/* Called after a filter was installed: how direction is told from now on. */
void ipm_source_set_direction(ipm_source *s, int direction);

/* The snapshot length statistics mode captures: the few bytes needed to
 * classify a packet (0 = no classification, just count lengths). */
int ipm_stat_snaplen(const ipm_monitor *m);

#endif
