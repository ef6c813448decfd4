/*
 * test_capture.c - capture on real traffic: each case makes its own veth
 * pair between namespaces a and b (the live fixture of testutil.h), captures
 * on a's end (or on lo, or on "any") and sends known UDP/TCP/ICMP traffic,
 * then asserts exact counts, sizes, payloads, time stamps and directions;
 * also the snapshot length and ImmediateMode. The TCP and loopback cases
 * compare with a tcpdump running on the same interface at the same time.
 *
 * Run one case: test_capture CASE (see --list). ctest runs each as its own test.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "testutil.h"

static const size_t SIZES4[] = {1, 100, 1000, 1472, 0, 37};
static const size_t SIZES6[] = {1, 100, 1000, 1452, 0, 37};

/* ---------------- UDP over IPv4 / IPv6, in and out ---------------- */

static void udp_case(int family, int outgoing)
{
    const nh_host *src = outgoing ? &T.a : &T.b, *dst = outgoing ? &T.b : &T.a;
    const size_t *sizes = family == AF_INET ? SIZES4 : SIZES6;
    const int nsizes = 6, N = 24;
    int port = outgoing ? T_PORT_B : T_PORT_A;
    char filter[64];
    snprintf(filter, sizeof filter, "udp port %d", port);
    t_live f;
    t_live_setup(&f, (t_live_opts){.filter = filter, .cap_max = 256});
    /* this case's own sockets: the receiver is in b when sending out */
    f.rx = udp_socket(dst->ns, family, port);
    f.tx = udp_socket(src->ns, family, 7555);
    CHECK_OK(f.m, ipm_activate(f.m, T.a.ifname));
    CHECK_INT(ipm_get_active(f.m), ==, 1);
    CHECK_INT(ipm_get_link_type(f.m), ==, 1);
    int idx = adapter_index(f.m, T.a.ifname);

    /* Truncate to whole microseconds: live time stamps may have no more. */
    int64_t t0 = realtime_ns() / 1000 * 1000;
    CHECK_INT(udp_send(f.tx, family == AF_INET ? dst->ip4 : dst->ip6, port, N, sizes, nsizes, 0), ==, N);
    CHECK_INT(udp_drain(f.rx, N, 3000), ==, N);
    CHECK_OK(f.m, pump_until(f.m, &f.c.n, N, 5000));
    CHECK_OK(f.m, pump_for(f.m, 200)); /* nothing more may come */
    int64_t t1 = realtime_ns();

    CHECK_INT(f.c.n, ==, N);
    uint64_t bytes = 0, want_bytes = 0;
    for (int i = 0; i < f.c.n && i < N; i++) {
        const cap_pkt *p = &f.c.p[i];
        check_udp_packet(p, family, sizes[i % nsizes], i, 7555, port,
                         outgoing ? IPM_PACKET_DIRECTION_OUTGOING : IPM_PACKET_DIRECTION_INCOMING);
        CHECK(mac_is(p->data, dst->mac));
        CHECK(mac_is(p->data + 6, src->mac));
        CHECK_INT(p->adapter_index, ==, idx);
        CHECK_STR(p->adapter, T.a.ifname);
        CHECK_INT(ts_ns(p->ts), >=, t0);
        CHECK_INT(ts_ns(p->ts), <=, t1);
        if (i > 0)
            CHECK_INT(ts_ns(p->ts), >=, ts_ns(f.c.p[i - 1].ts));
        bytes += p->packet_size;
        want_bytes += udp_frame_len(family, sizes[i % nsizes]);
    }
    CHECK_INT(bytes, ==, want_bytes);
    /* Nanosecond time stamps: with 24 packets, some sub-microsecond part
     * is non-zero unless the stamps only have microseconds. */
    int sub_us = 0;
    for (int i = 0; i < f.c.n && i < N; i++)
        sub_us += f.c.p[i].ts.tv_nsec % 1000 != 0;
    CHECK_INT(sub_us, >, 0);

    int64_t received = -1, dropped = -1, ifdropped = -1;
    CHECK_OK(f.m, ipm_get_statistics(f.m, &received, &dropped, &ifdropped));
    CHECK_INT(received, ==, N);
    CHECK_INT(dropped, ==, 0);
    CHECK_INT(ifdropped, >=, 0);
    CHECK_OK(f.m, ipm_deactivate(f.m));
    CHECK_INT(ipm_get_active(f.m), ==, 0);
    t_live_teardown(&f);
}

