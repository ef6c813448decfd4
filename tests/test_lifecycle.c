/*
 * test_lifecycle.c - a monitor through the events of its life, on real
 * traffic over the namespaces' veth pair: handlers that fail (on_error, the
 * capture goes on), handlers changed or removed while active, do_events'
 * wait of about packet_timeout with no traffic, the adapter deleted while
 * active (IPM_E_ADAPTER_GONE through on_error, the monitor waits for it), and an adapter
 * created after list_adapters.
 *
 * Run one case: test_lifecycle CASE (see --list).
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

/* ---------------- on_error from a failing handler ---------------- */

static void t_on_error_packet(void)
{
    t_live f;
    t_live_setup(&f, (t_live_opts){.filter = "udp port 7001", .udp = 1});
    f.c.odd_result = 7; /* every 2nd packet's handler "fails" */
    CHECK_OK(f.m, ipm_activate(f.m, T.a.ifname));
    int idx = adapter_index(f.m, T.a.ifname);
    size_t sz[] = {50};
    CHECK_INT(udp_send(f.tx, T.a.ip4, T_PORT_A, 6, sz, 1, 0), ==, 6);
    CHECK_INT(udp_drain(f.rx, 6, 3000), ==, 6);
    CHECK_OK(f.m, pump_until(f.m, &f.c.n, 6, 5000));
    CHECK_OK(f.m, pump_for(f.m, 200));
    CHECK_INT(f.c.n, ==, 6);  /* capture went on */
    CHECK_INT(f.c.errors, ==, 3);
    CHECK_INT(f.c.last_error_code, ==, IPM_E_HANDLER);
    CHECK_INT(f.c.last_handler_result, ==, 7);
    CHECK_INT(f.c.error_adapter_index, ==, idx);
    CHECK(f.c.last_error_desc[0] != '\0');
    CHECK_INT(ipm_get_active(f.m), ==, 1);
    for (int i = 0; i < 6 && i < f.c.n; i++)
        check_udp_packet(&f.c.p[i], AF_INET, 50, i, f.c.p[0].data[34] << 8 | f.c.p[0].data[35], T_PORT_A,
                         IPM_PACKET_DIRECTION_INCOMING);
    t_live_teardown(&f);
}

static void t_on_error_stats(void)
{
    t_live f;
    t_live_setup(&f, (t_live_opts){.filter = "udp port 9", .cap_max = 4, .stats = 1});
    f.s.result = -3;
    CHECK_OK(f.m, ipm_activate(f.m, T.a.ifname));
    for (int i = 0; i < 3; i++)
        CHECK_OK(f.m, ipm_do_events(f.m));
    CHECK_INT(f.s.events, ==, 3);
    CHECK_INT(f.c.errors, ==, 3);
    CHECK_INT(f.c.last_error_code, ==, IPM_E_HANDLER);
    CHECK_INT(f.c.last_handler_result, ==, -3);
    CHECK_INT(ipm_get_active(f.m), ==, 1);
    t_live_teardown(&f);
}

/* ---------------- the adapter disappears ---------------- */

static void t_adapter_gone(void)
{
    t_live f;
    t_live_setup(&f, (t_live_opts){.filter = "udp", .cap_max = 8});
    CHECK_OK(f.m, ipm_activate(f.m, T.a.ifname));
    int idx = adapter_index(f.m, T.a.ifname);
    CHECK_OK(f.m, ipm_do_events(f.m));
    CHECK_INT(nh_run("ip -n %s link del %s", T.a.ns, T.a.ifname), ==, 0);
    long long deadline = nh_now_ms() + 3000;
    int rc = 0;
    while (rc == 0 && f.c.errors == 0 && nh_now_ms() < deadline)
        rc = ipm_do_events(f.m);
    printf("adapter gone: do_events %d, active %d, on_error %d \"%s\"\n", rc, ipm_get_active(f.m), f.c.errors,
           f.c.last_error_desc);
    /* A notice, not do_events' failure (issue 10; it returned
     * IPM_E_ADAPTER_GONE and deactivated before). */
    CHECK_INT(rc, ==, IPM_OK);
    CHECK_INT(f.c.errors, ==, 1);
    CHECK_INT(f.c.last_error_code, ==, IPM_E_ADAPTER_GONE);
    CHECK_INT(f.c.error_adapter_index, ==, idx);
    CHECK_INT(ipm_get_active(f.m), ==, 1); /* its only adapter closed: waits for it */
    CHECK_OK(f.m, ipm_do_events(f.m));
    CHECK_INT(f.c.errors, ==, 1);
    CHECK_OK(f.m, ipm_deactivate(f.m));
    CHECK_INT(ipm_get_active(f.m), ==, 0);
    /* the monitor is still usable */
    CHECK_OK(f.m, ipm_activate(f.m, "lo"));
    CHECK_OK(f.m, ipm_do_events(f.m));
    CHECK_OK(f.m, ipm_deactivate(f.m));
    t_live_teardown(&f);
}

