/*
 * test_calls.c - every row of the library's call rules (src/calls.h), checked
 * by calling each public call in each state: idle, active, inside a
 * callback, stopping (deactivated inside a callback) and from another thread
 * while do_events waits. The table of calls below is generated from
 * IPM_CALLS, so a call added there without a way to try it here does not
 * compile. Also: ipm_free inside a callback is deferred, never a
 * use-after-free (ASan and valgrind watch this program).
 */
#include "calls.h"
#include "testutil.h"

#include <pcap/pcap.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char g_file[64];

/* A capture file of a few UDP frames, so a monitor has something to read. */
static void write_file(void)
{
    static const uint8_t frame[42] = {0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x08, 0x00,
                                      0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0,
                                      10, 0, 0, 1, 10, 0, 0, 2, 0x1f, 0x40, 0x1f, 0x41, 0, 8};
    snprintf(g_file, sizeof g_file, "/tmp/ipm-calls-%d.pcap", (int)getpid());
    pcap_t *p = pcap_open_dead(DLT_EN10MB, 65535);
    REQUIRE(p != NULL);
    pcap_dumper_t *d = pcap_dump_open(p, g_file);
    REQUIRE(d != NULL);
    for (int i = 0; i < 5; i++) {
        struct pcap_pkthdr h = {.ts = {1700000000 + i, 0}, .caplen = 42, .len = 42};
        pcap_dump((u_char *)d, &h, frame);
    }
    pcap_dump_close(d);
    pcap_close(p);
}

/* ---- one way to call each row, succeeding where its rules allow ---- */

static int ptr_rc(ipm_monitor *m, const void *p)
{
    return p ? IPM_OK : (ipm_last_error_code(m) ? ipm_last_error_code(m) : IPM_E_BUSY);
}

static int try_free(ipm_monitor *m) { (void)m; return IPM_OK; } /* own cases below */
static int try_get_active(ipm_monitor *m) { return ipm_get_active(m); }
static int try_get_adapter_count(ipm_monitor *m) { return ipm_get_adapter_count(m); }

/* Every adapter getter on adapter 0; the first failure. */
static int try_get_adapter_property(ipm_monitor *m)
{
    int rc = IPM_OK;
#define GET_INT(name) if (rc >= 0) rc = ipm_get_adapter_##name(m, 0) < 0 ? ipm_get_adapter_##name(m, 0) : IPM_OK;
#define GET_BOOL(name) GET_INT(name)
#define GET_STRING(name) if (rc >= 0) rc = ptr_rc(m, ipm_get_adapter_##name(m, 0));
#define GET(name, type, access, min, max, def) GET_##type(name)
    IPM_ADAPTER_PROPERTIES(GET)
#undef GET
    return rc;
}

/* Every setter of one access kind, given the value it has. */
/* Each setter whose ACCESS is `kind`, given the value it has: the
 * try_set_adapter_property_idle and _any rows. */
