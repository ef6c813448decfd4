/*
 * test_offline.c - libipmonitor reading capture files through
 * ipm_activate(path). Each case writes its own files with libpcap
 * (pcap_open_dead + pcap_dump: known packets, known time stamps, micro- and
 * nanosecond pcap) and with editcap for pcapng, reads them back and checks
 * count, sizes, time stamps and bytes exactly, plus filters, statistics mode
 * and the monitor deactivating itself at the end of the file.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

static char g_dir[64];

static void remove_dir(void)
{
    if (!g_dir[0])
        return;
    DIR *d = opendir(g_dir);
    if (d) {
        struct dirent *e;
        char p[512];
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.')
                continue;
            snprintf(p, sizeof p, "%s/%s", g_dir, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(g_dir);
}

static void setup(void)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/ipm-offline-XXXXXX");
    REQUIRE(mkdtemp(g_dir) != NULL);
    atexit(remove_dir);
    nh_watchdog(40);
}

static const char *path_of(const char *name)
{
    static char p[4][128];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", g_dir, name);
    return p[k];
}

/* An Ethernet/IPv4/UDP frame 10.0.0.2:sport -> 10.0.0.1:dport with
 * make_payload(seq); returns its length. */
static uint32_t udp_frame(uint8_t *f, int sport, int dport, uint32_t plen, int seq)
{
    static const uint8_t hdr[34] = {
        0x02, 0x77, 0, 0, 0, 1, 0x02, 0x77, 0, 0, 0, 2, 0x08, 0x00, /* ethernet */
        0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 2, 10, 0, 0, 1};
    memcpy(f, hdr, sizeof hdr);
    uint32_t iplen = 20 + 8 + plen;
    f[16] = (uint8_t)(iplen >> 8);
    f[17] = (uint8_t)iplen;
    uint8_t *u = f + 34;
    u[0] = (uint8_t)(sport >> 8);
    u[1] = (uint8_t)sport;
    u[2] = (uint8_t)(dport >> 8);
    u[3] = (uint8_t)dport;
    u[4] = (uint8_t)((8 + plen) >> 8);
    u[5] = (uint8_t)(8 + plen);
    u[6] = u[7] = 0;
    make_payload(u + 8, plen, seq);
    return 42 + plen;
}

typedef struct known {
    int n;
    struct timespec ts[64];
    uint32_t len[64], caplen[64];
    int dport[64];
    uint8_t data[64][1600];
} known;

/* The packets every file case writes: varied sizes, ports, one truncated
 * record (caplen < len), time stamps with distinct sub-second parts. */
static void make_known(known *k, int nano)
{
    static const uint32_t plens[] = {0, 1, 58, 1000, 1458, 300, 12, 700};
    k->n = 8;
    for (int i = 0; i < k->n; i++) {
        k->len[i] = udp_frame(k->data[i], 5000 + i, i % 3 == 0 ? 7003 : 7001, plens[i], i);
        k->caplen[i] = i == 3 ? 60 : k->len[i]; /* one truncated record */
        k->dport[i] = i % 3 == 0 ? 7003 : 7001;
        k->ts[i].tv_sec = 1700000000 + i / 3;
        k->ts[i].tv_nsec = nano ? 123456789 - 1000 * (7 - i) + i : (123456 + 111 * i) * 1000;
    }
}

static void write_pcap(const char *path, const known *k, int nano, int linktype)
{
    pcap_t *p = nano ? pcap_open_dead_with_tstamp_precision(linktype, 65535, PCAP_TSTAMP_PRECISION_NANO)
                     : pcap_open_dead(linktype, 65535);
    REQUIRE(p != NULL);
    pcap_dumper_t *d = pcap_dump_open(p, path);
    REQUIRE(d != NULL);
    for (int i = 0; i < k->n; i++) {
        struct pcap_pkthdr h;
        h.ts.tv_sec = k->ts[i].tv_sec;
        h.ts.tv_usec = nano ? k->ts[i].tv_nsec : k->ts[i].tv_nsec / 1000; /* ns in a nano file */
        h.caplen = k->caplen[i];
        h.len = k->len[i];
        pcap_dump((u_char *)d, &h, k->data[i]);
    }
    pcap_dump_close(d);
    pcap_close(p);
}

/* Read a file through the monitor into c; returns ipm_activate's result. */
static int read_file(ipm_monitor *m, capture *c, const char *path)
{
    cap_attach(c, m);
    int rc = ipm_activate(m, path);
    if (rc != 0)
        return rc;
    CHECK_INT(ipm_get_active(m), ==, 1);
    CHECK_OK(m, pump_until(m, &c->n, 1 << 30, 10000));
    CHECK_INT(ipm_get_active(m), ==, 0); /* deactivated itself at EOF */
    return 0;
}

