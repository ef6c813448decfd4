/*
 * test_adapters.c - the adapter inventory and the config settings, checked
 * inside the test's own namespace where every interface is known: the veth
 * end's ifindex, IANA type, MAC, MTU, flags, addresses and alias; lo; the
 * defaults of every adapter setting; settings kept across re-listing;
 * BuildInfo, LicenseInfo, NetFilterGUID, boolean settings and unknown names.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

static void t_list_in_namespace(void)
{
    t_setup_pair();
    ipm_monitor *m = ipm_new();
    REQUIRE(m);
    CHECK_OK(m, ipm_list_adapters(m));
    int n = ipm_get_adapter_count(m);
    CHECK_INT(n, >=, 2);
    for (int i = 0; i < n; i++) {
        printf("  %d %-12s id %d type %d mac %s mtu %d up %d run %d lo %d wifi %d friendly \"%s\" "
               "desc \"%s\" v4 \"%s\" v6 \"%s\"\n",
               i, ipm_get_adapter_name(m, i), ipm_get_adapter_id(m, i), ipm_get_adapter_interface_type(m, i),
               ipm_get_adapter_mac_address(m, i), ipm_get_adapter_mtu(m, i), ipm_get_adapter_is_up(m, i),
               ipm_get_adapter_is_running(m, i), ipm_get_adapter_is_loopback(m, i),
               ipm_get_adapter_is_wireless(m, i), ipm_get_adapter_friendly_name(m, i),
               ipm_get_adapter_description(m, i), ipm_get_adapter_ipv4_addresses(m, i),
               ipm_get_adapter_ipv6_addresses(m, i));
        check_adapter_defaults(m, i);
        CHECK(ipm_get_adapter_name(m, i) && ipm_get_adapter_name(m, i)[0]);
        CHECK_INT(ipm_find_adapter(m, ipm_get_adapter_name(m, i)), ==, i);
        /* no host interface may leak into the namespace's list */
        const char *nm = ipm_get_adapter_name(m, i);
        if (ipm_get_adapter_id(m, i) > 0)
            CHECK(strcmp(nm, "lo") == 0 || strcmp(nm, T.a.ifname) == 0);
    }

    int v = ipm_find_adapter(m, T.a.ifname);
    REQUIRE(v >= 0);
    CHECK_STR(ipm_get_adapter_name(m, v), T.a.ifname);
    CHECK_INT(ipm_get_adapter_id(m, v), ==, T.a.ifindex);
    CHECK_INT(ipm_get_adapter_interface_type(m, v), ==, IPM_IFTYPE_ETHERNET_CSMACD);
    CHECK_STR(ipm_get_adapter_mac_address(m, v), "02-77-00-00-00-01");
    CHECK_INT(ipm_get_adapter_mtu(m, v), ==, 1500);
    CHECK_INT(ipm_get_adapter_is_up(m, v), ==, 1);
    CHECK_INT(ipm_get_adapter_is_running(m, v), ==, 1);
    CHECK_INT(ipm_get_adapter_is_loopback(m, v), ==, 0);
    CHECK_INT(ipm_get_adapter_is_wireless(m, v), ==, 0);
    CHECK_INT(ipm_get_adapter_wi_fi_monitor_mode_supported(m, v), ==, 0);
    CHECK_STR(ipm_get_adapter_ipv4_addresses(m, v), "10.77.0.1/24");
    CHECK_STR(ipm_get_adapter_ipv6_addresses(m, v), "fd77::1/64");
    CHECK_STR(ipm_get_adapter_friendly_name(m, v), T.a.ifname);
    CHECK(ipm_get_adapter_description(m, v) && ipm_get_adapter_description(m, v)[0]);
#ifdef IPM_TEST_PLATFORM_POSIX
    printf("skipped on the posix platform: the link kind (\"veth\") and the interface alias, "
           "which POSIX interfaces do not tell\n");
#else
    CHECK_CONTAINS(ipm_get_adapter_description(m, v), "veth");