static void t_udp4_in(void) { udp_case(AF_INET, 0); }
static void t_udp6_in(void) { udp_case(AF_INET6, 0); }
static void t_udp4_out(void) { udp_case(AF_INET, 1); }
static void t_udp6_out(void) { udp_case(AF_INET6, 1); }

/* ---------------- TCP with a tcpdump cross-check ---------------- */

static int tcp_flags(const cap_pkt *p, int *payload_len)
{
    int off, family;
    if (parse_l4(p->data, p->data_size, &off, &family) != 6)
        return -1;
    const uint8_t *t = p->data + off;
    int ip_payload = family == AF_INET ? ((p->data[16] << 8 | p->data[17]) - (off - 14))
                                       : (p->data[18] << 8 | p->data[19]);
    *payload_len = ip_payload - (t[12] >> 4) * 4;
    return t[13];
}

/* Stream offsets [from, to) of TCP segments, and the bytes they cover
 * together (overlaps, i.e. retransmissions, counted once). */
typedef struct seq_range {
    int64_t from, to;
} seq_range;

static int by_from(const void *a, const void *b)
{
    const seq_range *x = a, *y = b;
    return (x->from > y->from) - (x->from < y->from);
}

static int64_t covered_bytes(seq_range *r, int n)
{
    qsort(r, (size_t)n, sizeof *r, by_from);
    int64_t total = 0, end = INT64_MIN;
    for (int i = 0; i < n; i++) {
        int64_t from = r[i].from > end ? r[i].from : end;
        if (r[i].to > from)
            total += r[i].to - from;
        if (r[i].to > end)
            end = r[i].to;
    }
    return total;
}

