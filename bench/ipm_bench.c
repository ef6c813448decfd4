/*
 * ipm_bench.c - ipmonitor under the same workloads as raw_pcap_loop, through
 * the public API only, so the two can be compared figure by figure.
 *
 *   ipm_bench [--mode capture|stat] [-f FILTER] -r FILE
 *   ipm_bench [--mode capture|stat] [-f FILTER] [-B KB] [-s SNAPLEN] [-t MS] [-c COUNT] -i IFACE
 *             [--fanout N] [--config NAME=VALUE]...
 *
 * capture: an on_packet callback that counts packets and wire bytes (what
 * raw_pcap_loop's callback does). stat: an on_statistics callback that sums
 * the counts it is given. A file is read to its end; a live adapter until
 * SIGINT/SIGTERM or COUNT packets. -B/-s/-t set the adapter's buffer_size (KB),
 * max_packet_bytes and packet_timeout; without them the library defaults
 * apply. --fanout N (live): N monitors, each in its own thread with its own
 * ring, in one PACKET_FANOUT group (config FanoutGroup) on the adapter; the
 * counts are summed. --config passes a config() setting to every monitor.
 * Prints one JSON line (see bench_common.h).
 */
#include "bench_common.h"

#include <ipmonitor.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

#define MAX_FANOUT 16
#define MAX_CONFIGS 8
static int fanout = 1; /* --fanout: monitors (threads) in one group */
static const char *configs[MAX_CONFIGS];
static int config_count;

static void usage(void)
{
    fprintf(stderr, "usage: ipm_bench [--mode capture|stat] [-f FILTER] "
                    "(-r FILE | [-B KB] [-s SNAPLEN] [-t MS] [-c COUNT] -i IFACE)\n");
    exit(2);
}

/* ipm_bench's own flags: --mode capture|stat, --fanout N, --config NAME=VALUE. */
static int mode_flag(options *o, const char *flag, const char *value)
{
    if (strcmp(flag, "--fanout") == 0) {
        fanout = atoi(value);
        return fanout >= 1 && fanout <= MAX_FANOUT ? 1 : -1;
    }
    if (strcmp(flag, "--config") == 0) {
        if (config_count == MAX_CONFIGS)
            return -1;
        configs[config_count++] = value;
        return 1;
    }
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

/* One monitor and what it counted; with --fanout, one per thread. */
typedef struct worker {
    ipm_monitor *m;
    counts c;
    const options *o;
    pthread_t thread;
    int failed;
} worker;

static int setup(worker *w, const options *o, int group)
{
    ipm_monitor *m = w->m = ipm_new();
    if (!m) {
        fprintf(stderr, "ipm_bench: out of memory\n");
        return 1;
    }
    if (ipm_set_operation_mode(m, o->stat_mode ? IPM_OM_STAT : IPM_OM_CAPTURE) != 0)
        return fail(m, "operation_mode");
    if (o->filter && ipm_set_filter(m, o->filter) != 0)
        return fail(m, "filter");
    for (int i = 0; i < config_count; i++)
        if (!ipm_config(m, configs[i]))
            return fail(m, configs[i]);
    char g[32];
    snprintf(g, sizeof g, "FanoutGroup=%d", group);
    if (group && !ipm_config(m, g))
        return fail(m, "fanout");
    if (o->stat_mode)
        ipm_set_on_statistics(m, on_statistics, &w->c);
    else
        ipm_set_on_packet(m, on_packet, &w->c);
    ipm_set_on_error(m, on_error, NULL);
    if (o->iface && apply_adapter_settings(m, o) != 0)
        return fail(m, "adapter settings");
    if (ipm_activate(m, o->file ? o->file : o->iface) != 0)
        return fail(m, "activate");
    return 0;
}

static void *pump(void *arg)
{
    worker *w = arg;
    while (ipm_get_active(w->m) && !bench_stop_requested &&
           (w->o->limit == 0 || w->c.packets < (uint64_t)w->o->limit)) {
        int rc = ipm_do_events(w->m);
        if (rc != 0 && rc != IPM_E_HANDLER) {
            fprintf(stderr, "ipm_bench: do_events: %s\n", ipm_last_error(w->m));
            w->failed = 1;
            break;
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    options o = parse(argc, argv);
    bench_install_stop_handler();
    if (fanout > 1 && !o.iface) {
        fprintf(stderr, "ipm_bench: --fanout needs a live adapter (-i)\n");
        return 2;
    }
    static worker w[MAX_FANOUT];
    double t0 = bench_now();
    int group = fanout > 1 ? 1000 + (int)(getpid() % 60000) : 0;
    for (int i = 0; i < fanout; i++) {
        w[i].o = &o;
        if (setup(&w[i], &o, group) != 0)
            return 1;
    }
    if (o.iface) {
        bench_announce_ready(o.iface);
        t0 = bench_now();
    }
    for (int i = 1; i < fanout; i++)
        pthread_create(&w[i].thread, NULL, pump, &w[i]);
    pump(&w[0]);
    for (int i = 1; i < fanout; i++)
        pthread_join(w[i].thread, NULL);
    double t1 = bench_now();

    counts c = {0, 0, 0};
    int64_t received = 0, dropped = 0, if_dropped = 0;
    for (int i = 0; i < fanout; i++) {
        int64_t r = -1, d = -1, id = -1;
        if (w[i].failed || ipm_get_statistics(w[i].m, &r, &d, &id) != 0)
            return fail(w[i].m, "get_statistics");
        received += r, dropped += d, if_dropped += id;
        c.packets += w[i].c.packets, c.bytes += w[i].c.bytes;
        ipm_deactivate(w[i].m);
        ipm_free(w[i].m);
    }

    bench_result r = {.prog = "ipm", .mode = o.stat_mode ? "stat" : "capture",
                      .packets = c.packets, .bytes = c.bytes, .seconds = t1 - t0,
                      .received = received, .kernel_drops = dropped, .if_drops = if_dropped};
    bench_print_result(&r);
    return 0;
}
