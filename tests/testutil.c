/*
 * testutil.c - the shared helpers of testutil.h: assertions, the case
 * runner, callback collectors, the live fixture, do_events loops, UDP
 * traffic, the checks the live programs share, frame parsing and the
 * tcpdump cross-check.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

int t_failures;
nh_pair T;

void t_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    t_failures++;
    fprintf(stderr, "FAIL %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
}

int t_main(int argc, char **argv, const t_case *cases, int need_root)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc > 1 && strcmp(argv[1], "--list") == 0) {
        for (const t_case *c = cases; c->name; c++)
            printf("%s\n", c->name);
        return 0;
    }
    if (need_root && geteuid() != 0) {
        printf("SKIP: needs root (network namespaces, raw capture)\n");
        return 77;
    }
    int ran = 0;
    for (const t_case *c = cases; c->name; c++) {
        if (argc > 1 && strcmp(argv[1], c->name) != 0)
            continue;
        printf("== %s\n", c->name);
        c->fn();
        ran++;
        if (argc <= 1)
            break; /* one case per process: each needs its own namespaces */
    }
    if (!ran) {
        fprintf(stderr, "no case named %s (try --list)\n", argc > 1 ? argv[1] : "");
        return 2;
    }
    printf("%s: %d failure(s)\n", t_failures ? "FAILED" : "PASSED", t_failures);
    return t_failures ? 1 : 0;
}

void t_setup_pair(void)
{
    nh_watchdog(40);
    REQUIRE(nh_pair_create(&T) == 0);
    REQUIRE(nh_enter(T.a.ns) == 0);
}

ipm_monitor *t_new_monitor(const char *filter, int timeout_ms)
{
    ipm_monitor *m = ipm_new();
    REQUIRE(m != NULL);
    /* also for adapters that appear later (followed, or activated unlisted) */
    CHECK_OK(m, ipm_set_adapter_packet_timeout(m, IPM_ADAPTER_DEFAULTS, timeout_ms));
    CHECK_OK(m, ipm_list_adapters(m));
    for (int i = 0; i < ipm_get_adapter_count(m); i++)
        CHECK_INT(ipm_get_adapter_packet_timeout(m, i), ==, timeout_ms);
    if (filter)
        CHECK_OK(m, ipm_set_filter(m, filter));
    /* The statistics engine every statistics-mode case runs under: ctest
     * registers those cases once per engine (tests/CMakeLists.txt). */
    const char *engine = t_statistics_engine();
    if (engine) {
        char setting[64];
        snprintf(setting, sizeof setting, "StatisticsEngine=%s", engine);
        REQUIRE(ipm_config(m, setting) != NULL);
    }
    return m;
}

const char *t_statistics_engine(void)
{
    const char *engine = getenv("IPM_TEST_STATISTICS_ENGINE");
    return engine && *engine ? engine : NULL;
}

void t_check_engine(ipm_monitor *m)
{
    const char *want = t_statistics_engine();
    if (!want || ipm_get_operation_mode(m) != IPM_OM_STAT || !ipm_get_active(m))
        return;
    const char *running = ipm_config(m, "StatisticsEngine");
    REQUIRE(running != NULL);
    /* one engine for all ("kernel"), or per adapter ("a=kernel, b=ring") */
    const char *other = strcmp(want, "kernel") == 0 ? "ring" : "kernel";
    if (!strstr(running, want) || strstr(running, other))
        t_fail(__FILE__, __LINE__, "statistics engine: want %s, running %s (reason: %s)", want, running,
               ipm_config(m, "StatisticsEngineReason"));
}

/* ---------------- collectors ---------------- */

void cap_init(capture *c, int max)
{
    memset(c, 0, sizeof *c);
    c->p = calloc((size_t)max, sizeof *c->p);
    REQUIRE(c->p != NULL);
    c->max = max;
    c->error_adapter_index = -2;
}

void cap_free(capture *c)
{
    free(c->p);
    c->p = NULL;
}

