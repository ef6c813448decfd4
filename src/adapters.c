/*
 * adapters.c - the adapter inventory: libpcap's device list joined with what
 * the OS knows of each interface, and the reference's adapter_* properties.
 *
 * The list is a plain array rebuilt by ipm_list_adapters(); the settable
 * properties of an adapter are kept across rebuilds by name, so listing again
 * never loses what the application configured.
 */
#include "calls.h"
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

/* The reference's defaults, from IPM_ADAPTER_PROPERTIES. */
void ipm_adapter_settings_default(ipm_adapter_settings *s)
{
#define DEFAULT_RO(name, def)
#define DEFAULT_IDLE(name, def) s->name = (def);
#define DEFAULT_ANY(name, def) s->name = (def);
#define DEFAULT(name, type, access, min, max, def) DEFAULT_##access(name, def)
    IPM_ADAPTER_PROPERTIES(DEFAULT)
#undef DEFAULT
#undef DEFAULT_RO
#undef DEFAULT_IDLE
#undef DEFAULT_ANY
}

/* Frees the adapter's strings: its read-only STRING properties. */
static void adapter_free(ipm_adapter *a)
{
#define FREE_INT(name)
#define FREE_BOOL(name)
#define FREE_STRING(name) free(a->name);
#define FREE_RO(name, type) FREE_##type(name)
#define FREE_IDLE(name, type)
#define FREE_ANY(name, type)
#define FREE(name, type, access, min, max, def) FREE_##access(name, type)
    IPM_ADAPTER_PROPERTIES(FREE)
#undef FREE
#undef FREE_RO
#undef FREE_IDLE
#undef FREE_ANY
#undef FREE_INT
#undef FREE_BOOL
#undef FREE_STRING
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
    a->wi_fi_monitor_mode_supported = a->is_wireless && can_set_rfmon(dev->name);
    if (!a->name || !a->description || !a->friendly_name || !a->mac_address ||
        !a->ipv4_addresses || !a->ipv6_addresses)
        return -1;
    return 0;
}

/* Also used inside the library, where it must not touch the error record:
 * hence the lookup apart from the public call's guard. */
static int find_adapter(const ipm_monitor *m, const char *name)
{
    for (int i = 0; i < m->adapter_count; i++)
        if (strcmp(m->adapters[i].name, name) == 0)
            return i;
    return IPM_E_ADAPTER_NOT_FOUND;
}

/* Keep the settings of adapters that were listed before, by name. */
static void carry_settings(ipm_adapter *a, const ipm_monitor *m)
{
    a->settings = m->adapter_defaults;
    for (int i = 0; i < m->adapter_count; i++)
        if (strcmp(m->adapters[i].name, a->name) == 0)
            a->settings = m->adapters[i].settings;
}

/* Swap the metadata (read-only properties) of two records, keeping each
 * one's settings where it is. */
static void swap_metadata(ipm_adapter *a, ipm_adapter *b)
{
    ipm_adapter t = *a;
    ipm_adapter_settings keep_a = a->settings, keep_b = b->settings;
    *a = *b;
    *b = t;
    a->settings = keep_a;
    b->settings = keep_b;
}

/* While active, indexes are what the events carry and must not move: the
 * adapters already listed keep their index (their metadata refreshed when
 * listed again, left as it was when not: a gone adapter keeps its slot),
 * new ones are appended. `fresh` is consumed. */
static int merge_while_active(ipm_monitor *m, ipm_adapter *fresh, int n)
{
    int added = 0;
    for (int i = 0; i < n; i++)
        added += find_adapter(m, fresh[i].name) < 0;
    ipm_adapter *grown = realloc(m->adapters, (size_t)(m->adapter_count + added + 1) * sizeof *grown);
    if (!grown) {
        ipm_adapters_free(fresh, n);
        return ipm_fail(m, IPM_E_NO_MEMORY, "out of memory while listing adapters");
    }
    m->adapters = grown;
    for (int i = 0; i < n; i++) {
        int at = find_adapter(m, fresh[i].name);
        if (at >= 0) {
            swap_metadata(&m->adapters[at], &fresh[i]);
        } else {
            m->adapters[m->adapter_count++] = fresh[i];
            memset(&fresh[i], 0, sizeof fresh[i]); /* moved: nothing to free */
        }
    }
    ipm_adapters_free(fresh, n);
    /* A source opened on a name not listed then has a slot now. */
    for (int i = 0; i < m->source_count; i++) {
        ipm_source *s = m->sources[i];
        if (s->event.adapter_index < 0 && !(s->caps & IPM_SOURCE_ENDS)) {
            int index = find_adapter(m, s->name);
            s->event.adapter_index = index >= 0 ? index : -1;
        }
    }
    return IPM_OK;
}

/* A record made from what the OS says of one link, where libpcap has not
 * listed it (an adapter that appeared while a monitor follows the host):
 * no addresses yet (they come after the link; list_adapters reads them). */
