/*
 * test_multi.c - more than one of a kind at once, on real traffic over the
 * namespaces' veth pair: two monitors (one in each namespace on the two
 * ends, or one on the veth and one on lo), and one monitor on two adapters
 * (per-adapter statistics events, per-adapter settings, a filter changed
 * while active applying to both).
 *
 * Run one case: test_multi CASE (see --list).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "testutil.h"

/* ---------------- two monitors ---------------- */

/* Pump both monitors in turn until each has captured its count (or 5 s
 * passed), then each for 100 ms more (to see that nothing more comes).
 * Each runs in the namespace it was activated in (ns1, ns2), as a
 * monitor's do_events must: the posix platform learns adapter changes by
 * listing the calling thread's interfaces. */
static void pump_both(t_live *f1, const char *ns1, int want1, t_live *f2, const char *ns2, int want2)
{
    long long deadline = nh_now_ms() + 5000;
    while ((f1->c.n < want1 || f2->c.n < want2) && nh_now_ms() < deadline) {
        REQUIRE(nh_enter(ns1) == 0);
        CHECK_OK(f1->m, ipm_do_events(f1->m));
        REQUIRE(nh_enter(ns2) == 0);
        CHECK_OK(f2->m, ipm_do_events(f2->m));
    }
    REQUIRE(nh_enter(ns1) == 0);
    CHECK_OK(f1->m, pump_for(f1->m, 100));
    REQUIRE(nh_enter(ns2) == 0);
    CHECK_OK(f2->m, pump_for(f2->m, 100));
    REQUIRE(nh_enter(T.a.ns) == 0);
}

static void t_two_monitors_veth(void)
{
    t_live f1, f2;
    t_live_setup(&f1, (t_live_opts){.filter = "udp", .cap_max = 32, .udp = 1});
    /* f2 lives in b: list and activate there, then come back to a. */
    REQUIRE(nh_enter(T.b.ns) == 0);
    t_live_monitor(&f2, (t_live_opts){.filter = "udp port 7001", .cap_max = 32});
    CHECK_OK(f2.m, ipm_set_direction(f2.m, IPM_PACKET_DIRECTION_OUTGOING));
    CHECK_OK(f2.m, ipm_activate(f2.m, T.b.ifname));
    REQUIRE(nh_enter(T.a.ns) == 0);
    CHECK_OK(f1.m, ipm_set_direction(f1.m, IPM_PACKET_DIRECTION_INCOMING));
    CHECK_OK(f1.m, ipm_set_adapter_max_packet_bytes(f1.m, adapter_index(f1.m, T.a.ifname), 64));
    CHECK_OK(f1.m, ipm_activate(f1.m, T.a.ifname));

    size_t sz[] = {1000};
    CHECK_INT(udp_send(f1.tx, T.a.ip4, T_PORT_A, 4, sz, 1, 0), ==, 4);
    CHECK_INT(udp_drain(f1.rx, 4, 3000), ==, 4);
    pump_both(&f1, T.a.ns, 4, &f2, T.b.ns, 4);
    CHECK_INT(f1.c.n, ==, 4);
    CHECK_INT(f2.c.n, ==, 4);
    for (int i = 0; i < 4 && i < f1.c.n && i < f2.c.n; i++) {
        CHECK_INT(f1.c.p[i].direction, ==, IPM_PACKET_DIRECTION_INCOMING);
        CHECK_INT(f2.c.p[i].direction, ==, IPM_PACKET_DIRECTION_OUTGOING);
        CHECK_INT(f1.c.p[i].data_size, ==, 64);
        CHECK_INT(f2.c.p[i].data_size, ==, 1042);
        CHECK_STR(f1.c.p[i].adapter, T.a.ifname);
        CHECK_STR(f2.c.p[i].adapter, T.b.ifname);
        CHECK(memcmp(f1.c.p[i].data, f2.c.p[i].data, 64) == 0);
    }
    /* Stopping one leaves the other running. */
    CHECK_OK(f1.m, ipm_deactivate(f1.m));
    CHECK_INT(udp_send(f1.tx, T.a.ip4, T_PORT_A, 2, sz, 1, 10), ==, 2);
    CHECK_INT(udp_drain(f1.rx, 2, 3000), ==, 2);
    REQUIRE(nh_enter(T.b.ns) == 0);
    CHECK_OK(f2.m, pump_until(f2.m, &f2.c.n, 6, 5000));
    CHECK_OK(f2.m, pump_for(f2.m, 100));
    REQUIRE(nh_enter(T.a.ns) == 0);
    CHECK_INT(f2.c.n, ==, 6);
    CHECK_INT(f1.c.n, ==, 4);
    t_live_teardown(&f1);
    t_live_teardown(&f2);
}

