/*
 * test_follow.c - a monitor that follows the adapter set (issue 10), on real
 * traffic: the namespaces' veth pair plus more veth pairs made, brought
 * down and up, deleted and made again during a run, each carrying known
 * UDP traffic from b to a that the statistics (or captures) must count
 * exactly.
 *
 * Following every adapter (ipm_activate_matching with NULL): a new pair is
 * announced (IPM_E_ADAPTER_ADDED, a new index appended) and its traffic
 * counted; one deleted is IPM_E_ADAPTER_GONE while the others' counts stay
 * exact and do_events returns 0; down and up keeps it counted; deleted and
 * made again under its name is IPM_E_ADAPTER_BACK in the same index with the
 * new ifindex; a rename is gone + added (never counted twice); patterns and
 * exclusions; capture mode; the wait set of
 * ipm_get_fd wakes for a change; a fixed list (ipm_activate_many) goes on
 * when one goes, and takes it back. Soak (label soak): 200 veth pairs
 * followed by one monitor, with the activation time and the RSS printed.
 *
 * On the posix platform the set is learnt by listing again; the case that
 * needs the netlink watch (an event loop woken by get_fd) skips there.
 *
 * Run one case: test_follow CASE (see --list).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <net/if.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "testutil.h"

/* ---------------- what the monitor said ---------------- */

#define MAX_SLOTS 1024
#define NOTE_MAX 1024

typedef struct follow_log {
    /* on_statistics, per adapter index */
    int64_t packets[MAX_SLOTS];
    int events[MAX_SLOTS];
    /* on_packet, per adapter index */
    int captured[MAX_SLOTS];
    /* on_error */
    int added, gone, back, other;
    int n;
    int code[NOTE_MAX], index[NOTE_MAX];
    char name[NOTE_MAX][IF_NAMESIZE];
    ipm_monitor *m;     /* for the engine check at the first event */
    int statistics_events;
} follow_log;

static int log_statistics(const ipm_statistics_event *ev, void *user)
{
    follow_log *l = user;
    if (l->statistics_events++ == 0)
        t_check_engine(l->m);
    if (ev->adapter_index >= 0 && ev->adapter_index < MAX_SLOTS) {
        l->packets[ev->adapter_index] += ev->captured_packets;
        l->events[ev->adapter_index]++;
    }
    return 0;
}

static int log_packet(const ipm_packet_event *ev, void *user)
{
    follow_log *l = user;
    if (ev->adapter_index >= 0 && ev->adapter_index < MAX_SLOTS)
        l->captured[ev->adapter_index]++;
    return 0;
}

static void log_error(const ipm_error_event *ev, void *user)
{
    follow_log *l = user;
    if (l->n < NOTE_MAX) {
        l->code[l->n] = ev->error_code;
        l->index[l->n] = ev->adapter_index;
        snprintf(l->name[l->n], sizeof l->name[0], "%s", ev->adapter ? ev->adapter : "");
    }
    l->n++;
    if (ev->error_code == IPM_E_ADAPTER_ADDED)
        l->added++;
    else if (ev->error_code == IPM_E_ADAPTER_GONE)
        l->gone++;
    else if (ev->error_code == IPM_E_ADAPTER_BACK)
        l->back++;
    else {
        l->other++;
        printf("on_error %s: %s\n", ipm_error_name(ev->error_code), ev->description);
    }
}

/* The index the last notice of `code` about `name` carried, or -1. */
static int noted_index(const follow_log *l, int code, const char *name)
{
    int at = -1;
    for (int i = 0; i < l->n && i < NOTE_MAX; i++)
        if (l->code[i] == code && strcmp(l->name[i], name) == 0)
            at = l->index[i];
    return at;
}

/* ---------------- more veth pairs ---------------- */

/* Pair k: "vf<pid>n<k>" in a (10.78.k.1/24) and "vg<pid>n<k>" in b
 * (10.78.k.2/24), static neighbours, up. */
typedef struct extra_pair {
    char a[IF_NAMESIZE], b[IF_NAMESIZE], ip_a[20], ip_b[20];
    int k;
} extra_pair;