static void check_known(const capture *c, const known *k, const char *path, int only_port)
{
    int j = 0;
    for (int i = 0; i < k->n; i++) {
        if (only_port && k->dport[i] != only_port)
            continue;
        if (j >= c->n)
            break;
        const cap_pkt *p = &c->p[j++];
        CHECK_INT(p->packet_size, ==, k->len[i]);
        CHECK_INT(p->data_size, ==, k->caplen[i]);
        CHECK(memcmp(p->data, k->data[i], k->caplen[i]) == 0);
        CHECK_INT(ts_ns(p->ts), ==, ts_ns(k->ts[i]));
        CHECK_INT(p->link_type, ==, 1);
        CHECK_INT(p->adapter_index, ==, -1);
        CHECK_STR(p->adapter, path);
        CHECK_INT(p->direction, ==, IPM_PACKET_DIRECTION_UNKNOWN);
    }
    CHECK_INT(c->n, ==, j);
}

static void file_case(int nano, int pcapng)
{
    setup();
    known *k = calloc(1, sizeof *k);
    make_known(k, nano);
    const char *path = path_of(nano ? "nano.pcap" : "micro.pcap");
    write_pcap(path, k, nano, 1);
    if (pcapng) {
        const char *ng = path_of(nano ? "nano.pcapng" : "micro.pcapng");
        REQUIRE(nh_run("editcap -F pcapng '%s' '%s'", path, ng) == 0);
        path = ng;
    }
    ipm_monitor *m = ipm_new();
    capture c;
    cap_init(&c, 64);
    CHECK_OK(m, read_file(m, &c, path));
    CHECK_INT(c.n, ==, k->n);
    check_known(&c, k, path, 0);
    int64_t rcv = -1, drop = -1, ifdrop = -1;
    CHECK_OK(m, ipm_get_statistics(m, &rcv, &drop, &ifdrop));
    CHECK_INT(rcv, ==, k->n);
    CHECK_INT(drop, ==, 0);
    CHECK_INT(ifdrop, ==, 0);
    CHECK_OK(m, ipm_do_events(m)); /* inactive: nothing, at once */
    CHECK_INT(c.n, ==, k->n);

    /* Again with a filter: exactly the matching subset, in order. */
    cap_free(&c);
    cap_init(&c, 64);
    CHECK_OK(m, ipm_set_filter(m, "udp dst port 7001"));
    CHECK_OK(m, read_file(m, &c, path));
    CHECK_INT(c.n, ==, 5);
    check_known(&c, k, path, 7001);
    ipm_free(m);
    cap_free(&c);
    free(k);
}

static void t_pcap_micro(void) { file_case(0, 0); }
static void t_pcap_nano(void) { file_case(1, 0); }
static void t_pcapng_micro(void) { file_case(0, 1); }
static void t_pcapng_nano(void) { file_case(1, 1); }

static void t_file_stats(void)
{
    setup();
    known *k = calloc(1, sizeof *k);
    make_known(k, 0);
    const char *path = path_of("s.pcap");
    write_pcap(path, k, 0, 1);
    int64_t want_bytes = 0, want_7001 = 0;
    for (int i = 0; i < k->n; i++) {
        want_bytes += k->len[i];
        if (k->dport[i] == 7001)
            want_7001 += k->len[i];
    }
    ipm_monitor *m = ipm_new();
    capture c;
    cap_init(&c, 8);
    cap_attach(&c, m);
    statcol s;
    memset(&s, 0, sizeof s);
    CHECK_OK(m, ipm_set_on_statistics(m, stat_on_statistics, &s));
    CHECK_OK(m, ipm_set_operation_mode(m, IPM_OM_STAT));
    CHECK_OK(m, ipm_activate(m, path));
    CHECK_OK(m, pump_until(m, &c.n, 1 << 30, 10000));
    CHECK_INT(ipm_get_active(m), ==, 0);
    CHECK_INT(s.packets, ==, k->n);
    CHECK_INT(s.bytes, ==, want_bytes); /* packet_size, not caplen */
    CHECK_INT(s.events, >=, 1);
    CHECK_STR(s.adapter, path);
    CHECK_INT(c.n, ==, 0);

    memset(&s, 0, sizeof s);
    CHECK_OK(m, ipm_set_filter(m, "udp dst port 7001"));
    CHECK_OK(m, ipm_activate(m, path));
    CHECK_OK(m, pump_until(m, &c.n, 1 << 30, 10000));
    CHECK_INT(s.packets, ==, 5);
    CHECK_INT(s.bytes, ==, want_7001);
    ipm_free(m);
    cap_free(&c);
    free(k);
}

