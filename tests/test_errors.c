/*
 * test_errors.c - bad input gets a clear error and loses nothing. Each case
 * provokes one kind of error (NULL arguments, index out of range, unknown
 * adapter, bad filter, settings changed while active, missing privileges,
 * unsupported monitor mode, calls from inside a callback), checks the code
 * and message, and then proves that the same monitor still activates and
 * captures exactly the traffic it should on the namespaces' veth pair.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "testutil.h"

/* The monitor still works: activate a's end, capture 3 datagrams exactly. */
static void still_captures(ipm_monitor *m)
{
    int rx = udp_socket(T.a.ns, AF_INET, 7001), tx = udp_socket(T.b.ns, AF_INET, 0);
    capture c;
    cap_init(&c, 16);
    cap_attach(&c, m);
    CHECK_OK(m, ipm_set_filter(m, "udp dst port 7001"));
    CHECK_OK(m, ipm_activate(m, T.a.ifname));
    CHECK_INT(ipm_get_active(m), ==, 1);
    size_t sz[] = {333};
    CHECK_INT(udp_send(tx, T.a.ip4, 7001, 3, sz, 1, 0), ==, 3);
    CHECK_INT(udp_drain(rx, 3, 3000), ==, 3);
    CHECK_OK(m, pump_until(m, &c.n, 3, 5000));
    CHECK_OK(m, pump_for(m, 150));
    CHECK_INT(c.n, ==, 3);
    for (int i = 0; i < c.n && i < 3; i++) {
        CHECK_INT(c.p[i].packet_size, ==, udp_frame_len(AF_INET, 333));
        CHECK_INT(c.p[i].data_size, ==, c.p[i].packet_size);
    }
    CHECK_OK(m, ipm_deactivate(m));
    CHECK_OK(m, ipm_set_on_packet(m, NULL, NULL));
    CHECK_OK(m, ipm_set_on_error(m, NULL, NULL));
    cap_free(&c);
    close(rx);
    close(tx);
}