static void extra_names(extra_pair *p, const char *prefix_a, int k)
{
    memset(p, 0, sizeof *p);
    p->k = k;
    snprintf(p->a, sizeof p->a, "%s%dn%d", prefix_a, (int)getpid() % 100000, k);
    snprintf(p->b, sizeof p->b, "vg%dn%d", (int)getpid() % 100000, k);
    snprintf(p->ip_a, sizeof p->ip_a, "10.78.%d.1", k);
    snprintf(p->ip_b, sizeof p->ip_b, "10.78.%d.2", k);
}

static void extra_create(const extra_pair *p)
{
    REQUIRE(nh_run("ip link add %s netns %s address 02:78:00:00:%02x:01 type veth peer name %s "
                   "netns %s address 02:78:00:00:%02x:02",
                   p->a, T.a.ns, p->k, p->b, T.b.ns, p->k) == 0);
    REQUIRE(nh_run("ip -n %s addr add %s/24 dev %s && ip -n %s link set %s up && "
                   "ip -n %s neigh replace %s lladdr 02:78:00:00:%02x:02 dev %s nud permanent",
                   T.a.ns, p->ip_a, p->a, T.a.ns, p->a, T.a.ns, p->ip_b, p->k, p->a) == 0);
    REQUIRE(nh_run("ip -n %s addr add %s/24 dev %s && ip -n %s link set %s up && "
                   "ip -n %s neigh replace %s lladdr 02:78:00:00:%02x:01 dev %s nud permanent",
                   T.b.ns, p->ip_b, p->b, T.b.ns, p->b, T.b.ns, p->ip_a, p->k, p->b) == 0);
}

static void extra_create_named(extra_pair *p, const char *prefix_a, int k)
{
    extra_names(p, prefix_a, k);
    extra_create(p);
}

static int extra_delete(const extra_pair *p)
{
    return nh_run("ip -n %s link del %s", T.a.ns, p->a);
}

/* Send n datagrams from `tx` (in b) to a:T_PORT_A at `ip`, one at a time,
 * each received by a's `rx` before the next (a link coming up may drop the
 * first ones: those are sent again, so exactly n crossed). Returns n
 * received. */
static int send_counted(int tx, int rx, const char *ip, int n)
{
    size_t sz[] = {40};
    long long deadline = nh_now_ms() + 5000;
    int got = 0;
    while (got < n && nh_now_ms() < deadline)
        if (udp_send(tx, ip, T_PORT_A, 1, sz, 1, got) == 1 && udp_drain(rx, 1, 100) == 1)
            got++;
    return got;
}

/* A live case that follows: the pair, a monitor (50 ms timeouts, counting
 * only UDP to a's port 7001) with the log on its three events, statistics
 * mode if `stats`, and the UDP sockets. */
typedef struct follow_fx {
    t_live f;
    follow_log *l;
} follow_fx;

static void fx_setup(follow_fx *x, int stats)
{
    memset(x, 0, sizeof *x);
    t_live_setup(&x->f, (t_live_opts){.filter = "udp dst port 7001", .udp = 1});
    x->l = calloc(1, sizeof *x->l);
    REQUIRE(x->l != NULL);
    x->l->m = x->f.m;
    CHECK_OK(x->f.m, ipm_set_on_error(x->f.m, log_error, x->l));
    CHECK_OK(x->f.m, ipm_set_on_packet(x->f.m, log_packet, x->l));
    CHECK_OK(x->f.m, ipm_set_on_statistics(x->f.m, log_statistics, x->l));
    if (stats)
        CHECK_OK(x->f.m, ipm_set_operation_mode(x->f.m, IPM_OM_STAT));
}

static void fx_teardown(follow_fx *x)
{
    free(x->l);
    t_live_teardown(&x->f);
}

/* What adapter `idx` counted (statistics or captures, by the mode). */
static int64_t counted(const follow_fx *x, int idx)
{
    if (idx < 0 || idx >= MAX_SLOTS)
        return -1;
    return ipm_get_operation_mode(x->f.m) == IPM_OM_STAT ? x->l->packets[idx] : x->l->captured[idx];
}