/* Many packets, several dispatch batches: order, count and bytes. */
static void t_file_large(void)
{
    setup();
    const int N = 20000;
    const char *path = path_of("large.pcap");
    pcap_t *p = pcap_open_dead_with_tstamp_precision(1, 65535, PCAP_TSTAMP_PRECISION_NANO);
    pcap_dumper_t *d = pcap_dump_open(p, path);
    REQUIRE(d != NULL);
    static uint8_t f[2000];
    int64_t want_bytes = 0;
    for (int i = 0; i < N; i++) {
        struct pcap_pkthdr h;
        h.len = h.caplen = udp_frame(f, 1000, 7001, (uint32_t)(i % 1400), i);
        h.ts.tv_sec = 1700000000 + i / 1000;
        h.ts.tv_usec = (i % 1000) * 1000000 + 7;
        pcap_dump((u_char *)d, &h, f);
        want_bytes += h.len;
    }
    pcap_dump_close(d);
    pcap_close(p);

    ipm_monitor *m = ipm_new();
    capture c;
    cap_init(&c, N + 1);
    long long t0 = nh_now_ms();
    CHECK_OK(m, read_file(m, &c, path));
    long long took = nh_now_ms() - t0;
    printf("read %d packets in %lld ms\n", c.n, took);
    CHECK_INT(c.n, ==, N);
    int64_t bytes = 0;
    int out_of_order = 0;
    for (int i = 0; i < c.n && i < N; i++) {
        bytes += c.p[i].packet_size;
        const uint8_t *pl;
        uint32_t plen;
        int sp, dp;
        if (parse_udp(c.p[i].data, c.p[i].data_size, &pl, &plen, &sp, &dp) != 0 || plen != (uint32_t)(i % 1400) ||
            (plen >= 4 && (pl[2] << 8 | pl[3]) != (i & 0xffff)) ||
            ts_ns(c.p[i].ts) != (int64_t)(1700000000 + i / 1000) * 1000000000 + (i % 1000) * 1000000 + 7)
            out_of_order++;
    }
    CHECK_INT(out_of_order, ==, 0);
    CHECK_INT(bytes, ==, want_bytes);
    ipm_free(m);
    cap_free(&c);
}

static void t_file_deactivate_in_callback(void)
{
    setup();
    known *k = calloc(1, sizeof *k);
    make_known(k, 0);
    const char *path = path_of("d.pcap");
    write_pcap(path, k, 0, 1);
    ipm_monitor *m = ipm_new();
    capture c;
    cap_init(&c, 16);
    cap_attach(&c, m);
    c.stop_after = 3;
    CHECK_OK(m, ipm_activate(m, path));
    CHECK_OK(m, ipm_do_events(m));
    CHECK_INT(c.n, ==, 3);
    CHECK_INT(c.calls_after_stop, ==, 0);
    CHECK_INT(c.active_after_stop, ==, 0);
    CHECK_INT(ipm_get_active(m), ==, 0);
    CHECK_OK(m, ipm_do_events(m));
    CHECK_INT(c.calls_after_stop, ==, 0);
    /* and reading it again from the start works */
    c.stop_after = 0;
    c.n = 0;
    CHECK_OK(m, read_file(m, &c, path));
    CHECK_INT(c.n, ==, k->n);
    ipm_free(m);
    cap_free(&c);
    free(k);
}

/* A link-type-specific filter where it is valid: 802.11 "type mgt". */
static void t_file_80211_filter(void)
{
    setup();
    const char *path = path_of("wifi.pcap");
    pcap_t *p = pcap_open_dead(DLT_IEEE802_11, 65535);
    pcap_dumper_t *d = pcap_dump_open(p, path);
    REQUIRE(d != NULL);
    uint8_t f[64];
    for (int i = 0; i < 6; i++) {
        memset(f, 0, sizeof f);
        f[0] = i % 2 ? 0x08 : 0x80; /* data : beacon (management) */
        f[30] = (uint8_t)i;
        struct pcap_pkthdr h = {.ts = {1700000000, i}, .caplen = 40, .len = 40};
        pcap_dump((u_char *)d, &h, f);
    }
    pcap_dump_close(d);
    pcap_close(p);
    ipm_monitor *m = ipm_new();
    capture c;
    cap_init(&c, 16);
    CHECK_OK(m, ipm_set_filter(m, "type mgt"));
    CHECK_OK(m, read_file(m, &c, path));
    CHECK_INT(c.n, ==, 3);
    for (int i = 0; i < c.n && i < 3; i++) {
        CHECK_INT(c.p[i].link_type, ==, DLT_IEEE802_11);
        CHECK_INT(c.p[i].data[0], ==, 0x80);
        CHECK_INT(c.p[i].data[30], ==, 2 * i);
    }
    ipm_free(m);
    cap_free(&c);
}

