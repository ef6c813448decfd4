/*
 * adapters.c - the adapter inventory: libpcap's device list joined with what
 * the OS knows of each interface, and the reference's adapter_* properties.
 *
 * The list is a plain array rebuilt by ipm_list_adapters(); the settable
 * properties of an adapter are kept across rebuilds by name, so listing again
 * never loses what the application configured.
 */
#include "internal.h"
#include "platform.h"
#include "source.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pcap/pcap.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ipm_adapter_settings_default(ipm_adapter_settings *s)
{
    s->buffer_size_kb = IPM_DEFAULT_BUFFER_KB;
    s->collect_statistics = 1;
    s->max_packet_bytes = IPM_DEFAULT_SNAPLEN;
    s->packet_timeout_ms = IPM_DEFAULT_TIMEOUT_MS;
    s->promiscuous = 0;
    s->wifi_monitor = 0;
}

static void adapter_free(ipm_adapter *a)
{
    free(a->name);
    free(a->description);
    free(a->friendly_name);
    free(a->mac_address);
    free(a->ipv4_addresses);
    free(a->ipv6_addresses);
}

void ipm_adapters_free(ipm_adapter *list, int count)
{
    for (int i = 0; i < count; i++)
        adapter_free(&list[i]);
    free(list);
}

/* ---- building the list ---------------------------------------------- */

static int netmask_prefix(const struct sockaddr *mask)
{
    const uint8_t *bytes;
    int len, bits = 0;
    if (!mask)
        return -1;
    if (mask->sa_family == AF_INET) {
        bytes = (const uint8_t *)&((const struct sockaddr_in *)mask)->sin_addr;
        len = 4;
    } else if (mask->sa_family == AF_INET6) {
        bytes = (const uint8_t *)&((const struct sockaddr_in6 *)mask)->sin6_addr;
        len = 16;
    } else {
        return -1;
    }
    for (int i = 0; i < len; i++)
        bits += __builtin_popcount(bytes[i]);
    return bits;
}

/* Append "address/prefix" to a space-separated list in buf. */
static void append_address(char *buf, size_t size, const pcap_addr_t *pa)
{
    char text[INET6_ADDRSTRLEN];
    const void *raw = pa->addr->sa_family == AF_INET
                          ? (const void *)&((const struct sockaddr_in *)pa->addr)->sin_addr
                          : (const void *)&((const struct sockaddr_in6 *)pa->addr)->sin6_addr;
    if (!inet_ntop(pa->addr->sa_family, raw, text, sizeof text))
        return;
    size_t used = strlen(buf);
    int prefix = netmask_prefix(pa->netmask);
    if (prefix >= 0)
        snprintf(buf + used, size - used, "%s%s/%d", used ? " " : "", text, prefix);
    else
        snprintf(buf + used, size - used, "%s%s", used ? " " : "", text);
}

static void format_mac(const ipm_os_link *link, char *out, size_t size)
{
    static const uint8_t zero[6];
    out[0] = '\0';
    if (!link || link->addr_len != 6 || memcmp(link->addr, zero, 6) == 0)
        return;
    snprintf(out, size, "%02X-%02X-%02X-%02X-%02X-%02X", link->addr[0], link->addr[1],
             link->addr[2], link->addr[3], link->addr[4], link->addr[5]);
}

static int can_set_rfmon(const char *name)
{
    char err[PCAP_ERRBUF_SIZE];
    pcap_t *p = pcap_create(name, err);
    if (!p)
        return 0;
    int rc = pcap_can_set_rfmon(p);
    pcap_close(p);
    return rc == 1;
}

static const ipm_os_link *find_link(const ipm_os_link *links, int count, const char *name)
{
    for (int i = 0; i < count; i++)
        if (strcmp(links[i].name, name) == 0)
            return &links[i];
    return NULL;
}