/* do_events (each must return 0) until *counter >= want or timeout_ms. */
static void pump_int(follow_fx *x, const int *counter, int want, int timeout_ms)
{
    CHECK_OK(x->f.m, pump_until(x->f.m, counter, want, timeout_ms));
}

/* do_events until adapter idx counted `want` packets, then 150 ms more. */
static void pump_counted(follow_fx *x, int idx, int64_t want)
{
    long long deadline = nh_now_ms() + 5000;
    while (counted(x, idx) < want && nh_now_ms() < deadline)
        CHECK_OK(x->f.m, ipm_do_events(x->f.m));
    CHECK_OK(x->f.m, pump_for(x->f.m, 150));
}

/* Follow every adapter, statistics mode; the veth of the pair counts. */
static void fx_follow_all(follow_fx *x, int stats)
{
    fx_setup(x, stats);
    CHECK_OK(x->f.m, ipm_activate_matching(x->f.m, NULL, 0));
    CHECK_INT(ipm_get_active(x->f.m), ==, 1);
    int veth = ipm_find_adapter(x->f.m, T.a.ifname);
    CHECK_INT(veth, >=, 0);
    CHECK_INT(send_counted(x->f.tx, x->f.rx, T.a.ip4, 3), ==, 3);
    pump_counted(x, veth, 3);
    CHECK_INT(counted(x, veth), ==, 3);
}

/* ---------------- cases ---------------- */

/* A pair made during the run: announced once (ADDED) with a new index at
 * the end of the list and its name, its traffic counted exactly, the veth
 * of the pair still exact, and nothing else reported. */
static void follow_new_adapter(int stats)
{
    follow_fx x;
    fx_follow_all(&x, stats);
    int count0 = ipm_get_adapter_count(x.f.m);
    int veth = ipm_find_adapter(x.f.m, T.a.ifname);
    extra_pair p;
    extra_create_named(&p, "vf", 1);
    long long t0 = nh_now_ms();
    pump_int(&x, &x.l->added, 1, 5000);
    printf("new adapter announced after %lld ms\n", nh_now_ms() - t0);
    CHECK_INT(x.l->added, ==, 1);
    int idx = noted_index(x.l, IPM_E_ADAPTER_ADDED, p.a);
    CHECK_INT(idx, ==, count0); /* appended */
    CHECK_INT(ipm_get_adapter_count(x.f.m), ==, count0 + 1);
    CHECK_INT(ipm_find_adapter(x.f.m, p.a), ==, idx);
    CHECK_INT(ipm_get_adapter_id(x.f.m, idx), ==, (int)if_nametoindex(p.a));
    CHECK_STR(ipm_get_adapter_mac_address(x.f.m, idx), "02-78-00-00-01-01");
    CHECK_INT(ipm_find_adapter(x.f.m, T.a.ifname), ==, veth); /* did not move */
    /* it has the settings of IPM_ADAPTER_DEFAULTS (the fixture's short timeout) */
    CHECK_INT(ipm_get_adapter_packet_timeout(x.f.m, idx), ==,
              ipm_get_adapter_packet_timeout(x.f.m, IPM_ADAPTER_DEFAULTS));
    CHECK_INT(ipm_get_adapter_packet_timeout(x.f.m, idx), ==, T_TIMEOUT_MS);

    int tx = udp_socket(T.b.ns, AF_INET, 0);
    CHECK_INT(send_counted(tx, x.f.rx, p.ip_a, 5), ==, 5);
    CHECK_INT(send_counted(x.f.tx, x.f.rx, T.a.ip4, 2), ==, 2);
    pump_counted(&x, idx, 5);
    CHECK_INT(counted(&x, idx), ==, 5);
    CHECK_INT(counted(&x, veth), ==, 5);
    CHECK_INT(x.l->n, ==, 1);
    close(tx);
    fx_teardown(&x);
}

static void t_new_adapter_stats(void)
{
    follow_new_adapter(1);
}

static void t_new_adapter_capture(void)
{
    follow_new_adapter(0);
}