int cap_on_packet(const ipm_packet_event *ev, void *user)
{
    capture *c = user;
    if (c->stop_after && c->n >= c->stop_after) {
        c->calls_after_stop++;
        return 0;
    }
    if (c->n < c->max) {
        cap_pkt *p = &c->p[c->n];
        p->ts = ev->time_stamp;
        p->packet_size = ev->packet_size;
        p->data_size = ev->data_size;
        p->direction = ev->direction;
        p->adapter_index = ev->adapter_index;
        p->link_type = ev->link_type;
        snprintf(p->adapter, sizeof p->adapter, "%s", ev->adapter ? ev->adapter : "(null)");
        memcpy(p->data, ev->data, ev->data_size < CAP_DATA_MAX ? ev->data_size : CAP_DATA_MAX);
    }
    c->n++;
    if (c->stop_after && c->n == c->stop_after) {
        c->stop_rc = ipm_deactivate(c->m);
        c->active_after_stop = ipm_get_active(c->m);
    }
    return (c->n % 2 == 0) ? c->odd_result : 0;
}

void cap_on_error(const ipm_error_event *ev, void *user)
{
    capture *c = user;
    c->errors++;
    c->last_error_code = ev->error_code;
    c->last_handler_result = ev->handler_result;
    c->error_adapter_index = ev->adapter_index;
    snprintf(c->last_error_desc, sizeof c->last_error_desc, "%s",
             ev->description ? ev->description : "(null)");
}

void cap_attach(capture *c, ipm_monitor *m)
{
    c->m = m;
    CHECK_OK(m, ipm_set_on_packet(m, cap_on_packet, c));
    CHECK_OK(m, ipm_set_on_error(m, cap_on_error, c));
}

int stat_on_statistics(const ipm_statistics_event *ev, void *user)
{
    statcol *s = user;
    if (s->events++ == 0 && s->m)
        t_check_engine(s->m); /* the engine the run asked for counts this */
    if (ev->captured_packets == 0)
        s->zero_events++;
    s->packets += ev->captured_packets;
    s->bytes += ev->captured_bytes;
    s->dropped += ev->dropped;
    s->in_packets += ev->incoming_packets;
    s->out_packets += ev->outgoing_packets;
    s->in_bytes += ev->incoming_bytes;
    s->out_bytes += ev->outgoing_bytes;
    for (int i = 0; i < IPM_PROTO_COUNT; i++) {
        s->proto_packets[i] += ev->protocol_packets[i];
        s->proto_bytes[i] += ev->protocol_bytes[i];
    }
    for (int i = 0; i < IPM_FAMILY_COUNT; i++)
        s->family_packets[i] += ev->family_packets[i];
    if (ev->detail) {
        s->detail_events++;
        /* every cell summed, and each split recomputed from the cells */
        int64_t all_p = 0, all_b = 0, dir_p[IPM_DIRECTION_CLASSES] = {0};
        int64_t dir_b[IPM_DIRECTION_CLASSES] = {0}, pr_p[IPM_PROTO_COUNT] = {0};
        int64_t pr_b[IPM_PROTO_COUNT] = {0}, fa_p[IPM_FAMILY_COUNT] = {0}, fa_b[IPM_FAMILY_COUNT] = {0};
        for (int d = 0; d < IPM_DIRECTION_CLASSES; d++)
            for (int p = 0; p < IPM_PROTO_COUNT; p++)
                for (int f = 0; f < IPM_FAMILY_COUNT; f++) {
                    int64_t n = ev->class_packets[d][p][f], b = ev->class_bytes[d][p][f];
                    s->class_packets[d][p][f] += n;
                    s->class_bytes[d][p][f] += b;
                    all_p += n, all_b += b;
                    dir_p[d] += n, dir_b[d] += b;
                    pr_p[p] += n, pr_b[p] += b;
                    fa_p[f] += n, fa_b[f] += b;
                }
        int bad = all_p != ev->captured_packets || all_b != ev->captured_bytes ||
                  dir_p[IPM_DIRCLASS_INCOMING] != ev->incoming_packets ||
                  dir_b[IPM_DIRCLASS_INCOMING] != ev->incoming_bytes ||
                  dir_p[IPM_DIRCLASS_OUTGOING] != ev->outgoing_packets ||
                  dir_b[IPM_DIRCLASS_OUTGOING] != ev->outgoing_bytes;
        for (int p = 0; p < IPM_PROTO_COUNT; p++)
            bad |= pr_p[p] != ev->protocol_packets[p] || pr_b[p] != ev->protocol_bytes[p];
        for (int f = 0; f < IPM_FAMILY_COUNT; f++)
            bad |= fa_p[f] != ev->family_packets[f] || fa_b[f] != ev->family_bytes[f];
        if (bad)
            s->joint_mismatches++;
    }
    s->adapter_index = ev->adapter_index;
    snprintf(s->adapter, sizeof s->adapter, "%s", ev->adapter ? ev->adapter : "(null)");
    if (s->events > 1 && ts_ns(ev->time_stamp) < ts_ns(s->last_ts))
        s->ts_backwards++;
    s->last_ts = ev->time_stamp;
    if (s->stop_at_event && s->events == s->stop_at_event)
        ipm_deactivate(s->m);
    return s->result;
}

