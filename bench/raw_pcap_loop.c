/*
 * raw_pcap_loop.c - the benchmarks' reference: the least a program can do
 * with libpcap to count packets. Every ipmonitor figure is compared with this
 * loop measured in the same run.
 *
 *   raw_pcap_loop [-f FILTER] -r FILE         pcap_open_offline (4 KiB stdio buffer)
 *   raw_pcap_loop [-f FILTER] --bigbuf FILE   fopen + setvbuf(128 KiB) + pcap_fopen_offline
 *   raw_pcap_loop [-f FILTER] [-B KB] [-s SNAPLEN] [-t MS] -i IFACE
 *                                              live until SIGINT/SIGTERM
 *                                              (or COUNT packets with -c COUNT)
 *
 * The callback only counts packets and wire bytes, like the counting
 * callback of ipm_bench. Prints one JSON line (see bench_common.h).
 */
#include "bench_common.h"

#include <errno.h>
#include <pcap/pcap.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BIGBUF_SIZE (128 * 1024)

typedef struct counts {
    uint64_t packets;
    uint64_t bytes;
} counts;

/* libpcap's TPACKET_V3 read waits in poll() with no timeout while no block
 * is full, and retries on EINTR: only pcap_breakloop() ends the wait. */
static pcap_t *live_handle;

static void on_stop_signal(int sig)
{
    bench_on_signal(sig);
    if (live_handle)
        pcap_breakloop(live_handle);
}

static void count_cb(u_char *user, const struct pcap_pkthdr *h, const u_char *data)
{
    (void)data;
    counts *c = (counts *)user;
    c->packets++;
    c->bytes += h->len;
}

typedef bench_options options; /* buffer_kb 0: libpcap's default */

static void usage(void)
{
    fprintf(stderr,
            "usage: raw_pcap_loop [-f FILTER] (-r FILE | --bigbuf FILE | "
            "[-B KB] [-s SNAPLEN] [-t MS] [-c COUNT] -i IFACE)\n");
    exit(2);
}

/* raw_pcap_loop's own flag: --bigbuf FILE (a 128 KiB stdio buffer). */
static int bigbuf_flag(options *o, const char *flag, const char *value)
{
    if (strcmp(flag, "--bigbuf") != 0)
        return 0;
    o->file = value;
    o->bigbuf = 1;
    return 1;
}

static options parse(int argc, char **argv)
{
    options defaults = {.snaplen = 262144, .timeout_ms = 1000};
    return bench_parse(argc, argv, defaults, "raw_pcap_loop", bigbuf_flag, usage);
}

static pcap_t *open_file(const options *o, char *err)
{
    if (!o->bigbuf)
        return pcap_open_offline(o->file, err);
    /* glibc ignores setvbuf's size when the buffer is NULL: supply one. */
    static char buf[BIGBUF_SIZE];
    FILE *f = fopen(o->file, "rb");
    if (!f) {
        snprintf(err, PCAP_ERRBUF_SIZE, "%s: %s", o->file, strerror(errno));
        return NULL;
    }
    setvbuf(f, buf, _IOFBF, sizeof buf);
    pcap_t *p = pcap_fopen_offline(f, err);
    if (!p)
        fclose(f);
    return p;
}

static pcap_t *open_live(const options *o, char *err)
{
    pcap_t *p = pcap_create(o->iface, err);
    if (!p)
        return NULL;
    pcap_set_snaplen(p, o->snaplen);
    pcap_set_timeout(p, o->timeout_ms);
    if (o->buffer_kb > 0)
        pcap_set_buffer_size(p, o->buffer_kb * 1024);
    int rc = pcap_activate(p);
    if (rc < 0) {
        snprintf(err, PCAP_ERRBUF_SIZE, "%s: %s", o->iface, pcap_geterr(p));
        pcap_close(p);
        return NULL;
    }
    return p;
}

static int set_filter(pcap_t *p, const char *expr)
{
    struct bpf_program prog;
    if (pcap_compile(p, &prog, expr, 1, PCAP_NETMASK_UNKNOWN) != 0 ||
        pcap_setfilter(p, &prog) != 0) {
        fprintf(stderr, "raw_pcap_loop: filter '%s': %s\n", expr, pcap_geterr(p));
        return -1;
    }
    pcap_freecode(&prog);
    return 0;
}

int main(int argc, char **argv)
{
    options o = parse(argc, argv);
    char err[PCAP_ERRBUF_SIZE];
    counts c = {0, 0};
    bench_install_stop_handler();

    double t0 = bench_now();
    pcap_t *p = o.file ? open_file(&o, err) : open_live(&o, err);
    if (!p) {
        fprintf(stderr, "raw_pcap_loop: %s\n", err);
        return 1;
    }
    if (o.filter && set_filter(p, o.filter) != 0)
        return 1;
    if (o.iface) {
        live_handle = p;
        bench_install_handler(on_stop_signal);
        bench_announce_ready(o.iface);
        t0 = bench_now();
    }
    int rc;
    while (!bench_stop_requested && (o.limit == 0 || c.packets < (uint64_t)o.limit)) {
        rc = pcap_dispatch(p, -1, count_cb, (u_char *)&c);
        if (rc == PCAP_ERROR_BREAK)
            break;
        if (rc == PCAP_ERROR) {
            fprintf(stderr, "raw_pcap_loop: %s\n", pcap_geterr(p));
            return 1;
        }
        if (rc == 0 && o.file)
            break; /* end of file */
    }
    double t1 = bench_now();

    bench_result r = {.prog = "raw", .mode = o.iface ? "live" : o.bigbuf ? "bigbuf" : "offline",
                      .packets = c.packets, .bytes = c.bytes, .seconds = t1 - t0,
                      .kernel_drops = -1, .if_drops = -1, .received = -1};
    struct pcap_stat ps;
    if (o.iface && pcap_stats(p, &ps) == 0) {
        r.received = ps.ps_recv;
        r.kernel_drops = ps.ps_drop;
        r.if_drops = ps.ps_ifdrop;
    }
    pcap_close(p);
    bench_print_result(&r);
    return 0;
}