static int adapter_fill(ipm_adapter *a, const pcap_if_t *dev, const ipm_os_link *link)
{
    char v4[1024] = "", v6[2048] = "", mac[32], description[256];

    a->name = ipm_strdup(dev->name);
    a->is_up = !!(dev->flags & PCAP_IF_UP);
    a->is_running = !!(dev->flags & PCAP_IF_RUNNING);
    a->is_loopback = !!(dev->flags & PCAP_IF_LOOPBACK);
    a->is_wireless = !!(dev->flags & PCAP_IF_WIRELESS);
    a->id = link ? link->ifindex : 0;
    a->mtu = link ? link->mtu : 0;
    a->interface_type = link ? ipm_os_iana_iftype(link->hw_type)
                             : a->is_loopback ? IPM_IFTYPE_SOFTWARE_LOOPBACK : IPM_IFTYPE_OTHER;
    for (const pcap_addr_t *pa = dev->addresses; pa; pa = pa->next) {
        if (pa->addr && pa->addr->sa_family == AF_INET)
            append_address(v4, sizeof v4, pa);
        else if (pa->addr && pa->addr->sa_family == AF_INET6)
            append_address(v6, sizeof v6, pa);
    }
    format_mac(link, mac, sizeof mac);
    if (dev->description && dev->description[0])
        snprintf(description, sizeof description, "%s", dev->description);
    else if (link)
        ipm_os_describe(link, a->is_loopback, a->is_wireless, description, sizeof description);
    else
        snprintf(description, sizeof description, "Network interface");
    a->description = ipm_strdup(description);
    a->friendly_name = ipm_strdup(link && link->alias[0] ? link->alias : dev->name);
    a->mac_address = ipm_strdup(mac);
    a->ipv4_addresses = ipm_strdup(v4);
    a->ipv6_addresses = ipm_strdup(v6);
    a->wifi_monitor_supported = a->is_wireless && can_set_rfmon(dev->name);
    if (!a->name || !a->description || !a->friendly_name || !a->mac_address ||
        !a->ipv4_addresses || !a->ipv6_addresses)
        return -1;
    return 0;
}

/* Keep the settings of adapters that were listed before, by name. */
static void carry_settings(ipm_adapter *a, const ipm_monitor *m)
{
    ipm_adapter_settings_default(&a->settings);
    for (int i = 0; i < m->adapter_count; i++)
        if (strcmp(m->adapters[i].name, a->name) == 0)
            a->settings = m->adapters[i].settings;
}

int ipm_list_adapters(ipm_monitor *m)
{
    char err[PCAP_ERRBUF_SIZE];
    pcap_if_t *devs = NULL;
    ipm_os_link *links = NULL;
    int nlinks = 0, n = 0, cap = 0;
    ipm_adapter *list = NULL;

    if (!m)
        return IPM_E_INVALID_ARGUMENT;
    if (pcap_findalldevs(&devs, err) != 0)
        return ipm_fail(m, IPM_E_CAPTURE, "cannot list adapters: %s", err);
    if (ipm_os_list_links(&links, &nlinks) != 0)
        nlinks = 0; /* metadata is a bonus: list what libpcap gives */
    for (pcap_if_t *d = devs; d; d = d->next)
        cap++;
    list = calloc(cap ? cap : 1, sizeof *list);
    if (!list)
        goto oom;
    for (pcap_if_t *d = devs; d; d = d->next, n++) {
        if (adapter_fill(&list[n], d, find_link(links, nlinks, d->name)) != 0) {
            n++;
            goto oom;
        }
        carry_settings(&list[n], m);
    }
    pcap_freealldevs(devs);
    free(links);
    ipm_adapters_free(m->adapters, m->adapter_count);
    m->adapters = list;
    m->adapter_count = n;
    /* Active sources keep running; re-point their events at the new list. */
    for (int i = 0; i < m->source_count; i++) {
        int index = ipm_find_adapter(m, m->sources[i]->name);
        m->sources[i]->event.adapter_index = index >= 0 ? index : -1;
    }
    ipm_clear_error(m);
    return IPM_OK;
oom:
    pcap_freealldevs(devs);
    free(links);
    ipm_adapters_free(list, n);
    return ipm_fail(m, IPM_E_NO_MEMORY, "out of memory while listing adapters");
}