static int adapter_fill_from_link(ipm_adapter *a, const ipm_os_link *link)
{
    char mac[32], description[256];
    a->name = ipm_strdup(link->name);
    a->is_up = link->up;
    a->is_running = link->running;
    a->is_loopback = link->loopback;
    a->is_wireless = 0;
    a->id = link->ifindex;
    a->mtu = link->mtu;
    a->interface_type = ipm_os_iana_iftype(link->hw_type);
    format_mac(link, mac, sizeof mac);
    ipm_os_describe(link, a->is_loopback, 0, description, sizeof description);
    a->description = ipm_strdup(description);
    a->friendly_name = ipm_strdup(link->alias[0] ? link->alias : link->name);
    a->mac_address = ipm_strdup(mac);
    a->ipv4_addresses = ipm_strdup("");
    a->ipv6_addresses = ipm_strdup("");
    a->wi_fi_monitor_mode_supported = 0;
    if (!a->name || !a->description || !a->friendly_name || !a->mac_address ||
        !a->ipv4_addresses || !a->ipv6_addresses)
        return -1;
    return 0;
}

int ipm_adapter_slot_for_link(ipm_monitor *m, const ipm_os_link *link)
{
    ipm_adapter fresh;
    memset(&fresh, 0, sizeof fresh);
    if (adapter_fill_from_link(&fresh, link) != 0) {
        adapter_free(&fresh);
        return IPM_E_NO_MEMORY;
    }
    int at = find_adapter(m, link->name);
    if (at >= 0) { /* back: the same slot, what the OS says now */
        swap_metadata(&m->adapters[at], &fresh);
        adapter_free(&fresh);
        return at;
    }
    ipm_adapter *grown = realloc(m->adapters, (size_t)(m->adapter_count + 1) * sizeof *grown);
    if (!grown) {
        adapter_free(&fresh);
        return IPM_E_NO_MEMORY;
    }
    m->adapters = grown;
    fresh.settings = m->adapter_defaults;
    m->adapters[m->adapter_count] = fresh;
    return m->adapter_count++;
}

int ipm_list_adapters(ipm_monitor *m)
{
    char err[PCAP_ERRBUF_SIZE];
    pcap_if_t *devs = NULL;
    ipm_os_link *links = NULL;
    int nlinks = 0, n = 0, cap = 0;
    ipm_adapter *list = NULL;

    int rc = ipm_enter(m, IPM_CALL_list_adapters, NULL);
    if (rc != IPM_OK)
        return rc;
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
    if (ipm_state_of(m) != IPM_STATE_IDLE)
        return merge_while_active(m, list, n);
    ipm_adapters_free(m->adapters, m->adapter_count);
    m->adapters = list;
    m->adapter_count = n;
    /* Active sources keep running; re-point their events at the new list. */
    for (int i = 0; i < m->source_count; i++) {
        int index = find_adapter(m, m->sources[i]->name);
        m->sources[i]->event.adapter_index = index >= 0 ? index : -1;
    }
    return IPM_OK;
oom:
    pcap_freealldevs(devs);
    free(links);
    ipm_adapters_free(list, n);
    return ipm_fail(m, IPM_E_NO_MEMORY, "out of memory while listing adapters");
}

int ipm_find_adapter(const ipm_monitor *m, const char *name)
{
    int rc = ipm_enter(m, IPM_CALL_find_adapter, NULL);
    if (rc != IPM_OK)
        return rc;
    if (!name)
        return ipm_fail(m, IPM_E_INVALID_ARGUMENT, "find_adapter needs a name, not NULL");
    return find_adapter(m, name);
}

/* list_link_types and list_time_stamp_types: one body, the lister differs. */
static int list_types(ipm_monitor *m, ipm_call call, const char *what, const char *adapter, int *out,
                      int max, int (*lister)(const char *, int *, int, char *))
{
    int rc = ipm_enter(m, call, NULL);
    if (rc != IPM_OK)
        return rc;
    if (!adapter || (!out && max > 0) || max < 0)
        return ipm_fail(m, IPM_E_INVALID_ARGUMENT, "%s needs an adapter name and room for max >= 0 values",
                        what);
    char err[PCAP_ERRBUF_SIZE] = "";
    int n = lister(adapter, out, max, err);
    if (n < 0)
        return ipm_fail(m, n, "cannot list the %s of \"%s\": %s", what, adapter, err);
    ipm_clear_error(m);
    return n;
}

int ipm_list_link_types(ipm_monitor *m, const char *adapter, int *link_types, int max)
{
    return list_types(m, IPM_CALL_list_link_types, "link types", adapter, link_types, max,
                      ipm_live_link_types);
}

int ipm_list_time_stamp_types(ipm_monitor *m, const char *adapter, int *types, int max)
{
    return list_types(m, IPM_CALL_list_time_stamp_types, "time stamp types", adapter, types, max,
                      ipm_live_time_stamp_types);
}

