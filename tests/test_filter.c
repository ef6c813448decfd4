/*
 * test_filter.c - filter expressions on real traffic over the namespaces'
 * veth pair: a new filter while active applies at once and exactly, a bad
 * one (while active or not) is refused and the old one stays in force, a
 * filter valid only on another link type is refused by activation, and on
 * several adapters of different link types at once; also a filter changed
 * while active in statistics mode.
 *
 * Run one case: test_filter CASE (see --list).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "testutil.h"

/* libpcap's pcap_compile, counted: this program's definition comes first in
 * the dynamic linker's search, so libipmonitor.so's calls land here and
 * are passed on to libpcap's. */
static int g_compiles[2]; /* [optimize] */

int pcap_compile(pcap_t *p, struct bpf_program *prog, const char *text, int optimize,
                 bpf_u_int32 netmask)
{
    static int (*real)(pcap_t *, struct bpf_program *, const char *, int, bpf_u_int32);
    if (!real)
        *(void **)&real = dlsym(RTLD_NEXT, "pcap_compile");
    g_compiles[optimize != 0]++;
    return real(p, prog, text, optimize, netmask);
}

/* ---------------- capture mode ---------------- */

static void t_filter_change_active(void)
{
    t_live f;
    t_live_setup(&f, (t_live_opts){.filter = "udp dst port 7001", .udp = 2});
    CHECK_OK(f.m, ipm_activate(f.m, T.a.ifname));

    send_both_ports(&f, 0);
    CHECK_OK(f.m, pump_until(f.m, &f.c.n, 3, 5000));
    CHECK_OK(f.m, pump_for(f.m, 200));
    CHECK_INT(f.c.n, ==, 3);
    CHECK_INT(count_dport(&f.c, 0, 7001), ==, 3);

    /* New filter while active: exactly the other port from now on. */
    CHECK_OK(f.m, ipm_set_filter(f.m, "udp dst port 7003"));
    CHECK_STR(ipm_get_filter(f.m), "udp dst port 7003");
    int mark = f.c.n;
    send_both_ports(&f, 100);
    CHECK_OK(f.m, pump_until(f.m, &f.c.n, mark + 3, 5000));
    CHECK_OK(f.m, pump_for(f.m, 200));
    CHECK_INT(f.c.n - mark, ==, 3);
    CHECK_INT(count_dport(&f.c, mark, 7003), ==, 3);

    /* A bad filter while active: refused, the old one stays in force. */
    CHECK_ERR(f.m, ipm_set_filter(f.m, "udp dst port"), IPM_E_BAD_FILTER);
    CHECK_CONTAINS(ipm_last_error(f.m), "syntax");
    CHECK_STR(ipm_get_filter(f.m), "udp dst port 7003");
    CHECK_INT(ipm_get_active(f.m), ==, 1);
    mark = f.c.n;
    send_both_ports(&f, 200);
    CHECK_OK(f.m, pump_until(f.m, &f.c.n, mark + 3, 5000));
    CHECK_OK(f.m, pump_for(f.m, 200));
    CHECK_INT(f.c.n - mark, ==, 3);
    CHECK_INT(count_dport(&f.c, mark, 7003), ==, 3);

    /* "" captures everything again (both ports). */
    CHECK_OK(f.m, ipm_set_filter(f.m, ""));
    mark = f.c.n;
    send_both_ports(&f, 300);
    CHECK_OK(f.m, pump_until(f.m, &f.c.n, mark + 6, 5000));
    CHECK_OK(f.m, pump_for(f.m, 200));
    CHECK_INT(count_dport(&f.c, mark, 7001), ==, 3);
    CHECK_INT(count_dport(&f.c, mark, 7003), ==, 3);
    t_live_teardown(&f);
}

/* Bad filters while inactive, and a link-type-specific one. */
static void t_filter_inactive(void)
{
    t_live f;
    t_live_setup(&f, (t_live_opts){.udp = 2});
    CHECK_STR(ipm_get_filter(f.m), "");
    CHECK_ERR(f.m, ipm_set_filter(f.m, "this is not a filter ("), IPM_E_BAD_FILTER);
    CHECK_STR(ipm_get_filter(f.m), "");
    CHECK_OK(f.m, ipm_set_filter(f.m, "udp dst port 7003"));
    CHECK_ERR(f.m, ipm_set_filter(f.m, "port 99999"), IPM_E_BAD_FILTER);
    CHECK_STR(ipm_get_filter(f.m), "udp dst port 7003");

    /* Valid only on 802.11: accepted now, refused by activation on Ethernet. */
    CHECK_OK(f.m, ipm_set_filter(f.m, "type mgt"));
    CHECK_STR(ipm_get_filter(f.m), "type mgt");
    int rc = ipm_activate(f.m, T.a.ifname);
    CHECK_INT(rc, <, 0);
    CHECK_INT(rc, ==, IPM_E_BAD_FILTER);
    CHECK(ipm_last_error(f.m)[0] != '\0');
    printf("type mgt on ethernet: %d %s\n", rc, ipm_last_error(f.m));
    CHECK_INT(ipm_get_active(f.m), ==, 0);

    /* The same monitor still works. */
    CHECK_OK(f.m, ipm_set_filter(f.m, "udp dst port 7001"));
    CHECK_OK(f.m, ipm_activate(f.m, T.a.ifname));
    send_both_ports(&f, 0);
    CHECK_OK(f.m, pump_until(f.m, &f.c.n, 3, 5000));
    CHECK_OK(f.m, pump_for(f.m, 200));
    CHECK_INT(f.c.n, ==, 3);
    CHECK_INT(count_dport(&f.c, 0, 7001), ==, 3);
    /* NULL means "" */
    CHECK_OK(f.m, ipm_set_filter(f.m, NULL));
    CHECK_STR(ipm_get_filter(f.m), "");
    t_live_teardown(&f);
}

