/*
 * test_fanout.c - capture across cores: config FanoutGroup/FanoutMode put
 * several monitors, each pumped by its own thread, in one PACKET_FANOUT
 * group on one adapter. Real traffic over the namespaces' veth pair: every
 * datagram sent is captured exactly once over the group, and with "hash"
 * every packet of one flow lands in one member. Plus the settings' rules.
 *
 * Run one case: test_fanout CASE (see --list).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "testutil.h"

#define MEMBERS 4
#define FLOWS 16
#define PER_FLOW 16
#define TOTAL (FLOWS * PER_FLOW)

typedef struct member {
    t_live f;
    pthread_t thread;
    atomic_int *stop, *captured; /* shared by the group */
    int rc; /* the first failing do_events result */
} member;

/* The fixture's collector, and the group's count for the main thread. */
static int count_packet(const ipm_packet_event *ev, void *user)
{
    member *w = user;
    int rc = cap_on_packet(ev, &w->f.c);
    atomic_fetch_add(w->captured, 1);
    return rc;
}

/* One capture thread: its own monitor's do_events until told to stop. */
static void *pump(void *arg)
{
    member *w = arg;
    while (!atomic_load(w->stop)) {
        int rc = ipm_do_events(w->f.m);
        if (rc != IPM_OK && !w->rc)
            w->rc = rc;
    }
    return NULL;
}

static int seq_of(const cap_pkt *p, int *sport)
{
    const uint8_t *payload;
    uint32_t plen;
    int dport;
    if (parse_udp(p->data, p->data_size, &payload, &plen, sport, &dport) != 0 || plen < 4 ||
        payload[0] != 'I' || payload[1] != 'P')
        return -1;
    return payload[2] << 8 | payload[3];
}

static void t_group_shares_each_packet_once(void)
{
#ifdef IPM_TEST_PLATFORM_POSIX
    printf("SKIP: PACKET_FANOUT is Linux's (settings_and_refusals checks the refusal)\n");
    return;
#endif
    member w[MEMBERS];
    atomic_int stop = 0, captured = 0;
    t_live_setup(&w[0].f, (t_live_opts){.filter = "udp port 7001", .cap_max = TOTAL});
    for (int i = 1; i < MEMBERS; i++)
        t_live_monitor(&w[i].f, (t_live_opts){.filter = "udp port 7001", .cap_max = TOTAL});
    for (int i = 0; i < MEMBERS; i++) {
        CHECK(ipm_config(w[i].f.m, "FanoutGroup=4242") != NULL);
        CHECK_STR(ipm_config(w[i].f.m, "FanoutMode"), "hash");
        CHECK_OK(w[i].f.m, ipm_activate(w[i].f.m, T.a.ifname));
        CHECK_STR(ipm_config(w[i].f.m, "FanoutGroup"), "4242");
        w[i].stop = &stop;
        w[i].captured = &captured;
        w[i].rc = 0;
        CHECK_OK(w[i].f.m, ipm_set_on_packet(w[i].f.m, count_packet, &w[i]));
        REQUIRE(pthread_create(&w[i].thread, NULL, pump, &w[i]) == 0);
    }
    /* FLOWS flows (source ports) of PER_FLOW datagrams from b. */
    int rx = udp_socket(T.a.ns, AF_INET, T_PORT_A);
    size_t sz[] = {100};
    for (int k = 0; k < FLOWS; k++) {
        int tx = udp_socket(T.b.ns, AF_INET, 0);
        CHECK_INT(udp_send(tx, T.a.ip4, T_PORT_A, PER_FLOW, sz, 1, k * PER_FLOW), ==, PER_FLOW);
        close(tx);
    }
    CHECK_INT(udp_drain(rx, TOTAL, 5000), ==, TOTAL);
    close(rx);
    /* Until the group holds them all (each member's ring hands its
     * packets over within its 50 ms timeout), then 200 ms more. */
    long long deadline = nh_now_ms() + 5000;
    while (atomic_load(&captured) < TOTAL && nh_now_ms() < deadline)
        usleep(5000); /* the members' threads count; nothing else to wait on */
    /* and nothing more comes (a packet seen twice would show here) */
    long long quiet = nh_now_ms() + 200;
    while (nh_now_ms() < quiet)
        usleep(5000);
    atomic_store(&stop, 1);
    for (int i = 0; i < MEMBERS; i++) {
        pthread_join(w[i].thread, NULL);
        CHECK_INT(w[i].rc, ==, IPM_OK);
    }
    /* Exactly once over the group; one flow, one member. */
    int seen[TOTAL] = {0}, member_of_flow[65536], used = 0;
    memset(member_of_flow, -1, sizeof member_of_flow);
    int total = 0;
    for (int i = 0; i < MEMBERS; i++) {
        capture *c = &w[i].f.c;
        used += c->n > 0;
        total += c->n;
        for (int j = 0; j < c->n && j < c->max; j++) {
            int sport = 0, seq = seq_of(&c->p[j], &sport);
            CHECK(seq >= 0 && seq < TOTAL);
            if (seq < 0 || seq >= TOTAL)
                continue;
            seen[seq]++;
            if (member_of_flow[sport] < 0)
                member_of_flow[sport] = i;
            CHECK_INT(member_of_flow[sport], ==, i);
        }
    }
    printf("fanout: %d datagrams sent, %d captured over %d members (", TOTAL, total, MEMBERS);
    for (int i = 0; i < MEMBERS; i++)
        printf("%s%d", i ? " " : "", w[i].f.c.n);
    printf(")\n");
    CHECK_INT(total, ==, TOTAL);
    for (int s = 0; s < TOTAL; s++)
        CHECK_INT(seen[s], ==, 1);
    /* 16 flows over 4 members by hash: all in one member is 4^-15 likely. */
    CHECK(used >= 2);
    for (int i = 0; i < MEMBERS; i++)
        t_live_teardown(&w[i].f);
}

