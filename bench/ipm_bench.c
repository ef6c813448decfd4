/*
 * ipm_bench.c - ipmonitor under the same workloads as raw_pcap_loop, through
 * the public API only, so the two can be compared figure by figure.
 *
 *   ipm_bench [--mode capture|stat] [-f FILTER] -r FILE
 *   ipm_bench [--mode capture|stat] [-f FILTER] [-B KB] [-s SNAPLEN] [-t MS] [-c COUNT] -i IFACE
 *
 * capture: an on_packet callback that counts packets and wire bytes (what
 * raw_pcap_loop's callback does). stat: an on_statistics callback that sums
 * the counts it is given. A file is read to its end; a live adapter until
 * SIGINT/SIGTERM or COUNT packets. -B/-s/-t set the adapter's buffer_size (KB),
 * max_packet_bytes and packet_timeout; without them the library defaults
 * apply. Prints one JSON line (see bench_common.h).
 */
#include "bench_common.h"

#include <ipmonitor.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct counts {
    uint64_t packets;
    uint64_t bytes;
    uint64_t stat_events;
} counts;

static int on_packet(const ipm_packet_event *e, void *user)
{
    counts *c = user;
    c->packets++;
    c->bytes += e->packet_size;
    return 0;
}

static int on_statistics(const ipm_statistics_event *e, void *user)
{
    counts *c = user;
    c->packets += (uint64_t)e->captured_packets;
    c->bytes += (uint64_t)e->captured_bytes;
    c->stat_events++;
    return 0;
}

static void on_error(const ipm_error_event *e, void *user)
{
    (void)user;
    fprintf(stderr, "ipm_bench: error event %d: %s\n", e->error_code,
            e->description ? e->description : "");
}

typedef bench_options options;

static void usage(void)
{
    fprintf(stderr, "usage: ipm_bench [--mode capture|stat] [-f FILTER] "
                    "(-r FILE | [-B KB] [-s SNAPLEN] [-t MS] [-c COUNT] -i IFACE)\n");
    exit(2);
}

/* ipm_bench's own flag: --mode capture|stat. */
static int mode_flag(options *o, const char *flag, const char *value)
{
    if (strcmp(flag, "--mode") != 0)
        return 0;
    if (strcmp(value, "stat") != 0 && strcmp(value, "capture") != 0)
        return -1;
    o->stat_mode = strcmp(value, "stat") == 0;
    return 1;
}

static options parse(int argc, char **argv)
{
    options defaults = {.buffer_kb = -1, .snaplen = -1, .timeout_ms = -1};
    return bench_parse(argc, argv, defaults, "ipm_bench", mode_flag, usage);
}

static int fail(ipm_monitor *m, const char *what)
{
    fprintf(stderr, "ipm_bench: %s: %s (%s)\n", what, ipm_last_error(m),
            ipm_strerror(ipm_last_error_code(m)));
    ipm_free(m);
    return 1;
}

/* Per-adapter settings need the adapter's index in the list. */
static int apply_adapter_settings(ipm_monitor *m, const options *o)
{
    if (o->buffer_kb < 0 && o->snaplen < 0 && o->timeout_ms < 0)
        return 0;
    if (ipm_list_adapters(m) != 0)
        return -1;
    int idx = ipm_find_adapter(m, o->iface);
    if (idx < 0)
        return -1;
    if (o->buffer_kb >= 0 && ipm_set_adapter_buffer_size(m, idx, o->buffer_kb) != 0)
        return -1;
    if (o->snaplen >= 0 && ipm_set_adapter_max_packet_bytes(m, idx, o->snaplen) != 0)
        return -1;
    if (o->timeout_ms >= 0 && ipm_set_adapter_packet_timeout(m, idx, o->timeout_ms) != 0)
        return -1;
    return 0;
}

int main(int argc, char **argv)
{
    options o = parse(argc, argv);
    counts c = {0, 0, 0};
    bench_install_stop_handler();

    double t0 = bench_now();
    ipm_monitor *m = ipm_new();
    if (!m) {
        fprintf(stderr, "ipm_bench: out of memory\n");
        return 1;
    }
    if (ipm_set_operation_mode(m, o.stat_mode ? IPM_OM_STAT : IPM_OM_CAPTURE) != 0)
        return fail(m, "operation_mode");
    if (o.filter && ipm_set_filter(m, o.filter) != 0)
        return fail(m, "filter");
    if (o.stat_mode)
        ipm_set_on_statistics(m, on_statistics, &c);
    else
        ipm_set_on_packet(m, on_packet, &c);
    ipm_set_on_error(m, on_error, NULL);
    if (o.iface && apply_adapter_settings(m, &o) != 0)
        return fail(m, "adapter settings");
    if (ipm_activate(m, o.file ? o.file : o.iface) != 0)
        return fail(m, "activate");
    if (o.iface) {
        bench_announce_ready(o.iface);
        t0 = bench_now();
    }
    while (ipm_get_active(m) && !bench_stop_requested &&
           (o.limit == 0 || c.packets < (uint64_t)o.limit)) {
        int rc = ipm_do_events(m);
        if (rc != 0 && rc != IPM_E_HANDLER)
            return fail(m, "do_events");
    }
    double t1 = bench_now();

    int64_t received = -1, dropped = -1, if_dropped = -1;
    if (ipm_get_statistics(m, &received, &dropped, &if_dropped) != 0)
        return fail(m, "get_statistics");
    ipm_deactivate(m);
    ipm_free(m);

    bench_result r = {.prog = "ipm", .mode = o.stat_mode ? "stat" : "capture",
                      .packets = c.packets, .bytes = c.bytes, .seconds = t1 - t0,
                      .received = received, .kernel_drops = dropped, .if_drops = if_dropped};
    bench_print_result(&r);
    return 0;
}