#define SET_ONE(name) if (rc >= 0) rc = ipm_set_adapter_##name(m, 0, ipm_get_adapter_##name(m, 0));
#define SET_IDLE_IDLE(name) SET_ONE(name)
#define SET_IDLE_ANY(name)
#define SET_IDLE_RO(name)
#define SET_ANY_ANY(name) SET_ONE(name)
#define SET_ANY_IDLE(name)
#define SET_ANY_RO(name)
#define SET_IDLE(name, type, access, min, max, def) SET_IDLE_##access(name)
#define SET_ANY(name, type, access, min, max, def) SET_ANY_##access(name)
#define TRY_SETTERS(kind, KIND)                                   \
    static int try_set_adapter_property_##kind(ipm_monitor *m)   \
    {                                                             \
        int rc = IPM_OK;                                          \
        IPM_ADAPTER_PROPERTIES(SET_##KIND)                        \
        return rc;                                                \
    }
TRY_SETTERS(idle, IDLE)
TRY_SETTERS(any, ANY)

static int try_get_direction(ipm_monitor *m) { return ipm_get_direction(m); }
static int try_set_direction(ipm_monitor *m) { return ipm_set_direction(m, IPM_PACKET_DIRECTION_ANY); }
static int try_get_filter(ipm_monitor *m) { return ptr_rc(m, ipm_get_filter(m)); }
static int try_set_filter(ipm_monitor *m) { return ipm_set_filter(m, ""); }
static int try_get_operation_mode(ipm_monitor *m) { return ipm_get_operation_mode(m); }
static int try_set_operation_mode(ipm_monitor *m) { return ipm_set_operation_mode(m, IPM_OM_CAPTURE); }
static int try_get_tag(ipm_monitor *m) { return ipm_get_tag(m) == 77 ? IPM_OK : IPM_E_BUSY; }
static int try_set_tag(ipm_monitor *m) { return ipm_set_tag(m, 77); }
static int try_activate(ipm_monitor *m) { return ipm_activate(m, g_file); }
static int try_activate_matching(ipm_monitor *m) { return ipm_activate_matching(m, NULL, 0); }
static int try_activate_many(ipm_monitor *m)
{
    const char *names[] = {g_file};
    return ipm_activate_many(m, names, 1);
}
static int try_config(ipm_monitor *m) { return ptr_rc(m, ipm_config(m, "StatisticsDetail")); }
static int try_deactivate(ipm_monitor *m) { return ipm_deactivate(m); }
static int try_break_events(ipm_monitor *m) { return ipm_break_events(m); }
static int try_do_events(ipm_monitor *m) { return ipm_do_events(m); }
static int try_do_events_timeout(ipm_monitor *m) { return ipm_do_events_timeout(m, 0); }
static int try_get_fd(ipm_monitor *m) { return ipm_get_fd(m); }
static int try_get_timeout(ipm_monitor *m) { return ipm_get_timeout(m); }
static int try_get_statistics(ipm_monitor *m) { return ipm_get_statistics(m, NULL, NULL, NULL); }
static int try_list_adapters(ipm_monitor *m) { return ipm_list_adapters(m); }
static int try_find_adapter(ipm_monitor *m) { return ipm_find_adapter(m, ipm_get_adapter_name(m, 0)); }
static int try_get_link_type(ipm_monitor *m) { return ipm_get_link_type(m); }
static int try_get_snapshot_length(ipm_monitor *m) { return ipm_get_snapshot_length(m); }
static int try_list_link_types(ipm_monitor *m)
{
    int types[8];
    int n = ipm_list_link_types(m, "lo", types, 8);
    return n < 0 ? n : IPM_OK;
}
static int try_list_time_stamp_types(ipm_monitor *m)
{
    int types[8];
    int n = ipm_list_time_stamp_types(m, "lo", types, 8);
    return n < 0 ? n : IPM_OK;
}
static int try_set_on_packet(ipm_monitor *m) { return ipm_set_on_packet(m, NULL, NULL); }
static int try_set_on_statistics(ipm_monitor *m) { return ipm_set_on_statistics(m, NULL, NULL); }
static int try_set_on_error(ipm_monitor *m) { return ipm_set_on_error(m, NULL, NULL); }

typedef struct call_row {
    const char *name;
    unsigned rules;
    int (*try)(ipm_monitor *m);
} call_row;

static const call_row ROWS[] = {
#define ROW(call, rules) {#call, rules, try_##call},
    IPM_CALLS(ROW)
#undef ROW
};
#define NROWS ((int)(sizeof ROWS / sizeof ROWS[0]))

/* ---- states ---- */

static ipm_monitor *idle_monitor(void)
{
    ipm_monitor *m = ipm_new();
    REQUIRE(m != NULL);
    REQUIRE(ipm_list_adapters(m) == IPM_OK && ipm_get_adapter_count(m) > 0);
    REQUIRE(ipm_set_tag(m, 77) == IPM_OK);
    return m;
}

/* A failed call to leave an error behind. */
static void plant_error(ipm_monitor *m)
{
    REQUIRE(ipm_set_direction(m, 99) == IPM_E_INVALID_ARGUMENT);
}

/* After a call that succeeded: a CLEARS call cleared the planted error,
 * any other left it exactly as it was. */
static void check_error_after_success(ipm_monitor *m, const call_row *r, const char *state)
{
    if (r->rules & IPM_RULE_CLEARS_ERROR) {
        if (ipm_last_error_code(m) != IPM_OK || ipm_last_error(m)[0])
            t_fail(__FILE__, __LINE__, "%s (%s) succeeded but kept the last error: %s",
                   r->name, state, ipm_last_error(m));
    } else if (ipm_last_error_code(m) != IPM_E_INVALID_ARGUMENT ||
               !strstr(ipm_last_error(m), "direction")) {
        t_fail(__FILE__, __LINE__, "%s (%s) is a getter but changed the last error to %d: %s",
               r->name, state, ipm_last_error_code(m), ipm_last_error(m));
    }
}

/* Idle, then active on the file: the last-error contract, and the idle
 * rule (refused with IPM_E_ACTIVE while active, never otherwise). */
static void t_idle_and_active(void)
{
    write_file();
    for (int i = 0; i < NROWS; i++) {
        const call_row *r = &ROWS[i];
        int succeeded = 0;
        if (strcmp(r->name, "free") == 0)
            continue;
        /* The header's contract, which the table must say: setters and
         * methods clear the last error, getters (get_*, find_*) do not. */
        int getter = strncmp(r->name, "get_", 4) == 0 && strcmp(r->name, "get_statistics") != 0;
        getter = getter || strncmp(r->name, "find_", 5) == 0;
        if (getter == !!(r->rules & IPM_RULE_CLEARS_ERROR))
            t_fail(__FILE__, __LINE__, "the table says %s %s the last error", r->name,
                   getter ? "clears" : "keeps");
        for (int active = 0; active <= 1; active++) {
            const char *state = active ? "active" : "idle";
            ipm_monitor *m = idle_monitor();
            if (active)
                REQUIRE(ipm_activate(m, g_file) == IPM_OK);
            plant_error(m);
            int rc = r->try(m);
            if (rc >= 0) {
                succeeded = 1;
                check_error_after_success(m, r, state);
            } else if (ipm_last_error_code(m) != rc || !ipm_last_error(m)[0]) {
                t_fail(__FILE__, __LINE__, "%s (%s) failed with %d but recorded %d: \"%s\"",
                       r->name, state, rc, ipm_last_error_code(m), ipm_last_error(m));
            }
            if (active && (r->rules & IPM_RULE_IDLE_ONLY) && rc != IPM_E_ACTIVE)
                t_fail(__FILE__, __LINE__, "%s is idle-only but gave %d while active", r->name, rc);
            if (!(r->rules & IPM_RULE_IDLE_ONLY) && rc == IPM_E_ACTIVE)
                t_fail(__FILE__, __LINE__, "%s is not idle-only but was refused while active",
                       r->name);
            ipm_free(m);
        }
        if (!succeeded)
            t_fail(__FILE__, __LINE__, "%s never succeeded: the check above was empty", r->name);
    }
    unlink(g_file);
}

/* Inside on_packet (and, with `stop_first`, after deactivate there: the
 * stopping state): calls without the callback rule get IPM_E_BUSY, and
 * idle-only calls get IPM_E_BUSY while stopping. */
typedef struct in_cb {
    const call_row *row;
    int stop_first, calls, rc;
    ipm_monitor *m;
} in_cb;

static int in_cb_on_packet(const ipm_packet_event *ev, void *user)
{
    in_cb *c = user;
    (void)ev;
    if (c->calls++ == 0) {
        if (c->stop_first)
            ipm_deactivate(c->m);
        c->rc = c->row->try(c->m);
    }
    return 0;
}

static void run_in_callback(int stop_first)
{
    write_file();
    for (int i = 0; i < NROWS; i++) {
        const call_row *r = &ROWS[i];
        if (strcmp(r->name, "free") == 0)
            continue;
        ipm_monitor *m = idle_monitor();
        in_cb c = {.row = r, .stop_first = stop_first, .m = m};
        REQUIRE(ipm_set_on_packet(m, in_cb_on_packet, &c) == IPM_OK);
        REQUIRE(ipm_activate(m, g_file) == IPM_OK);
        REQUIRE(ipm_do_events(m) == IPM_OK);
        REQUIRE(c.calls >= 1);
        int allowed = (r->rules & IPM_RULE_IN_CALLBACK) &&
                      !(stop_first && (r->rules & IPM_RULE_IDLE_ONLY));
        if (!allowed && c.rc != IPM_E_BUSY)
            t_fail(__FILE__, __LINE__, "%s %s gave %d, not IPM_E_BUSY", r->name,
                   stop_first ? "while stopping" : "in a callback", c.rc);
        if (allowed && c.rc == IPM_E_BUSY)
            t_fail(__FILE__, __LINE__, "%s %s was refused as busy", r->name,
                   stop_first ? "while stopping" : "in a callback");
        if (strcmp(r->name, "break_events") == 0 && !stop_first) {
            /* It ended the batch at the first packet; the rest follows. */
            CHECK_INT(c.calls, ==, 1);
            CHECK_INT(ipm_get_active(m), ==, 1);
            REQUIRE(ipm_do_events(m) == IPM_OK);
            CHECK(c.calls > 1);
        }
        CHECK_INT(ipm_get_active(m), ==, 0); /* the file was read (or stopped) */
        ipm_free(m);
    }
    unlink(g_file);
}

static void t_in_callback(void) { run_in_callback(0); }
static void t_while_stopping(void) { run_in_callback(1); }

/* From another thread while do_events waits on a live adapter: only the
 * calls with the other-thread rule run; the rest get IPM_E_BUSY and leave
 * the error record (owned by the waiting thread) alone. */
static void *wait_thread(void *arg)
{
    ipm_do_events(arg);
    return NULL;
}

static void t_other_thread(void)
{
    t_setup_pair();
    /* A long packet timeout: the wait lasts until deactivate wakes it. */
    ipm_monitor *m = t_new_monitor("udp port 9", 60000);
    CHECK_OK(m, ipm_activate(m, T.a.ifname));
    pthread_t th;
    REQUIRE(pthread_create(&th, NULL, wait_thread, m) == 0);
    long long deadline = nh_now_ms() + 20000;
    /* until the other thread is inside do_events; the pause lets it run
     * (under valgrind a spinning thread can keep the others from running) */
    while (ipm_get_direction(m) != IPM_E_BUSY && nh_now_ms() < deadline)
        usleep(1000);
    CHECK_INT(ipm_get_direction(m), ==, IPM_E_BUSY);
    for (int i = 0; i < NROWS; i++) {
        const call_row *r = &ROWS[i];
        if (strcmp(r->name, "deactivate") == 0 || strcmp(r->name, "free") == 0)
            continue; /* deactivate ends the wait: last, below */
        int rc = r->try(m);
        if ((r->rules & IPM_RULE_OTHER_THREAD) ? rc == IPM_E_BUSY : rc != IPM_E_BUSY)
            t_fail(__FILE__, __LINE__, "%s from another thread gave %d", r->name, rc);
    }
    CHECK_INT(ipm_get_direction(m), ==, IPM_E_BUSY); /* still waiting: the checks were live */
    CHECK_INT(ipm_get_active(m), ==, 1);
    CHECK_OK(m, ipm_deactivate(m)); /* wakes it */
    pthread_join(th, NULL);
    CHECK_INT(ipm_get_active(m), ==, 0);
    ipm_free(m);
}

/* ipm_free inside a callback: deferred until do_events returns. The rest of
 * the callback may not use the monitor; nothing fires after; no leak and no
 * use-after-free (ASan, valgrind). */
typedef struct free_cb {
    ipm_monitor *m;
    int calls, after_free_rc, active_after;
} free_cb;

static int free_on_packet(const ipm_packet_event *ev, void *user)
{
    free_cb *c = user;
    (void)ev;
    c->calls++;
    ipm_free(c->m);
    c->after_free_rc = ipm_set_tag(c->m, 1);
    c->active_after = ipm_get_active(c->m);
    return 0;
}

static void t_free_in_callback(void)
{
    write_file();
    ipm_monitor *m = idle_monitor();
    free_cb c = {.m = m, .active_after = -99};
    CHECK_OK(m, ipm_set_on_packet(m, free_on_packet, &c));
    CHECK_OK(m, ipm_activate(m, g_file));
    CHECK_INT(ipm_do_events(m), ==, IPM_OK); /* frees m as it returns */
    CHECK_INT(c.calls, ==, 1);               /* the file has 5: the rest never fired */
    CHECK_INT(c.after_free_rc, ==, IPM_E_BUSY);
    CHECK_INT(c.active_after, ==, IPM_E_BUSY);
    unlink(g_file);
}

static const t_case CASES[] = {
    {"idle_and_active", t_idle_and_active},
    {"in_callback", t_in_callback},
    {"while_stopping", t_while_stopping},
    {"other_thread", t_other_thread},
    {"free_in_callback", t_free_in_callback},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, CASES, 1);
}