/* ---------------- the fixture of a live case ---------------- */

void t_live_monitor(t_live *f, t_live_opts o)
{
    memset(f, 0, sizeof *f);
    f->rx = f->rx2 = f->tx = -1;
    if (o.timeout_ms == T_BARE_MONITOR) {
        f->m = ipm_new();
        REQUIRE(f->m != NULL);
        if (o.filter)
            CHECK_OK(f->m, ipm_set_filter(f->m, o.filter));
    } else {
        f->m = t_new_monitor(o.filter, o.timeout_ms ? o.timeout_ms : T_TIMEOUT_MS);
    }
    cap_init(&f->c, o.cap_max ? o.cap_max : 64);
    cap_attach(&f->c, f->m);
    f->s.m = f->m;
    if (o.stats) {
        CHECK_OK(f->m, ipm_set_on_statistics(f->m, stat_on_statistics, &f->s));
        CHECK_OK(f->m, ipm_set_operation_mode(f->m, IPM_OM_STAT));
    }
}

void t_live_setup(t_live *f, t_live_opts o)
{
    t_setup_pair();
    t_live_monitor(f, o);
    if (o.udp >= 1) {
        f->rx = udp_socket(T.a.ns, AF_INET, T_PORT_A);
        f->tx = udp_socket(T.b.ns, AF_INET, 0);
    }
    if (o.udp >= 2)
        f->rx2 = udp_socket(T.a.ns, AF_INET, T_PORT_A2);
}

void t_live_reset(t_live *f)
{
    int max = f->c.max;
    cap_free(&f->c);
    cap_init(&f->c, max);
    cap_attach(&f->c, f->m);
}

void t_live_teardown(t_live *f)
{
    ipm_free(f->m);
    f->m = NULL;
    cap_free(&f->c);
    int *fds[] = {&f->rx, &f->rx2, &f->tx};
    for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
        if (*fds[i] >= 0) {
            close(*fds[i]);
            *fds[i] = -1;
        }
}

/* ---------------- pumping ---------------- */

/* The counter (the one not NULL, if any) is still below want. */
static int below(const int *c32, const int64_t *c64, int64_t want)
{
    return c32 ? *c32 < want : c64 ? *c64 < want : 1;
}

/* The one do_events loop: until the counter reaches want, the monitor goes
 * inactive, the deadline passes, or a call fails (its result is returned). */