/* One of two followed pairs deleted: GONE once (its index and name), the
 * other's and the first veth's counts exact, do_events returns 0, the
 * monitor active; then every adapter but lo gone: still active, waits. */
static void t_gone_others_exact(void)
{
    follow_fx x;
    fx_follow_all(&x, 1);
    int veth = ipm_find_adapter(x.f.m, T.a.ifname);
    extra_pair p1, p2;
    extra_create_named(&p1, "vf", 1);
    extra_create_named(&p2, "vf", 2);
    pump_int(&x, &x.l->added, 2, 5000);
    int i1 = ipm_find_adapter(x.f.m, p1.a), i2 = ipm_find_adapter(x.f.m, p2.a);
    int tx = udp_socket(T.b.ns, AF_INET, 0);
    CHECK_INT(send_counted(tx, x.f.rx, p1.ip_a, 4), ==, 4);
    pump_counted(&x, i1, 4);
    CHECK_INT(extra_delete(&p1), ==, 0);
    pump_int(&x, &x.l->gone, 1, 5000);
    CHECK_INT(x.l->gone, ==, 1);
    CHECK_INT(noted_index(x.l, IPM_E_ADAPTER_GONE, p1.a), ==, i1);
    CHECK_INT(ipm_get_active(x.f.m), ==, 1);
    CHECK_INT(ipm_last_error_code(x.f.m), ==, IPM_OK);
    CHECK_INT(ipm_find_adapter(x.f.m, p1.a), ==, i1); /* keeps its slot */
    /* listing while active moves no index (the gone one keeps its slot) */
    int count_before = ipm_get_adapter_count(x.f.m);
    CHECK_OK(x.f.m, ipm_list_adapters(x.f.m));
    CHECK_INT(ipm_get_adapter_count(x.f.m), ==, count_before);
    CHECK_INT(ipm_find_adapter(x.f.m, p1.a), ==, i1);
    CHECK_INT(ipm_find_adapter(x.f.m, p2.a), ==, i2);
    CHECK_INT(ipm_find_adapter(x.f.m, T.a.ifname), ==, veth);
    CHECK_STR(ipm_get_adapter_ipv4_addresses(x.f.m, i2), "10.78.2.1/24"); /* refreshed */
    int events_gone = x.l->events[i1];
    CHECK_INT(send_counted(tx, x.f.rx, p2.ip_a, 6), ==, 6);
    CHECK_INT(send_counted(x.f.tx, x.f.rx, T.a.ip4, 3), ==, 3);
    pump_counted(&x, i2, 6);
    CHECK_INT(counted(&x, i1), ==, 4);
    CHECK_INT(counted(&x, i2), ==, 6);
    CHECK_INT(counted(&x, veth), ==, 6);
    CHECK_INT(x.l->events[i1], ==, events_gone); /* no events after it went */
    CHECK_INT(x.l->gone, ==, 1);
    /* all the veths gone: lo goes on, then only waiting */
    CHECK_INT(extra_delete(&p2), ==, 0);
    CHECK_INT(nh_run("ip -n %s link del %s", T.a.ns, T.a.ifname), ==, 0);
    pump_int(&x, &x.l->gone, 3, 5000);
    CHECK_INT(x.l->gone, ==, 3);
    CHECK_INT(ipm_get_active(x.f.m), ==, 1);
    CHECK_INT(x.l->other, ==, 0);
    close(tx);
    fx_teardown(&x);
}

/* Down and up: still the same capture, counted again; no GONE or BACK. */
static void t_down_up_counted(void)
{
    follow_fx x;
    fx_follow_all(&x, 1);
    int veth = ipm_find_adapter(x.f.m, T.a.ifname);
    CHECK_INT(nh_run("ip -n %s link set %s down", T.a.ns, T.a.ifname), ==, 0);
    CHECK_OK(x.f.m, pump_for(x.f.m, 300));
    CHECK_INT(nh_run("ip -n %s link set %s up", T.a.ns, T.a.ifname), ==, 0);
    CHECK_INT(send_counted(x.f.tx, x.f.rx, T.a.ip4, 5), ==, 5);
    pump_counted(&x, veth, 8);
    CHECK_INT(counted(&x, veth), ==, 8);
    CHECK_INT(x.l->gone + x.l->back + x.l->added, ==, 0);
    printf("down and up: %d notices (%d \"went down\")\n", x.l->n, x.l->other);
    fx_teardown(&x);
}