static void tcp_case(int family)
{
    t_live f;
    t_live_setup(&f, (t_live_opts){.filter = "tcp port 7100", .cap_max = 256});
    const char *ip = family == AF_INET ? T.a.ip4 : T.a.ip6;
    capture td;
    cap_init(&td, 256);
    CHECK_OK(f.m, ipm_activate(f.m, T.a.ifname));
    tcpdump_run run;
    REQUIRE(tcpdump_start(&run, T.a.ns, T.a.ifname, "tcp port 7100") == 0);

    int ls = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_storage ss;
    socklen_t sl;
    memset(&ss, 0, sizeof ss);
    if (family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_port = htons(7100);
        inet_pton(AF_INET, ip, &a->sin_addr);
        sl = sizeof *a;
    } else {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(7100);
        inet_pton(AF_INET6, ip, &a->sin6_addr);
        sl = sizeof *a;
    }
    REQUIRE(bind(ls, (struct sockaddr *)&ss, sl) == 0);
    REQUIRE(listen(ls, 4) == 0);
    int cs = nh_socket(T.b.ns, family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(cs >= 0);
    REQUIRE(connect(cs, (struct sockaddr *)&ss, sl) == 0);
    int as = accept(ls, NULL, NULL);
    REQUIRE(as >= 0);
    uint8_t buf[1000], got[1000];
    make_payload(buf, sizeof buf, 5);
    REQUIRE(send(cs, buf, sizeof buf, 0) == (ssize_t)sizeof buf);
    size_t have = 0;
    while (have < sizeof got) {
        ssize_t r = recv(as, got + have, sizeof got - have, 0);
        REQUIRE(r > 0);
        have += (size_t)r;
    }
    CHECK(memcmp(buf, got, sizeof buf) == 0);
    close(cs);
    CHECK_INT(recv(as, got, sizeof got, 0), ==, 0); /* the client's FIN */
    close(as);
    close(ls);

    /* Handshake (3) + data + FINs: at least 7; then wait for quiet. */
    CHECK_OK(f.m, pump_until(f.m, &f.c.n, 7, 5000));
    CHECK_OK(f.m, pump_for(f.m, 400));
    REQUIRE(tcpdump_finish(&run, &td) == 0);
    compare_captures(&f.c, "ipmonitor", &td, "tcpdump");

    int in_payload = 0, out_payload = 0, fin_in = 0, fin_out = 0;
    for (int i = 0; i < f.c.n && i < f.c.max; i++) {
        int pl = 0, flags = tcp_flags(&f.c.p[i], &pl);
        CHECK_INT(flags, >=, 0);
        int in = f.c.p[i].direction == IPM_PACKET_DIRECTION_INCOMING;
        CHECK(in || f.c.p[i].direction == IPM_PACKET_DIRECTION_OUTGOING);
        if (in) {
            in_payload += pl;
            fin_in += (flags & 0x01) != 0;
        } else {
            out_payload += pl;
            fin_out += (flags & 0x01) != 0;
        }
        if (i > 0)
            CHECK_INT(ts_ns(f.c.p[i].ts), >=, ts_ns(f.c.p[i - 1].ts));
    }
    if (f.c.n >= 3) {
        int pl;
        CHECK_INT(tcp_flags(&f.c.p[0], &pl), ==, 0x02); /* SYN from b */
        CHECK_INT(f.c.p[0].direction, ==, IPM_PACKET_DIRECTION_INCOMING);
        CHECK_INT(tcp_flags(&f.c.p[1], &pl), ==, 0x12); /* SYN-ACK from a */
        CHECK_INT(f.c.p[1].direction, ==, IPM_PACKET_DIRECTION_OUTGOING);
        CHECK_INT(tcp_flags(&f.c.p[2], &pl) & 0x17, ==, 0x10); /* ACK from b */
        CHECK_INT(tcp_flags(&f.c.p[f.c.n - 1], &pl) & 0x17, ==, 0x10); /* last ACK */
        CHECK_INT(f.c.p[f.c.n - 1].direction, ==, IPM_PACKET_DIRECTION_INCOMING);
    }
    CHECK_INT(in_payload, ==, 1000);
    CHECK_INT(out_payload, ==, 0);
    CHECK_INT(fin_in, ==, 1);
    CHECK_INT(fin_out, ==, 1);
    int64_t received = 0;
    CHECK_OK(f.m, ipm_get_statistics(f.m, &received, NULL, NULL));
    CHECK_INT(received, ==, f.c.n);
    printf("tcp: %d packets, tcpdump %d\n", f.c.n, td.n);
    t_live_teardown(&f);
    cap_free(&td);
}

static void t_tcp4(void) { tcp_case(AF_INET); }
static void t_tcp6(void) { tcp_case(AF_INET6); }

/* ---------------- ICMP: ping from b ---------------- */

static void icmp_case(int v6)
{
    const int N = 4;
    t_live f;
    t_live_setup(&f, (t_live_opts){.filter = v6 ? "icmp6" : "icmp"});
    CHECK_OK(f.m, ipm_activate(f.m, T.a.ifname));
    CHECK_INT(nh_run("ip netns exec %s ping %s -q -c %d -i 0.05 -W 2 %s >/dev/null", T.b.ns,
                     v6 ? "-6" : "-4", N, v6 ? T.a.ip6 : T.a.ip4), ==, 0);
    CHECK_OK(f.m, pump_until(f.m, &f.c.n, 2 * N, 5000));
    CHECK_OK(f.m, pump_for(f.m, 200));
    CHECK_INT(f.c.n, ==, 2 * N);
    for (int i = 0; i < f.c.n && i < 2 * N; i++) {
        const cap_pkt *p = &f.c.p[i];
        int off, fam, request = (i % 2 == 0);
        int proto = parse_l4(p->data, p->data_size, &off, &fam);
        CHECK_INT(proto, ==, v6 ? 58 : 1);
        CHECK_INT(p->packet_size, ==, v6 ? 14 + 40 + 8 + 56 : 14 + 20 + 8 + 56);
        CHECK_INT(p->data_size, ==, p->packet_size);
        /* echo request in, echo reply out, alternating */
        CHECK_INT(p->data[off], ==, v6 ? (request ? 128 : 129) : (request ? 8 : 0));
        CHECK_INT(p->direction, ==, request ? IPM_PACKET_DIRECTION_INCOMING : IPM_PACKET_DIRECTION_OUTGOING);
        /* reply carries the request's sequence number */
        if (!request)
            CHECK_INT(p->data[off + 7], ==, f.c.p[i - 1].data[off + 7]);
    }
    t_live_teardown(&f);
}

static void t_icmp4(void) { icmp_case(0); }
static void t_icmp6(void) { icmp_case(1); }

/* ---------------- snaplen ---------------- */

static void t_snaplen(void)
{
    t_live f;
    t_live_setup(&f, (t_live_opts){.filter = "udp port 7001", .cap_max = 16, .udp = 1});
    int idx = adapter_index(f.m, T.a.ifname);
    CHECK_OK(f.m, ipm_set_adapter_max_packet_bytes(f.m, idx, 64));
    CHECK_INT(ipm_get_adapter_max_packet_bytes(f.m, idx), ==, 64);
    CHECK_OK(f.m, ipm_activate(f.m, T.a.ifname));
    size_t sz[] = {1000, 10, 22, 23};
    CHECK_INT(udp_send(f.tx, T.a.ip4, T_PORT_A, 4, sz, 4, 0), ==, 4);
    CHECK_INT(udp_drain(f.rx, 4, 3000), ==, 4);
    CHECK_OK(f.m, pump_until(f.m, &f.c.n, 4, 5000));
    CHECK_OK(f.m, pump_for(f.m, 200));
    CHECK_INT(f.c.n, ==, 4);
    for (int i = 0; i < f.c.n && i < 4; i++) {
        uint32_t len = udp_frame_len(AF_INET, sz[i]);
        CHECK_INT(f.c.p[i].packet_size, ==, len);
        CHECK_INT(f.c.p[i].data_size, ==, len < 64 ? len : 64);
        CHECK(mac_is(f.c.p[i].data, T.a.mac));
        CHECK(mac_is(f.c.p[i].data + 6, T.b.mac));
        CHECK(memcmp(f.c.p[i].data + 26, "\x0a\x4d\x00\x02\x0a\x4d\x00\x01", 8) == 0); /* IPs */
        uint8_t want[1500];
        make_payload(want, sz[i], i);
        uint32_t plen = f.c.p[i].data_size - 42;
        CHECK(memcmp(f.c.p[i].data + 42, want, plen) == 0);
    }
    CHECK_INT(f.c.p[0].data_size, <, f.c.p[0].packet_size);
    t_live_teardown(&f);
}

/* ---------------- loopback with a tcpdump cross-check ---------------- */

static void t_loopback(void)
{
    t_live f;
    t_live_setup(&f, (t_live_opts){.filter = "udp portrange 7300-7301"});
    int rx = udp_socket(T.a.ns, AF_INET, 7300), tx = udp_socket(T.a.ns, AF_INET, 0);
    int rx6 = udp_socket(T.a.ns, AF_INET6, 7301), tx6 = udp_socket(T.a.ns, AF_INET6, 0);
    capture td;
    cap_init(&td, 64);
    CHECK_OK(f.m, ipm_activate(f.m, "lo"));
    int idx = adapter_index(f.m, "lo");
    tcpdump_run run;
    REQUIRE(tcpdump_start(&run, T.a.ns, "lo", "udp portrange 7300-7301") == 0);
    size_t sz[] = {1, 300, 1400};
    CHECK_INT(udp_send(tx, "127.0.0.1", 7300, 10, sz, 3, 0), ==, 10);
    CHECK_INT(udp_send(tx6, "::1", 7301, 4, sz, 3, 10), ==, 4);
    CHECK_INT(udp_drain(rx, 10, 3000), ==, 10);
    CHECK_INT(udp_drain(rx6, 4, 3000), ==, 4);
    CHECK_OK(f.m, pump_until(f.m, &f.c.n, 14, 5000));
    CHECK_OK(f.m, pump_for(f.m, 300));
    REQUIRE(tcpdump_finish(&run, &td) == 0);
    printf("loopback: ipmonitor %d, tcpdump %d\n", f.c.n, td.n);
    CHECK_INT(f.c.n, ==, 14); /* each packet once, not twice */
    compare_captures(&f.c, "ipmonitor", &td, "tcpdump");
    for (int i = 0; i < f.c.n && i < 14; i++) {
        int v6 = i >= 10;
        CHECK_INT(f.c.p[i].packet_size, ==, udp_frame_len(v6 ? AF_INET6 : AF_INET, sz[(v6 ? i - 10 : i) % 3]));
        CHECK_INT(f.c.p[i].adapter_index, ==, idx);
        CHECK_INT(f.c.p[i].link_type, ==, 1);
        /* README: on loopback every packet is the incoming copy */
        CHECK_INT(f.c.p[i].direction, ==, IPM_PACKET_DIRECTION_INCOMING);
    }
    t_live_teardown(&f);
    cap_free(&td);
    close(rx);
    close(tx);
    close(rx6);
    close(tx6);
}

/* ---------------- ImmediateMode ---------------- */

static void t_immediate_mode(void)
{
    /* a bare monitor: the default packet_timeout, 1000 ms */
    t_live f;
    t_live_setup(&f, (t_live_opts){.timeout_ms = T_BARE_MONITOR, .cap_max = 8, .udp = 1});
    CHECK_OK(f.m, ipm_set_filter(f.m, "udp port 7001"));
    CHECK(ipm_config(f.m, "ImmediateMode=True") != NULL);
    CHECK_STR(ipm_config(f.m, "IMMEDIATEMODE"), "True");
    CHECK_OK(f.m, ipm_activate(f.m, T.a.ifname));
    size_t sz[] = {10};
    CHECK_INT(udp_send(f.tx, T.a.ip4, T_PORT_A, 1, sz, 1, 0), ==, 1);
    CHECK_INT(udp_drain(f.rx, 1, 3000), ==, 1);
    long long t0 = nh_now_ms();
    CHECK_OK(f.m, pump_until(f.m, &f.c.n, 1, 3000));
    long long took = nh_now_ms() - t0;
    printf("immediate mode: packet after %lld ms\n", took);
    CHECK_INT(f.c.n, ==, 1);
    CHECK_INT(took, <, 500);
    t_live_teardown(&f);
}

/* ---------------- the "any" pseudo-device ---------------- */

static void t_any_device(void)
{
    t_live f;
    t_live_setup(&f, (t_live_opts){.filter = "udp"});
    two_way w;
    two_way_open(&w);
    for (int k = 0; k < 2; k++) {
        t_live_reset(&f);
        CHECK_OK(f.m, ipm_set_direction(f.m, k == 0 ? IPM_PACKET_DIRECTION_ANY : IPM_PACKET_DIRECTION_INCOMING));
        CHECK_OK(f.m, ipm_activate(f.m, "any"));
        int lt = ipm_get_link_type(f.m);
        CHECK_INT(lt, ==, 276); /* DLT_LINUX_SLL2, as tcpdump 4.99 opens "any" */
        two_way_send(&w, 3, 2);
        int want = k == 0 ? 5 : 3;
        CHECK_OK(f.m, pump_until(f.m, &f.c.n, want, 5000));
        CHECK_OK(f.m, pump_for(f.m, 200));
        int in = 0, out = 0;
        for (int i = 0; i < f.c.n && i < f.c.max; i++) {
            in += f.c.p[i].direction == IPM_PACKET_DIRECTION_INCOMING;
            out += f.c.p[i].direction == IPM_PACKET_DIRECTION_OUTGOING;
            CHECK_INT(f.c.p[i].link_type, ==, lt);
            /* each packet names the interface it crossed, not "any" */
            CHECK_STR(f.c.p[i].adapter, T.a.ifname);
            CHECK_INT(f.c.p[i].adapter_index, ==, ipm_find_adapter(f.m, "any"));
            CHECK_INT(f.c.p[i].packet_size, ==, 20 + 20 + 8 + 200);
        }
        printf("any (dir %d): %d packets, in %d out %d\n", k, f.c.n, in, out);
        CHECK_INT(f.c.n, ==, want);
        CHECK_INT(in, ==, 3);
        CHECK_INT(out, ==, k == 0 ? 2 : 0);
        CHECK_OK(f.m, ipm_deactivate(f.m));
    }
    t_live_teardown(&f);
    two_way_close(&w);
}

/* ---------------- bulk TCP: large (GSO) frames, tcpdump cross-check ---------------- */

static void *bulk_reader(void *arg)
{
    int as = *(int *)arg;
    static uint8_t buf[65536];
    long total = 0;
    ssize_t r;
    while ((r = recv(as, buf, sizeof buf, 0)) > 0)
        total += r;
    *(int *)arg = (int)total;
    return NULL;
}

static void t_tcp_bulk(void)
{
    t_live f;
    t_live_setup(&f, (t_live_opts){.filter = "tcp port 7200", .cap_max = 8192});
    capture td;
    cap_init(&td, 8192);
    int idx = adapter_index(f.m, T.a.ifname);
    CHECK_OK(f.m, ipm_set_adapter_buffer_size(f.m, idx, 16384));
    CHECK_OK(f.m, ipm_activate(f.m, T.a.ifname));
    tcpdump_run run;
    REQUIRE(tcpdump_start(&run, T.a.ns, T.a.ifname, "tcp port 7200") == 0);
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(7200)};
    inet_pton(AF_INET, T.a.ip4, &sa.sin_addr);
    REQUIRE(bind(ls, (struct sockaddr *)&sa, sizeof sa) == 0 && listen(ls, 1) == 0);
    int cs = nh_socket(T.b.ns, AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(connect(cs, (struct sockaddr *)&sa, sizeof sa) == 0);
    int as = accept(ls, NULL, NULL);
    REQUIRE(as >= 0);
    int arg = as;
    pthread_t th;
    REQUIRE(pthread_create(&th, NULL, bulk_reader, &arg) == 0);
    const int TOTAL = 2 << 20;
    static uint8_t chunk[65536];
    make_payload(chunk, sizeof chunk, 1);
    int sent = 0;
    while (sent < TOTAL) {
        ssize_t w = send(cs, chunk, sizeof chunk, 0);
        if (w <= 0)
            break;
        sent += (int)w;
        CHECK_OK(f.m, ipm_do_events(f.m)); /* keep the ring drained meanwhile */
    }
    shutdown(cs, SHUT_WR);
    pthread_join(th, NULL);
    close(cs);
    close(as);
    close(ls);
    CHECK_INT(arg, ==, sent);
    CHECK_OK(f.m, pump_for(f.m, 500));
    REQUIRE(tcpdump_finish(&run, &td) == 0);
    int64_t rcv = 0, drop = 0;
    CHECK_OK(f.m, ipm_get_statistics(f.m, &rcv, &drop, NULL));
    /* The stream's bytes, each counted once: on a loaded machine TCP may
     * retransmit a segment, which both captures then (rightly) hold twice. */
    static seq_range ranges[1024];
    int nr = 0;
    uint32_t biggest = 0, seq0 = 0;
    for (int i = 0; i < f.c.n && i < f.c.max; i++) {
        int pl = 0, off, family;
        if (tcp_flags(&f.c.p[i], &pl) >= 0 && f.c.p[i].direction == IPM_PACKET_DIRECTION_INCOMING &&
            pl > 0 && nr < 1024) {
            parse_l4(f.c.p[i].data, f.c.p[i].data_size, &off, &family);
            const uint8_t *t = f.c.p[i].data + off;
            uint32_t seq = (uint32_t)t[4] << 24 | (uint32_t)t[5] << 16 | (uint32_t)t[6] << 8 | t[7];
            if (nr == 0)
                seq0 = seq;
            ranges[nr].from = (int64_t)(int32_t)(seq - seq0);
            ranges[nr].to = ranges[nr].from + pl;
            nr++;
        }
        CHECK_INT(f.c.p[i].data_size, ==, f.c.p[i].packet_size);
        if (f.c.p[i].packet_size > biggest)
            biggest = f.c.p[i].packet_size;
    }
    long payload = (long)covered_bytes(ranges, nr);
    printf("tcp bulk: %d bytes, ipmonitor %d packets (largest %u bytes, dropped %lld), tcpdump %d\n", sent, f.c.n,
           biggest, (long long)drop, td.n);
    CHECK_INT(drop, ==, 0);
    CHECK_INT(payload, ==, sent);
    compare_captures(&f.c, "ipmonitor", &td, "tcpdump");
    t_live_teardown(&f);
    cap_free(&td);
}

/* ipm_break_events on a live adapter: 40 datagrams wait in one ring block;
 * a handler that breaks at each packet gets one per do_events, in order,
 * every one of them, and the capture goes on. */
static int break_each(const ipm_packet_event *e, void *user)
{
    capture *c = user;
    int rc = cap_on_packet(e, c);
    CHECK_OK(c->m, ipm_break_events(c->m));
    return rc;
}

static void t_break_events_live(void)
{
    enum { N = 40 };
    t_live f;
    t_live_setup(&f, (t_live_opts){.filter = "udp port 7001", .cap_max = N + 8, .udp = 1,
                                   .timeout_ms = 300});
    CHECK_OK(f.m, ipm_set_on_packet(f.m, break_each, &f.c));
    CHECK_OK(f.m, ipm_activate(f.m, T.a.ifname));
    size_t sz[] = {100, 300};
    CHECK_INT(udp_send(f.tx, T.a.ip4, T_PORT_A, N, sz, 2, 0), ==, N);
    CHECK_INT(udp_drain(f.rx, N, 3000), ==, N);
    int calls = 0, most = 0;
    for (int i = 0; i < 4 * N && f.c.n < N; i++) {
        int before = f.c.n;
        CHECK_OK(f.m, ipm_do_events(f.m));
        most = f.c.n - before > most ? f.c.n - before : most;
        calls++;
    }
    CHECK_INT(f.c.n, ==, N);
    CHECK_INT(most, ==, 1);
    CHECK(calls >= N);
    CHECK_INT(ipm_get_active(f.m), ==, 1);
    struct sockaddr_in from;
    socklen_t fl = sizeof from;
    REQUIRE(getsockname(f.tx, (struct sockaddr *)&from, &fl) == 0);
    for (int i = 0; i < f.c.n && i < N; i++)
        check_udp_packet(&f.c.p[i], AF_INET, sz[i % 2], i, ntohs(from.sin_port), T_PORT_A,
                         IPM_PACKET_DIRECTION_INCOMING);
    int64_t received = 0, dropped = 0;
    CHECK_OK(f.m, ipm_get_statistics(f.m, &received, &dropped, NULL));
    CHECK_INT(received, ==, N);
    CHECK_INT(dropped, ==, 0);
    t_live_teardown(&f);
}

/* An event loop's way: watch ipm_get_fd (poll here), wait at most
 * ipm_get_timeout, then ipm_do_events_timeout(m, 0). With no traffic the fd
 * stays quiet for the timeout; datagrams make it readable and come out
 * whole; the fd is the same across activations (Linux); after a deactivate
 * from another thread get_timeout says the monitor is inactive. */
#ifndef IPM_TEST_PLATFORM_POSIX
static void *deactivate_later(void *arg)
{
    ipm_deactivate(arg);
    return NULL;
}
#endif

static int wait_readable(int fd, int ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, ms);
}

