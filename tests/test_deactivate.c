/*
 * test_deactivate.c - ipm_deactivate on real traffic over the namespaces'
 * veth pair, from everywhere it may be called: inside the packet, the
 * statistics and the error callback (nothing more is delivered, the monitor
 * activates again), and from another thread while do_events waits, while it
 * dispatches a flood, and many times at random moments.
 *
 * Run one case: test_deactivate CASE (see --list).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

/* ---------------- deactivate from a callback / another thread ---------------- */

static void t_deactivate_in_callback(void)
{
    t_live f;
    t_live_setup(&f, (t_live_opts){.filter = "udp port 7001", .udp = 1});
    f.c.stop_after = 2;
    CHECK_OK(f.m, ipm_activate(f.m, T.a.ifname));
    size_t sz[] = {80};
    CHECK_INT(udp_send(f.tx, T.a.ip4, T_PORT_A, 5, sz, 1, 0), ==, 5);
    CHECK_INT(udp_drain(f.rx, 5, 3000), ==, 5);
    long long deadline = nh_now_ms() + 5000;
    int rc = 0;
    while (f.c.n < 2 && nh_now_ms() < deadline && rc == 0)
        rc = ipm_do_events(f.m);
    CHECK_INT(rc, ==, 0);
    CHECK_INT(f.c.n, ==, 2);
    CHECK_INT(f.c.stop_rc, ==, 0);
    CHECK_INT(f.c.active_after_stop, ==, 0);
    CHECK_INT(f.c.calls_after_stop, ==, 0);
    CHECK_INT(ipm_get_active(f.m), ==, 0);
    long long t0 = nh_now_ms();
    CHECK_OK(f.m, ipm_do_events(f.m)); /* inactive: returns at once */
    CHECK_INT(nh_now_ms() - t0, <, 40);
    CHECK_INT(f.c.calls_after_stop, ==, 0);
    CHECK_OK(f.m, ipm_deactivate(f.m)); /* already inactive: fine */

    /* The monitor activates again and captures normally. */
    f.c.stop_after = 0;
    f.c.n = 0;
    CHECK_OK(f.m, ipm_activate(f.m, T.a.ifname));
    CHECK_INT(udp_send(f.tx, T.a.ip4, T_PORT_A, 3, sz, 1, 0), ==, 3);
    CHECK_INT(udp_drain(f.rx, 3, 3000), ==, 3);
    CHECK_OK(f.m, pump_until(f.m, &f.c.n, 3, 5000));
    CHECK_OK(f.m, pump_for(f.m, 200));
    CHECK_INT(f.c.n, ==, 3);
    t_live_teardown(&f);
}

static void t_deactivate_in_stats_callback(void)
{
    t_live f;
    t_live_setup(&f, (t_live_opts){.filter = "udp port 9", .stats = 1});
    f.s.stop_at_event = 2;
    CHECK_OK(f.m, ipm_activate(f.m, T.a.ifname));
    for (int i = 0; i < 4; i++)
        CHECK_OK(f.m, ipm_do_events(f.m));
    CHECK_INT(f.s.events, ==, 2);
    CHECK_INT(ipm_get_active(f.m), ==, 0);
    t_live_teardown(&f);
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
    t_live f;
    t_live_setup(&f, (t_live_opts){.filter = "udp port 9", .timeout_ms = 4000, .cap_max = 4}); /* a long wait */
    CHECK_OK(f.m, ipm_activate(f.m, T.a.ifname));
    waiter w = {.m = f.m, .rc = -100};
    pthread_t th;
    REQUIRE(pthread_create(&th, NULL, deactivate_later, &w) == 0);
    atomic_store(&w.main_waiting, 1);
    long long t0 = nh_now_ms();
    int rc = ipm_do_events(f.m);
    long long t1 = nh_now_ms();
    pthread_join(th, NULL);
    printf("do_events returned %d after %lld ms (deactivate at +%lld ms)\n", rc, t1 - t0, w.at - t0);
    CHECK_INT(rc, ==, 0);
    CHECK_INT(w.rc, ==, 0);
    CHECK_INT(t1 - t0, <, 2000); /* woken, not timed out */
    CHECK_INT(ipm_get_active(f.m), ==, 0);
    CHECK_OK(f.m, ipm_do_events(f.m));
    t_live_teardown(&f);
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
        udp_send(f->tx, T.a.ip4, T_PORT_A, 4, sz, 1, 0);
    f->rc = ipm_deactivate(f->m);
    f->active_after = ipm_get_active(f->m);
    atomic_store(&f->deactivated, 1);
    /* keep traffic coming: nothing may be delivered any more */
    for (int i = 0; i < 200; i++)
        udp_send(f->tx, T.a.ip4, T_PORT_A, 1, sz, 1, 0);
    return NULL;
}