static int pump(ipm_monitor *m, const int *c32, const int64_t *c64, int64_t want, int timeout_ms)
{
    long long deadline = nh_now_ms() + timeout_ms;
    while (below(c32, c64, want) && ipm_get_active(m) == 1 && nh_now_ms() < deadline) {
        int rc = ipm_do_events(m);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int pump_until(ipm_monitor *m, const int *counter, int want, int timeout_ms)
{
    return pump(m, counter, NULL, want, timeout_ms);
}

int pump_until64(ipm_monitor *m, const int64_t *counter, int64_t want, int timeout_ms)
{
    return pump(m, NULL, counter, want, timeout_ms);
}

int pump_for(ipm_monitor *m, int ms)
{
    return pump(m, NULL, NULL, 0, ms);
}

/* ---------------- checks the live programs share ---------------- */

int adapter_index(ipm_monitor *m, const char *name)
{
    int i = ipm_find_adapter(m, name);
    CHECK_INT(i, >=, 0);
    return i;
}

void check_adapter_defaults(ipm_monitor *m, int i)
{
    CHECK_INT(ipm_get_adapter_buffer_size(m, i), ==, 1024);
    CHECK_INT(ipm_get_adapter_collect_statistics(m, i), ==, 1);
    CHECK_INT(ipm_get_adapter_max_packet_bytes(m, i), ==, 262144);
    CHECK_INT(ipm_get_adapter_packet_timeout(m, i), ==, 1000);
    CHECK_INT(ipm_get_adapter_promiscuous_mode(m, i), ==, 0);
    CHECK_INT(ipm_get_adapter_wi_fi_monitor_mode(m, i), ==, 0);
}

int mac_is(const uint8_t *d, const char *mac)
{
    unsigned b[6];
    sscanf(mac, "%x:%x:%x:%x:%x:%x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]);
    for (int i = 0; i < 6; i++)
        if (d[i] != b[i])
            return 0;
    return 1;
}

void check_udp_packet(const cap_pkt *p, int family, size_t plen_expected, int seq,
                      int sport, int dport, int direction)
{
    CHECK_INT(p->packet_size, ==, udp_frame_len(family, plen_expected));
    CHECK_INT(p->data_size, ==, p->packet_size);
    CHECK_INT(p->direction, ==, direction);
    CHECK_INT(p->link_type, ==, 1); /* DLT_EN10MB */
    const uint8_t *pl;
    uint32_t plen;
    int sp, dp;
    if (parse_udp(p->data, p->data_size, &pl, &plen, &sp, &dp) != 0) {
        t_fail(__FILE__, __LINE__, "packet %d is not UDP", seq);
        return;
    }
    uint8_t want[1500];
    make_payload(want, plen_expected, seq);
    CHECK_INT(plen, ==, plen_expected);
    CHECK_INT(sp, ==, sport);
    CHECK_INT(dp, ==, dport);
    if (plen == plen_expected && memcmp(pl, want, plen) != 0)
        t_fail(__FILE__, __LINE__, "payload of packet %d differs", seq);
}

void two_way_open(two_way *w)
{
    w->rx_a = udp_socket(T.a.ns, AF_INET, T_PORT_A);
    w->rx_b = udp_socket(T.b.ns, AF_INET, T_PORT_B);
    w->tx_a = udp_socket(T.a.ns, AF_INET, 0);
    w->tx_b = udp_socket(T.b.ns, AF_INET, 0);
}

void two_way_send(two_way *w, int in, int out)
{
    size_t sz[] = {200};
    for (int i = 0; i < in || i < out; i++) {
        if (i < in)
            udp_send(w->tx_b, T.a.ip4, T_PORT_A, 1, sz, 1, i);
        if (i < out)
            udp_send(w->tx_a, T.b.ip4, T_PORT_B, 1, sz, 1, 100 + i);
    }
    CHECK_INT(udp_drain(w->rx_a, in, 3000), ==, in);
    CHECK_INT(udp_drain(w->rx_b, out, 3000), ==, out);
}

void two_way_close(two_way *w)
{
    close(w->rx_a);
    close(w->rx_b);
    close(w->tx_a);
    close(w->tx_b);
}

void send_both_ports(const t_live *f, int seq0)
{
    size_t sz[] = {64};
    for (int i = 0; i < 3; i++) {
        udp_send(f->tx, T.a.ip4, T_PORT_A, 1, sz, 1, seq0 + i);
        udp_send(f->tx, T.a.ip4, T_PORT_A2, 1, sz, 1, seq0 + 10 + i);
    }
    CHECK_INT(udp_drain(f->rx, 3, 3000), ==, 3);
    CHECK_INT(udp_drain(f->rx2, 3, 3000), ==, 3);
}

int count_dport(const capture *c, int from, int port)
{
    int k = 0;
    for (int i = from; i < c->n && i < c->max; i++) {
        const uint8_t *pl;
        uint32_t n;
        int sp, dp;
        if (parse_udp(c->p[i].data, c->p[i].data_size, &pl, &n, &sp, &dp) == 0 && dp == port)
            k++;
    }
    return k;
}

/* ---------------- traffic ---------------- */

int udp_socket(const char *ns, int family, int port)
{
    int s = nh_socket(ns, family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    REQUIRE(s >= 0);
    int one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (family == AF_INET) {
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        REQUIRE(bind(s, (struct sockaddr *)&sa, sizeof sa) == 0);
    } else {
        struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port)};
        REQUIRE(bind(s, (struct sockaddr *)&sa, sizeof sa) == 0);
    }
    /* Large receive buffer: bursts in tests must not be dropped by the peer. */
    int rcv = 4 << 20;
    setsockopt(s, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
    return s;
}

void make_payload(uint8_t *buf, size_t len, int seq)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = (uint8_t)(seq * 31 + i * 7 + 1);
    if (len >= 4) {
        buf[0] = 'I';
        buf[1] = 'P';
        buf[2] = (uint8_t)(seq >> 8);
        buf[3] = (uint8_t)seq;
    }
}

int udp_send(int s, const char *dst_ip, int port, int n, const size_t *sizes, int nsizes, int seq0)
{
    static uint8_t buf[65536];
    struct sockaddr_storage ss;
    socklen_t sl;
    memset(&ss, 0, sizeof ss);
    if (strchr(dst_ip, ':')) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        inet_pton(AF_INET6, dst_ip, &a->sin6_addr);
        sl = sizeof *a;
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)port);
        inet_pton(AF_INET, dst_ip, &a->sin_addr);
        sl = sizeof *a;
    }
    int sent = 0;
    for (int i = 0; i < n; i++) {
        size_t len = sizes[i % nsizes];
        make_payload(buf, len, seq0 + i);
        if (sendto(s, buf, len, 0, (struct sockaddr *)&ss, sl) == (ssize_t)len)
            sent++;
        else
            fprintf(stderr, "sendto %s:%d: %s\n", dst_ip, port, strerror(errno));
    }
    return sent;
}