static void t_file_errors(void)
{
    setup();
    known *k = calloc(1, sizeof *k);
    make_known(k, 0);
    const char *good = path_of("good.pcap");
    write_pcap(good, k, 0, 1);
    const char *garbage = path_of("garbage.pcap");
    const char *empty = path_of("empty.pcap");
    REQUIRE(nh_run("printf 'this is not a capture file, not at all\\n' > '%s' && : > '%s'", garbage, empty) == 0);
    const char *missing = path_of("missing.pcap");

    ipm_monitor *m = ipm_new();
    capture c;
    cap_init(&c, 16);
    int rc = ipm_activate(m, missing);
    CHECK_INT(rc, ==, IPM_E_ADAPTER_NOT_FOUND); /* no adapter or file by that name */
    CHECK_INT(ipm_last_error_code(m), ==, rc);
    CHECK_CONTAINS(ipm_last_error(m), "missing.pcap");
    printf("missing file: %d %s\n", rc, ipm_last_error(m));
    CHECK_INT(ipm_get_active(m), ==, 0);

    CHECK_ERR(m, ipm_activate(m, garbage), IPM_E_FILE);
    printf("garbage file: %s\n", ipm_last_error(m));
    CHECK_INT(ipm_get_active(m), ==, 0);
    CHECK_ERR(m, ipm_activate(m, empty), IPM_E_FILE);
    CHECK_INT(ipm_get_active(m), ==, 0);

    /* The same monitor reads a good file afterwards. */
    CHECK_OK(m, read_file(m, &c, good));
    CHECK_INT(c.n, ==, k->n);
    ipm_free(m);
    cap_free(&c);
    free(k);
}

/* A filter valid only for another link type: accepted while inactive
 * (some link type takes it), refused by activation on this file. */
static void t_file_linktype_filter(void)
{
    setup();
    known *k = calloc(1, sizeof *k);
    make_known(k, 0);
    const char *path = path_of("eth.pcap");
    write_pcap(path, k, 0, 1);
    ipm_monitor *m = ipm_new();
    capture c;
    cap_init(&c, 16);
    CHECK_OK(m, ipm_set_filter(m, "type mgt"));
    CHECK_ERR(m, ipm_activate(m, path), IPM_E_BAD_FILTER);
    printf("type mgt on an Ethernet file: %s\n", ipm_last_error(m));
    CHECK_INT(ipm_get_active(m), ==, 0);
    CHECK_OK(m, ipm_set_filter(m, ""));
    CHECK_OK(m, read_file(m, &c, path));
    CHECK_INT(c.n, ==, k->n);
    ipm_free(m);
    cap_free(&c);
    free(k);
}

/* StatisticsDetail on a file: protocol and family split, no direction. */
static void t_file_stats_detail(void)
{
    setup();
    known *k = calloc(1, sizeof *k);
    make_known(k, 0);
    const char *path = path_of("detail.pcap");
    write_pcap(path, k, 0, 1);
    int64_t want_bytes = 0;
    for (int i = 0; i < k->n; i++)
        want_bytes += k->len[i];
    ipm_monitor *m = ipm_new();
    statcol s;
    memset(&s, 0, sizeof s);
    CHECK_OK(m, ipm_set_on_statistics(m, stat_on_statistics, &s));
    CHECK_OK(m, ipm_set_operation_mode(m, IPM_OM_STAT));
    CHECK(ipm_config(m, "StatisticsDetail=1") != NULL);
    CHECK_OK(m, ipm_activate(m, path));
    int dummy = 0;
    CHECK_OK(m, pump_until(m, &dummy, 1, 10000));
    CHECK_INT(ipm_get_active(m), ==, 0);
    CHECK_INT(s.packets, ==, k->n);
    CHECK_INT(s.detail_events, ==, s.events);
    CHECK_INT(s.proto_packets[IPM_PROTO_UDP], ==, k->n);
    CHECK_INT(s.proto_bytes[IPM_PROTO_UDP], ==, want_bytes);
    CHECK_INT(s.family_packets[IPM_FAMILY_IPV4], ==, k->n);
    CHECK_INT(s.in_packets + s.out_packets, ==, 0); /* a file has no directions */
    ipm_free(m);
    free(k);
}

/* ---- the in-place reader against libpcap's own ------------------------ */

/* Write `n` UDP frames of varied sizes (60..9000 bytes, a few jumbo, so
 * records cross the reader's 2 MiB windows), time stamps t0 + i*step. With
 * snaplen < 9000, the larger records carry caplen > snaplen, which libpcap
 * cuts down to the snapshot length when reading. */