/* ---------------- do_events waits about packet_timeout ---------------- */

static void t_do_events_timeout(void)
{
    t_live f;
    t_live_setup(&f, (t_live_opts){.filter = "udp port 9", .timeout_ms = 200});
    CHECK_OK(f.m, ipm_activate(f.m, T.a.ifname));
    for (int i = 0; i < 3; i++) {
        long long t0 = nh_now_ms();
        CHECK_OK(f.m, ipm_do_events(f.m));
        long long took = nh_now_ms() - t0;
        printf("do_events with no traffic: %lld ms\n", took);
        CHECK_INT(took, >=, 100);  /* waits, does not spin */
        CHECK_INT(took, <=, 600);  /* at most the packet timeout (+ slack) */
    }
    t_live_teardown(&f);
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
    t_live f;
    t_live_setup(&f, (t_live_opts){.filter = "udp dst port 7001", .udp = 1});
    swap s = {.m = f.m};
    CHECK_OK(f.m, ipm_set_on_packet(f.m, swap_a, &s));
    CHECK_OK(f.m, ipm_activate(f.m, T.a.ifname));
    size_t sz[] = {10};
    CHECK_INT(udp_send(f.tx, T.a.ip4, T_PORT_A, 5, sz, 1, 0), ==, 5);
    CHECK_INT(udp_drain(f.rx, 5, 3000), ==, 5);
    long long deadline = nh_now_ms() + 5000;
    while (s.a + s.b < 5 && nh_now_ms() < deadline)
        CHECK_OK(f.m, ipm_do_events(f.m));
    CHECK_INT(s.a, ==, 1);
    CHECK_INT(s.b, ==, 4);
    /* No handler: packets still counted, nothing called. */
    CHECK_OK(f.m, ipm_set_on_packet(f.m, NULL, NULL));
    CHECK_INT(udp_send(f.tx, T.a.ip4, T_PORT_A, 3, sz, 1, 0), ==, 3);
    CHECK_INT(udp_drain(f.rx, 3, 3000), ==, 3);
    CHECK_OK(f.m, pump_for(f.m, 300));
    int64_t rcv = 0;
    CHECK_OK(f.m, ipm_get_statistics(f.m, &rcv, NULL, NULL));
    CHECK_INT(rcv, ==, 8);
    CHECK_INT(s.a + s.b, ==, 5);
    t_live_teardown(&f);
}

/* ---------------- an adapter created after list_adapters ---------------- */

static void t_unlisted_adapter(void)
{
    t_live f;
    t_live_setup(&f, (t_live_opts){.filter = "udp dst port 7001", .cap_max = 16, .udp = 1});
    int listed = ipm_get_adapter_count(f.m);
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
    CHECK_INT(ipm_find_adapter(f.m, xa), ==, IPM_E_ADAPTER_NOT_FOUND);
    CHECK_OK(f.m, ipm_activate(f.m, xa)); /* tried as a live interface */
    CHECK_INT(ipm_get_adapter_count(f.m), ==, listed);
    /* wait for carrier on the new pair: the send fails until it is up */
    size_t sz[] = {64};
    long long deadline = nh_now_ms() + 5000;
    int sent = 0;
    while (sent < 3 && nh_now_ms() < deadline) {
        if (udp_send(f.tx, "10.79.0.1", T_PORT_A, 1, sz, 1, sent) == 1 && udp_drain(f.rx, 1, 200) == 1)
            sent++;
    }
    CHECK_INT(sent, ==, 3);
    CHECK_OK(f.m, pump_until(f.m, &f.c.n, 3, 5000));
    CHECK_OK(f.m, pump_for(f.m, 200));
    CHECK_INT(f.c.n, ==, 3);
    for (int i = 0; i < f.c.n && i < 3; i++) {
        CHECK_INT(f.c.p[i].adapter_index, ==, -1); /* not in the list */
        CHECK_STR(f.c.p[i].adapter, xa);
        CHECK_INT(f.c.p[i].data_size, ==, f.c.p[i].packet_size);
        CHECK_INT(f.c.p[i].direction, ==, IPM_PACKET_DIRECTION_INCOMING);
    }
    t_live_teardown(&f);
}

static const t_case CASES[] = {
    {"on_error_packet", t_on_error_packet},
    {"on_error_stats", t_on_error_stats},
    {"adapter_gone", t_adapter_gone},
    {"do_events_timeout", t_do_events_timeout},
    {"handler_swap", t_handler_swap},
    {"unlisted_adapter", t_unlisted_adapter},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, CASES, 1);
}