/* A filter that compiles for one monitored adapter's link type but not the
 * other's is refused as a whole while active; the old one stays on both. */
static void t_filter_many_linktypes(void)
{
    t_live f;
    t_live_setup(&f, (t_live_opts){.filter = "udp dst port 7001", .udp = 1});
    const char *names[] = {T.a.ifname, "any"};
    CHECK_OK(f.m, ipm_activate_many(f.m, names, 2));
    int rc = ipm_set_filter(f.m, "ether src 02:77:00:00:00:02 and udp");
    printf("ether filter on {veth, any}: %d %s\n", rc, ipm_last_error(f.m));
    if (rc == 0) {
        /* libpcap compiled it for both: nothing to check about refusal */
        CHECK_STR(ipm_get_filter(f.m), "ether src 02:77:00:00:00:02 and udp");
    } else {
        CHECK_INT(rc, ==, IPM_E_BAD_FILTER);
        CHECK_STR(ipm_get_filter(f.m), "udp dst port 7001");
        size_t sz[] = {10};
        CHECK_INT(udp_send(f.tx, T.a.ip4, T_PORT_A, 2, sz, 1, 0), ==, 2);
        CHECK_INT(udp_drain(f.rx, 2, 3000), ==, 2);
        CHECK_OK(f.m, pump_until(f.m, &f.c.n, 4, 5000)); /* once on the veth, once on any */
        CHECK_OK(f.m, pump_for(f.m, 200));
        CHECK_INT(f.c.n, ==, 4);
    }
    t_live_teardown(&f);
}

/* ---------------- filter change while active in statistics mode ---------------- */

static void t_stats_filter_change(void)
{
    t_live f;
    t_live_setup(&f, (t_live_opts){.filter = "udp dst port 7001", .stats = 1, .udp = 2});
    CHECK_OK(f.m, ipm_activate(f.m, T.a.ifname));
    send_both_ports(&f, 0);
    CHECK_OK(f.m, pump_until64(f.m, &f.s.packets, 3, 5000));
    CHECK_OK(f.m, pump_for(f.m, 200));
    CHECK_INT(f.s.packets, ==, 3);
    CHECK_INT(f.s.bytes, ==, 3 * udp_frame_len(AF_INET, 64));
    CHECK_OK(f.m, ipm_set_filter(f.m, "udp dst port 7003 or udp dst port 7001"));
    send_both_ports(&f, 100);
    CHECK_OK(f.m, pump_until64(f.m, &f.s.packets, 9, 5000));
    CHECK_OK(f.m, pump_for(f.m, 200));
    CHECK_INT(f.s.packets, ==, 9);
    CHECK_ERR(f.m, ipm_set_filter(f.m, "udp dst port"), IPM_E_BAD_FILTER);
    send_both_ports(&f, 200);
    CHECK_OK(f.m, pump_until64(f.m, &f.s.packets, 15, 5000));
    CHECK_OK(f.m, pump_for(f.m, 200));
    CHECK_INT(f.s.packets, ==, 15);
    t_live_teardown(&f);
}

/* Each program text is compiled once, with libpcap's optimizer (which is
 * what takes minutes for a large expression), per kind of source and link
 * type: set_filter while idle only parses it (no optimizer), activation
 * compiles it once for the adapter (it used to compile it a second time,
 * for the kernel, when the two texts were the same), and a change while
 * active once again; a direction makes two texts, one for libpcap and one
 * with the direction for the kernel. Capture still works after each. */
static void t_filter_compiled_once(void)
{
    t_live f;
    t_live_setup(&f, (t_live_opts){.udp = 2});
    CHECK_OK(f.m, ipm_set_filter(f.m, "udp dst port 7001"));
    CHECK_INT(g_compiles[1], ==, 0);
    CHECK(g_compiles[0] >= 1);
    CHECK_OK(f.m, ipm_activate(f.m, T.a.ifname));
    CHECK_INT(g_compiles[1], ==, 1);
    send_both_ports(&f, 0);
    CHECK_OK(f.m, pump_until(f.m, &f.c.n, 3, 5000));
    CHECK_INT(count_dport(&f.c, 0, 7001), ==, 3);

    CHECK_OK(f.m, ipm_set_filter(f.m, "udp dst port 7003"));
    CHECK_INT(g_compiles[1], ==, 2);
    int mark = f.c.n;
    send_both_ports(&f, 100);
    CHECK_OK(f.m, pump_until(f.m, &f.c.n, mark + 3, 5000));
    CHECK_INT(count_dport(&f.c, mark, 7003), ==, 3);

    CHECK_OK(f.m, ipm_set_direction(f.m, IPM_PACKET_DIRECTION_INCOMING));
    CHECK_INT(g_compiles[1], ==, 4);
    mark = f.c.n;
    send_both_ports(&f, 200);
    CHECK_OK(f.m, pump_until(f.m, &f.c.n, mark + 3, 5000));
    CHECK_INT(count_dport(&f.c, mark, 7003), ==, 3);
    t_live_teardown(&f);
}

static const t_case CASES[] = {
    {"filter_change_active", t_filter_change_active},
    {"filter_inactive", t_filter_inactive},
    {"filter_many_linktypes", t_filter_many_linktypes},
    {"stats_filter_change", t_stats_filter_change},
    {"filter_compiled_once", t_filter_compiled_once},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, CASES, 1);
}