/* Deleted and made again under its name: GONE, then BACK in the same
 * index, with the new ifindex, counted. */
static void t_recreated_back(void)
{
    follow_fx x;
    fx_follow_all(&x, 1);
    extra_pair p;
    extra_create_named(&p, "vf", 1);
    pump_int(&x, &x.l->added, 1, 5000);
    int idx = ipm_find_adapter(x.f.m, p.a);
    int old_id = ipm_get_adapter_id(x.f.m, idx), count0 = ipm_get_adapter_count(x.f.m);
    int tx = udp_socket(T.b.ns, AF_INET, 0);
    CHECK_INT(send_counted(tx, x.f.rx, p.ip_a, 2), ==, 2);
    pump_counted(&x, idx, 2);
    CHECK_INT(extra_delete(&p), ==, 0);
    extra_create(&p);
    pump_int(&x, &x.l->back, 1, 5000);
    CHECK_INT(x.l->gone, ==, 1);
    CHECK_INT(x.l->back, ==, 1);
    CHECK_INT(x.l->added, ==, 1);
    CHECK_INT(noted_index(x.l, IPM_E_ADAPTER_BACK, p.a), ==, idx);
    CHECK_INT(ipm_get_adapter_count(x.f.m), ==, count0);
    int new_id = ipm_get_adapter_id(x.f.m, idx);
    printf("back: ifindex %d -> %d\n", old_id, new_id);
    CHECK_INT(new_id, ==, (int)if_nametoindex(p.a));
    CHECK_INT(new_id, !=, old_id);
    close(tx); /* its route went with the old peer: a new socket */
    tx = udp_socket(T.b.ns, AF_INET, 0);
    CHECK_INT(send_counted(tx, x.f.rx, p.ip_a, 7), ==, 7);
    pump_counted(&x, idx, 9);
    CHECK_INT(counted(&x, idx), ==, 9);
    close(tx);
    fx_teardown(&x);
}

/* A rename is the old name gone and the new one added: the interface is
 * captured once, under its new name, never twice. */
static void t_renamed(void)
{
    follow_fx x;
    fx_follow_all(&x, 1);
    extra_pair p;
    extra_create_named(&p, "vf", 1);
    pump_int(&x, &x.l->added, 1, 5000);
    int old_idx = ipm_find_adapter(x.f.m, p.a);
    char renamed[IF_NAMESIZE];
    snprintf(renamed, sizeof renamed, "vr%dn1", (int)getpid() % 100000);
    CHECK_INT(nh_run("ip -n %s link set %s down && ip -n %s link set %s name %s && "
                     "ip -n %s link set %s up",
                     T.a.ns, p.a, T.a.ns, p.a, renamed, T.a.ns, renamed),
              ==, 0);
    pump_int(&x, &x.l->added, 2, 5000);
    CHECK_INT(noted_index(x.l, IPM_E_ADAPTER_GONE, p.a), ==, old_idx);
    int idx = noted_index(x.l, IPM_E_ADAPTER_ADDED, renamed);
    CHECK_INT(idx, >, old_idx);
    int tx = udp_socket(T.b.ns, AF_INET, 0);
    CHECK_INT(send_counted(tx, x.f.rx, p.ip_a, 4), ==, 4);
    pump_counted(&x, idx, 4);
    CHECK_INT(counted(&x, idx), ==, 4);
    CHECK_INT(counted(&x, old_idx), ==, 0); /* not counted twice */
    close(tx);
    fx_teardown(&x);
}