static void t_null_args(void)
{
    t_setup_pair();
    ipm_free(NULL);
    CHECK_INT(ipm_get_active(NULL), ==, IPM_E_INVALID_ARGUMENT);
    CHECK_INT(ipm_get_adapter_count(NULL), ==, IPM_E_INVALID_ARGUMENT);
    CHECK_INT(ipm_activate(NULL, "lo"), ==, IPM_E_INVALID_ARGUMENT);
    CHECK_INT(ipm_do_events(NULL), ==, IPM_E_INVALID_ARGUMENT);
    CHECK_INT(ipm_list_adapters(NULL), ==, IPM_E_INVALID_ARGUMENT);
    CHECK_INT(ipm_set_filter(NULL, "udp"), ==, IPM_E_INVALID_ARGUMENT);
    CHECK_INT(ipm_set_on_packet(NULL, NULL, NULL), ==, IPM_E_INVALID_ARGUMENT);
    CHECK_INT(ipm_get_statistics(NULL, NULL, NULL, NULL), ==, IPM_E_INVALID_ARGUMENT);
    CHECK_INT(ipm_get_adapter_buffer_size(NULL, 0), ==, IPM_E_INVALID_ARGUMENT);
    CHECK(ipm_get_filter(NULL) == NULL);
    CHECK(ipm_get_adapter_name(NULL, 0) == NULL);
    CHECK(ipm_config(NULL, "BuildInfo") == NULL);
    CHECK(ipm_last_error(NULL) != NULL); /* no crash; some text */
    (void)ipm_last_error_code(NULL);
    (void)ipm_deactivate(NULL);

    ipm_monitor *m = t_new_monitor(NULL, 50);
    CHECK_STR(ipm_last_error(m), "");
    CHECK_INT(ipm_last_error_code(m), ==, IPM_OK);
    CHECK_ERR(m, ipm_activate(m, NULL), IPM_E_INVALID_ARGUMENT);
    CHECK_INT(ipm_get_active(m), ==, 0);
    int rc = ipm_activate(m, "");
    CHECK(rc == IPM_E_INVALID_ARGUMENT || rc == IPM_E_ADAPTER_NOT_FOUND);
    CHECK_ERR(m, ipm_activate_many(m, NULL, 1), IPM_E_INVALID_ARGUMENT);
    const char *none[] = {NULL};
    CHECK_ERR(m, ipm_activate_many(m, none, 1), IPM_E_INVALID_ARGUMENT);
    const char *one[] = {T.a.ifname};
    CHECK_ERR(m, ipm_activate_many(m, one, 0), IPM_E_INVALID_ARGUMENT);
    CHECK_ERR(m, ipm_activate_many(m, one, -1), IPM_E_INVALID_ARGUMENT);
    CHECK(ipm_config(m, NULL) == NULL);
    CHECK_INT(ipm_last_error_code(m), ==, IPM_E_INVALID_ARGUMENT);
    CHECK_ERR(m, ipm_find_adapter(m, NULL), IPM_E_INVALID_ARGUMENT);
    CHECK_OK(m, ipm_set_on_packet(m, NULL, NULL));
    CHECK_OK(m, ipm_set_on_statistics(m, NULL, NULL));
    CHECK_OK(m, ipm_set_on_error(m, NULL, NULL));

    /* Values out of range: refused, nothing changed. */
    int idx = ipm_find_adapter(m, T.a.ifname);
    REQUIRE(idx >= 0);
    CHECK_ERR(m, ipm_set_adapter_packet_timeout(m, idx, 0), IPM_E_INVALID_ARGUMENT);
    CHECK_ERR(m, ipm_set_adapter_packet_timeout(m, idx, -5), IPM_E_INVALID_ARGUMENT);
    CHECK_INT(ipm_get_adapter_packet_timeout(m, idx), ==, 50);
    CHECK_ERR(m, ipm_set_adapter_buffer_size(m, idx, -1), IPM_E_INVALID_ARGUMENT);
    CHECK_INT(ipm_get_adapter_buffer_size(m, idx), ==, 1024);
    CHECK_ERR(m, ipm_set_adapter_max_packet_bytes(m, idx, -1), IPM_E_INVALID_ARGUMENT);
    CHECK_INT(ipm_get_adapter_max_packet_bytes(m, idx), ==, 262144);
    CHECK_ERR(m, ipm_set_operation_mode(m, -1), IPM_E_INVALID_ARGUMENT);
    CHECK_INT(ipm_get_operation_mode(m), ==, IPM_OM_CAPTURE);
    /* max_packet_bytes 0 means 262144: whole packets (still_captures checks) */
    CHECK_OK(m, ipm_set_adapter_max_packet_bytes(m, idx, 0));
    int mpb = ipm_get_adapter_max_packet_bytes(m, idx);
    CHECK(mpb == 0 || mpb == 262144);

    /* Error texts */
    for (int code = 0; code >= IPM_E_BUSY; code--)
        CHECK(ipm_strerror(code) != NULL && ipm_strerror(code)[0] != '\0');
    CHECK_CONTAINS(ipm_strerror(-999), "unknown");
    CHECK_STR(ipm_version(), IPM_VERSION_STRING);

    still_captures(m);
    ipm_free(m);
}