static void t_two_monitors_veth_lo(void)
{
    t_live f1, f2;
    t_live_setup(&f1, (t_live_opts){.filter = "udp port 7001", .cap_max = 32, .udp = 1});
    t_live_monitor(&f2, (t_live_opts){.filter = "udp port 7001", .cap_max = 32});
    int lo_tx = udp_socket(T.a.ns, AF_INET, 0);
    CHECK_OK(f1.m, ipm_activate(f1.m, T.a.ifname));
    CHECK_OK(f2.m, ipm_activate(f2.m, "lo"));
    size_t sz[] = {120};
    CHECK_INT(udp_send(f1.tx, T.a.ip4, T_PORT_A, 3, sz, 1, 0), ==, 3);
    CHECK_INT(udp_send(lo_tx, "127.0.0.1", T_PORT_A, 5, sz, 1, 50), ==, 5);
    CHECK_INT(udp_drain(f1.rx, 8, 3000), ==, 8);
    pump_both(&f1, T.a.ns, 3, &f2, T.a.ns, 5);
    CHECK_INT(f1.c.n, ==, 3);
    CHECK_INT(f2.c.n, ==, 5);
    for (int i = 0; i < f2.c.n && i < 5; i++) {
        check_udp_packet(&f2.c.p[i], AF_INET, 120, 50 + i, f2.c.p[0].data[34] << 8 | f2.c.p[0].data[35],
                         T_PORT_A, f2.c.p[i].direction);
        CHECK_STR(f2.c.p[i].adapter, "lo");
    }
    t_live_teardown(&f1);
    t_live_teardown(&f2);
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
    t_live f;
    t_live_setup(&f, (t_live_opts){.filter = "udp port 7001", .udp = 1});
    per_adapter pa = {.names = {T.a.ifname, "lo"}};
    CHECK_OK(f.m, ipm_set_on_statistics(f.m, per_adapter_stats, &pa));
    CHECK_OK(f.m, ipm_set_operation_mode(f.m, IPM_OM_STAT));
    const char *names[] = {T.a.ifname, "lo"};
    const char *bad[] = {T.a.ifname, "nosuchif9"};
    CHECK_ERR(f.m, ipm_activate_many(f.m, bad, 2), IPM_E_ADAPTER_NOT_FOUND);
    CHECK_INT(ipm_get_active(f.m), ==, 0);
    CHECK_OK(f.m, ipm_activate_many(f.m, names, 2));
    for (int i = 0; i < 3; i++)
        CHECK_OK(f.m, ipm_do_events(f.m));
    CHECK_INT(pa.events[0], ==, 3);
    CHECK_INT(pa.events[1], ==, 3);
    size_t sz[] = {10};
    CHECK_INT(udp_send(f.tx, T.a.ip4, T_PORT_A, 4, sz, 1, 0), ==, 4);
    CHECK_INT(udp_drain(f.rx, 4, 3000), ==, 4);
    CHECK_OK(f.m, pump_until64(f.m, &pa.packets[0], 4, 5000));
    CHECK_OK(f.m, pump_for(f.m, 100));
    CHECK_INT(pa.packets[0], ==, 4);
    CHECK_INT(pa.packets[1], ==, 0);
    CHECK_INT(pa.events[0], ==, pa.events[1]);
    t_live_teardown(&f);
}

/* ---------------- one monitor, two adapters, own settings ---------------- */

static void t_activate_many_settings(void)
{
    t_live f;
    t_live_setup(&f, (t_live_opts){.filter = "udp dst port 7001", .udp = 1});
    int lo_tx = udp_socket(T.a.ns, AF_INET, 0);
    int iv = adapter_index(f.m, T.a.ifname), il = adapter_index(f.m, "lo");
    CHECK_OK(f.m, ipm_set_adapter_max_packet_bytes(f.m, iv, 64));
    const char *names[] = {T.a.ifname, "lo"};
    CHECK_OK(f.m, ipm_activate_many(f.m, names, 2));
    size_t sz[] = {900};
    CHECK_INT(udp_send(f.tx, T.a.ip4, T_PORT_A, 3, sz, 1, 0), ==, 3);
    CHECK_INT(udp_send(lo_tx, "127.0.0.1", T_PORT_A, 2, sz, 1, 10), ==, 2);
    CHECK_INT(udp_drain(f.rx, 5, 3000), ==, 5);
    CHECK_OK(f.m, pump_until(f.m, &f.c.n, 5, 5000));
    CHECK_OK(f.m, pump_for(f.m, 200));
    CHECK_INT(f.c.n, ==, 5);
    int nv = 0, nl = 0;
    for (int i = 0; i < f.c.n && i < f.c.max; i++) {
        CHECK_INT(f.c.p[i].packet_size, ==, udp_frame_len(AF_INET, 900));
        if (f.c.p[i].adapter_index == iv) {
            nv++;
            CHECK_STR(f.c.p[i].adapter, T.a.ifname);
            CHECK_INT(f.c.p[i].data_size, ==, 64);
        } else if (f.c.p[i].adapter_index == il) {
            nl++;
            CHECK_STR(f.c.p[i].adapter, "lo");
            CHECK_INT(f.c.p[i].data_size, ==, f.c.p[i].packet_size);
        }
    }
    CHECK_INT(nv, ==, 3);
    CHECK_INT(nl, ==, 2);
    /* A filter set while active applies to both adapters. */
    CHECK_OK(f.m, ipm_set_filter(f.m, "udp dst port 7003"));
    int mark = f.c.n;
    CHECK_INT(udp_send(f.tx, T.a.ip4, T_PORT_A, 2, sz, 1, 0), ==, 2);
    CHECK_INT(udp_send(lo_tx, "127.0.0.1", T_PORT_A, 2, sz, 1, 10), ==, 2);
    CHECK_INT(udp_drain(f.rx, 4, 3000), ==, 4);
    CHECK_OK(f.m, pump_for(f.m, 300));
    CHECK_INT(f.c.n, ==, mark);
    t_live_teardown(&f);
    close(lo_tx);
}

static const t_case CASES[] = {
    {"two_monitors_veth", t_two_monitors_veth},
    {"two_monitors_veth_lo", t_two_monitors_veth_lo},
    {"activate_many_stats", t_activate_many_stats},
    {"activate_many_settings", t_activate_many_settings},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, CASES, 1);
}