/* Patterns: "vf*" follows the vf pairs only; "!vf*" everything but them. */
static void t_patterns(void)
{
    follow_fx x;
    fx_setup(&x, 1);
    const char *only[] = {"vf*"};
    CHECK_ERR(x.f.m, ipm_activate_matching(x.f.m, NULL, 1), IPM_E_INVALID_ARGUMENT);
    const char *empty[] = {"!"};
    CHECK_ERR(x.f.m, ipm_activate_matching(x.f.m, empty, 1), IPM_E_INVALID_ARGUMENT);
    CHECK_OK(x.f.m, ipm_activate_matching(x.f.m, only, 1));
    extra_pair yes, no;
    extra_create_named(&no, "vx", 2);
    extra_create_named(&yes, "vf", 1);
    pump_int(&x, &x.l->added, 1, 5000);
    CHECK_OK(x.f.m, pump_for(x.f.m, 300));
    CHECK_INT(x.l->added, ==, 1);
    CHECK_INT(noted_index(x.l, IPM_E_ADAPTER_ADDED, yes.a), >=, 0);
    int tx = udp_socket(T.b.ns, AF_INET, 0);
    CHECK_INT(send_counted(tx, x.f.rx, no.ip_a, 3), ==, 3);
    CHECK_INT(send_counted(tx, x.f.rx, yes.ip_a, 4), ==, 4);
    CHECK_INT(send_counted(x.f.tx, x.f.rx, T.a.ip4, 2), ==, 2);
    int iy = ipm_find_adapter(x.f.m, yes.a);
    pump_counted(&x, iy, 4);
    CHECK_INT(counted(&x, iy), ==, 4);
    for (int i = 0; i < ipm_get_adapter_count(x.f.m); i++)
        if (i != iy)
            CHECK_INT(x.l->events[i], ==, 0); /* lo, the pair's veth, vx: not followed */
    CHECK_OK(x.f.m, ipm_deactivate(x.f.m));

    /* every adapter but the vf ones */
    memset(x.l, 0, sizeof *x.l);
    const char *but[] = {"!vf*"};
    CHECK_OK(x.f.m, ipm_activate_matching(x.f.m, but, 1));
    int iv = ipm_find_adapter(x.f.m, T.a.ifname), ino = ipm_find_adapter(x.f.m, no.a);
    iy = ipm_find_adapter(x.f.m, yes.a);
    CHECK_INT(send_counted(tx, x.f.rx, no.ip_a, 3), ==, 3);
    CHECK_INT(send_counted(tx, x.f.rx, yes.ip_a, 4), ==, 4);
    CHECK_INT(send_counted(x.f.tx, x.f.rx, T.a.ip4, 2), ==, 2);
    pump_counted(&x, iv, 2);
    pump_counted(&x, ino, 3); /* listed after the monitor was set up: the default 1 s timeout */
    CHECK_INT(counted(&x, ino), ==, 3);
    CHECK_INT(counted(&x, iv), ==, 2);
    CHECK_INT(x.l->events[iy], ==, 0);
    CHECK_INT(x.l->events[ipm_find_adapter(x.f.m, "lo")], >, 0);
    extra_pair more;
    extra_create_named(&more, "vf", 3); /* excluded: never announced */
    CHECK_OK(x.f.m, pump_for(x.f.m, 300));
    CHECK_INT(x.l->added, ==, 0);
    close(tx);
    fx_teardown(&x);
}

/* A fixed list: one gone, the other goes on exactly; it comes back (BACK,
 * the same index) and is counted again. */