static void t_settings_and_refusals(void)
{
    t_live f, g;
    t_live_setup(&f, (t_live_opts){.filter = "udp"});
    t_live_monitor(&g, (t_live_opts){.filter = "udp"});
    ipm_monitor *m = f.m;
    CHECK_STR(ipm_config(m, "FanoutGroup"), "0");
    CHECK(ipm_config(m, "FanoutGroup=70000") == NULL);
    CHECK_INT(ipm_last_error_code(m), ==, IPM_E_CONFIG);
    CHECK_CONTAINS(ipm_last_error(m), "from 0 to 65535");
    CHECK(ipm_config(m, "FanoutGroup=12x") == NULL);
    CHECK(ipm_config(m, "FanoutMode=sideways") == NULL);
    CHECK_CONTAINS(ipm_last_error(m), "hash, lb, cpu, qm, rollover, random");
    CHECK(ipm_config(m, "fanoutmode=LB") != NULL);
    CHECK_STR(ipm_config(m, "FanoutMode"), "lb");
    CHECK(ipm_config(m, "FanoutGroup=77") != NULL);
#ifdef IPM_TEST_PLATFORM_POSIX
    /* no fanout on this platform: refused, saying so */
    CHECK_INT(ipm_activate(m, T.a.ifname), ==, IPM_E_UNSUPPORTED);
    CHECK_CONTAINS(ipm_last_error(m), "PACKET_FANOUT is Linux's");
    t_live_teardown(&f);
    t_live_teardown(&g);
    return;
#endif
    CHECK_OK(m, ipm_activate(m, T.a.ifname));
    /* applies at activation: refused while active */
    CHECK(ipm_config(m, "FanoutGroup=78") == NULL);
    CHECK_INT(ipm_last_error_code(m), ==, IPM_E_ACTIVE);
    /* a second member with another mode is refused by the kernel */
    CHECK(ipm_config(g.m, "FanoutGroup=77") != NULL);
    CHECK_INT(ipm_activate(g.m, T.a.ifname), ==, IPM_E_CAPTURE);
    CHECK_CONTAINS(ipm_last_error(g.m), "same FanoutMode");
    CHECK_INT(ipm_get_active(g.m), ==, 0);
    /* with the same mode it joins */
    CHECK(ipm_config(g.m, "FanoutMode=lb") != NULL);
    CHECK_OK(g.m, ipm_activate(g.m, T.a.ifname));
    t_live_teardown(&f);
    t_live_teardown(&g);
}

static const t_case CASES[] = {
    {"group_shares_each_packet_once", t_group_shares_each_packet_once},
    {"settings_and_refusals", t_settings_and_refusals},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, CASES, 1);
}