int udp_drain(int s, int n, int timeout_ms)
{
    static uint8_t buf[65536];
    long long deadline = nh_now_ms() + timeout_ms;
    int got = 0;
    while (got < n) {
        long long left = deadline - nh_now_ms();
        if (left <= 0)
            break;
        struct pollfd pfd = {.fd = s, .events = POLLIN};
        if (poll(&pfd, 1, (int)left) <= 0)
            break;
        if (recv(s, buf, sizeof buf, MSG_DONTWAIT) >= 0)
            got++;
    }
    return got;
}

uint32_t udp_frame_len(int family, size_t payload)
{
    return (uint32_t)(14 + (family == AF_INET6 ? 40 : 20) + 8 + payload);
}

int parse_l4(const uint8_t *d, uint32_t n, int *l4_off, int *family)
{
    if (n < 14)
        return -1;
    int type = d[12] << 8 | d[13];
    if (type == 0x0800 && n >= 34) {
        *family = AF_INET;
        *l4_off = 14 + (d[14] & 0x0f) * 4;
        return d[23];
    }
    if (type == 0x86dd && n >= 54) {
        *family = AF_INET6;
        *l4_off = 54;
        return d[20]; /* tests send no extension headers */
    }
    return -1;
}

int parse_udp(const uint8_t *d, uint32_t n, const uint8_t **payload, uint32_t *plen,
              int *sport, int *dport)
{
    int off, family;
    if (parse_l4(d, n, &off, &family) != 17 || n < (uint32_t)off + 8)
        return -1;
    const uint8_t *u = d + off;
    uint32_t ulen = (uint32_t)(u[4] << 8 | u[5]);
    if (ulen < 8 || n < (uint32_t)off + ulen)
        return -1;
    *sport = u[0] << 8 | u[1];
    *dport = u[2] << 8 | u[3];
    *payload = u + 8;
    *plen = ulen - 8;
    return 0;
}

int64_t realtime_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return ts_ns(t);
}

/* ---------------- tcpdump cross-check ---------------- */

int tcpdump_start(tcpdump_run *t, const char *ns, const char *ifname, const char *filter)
{
    static unsigned n;
    snprintf(t->path, sizeof t->path, "/tmp/ipm-test-%d-%u.pcap", (int)getpid(), n++);
    unlink(t->path);
    char *argv[] = {"ip", "netns", "exec", (char *)ns, "tcpdump", "-nn", "-U", "--immediate-mode", "-Z", "root",
                    "-i", (char *)ifname, "-w", t->path, (char *)filter, NULL};
    t->pid = nh_spawn(argv, &t->errfd);
    if (t->pid < 0)
        return -1;
    /* tcpdump says "listening on" once its capture is open. */
    char buf[1024];
    size_t have = 0;
    long long deadline = nh_now_ms() + 10000;
    while (nh_now_ms() < deadline && have < sizeof buf - 1) {
        struct pollfd pfd = {.fd = t->errfd, .events = POLLIN};
        if (poll(&pfd, 1, 200) <= 0)
            continue;
        ssize_t r = read(t->errfd, buf + have, sizeof buf - 1 - have);
        if (r <= 0)
            break;
        have += (size_t)r;
        buf[have] = '\0';
        if (strstr(buf, "listening on"))
            return 0;
    }
    buf[have] = '\0';
    fprintf(stderr, "tcpdump did not start: %s\n", buf);
    kill(t->pid, SIGKILL);
    waitpid(t->pid, NULL, 0);
    close(t->errfd);
    return -1;
}