static void t_fixed_list(void)
{
    follow_fx x;
    fx_setup(&x, 1);
    extra_pair p;
    extra_create_named(&p, "vf", 1);
    CHECK_OK(x.f.m, ipm_list_adapters(x.f.m));
    const char *names[] = {T.a.ifname, p.a};
    CHECK_OK(x.f.m, ipm_activate_many(x.f.m, names, 2));
    int iv = ipm_find_adapter(x.f.m, T.a.ifname), ip = ipm_find_adapter(x.f.m, p.a);
    int tx = udp_socket(T.b.ns, AF_INET, 0);
    CHECK_INT(send_counted(tx, x.f.rx, p.ip_a, 2), ==, 2);
    pump_counted(&x, ip, 2);
    CHECK_INT(extra_delete(&p), ==, 0);
    pump_int(&x, &x.l->gone, 1, 5000);
    CHECK_INT(noted_index(x.l, IPM_E_ADAPTER_GONE, p.a), ==, ip);
    CHECK_INT(send_counted(x.f.tx, x.f.rx, T.a.ip4, 5), ==, 5);
    pump_counted(&x, iv, 5);
    CHECK_INT(counted(&x, iv), ==, 5);
    CHECK_INT(ipm_get_active(x.f.m), ==, 1);
    extra_create(&p);
    pump_int(&x, &x.l->back, 1, 5000);
    CHECK_INT(noted_index(x.l, IPM_E_ADAPTER_BACK, p.a), ==, ip);
    close(tx);
    tx = udp_socket(T.b.ns, AF_INET, 0);
    CHECK_INT(send_counted(tx, x.f.rx, p.ip_a, 3), ==, 3);
    pump_counted(&x, ip, 5);
    CHECK_INT(counted(&x, ip), ==, 5);
    CHECK_INT(x.l->added, ==, 0);
    /* a new adapter that is not in the list is not taken */
    extra_pair q;
    extra_create_named(&q, "vf", 2);
    CHECK_OK(x.f.m, pump_for(x.f.m, 300));
    CHECK_INT(x.l->added, ==, 0);
    CHECK_INT(ipm_find_adapter(x.f.m, q.a), <, 0);
    close(tx);
    fx_teardown(&x);
}

/* An event loop sleeping on ipm_get_fd is woken by an adapter appearing
 * (the netlink watch is in the wait set), long before the timeout. */
static void t_get_fd_wakes(void)
{
#ifdef IPM_TEST_PLATFORM_POSIX
    printf("SKIP: the posix platform has no link watch (it lists again at each timeout)\n");
    exit(77);
#endif
    follow_fx x;
    fx_setup(&x, 1);
    const char *only[] = {"vf*"};
    CHECK_OK(x.f.m, ipm_activate_matching(x.f.m, only, 1)); /* nothing yet */
    int fd = ipm_get_fd(x.f.m);
    CHECK_INT(fd, >=, 0);
    CHECK_INT(ipm_get_timeout(x.f.m), ==, T_TIMEOUT_MS);
    CHECK_OK(x.f.m, ipm_do_events_timeout(x.f.m, 0));
    extra_pair p;
    extra_create_named(&p, "vf", 1);
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    long long t0 = nh_now_ms();
    CHECK_INT(poll(&pfd, 1, 10000), ==, 1);
    printf("get_fd readable %lld ms after the adapter was made\n", nh_now_ms() - t0);
    CHECK_INT(nh_now_ms() - t0, <, 5000);
    long long deadline = nh_now_ms() + 5000;
    while (x.l->added == 0 && nh_now_ms() < deadline) {
        pfd.revents = 0;
        poll(&pfd, 1, ipm_get_timeout(x.f.m));
        CHECK_OK(x.f.m, ipm_do_events_timeout(x.f.m, 0));
    }
    CHECK_INT(x.l->added, ==, 1);
    fx_teardown(&x);
}

/* ---------------- soak: 200 pairs ---------------- */

static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb;
}

#define SOAK_PAIRS 200

/* 200 pairs made at once while one monitor follows: each announced once;
 * traffic on some counted exactly; activation over all of them timed;
 * all deleted at once: each reported gone once; RSS printed. */