#endif

    int l = ipm_find_adapter(m, "lo");
    REQUIRE(l >= 0);
    CHECK_INT(ipm_get_adapter_id(m, l), ==, 1);
    CHECK_INT(ipm_get_adapter_interface_type(m, l), ==, IPM_IFTYPE_SOFTWARE_LOOPBACK);
    CHECK_INT(ipm_get_adapter_is_loopback(m, l), ==, 1);
    CHECK_INT(ipm_get_adapter_is_up(m, l), ==, 1);
    CHECK_INT(ipm_get_adapter_mtu(m, l), ==, 65536);
    CHECK_STR(ipm_get_adapter_ipv4_addresses(m, l), "127.0.0.1/8");
    CHECK_STR(ipm_get_adapter_ipv6_addresses(m, l), "::1/128");
    CHECK_STR(ipm_get_adapter_friendly_name(m, l), "lo");

    int any = ipm_find_adapter(m, "any");
    if (any >= 0)
        CHECK_INT(ipm_get_adapter_id(m, any), ==, 0);

    /* Alias, link state, and settings kept (by name) across re-listing. */
    CHECK_OK(m, ipm_set_adapter_buffer_size(m, v, 4096));
    CHECK_OK(m, ipm_set_adapter_packet_timeout(m, v, 33));
    CHECK_INT(nh_run("ip -n %s link set %s alias 'test alias'", T.a.ns, T.a.ifname), ==, 0);
    CHECK_INT(nh_run("ip -n %s link set %s mtu 1400", T.a.ns, T.a.ifname), ==, 0);
    CHECK_INT(nh_run("ip -n %s addr add 10.78.0.1/16 dev %s", T.a.ns, T.a.ifname), ==, 0);
    CHECK_OK(m, ipm_list_adapters(m));
    v = ipm_find_adapter(m, T.a.ifname);
    REQUIRE(v >= 0);
#ifndef IPM_TEST_PLATFORM_POSIX
    CHECK_STR(ipm_get_adapter_friendly_name(m, v), "test alias");
#endif
    CHECK_STR(ipm_get_adapter_name(m, v), T.a.ifname);
    CHECK_INT(ipm_get_adapter_mtu(m, v), ==, 1400);
    CHECK_STR(ipm_get_adapter_ipv4_addresses(m, v), "10.77.0.1/24 10.78.0.1/16");
    CHECK_INT(ipm_get_adapter_buffer_size(m, v), ==, 4096);
    CHECK_INT(ipm_get_adapter_packet_timeout(m, v), ==, 33);
    CHECK_INT(nh_run("ip -n %s link set %s down", T.a.ns, T.a.ifname), ==, 0);
    CHECK_OK(m, ipm_list_adapters(m));
    v = ipm_find_adapter(m, T.a.ifname);
    REQUIRE(v >= 0);
    CHECK_INT(ipm_get_adapter_is_up(m, v), ==, 0);
    CHECK_INT(ipm_get_adapter_is_running(m, v), ==, 0);

    /* A new interface shows up on the next listing, with defaults. */
    CHECK_INT(nh_run("ip -n %s link add d%d type veth peer name e%d", T.a.ns, (int)getpid() % 100000,
                     (int)getpid() % 100000), ==, 0);
    CHECK_OK(m, ipm_list_adapters(m));
    char dname[32];
    snprintf(dname, sizeof dname, "d%d", (int)getpid() % 100000);
    int d = ipm_find_adapter(m, dname);
    CHECK_INT(d, >=, 0);
    if (d >= 0) {
        CHECK_INT(ipm_get_adapter_interface_type(m, d), ==, IPM_IFTYPE_ETHERNET_CSMACD);
        check_adapter_defaults(m, d);
    }
    ipm_free(m);
}