static void write_varied(const char *path, int n, int nano, int snaplen)
{
    static uint8_t frame[9100];
    pcap_t *p = pcap_open_dead_with_tstamp_precision(
        DLT_EN10MB, snaplen, nano ? PCAP_TSTAMP_PRECISION_NANO : PCAP_TSTAMP_PRECISION_MICRO);
    pcap_dumper_t *d = pcap_dump_open(p, path);
    REQUIRE(d != NULL);
    for (int i = 0; i < n; i++) {
        uint32_t plen = (uint32_t)((i * 7919) % 1472) + (i % 97 == 0 ? 7000 : 18);
        uint32_t len = udp_frame(frame, 4000 + i % 50, 5000 + i % 3, plen, i);
        struct pcap_pkthdr h;
        h.ts.tv_sec = 1700000000 + i / 1000;
        h.ts.tv_usec = nano ? (i % 1000) * 999999 + 7 : (i % 1000) * 999 + 7;
        h.caplen = h.len = len;
        pcap_dump((u_char *)d, &h, frame);
    }
    pcap_dump_close(d);
    pcap_close(p);
}

/* Every packet libpcap reads from `path` with `filter`, compared with what
 * the monitor delivered: same count, time stamps, lengths and bytes. */
static void check_same_as_libpcap(const capture *c, const char *path, const char *filter)
{
    char err[PCAP_ERRBUF_SIZE];
    pcap_t *p = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_NANO, err);
    REQUIRE(p != NULL);
    struct bpf_program prog;
    REQUIRE(pcap_compile(p, &prog, filter, 1, PCAP_NETMASK_UNKNOWN) == 0);
    REQUIRE(pcap_setfilter(p, &prog) == 0);
    struct pcap_pkthdr *h;
    const u_char *data;
    int i = 0, mismatches = 0;
    while (pcap_next_ex(p, &h, &data) == 1) {
        if (i < c->n) {
            const cap_pkt *k = &c->p[i];
            uint32_t cmp = h->caplen < CAP_DATA_MAX ? h->caplen : CAP_DATA_MAX;
            if (k->ts.tv_sec != h->ts.tv_sec || k->ts.tv_nsec != (long)h->ts.tv_usec ||
                k->packet_size != h->len || k->data_size != h->caplen ||
                memcmp(k->data, data, cmp) != 0)
                mismatches++;
        }
        i++;
    }
    CHECK_INT(c->n, ==, i);
    CHECK_INT(mismatches, ==, 0);
    CHECK(i > 0);
    pcap_freecode(&prog);
    pcap_close(p);
}

static void reader_case(int nano, const char *filter)
{
    const char *path = path_of(nano ? "varied-nano.pcap" : "varied-micro.pcap");
    write_varied(path, 6000, nano, 4000);
    ipm_monitor *m = ipm_new();
    capture c;
    cap_init(&c, 7000);
    CHECK_OK(m, ipm_set_filter(m, filter));
    CHECK_OK(m, read_file(m, &c, path));
    CHECK_INT(c.errors, ==, 0);
    check_same_as_libpcap(&c, path, filter);
    ipm_free(m);
    cap_free(&c);
}

static void t_reader_matches_libpcap(void)
{
    reader_case(0, "");
    reader_case(1, "");
    reader_case(0, "udp dst port 5001 and greater 900");
}

/* Append raw bytes to a file. */
static void append_bytes(const char *path, const void *bytes, size_t n)
{
    FILE *f = fopen(path, "ab");
    REQUIRE(f != NULL);
    REQUIRE(fwrite(bytes, 1, n, f) == n);
    fclose(f);
}

/* What libpcap's reader says about a damaged file: the packets it reads
 * before the damage, and its error text. */
static int libpcap_reads(const char *path, char *error, size_t size)
{
    char err[PCAP_ERRBUF_SIZE];
    pcap_t *p = pcap_open_offline(path, err);
    REQUIRE(p != NULL);
    struct pcap_pkthdr *h;
    const u_char *data;
    int n = 0, rc;
    while ((rc = pcap_next_ex(p, &h, &data)) == 1)
        n++;
    snprintf(error, size, "%s", rc == -1 ? pcap_geterr(p) : "");
    pcap_close(p);
    return n;
}

/* The monitor on a damaged file: the same packets as libpcap, then
 * on_error with libpcap's own message, do_events' error and inactive. */
static void damaged_case(const char *path)
{
    char expected[PCAP_ERRBUF_SIZE];
    int good = libpcap_reads(path, expected, sizeof expected);
    CHECK(expected[0] != '\0');
    ipm_monitor *m = ipm_new();
    capture c;
    cap_init(&c, 7000);
    cap_attach(&c, m);
    CHECK_OK(m, ipm_activate(m, path));
    CHECK_INT(ipm_do_events(m), ==, IPM_E_CAPTURE);
    CHECK_INT(ipm_get_active(m), ==, 0);
    CHECK_INT(c.n, ==, good);
    CHECK_INT(c.errors, ==, 1);
    CHECK_INT(c.last_error_code, ==, IPM_E_CAPTURE);
    CHECK_CONTAINS(c.last_error_desc, expected);
    CHECK_CONTAINS(ipm_last_error(m), expected);
    ipm_free(m);
    cap_free(&c);
}