static void t_deactivate_from_thread_dispatching(void)
{
    t_live f;
    t_live_setup(&f, (t_live_opts){.filter = "udp port 7001", .timeout_ms = 20, .udp = 1});
    flood fl = {.m = f.m, .tx = f.tx, .rc = -100, .active_after = -1};
    CHECK_OK(f.m, ipm_set_on_packet(f.m, flood_on_packet, &fl));
    CHECK_OK(f.m, ipm_activate(f.m, T.a.ifname));
    pthread_t th;
    REQUIRE(pthread_create(&th, NULL, flood_and_deactivate, &fl) == 0);
    long long deadline = nh_now_ms() + 15000;
    int rc = 0, calls = 0;
    while (ipm_get_active(f.m) == 1 && nh_now_ms() < deadline && rc == 0) {
        rc = ipm_do_events(f.m);
        calls++;
    }
    pthread_join(th, NULL);
    printf("flood: %d packets in %d do_events, rc %d\n", atomic_load(&fl.seen), calls, rc);
    CHECK_INT(rc, ==, 0);
    CHECK_INT(fl.rc, ==, 0);
    CHECK_INT(fl.active_after, ==, 0);
    CHECK_INT(atomic_load(&fl.seen), >=, 200);
    CHECK_INT(atomic_load(&fl.after), ==, 0);
    CHECK_INT(ipm_get_active(f.m), ==, 0);
    CHECK_OK(f.m, ipm_do_events(f.m));
    CHECK_INT(atomic_load(&fl.after), ==, 0);
    t_live_teardown(&f);
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
    t_live f;
    t_live_setup(&f, (t_live_opts){.filter = "udp dst port 7001", .udp = 1});
    err_stop e = {.m = f.m};
    CHECK_OK(f.m, ipm_set_on_packet(f.m, err_stop_packet, &e));
    CHECK_OK(f.m, ipm_set_on_error(f.m, err_stop_error, &e));
    CHECK_OK(f.m, ipm_activate(f.m, T.a.ifname));
    size_t sz[] = {10};
    CHECK_INT(udp_send(f.tx, T.a.ip4, T_PORT_A, 5, sz, 1, 0), ==, 5);
    CHECK_INT(udp_drain(f.rx, 5, 3000), ==, 5);
    CHECK_OK(f.m, pump_until(f.m, &e.packets, 1, 5000));
    CHECK_INT(e.packets, ==, 1);
    CHECK_INT(e.errors, ==, 1);
    CHECK_INT(e.after, ==, 0);
    CHECK_INT(ipm_get_active(f.m), ==, 0);
    t_live_teardown(&f);
}

/* ---------------- deactivate from another thread, many times ---------------- */

static void *stress_flood(void *arg)
{
    flood *s = arg;
    size_t sz[] = {100};
    while (!atomic_load(&s->stop_flood))
        udp_send(s->tx, T.a.ip4, T_PORT_A, 8, sz, 1, 0);
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
    t_live f;
    t_live_setup(&f, (t_live_opts){.filter = "udp dst port 7001", .timeout_ms = 10, .udp = 1});
    flood s = {.m = f.m, .tx = f.tx};
    CHECK_OK(f.m, ipm_set_on_packet(f.m, flood_on_packet, &s));
    pthread_t flood;
    REQUIRE(pthread_create(&flood, NULL, stress_flood, &s) == 0);
    unsigned seed = (unsigned)getpid();
    int late = 0;
    for (int i = 0; i < 40; i++) {
        atomic_store(&s.deactivated, 0);
        s.delay_us = (unsigned)(rand_r(&seed) % 20000);
        CHECK_OK(f.m, ipm_activate(f.m, T.a.ifname));
        pthread_t th;
        REQUIRE(pthread_create(&th, NULL, stress_deactivate, &s) == 0);
        long long deadline = nh_now_ms() + 3000;
        while (ipm_get_active(f.m) == 1 && nh_now_ms() < deadline)
            CHECK_OK(f.m, ipm_do_events(f.m));
        pthread_join(th, NULL);
        late += ipm_get_active(f.m) != 0;
        CHECK_OK(f.m, ipm_do_events(f.m));
    }
    atomic_store(&s.stop_flood, 1);
    pthread_join(flood, NULL);
    printf("stress: %d packets over 40 activations\n", atomic_load(&s.seen));
    CHECK_INT(late, ==, 0);
    CHECK_INT(atomic_load(&s.after), ==, 0);
    CHECK_INT(atomic_load(&s.seen), >, 0);
    t_live_teardown(&f);
}

static const t_case CASES[] = {
    {"deactivate_in_callback", t_deactivate_in_callback},
    {"deactivate_in_stats_callback", t_deactivate_in_stats_callback},
    {"deactivate_thread_waiting", t_deactivate_from_thread_waiting},
    {"deactivate_thread_dispatching", t_deactivate_from_thread_dispatching},
    {"deactivate_in_on_error", t_deactivate_in_on_error},
    {"deactivate_thread_stress", t_deactivate_thread_stress},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, CASES, 1);
}