/* activate without list_adapters reads the list first. */
static void t_activate_lists_first(void)
{
    t_setup_pair();
    ipm_monitor *m = ipm_new();
    REQUIRE(m);
    CHECK_INT(ipm_get_adapter_count(m), ==, 0);
    CHECK_INT(ipm_get_link_type(m), ==, IPM_E_NOT_ACTIVE);
    CHECK_OK(m, ipm_activate(m, T.a.ifname));
    CHECK_INT(ipm_get_adapter_count(m), >=, 2);
    CHECK_INT(ipm_find_adapter(m, T.a.ifname), >=, 0);
    CHECK_INT(ipm_get_link_type(m), ==, 1);
    CHECK_INT(ipm_get_snapshot_length(m), ==, 262144); /* max_packet_bytes' default */
    CHECK_OK(m, ipm_deactivate(m));
    CHECK_INT(ipm_get_link_type(m), ==, IPM_E_NOT_ACTIVE);
    CHECK_INT(ipm_get_snapshot_length(m), ==, IPM_E_NOT_ACTIVE);
    ipm_free(m);
}

/* IPM_ADAPTER_DEFAULTS: the settings adapters get when first listed (and
 * when they appear while followed: test_follow); adapters listed before
 * keep theirs; the metadata getters refuse it. */
static void t_adapter_defaults(void)
{
    t_setup_pair();
    ipm_monitor *m = ipm_new();
    REQUIRE(m);
    CHECK_INT(ipm_get_adapter_packet_timeout(m, IPM_ADAPTER_DEFAULTS), ==, 1000);
    CHECK_INT(ipm_get_adapter_buffer_size(m, IPM_ADAPTER_DEFAULTS), ==, 1024);
    CHECK_OK(m, ipm_set_adapter_packet_timeout(m, IPM_ADAPTER_DEFAULTS, 40));
    CHECK_OK(m, ipm_set_adapter_promiscuous_mode(m, IPM_ADAPTER_DEFAULTS, 1));
    CHECK_INT(ipm_set_adapter_packet_timeout(m, IPM_ADAPTER_DEFAULTS, 0), ==, IPM_E_INVALID_ARGUMENT);
    CHECK_INT(ipm_get_adapter_packet_timeout(m, IPM_ADAPTER_DEFAULTS), ==, 40);
    CHECK(ipm_get_adapter_name(m, IPM_ADAPTER_DEFAULTS) == NULL);
    CHECK_INT(ipm_last_error_code(m), ==, IPM_E_INDEX_OUT_OF_RANGE);
    CHECK_CONTAINS(ipm_last_error(m), "IPM_ADAPTER_DEFAULTS has only the settings");
    CHECK_INT(ipm_get_adapter_mtu(m, IPM_ADAPTER_DEFAULTS), ==, IPM_E_INDEX_OUT_OF_RANGE);
    CHECK_INT(ipm_get_adapter_packet_timeout(m, -2), ==, IPM_E_INDEX_OUT_OF_RANGE);
    CHECK_OK(m, ipm_list_adapters(m));
    int a = ipm_find_adapter(m, T.a.ifname);
    CHECK_INT(ipm_get_adapter_packet_timeout(m, a), ==, 40);
    CHECK_INT(ipm_get_adapter_promiscuous_mode(m, a), ==, 1);
    CHECK_INT(ipm_get_adapter_buffer_size(m, a), ==, 1024);
    /* new defaults leave listed adapters as they are, even when listed again */
    CHECK_OK(m, ipm_set_adapter_packet_timeout(m, a, 70));
    CHECK_OK(m, ipm_set_adapter_packet_timeout(m, IPM_ADAPTER_DEFAULTS, 90));
    CHECK_OK(m, ipm_list_adapters(m));
    CHECK_INT(ipm_get_adapter_packet_timeout(m, ipm_find_adapter(m, T.a.ifname)), ==, 70);
    ipm_free(m);
}