static void t_reader_damaged_files(void)
{
    const char *path = path_of("damaged.pcap");
    struct { uint32_t sec, frac, caplen, len; } rec = {1700000000, 1, 300000, 300000};
    uint8_t some[100] = {0};

    write_varied(path, 3000, 0, 65535); /* cut inside a record's data */
    REQUIRE(truncate(path, 2 * 1024 * 1024 + 333) == 0);
    damaged_case(path);

    write_varied(path, 10, 0, 65535); /* cut inside a record header */
    append_bytes(path, &rec, 10);
    damaged_case(path);

    write_varied(path, 10, 0, 65535); /* caplen over libpcap's 262144 */
    append_bytes(path, &rec, sizeof rec);
    append_bytes(path, some, sizeof some);
    damaged_case(path);
}

/* Copy a classic pcap file of this machine's byte order into the other
 * byte order, which libpcap's reader reads (not the in-place one). */
static void write_swapped(const char *native, const char *swapped)
{
    FILE *in = fopen(native, "rb"), *out = fopen(swapped, "wb");
    REQUIRE(in && out);
    uint32_t w[6];
    uint16_t v[2];
    REQUIRE(fread(w, 4, 1, in) == 1 && fread(v, 2, 2, in) == 2 && fread(w + 1, 4, 4, in) == 4);
    w[0] = __builtin_bswap32(w[0]);
    v[0] = __builtin_bswap16(v[0]);
    v[1] = __builtin_bswap16(v[1]);
    for (int i = 1; i < 5; i++)
        w[i] = __builtin_bswap32(w[i]);
    fwrite(w, 4, 1, out);
    fwrite(v, 2, 2, out);
    fwrite(w + 1, 4, 4, out);
    static uint8_t data[70000];
    while (fread(w, 4, 4, in) == 4) {
        uint32_t caplen = w[2];
        REQUIRE(fread(data, 1, caplen, in) == caplen);
        for (int i = 0; i < 4; i++)
            w[i] = __builtin_bswap32(w[i]);
        fwrite(w, 4, 4, out);
        fwrite(data, 1, caplen, out);
    }
    fclose(in);
    fclose(out);
}

/* A file in the other byte order goes through libpcap's reader: the same
 * packets either way. */
static void t_reader_swapped_file(void)
{
    const char *native = path_of("native.pcap"), *swapped = path_of("swapped.pcap");
    write_varied(native, 500, 0, 65535);
    write_swapped(native, swapped);
    ipm_monitor *m = ipm_new();
    capture c;
    cap_init(&c, 600);
    CHECK_OK(m, read_file(m, &c, swapped));
    check_same_as_libpcap(&c, swapped, "");
    check_same_as_libpcap(&c, native, "");
    ipm_free(m);
    cap_free(&c);
}

/* A file that changes between activate and do_events is read as it is
 * then, as libpcap's reader would: records appended are read; a file cut
 * short ends with libpcap's truncation error, not a crash. */
static void t_reader_file_changes(void)
{
    const char *path = path_of("changing.pcap"), *more = path_of("more.pcap");
    write_varied(path, 100, 0, 65535);
    write_varied(more, 50, 0, 65535);
    ipm_monitor *m = ipm_new();
    capture c;
    cap_init(&c, 200);
    cap_attach(&c, m);
    CHECK_OK(m, ipm_activate(m, path));
    FILE *in = fopen(more, "rb");
    REQUIRE(in != NULL);
    static uint8_t buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf, in);
    fclose(in);
    append_bytes(path, buf + 24, n - 24); /* its records, not its header */
    CHECK_OK(m, ipm_do_events(m));
    CHECK_INT(ipm_get_active(m), ==, 0);
    check_same_as_libpcap(&c, path, "");
    CHECK_INT(c.n, ==, 150);
    ipm_free(m);
    cap_free(&c);

    write_varied(path, 100, 0, 65535);
    char expected[PCAP_ERRBUF_SIZE];
    m = ipm_new();
    cap_init(&c, 200);
    cap_attach(&c, m);
    CHECK_OK(m, ipm_activate(m, path));
    REQUIRE(truncate(path, 24 + 30 * 16 + 1000) == 0); /* inside some record */
    int good = libpcap_reads(path, expected, sizeof expected);
    CHECK_INT(ipm_do_events(m), ==, IPM_E_CAPTURE);
    CHECK_INT(c.n, ==, good);
    CHECK_CONTAINS(c.last_error_desc, expected);
    ipm_free(m);
    cap_free(&c);
}

