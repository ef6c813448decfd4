/*
 * test_direction.c - the direction property on real traffic: UDP both ways
 * over the namespaces' veth pair, captured on a's end with direction any,
 * incoming or outgoing, set before activation or while active, and combined
 * with filters ("or" expressions, filters changed while active). Every
 * packet's reported direction is checked against its source MAC.
 *
 * Run one case: test_direction CASE (see --list).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* Count c's packets from index `from` on by direction, checking each
 * against the frame's source MAC. */
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
    t_live f;
    t_live_setup(&f, (t_live_opts){.filter = "udp"});
    two_way w;
    two_way_open(&w);
    const int dirs[] = {IPM_PACKET_DIRECTION_ANY, IPM_PACKET_DIRECTION_INCOMING, IPM_PACKET_DIRECTION_OUTGOING};
    const int want_in[] = {3, 3, 0}, want_out[] = {2, 0, 2};
    CHECK_INT(ipm_get_direction(f.m), ==, IPM_PACKET_DIRECTION_ANY);
    for (int k = 0; k < 3; k++) {
        t_live_reset(&f);
        CHECK_OK(f.m, ipm_set_direction(f.m, dirs[k]));
        CHECK_INT(ipm_get_direction(f.m), ==, dirs[k]);
        CHECK_OK(f.m, ipm_activate(f.m, T.a.ifname));
        two_way_send(&w, 3, 2);
        int want = want_in[k] + want_out[k];
        CHECK_OK(f.m, pump_until(f.m, &f.c.n, want, 5000));
        CHECK_OK(f.m, pump_for(f.m, 200));
        int in, out, other;
        count_dirs(&f.c, 0, &in, &out, &other);
        printf("direction %d: in %d out %d other %d\n", dirs[k], in, out, other);
        CHECK_INT(f.c.n, ==, want);
        CHECK_INT(in, ==, want_in[k]);
        CHECK_INT(out, ==, want_out[k]);
        CHECK_INT(other, ==, 0);
        CHECK_OK(f.m, ipm_deactivate(f.m));
    }
    /* A bad value is refused and changes nothing. */
    CHECK_ERR(f.m, ipm_set_direction(f.m, 3), IPM_E_INVALID_ARGUMENT);
    CHECK_ERR(f.m, ipm_set_direction(f.m, -1), IPM_E_INVALID_ARGUMENT);
    CHECK_INT(ipm_get_direction(f.m), ==, IPM_PACKET_DIRECTION_OUTGOING);
    t_live_teardown(&f);
    two_way_close(&w);
}

/* The direction property changed while active takes effect at once. */
static void t_direction_while_active(void)
{
    t_live f;
    t_live_setup(&f, (t_live_opts){.filter = "udp"});
    two_way w;
    two_way_open(&w);
    CHECK_OK(f.m, ipm_activate(f.m, T.a.ifname));
    int in, out, other;

    CHECK_OK(f.m, ipm_set_direction(f.m, IPM_PACKET_DIRECTION_INCOMING));
    two_way_send(&w, 3, 2);
    CHECK_OK(f.m, pump_until(f.m, &f.c.n, 3, 5000));
    CHECK_OK(f.m, pump_for(f.m, 200));
    CHECK_INT(f.c.n, ==, 3);
    count_dirs(&f.c, 0, &in, &out, &other);
    CHECK_INT(in, ==, 3);

    int mark = f.c.n;
    CHECK_OK(f.m, ipm_set_direction(f.m, IPM_PACKET_DIRECTION_OUTGOING));
    two_way_send(&w, 3, 2);
    CHECK_OK(f.m, pump_until(f.m, &f.c.n, mark + 2, 5000));
    CHECK_OK(f.m, pump_for(f.m, 200));
    CHECK_INT(f.c.n - mark, ==, 2);
    count_dirs(&f.c, mark, &in, &out, &other);
    CHECK_INT(out, ==, 2);

    mark = f.c.n;
    CHECK_OK(f.m, ipm_set_direction(f.m, IPM_PACKET_DIRECTION_ANY));
    two_way_send(&w, 3, 2);
    CHECK_OK(f.m, pump_until(f.m, &f.c.n, mark + 5, 5000));
    CHECK_OK(f.m, pump_for(f.m, 200));
    CHECK_INT(f.c.n - mark, ==, 5);
    count_dirs(&f.c, mark, &in, &out, &other);
    CHECK_INT(in, ==, 3);
    CHECK_INT(out, ==, 2);
    t_live_teardown(&f);
    two_way_close(&w);
}

/* ---------------- direction combined with filters ---------------- */

/* The direction must bind to the whole user expression, "or" included, and
 * must survive filter changes while active. */
static void t_direction_with_filters(void)
{
    t_live f;
    t_live_setup(&f, (t_live_opts){.filter = "udp dst port 7001 or udp dst port 7002"});
    two_way w;
    two_way_open(&w);
    int in, out, other;
    const int dirs[] = {IPM_PACKET_DIRECTION_INCOMING, IPM_PACKET_DIRECTION_OUTGOING};
    for (int k = 0; k < 2; k++) {
        t_live_reset(&f);
        CHECK_OK(f.m, ipm_set_direction(f.m, dirs[k]));
        CHECK_OK(f.m, ipm_activate(f.m, T.a.ifname));
        two_way_send(&w, 3, 2);
        int want = k == 0 ? 3 : 2;
        CHECK_OK(f.m, pump_until(f.m, &f.c.n, want, 5000));
        CHECK_OK(f.m, pump_for(f.m, 200));
        count_dirs(&f.c, 0, &in, &out, &other);
        printf("direction %d with \"or\" filter: in %d out %d\n", dirs[k], in, out);
        CHECK_INT(f.c.n, ==, want);
        CHECK_INT(k == 0 ? in : out, ==, want);
        CHECK_OK(f.m, ipm_deactivate(f.m));
    }
    /* direction IN, then filters changed while active */
    t_live_reset(&f);
    CHECK_OK(f.m, ipm_set_direction(f.m, IPM_PACKET_DIRECTION_INCOMING));
    CHECK_OK(f.m, ipm_set_filter(f.m, "not udp dst port 9999 and udp"));
    CHECK_OK(f.m, ipm_activate(f.m, T.a.ifname));
    CHECK_OK(f.m, ipm_set_filter(f.m, "udp"));
    two_way_send(&w, 3, 2);
    CHECK_OK(f.m, pump_until(f.m, &f.c.n, 3, 5000));
    CHECK_OK(f.m, pump_for(f.m, 200));
    count_dirs(&f.c, 0, &in, &out, &other);
    CHECK_INT(f.c.n, ==, 3);
    CHECK_INT(in, ==, 3);
    int mark = f.c.n;
    CHECK_OK(f.m, ipm_set_filter(f.m, "udp dst port 7002 or udp dst port 7001"));
    two_way_send(&w, 3, 2);
    CHECK_OK(f.m, pump_until(f.m, &f.c.n, mark + 3, 5000));
    CHECK_OK(f.m, pump_for(f.m, 200));
    count_dirs(&f.c, mark, &in, &out, &other);
    CHECK_INT(f.c.n - mark, ==, 3);
    CHECK_INT(in, ==, 3);
    t_live_teardown(&f);
    two_way_close(&w);
}

static const t_case CASES[] = {
    {"direction", t_direction},
    {"direction_while_active", t_direction_while_active},
    {"direction_with_filters", t_direction_with_filters},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, CASES, 1);
}