/* config LinkType / TimeStampType and the lists they choose from. */
static void t_link_and_time_stamp_types(void)
{
    t_setup_pair();
    ipm_monitor *m = ipm_new();
    REQUIRE(m);
    CHECK_STR(ipm_config(m, "LinkType"), "");
    CHECK(ipm_config(m, "LinkType=113") != NULL);
    CHECK_STR(ipm_config(m, "LinkType"), "LINUX_SLL");
    CHECK(ipm_config(m, "linktype=LINUX_SLL2") != NULL);
    CHECK_STR(ipm_config(m, "LinkType"), "LINUX_SLL2");
    CHECK(ipm_config(m, "LinkType=NO_SUCH_TYPE") == NULL);
    CHECK_INT(ipm_last_error_code(m), ==, IPM_E_CONFIG);
    CHECK_CONTAINS(ipm_last_error(m), "link type name");
    CHECK(ipm_config(m, "TimeStampType=host") != NULL);
    CHECK_STR(ipm_config(m, "TimeStampType"), "host");
    CHECK(ipm_config(m, "TimeStampType=sundial") == NULL);
    CHECK(ipm_config(m, "TimeStampType=") != NULL);
    CHECK_STR(ipm_config(m, "TimeStampType"), "");

    int types[16];
    int n = ipm_list_link_types(m, "any", types, 16);
    CHECK_INT(n, ==, 2);
    CHECK(n == 2 && ((types[0] == DLT_LINUX_SLL && types[1] == DLT_LINUX_SLL2) ||
                     (types[1] == DLT_LINUX_SLL && types[0] == DLT_LINUX_SLL2)));
    CHECK_INT(ipm_list_link_types(m, T.a.ifname, types, 1), >=, 1); /* room for one, more exist */
    CHECK_INT(types[0], ==, DLT_EN10MB);
    CHECK_INT(ipm_list_time_stamp_types(m, "lo", types, 16), >=, 0);
    CHECK_INT(ipm_list_link_types(m, "nosuch0", types, 16), ==, IPM_E_ADAPTER_NOT_FOUND);
    CHECK_CONTAINS(ipm_last_error(m), "nosuch0");
    CHECK_INT(ipm_list_link_types(m, NULL, types, 16), ==, IPM_E_INVALID_ARGUMENT);
    CHECK_INT(ipm_list_link_types(m, "lo", NULL, 4), ==, IPM_E_INVALID_ARGUMENT);

    /* the choice applies at activation: any as cooked v1, then a type
     * the veth lacks, refused with the ones it has */
    CHECK(ipm_config(m, "LinkType=LINUX_SLL") != NULL);
    CHECK_OK(m, ipm_activate(m, "any"));
    CHECK_INT(ipm_get_link_type(m), ==, DLT_LINUX_SLL);
    CHECK(ipm_config(m, "LinkType=EN10MB") == NULL); /* not while active */
    CHECK_INT(ipm_last_error_code(m), ==, IPM_E_ACTIVE);
    CHECK_OK(m, ipm_deactivate(m));
    CHECK(ipm_config(m, "LinkType=IEEE802_11") != NULL);
    CHECK_INT(ipm_activate(m, T.a.ifname), ==, IPM_E_UNSUPPORTED);
    CHECK_CONTAINS(ipm_last_error(m), "EN10MB (Ethernet)");
    CHECK_INT(ipm_get_active(m), ==, 0);
    ipm_free(m);
}

