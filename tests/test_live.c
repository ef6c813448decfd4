/*
 * test_live.c - libipmonitor on real traffic: each case makes its own veth
 * pair between namespaces a and b (netns_harness), captures on a's end and
 * sends known UDP/TCP/ICMP traffic, then asserts exact counts, sizes,
 * payloads, time stamps and directions. TCP and loopback cases compare with
 * a tcpdump running on the same interface at the same time.
 *
 * Run one case: test_live CASE (see --list). ctest runs each as its own test.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

#define PORT_A 7001 /* receiver in a */
#define PORT_B 7002 /* receiver in b */
#define TIMEOUT_MS 50

static const size_t SIZES4[] = {1, 100, 1000, 1472, 0, 37};
static const size_t SIZES6[] = {1, 100, 1000, 1452, 0, 37};

static int adapter_index(ipm_monitor *m, const char *name)
{
    int i = ipm_find_adapter(m, name);
    CHECK_INT(i, >=, 0);
    return i;
}

/* Check one captured UDP packet against what was sent. */
static void check_udp_packet(const cap_pkt *p, int family, size_t plen_expected, int seq,
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

static int mac_is(const uint8_t *d, const char *mac)
{
    unsigned b[6];
    sscanf(mac, "%x:%x:%x:%x:%x:%x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]);
    for (int i = 0; i < 6; i++)
        if (d[i] != b[i])
            return 0;
    return 1;
}

/* ---------------- UDP over IPv4 / IPv6, in and out ---------------- */

static void udp_case(int family, int outgoing)
{
    t_setup_pair();
    const nh_host *src = outgoing ? &T.a : &T.b, *dst = outgoing ? &T.b : &T.a;
    const size_t *sizes = family == AF_INET ? SIZES4 : SIZES6;
    const int nsizes = 6, N = 24;
    int port = outgoing ? PORT_B : PORT_A;
    int rx = udp_socket(dst->ns, family, port);
    int tx = udp_socket(src->ns, family, 7555);
    char filter[64];
    snprintf(filter, sizeof filter, "udp port %d", port);
    ipm_monitor *m = t_new_monitor(filter, TIMEOUT_MS);
    capture c;
    cap_init(&c, 256);
    cap_attach(&c, m);
    CHECK_OK(m, ipm_activate(m, T.a.ifname));
    CHECK_INT(ipm_get_active(m), ==, 1);
    CHECK_INT(ipm_get_link_type(m), ==, 1);
    int idx = adapter_index(m, T.a.ifname);

    /* Truncate to whole microseconds: live time stamps may have no more. */
    int64_t t0 = realtime_ns() / 1000 * 1000;
    CHECK_INT(udp_send(tx, family == AF_INET ? dst->ip4 : dst->ip6, port, N, sizes, nsizes, 0), ==, N);
    CHECK_INT(udp_drain(rx, N, 3000), ==, N);
    CHECK_OK(m, pump_until(m, &c.n, N, 5000));
    CHECK_OK(m, pump_for(m, 200)); /* nothing more may come */
    int64_t t1 = realtime_ns();

    CHECK_INT(c.n, ==, N);
    uint64_t bytes = 0, want_bytes = 0;
    for (int i = 0; i < c.n && i < N; i++) {
        const cap_pkt *p = &c.p[i];
        check_udp_packet(p, family, sizes[i % nsizes], i, 7555, port,
                         outgoing ? IPM_PACKET_DIRECTION_OUTGOING : IPM_PACKET_DIRECTION_INCOMING);
        CHECK(mac_is(p->data, dst->mac));
        CHECK(mac_is(p->data + 6, src->mac));
        CHECK_INT(p->adapter_index, ==, idx);
        CHECK_STR(p->adapter, T.a.ifname);
        CHECK_INT(ts_ns(p->ts), >=, t0);
        CHECK_INT(ts_ns(p->ts), <=, t1);
        if (i > 0)
            CHECK_INT(ts_ns(p->ts), >=, ts_ns(c.p[i - 1].ts));
        bytes += p->packet_size;
        want_bytes += udp_frame_len(family, sizes[i % nsizes]);
    }
    CHECK_INT(bytes, ==, want_bytes);
    /* Nanosecond time stamps: with 24 packets, some sub-microsecond part
     * is non-zero unless the stamps only have microseconds. */
    int sub_us = 0;
    for (int i = 0; i < c.n && i < N; i++)
        sub_us += c.p[i].ts.tv_nsec % 1000 != 0;
    CHECK_INT(sub_us, >, 0);

    int64_t received = -1, dropped = -1, ifdropped = -1;
    CHECK_OK(m, ipm_get_statistics(m, &received, &dropped, &ifdropped));
    CHECK_INT(received, ==, N);
    CHECK_INT(dropped, ==, 0);
    CHECK_INT(ifdropped, >=, 0);
    CHECK_OK(m, ipm_deactivate(m));
    CHECK_INT(ipm_get_active(m), ==, 0);
    ipm_free(m);
    cap_free(&c);
    close(rx);
    close(tx);
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

static void tcp_case(int family)
{
    t_setup_pair();
    const char *ip = family == AF_INET ? T.a.ip4 : T.a.ip6;
    ipm_monitor *m = t_new_monitor("tcp port 7100", TIMEOUT_MS);
    capture c, td;
    cap_init(&c, 256);
    cap_init(&td, 256);
    cap_attach(&c, m);
    CHECK_OK(m, ipm_activate(m, T.a.ifname));
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
    CHECK_OK(m, pump_until(m, &c.n, 7, 5000));
    CHECK_OK(m, pump_for(m, 400));
    REQUIRE(tcpdump_finish(&run, &td) == 0);
    compare_captures(&c, "ipmonitor", &td, "tcpdump");

    int in_payload = 0, out_payload = 0, fin_in = 0, fin_out = 0;
    for (int i = 0; i < c.n && i < c.max; i++) {
        int pl = 0, f = tcp_flags(&c.p[i], &pl);
        CHECK_INT(f, >=, 0);
        int in = c.p[i].direction == IPM_PACKET_DIRECTION_INCOMING;
        CHECK(in || c.p[i].direction == IPM_PACKET_DIRECTION_OUTGOING);
        if (in) {
            in_payload += pl;
            fin_in += (f & 0x01) != 0;
        } else {
            out_payload += pl;
            fin_out += (f & 0x01) != 0;
        }
        if (i > 0)
            CHECK_INT(ts_ns(c.p[i].ts), >=, ts_ns(c.p[i - 1].ts));
    }
    if (c.n >= 3) {
        int pl;
        CHECK_INT(tcp_flags(&c.p[0], &pl), ==, 0x02); /* SYN from b */
        CHECK_INT(c.p[0].direction, ==, IPM_PACKET_DIRECTION_INCOMING);
        CHECK_INT(tcp_flags(&c.p[1], &pl), ==, 0x12); /* SYN-ACK from a */
        CHECK_INT(c.p[1].direction, ==, IPM_PACKET_DIRECTION_OUTGOING);
        CHECK_INT(tcp_flags(&c.p[2], &pl) & 0x17, ==, 0x10); /* ACK from b */
        CHECK_INT(tcp_flags(&c.p[c.n - 1], &pl) & 0x17, ==, 0x10); /* last ACK */
        CHECK_INT(c.p[c.n - 1].direction, ==, IPM_PACKET_DIRECTION_INCOMING);
    }
    CHECK_INT(in_payload, ==, 1000);
    CHECK_INT(out_payload, ==, 0);
    CHECK_INT(fin_in, ==, 1);
    CHECK_INT(fin_out, ==, 1);
    int64_t received = 0;
    CHECK_OK(m, ipm_get_statistics(m, &received, NULL, NULL));
    CHECK_INT(received, ==, c.n);
    printf("tcp: %d packets, tcpdump %d\n", c.n, td.n);
    ipm_free(m);
    cap_free(&c);
    cap_free(&td);
}

static void t_tcp4(void) { tcp_case(AF_INET); }
static void t_tcp6(void) { tcp_case(AF_INET6); }

/* ---------------- ICMP: ping from b ---------------- */

static void icmp_case(int v6)
{
    t_setup_pair();
    const int N = 4;
    ipm_monitor *m = t_new_monitor(v6 ? "icmp6" : "icmp", TIMEOUT_MS);
    capture c;
    cap_init(&c, 64);
    cap_attach(&c, m);
    CHECK_OK(m, ipm_activate(m, T.a.ifname));
    CHECK_INT(nh_run("ip netns exec %s ping %s -q -c %d -i 0.05 -W 2 %s >/dev/null", T.b.ns,
                     v6 ? "-6" : "-4", N, v6 ? T.a.ip6 : T.a.ip4), ==, 0);
    CHECK_OK(m, pump_until(m, &c.n, 2 * N, 5000));
    CHECK_OK(m, pump_for(m, 200));
    CHECK_INT(c.n, ==, 2 * N);
    for (int i = 0; i < c.n && i < 2 * N; i++) {
        const cap_pkt *p = &c.p[i];
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
            CHECK_INT(p->data[off + 7], ==, c.p[i - 1].data[off + 7]);
    }
    ipm_free(m);
    cap_free(&c);
}

static void t_icmp4(void) { icmp_case(0); }
static void t_icmp6(void) { icmp_case(1); }

/* ---------------- direction ---------------- */

typedef struct two_way {
    int rx_a, rx_b, tx_a, tx_b;
} two_way;

static void two_way_open(two_way *w)
{
    w->rx_a = udp_socket(T.a.ns, AF_INET, PORT_A);
    w->rx_b = udp_socket(T.b.ns, AF_INET, PORT_B);
    w->tx_a = udp_socket(T.a.ns, AF_INET, 0);
    w->tx_b = udp_socket(T.b.ns, AF_INET, 0);
}

/* `in` datagrams b->a and `out` datagrams a->b, interleaved, all received. */
static void two_way_send(two_way *w, int in, int out)
{
    size_t sz[] = {200};
    for (int i = 0; i < in || i < out; i++) {
        if (i < in)
            udp_send(w->tx_b, T.a.ip4, PORT_A, 1, sz, 1, i);
        if (i < out)
            udp_send(w->tx_a, T.b.ip4, PORT_B, 1, sz, 1, 100 + i);
    }
    CHECK_INT(udp_drain(w->rx_a, in, 3000), ==, in);
    CHECK_INT(udp_drain(w->rx_b, out, 3000), ==, out);
}

static void two_way_close(two_way *w)
{
    close(w->rx_a);
    close(w->rx_b);
    close(w->tx_a);
    close(w->tx_b);
}

static void count_dirs(const capture *c, int from, int *in, int *out, int *other)
{
    *in = *out = *other = 0;
    for (int i = from; i < c->n && i < c->max; i++) {
        int d = c->p[i].direction;
        if (d == IPM_PACKET_DIRECTION_INCOMING)
            ++*in;
        else if (d == IPM_PACKET_DIRECTION_OUTGOING)
            ++*out;
        else
            ++*other;
        /* the direction must agree with the frame's source MAC */
        CHECK(mac_is(c->p[i].data + 6, d == IPM_PACKET_DIRECTION_INCOMING ? T.b.mac : T.a.mac));
    }
}

static void t_direction(void)
{
    t_setup_pair();
    two_way w;
    two_way_open(&w);
    const int dirs[] = {IPM_PACKET_DIRECTION_ANY, IPM_PACKET_DIRECTION_INCOMING, IPM_PACKET_DIRECTION_OUTGOING};
    const int want_in[] = {3, 3, 0}, want_out[] = {2, 0, 2};
    ipm_monitor *m = t_new_monitor("udp", TIMEOUT_MS);
    CHECK_INT(ipm_get_direction(m), ==, IPM_PACKET_DIRECTION_ANY);
    for (int k = 0; k < 3; k++) {
        capture c;
        cap_init(&c, 64);
        cap_attach(&c, m);
        CHECK_OK(m, ipm_set_direction(m, dirs[k]));
        CHECK_INT(ipm_get_direction(m), ==, dirs[k]);
        CHECK_OK(m, ipm_activate(m, T.a.ifname));
        two_way_send(&w, 3, 2);
        int want = want_in[k] + want_out[k];
        CHECK_OK(m, pump_until(m, &c.n, want, 5000));
        CHECK_OK(m, pump_for(m, 200));
        int in, out, other;
        count_dirs(&c, 0, &in, &out, &other);
        printf("direction %d: in %d out %d other %d\n", dirs[k], in, out, other);
        CHECK_INT(c.n, ==, want);
        CHECK_INT(in, ==, want_in[k]);
        CHECK_INT(out, ==, want_out[k]);
        CHECK_INT(other, ==, 0);
        CHECK_OK(m, ipm_deactivate(m));
        cap_free(&c);
    }
    /* A bad value is refused and changes nothing. */
    CHECK_ERR(m, ipm_set_direction(m, 3), IPM_E_INVALID_ARGUMENT);
    CHECK_ERR(m, ipm_set_direction(m, -1), IPM_E_INVALID_ARGUMENT);
    CHECK_INT(ipm_get_direction(m), ==, IPM_PACKET_DIRECTION_OUTGOING);
    ipm_free(m);
    two_way_close(&w);
}

/* The direction property changed while active takes effect at once. */
static void t_direction_while_active(void)
{
    t_setup_pair();
    two_way w;
    two_way_open(&w);
    ipm_monitor *m = t_new_monitor("udp", TIMEOUT_MS);
    capture c;
    cap_init(&c, 64);
    cap_attach(&c, m);
    CHECK_OK(m, ipm_activate(m, T.a.ifname));
    int in, out, other;

    CHECK_OK(m, ipm_set_direction(m, IPM_PACKET_DIRECTION_INCOMING));
    two_way_send(&w, 3, 2);
    CHECK_OK(m, pump_until(m, &c.n, 3, 5000));
    CHECK_OK(m, pump_for(m, 200));
    CHECK_INT(c.n, ==, 3);
    count_dirs(&c, 0, &in, &out, &other);
    CHECK_INT(in, ==, 3);

    int mark = c.n;
    CHECK_OK(m, ipm_set_direction(m, IPM_PACKET_DIRECTION_OUTGOING));
    two_way_send(&w, 3, 2);
    CHECK_OK(m, pump_until(m, &c.n, mark + 2, 5000));
    CHECK_OK(m, pump_for(m, 200));
    CHECK_INT(c.n - mark, ==, 2);
    count_dirs(&c, mark, &in, &out, &other);
    CHECK_INT(out, ==, 2);

    mark = c.n;
    CHECK_OK(m, ipm_set_direction(m, IPM_PACKET_DIRECTION_ANY));
    two_way_send(&w, 3, 2);
    CHECK_OK(m, pump_until(m, &c.n, mark + 5, 5000));
    CHECK_OK(m, pump_for(m, 200));
    CHECK_INT(c.n - mark, ==, 5);
    count_dirs(&c, mark, &in, &out, &other);
    CHECK_INT(in, ==, 3);
    CHECK_INT(out, ==, 2);
    ipm_free(m);
    cap_free(&c);
    two_way_close(&w);
}

/* ---------------- filters ---------------- */

/* Send 3 datagrams to each of two ports in a; return ports seen (bitmask counts). */
static void send_both_ports(int tx, int rx1, int rx2, int seq0)
{
    size_t sz[] = {64};
    for (int i = 0; i < 3; i++) {
        udp_send(tx, T.a.ip4, 7001, 1, sz, 1, seq0 + i);
        udp_send(tx, T.a.ip4, 7003, 1, sz, 1, seq0 + 10 + i);
    }
    CHECK_INT(udp_drain(rx1, 3, 3000), ==, 3);
    CHECK_INT(udp_drain(rx2, 3, 3000), ==, 3);
}

static int count_dport(const capture *c, int from, int port)
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

static void t_filter_change_active(void)
{
    t_setup_pair();
    int rx1 = udp_socket(T.a.ns, AF_INET, 7001), rx2 = udp_socket(T.a.ns, AF_INET, 7003);
    int tx = udp_socket(T.b.ns, AF_INET, 0);
    ipm_monitor *m = t_new_monitor("udp dst port 7001", TIMEOUT_MS);
    capture c;
    cap_init(&c, 64);
    cap_attach(&c, m);
    CHECK_OK(m, ipm_activate(m, T.a.ifname));

    send_both_ports(tx, rx1, rx2, 0);
    CHECK_OK(m, pump_until(m, &c.n, 3, 5000));
    CHECK_OK(m, pump_for(m, 200));
    CHECK_INT(c.n, ==, 3);
    CHECK_INT(count_dport(&c, 0, 7001), ==, 3);

    /* New filter while active: exactly the other port from now on. */
    CHECK_OK(m, ipm_set_filter(m, "udp dst port 7003"));
    CHECK_STR(ipm_get_filter(m), "udp dst port 7003");
    int mark = c.n;
    send_both_ports(tx, rx1, rx2, 100);
    CHECK_OK(m, pump_until(m, &c.n, mark + 3, 5000));
    CHECK_OK(m, pump_for(m, 200));
    CHECK_INT(c.n - mark, ==, 3);
    CHECK_INT(count_dport(&c, mark, 7003), ==, 3);

    /* A bad filter while active: refused, the old one stays in force. */
    CHECK_ERR(m, ipm_set_filter(m, "udp dst port"), IPM_E_BAD_FILTER);
    CHECK_CONTAINS(ipm_last_error(m), "syntax");
    CHECK_STR(ipm_get_filter(m), "udp dst port 7003");
    CHECK_INT(ipm_get_active(m), ==, 1);
    mark = c.n;
    send_both_ports(tx, rx1, rx2, 200);
    CHECK_OK(m, pump_until(m, &c.n, mark + 3, 5000));
    CHECK_OK(m, pump_for(m, 200));
    CHECK_INT(c.n - mark, ==, 3);
    CHECK_INT(count_dport(&c, mark, 7003), ==, 3);

    /* "" captures everything again (both ports). */
    CHECK_OK(m, ipm_set_filter(m, ""));
    mark = c.n;
    send_both_ports(tx, rx1, rx2, 300);
    CHECK_OK(m, pump_until(m, &c.n, mark + 6, 5000));
    CHECK_OK(m, pump_for(m, 200));
    CHECK_INT(count_dport(&c, mark, 7001), ==, 3);
    CHECK_INT(count_dport(&c, mark, 7003), ==, 3);
    ipm_free(m);
    cap_free(&c);
    close(rx1);
    close(rx2);
    close(tx);
}

/* Bad filters while inactive, and a link-type-specific one. */
static void t_filter_inactive(void)
{
    t_setup_pair();
    int rx1 = udp_socket(T.a.ns, AF_INET, 7001), rx2 = udp_socket(T.a.ns, AF_INET, 7003);
    int tx = udp_socket(T.b.ns, AF_INET, 0);
    ipm_monitor *m = t_new_monitor(NULL, TIMEOUT_MS);
    CHECK_STR(ipm_get_filter(m), "");
    CHECK_ERR(m, ipm_set_filter(m, "this is not a filter ("), IPM_E_BAD_FILTER);
    CHECK_STR(ipm_get_filter(m), "");
    CHECK_OK(m, ipm_set_filter(m, "udp dst port 7003"));
    CHECK_ERR(m, ipm_set_filter(m, "port 99999"), IPM_E_BAD_FILTER);
    CHECK_STR(ipm_get_filter(m), "udp dst port 7003");

    /* Valid only on 802.11: accepted now, refused by activation on Ethernet. */
    CHECK_OK(m, ipm_set_filter(m, "type mgt"));
    CHECK_STR(ipm_get_filter(m), "type mgt");
    int rc = ipm_activate(m, T.a.ifname);
    CHECK_INT(rc, <, 0);
    CHECK_INT(rc, ==, IPM_E_BAD_FILTER);
    CHECK(ipm_last_error(m)[0] != '\0');
    printf("type mgt on ethernet: %d %s\n", rc, ipm_last_error(m));
    CHECK_INT(ipm_get_active(m), ==, 0);

    /* The same monitor still works. */
    CHECK_OK(m, ipm_set_filter(m, "udp dst port 7001"));
    capture c;
    cap_init(&c, 64);
    cap_attach(&c, m);
    CHECK_OK(m, ipm_activate(m, T.a.ifname));
    send_both_ports(tx, rx1, rx2, 0);
    CHECK_OK(m, pump_until(m, &c.n, 3, 5000));
    CHECK_OK(m, pump_for(m, 200));
    CHECK_INT(c.n, ==, 3);
    CHECK_INT(count_dport(&c, 0, 7001), ==, 3);
    /* NULL means "" */
    CHECK_OK(m, ipm_set_filter(m, NULL));
    CHECK_STR(ipm_get_filter(m), "");
    ipm_free(m);
    cap_free(&c);
    close(rx1);
    close(rx2);
    close(tx);
}

/* ---------------- snaplen ---------------- */

static void t_snaplen(void)
{
    t_setup_pair();
    int rx = udp_socket(T.a.ns, AF_INET, PORT_A), tx = udp_socket(T.b.ns, AF_INET, 0);
    ipm_monitor *m = t_new_monitor("udp port 7001", TIMEOUT_MS);
    int idx = adapter_index(m, T.a.ifname);
    CHECK_OK(m, ipm_set_adapter_max_packet_bytes(m, idx, 64));
    CHECK_INT(ipm_get_adapter_max_packet_bytes(m, idx), ==, 64);
    capture c;
    cap_init(&c, 16);
    cap_attach(&c, m);
    CHECK_OK(m, ipm_activate(m, T.a.ifname));
    size_t sz[] = {1000, 10, 22, 23};
    CHECK_INT(udp_send(tx, T.a.ip4, PORT_A, 4, sz, 4, 0), ==, 4);
    CHECK_INT(udp_drain(rx, 4, 3000), ==, 4);
    CHECK_OK(m, pump_until(m, &c.n, 4, 5000));
    CHECK_OK(m, pump_for(m, 200));
    CHECK_INT(c.n, ==, 4);
    for (int i = 0; i < c.n && i < 4; i++) {
        uint32_t len = udp_frame_len(AF_INET, sz[i]);
        CHECK_INT(c.p[i].packet_size, ==, len);
        CHECK_INT(c.p[i].data_size, ==, len < 64 ? len : 64);
        CHECK(mac_is(c.p[i].data, T.a.mac));
        CHECK(mac_is(c.p[i].data + 6, T.b.mac));
        CHECK(memcmp(c.p[i].data + 26, "\x0a\x4d\x00\x02\x0a\x4d\x00\x01", 8) == 0); /* IPs */
        uint8_t want[1500];
        make_payload(want, sz[i], i);
        uint32_t plen = c.p[i].data_size - 42;
        CHECK(memcmp(c.p[i].data + 42, want, plen) == 0);
    }
    CHECK_INT(c.p[0].data_size, <, c.p[0].packet_size);
    ipm_free(m);
    cap_free(&c);
    close(rx);
    close(tx);
}

/* ---------------- statistics mode ---------------- */

static void t_stats_totals(void)
{
    t_setup_pair();
    int rx = udp_socket(T.a.ns, AF_INET, PORT_A), tx = udp_socket(T.b.ns, AF_INET, 0);
    /* Two monitors on the same interface at once, the same traffic. */
    ipm_monitor *mc = t_new_monitor("udp port 7001", TIMEOUT_MS);
    ipm_monitor *ms = t_new_monitor("udp port 7001", TIMEOUT_MS);
    capture c, unused;
    statcol s;
    memset(&s, 0, sizeof s);
    cap_init(&c, 128);
    cap_init(&unused, 4);
    cap_attach(&c, mc);
    cap_attach(&unused, ms); /* on_packet must not fire in statistics mode */
    CHECK_OK(ms, ipm_set_on_statistics(ms, stat_on_statistics, &s));
    CHECK_OK(ms, ipm_set_operation_mode(ms, IPM_OM_STAT));
    CHECK_INT(ipm_get_operation_mode(ms), ==, IPM_OM_STAT);
    CHECK_ERR(ms, ipm_set_operation_mode(ms, 2), IPM_E_INVALID_ARGUMENT);
    CHECK_OK(mc, ipm_activate(mc, T.a.ifname));
    CHECK_OK(ms, ipm_activate(ms, T.a.ifname));
    CHECK_ERR(ms, ipm_set_operation_mode(ms, IPM_OM_CAPTURE), IPM_E_ACTIVE);
    CHECK_INT(ipm_get_operation_mode(ms), ==, IPM_OM_STAT);
    int idx = adapter_index(ms, T.a.ifname);

    const int N = 30;
    size_t sz[] = {10, 500, 1200, 0, 77};
    int64_t want_bytes = 0;
    for (int i = 0; i < N; i++)
        want_bytes += udp_frame_len(AF_INET, sz[i % 5]);
    CHECK_INT(udp_send(tx, T.a.ip4, PORT_A, N, sz, 5, 0), ==, N);
    CHECK_INT(udp_drain(rx, N, 3000), ==, N);
    int calls = 0;
    long long deadline = nh_now_ms() + 5000, quiet_until = 0;
    /* Pump both until both have everything, then 200 ms more. */
    while (nh_now_ms() < deadline) {
        CHECK_OK(mc, ipm_do_events(mc));
        CHECK_OK(ms, ipm_do_events(ms));
        calls++;
        if (c.n >= N && s.packets >= N && !quiet_until)
            quiet_until = nh_now_ms() + 200;
        if (quiet_until && nh_now_ms() >= quiet_until)
            break;
    }
    int64_t cap_bytes = 0;
    for (int i = 0; i < c.n && i < c.max; i++)
        cap_bytes += c.p[i].packet_size;
    printf("stats: %d events, %lld packets %lld bytes; capture %d packets %lld bytes\n", s.events,
           (long long)s.packets, (long long)s.bytes, c.n, (long long)cap_bytes);
    CHECK_INT(c.n, ==, N);
    CHECK_INT(s.packets, ==, N);
    CHECK_INT(cap_bytes, ==, want_bytes);
    CHECK_INT(s.bytes, ==, want_bytes);
    CHECK_INT(s.events, ==, calls); /* one per do_events (one adapter) */
    CHECK_INT(s.adapter_index, ==, idx);
    CHECK_STR(s.adapter, T.a.ifname);
    CHECK_INT(s.ts_backwards, ==, 0);
    CHECK_INT(s.detail_events, ==, 0);
    CHECK_INT(unused.n, ==, 0);
    int64_t received = -1;
    CHECK_OK(ms, ipm_get_statistics(ms, &received, NULL, NULL));
    CHECK_INT(received, ==, N);
    ipm_free(mc);
    ipm_free(ms);
    cap_free(&c);
    cap_free(&unused);
    close(rx);
    close(tx);
}

/* Zero counts are reported; collect_statistics=0 silences the adapter. */
static void t_stats_zero_and_off(void)
{
    t_setup_pair();
    ipm_monitor *m = t_new_monitor("udp port 9", TIMEOUT_MS);
    statcol s;
    memset(&s, 0, sizeof s);
    CHECK_OK(m, ipm_set_on_statistics(m, stat_on_statistics, &s));
    CHECK_OK(m, ipm_set_operation_mode(m, IPM_OM_STAT));
    CHECK_OK(m, ipm_activate(m, T.a.ifname));
    for (int i = 0; i < 5; i++) {
        int64_t before = realtime_ns();
        CHECK_OK(m, ipm_do_events(m));
        int64_t after = realtime_ns();
        /* collected during this do_events */
        CHECK_INT(ts_ns(s.last_ts), >=, before / 1000 * 1000);
        CHECK_INT(ts_ns(s.last_ts), <=, after);
    }
    CHECK_INT(s.events, ==, 5);
    CHECK_INT(s.zero_events, ==, 5);
    CHECK_OK(m, ipm_deactivate(m));

    int idx = adapter_index(m, T.a.ifname);
    CHECK_INT(ipm_get_adapter_collect_statistics(m, idx), ==, 1);
    CHECK_OK(m, ipm_set_adapter_collect_statistics(m, idx, 0));
    CHECK_INT(ipm_get_adapter_collect_statistics(m, idx), ==, 0);
    memset(&s, 0, sizeof s);
    CHECK_OK(m, ipm_activate(m, T.a.ifname));
    long long t0 = nh_now_ms();
    for (int i = 0; i < 3; i++)
        CHECK_OK(m, ipm_do_events(m));
    long long took = nh_now_ms() - t0;
    CHECK_INT(s.events, ==, 0);
    CHECK_INT(took, <, 3000); /* still bounded by the packet timeout */
    /* Turning it back on while active is allowed (not an inactive-only setting). */
    CHECK_OK(m, ipm_set_adapter_collect_statistics(m, idx, 1));
    CHECK_OK(m, ipm_do_events(m));
    CHECK_INT(s.events, ==, 1);
    ipm_free(m);
}

/* config StatisticsDetail: direction, protocol and family split. */
static void t_stats_detail(void)
{
    t_setup_pair();
    int rx4 = udp_socket(T.a.ns, AF_INET, PORT_A), tx4 = udp_socket(T.b.ns, AF_INET, 0);
    int rx6 = udp_socket(T.b.ns, AF_INET6, PORT_B), tx6 = udp_socket(T.a.ns, AF_INET6, 0);
    ipm_monitor *m = t_new_monitor("udp or icmp", TIMEOUT_MS);
    statcol s;
    memset(&s, 0, sizeof s);
    CHECK_OK(m, ipm_set_on_statistics(m, stat_on_statistics, &s));
    CHECK_OK(m, ipm_set_operation_mode(m, IPM_OM_STAT));
    const char *r = ipm_config(m, "StatisticsDetail=True");
    CHECK(r != NULL);
    CHECK_STR(ipm_config(m, "statisticsdetail"), "True");
    /* statistics mode ignores the snapshot length: sizes stay whole */
    CHECK_OK(m, ipm_set_adapter_max_packet_bytes(m, adapter_index(m, T.a.ifname), 60));
    CHECK_OK(m, ipm_activate(m, T.a.ifname));
    size_t sz[] = {100};
    CHECK_INT(udp_send(tx4, T.a.ip4, PORT_A, 4, sz, 1, 0), ==, 4);
    CHECK_INT(udp_send(tx6, T.b.ip6, PORT_B, 3, sz, 1, 0), ==, 3);
    CHECK_INT(nh_run("ip netns exec %s ping -4 -q -c 2 -i 0.05 -W 2 %s >/dev/null", T.b.ns, T.a.ip4), ==, 0);
    CHECK_INT(udp_drain(rx4, 4, 3000), ==, 4);
    CHECK_INT(udp_drain(rx6, 3, 3000), ==, 3);
    CHECK_OK(m, pump_until64(m, &s.packets, 11, 5000));
    CHECK_OK(m, pump_for(m, 200));
    CHECK_INT(s.packets, ==, 11);
    CHECK_INT(s.detail_events, ==, s.events);
    CHECK_INT(s.in_packets, ==, 4 + 2);
    CHECK_INT(s.out_packets, ==, 3 + 2);
    CHECK_INT(s.in_bytes, ==, 4 * udp_frame_len(AF_INET, 100) + 2 * 98);
    CHECK_INT(s.out_bytes, ==, 3 * udp_frame_len(AF_INET6, 100) + 2 * 98);
    CHECK_INT(s.proto_packets[IPM_PROTO_UDP], ==, 7);
    CHECK_INT(s.proto_packets[IPM_PROTO_ICMP], ==, 4);
    CHECK_INT(s.proto_packets[IPM_PROTO_TCP], ==, 0);
    CHECK_INT(s.proto_bytes[IPM_PROTO_ICMP], ==, 4 * 98);
    CHECK_INT(s.family_packets[IPM_FAMILY_IPV4], ==, 8);
    CHECK_INT(s.family_packets[IPM_FAMILY_IPV6], ==, 3);
    CHECK_INT(s.family_packets[IPM_FAMILY_OTHER], ==, 0);
    CHECK_INT(s.bytes, ==, s.in_bytes + s.out_bytes);
    ipm_free(m);
    close(rx4);
    close(tx4);
    close(rx6);
    close(tx6);
}

/* ---------------- get_statistics ---------------- */

static void t_get_statistics(void)
{
    t_setup_pair();
    int rx1 = udp_socket(T.a.ns, AF_INET, 7001), rx2 = udp_socket(T.a.ns, AF_INET, 7003);
    int tx = udp_socket(T.b.ns, AF_INET, 0);
    ipm_monitor *m = t_new_monitor("udp dst port 7001", TIMEOUT_MS);
    capture c;
    cap_init(&c, 64);
    cap_attach(&c, m);
    CHECK_OK(m, ipm_activate(m, T.a.ifname));
    CHECK_OK(m, ipm_get_statistics(m, NULL, NULL, NULL)); /* any pointer may be NULL */
    for (int k = 0; k < 4; k++)
        send_both_ports(tx, rx1, rx2, k * 10);
    CHECK_OK(m, pump_until(m, &c.n, 12, 5000));
    CHECK_OK(m, pump_for(m, 200));
    CHECK_INT(c.n, ==, 12);
    int64_t rcv = -1, drop = -1, ifdrop = -1;
    CHECK_OK(m, ipm_get_statistics(m, &rcv, &drop, &ifdrop));
    CHECK_INT(rcv, ==, 12); /* packets that passed the filter */
    CHECK_INT(drop, ==, 0);
    CHECK_INT(ifdrop, >=, 0);
    CHECK_OK(m, ipm_deactivate(m));
    rcv = -1;
    CHECK_OK(m, ipm_get_statistics(m, &rcv, &drop, NULL)); /* kept after deactivate */
    CHECK_INT(rcv, ==, 12);
    /* A new activation starts from zero. */
    CHECK_OK(m, ipm_activate(m, T.a.ifname));
    send_both_ports(tx, rx1, rx2, 100);
    int mark = c.n;
    CHECK_OK(m, pump_until(m, &c.n, mark + 3, 5000));
    CHECK_OK(m, pump_for(m, 200));
    CHECK_OK(m, ipm_get_statistics(m, &rcv, &drop, NULL));
    CHECK_INT(rcv, ==, 3);
    ipm_free(m);
    cap_free(&c);
    close(rx1);
    close(rx2);
    close(tx);
}

/* ---------------- on_error from a failing handler ---------------- */

static void t_on_error_packet(void)
{
    t_setup_pair();
    int rx = udp_socket(T.a.ns, AF_INET, PORT_A), tx = udp_socket(T.b.ns, AF_INET, 0);
    ipm_monitor *m = t_new_monitor("udp port 7001", TIMEOUT_MS);
    capture c;
    cap_init(&c, 64);
    cap_attach(&c, m);
    c.odd_result = 7; /* every 2nd packet's handler "fails" */
    CHECK_OK(m, ipm_activate(m, T.a.ifname));
    int idx = adapter_index(m, T.a.ifname);
    size_t sz[] = {50};
    CHECK_INT(udp_send(tx, T.a.ip4, PORT_A, 6, sz, 1, 0), ==, 6);
    CHECK_INT(udp_drain(rx, 6, 3000), ==, 6);
    CHECK_OK(m, pump_until(m, &c.n, 6, 5000));
    CHECK_OK(m, pump_for(m, 200));
    CHECK_INT(c.n, ==, 6);  /* capture went on */
    CHECK_INT(c.errors, ==, 3);
    CHECK_INT(c.last_error_code, ==, IPM_E_HANDLER);
    CHECK_INT(c.last_handler_result, ==, 7);
    CHECK_INT(c.error_adapter_index, ==, idx);
    CHECK(c.last_error_desc[0] != '\0');
    CHECK_INT(ipm_get_active(m), ==, 1);
    for (int i = 0; i < 6 && i < c.n; i++)
        check_udp_packet(&c.p[i], AF_INET, 50, i, c.p[0].data[34] << 8 | c.p[0].data[35], PORT_A,
                         IPM_PACKET_DIRECTION_INCOMING);
    ipm_free(m);
    cap_free(&c);
    close(rx);
    close(tx);
}

static void t_on_error_stats(void)
{
    t_setup_pair();
    ipm_monitor *m = t_new_monitor("udp port 9", TIMEOUT_MS);
    capture c;
    cap_init(&c, 4);
    cap_attach(&c, m);
    statcol s;
    memset(&s, 0, sizeof s);
    s.result = -3;
    CHECK_OK(m, ipm_set_on_statistics(m, stat_on_statistics, &s));
    CHECK_OK(m, ipm_set_operation_mode(m, IPM_OM_STAT));
    CHECK_OK(m, ipm_activate(m, T.a.ifname));
    for (int i = 0; i < 3; i++)
        CHECK_OK(m, ipm_do_events(m));
    CHECK_INT(s.events, ==, 3);
    CHECK_INT(c.errors, ==, 3);
    CHECK_INT(c.last_error_code, ==, IPM_E_HANDLER);
    CHECK_INT(c.last_handler_result, ==, -3);
    CHECK_INT(ipm_get_active(m), ==, 1);
    ipm_free(m);
    cap_free(&c);
}

/* ---------------- deactivate from a callback / another thread ---------------- */

static void t_deactivate_in_callback(void)
{
    t_setup_pair();
    int rx = udp_socket(T.a.ns, AF_INET, PORT_A), tx = udp_socket(T.b.ns, AF_INET, 0);
    ipm_monitor *m = t_new_monitor("udp port 7001", TIMEOUT_MS);
    capture c;
    cap_init(&c, 64);
    cap_attach(&c, m);
    c.stop_after = 2;
    CHECK_OK(m, ipm_activate(m, T.a.ifname));
    size_t sz[] = {80};
    CHECK_INT(udp_send(tx, T.a.ip4, PORT_A, 5, sz, 1, 0), ==, 5);
    CHECK_INT(udp_drain(rx, 5, 3000), ==, 5);
    long long deadline = nh_now_ms() + 5000;
    int rc = 0;
    while (c.n < 2 && nh_now_ms() < deadline && rc == 0)
        rc = ipm_do_events(m);
    CHECK_INT(rc, ==, 0);
    CHECK_INT(c.n, ==, 2);
    CHECK_INT(c.stop_rc, ==, 0);
    CHECK_INT(c.active_after_stop, ==, 0);
    CHECK_INT(c.calls_after_stop, ==, 0);
    CHECK_INT(ipm_get_active(m), ==, 0);
    long long t0 = nh_now_ms();
    CHECK_OK(m, ipm_do_events(m)); /* inactive: returns at once */
    CHECK_INT(nh_now_ms() - t0, <, 40);
    CHECK_INT(c.calls_after_stop, ==, 0);
    CHECK_OK(m, ipm_deactivate(m)); /* already inactive: fine */

    /* The monitor activates again and captures normally. */
    c.stop_after = 0;
    c.n = 0;
    CHECK_OK(m, ipm_activate(m, T.a.ifname));
    CHECK_INT(udp_send(tx, T.a.ip4, PORT_A, 3, sz, 1, 0), ==, 3);
    CHECK_INT(udp_drain(rx, 3, 3000), ==, 3);
    CHECK_OK(m, pump_until(m, &c.n, 3, 5000));
    CHECK_OK(m, pump_for(m, 200));
    CHECK_INT(c.n, ==, 3);
    ipm_free(m);
    cap_free(&c);
    close(rx);
    close(tx);
}

static void t_deactivate_in_stats_callback(void)
{
    t_setup_pair();
    ipm_monitor *m = t_new_monitor("udp port 9", TIMEOUT_MS);
    statcol s;
    memset(&s, 0, sizeof s);
    s.m = m;
    s.stop_at_event = 2;
    CHECK_OK(m, ipm_set_on_statistics(m, stat_on_statistics, &s));
    CHECK_OK(m, ipm_set_operation_mode(m, IPM_OM_STAT));
    CHECK_OK(m, ipm_activate(m, T.a.ifname));
    for (int i = 0; i < 4; i++)
        CHECK_OK(m, ipm_do_events(m));
    CHECK_INT(s.events, ==, 2);
    CHECK_INT(ipm_get_active(m), ==, 0);
    ipm_free(m);
}

typedef struct waiter {
    ipm_monitor *m;
    atomic_int main_waiting;
    int rc;
    long long at;
} waiter;

static void *deactivate_later(void *arg)
{
    waiter *w = arg;
    const struct timespec tick = {0, 1000 * 1000};
    while (!atomic_load(&w->main_waiting))
        nanosleep(&tick, NULL);
    /* Give do_events time to get into its wait: there is no observable
     * condition for "blocked in poll" to wait for. */
    const struct timespec settle = {0, 150 * 1000 * 1000};
    nanosleep(&settle, NULL);
    w->at = nh_now_ms();
    w->rc = ipm_deactivate(w->m);
    return NULL;
}

static void t_deactivate_from_thread_waiting(void)
{
    t_setup_pair();
    ipm_monitor *m = t_new_monitor("udp port 9", 4000); /* a long wait */
    capture c;
    cap_init(&c, 4);
    cap_attach(&c, m);
    CHECK_OK(m, ipm_activate(m, T.a.ifname));
    waiter w = {.m = m, .rc = -100};
    pthread_t th;
    REQUIRE(pthread_create(&th, NULL, deactivate_later, &w) == 0);
    atomic_store(&w.main_waiting, 1);
    long long t0 = nh_now_ms();
    int rc = ipm_do_events(m);
    long long t1 = nh_now_ms();
    pthread_join(th, NULL);
    printf("do_events returned %d after %lld ms (deactivate at +%lld ms)\n", rc, t1 - t0, w.at - t0);
    CHECK_INT(rc, ==, 0);
    CHECK_INT(w.rc, ==, 0);
    CHECK_INT(t1 - t0, <, 2000); /* woken, not timed out */
    CHECK_INT(ipm_get_active(m), ==, 0);
    CHECK_OK(m, ipm_do_events(m));
    ipm_free(m);
    cap_free(&c);
}

/* Shared by the tests that deactivate from another thread under a flood:
 * what the packet callback saw, before and after the deactivation. */
typedef struct flood {
    ipm_monitor *m;
    int tx;
    atomic_int seen, deactivated, after, stop_flood;
    int rc, active_after;
    unsigned delay_us; /* before the deactivating thread acts */
} flood;

static int flood_on_packet(const ipm_packet_event *ev, void *user)
{
    flood *f = user;
    (void)ev;
    if (atomic_load(&f->deactivated))
        atomic_fetch_add(&f->after, 1);
    atomic_fetch_add(&f->seen, 1);
    return 0;
}

static void *flood_and_deactivate(void *arg)
{
    flood *f = arg;
    size_t sz[] = {300};
    long long deadline = nh_now_ms() + 10000;
    while (atomic_load(&f->seen) < 200 && nh_now_ms() < deadline)
        udp_send(f->tx, T.a.ip4, PORT_A, 4, sz, 1, 0);
    f->rc = ipm_deactivate(f->m);
    f->active_after = ipm_get_active(f->m);
    atomic_store(&f->deactivated, 1);
    /* keep traffic coming: nothing may be delivered any more */
    for (int i = 0; i < 200; i++)
        udp_send(f->tx, T.a.ip4, PORT_A, 1, sz, 1, 0);
    return NULL;
}

static void t_deactivate_from_thread_dispatching(void)
{
    t_setup_pair();
    int rx = udp_socket(T.a.ns, AF_INET, PORT_A);
    ipm_monitor *m = t_new_monitor("udp port 7001", 20);
    flood f = {.m = m, .rc = -100, .active_after = -1};
    f.tx = udp_socket(T.b.ns, AF_INET, 0);
    CHECK_OK(m, ipm_set_on_packet(m, flood_on_packet, &f));
    CHECK_OK(m, ipm_activate(m, T.a.ifname));
    pthread_t th;
    REQUIRE(pthread_create(&th, NULL, flood_and_deactivate, &f) == 0);
    long long deadline = nh_now_ms() + 15000;
    int rc = 0, calls = 0;
    while (ipm_get_active(m) == 1 && nh_now_ms() < deadline && rc == 0) {
        rc = ipm_do_events(m);
        calls++;
    }
    pthread_join(th, NULL);
    printf("flood: %d packets in %d do_events, rc %d\n", atomic_load(&f.seen), calls, rc);
    CHECK_INT(rc, ==, 0);
    CHECK_INT(f.rc, ==, 0);
    CHECK_INT(f.active_after, ==, 0);
    CHECK_INT(atomic_load(&f.seen), >=, 200);
    CHECK_INT(atomic_load(&f.after), ==, 0);
    CHECK_INT(ipm_get_active(m), ==, 0);
    CHECK_OK(m, ipm_do_events(m));
    CHECK_INT(atomic_load(&f.after), ==, 0);
    ipm_free(m);
    close(rx);
    close(f.tx);
}

/* ---------------- two monitors ---------------- */

static void t_two_monitors_veth(void)
{
    t_setup_pair();
    int rx = udp_socket(T.a.ns, AF_INET, PORT_A), tx = udp_socket(T.b.ns, AF_INET, 0);
    /* m2 lives in b: list and activate there, then come back to a. */
    REQUIRE(nh_enter(T.b.ns) == 0);
    ipm_monitor *m2 = t_new_monitor("udp port 7001", TIMEOUT_MS);
    capture c2;
    cap_init(&c2, 32);
    cap_attach(&c2, m2);
    CHECK_OK(m2, ipm_set_direction(m2, IPM_PACKET_DIRECTION_OUTGOING));
    CHECK_OK(m2, ipm_activate(m2, T.b.ifname));
    REQUIRE(nh_enter(T.a.ns) == 0);
    ipm_monitor *m1 = t_new_monitor("udp", TIMEOUT_MS);
    capture c1;
    cap_init(&c1, 32);
    cap_attach(&c1, m1);
    CHECK_OK(m1, ipm_set_direction(m1, IPM_PACKET_DIRECTION_INCOMING));
    CHECK_OK(m1, ipm_set_adapter_max_packet_bytes(m1, adapter_index(m1, T.a.ifname), 64));
    CHECK_OK(m1, ipm_activate(m1, T.a.ifname));

    size_t sz[] = {1000};
    CHECK_INT(udp_send(tx, T.a.ip4, PORT_A, 4, sz, 1, 0), ==, 4);
    CHECK_INT(udp_drain(rx, 4, 3000), ==, 4);
    long long deadline = nh_now_ms() + 5000;
    while ((c1.n < 4 || c2.n < 4) && nh_now_ms() < deadline) {
        CHECK_OK(m1, ipm_do_events(m1));
        CHECK_OK(m2, ipm_do_events(m2));
    }
    CHECK_OK(m1, pump_for(m1, 100));
    CHECK_OK(m2, pump_for(m2, 100));
    CHECK_INT(c1.n, ==, 4);
    CHECK_INT(c2.n, ==, 4);
    for (int i = 0; i < 4 && i < c1.n && i < c2.n; i++) {
        CHECK_INT(c1.p[i].direction, ==, IPM_PACKET_DIRECTION_INCOMING);
        CHECK_INT(c2.p[i].direction, ==, IPM_PACKET_DIRECTION_OUTGOING);
        CHECK_INT(c1.p[i].data_size, ==, 64);
        CHECK_INT(c2.p[i].data_size, ==, 1042);
        CHECK_STR(c1.p[i].adapter, T.a.ifname);
        CHECK_STR(c2.p[i].adapter, T.b.ifname);
        CHECK(memcmp(c1.p[i].data, c2.p[i].data, 64) == 0);
    }
    /* Stopping one leaves the other running. */
    CHECK_OK(m1, ipm_deactivate(m1));
    CHECK_INT(udp_send(tx, T.a.ip4, PORT_A, 2, sz, 1, 10), ==, 2);
    CHECK_INT(udp_drain(rx, 2, 3000), ==, 2);
    CHECK_OK(m2, pump_until(m2, &c2.n, 6, 5000));
    CHECK_OK(m2, pump_for(m2, 100));
    CHECK_INT(c2.n, ==, 6);
    CHECK_INT(c1.n, ==, 4);
    ipm_free(m1);
    ipm_free(m2);
    cap_free(&c1);
    cap_free(&c2);
    close(rx);
    close(tx);
}

static void t_two_monitors_veth_lo(void)
{
    t_setup_pair();
    int rx = udp_socket(T.a.ns, AF_INET, PORT_A), tx = udp_socket(T.b.ns, AF_INET, 0);
    int lo_tx = udp_socket(T.a.ns, AF_INET, 0);
    ipm_monitor *m1 = t_new_monitor("udp port 7001", TIMEOUT_MS);
    ipm_monitor *m2 = t_new_monitor("udp port 7001", TIMEOUT_MS);
    capture c1, c2;
    cap_init(&c1, 32);
    cap_init(&c2, 32);
    cap_attach(&c1, m1);
    cap_attach(&c2, m2);
    CHECK_OK(m1, ipm_activate(m1, T.a.ifname));
    CHECK_OK(m2, ipm_activate(m2, "lo"));
    size_t sz[] = {120};
    CHECK_INT(udp_send(tx, T.a.ip4, PORT_A, 3, sz, 1, 0), ==, 3);
    CHECK_INT(udp_send(lo_tx, "127.0.0.1", PORT_A, 5, sz, 1, 50), ==, 5);
    CHECK_INT(udp_drain(rx, 8, 3000), ==, 8);
    long long deadline = nh_now_ms() + 5000;
    while ((c1.n < 3 || c2.n < 5) && nh_now_ms() < deadline) {
        CHECK_OK(m1, ipm_do_events(m1));
        CHECK_OK(m2, ipm_do_events(m2));
    }
    CHECK_OK(m1, pump_for(m1, 100));
    CHECK_OK(m2, pump_for(m2, 100));
    CHECK_INT(c1.n, ==, 3);
    CHECK_INT(c2.n, ==, 5);
    for (int i = 0; i < c2.n && i < 5; i++) {
        check_udp_packet(&c2.p[i], AF_INET, 120, 50 + i, c2.p[0].data[34] << 8 | c2.p[0].data[35],
                         PORT_A, c2.p[i].direction);
        CHECK_STR(c2.p[i].adapter, "lo");
    }
    ipm_free(m1);
    ipm_free(m2);
    cap_free(&c1);
    cap_free(&c2);
    close(rx);
    close(tx);
    close(lo_tx);
}

/* One monitor, two adapters: per-adapter events. */
typedef struct per_adapter {
    int events[2], zero[2];
    int64_t packets[2];
    const char *names[2];
} per_adapter;

static int per_adapter_stats(const ipm_statistics_event *ev, void *user)
{
    per_adapter *p = user;
    for (int i = 0; i < 2; i++)
        if (ev->adapter && strcmp(ev->adapter, p->names[i]) == 0) {
            p->events[i]++;
            p->zero[i] += ev->captured_packets == 0;
            p->packets[i] += ev->captured_packets;
        }
    return 0;
}

static void t_activate_many_stats(void)
{
    t_setup_pair();
    int rx = udp_socket(T.a.ns, AF_INET, PORT_A), tx = udp_socket(T.b.ns, AF_INET, 0);
    ipm_monitor *m = t_new_monitor("udp port 7001", TIMEOUT_MS);
    per_adapter pa = {.names = {T.a.ifname, "lo"}};
    CHECK_OK(m, ipm_set_on_statistics(m, per_adapter_stats, &pa));
    CHECK_OK(m, ipm_set_operation_mode(m, IPM_OM_STAT));
    const char *names[] = {T.a.ifname, "lo"};
    const char *bad[] = {T.a.ifname, "nosuchif9"};
    CHECK_ERR(m, ipm_activate_many(m, bad, 2), IPM_E_ADAPTER_NOT_FOUND);
    CHECK_INT(ipm_get_active(m), ==, 0);
    CHECK_OK(m, ipm_activate_many(m, names, 2));
    for (int i = 0; i < 3; i++)
        CHECK_OK(m, ipm_do_events(m));
    CHECK_INT(pa.events[0], ==, 3);
    CHECK_INT(pa.events[1], ==, 3);
    size_t sz[] = {10};
    CHECK_INT(udp_send(tx, T.a.ip4, PORT_A, 4, sz, 1, 0), ==, 4);
    CHECK_INT(udp_drain(rx, 4, 3000), ==, 4);
    CHECK_OK(m, pump_until64(m, &pa.packets[0], 4, 5000));
    CHECK_OK(m, pump_for(m, 100));
    CHECK_INT(pa.packets[0], ==, 4);
    CHECK_INT(pa.packets[1], ==, 0);
    CHECK_INT(pa.events[0], ==, pa.events[1]);
    ipm_free(m);
    close(rx);
    close(tx);
}

/* ---------------- loopback with a tcpdump cross-check ---------------- */

static void t_loopback(void)
{
    t_setup_pair();
    int rx = udp_socket(T.a.ns, AF_INET, 7300), tx = udp_socket(T.a.ns, AF_INET, 0);
    int rx6 = udp_socket(T.a.ns, AF_INET6, 7301), tx6 = udp_socket(T.a.ns, AF_INET6, 0);
    ipm_monitor *m = t_new_monitor("udp portrange 7300-7301", TIMEOUT_MS);
    capture c, td;
    cap_init(&c, 64);
    cap_init(&td, 64);
    cap_attach(&c, m);
    CHECK_OK(m, ipm_activate(m, "lo"));
    int idx = adapter_index(m, "lo");
    tcpdump_run run;
    REQUIRE(tcpdump_start(&run, T.a.ns, "lo", "udp portrange 7300-7301") == 0);
    size_t sz[] = {1, 300, 1400};
    CHECK_INT(udp_send(tx, "127.0.0.1", 7300, 10, sz, 3, 0), ==, 10);
    CHECK_INT(udp_send(tx6, "::1", 7301, 4, sz, 3, 10), ==, 4);
    CHECK_INT(udp_drain(rx, 10, 3000), ==, 10);
    CHECK_INT(udp_drain(rx6, 4, 3000), ==, 4);
    CHECK_OK(m, pump_until(m, &c.n, 14, 5000));
    CHECK_OK(m, pump_for(m, 300));
    REQUIRE(tcpdump_finish(&run, &td) == 0);
    printf("loopback: ipmonitor %d, tcpdump %d\n", c.n, td.n);
    CHECK_INT(c.n, ==, 14); /* each packet once, not twice */
    compare_captures(&c, "ipmonitor", &td, "tcpdump");
    for (int i = 0; i < c.n && i < 14; i++) {
        int v6 = i >= 10;
        CHECK_INT(c.p[i].packet_size, ==, udp_frame_len(v6 ? AF_INET6 : AF_INET, sz[(v6 ? i - 10 : i) % 3]));
        CHECK_INT(c.p[i].adapter_index, ==, idx);
        CHECK_INT(c.p[i].link_type, ==, 1);
        /* README: on loopback every packet is the incoming copy */
        CHECK_INT(c.p[i].direction, ==, IPM_PACKET_DIRECTION_INCOMING);
    }
    ipm_free(m);
    cap_free(&c);
    cap_free(&td);
    close(rx);
    close(tx);
    close(rx6);
    close(tx6);
}

/* ---------------- ImmediateMode ---------------- */

static void t_immediate_mode(void)
{
    t_setup_pair();
    int rx = udp_socket(T.a.ns, AF_INET, PORT_A), tx = udp_socket(T.b.ns, AF_INET, 0);
    ipm_monitor *m = ipm_new(); /* default packet_timeout: 1000 ms */
    REQUIRE(m);
    CHECK_OK(m, ipm_set_filter(m, "udp port 7001"));
    CHECK(ipm_config(m, "ImmediateMode=True") != NULL);
    CHECK_STR(ipm_config(m, "IMMEDIATEMODE"), "True");
    capture c;
    cap_init(&c, 8);
    cap_attach(&c, m);
    CHECK_OK(m, ipm_activate(m, T.a.ifname));
    size_t sz[] = {10};
    CHECK_INT(udp_send(tx, T.a.ip4, PORT_A, 1, sz, 1, 0), ==, 1);
    CHECK_INT(udp_drain(rx, 1, 3000), ==, 1);
    long long t0 = nh_now_ms();
    CHECK_OK(m, pump_until(m, &c.n, 1, 3000));
    long long took = nh_now_ms() - t0;
    printf("immediate mode: packet after %lld ms\n", took);
    CHECK_INT(c.n, ==, 1);
    CHECK_INT(took, <, 500);
    ipm_free(m);
    cap_free(&c);
    close(rx);
    close(tx);
}

/* ---------------- direction combined with filters ---------------- */

/* The direction must bind to the whole user expression, "or" included, and
 * must survive filter changes while active. */
static void t_direction_with_filters(void)
{
    t_setup_pair();
    two_way w;
    two_way_open(&w);
    ipm_monitor *m = t_new_monitor("udp dst port 7001 or udp dst port 7002", TIMEOUT_MS);
    int in, out, other;
    const int dirs[] = {IPM_PACKET_DIRECTION_INCOMING, IPM_PACKET_DIRECTION_OUTGOING};
    for (int k = 0; k < 2; k++) {
        capture c;
        cap_init(&c, 64);
        cap_attach(&c, m);
        CHECK_OK(m, ipm_set_direction(m, dirs[k]));
        CHECK_OK(m, ipm_activate(m, T.a.ifname));
        two_way_send(&w, 3, 2);
        int want = k == 0 ? 3 : 2;
        CHECK_OK(m, pump_until(m, &c.n, want, 5000));
        CHECK_OK(m, pump_for(m, 200));
        count_dirs(&c, 0, &in, &out, &other);
        printf("direction %d with \"or\" filter: in %d out %d\n", dirs[k], in, out);
        CHECK_INT(c.n, ==, want);
        CHECK_INT(k == 0 ? in : out, ==, want);
        CHECK_OK(m, ipm_deactivate(m));
        cap_free(&c);
    }
    /* direction IN, then filters changed while active */
    capture c;
    cap_init(&c, 64);
    cap_attach(&c, m);
    CHECK_OK(m, ipm_set_direction(m, IPM_PACKET_DIRECTION_INCOMING));
    CHECK_OK(m, ipm_set_filter(m, "not udp dst port 9999 and udp"));
    CHECK_OK(m, ipm_activate(m, T.a.ifname));
    CHECK_OK(m, ipm_set_filter(m, "udp"));
    two_way_send(&w, 3, 2);
    CHECK_OK(m, pump_until(m, &c.n, 3, 5000));
    CHECK_OK(m, pump_for(m, 200));
    count_dirs(&c, 0, &in, &out, &other);
    CHECK_INT(c.n, ==, 3);
    CHECK_INT(in, ==, 3);
    int mark = c.n;
    CHECK_OK(m, ipm_set_filter(m, "udp dst port 7002 or udp dst port 7001"));
    two_way_send(&w, 3, 2);
    CHECK_OK(m, pump_until(m, &c.n, mark + 3, 5000));
    CHECK_OK(m, pump_for(m, 200));
    count_dirs(&c, mark, &in, &out, &other);
    CHECK_INT(c.n - mark, ==, 3);
    CHECK_INT(in, ==, 3);
    ipm_free(m);
    cap_free(&c);
    two_way_close(&w);
}

/* ---------------- the "any" pseudo-device ---------------- */

static void t_any_device(void)
{
    t_setup_pair();
    two_way w;
    two_way_open(&w);
    ipm_monitor *m = t_new_monitor("udp", TIMEOUT_MS);
    for (int k = 0; k < 2; k++) {
        capture c;
        cap_init(&c, 64);
        cap_attach(&c, m);
        CHECK_OK(m, ipm_set_direction(m, k == 0 ? IPM_PACKET_DIRECTION_ANY : IPM_PACKET_DIRECTION_INCOMING));
        CHECK_OK(m, ipm_activate(m, "any"));
        int lt = ipm_get_link_type(m);
        CHECK(lt == 113 || lt == 276); /* DLT_LINUX_SLL / SLL2 */
        two_way_send(&w, 3, 2);
        int want = k == 0 ? 5 : 3;
        CHECK_OK(m, pump_until(m, &c.n, want, 5000));
        CHECK_OK(m, pump_for(m, 200));
        int in = 0, out = 0;
        for (int i = 0; i < c.n && i < c.max; i++) {
            in += c.p[i].direction == IPM_PACKET_DIRECTION_INCOMING;
            out += c.p[i].direction == IPM_PACKET_DIRECTION_OUTGOING;
            CHECK_INT(c.p[i].link_type, ==, lt);
            CHECK_STR(c.p[i].adapter, "any");
            CHECK_INT(c.p[i].packet_size, ==, (lt == 113 ? 16 : 20) + 20 + 8 + 200);
        }
        printf("any (dir %d): %d packets, in %d out %d\n", k, c.n, in, out);
        CHECK_INT(c.n, ==, want);
        CHECK_INT(in, ==, 3);
        CHECK_INT(out, ==, k == 0 ? 2 : 0);
        CHECK_OK(m, ipm_deactivate(m));
        cap_free(&c);
    }
    ipm_free(m);
    two_way_close(&w);
}

/* ---------------- the adapter disappears ---------------- */

static void t_adapter_gone(void)
{
    t_setup_pair();
    ipm_monitor *m = t_new_monitor("udp", TIMEOUT_MS);
    capture c;
    cap_init(&c, 8);
    cap_attach(&c, m);
    CHECK_OK(m, ipm_activate(m, T.a.ifname));
    int idx = adapter_index(m, T.a.ifname);
    CHECK_OK(m, ipm_do_events(m));
    CHECK_INT(nh_run("ip -n %s link del %s", T.a.ns, T.a.ifname), ==, 0);
    long long deadline = nh_now_ms() + 3000;
    int rc = 0;
    while (rc == 0 && ipm_get_active(m) == 1 && nh_now_ms() < deadline)
        rc = ipm_do_events(m);
    printf("adapter gone: do_events %d, active %d, on_error %d \"%s\"\n", rc, ipm_get_active(m), c.errors,
           c.last_error_desc);
    CHECK_INT(rc, ==, IPM_E_ADAPTER_GONE);
    CHECK_INT(c.errors, ==, 1);
    CHECK_INT(c.last_error_code, ==, IPM_E_ADAPTER_GONE);
    CHECK_INT(c.error_adapter_index, ==, idx);
    CHECK_INT(ipm_get_active(m), ==, 0); /* its only adapter was closed */
    CHECK_OK(m, ipm_do_events(m));
    /* the monitor is still usable */
    CHECK_OK(m, ipm_activate(m, "lo"));
    CHECK_OK(m, ipm_do_events(m));
    CHECK_OK(m, ipm_deactivate(m));
    ipm_free(m);
    cap_free(&c);
}

/* ---------------- a full ring: drops counted exactly ---------------- */

static void t_ring_overflow(void)
{
    t_setup_pair();
    int rx = udp_socket(T.a.ns, AF_INET, PORT_A), tx = udp_socket(T.b.ns, AF_INET, 0);
    int big = 64 << 20;
    setsockopt(rx, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big);
    ipm_monitor *mc = t_new_monitor("udp dst port 7001", TIMEOUT_MS);
    ipm_monitor *ms = t_new_monitor("udp dst port 7001", TIMEOUT_MS);
    int idx = adapter_index(mc, T.a.ifname);
    CHECK_OK(mc, ipm_set_adapter_buffer_size(mc, idx, 128)); /* 128 KB ring */
    CHECK_OK(ms, ipm_set_adapter_buffer_size(ms, idx, 128));
    capture c;
    cap_init(&c, 4096);
    cap_attach(&c, mc);
    statcol s;
    memset(&s, 0, sizeof s);
    CHECK_OK(ms, ipm_set_on_statistics(ms, stat_on_statistics, &s));
    CHECK_OK(ms, ipm_set_operation_mode(ms, IPM_OM_STAT));
    CHECK_OK(mc, ipm_activate(mc, T.a.ifname));
    CHECK_OK(ms, ipm_activate(ms, T.a.ifname));
    /* Nobody calls do_events while this is sent: the ring overflows. */
    const int N = 3000;
    size_t sz[] = {1000};
    int got = 0;
    for (int k = 0; k < N / 250; k++) {
        udp_send(tx, T.a.ip4, PORT_A, 250, sz, 1, k * 250);
        got += udp_drain(rx, 250, 3000);
    }
    REQUIRE(got == N); /* every frame crossed the interface */
    long long deadline = nh_now_ms() + 5000, quiet = 0;
    while (nh_now_ms() < deadline) {
        CHECK_OK(mc, ipm_do_events(mc));
        CHECK_OK(ms, ipm_do_events(ms));
        if (!quiet && s.packets > 0 && c.n > 0)
            quiet = nh_now_ms() + 300;
        if (quiet && nh_now_ms() >= quiet)
            break;
    }
    int64_t rcv = -1, drop = -1, ifdrop = -1;
    CHECK_OK(mc, ipm_get_statistics(mc, &rcv, &drop, &ifdrop));
    printf("ring overflow: captured %d, dropped %lld, received %lld; stats mode %lld + %lld dropped\n", c.n,
           (long long)drop, (long long)rcv, (long long)s.packets, (long long)s.dropped);
    CHECK_INT(drop, >, 0);
    CHECK_INT(c.n + drop, ==, N);
    CHECK_INT(rcv, ==, N);
    int64_t srcv = -1, sdrop = -1;
    CHECK_OK(ms, ipm_get_statistics(ms, &srcv, &sdrop, NULL));
    CHECK_INT(srcv, ==, N);
    CHECK_INT(s.packets + sdrop, ==, N);
    /* on_statistics reports the drops of each interval; they add up */
    CHECK_INT(s.dropped, ==, sdrop);
    ipm_free(mc);
    ipm_free(ms);
    cap_free(&c);
    close(rx);
    close(tx);
}

/* ---------------- do_events waits about packet_timeout ---------------- */

static void t_do_events_timeout(void)
{
    t_setup_pair();
    ipm_monitor *m = t_new_monitor("udp port 9", 200);
    CHECK_OK(m, ipm_activate(m, T.a.ifname));
    for (int i = 0; i < 3; i++) {
        long long t0 = nh_now_ms();
        CHECK_OK(m, ipm_do_events(m));
        long long took = nh_now_ms() - t0;
        printf("do_events with no traffic: %lld ms\n", took);
        CHECK_INT(took, >=, 100);  /* waits, does not spin */
        CHECK_INT(took, <=, 600);  /* at most the packet timeout (+ slack) */
    }
    ipm_free(m);
}

/* ---------------- one monitor, two adapters, own settings ---------------- */

static void t_activate_many_settings(void)
{
    t_setup_pair();
    int rx = udp_socket(T.a.ns, AF_INET, PORT_A), tx = udp_socket(T.b.ns, AF_INET, 0);
    int lo_tx = udp_socket(T.a.ns, AF_INET, 0);
    ipm_monitor *m = t_new_monitor("udp dst port 7001", TIMEOUT_MS);
    int iv = adapter_index(m, T.a.ifname), il = adapter_index(m, "lo");
    CHECK_OK(m, ipm_set_adapter_max_packet_bytes(m, iv, 64));
    capture c;
    cap_init(&c, 64);
    cap_attach(&c, m);
    const char *names[] = {T.a.ifname, "lo"};
    CHECK_OK(m, ipm_activate_many(m, names, 2));
    size_t sz[] = {900};
    CHECK_INT(udp_send(tx, T.a.ip4, PORT_A, 3, sz, 1, 0), ==, 3);
    CHECK_INT(udp_send(lo_tx, "127.0.0.1", PORT_A, 2, sz, 1, 10), ==, 2);
    CHECK_INT(udp_drain(rx, 5, 3000), ==, 5);
    CHECK_OK(m, pump_until(m, &c.n, 5, 5000));
    CHECK_OK(m, pump_for(m, 200));
    CHECK_INT(c.n, ==, 5);
    int nv = 0, nl = 0;
    for (int i = 0; i < c.n && i < c.max; i++) {
        CHECK_INT(c.p[i].packet_size, ==, udp_frame_len(AF_INET, 900));
        if (c.p[i].adapter_index == iv) {
            nv++;
            CHECK_STR(c.p[i].adapter, T.a.ifname);
            CHECK_INT(c.p[i].data_size, ==, 64);
        } else if (c.p[i].adapter_index == il) {
            nl++;
            CHECK_STR(c.p[i].adapter, "lo");
            CHECK_INT(c.p[i].data_size, ==, c.p[i].packet_size);
        }
    }
    CHECK_INT(nv, ==, 3);
    CHECK_INT(nl, ==, 2);
    /* A filter set while active applies to both adapters. */
    CHECK_OK(m, ipm_set_filter(m, "udp dst port 7003"));
    int mark = c.n;
    CHECK_INT(udp_send(tx, T.a.ip4, PORT_A, 2, sz, 1, 0), ==, 2);
    CHECK_INT(udp_send(lo_tx, "127.0.0.1", PORT_A, 2, sz, 1, 10), ==, 2);
    CHECK_INT(udp_drain(rx, 4, 3000), ==, 4);
    CHECK_OK(m, pump_for(m, 300));
    CHECK_INT(c.n, ==, mark);
    ipm_free(m);
    cap_free(&c);
    close(rx);
    close(tx);
    close(lo_tx);
}

/* A filter that compiles for one monitored adapter's link type but not the
 * other's is refused as a whole while active; the old one stays on both. */
static void t_filter_many_linktypes(void)
{
    t_setup_pair();
    int rx = udp_socket(T.a.ns, AF_INET, PORT_A), tx = udp_socket(T.b.ns, AF_INET, 0);
    ipm_monitor *m = t_new_monitor("udp dst port 7001", TIMEOUT_MS);
    capture c;
    cap_init(&c, 64);
    cap_attach(&c, m);
    const char *names[] = {T.a.ifname, "any"};
    CHECK_OK(m, ipm_activate_many(m, names, 2));
    int rc = ipm_set_filter(m, "ether src 02:77:00:00:00:02 and udp");
    printf("ether filter on {veth, any}: %d %s\n", rc, ipm_last_error(m));
    if (rc == 0) {
        /* libpcap compiled it for both: nothing to check about refusal */
        CHECK_STR(ipm_get_filter(m), "ether src 02:77:00:00:00:02 and udp");
    } else {
        CHECK_INT(rc, ==, IPM_E_BAD_FILTER);
        CHECK_STR(ipm_get_filter(m), "udp dst port 7001");
        size_t sz[] = {10};
        CHECK_INT(udp_send(tx, T.a.ip4, PORT_A, 2, sz, 1, 0), ==, 2);
        CHECK_INT(udp_drain(rx, 2, 3000), ==, 2);
        CHECK_OK(m, pump_until(m, &c.n, 4, 5000)); /* once on the veth, once on any */
        CHECK_OK(m, pump_for(m, 200));
        CHECK_INT(c.n, ==, 4);
    }
    ipm_free(m);
    cap_free(&c);
    close(rx);
    close(tx);
}

/* ---------------- handlers changed while active ---------------- */

typedef struct swap {
    ipm_monitor *m;
    int a, b;
} swap;

static int swap_b(const ipm_packet_event *ev, void *user)
{
    (void)ev;
    ((swap *)user)->b++;
    return 0;
}

static int swap_a(const ipm_packet_event *ev, void *user)
{
    swap *s = user;
    (void)ev;
    s->a++;
    ipm_set_on_packet(s->m, swap_b, s); /* from inside the handler */
    return 0;
}

static void t_handler_swap(void)
{
    t_setup_pair();
    int rx = udp_socket(T.a.ns, AF_INET, PORT_A), tx = udp_socket(T.b.ns, AF_INET, 0);
    ipm_monitor *m = t_new_monitor("udp dst port 7001", TIMEOUT_MS);
    swap s = {.m = m};
    CHECK_OK(m, ipm_set_on_packet(m, swap_a, &s));
    CHECK_OK(m, ipm_activate(m, T.a.ifname));
    size_t sz[] = {10};
    CHECK_INT(udp_send(tx, T.a.ip4, PORT_A, 5, sz, 1, 0), ==, 5);
    CHECK_INT(udp_drain(rx, 5, 3000), ==, 5);
    long long deadline = nh_now_ms() + 5000;
    while (s.a + s.b < 5 && nh_now_ms() < deadline)
        CHECK_OK(m, ipm_do_events(m));
    CHECK_INT(s.a, ==, 1);
    CHECK_INT(s.b, ==, 4);
    /* No handler: packets still counted, nothing called. */
    CHECK_OK(m, ipm_set_on_packet(m, NULL, NULL));
    CHECK_INT(udp_send(tx, T.a.ip4, PORT_A, 3, sz, 1, 0), ==, 3);
    CHECK_INT(udp_drain(rx, 3, 3000), ==, 3);
    CHECK_OK(m, pump_for(m, 300));
    int64_t rcv = 0;
    CHECK_OK(m, ipm_get_statistics(m, &rcv, NULL, NULL));
    CHECK_INT(rcv, ==, 8);
    CHECK_INT(s.a + s.b, ==, 5);
    ipm_free(m);
    close(rx);
    close(tx);
}

/* ---------------- an adapter created after list_adapters ---------------- */

static void t_unlisted_adapter(void)
{
    t_setup_pair();
    ipm_monitor *m = t_new_monitor("udp dst port 7001", TIMEOUT_MS);
    int listed = ipm_get_adapter_count(m);
    /* A second veth pair between a and b, made after the listing. */
    char xa[16], xb[16];
    snprintf(xa, sizeof xa, "xa%d", (int)getpid() % 1000000);
    snprintf(xb, sizeof xb, "xb%d", (int)getpid() % 1000000);
    REQUIRE(nh_run("ip link add %s netns %s address 02:77:00:00:01:01 type veth peer name %s netns %s "
                   "address 02:77:00:00:01:02", xa, T.a.ns, xb, T.b.ns) == 0);
    REQUIRE(nh_run("ip -n %s addr add 10.79.0.1/24 dev %s && ip -n %s link set %s up && "
                   "ip -n %s addr add 10.79.0.2/24 dev %s && ip -n %s link set %s up && "
                   "ip -n %s neigh replace 10.79.0.1 lladdr 02:77:00:00:01:01 dev %s nud permanent",
                   T.a.ns, xa, T.a.ns, xa, T.b.ns, xb, T.b.ns, xb, T.b.ns, xb) == 0);
    capture c;
    cap_init(&c, 16);
    cap_attach(&c, m);
    CHECK_INT(ipm_find_adapter(m, xa), ==, IPM_E_ADAPTER_NOT_FOUND);
    CHECK_OK(m, ipm_activate(m, xa)); /* tried as a live interface */
    CHECK_INT(ipm_get_adapter_count(m), ==, listed);
    int rx = udp_socket(T.a.ns, AF_INET, PORT_A), tx = udp_socket(T.b.ns, AF_INET, 0);
    /* wait for carrier on the new pair: the send fails until it is up */
    size_t sz[] = {64};
    long long deadline = nh_now_ms() + 5000;
    int sent = 0;
    while (sent < 3 && nh_now_ms() < deadline) {
        if (udp_send(tx, "10.79.0.1", PORT_A, 1, sz, 1, sent) == 1 && udp_drain(rx, 1, 200) == 1)
            sent++;
    }
    CHECK_INT(sent, ==, 3);
    CHECK_OK(m, pump_until(m, &c.n, 3, 5000));
    CHECK_OK(m, pump_for(m, 200));
    CHECK_INT(c.n, ==, 3);
    for (int i = 0; i < c.n && i < 3; i++) {
        CHECK_INT(c.p[i].adapter_index, ==, -1); /* not in the list */
        CHECK_STR(c.p[i].adapter, xa);
        CHECK_INT(c.p[i].data_size, ==, c.p[i].packet_size);
        CHECK_INT(c.p[i].direction, ==, IPM_PACKET_DIRECTION_INCOMING);
    }
    ipm_free(m);
    cap_free(&c);
    close(rx);
    close(tx);
}

/* ---------------- deactivate from on_error ---------------- */

typedef struct err_stop {
    ipm_monitor *m;
    int packets, errors, after;
} err_stop;

static int err_stop_packet(const ipm_packet_event *ev, void *user)
{
    err_stop *e = user;
    (void)ev;
    if (e->errors)
        e->after++;
    e->packets++;
    return 1; /* always "fails" */
}

static void err_stop_error(const ipm_error_event *ev, void *user)
{
    err_stop *e = user;
    (void)ev;
    e->errors++;
    ipm_deactivate(e->m);
}

static void t_deactivate_in_on_error(void)
{
    t_setup_pair();
    int rx = udp_socket(T.a.ns, AF_INET, PORT_A), tx = udp_socket(T.b.ns, AF_INET, 0);
    ipm_monitor *m = t_new_monitor("udp dst port 7001", TIMEOUT_MS);
    err_stop e = {.m = m};
    CHECK_OK(m, ipm_set_on_packet(m, err_stop_packet, &e));
    CHECK_OK(m, ipm_set_on_error(m, err_stop_error, &e));
    CHECK_OK(m, ipm_activate(m, T.a.ifname));
    size_t sz[] = {10};
    CHECK_INT(udp_send(tx, T.a.ip4, PORT_A, 5, sz, 1, 0), ==, 5);
    CHECK_INT(udp_drain(rx, 5, 3000), ==, 5);
    CHECK_OK(m, pump_until(m, &e.packets, 1, 5000));
    CHECK_INT(e.packets, ==, 1);
    CHECK_INT(e.errors, ==, 1);
    CHECK_INT(e.after, ==, 0);
    CHECK_INT(ipm_get_active(m), ==, 0);
    ipm_free(m);
    close(rx);
    close(tx);
}

/* received counts only what passed the filter, even with other traffic
 * flowing while the capture is being opened. */
static void t_get_statistics_with_noise(void)
{
    t_setup_pair();
    int rx = udp_socket(T.a.ns, AF_INET, PORT_A), tx = udp_socket(T.b.ns, AF_INET, 0);
    char *argv[] = {"ip", "netns", "exec", T.b.ns, "ping", "-q", "-f", "-w", "20", T.a.ip4, NULL};
    pid_t noise = nh_spawn(argv, NULL);
    REQUIRE(noise > 0);
    int errs = 0;
    for (int round = 0; round < 15; round++) {
        ipm_monitor *m = t_new_monitor("udp dst port 7001", TIMEOUT_MS);
        capture c;
        cap_init(&c, 64);
        cap_attach(&c, m);
        CHECK_OK(m, ipm_activate(m, T.a.ifname));
        size_t sz[] = {10};
        CHECK_INT(udp_send(tx, T.a.ip4, PORT_A, 10, sz, 1, 0), ==, 10);
        CHECK_INT(udp_drain(rx, 10, 3000), ==, 10);
        CHECK_OK(m, pump_until(m, &c.n, 10, 5000));
        CHECK_OK(m, pump_for(m, 100));
        int64_t rcv = -1;
        CHECK_OK(m, ipm_get_statistics(m, &rcv, NULL, NULL));
        printf("round %d: captured %d, received %lld\n", round, c.n, (long long)rcv);
        CHECK_INT(c.n, ==, 10);
        errs += rcv != 10;
        ipm_free(m);
        cap_free(&c);
    }
    CHECK_INT(errs, ==, 0);
    kill(noise, SIGTERM);
    waitpid(noise, NULL, 0);
    close(rx);
    close(tx);
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
    t_setup_pair();
    ipm_monitor *m = t_new_monitor("tcp port 7200", TIMEOUT_MS);
    capture c, td;
    cap_init(&c, 8192);
    cap_init(&td, 8192);
    cap_attach(&c, m);
    int idx = adapter_index(m, T.a.ifname);
    CHECK_OK(m, ipm_set_adapter_buffer_size(m, idx, 16384));
    CHECK_OK(m, ipm_activate(m, T.a.ifname));
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
        CHECK_OK(m, ipm_do_events(m)); /* keep the ring drained meanwhile */
    }
    shutdown(cs, SHUT_WR);
    pthread_join(th, NULL);
    close(cs);
    close(as);
    close(ls);
    CHECK_INT(arg, ==, sent);
    CHECK_OK(m, pump_for(m, 500));
    REQUIRE(tcpdump_finish(&run, &td) == 0);
    int64_t rcv = 0, drop = 0;
    CHECK_OK(m, ipm_get_statistics(m, &rcv, &drop, NULL));
    long payload = 0;
    uint32_t biggest = 0;
    for (int i = 0; i < c.n && i < c.max; i++) {
        int pl = 0;
        if (tcp_flags(&c.p[i], &pl) >= 0 && c.p[i].direction == IPM_PACKET_DIRECTION_INCOMING)
            payload += pl;
        CHECK_INT(c.p[i].data_size, ==, c.p[i].packet_size);
        if (c.p[i].packet_size > biggest)
            biggest = c.p[i].packet_size;
    }
    printf("tcp bulk: %d bytes, ipmonitor %d packets (largest %u bytes, dropped %lld), tcpdump %d\n", sent, c.n,
           biggest, (long long)drop, td.n);
    CHECK_INT(drop, ==, 0);
    CHECK_INT(payload, ==, sent);
    compare_captures(&c, "ipmonitor", &td, "tcpdump");
    ipm_free(m);
    cap_free(&c);
    cap_free(&td);
}

/* ---------------- filter change while active in statistics mode ---------------- */

static void t_stats_filter_change(void)
{
    t_setup_pair();
    int rx1 = udp_socket(T.a.ns, AF_INET, 7001), rx2 = udp_socket(T.a.ns, AF_INET, 7003);
    int tx = udp_socket(T.b.ns, AF_INET, 0);
    ipm_monitor *m = t_new_monitor("udp dst port 7001", TIMEOUT_MS);
    statcol s;
    memset(&s, 0, sizeof s);
    CHECK_OK(m, ipm_set_on_statistics(m, stat_on_statistics, &s));
    CHECK_OK(m, ipm_set_operation_mode(m, IPM_OM_STAT));
    CHECK_OK(m, ipm_activate(m, T.a.ifname));
    send_both_ports(tx, rx1, rx2, 0);
    CHECK_OK(m, pump_until64(m, &s.packets, 3, 5000));
    CHECK_OK(m, pump_for(m, 200));
    CHECK_INT(s.packets, ==, 3);
    CHECK_INT(s.bytes, ==, 3 * udp_frame_len(AF_INET, 64));
    CHECK_OK(m, ipm_set_filter(m, "udp dst port 7003 or udp dst port 7001"));
    send_both_ports(tx, rx1, rx2, 100);
    CHECK_OK(m, pump_until64(m, &s.packets, 9, 5000));
    CHECK_OK(m, pump_for(m, 200));
    CHECK_INT(s.packets, ==, 9);
    CHECK_ERR(m, ipm_set_filter(m, "udp dst port"), IPM_E_BAD_FILTER);
    send_both_ports(tx, rx1, rx2, 200);
    CHECK_OK(m, pump_until64(m, &s.packets, 15, 5000));
    CHECK_OK(m, pump_for(m, 200));
    CHECK_INT(s.packets, ==, 15);
    ipm_free(m);
    close(rx1);
    close(rx2);
    close(tx);
}

/* ---------------- deactivate from another thread, many times ---------------- */

static void *stress_flood(void *arg)
{
    flood *s = arg;
    size_t sz[] = {100};
    while (!atomic_load(&s->stop_flood))
        udp_send(s->tx, T.a.ip4, PORT_A, 8, sz, 1, 0);
    return NULL;
}

static void *stress_deactivate(void *arg)
{
    flood *s = arg;
    struct timespec d = {0, (long)s->delay_us * 1000};
    nanosleep(&d, NULL);
    ipm_deactivate(s->m);
    atomic_store(&s->deactivated, 1);
    return NULL;
}

static void t_deactivate_thread_stress(void)
{
    t_setup_pair();
    int rx = udp_socket(T.a.ns, AF_INET, PORT_A);
    ipm_monitor *m = t_new_monitor("udp dst port 7001", 10);
    flood s = {.m = m};
    s.tx = udp_socket(T.b.ns, AF_INET, 0);
    CHECK_OK(m, ipm_set_on_packet(m, flood_on_packet, &s));
    pthread_t flood;
    REQUIRE(pthread_create(&flood, NULL, stress_flood, &s) == 0);
    unsigned seed = (unsigned)getpid();
    int late = 0;
    for (int i = 0; i < 40; i++) {
        atomic_store(&s.deactivated, 0);
        s.delay_us = (unsigned)(rand_r(&seed) % 20000);
        CHECK_OK(m, ipm_activate(m, T.a.ifname));
        pthread_t th;
        REQUIRE(pthread_create(&th, NULL, stress_deactivate, &s) == 0);
        long long deadline = nh_now_ms() + 3000;
        while (ipm_get_active(m) == 1 && nh_now_ms() < deadline)
            CHECK_OK(m, ipm_do_events(m));
        pthread_join(th, NULL);
        late += ipm_get_active(m) != 0;
        CHECK_OK(m, ipm_do_events(m));
    }
    atomic_store(&s.stop_flood, 1);
    pthread_join(flood, NULL);
    printf("stress: %d packets over 40 activations\n", atomic_load(&s.seen));
    CHECK_INT(late, ==, 0);
    CHECK_INT(atomic_load(&s.after), ==, 0);
    CHECK_INT(atomic_load(&s.seen), >, 0);
    ipm_free(m);
    close(rx);
    close(s.tx);
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
    {"direction", t_direction},
    {"direction_while_active", t_direction_while_active},
    {"filter_change_active", t_filter_change_active},
    {"filter_inactive", t_filter_inactive},
    {"snaplen", t_snaplen},
    {"stats_totals", t_stats_totals},
    {"stats_zero_and_off", t_stats_zero_and_off},
    {"stats_detail", t_stats_detail},
    {"get_statistics", t_get_statistics},
    {"on_error_packet", t_on_error_packet},
    {"on_error_stats", t_on_error_stats},
    {"deactivate_in_callback", t_deactivate_in_callback},
    {"deactivate_in_stats_callback", t_deactivate_in_stats_callback},
    {"deactivate_thread_waiting", t_deactivate_from_thread_waiting},
    {"deactivate_thread_dispatching", t_deactivate_from_thread_dispatching},
    {"two_monitors_veth", t_two_monitors_veth},
    {"two_monitors_veth_lo", t_two_monitors_veth_lo},
    {"activate_many_stats", t_activate_many_stats},
    {"loopback", t_loopback},
    {"immediate_mode", t_immediate_mode},
    {"direction_with_filters", t_direction_with_filters},
    {"any_device", t_any_device},
    {"adapter_gone", t_adapter_gone},
    {"ring_overflow", t_ring_overflow},
    {"do_events_timeout", t_do_events_timeout},
    {"activate_many_settings", t_activate_many_settings},
    {"filter_many_linktypes", t_filter_many_linktypes},
    {"handler_swap", t_handler_swap},
    {"unlisted_adapter", t_unlisted_adapter},
    {"deactivate_in_on_error", t_deactivate_in_on_error},
    {"get_statistics_with_noise", t_get_statistics_with_noise},
    {"tcp_bulk", t_tcp_bulk},
    {"stats_filter_change", t_stats_filter_change},
    {"deactivate_thread_stress", t_deactivate_thread_stress},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, CASES, 1);
}