static void t_soak_200(void)
{
    follow_fx x;
    nh_watchdog(300);
    fx_setup(&x, 1);
    nh_watchdog(300);
    const char *only[] = {"vf*"};
    long rss0 = rss_kb();
    CHECK_OK(x.f.m, ipm_activate_matching(x.f.m, only, 1));
    char path[128];
    snprintf(path, sizeof path, "/tmp/ipm-follow-%d.batch", (int)getpid());
    FILE *b = fopen(path, "w");
    REQUIRE(b != NULL);
    extra_pair p[SOAK_PAIRS];
    for (int k = 0; k < SOAK_PAIRS; k++) {
        extra_names(&p[k], "vf", k + 1);
        fprintf(b, "link add %s netns %s type veth peer name %s netns %s\n", p[k].a, T.a.ns,
                p[k].b, T.b.ns);
    }
    fclose(b);
    long long t0 = nh_now_ms();
    REQUIRE(nh_run("ip -batch %s", path) == 0);
    b = fopen(path, "w");
    REQUIRE(b != NULL);
    for (int k = 0; k < SOAK_PAIRS; k++)
        fprintf(b, "link set %s up\n", p[k].a);
    fclose(b);
    REQUIRE(nh_run("ip -n %s -batch %s", T.a.ns, path) == 0);
    b = fopen(path, "w");
    REQUIRE(b != NULL);
    for (int k = 0; k < SOAK_PAIRS; k++)
        fprintf(b, "link set %s up\n", p[k].b);
    fclose(b);
    REQUIRE(nh_run("ip -n %s -batch %s", T.b.ns, path) == 0);
    long long made = nh_now_ms() - t0;
    pump_int(&x, &x.l->added, SOAK_PAIRS, 120000);
    long long followed = nh_now_ms() - t0;
    long rss1 = rss_kb();
    printf("soak: %d pairs made in %lld ms; all %d followed %lld ms after the first was made; "
           "RSS %ld -> %ld KB\n",
           SOAK_PAIRS, made, x.l->added, followed, rss0, rss1);
    CHECK_INT(x.l->added, ==, SOAK_PAIRS);
    CHECK_INT(x.l->other, ==, 0);
    /* every one counts (statistics events for all) */
    CHECK_OK(x.f.m, pump_for(x.f.m, 300));
    int with_events = 0;
    for (int k = 0; k < SOAK_PAIRS; k++) {
        int i = ipm_find_adapter(x.f.m, p[k].a);
        with_events += i >= 0 && x.l->events[i] > 0;
    }
    CHECK_INT(with_events, ==, SOAK_PAIRS);

    /* activation over all 200 (and the timing of it) */
    CHECK_OK(x.f.m, ipm_deactivate(x.f.m));
    memset(x.l, 0, sizeof *x.l);
    long rss2 = rss_kb();
    t0 = nh_now_ms();
    CHECK_OK(x.f.m, ipm_activate_matching(x.f.m, only, 1));
    long long activation = nh_now_ms() - t0;
    CHECK_OK(x.f.m, pump_for(x.f.m, 300));
    with_events = 0;
    for (int k = 0; k < SOAK_PAIRS; k++) {
        int i = ipm_find_adapter(x.f.m, p[k].a);
        with_events += i >= 0 && x.l->events[i] > 0;
    }
    printf("soak: activate_matching over %d adapters took %lld ms; RSS %ld -> %ld KB\n",
           with_events, activation, rss2, rss_kb());
    CHECK_INT(with_events, ==, SOAK_PAIRS);

    b = fopen(path, "w");
    REQUIRE(b != NULL);
    for (int k = 0; k < SOAK_PAIRS; k++)
        fprintf(b, "link del %s\n", p[k].a);
    fclose(b);
    t0 = nh_now_ms();
    REQUIRE(nh_run("ip -n %s -batch %s", T.a.ns, path) == 0);
    long long deleted = nh_now_ms() - t0;
    pump_int(&x, &x.l->gone, SOAK_PAIRS, 60000);
    printf("soak: %d gone reported %lld ms after the deletes began (ip took %lld ms to delete)\n",
           x.l->gone, nh_now_ms() - t0, deleted);
    CHECK_INT(x.l->gone, ==, SOAK_PAIRS);
    CHECK_INT(ipm_get_active(x.f.m), ==, 1);
    unlink(path);
    fx_teardown(&x);
}

static const t_case CASES[] = {
    {"new_adapter_stats", t_new_adapter_stats},
    {"new_adapter_capture", t_new_adapter_capture},
    {"gone_others_exact", t_gone_others_exact},
    {"down_up_counted", t_down_up_counted},
    {"recreated_back", t_recreated_back},
    {"renamed", t_renamed},
    {"patterns", t_patterns},
    {"fixed_list", t_fixed_list},
    {"get_fd_wakes", t_get_fd_wakes},
    {"soak_200", t_soak_200},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, CASES, 1);
}