static void t_config(void)
{
    ipm_monitor *m = ipm_new();
    REQUIRE(m);
    const char *s = ipm_config(m, "BuildInfo");
    CHECK(s && s[0]);
    CHECK_CONTAINS(s, IPM_VERSION_STRING);
    printf("BuildInfo: %s\n", s ? s : "(null)");
    s = ipm_config(m, "LicenseInfo");
    CHECK(s && s[0]);
    printf("LicenseInfo: %s\n", s ? s : "(null)");
    CHECK(ipm_config(m, "buildinfo") != NULL); /* case-insensitive */
    s = ipm_config(m, "NetFilterGUID");
    CHECK(s != NULL);
    s = ipm_config(m, "NetFilterGUID={00000000-0000-0000-0000-000000000000}");
    CHECK(s != NULL);
    if (s)
        CHECK_STR(s, "");

    /* read-only and unknown settings */
    CHECK(ipm_config(m, "BuildInfo=mine") == NULL);
    CHECK_INT(ipm_last_error_code(m), ==, IPM_E_CONFIG);
    CHECK(ipm_config(m, "NoSuchSetting") == NULL);
    CHECK_INT(ipm_last_error_code(m), ==, IPM_E_CONFIG);
    CHECK_CONTAINS(ipm_last_error(m), "NoSuchSetting");
    CHECK(ipm_config(m, "NoSuchSetting=1") == NULL);
    CHECK_INT(ipm_last_error_code(m), ==, IPM_E_CONFIG);
    CHECK(ipm_config(m, "") == NULL);
    CHECK(ipm_config(m, "=1") == NULL);

    /* booleans: True/False/1/0/Yes/No, any case */
    CHECK_STR(ipm_config(m, "ImmediateMode"), "False");
    const char *yes[] = {"True", "1", "yes", "YES", "true"};
    const char *no[] = {"False", "0", "no", "No", "FALSE"};
    char buf[64];
    for (int i = 0; i < 5; i++) {
        snprintf(buf, sizeof buf, "ImmediateMode=%s", yes[i]);
        CHECK_STR(ipm_config(m, buf), "");
        CHECK_STR(ipm_config(m, "immediatemode"), "True");
        snprintf(buf, sizeof buf, "ImmediateMode=%s", no[i]);
        CHECK_STR(ipm_config(m, buf), "");
        CHECK_STR(ipm_config(m, "ImmediateMode"), "False");
    }
    CHECK(ipm_config(m, "ImmediateMode=maybe") == NULL);
    CHECK_INT(ipm_last_error_code(m), ==, IPM_E_CONFIG);
    CHECK_STR(ipm_config(m, "ImmediateMode"), "False");
    CHECK_STR(ipm_config(m, "StatisticsDetail"), "False");
    CHECK_STR(ipm_config(m, "StatisticsDetail=Yes"), "");
    CHECK_STR(ipm_config(m, "StatisticsDetail"), "True");

    /* An answer stays valid while other settings are read and set: only
     * reading the same setting again replaces it. (It used to be one buffer
     * for all: the GUID read first turned to garbage after BuildInfo.) */
    CHECK_STR(ipm_config(m, "NetFilterGUID={6b3a0c1e-0000-4000-8000-000000000001}"), "");
    const char *guid = ipm_config(m, "NetFilterGUID");
    const char *build = ipm_config(m, "BuildInfo");
    const char *lic = ipm_config(m, "LicenseInfo");
    const char *imm = ipm_config(m, "ImmediateMode");
    CHECK_STR(ipm_config(m, "ImmediateMode=True"), "");
    CHECK_STR(ipm_config(m, "NetFilterGUID=other"), ""); /* set, not read */
    REQUIRE(guid && build && lic && imm);
    CHECK_STR(guid, "{6b3a0c1e-0000-4000-8000-000000000001}");
    CHECK_CONTAINS(build, IPM_VERSION_STRING);
    CHECK_CONTAINS(lic, "MIT");
    CHECK_STR(imm, "False"); /* the value when it was read */
    CHECK_STR(ipm_config(m, "NetFilterGUID"), "other");
    CHECK_STR(ipm_config(m, "ImmediateMode=False"), "");

    /* plain properties' defaults */
    CHECK_INT(ipm_get_active(m), ==, 0);
    CHECK_INT(ipm_get_adapter_count(m), ==, 0);
    CHECK_INT(ipm_get_direction(m), ==, IPM_PACKET_DIRECTION_ANY);
    CHECK_STR(ipm_get_filter(m), "");
    CHECK_INT(ipm_get_operation_mode(m), ==, IPM_OM_CAPTURE);
    CHECK_INT(ipm_get_tag(m), ==, 0);
    CHECK_OK(m, ipm_set_tag(m, -42));
    CHECK_INT(ipm_get_tag(m), ==, -42);
    CHECK_OK(m, ipm_do_events(m)); /* inactive: returns 0 at once */
    CHECK_OK(m, ipm_deactivate(m));
    ipm_free(m);
}

static const t_case CASES[] = {
    {"list_in_namespace", t_list_in_namespace},
    {"activate_lists_first", t_activate_lists_first},
    {"adapter_defaults", t_adapter_defaults},
    {"link_and_time_stamp_types", t_link_and_time_stamp_types},
    {"config", t_config},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, CASES, 1);
}