int ipm_find_adapter(const ipm_monitor *m, const char *name)
{
    if (!m || !name)
        return IPM_E_INVALID_ARGUMENT;
    for (int i = 0; i < m->adapter_count; i++)
        if (strcmp(m->adapters[i].name, name) == 0)
            return i;
    return IPM_E_ADAPTER_NOT_FOUND;
}

int ipm_get_adapter_count(const ipm_monitor *m)
{
    return m ? m->adapter_count : IPM_E_INVALID_ARGUMENT;
}

/* ---- the adapter_* properties ------------------------------------------ */

const ipm_adapter *ipm_adapter_at(const ipm_monitor *m, int index)
{
    if (!m)
        return NULL;
    if (index < 0 || index >= m->adapter_count) {
        ipm_fail((ipm_monitor *)m, IPM_E_INDEX_OUT_OF_RANGE,
                 "adapter index %d is out of range: there are %d adapters (0..%d); call "
                 "list_adapters first",
                 index, m->adapter_count, m->adapter_count - 1);
        return NULL;
    }
    return &m->adapters[index];
}

static int get_int(const ipm_monitor *m, int index, size_t offset)
{
    const ipm_adapter *a = ipm_adapter_at(m, index);
    if (!a)
        return m ? IPM_E_INDEX_OUT_OF_RANGE : IPM_E_INVALID_ARGUMENT;
    return *(const int *)((const char *)a + offset);
}

static const char *get_string(const ipm_monitor *m, int index, size_t offset)
{
    const ipm_adapter *a = ipm_adapter_at(m, index);
    return a ? *(char *const *)((const char *)a + offset) : NULL;
}

/* Common checks of a setter: monitor, index, inactive, value range. */
static int set_int(ipm_monitor *m, int index, size_t offset, const char *property, int value,
                   int min, int max, int allowed_while_active)
{
    if (!m)
        return IPM_E_INVALID_ARGUMENT;
    if (!ipm_adapter_at(m, index))
        return IPM_E_INDEX_OUT_OF_RANGE;
    if (!allowed_while_active && atomic_load(&m->active))
        return ipm_fail(m, IPM_E_ACTIVE,
                        "%s can be changed only while the monitor is inactive: call "
                        "deactivate first",
                        property);
    if (value < min || value > max)
        return ipm_fail(m, IPM_E_INVALID_ARGUMENT, "%s must be between %d and %d, not %d",
                        property, min, max, value);
    *(int *)((char *)&m->adapters[index] + offset) = value;
    ipm_clear_error(m);
    return IPM_OK;
}

#define SETTING(field) offsetof(ipm_adapter, settings.field)
#define FIELD(field) offsetof(ipm_adapter, field)