int tcpdump_finish(tcpdump_run *t, capture *c)
{
    kill(t->pid, SIGINT);
    int st;
    waitpid(t->pid, &st, 0);
    close(t->errfd);
    char err[PCAP_ERRBUF_SIZE];
    pcap_t *p = pcap_open_offline_with_tstamp_precision(t->path, PCAP_TSTAMP_PRECISION_NANO, err);
    if (!p) {
        fprintf(stderr, "reading tcpdump's file: %s\n", err);
        return -1;
    }
    struct pcap_pkthdr *h;
    const u_char *d;
    while (pcap_next_ex(p, &h, &d) == 1) {
        if (c->n < c->max) {
            cap_pkt *q = &c->p[c->n];
            q->ts.tv_sec = h->ts.tv_sec;
            q->ts.tv_nsec = h->ts.tv_usec;
            q->packet_size = h->len;
            q->data_size = h->caplen;
            q->link_type = pcap_datalink(p);
            memcpy(q->data, d, h->caplen < CAP_DATA_MAX ? h->caplen : CAP_DATA_MAX);
        }
        c->n++;
    }
    pcap_close(p);
    unlink(t->path);
    return 0;
}

/* The link-layer source of a captured packet: the Ethernet source MAC (bytes
 * 6..11), which on a veth pair tells the two directions apart. */
static int same_sender(const cap_pkt *x, const cap_pkt *y)
{
    if (x->data_size < 12 || y->data_size < 12)
        return x->data_size < 12 && y->data_size < 12;
    return memcmp(x->data + 6, y->data + 6, 6) == 0;
}

static int same_packet(const cap_pkt *x, const cap_pkt *y)
{
    uint32_t len = x->data_size < CAP_DATA_MAX ? x->data_size : CAP_DATA_MAX;
    return x->packet_size == y->packet_size && x->data_size == y->data_size && memcmp(x->data, y->data, len) == 0;
}

/* Two packet sockets on one adapter can see packets from its two ends in a
 * different order: the kernel hands an outgoing packet to the taps on the
 * sending CPU and an incoming one on the receiving CPU, socket by socket, so
 * when both happen at once one socket may get the ACK first and the other the
 * segment. What must agree is each sender's packets, in order, and the counts.
 * So the captures are compared sender by sender (by link-layer source), each
 * subsequence packet by packet. */
int compare_captures(const capture *a, const char *an, const capture *b, const char *bn)
{
    int bad = 0;
    if (a->n != b->n) {
        t_fail(__FILE__, __LINE__, "%s saw %d packets, %s saw %d", an, a->n, bn, b->n);
        bad++;
    }
    int na = a->n < a->max ? a->n : a->max, nb = b->n < b->max ? b->n : b->max;
    char *done = calloc((size_t)na + 1, 1);
    int reordered = 0;
    for (int s = 0; s < na && bad < 10; s++) {
        if (done[s])
            continue;
        /* Walk sender a->p[s]'s packets in both captures side by side. */
        int i = s, j = 0, k = 0;
        for (;;) {
            while (i < na && (done[i] || !same_sender(&a->p[i], &a->p[s])))
                i++;
            while (j < nb && !same_sender(&b->p[j], &a->p[s]))
                j++;
            if (i >= na || j >= nb) {
                if (i < na || j < nb) {
                    t_fail(__FILE__, __LINE__, "sender of %s's packet %d: %s has more of its packets than %s", an, s,
                           i < na ? an : bn, i < na ? bn : an);
                    bad++;
                }
                break;
            }
            done[i] = 1;
            if (i != j)
                reordered++;
            if (!same_packet(&a->p[i], &b->p[j])) {
                t_fail(__FILE__, __LINE__, "packet %d of one sender differs: %s #%d %u/%u bytes, %s #%d %u/%u bytes",
                       k, an, i, a->p[i].data_size, a->p[i].packet_size, bn, j, b->p[j].data_size,
                       b->p[j].packet_size);
                bad++;
            }
            i++, j++, k++;
        }
    }
    free(done);
    if (reordered)
        printf("compare: %s and %s interleave the two directions differently at %d packets (each direction agrees)\n",
               an, bn, reordered);
    return bad;
}