static void t_event_loop_fd(void)
{
    enum { N = 5 };
    t_live f;
    t_live_setup(&f, (t_live_opts){.filter = "udp port 7001", .udp = 1, .timeout_ms = 100});
    CHECK_ERR(f.m, ipm_get_timeout(f.m), IPM_E_NOT_ACTIVE);
    CHECK_OK(f.m, ipm_activate(f.m, T.a.ifname));
    int fd = ipm_get_fd(f.m);
    CHECK(fd >= 0);
    CHECK_INT(ipm_get_timeout(f.m), ==, 100);
    CHECK_INT(wait_readable(fd, ipm_get_timeout(f.m)), ==, 0); /* quiet: no traffic */
    CHECK_OK(f.m, ipm_do_events_timeout(f.m, 0));
    size_t sz[] = {200};
    CHECK_INT(udp_send(f.tx, T.a.ip4, T_PORT_A, N, sz, 1, 0), ==, N);
    CHECK_INT(udp_drain(f.rx, N, 3000), ==, N);
    for (int rounds = 0; f.c.n < N && rounds < 100; rounds++) {
        wait_readable(fd, ipm_get_timeout(f.m));
        CHECK_OK(f.m, ipm_do_events_timeout(f.m, 0));
    }
    CHECK_INT(f.c.n, ==, N);
    for (int i = 0; i < f.c.n && i < N; i++)
        CHECK_INT(f.c.p[i].packet_size, ==, udp_frame_len(AF_INET, 200));
#ifndef IPM_TEST_PLATFORM_POSIX
    /* one fd for the monitor's life: the same after a new activation */
    CHECK_OK(f.m, ipm_deactivate(f.m));
    CHECK_INT(ipm_get_fd(f.m), ==, fd);
    CHECK_OK(f.m, ipm_activate(f.m, T.a.ifname));
    CHECK_INT(ipm_get_fd(f.m), ==, fd);
    int before = f.c.n;
    CHECK_INT(udp_send(f.tx, T.a.ip4, T_PORT_A, N, sz, 1, 0), ==, N);
    CHECK_INT(udp_drain(f.rx, N, 3000), ==, N);
    for (int rounds = 0; f.c.n < before + N && rounds < 100; rounds++) {
        wait_readable(fd, ipm_get_timeout(f.m));
        CHECK_OK(f.m, ipm_do_events_timeout(f.m, 0));
    }
    CHECK_INT(f.c.n, ==, before + N);
    /* a deactivate from another thread: the loop learns it from
     * get_timeout, and the fd is quiet (nothing left to do) */
    pthread_t th;
    REQUIRE(pthread_create(&th, NULL, deactivate_later, f.m) == 0);
    pthread_join(th, NULL);
    CHECK_INT(ipm_get_active(f.m), ==, 0);
    CHECK_ERR(f.m, ipm_get_timeout(f.m), IPM_E_NOT_ACTIVE);
    CHECK_INT(wait_readable(fd, 0), ==, 0);
#endif
    t_live_teardown(&f);
}

static const t_case CASES[] = {
    {"udp4_in", t_udp4_in},
    {"udp6_in", t_udp6_in},
    {"udp4_out", t_udp4_out},
    {"udp6_out", t_udp6_out},
    {"tcp4", t_tcp4},
    {"tcp6", t_tcp6},
    {"icmp4", t_icmp4},
    {"icmp6", t_icmp6},
    {"snaplen", t_snaplen},
    {"loopback", t_loopback},
    {"immediate_mode", t_immediate_mode},
    {"any_device", t_any_device},
    {"tcp_bulk", t_tcp_bulk},
    {"break_events_live", t_break_events_live},
    {"event_loop_fd", t_event_loop_fd},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, CASES, 1);
}