int ipm_get_adapter_buffer_size(const ipm_monitor *m, int i) { return get_int(m, i, SETTING(buffer_size_kb)); }
int ipm_get_adapter_collect_statistics(const ipm_monitor *m, int i) { return get_int(m, i, SETTING(collect_statistics)); }
int ipm_get_adapter_max_packet_bytes(const ipm_monitor *m, int i) { return get_int(m, i, SETTING(max_packet_bytes)); }
int ipm_get_adapter_packet_timeout(const ipm_monitor *m, int i) { return get_int(m, i, SETTING(packet_timeout_ms)); }
int ipm_get_adapter_promiscuous_mode(const ipm_monitor *m, int i) { return get_int(m, i, SETTING(promiscuous)); }
int ipm_get_adapter_wi_fi_monitor_mode(const ipm_monitor *m, int i) { return get_int(m, i, SETTING(wifi_monitor)); }
int ipm_get_adapter_id(const ipm_monitor *m, int i) { return get_int(m, i, FIELD(id)); }
int ipm_get_adapter_interface_type(const ipm_monitor *m, int i) { return get_int(m, i, FIELD(interface_type)); }
int ipm_get_adapter_wi_fi_monitor_mode_supported(const ipm_monitor *m, int i) { return get_int(m, i, FIELD(wifi_monitor_supported)); }
int ipm_get_adapter_is_up(const ipm_monitor *m, int i) { return get_int(m, i, FIELD(is_up)); }
int ipm_get_adapter_is_running(const ipm_monitor *m, int i) { return get_int(m, i, FIELD(is_running)); }
int ipm_get_adapter_is_loopback(const ipm_monitor *m, int i) { return get_int(m, i, FIELD(is_loopback)); }
int ipm_get_adapter_is_wireless(const ipm_monitor *m, int i) { return get_int(m, i, FIELD(is_wireless)); }
int ipm_get_adapter_mtu(const ipm_monitor *m, int i) { return get_int(m, i, FIELD(mtu)); }

const char *ipm_get_adapter_description(const ipm_monitor *m, int i) { return get_string(m, i, FIELD(description)); }
const char *ipm_get_adapter_friendly_name(const ipm_monitor *m, int i) { return get_string(m, i, FIELD(friendly_name)); }
const char *ipm_get_adapter_mac_address(const ipm_monitor *m, int i) { return get_string(m, i, FIELD(mac_address)); }
const char *ipm_get_adapter_name(const ipm_monitor *m, int i) { return get_string(m, i, FIELD(name)); }
const char *ipm_get_adapter_ipv4_addresses(const ipm_monitor *m, int i) { return get_string(m, i, FIELD(ipv4_addresses)); }
const char *ipm_get_adapter_ipv6_addresses(const ipm_monitor *m, int i) { return get_string(m, i, FIELD(ipv6_addresses)); }

int ipm_set_adapter_buffer_size(ipm_monitor *m, int i, int kb)
{
    /* 2^21 KB = 2 GiB: libpcap takes the size in bytes as an int. */
    return set_int(m, i, SETTING(buffer_size_kb), "adapter_buffer_size (KB)", kb, 0, 2097151, 0);
}

int ipm_set_adapter_max_packet_bytes(ipm_monitor *m, int i, int bytes)
{
    return set_int(m, i, SETTING(max_packet_bytes), "adapter_max_packet_bytes", bytes, 0,
                   IPM_DEFAULT_SNAPLEN, 0);
}

int ipm_set_adapter_packet_timeout(ipm_monitor *m, int i, int ms)
{
    /* libpcap leaves a zero timeout undefined on Linux: require a positive
     * one (config ImmediateMode=True gives the lowest latency). */
    return set_int(m, i, SETTING(packet_timeout_ms), "adapter_packet_timeout (ms)", ms, 1,
                   3600 * 1000, 0);
}

int ipm_set_adapter_promiscuous_mode(ipm_monitor *m, int i, int value)
{
    return set_int(m, i, SETTING(promiscuous), "adapter_promiscuous_mode", !!value, 0, 1, 0);
}

int ipm_set_adapter_wi_fi_monitor_mode(ipm_monitor *m, int i, int value)
{
    return set_int(m, i, SETTING(wifi_monitor), "adapter_wi_fi_monitor_mode", !!value, 0, 1, 0);
}

int ipm_set_adapter_collect_statistics(ipm_monitor *m, int i, int value)
{
    /* Only chooses which on_statistics events fire, so it may change while
     * active: update the running source of this adapter too. */
    int rc = set_int(m, i, SETTING(collect_statistics), "adapter_collect_statistics", !!value,
                     0, 1, 1);
    for (int s = 0; rc == IPM_OK && s < m->source_count; s++)
        if (m->sources[s]->event.adapter_index == i)
            m->sources[s]->settings.collect_statistics = !!value;
    return rc;
}