/* Every adapter getter and setter with a bad index. */
static void check_all_out_of_range(ipm_monitor *m, int i)
{
#define OOR_INT(call)                                                                   \
    do {                                                                                \
        int r_ = (call);                                                                \
        if (r_ != IPM_E_INDEX_OUT_OF_RANGE || ipm_last_error_code(m) != IPM_E_INDEX_OUT_OF_RANGE || \
            !ipm_last_error(m)[0])                                                      \
            t_fail(__FILE__, __LINE__, "%s with index %d -> %d (%s)", #call, i, r_, ipm_last_error(m)); \
    } while (0)
#define OOR_STR(call)                                                                   \
    do {                                                                                \
        const char *r_ = (call);                                                        \
        if (r_ != NULL || ipm_last_error_code(m) != IPM_E_INDEX_OUT_OF_RANGE)           \
            t_fail(__FILE__, __LINE__, "%s with index %d -> %s", #call, i, r_ ? r_ : "NULL"); \
    } while (0)
    OOR_INT(ipm_get_adapter_buffer_size(m, i));
    OOR_INT(ipm_set_adapter_buffer_size(m, i, 2048));
    OOR_INT(ipm_get_adapter_collect_statistics(m, i));
    OOR_INT(ipm_set_adapter_collect_statistics(m, i, 0));
    OOR_STR(ipm_get_adapter_description(m, i));
    OOR_STR(ipm_get_adapter_friendly_name(m, i));
    OOR_INT(ipm_get_adapter_id(m, i));
    OOR_INT(ipm_get_adapter_interface_type(m, i));
    OOR_STR(ipm_get_adapter_mac_address(m, i));
    OOR_INT(ipm_get_adapter_max_packet_bytes(m, i));
    OOR_INT(ipm_set_adapter_max_packet_bytes(m, i, 100));
    OOR_STR(ipm_get_adapter_name(m, i));
    OOR_INT(ipm_get_adapter_packet_timeout(m, i));
    OOR_INT(ipm_set_adapter_packet_timeout(m, i, 10));
    OOR_INT(ipm_get_adapter_promiscuous_mode(m, i));
    OOR_INT(ipm_set_adapter_promiscuous_mode(m, i, 1));
    OOR_INT(ipm_get_adapter_wi_fi_monitor_mode(m, i));
    OOR_INT(ipm_set_adapter_wi_fi_monitor_mode(m, i, 1));
    OOR_INT(ipm_get_adapter_wi_fi_monitor_mode_supported(m, i));
    OOR_INT(ipm_get_adapter_is_up(m, i));
    OOR_INT(ipm_get_adapter_is_running(m, i));
    OOR_INT(ipm_get_adapter_is_loopback(m, i));
    OOR_INT(ipm_get_adapter_is_wireless(m, i));
    OOR_INT(ipm_get_adapter_mtu(m, i));
    OOR_STR(ipm_get_adapter_ipv4_addresses(m, i));
    OOR_STR(ipm_get_adapter_ipv6_addresses(m, i));
#undef OOR_INT
#undef OOR_STR
}

static void t_index_out_of_range(void)
{
    t_setup_pair();
    ipm_monitor *m = ipm_new();
    REQUIRE(m);
    CHECK_INT(ipm_get_adapter_count(m), ==, 0);
    check_all_out_of_range(m, 0); /* nothing listed yet */
    CHECK_OK(m, ipm_list_adapters(m));
    int n = ipm_get_adapter_count(m);
    CHECK_INT(n, >=, 2);
    /* -1 is IPM_ADAPTER_DEFAULTS (test_adapters.adapter_defaults): -2 is the
     * first negative index out of range */
    int bad[] = {-2, n, n + 100, -2147483647 - 1};
    for (int k = 0; k < 4; k++)
        check_all_out_of_range(m, bad[k]);
    /* the valid adapters kept their defaults */
    for (int i = 0; i < n; i++)
        check_adapter_defaults(m, i);
    for (int i = 0; i < n; i++)
        CHECK_OK(m, ipm_set_adapter_packet_timeout(m, i, 50));
    still_captures(m);
    ipm_free(m);
}

static void t_unknown_adapter(void)
{
    t_setup_pair();
    ipm_monitor *m = t_new_monitor(NULL, 50);
    CHECK_ERR(m, ipm_activate(m, "nosuchif0"), IPM_E_ADAPTER_NOT_FOUND);
    CHECK_CONTAINS(ipm_last_error(m), "nosuchif0");
    printf("unknown adapter: %s\n", ipm_last_error(m));
    CHECK_INT(ipm_get_active(m), ==, 0);
    CHECK_ERR(m, ipm_find_adapter(m, "nosuchif0"), IPM_E_ADAPTER_NOT_FOUND);
    CHECK_INT(ipm_get_link_type(m), ==, IPM_E_NOT_ACTIVE);
    still_captures(m);
    /* activating twice: IPM_E_ACTIVE, the first capture goes on */
    CHECK_OK(m, ipm_activate(m, T.a.ifname));
    CHECK_ERR(m, ipm_activate(m, "lo"), IPM_E_ACTIVE);
    CHECK_INT(ipm_get_active(m), ==, 1);
    CHECK_OK(m, ipm_deactivate(m));
    still_captures(m);
    ipm_free(m);
}

static void t_bad_filter(void)
{
    t_setup_pair();
    ipm_monitor *m = t_new_monitor(NULL, 50);
    CHECK_ERR(m, ipm_set_filter(m, "udp port"), IPM_E_BAD_FILTER);
    CHECK_CONTAINS(ipm_last_error(m), "syntax error"); /* libpcap's words */
    printf("bad filter: %s\n", ipm_last_error(m));
    CHECK_ERR(m, ipm_set_filter(m, "ip proto nosuchproto"), IPM_E_BAD_FILTER);
    CHECK_ERR(m, ipm_set_filter(m, "tcp[100000:4] = 1 and (("), IPM_E_BAD_FILTER);
    CHECK_STR(ipm_get_filter(m), "");

    /* A long bad expression: libpcap's reason first, then the expression
     * quoted by its start and end, so the message is never cut before the
     * reason (it used to quote all 12,000 characters first). */
    enum { TERMS = 1000 };
    char *longer = malloc(TERMS * 24 + 32);
    REQUIRE(longer);
    char *w = longer;
    for (int i = 0; i < TERMS; i++)
        w += sprintf(w, "%shost 10.0.%d.%d", i ? " or " : "", i / 200, i % 200 + 1);
    strcpy(w, " or udp port");
    CHECK_ERR(m, ipm_set_filter(m, longer), IPM_E_BAD_FILTER);
    const char *msg = ipm_last_error(m);
    printf("long bad filter: %s\n", msg);
    CHECK(strncmp(msg, "bad filter: ", 12) == 0);
    CHECK(strstr(msg, "syntax error") && strstr(msg, "syntax error") < strstr(msg, "\"host"));
    CHECK_CONTAINS(msg, "the filter was \"host 10.0.0.1 or host 10.0.0.2 or host 10.0.0.3");
    CHECK_CONTAINS(msg, " ... ");
    char count[64];
    snprintf(count, sizeof count, "or udp port\" (%zu characters)", strlen(longer));
    CHECK_CONTAINS(msg, count);
    CHECK(strlen(msg) < 400);
    free(longer);
    CHECK_STR(ipm_get_filter(m), "");
    still_captures(m);
    ipm_free(m);
}

static void t_setting_while_active(void)
{
    t_setup_pair();
    ipm_monitor *m = t_new_monitor(NULL, 50);
    int idx = ipm_find_adapter(m, T.a.ifname);
    REQUIRE(idx >= 0);
    CHECK_OK(m, ipm_set_adapter_max_packet_bytes(m, idx, 100));
    CHECK_OK(m, ipm_set_adapter_buffer_size(m, idx, 2048));
    CHECK_OK(m, ipm_activate(m, T.a.ifname));
    CHECK_ERR(m, ipm_set_adapter_buffer_size(m, idx, 4096), IPM_E_ACTIVE);
    CHECK_INT(ipm_get_adapter_buffer_size(m, idx), ==, 2048);
    CHECK_ERR(m, ipm_set_adapter_max_packet_bytes(m, idx, 200), IPM_E_ACTIVE);
    CHECK_INT(ipm_get_adapter_max_packet_bytes(m, idx), ==, 100);
    CHECK_ERR(m, ipm_set_adapter_packet_timeout(m, idx, 77), IPM_E_ACTIVE);
    CHECK_INT(ipm_get_adapter_packet_timeout(m, idx), ==, 50);
    CHECK_ERR(m, ipm_set_adapter_promiscuous_mode(m, idx, 1), IPM_E_ACTIVE);
    CHECK_INT(ipm_get_adapter_promiscuous_mode(m, idx), ==, 0);
    CHECK_ERR(m, ipm_set_adapter_wi_fi_monitor_mode(m, idx, 1), IPM_E_ACTIVE);
    CHECK_INT(ipm_get_adapter_wi_fi_monitor_mode(m, idx), ==, 0);
    CHECK_ERR(m, ipm_set_operation_mode(m, IPM_OM_STAT), IPM_E_ACTIVE);
    CHECK_INT(ipm_get_operation_mode(m), ==, IPM_OM_CAPTURE);
    CHECK_OK(m, ipm_set_tag(m, 1234567890123LL)); /* always allowed */
    CHECK_INT(ipm_get_tag(m), ==, 1234567890123LL);
    CHECK_INT(ipm_get_active(m), ==, 1);
    CHECK_OK(m, ipm_deactivate(m));
    /* The monitor still captures, with the settings it had (snaplen 100). */
    int rx = udp_socket(T.a.ns, AF_INET, 7001), tx = udp_socket(T.b.ns, AF_INET, 0);
    capture c;
    cap_init(&c, 16);
    cap_attach(&c, m);
    CHECK_OK(m, ipm_set_filter(m, "udp dst port 7001"));
    CHECK_OK(m, ipm_activate(m, T.a.ifname));
    size_t sz[] = {1000};
    CHECK_INT(udp_send(tx, T.a.ip4, 7001, 2, sz, 1, 0), ==, 2);
    CHECK_INT(udp_drain(rx, 2, 3000), ==, 2);
    CHECK_OK(m, pump_until(m, &c.n, 2, 5000));
    CHECK_OK(m, pump_for(m, 150));
    CHECK_INT(c.n, ==, 2);
    for (int i = 0; i < c.n && i < 2; i++) {
        CHECK_INT(c.p[i].data_size, ==, 100);
        CHECK_INT(c.p[i].packet_size, ==, 1042);
    }
    ipm_free(m);
    cap_free(&c);
    close(rx);
    close(tx);
}

/* Calls not allowed from inside a handler are refused with IPM_E_BUSY. */
typedef struct busy {
    ipm_monitor *m;
    int calls, activate_rc;
} busy;

static int busy_on_packet(const ipm_packet_event *ev, void *user)
{
    busy *b = user;
    (void)ev;
    if (b->calls++ == 0) {
        b->activate_rc = ipm_activate(b->m, "lo");
    }
    return 0;
}

static void t_busy_in_callback(void)
{
    t_setup_pair();
    int rx = udp_socket(T.a.ns, AF_INET, 7001), tx = udp_socket(T.b.ns, AF_INET, 0);
    ipm_monitor *m = t_new_monitor("udp dst port 7001", 50);
    busy b = {.m = m};
    CHECK_OK(m, ipm_set_on_packet(m, busy_on_packet, &b));
    CHECK_OK(m, ipm_activate(m, T.a.ifname));
    size_t sz[] = {10};
    CHECK_INT(udp_send(tx, T.a.ip4, 7001, 3, sz, 1, 0), ==, 3);
    CHECK_INT(udp_drain(rx, 3, 3000), ==, 3);
    CHECK_OK(m, pump_until(m, &b.calls, 3, 5000));
    CHECK_INT(b.calls, ==, 3);
    CHECK(b.activate_rc == IPM_E_BUSY || b.activate_rc == IPM_E_ACTIVE);
    CHECK_INT(ipm_get_active(m), ==, 1);
    CHECK_OK(m, ipm_deactivate(m));
    CHECK_OK(m, ipm_set_on_packet(m, NULL, NULL));
    close(rx);
    close(tx);
    still_captures(m);
    ipm_free(m);
}

/* ---------------- privileges ---------------- */

static int set_effective(int on)
{
    struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct d[2];
    if (syscall(SYS_capget, &h, d) != 0)
        return -1;
    unsigned bits = (1u << CAP_NET_RAW) | (1u << CAP_NET_ADMIN);
    if (on)
        d[0].effective |= bits;
    else
        d[0].effective &= ~bits;
    return (int)syscall(SYS_capset, &h, d);
}

static void check_permission_message(ipm_monitor *m)
{
    const char *msg = ipm_last_error(m);
    printf("no privileges: %s\n", msg);
    CHECK(strcasestr(msg, "CAP_NET_RAW") != NULL || strcasestr(msg, "setcap") != NULL);
}

static void t_permission(void)
{
    t_setup_pair();
    ipm_monitor *m = t_new_monitor(NULL, 50);
    REQUIRE(set_effective(0) == 0);
    CHECK_ERR(m, ipm_activate(m, T.a.ifname), IPM_E_PERMISSION);
    check_permission_message(m);
    CHECK_INT(ipm_get_active(m), ==, 0);
    REQUIRE(set_effective(1) == 0);
    still_captures(m);
    ipm_free(m);
}

/* The same through capsh in a fresh process: the capabilities are gone
 * from the bounding set, so root cannot get them back. */
static void t_permission_capsh(void)
{
    t_setup_pair();
    char self[512];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    REQUIRE(n > 0);
    self[n] = '\0';
    int rc = nh_run("ip netns exec %s capsh --drop=cap_net_raw,cap_net_admin -- -c "
                    "'exec %s permission_child %s'",
                    T.a.ns, self, T.a.ifname);
    CHECK_INT(rc, ==, 0);
}

/* Run by t_permission_capsh, without the capabilities. */
static int permission_child(const char *ifname)
{
    ipm_monitor *m = ipm_new();
    CHECK_ERR(m, ipm_activate(m, ifname), IPM_E_PERMISSION);
    check_permission_message(m);
    CHECK_INT(ipm_get_active(m), ==, 0);
    ipm_free(m);
    return t_failures ? 1 : 0;
}

/* ---------------- promiscuous and monitor mode ---------------- */

static void t_promiscuous(void)
{
    t_setup_pair();
    ipm_monitor *m = t_new_monitor(NULL, 50);
    int idx = ipm_find_adapter(m, T.a.ifname);
    REQUIRE(idx >= 0);
    CHECK_OK(m, ipm_set_adapter_promiscuous_mode(m, idx, 1));
    CHECK_INT(ipm_get_adapter_promiscuous_mode(m, idx), ==, 1);
    CHECK_INT(nh_run("ip -n %s -d link show %s | grep -q 'promiscuity 0'", T.a.ns, T.a.ifname), ==, 0);
    CHECK_OK(m, ipm_activate(m, T.a.ifname));
    CHECK_INT(nh_run("ip -n %s -d link show %s | grep -q 'promiscuity 1'", T.a.ns, T.a.ifname), ==, 0);
    CHECK_OK(m, ipm_deactivate(m));
    CHECK_INT(nh_run("ip -n %s -d link show %s | grep -q 'promiscuity 0'", T.a.ns, T.a.ifname), ==, 0);
    CHECK_OK(m, ipm_set_adapter_promiscuous_mode(m, idx, 0));
    still_captures(m);
    ipm_free(m);
}

static void t_monitor_mode_unsupported(void)
{
    t_setup_pair();
    ipm_monitor *m = t_new_monitor(NULL, 50);
    int idx = ipm_find_adapter(m, T.a.ifname);
    REQUIRE(idx >= 0);
    CHECK_INT(ipm_get_adapter_wi_fi_monitor_mode_supported(m, idx), ==, 0);
    CHECK_OK(m, ipm_set_adapter_wi_fi_monitor_mode(m, idx, 1));
    CHECK_ERR(m, ipm_activate(m, T.a.ifname), IPM_E_UNSUPPORTED);
    printf("monitor mode on veth: %s\n", ipm_last_error(m));
    CHECK_INT(ipm_get_active(m), ==, 0);
    CHECK_OK(m, ipm_set_adapter_wi_fi_monitor_mode(m, idx, 0));
    still_captures(m);
    ipm_free(m);
}

static const t_case CASES[] = {
    {"null_args", t_null_args},
    {"index_out_of_range", t_index_out_of_range},
    {"unknown_adapter", t_unknown_adapter},
    {"bad_filter", t_bad_filter},
    {"setting_while_active", t_setting_while_active},
    {"busy_in_callback", t_busy_in_callback},
    {"permission", t_permission},
    {"permission_capsh", t_permission_capsh},
    {"promiscuous", t_promiscuous},
    {"monitor_mode_unsupported", t_monitor_mode_unsupported},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "permission_child") == 0)
        return permission_child(argv[2]);
    return t_main(argc, argv, CASES, 1);
}