int ipm_adapter_index(const ipm_monitor *m, const char *name)
{
    return find_adapter(m, name);
}

int ipm_get_adapter_count(const ipm_monitor *m)
{
    int rc = ipm_enter(m, IPM_CALL_get_adapter_count, NULL);
    return rc != IPM_OK ? rc : m->adapter_count;
}

/* ---- the adapter_* properties ------------------------------------------ */

const ipm_adapter *ipm_adapter_at(const ipm_monitor *m, int index)
{
    if (index < 0 || index >= m->adapter_count) {
        ipm_fail(m, IPM_E_INDEX_OUT_OF_RANGE,
                 "adapter index %d is out of range: there are %d adapters (0..%d); call "
                 "list_adapters first",
                 index, m->adapter_count, m->adapter_count - 1);
        return NULL;
    }
    return &m->adapters[index];
}

/* The checks every adapter setter shares, after its guard: index and value
 * range; then the value is stored. A setting that may change while active
 * also goes to the running source of that adapter. */
static int set_setting(ipm_monitor *m, int index, ipm_call call, const char *property,
                       size_t offset, int value, int min, int max)
{
    int rc = ipm_enter(m, call, property);
    if (rc != IPM_OK)
        return rc;
    if (index != IPM_ADAPTER_DEFAULTS && !ipm_adapter_at(m, index))
        return IPM_E_INDEX_OUT_OF_RANGE;
    if (value < min || value > max)
        return ipm_fail(m, IPM_E_INVALID_ARGUMENT, "%s must be between %d and %d, not %d",
                        property, min, max, value);
    if (index == IPM_ADAPTER_DEFAULTS) { /* for adapters listed or appearing from now on */
        *(int *)((char *)&m->adapter_defaults + offset) = value;
        return IPM_OK;
    }
    *(int *)((char *)&m->adapters[index].settings + offset) = value;
    for (int s = 0; call == IPM_CALL_set_adapter_property_any && s < m->source_count; s++)
        if (m->sources[s]->event.adapter_index == index)
            *(int *)((char *)&m->sources[s]->settings + offset) = value;
    return IPM_OK;
}

/* The getters and setters, generated from IPM_ADAPTER_PROPERTIES. A getter
 * answers a negative code (NULL for strings) when the index is bad. */
#define PLACE_RO(name) name
#define PLACE_IDLE(name) settings.name
#define PLACE_ANY(name) settings.name
/* IPM_ADAPTER_DEFAULTS: the defaults of the settings; metadata has none. */
#define DEFAULTS_RO(name, type)                                                            \
    (ipm_fail(m, IPM_E_INDEX_OUT_OF_RANGE,                                                 \
              "adapter_" #name " is an adapter's own: IPM_ADAPTER_DEFAULTS has only the settings"), \
     FAILED_##type(IPM_E_INDEX_OUT_OF_RANGE))
#define DEFAULTS_IDLE(name, type) m->adapter_defaults.name
#define DEFAULTS_ANY(name, type) m->adapter_defaults.name
#define FAILED_INT(code) (code)
#define FAILED_BOOL(code) (code)
#define FAILED_STRING(code) NULL
#define VALUE_INT(v) (v)
#define VALUE_BOOL(v) (!!(v))
#define SETTER_RO(name, type, min, max)
#define SETTER_IDLE(name, type, min, max) SETTER(name, type, min, max, set_adapter_property_idle)
#define SETTER_ANY(name, type, min, max) SETTER(name, type, min, max, set_adapter_property_any)
#define SETTER(name, type, min, max, call)                                                 \
    int ipm_set_adapter_##name(ipm_monitor *m, int i, int value)                           \
    {                                                                                      \
        return set_setting(m, i, IPM_CALL_##call, "adapter_" #name,                        \
                           offsetof(ipm_adapter_settings, name), VALUE_##type(value), min, \
                           max);                                                           \
    }
#define PROPERTY(name, type, access, min, max, def)                                        \
    IPM_ADAPTER_CTYPE_##type ipm_get_adapter_##name(const ipm_monitor *m, int i)           \
    {                                                                                      \
        int rc_ = ipm_enter(m, IPM_CALL_get_adapter_property, NULL);                       \
        if (rc_ == IPM_OK && i == IPM_ADAPTER_DEFAULTS)                                    \
            return DEFAULTS_##access(name, type);                                          \
        const ipm_adapter *a = rc_ == IPM_OK ? ipm_adapter_at(m, i) : NULL;                \
        return a ? a->PLACE_##access(name)                                                 \
                 : FAILED_##type(rc_ == IPM_OK ? IPM_E_INDEX_OUT_OF_RANGE : rc_);          \
    }                                                                                      \
    SETTER_##access(name, type, min, max)

IPM_ADAPTER_PROPERTIES(PROPERTY)