/* A file cut short by another process while it is being read (tcpdump's
 * file rotated away, a disk cleaner): the packets before the cut, then
 * libpcap's "truncated dump file" through on_error and do_events, and the
 * process lives on. Reading the file through a memory map died of SIGBUS
 * here, as soon as it touched a page past the new end. */
typedef struct cutter {
    capture c;
    const char *path;
    off_t cut_to;
    int cut_at; /* the packet during which the file is cut */
} cutter;

static int cut_on_packet(const ipm_packet_event *e, void *user)
{
    cutter *k = user;
    if (k->c.n + 1 == k->cut_at)
        REQUIRE(truncate(k->path, k->cut_to) == 0);
    return cap_on_packet(e, &k->c);
}

static void t_reader_truncated_while_read(void)
{
    cutter k = {.path = path_of("shrinking.pcap"), .cut_to = 1024 * 1024 + 333, .cut_at = 10};
    write_varied(k.path, 8000, 0, 65535); /* about 7 MB */
    ipm_monitor *m = ipm_new();
    cap_init(&k.c, 9000);
    cap_attach(&k.c, m);
    CHECK_OK(m, ipm_set_on_packet(m, cut_on_packet, &k));
    CHECK_OK(m, ipm_activate(m, k.path));
    CHECK_INT(ipm_do_events(m), ==, IPM_E_CAPTURE);
    CHECK_INT(ipm_get_active(m), ==, 0);
    char expected[PCAP_ERRBUF_SIZE];
    int good = libpcap_reads(k.path, expected, sizeof expected);
    CHECK_CONTAINS(expected, "truncated dump file");
    CHECK(good > k.cut_at);
    CHECK_INT(k.c.n, ==, good); /* the cut lies past what was read before it */
    CHECK_INT(k.c.errors, ==, 1);
    CHECK_CONTAINS(k.c.last_error_desc, expected);
    ipm_free(m);
    cap_free(&k.c);
}

/* Time stamps whose fraction is a second or more (tcpdump's test capture
 * timestamp_invalid_micro.pcap has 1000000 and 2^31 microseconds) come out
 * normalised, the fraction carried into the seconds, from both readers and
 * in both modes. */
static void write_times(const char *path, int nano, const uint32_t *frac, int n)
{
    uint8_t frame[100];
    pcap_t *p = pcap_open_dead_with_tstamp_precision(
        DLT_EN10MB, 65535, nano ? PCAP_TSTAMP_PRECISION_NANO : PCAP_TSTAMP_PRECISION_MICRO);
    pcap_dumper_t *d = pcap_dump_open(p, path);
    REQUIRE(d != NULL);
    for (int i = 0; i < n; i++) {
        struct pcap_pkthdr h;
        h.caplen = h.len = udp_frame(frame, 4000, 5000, 18, i);
        h.ts.tv_sec = 1700000000;
        h.ts.tv_usec = (suseconds_t)frac[i];
        pcap_dump((u_char *)d, &h, frame);
    }
    pcap_dump_close(d);
    pcap_close(p);
}

static void t_file_invalid_time_stamps(void)
{
    static const uint32_t frac[] = {999999, 1000000, 2147483648u, 4294967295u, 0};
    enum { N = sizeof frac / sizeof frac[0] };
    for (int nano = 0; nano < 2; nano++) {
        const char *native = path_of("times.pcap"), *swapped = path_of("times-swapped.pcap");
        write_times(native, nano, frac, N);
        write_swapped(native, swapped);
        const char *paths[2] = {native, swapped};
        for (int reader = 0; reader < 2; reader++) {
            ipm_monitor *m = ipm_new();
            capture c;
            cap_init(&c, 10);
            CHECK_OK(m, read_file(m, &c, paths[reader]));
            CHECK_INT(c.n, ==, N);
            for (int i = 0; i < c.n && i < N; i++) {
                uint64_t ns = (uint64_t)frac[i] * (nano ? 1 : 1000);
                CHECK_INT(c.p[i].ts.tv_sec, ==, 1700000000 + (int64_t)(ns / 1000000000u));
                CHECK_INT(c.p[i].ts.tv_nsec, ==, (int64_t)(ns % 1000000000u));
            }
            ipm_free(m);
            cap_free(&c);

            /* statistics mode: the event is stamped with the last packet's time */
            m = ipm_new();
            statcol st = {.m = m};
            CHECK_OK(m, ipm_set_on_statistics(m, stat_on_statistics, &st));
            CHECK_OK(m, ipm_set_operation_mode(m, IPM_OM_STAT));
            CHECK_OK(m, ipm_activate(m, paths[reader]));
            CHECK_OK(m, ipm_do_events(m));
            CHECK_INT(st.packets, ==, N);
            CHECK_INT(st.last_ts.tv_sec, ==, 1700000000);
            CHECK_INT(st.last_ts.tv_nsec, ==, 0);
            ipm_free(m);
        }
    }
    /* the last packet's own fraction carried, in statistics mode too */
    static const uint32_t late[] = {2147483648u};
    const char *one = path_of("late.pcap");
    write_times(one, 0, late, 1);
    ipm_monitor *m = ipm_new();
    statcol st = {.m = m};
    CHECK_OK(m, ipm_set_on_statistics(m, stat_on_statistics, &st));
    CHECK_OK(m, ipm_set_operation_mode(m, IPM_OM_STAT));
    CHECK_OK(m, ipm_activate(m, one));
    CHECK_OK(m, ipm_do_events(m));
    CHECK_INT(st.last_ts.tv_sec, ==, 1700000000 + 2147);
    CHECK_INT(st.last_ts.tv_nsec, ==, 483648000);
    ipm_free(m);
}

/* ipm_break_events from on_packet every `every` packets: each do_events
 * returns after that packet, the monitor stays active, and the next one
 * goes on where it stopped, so the packets are exactly libpcap's, in order,
 * with nothing lost or repeated: from the in-place reader and from
 * libpcap's (whose batch a break cuts short without it being the end). */
typedef struct breaker {
    capture c;
    int every, breaks;
} breaker;

static int break_on_packet(const ipm_packet_event *e, void *user)
{
    breaker *b = user;
    int rc = cap_on_packet(e, &b->c);
    if (b->c.n % b->every == 0) {
        CHECK_OK(b->c.m, ipm_break_events(b->c.m));
        b->breaks++;
    }
    return rc;
}

static void t_break_events(void)
{
    const char *native = path_of("break.pcap"), *swapped = path_of("break-swapped.pcap");
    write_varied(native, 700, 1, 65535);
    write_swapped(native, swapped);
    const char *paths[] = {native, swapped};
    const int every[] = {1, 7, 250};
    for (int p = 0; p < 2; p++) {
        for (int k = 0; k < 3; k++) {
            ipm_monitor *m = ipm_new();
            breaker b = {.every = every[k]};
            cap_init(&b.c, 800);
            cap_attach(&b.c, m);
            b.c.m = m;
            CHECK_OK(m, ipm_set_on_packet(m, break_on_packet, &b));
            CHECK_OK(m, ipm_activate(m, paths[p]));
            int calls = 0;
            while (ipm_get_active(m) && calls < 5000) {
                int before = b.c.n;
                CHECK_OK(m, ipm_do_events(m));
                CHECK(b.c.n - before <= every[k]); /* the batch ended at the break */
                calls++;
            }
            CHECK_INT(ipm_get_active(m), ==, 0);
            CHECK(calls >= 700 / every[k]);
            CHECK_INT(b.breaks, ==, 700 / every[k]);
            CHECK_INT(b.c.errors, ==, 0);
            check_same_as_libpcap(&b.c, native, "");
            ipm_free(m);
            cap_free(&b.c);
        }
    }
    /* Outside a handler it does nothing, not even to the next do_events
     * (pcap_breakloop would stop the next loop at once). */
    ipm_monitor *m = ipm_new();
    capture c;
    cap_init(&c, 800);
    cap_attach(&c, m);
    CHECK_OK(m, ipm_break_events(m));
    CHECK_OK(m, ipm_activate(m, native));
    CHECK_OK(m, ipm_break_events(m));
    CHECK_OK(m, ipm_do_events(m));
    CHECK_INT(c.n, ==, 700);
    CHECK_INT(ipm_get_active(m), ==, 0);
    ipm_free(m);
    cap_free(&c);
}

static const t_case CASES[] = {
    {"pcap_micro", t_pcap_micro},
    {"pcap_nano", t_pcap_nano},
    {"pcapng_micro", t_pcapng_micro},
    {"pcapng_nano", t_pcapng_nano},
    {"file_stats", t_file_stats},
    {"file_large", t_file_large},
    {"file_deactivate_in_callback", t_file_deactivate_in_callback},
    {"file_80211_filter", t_file_80211_filter},
    {"file_errors", t_file_errors},
    {"file_linktype_filter", t_file_linktype_filter},
    {"file_stats_detail", t_file_stats_detail},
    {"reader_matches_libpcap", t_reader_matches_libpcap},
    {"reader_damaged_files", t_reader_damaged_files},
    {"reader_swapped_file", t_reader_swapped_file},
    {"reader_file_changes", t_reader_file_changes},
    {"reader_truncated_while_read", t_reader_truncated_while_read},
    {"file_invalid_time_stamps", t_file_invalid_time_stamps},
    {"break_events", t_break_events},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, CASES, 0);
}
