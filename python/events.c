/*
 * events.c - library events to Python hooks: the three event-params types
 * and the C callbacks registered with libipmonitor.
 *
 * The packet path is the hot one. do_events releases the GIL around
 * ipm_do_events so other threads run while it waits; the first event of a
 * batch takes the GIL back and keeps it until ipm_do_events returns, so the
 * rest of the batch pays nothing for the GIL.
 * Other threads still get their turn: the handlers are Python code, and the
 * interpreter hands the GIL over between bytecodes as usual.
 *
 * One IPMonitorPacketEventParams object is reused from packet to packet
 * while no handler keeps a reference to it. Its `data` bytes and
 * `time_stamp` datetime are built only when read, and so are the decoded
 * fields (`proto`, `src`, `dport`, ...): the first of them read runs the
 * library's ipm_decode() over the packet bytes once and keeps the result
 * for the others. A handler that keeps the object gets it detached: the
 * packet bytes are copied before the library's buffer goes away (the
 * decoded fields are then read from the copy), and the next packet gets a
 * new object.
 */
#include "ipm_py.h"

#include <datetime.h>
#include <structmember.h>
#include <time.h>

/* ------------------------------------------------------------------ */
/* Time stamps                                                         */
/* ------------------------------------------------------------------ */

/* localtime_r per packet would be costly; packets come in runs of the same
 * second, so keep the last second's broken-down time. Used under the GIL. */
static time_t tm_cache_sec = (time_t)-1;
static struct tm tm_cache;

/* A naive local datetime (as datetime.fromtimestamp gives), microseconds. */
static PyObject *make_datetime(const struct timespec *ts)
{
    if (ts->tv_sec != tm_cache_sec) {
        time_t sec = ts->tv_sec;
        if (!localtime_r(&sec, &tm_cache)) {
            tm_cache_sec = (time_t)-1;
            return PyErr_Format(PyExc_OverflowError, "time stamp %lld out of range",
                                (long long)sec);
        }
        tm_cache_sec = sec;
    }
    int second = tm_cache.tm_sec > 59 ? 59 : tm_cache.tm_sec; /* leap second */
    return PyDateTime_FromDateAndTime(tm_cache.tm_year + 1900, tm_cache.tm_mon + 1,
                                      tm_cache.tm_mday, tm_cache.tm_hour, tm_cache.tm_min,
                                      second, (int)(ts->tv_nsec / 1000));
}

/* The time as an aware datetime in UTC (microseconds), for programs that
 * must not depend on the local time zone. */
static PyObject *make_datetime_utc(const struct timespec *ts)
{
    struct tm tm;
    time_t sec = ts->tv_sec;
    if (!gmtime_r(&sec, &tm))
        return PyErr_Format(PyExc_OverflowError, "time stamp %lld out of range", (long long)sec);
    int second = tm.tm_sec > 59 ? 59 : tm.tm_sec;
    return PyDateTimeAPI->DateTime_FromDateAndTime(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                                                   tm.tm_hour, tm.tm_min, second,
                                                   (int)(ts->tv_nsec / 1000),
                                                   PyDateTime_TimeZone_UTC, PyDateTimeAPI->DateTimeType);
}

/* to_dict() of every event-params type: each attribute (its getsets and
 * members, in their table order) by name, so what the object shows and
 * what the dict holds can never differ. */
static PyObject *params_to_dict(PyObject *self, PyObject *unused)
{
    (void)unused;
    PyTypeObject *t = Py_TYPE(self);
    PyObject *d = PyDict_New();
    if (!d)
        return NULL;
    for (PyGetSetDef *g = t->tp_getset; g && g->name; g++) {
        PyObject *v = PyObject_GetAttrString(self, g->name);
        if (!v || PyDict_SetItemString(d, g->name, v) < 0) {
            Py_XDECREF(v);
            Py_DECREF(d);
            return NULL;
        }
        Py_DECREF(v);
    }
    for (PyMemberDef *mb = t->tp_members; mb && mb->name; mb++) {
        PyObject *v = PyObject_GetAttrString(self, mb->name);
        if (!v || PyDict_SetItemString(d, mb->name, v) < 0) {
            Py_XDECREF(v);
            Py_DECREF(d);
            return NULL;
        }
        Py_DECREF(v);
    }
    return d;
}

static PyMethodDef params_methods[] = {
    {"to_dict", params_to_dict, METH_NOARGS,
     "to_dict() -> dict: every attribute of the event by name (for JSON, logging, pandas)."},
    {NULL, NULL, 0, NULL}};

static PyObject *make_ns(const struct timespec *ts)
{
    return PyLong_FromLongLong((long long)ts->tv_sec * 1000000000LL + ts->tv_nsec);
}

static PyObject *decode(const char *s)
{
    if (!s)
        Py_RETURN_NONE;
    return PyUnicode_DecodeUTF8(s, (Py_ssize_t)strlen(s), "replace");
}

/* ------------------------------------------------------------------ */
/* IPMonitorPacketEventParams                                          */
/* ------------------------------------------------------------------ */

struct PacketParams {
    PyObject_HEAD
    struct timespec ts;
    uint32_t packet_size, data_size;
    int direction, adapter_index, link_type;
    const uint8_t *raw;   /* the library's buffer, only during the callback */
    PyObject *data;       /* bytes, built on first read or at detach */
    PyObject *adapter;    /* str or None */
    PyObject *time_stamp; /* datetime, built on first read */
    int decoded;          /* dec holds ipm_decode() of this packet */
    ipm_decoded dec;
};

static void packet_dealloc(PacketParams *p)
{
    Py_XDECREF(p->data);
    Py_XDECREF(p->adapter);
    Py_XDECREF(p->time_stamp);
    PyObject_Free(p);
}

static PyObject *packet_get_time_stamp(PacketParams *p, void *c)
{
    (void)c;
    if (!p->time_stamp && !(p->time_stamp = make_datetime(&p->ts)))
        return NULL;
    Py_INCREF(p->time_stamp);
    return p->time_stamp;
}

static PyObject *packet_get_time_stamp_utc(PacketParams *p, void *c)
{
    (void)c;
    return make_datetime_utc(&p->ts);
}

static PyObject *packet_get_data(PacketParams *p, void *c)
{
    (void)c;
    if (!p->data) {
        p->data = PyBytes_FromStringAndSize(p->raw ? (const char *)p->raw : "",
                                            p->raw ? (Py_ssize_t)p->data_size : 0);
        if (!p->data)
            return NULL;
    }
    Py_INCREF(p->data);
    return p->data;
}

#define PACKET_INT_GETTER(field, conv)                              \
    static PyObject *packet_get_##field(PacketParams *p, void *c)  \
    {                                                               \
        (void)c;                                                    \
        return conv(p->field);                                      \
    }
PACKET_INT_GETTER(packet_size, PyLong_FromUnsignedLong)
PACKET_INT_GETTER(data_size, PyLong_FromUnsignedLong)
PACKET_INT_GETTER(direction, PyLong_FromLong)
PACKET_INT_GETTER(adapter_index, PyLong_FromLong)
PACKET_INT_GETTER(link_type, PyLong_FromLong)

static PyObject *packet_get_time_stamp_ns(PacketParams *p, void *c)
{
    (void)c;
    return make_ns(&p->ts);
}

static PyObject *packet_get_adapter(PacketParams *p, void *c)
{
    (void)c;
    PyObject *a = p->adapter ? p->adapter : Py_None;
    Py_INCREF(a);
    return a;
}

/* ---- decoded fields, computed on first read ---- */

/* ipaddress.IPv4Address and IPv6Address, imported at module init. */
static PyObject *ipv4_address_type, *ipv6_address_type;

/* The packet's bytes: the library's buffer during the callback, the copy
 * in `data` after it. */
static const uint8_t *packet_bytes(PacketParams *p)
{
    if (p->raw)
        return p->raw;
    return p->data ? (const uint8_t *)PyBytes_AS_STRING(p->data) : NULL;
}

int ipm_py_packet_event(PyObject *obj, ipm_packet_event *out)
{
    if (!PyObject_TypeCheck(obj, &PacketParamsType)) {
        PyErr_Format(PyExc_TypeError, "expected an IPMonitorPacketEventParams, not %.100s",
                     Py_TYPE(obj)->tp_name);
        return -1;
    }
    PacketParams *p = (PacketParams *)obj;
    out->time_stamp = p->ts;
    out->packet_size = p->packet_size;
    out->data = packet_bytes(p);
    out->data_size = out->data ? p->data_size : 0;
    out->direction = p->direction;
    out->adapter_index = p->adapter_index;
    out->adapter = p->adapter && p->adapter != Py_None ? PyUnicode_AsUTF8(p->adapter) : "";
    out->link_type = p->link_type;
    return out->adapter ? 0 : -1;
}

static const ipm_decoded *packet_decoded(PacketParams *p)
{
    if (!p->decoded) {
        const uint8_t *b = packet_bytes(p);
        ipm_decode(p->link_type, b, b ? p->data_size : 0, &p->dec);
        p->decoded = 1;
    }
    return &p->dec;
}

/* An int field of the decoded packet, None where the library says -1. */
static PyObject *int_or_none(long long v)
{
    if (v < 0)
        Py_RETURN_NONE;
    return PyLong_FromLongLong(v);
}

#define DECODED_INT_GETTER(name, expr)                             \
    static PyObject *packet_get_##name(PacketParams *p, void *c)   \
    {                                                              \
        (void)c;                                                   \
        const ipm_decoded *d = packet_decoded(p);                  \
        return int_or_none(expr);                                  \
    }
DECODED_INT_GETTER(sport, d->sport)
DECODED_INT_GETTER(dport, d->dport)
DECODED_INT_GETTER(tcp_flags, d->tcp_flags)
DECODED_INT_GETTER(payload_len, d->payload_len)
DECODED_INT_GETTER(payload_offset, d->payload_offset)
DECODED_INT_GETTER(vlan, d->vlan_count > 0 ? d->vlan[0] : -1)
DECODED_INT_GETTER(ethertype, d->ethertype)
DECODED_INT_GETTER(ip_proto, d->ip_protocol)
DECODED_INT_GETTER(icmp_type, d->icmp_type)
DECODED_INT_GETTER(icmp_code, d->icmp_code)
DECODED_INT_GETTER(fragment_offset, d->fragment_offset)
DECODED_INT_GETTER(ip_version, d->network == IPM_NET_IPV4   ? 4
                               : d->network == IPM_NET_IPV6 ? 6
                                                            : -1)

/* The transport payload (or what follows the last header decoded) as a
 * memoryview into data, no copy; None when there is none. Only the bytes
 * captured: shorter than payload_len when the snapshot cut the packet. */
static PyObject *packet_get_payload(PacketParams *p, void *c)
{
    (void)c;
    const ipm_decoded *d = packet_decoded(p);
    if (d->payload_offset < 0)
        Py_RETURN_NONE;
    PyObject *data = packet_get_data(p, NULL);
    if (!data)
        return NULL;
    Py_ssize_t size = PyBytes_GET_SIZE(data), from = d->payload_offset;
    Py_ssize_t to = from + (d->payload_len > 0 ? d->payload_len : 0);
    if (from > size)
        from = size;
    if (to > size)
        to = size;
    PyObject *view = PyMemoryView_FromObject(data);
    Py_DECREF(data);
    if (!view)
        return NULL;
    PyObject *slice = PySequence_GetSlice(view, from, to);
    Py_DECREF(view);
    return slice;
}

static PyObject *packet_get_proto(PacketParams *p, void *c)
{
    (void)c;
    char buf[IPM_DECODE_NAME_LEN];
    return PyUnicode_FromString(ipm_decoded_protocol_name(packet_decoded(p), buf));
}

static PyObject *packet_get_vlans(PacketParams *p, void *c)
{
    (void)c;
    const ipm_decoded *d = packet_decoded(p);
    PyObject *t = PyTuple_New(d->vlan_count);
    for (int i = 0; t && i < d->vlan_count; i++) {
        PyObject *v = PyLong_FromLong(d->vlan[i]);
        if (!v) {
            Py_CLEAR(t);
            break;
        }
        PyTuple_SET_ITEM(t, i, v);
    }
    return t;
}

static PyObject *packet_get_truncated(PacketParams *p, void *c)
{
    (void)c;
    return PyBool_FromLong((packet_decoded(p)->flags & IPM_DECODED_TRUNCATED) != 0);
}

static PyObject *address(const ipm_decoded *d, const uint8_t *bytes)
{
    if (d->addr_family == IPM_FAMILY_IPV4)
        return PyObject_CallFunction(ipv4_address_type, "y#", (const char *)bytes, (Py_ssize_t)4);
    if (d->addr_family == IPM_FAMILY_IPV6)
        return PyObject_CallFunction(ipv6_address_type, "y#", (const char *)bytes, (Py_ssize_t)16);
    Py_RETURN_NONE;
}

static PyObject *packet_get_src(PacketParams *p, void *c)
{
    (void)c;
    const ipm_decoded *d = packet_decoded(p);
    return address(d, d->src);
}

static PyObject *packet_get_dst(PacketParams *p, void *c)
{
    (void)c;
    const ipm_decoded *d = packet_decoded(p);
    return address(d, d->dst);
}

static PyObject *mac_text(const ipm_decoded *d, unsigned flag, const uint8_t *m)
{
    if (!(d->flags & flag))
        Py_RETURN_NONE;
    return PyUnicode_FromFormat("%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4],
                                m[5]);
}

static PyObject *packet_get_mac_src(PacketParams *p, void *c)
{
    (void)c;
    const ipm_decoded *d = packet_decoded(p);
    return mac_text(d, IPM_DECODED_MAC_SRC, d->mac_src);
}

static PyObject *packet_get_mac_dst(PacketParams *p, void *c)
{
    (void)c;
    const ipm_decoded *d = packet_decoded(p);
    return mac_text(d, IPM_DECODED_MAC_DST, d->mac_dst);
}

static PyObject *packet_repr(PacketParams *p)
{
    return PyUnicode_FromFormat("<IPMonitorPacketEventParams packet_size=%lu data_size=%lu "
                                "direction=%d adapter=%R>",
                                (unsigned long)p->packet_size, (unsigned long)p->data_size,
                                p->direction, p->adapter ? p->adapter : Py_None);
}

static PyGetSetDef packet_getset[] = {
    {"time_stamp", (getter)packet_get_time_stamp, NULL,
     "When the adapter received the packet: naive local datetime, microseconds.", NULL},
    {"time_stamp_ns", (getter)packet_get_time_stamp_ns, NULL,
     "The same time stamp as nanoseconds since the epoch (UTC), full precision.", NULL},
    {"time_stamp_utc", (getter)packet_get_time_stamp_utc, NULL,
     "The same time stamp as an aware datetime in UTC, microseconds.", NULL},
    {"packet_size", (getter)packet_get_packet_size, NULL, "Length of the packet on the wire.", NULL},
    {"data", (getter)packet_get_data, NULL,
     "The captured bytes (bytes; ctypes.string_at(e.data, e.data_size) accepts it).", NULL},
    {"data_size", (getter)packet_get_data_size, NULL, "Number of captured bytes in data.", NULL},
    {"direction", (getter)packet_get_direction, NULL,
     "PACKET_DIRECTION_INCOMING (1), _OUTGOING (2) or _UNKNOWN (-1).", NULL},
    {"adapter_index", (getter)packet_get_adapter_index, NULL,
     "Index of the adapter in the adapter list, -1 if not listed (e.g. a file).", NULL},
    {"adapter", (getter)packet_get_adapter, NULL, "Adapter name or capture file path.", NULL},
    {"link_type", (getter)packet_get_link_type, NULL, "libpcap DLT_* link type of data.", NULL},
    /* Decoded by the library's ipm_decode() on first read; the names and
     * values are those of `ipmon capture --json`, None where it has null. */
    {"proto", (getter)packet_get_proto, NULL,
     "Innermost protocol decoded, as ipmon names it: 'TCP', 'UDP', 'ICMPv6', 'ARP', ...", NULL},
    {"ip_version", (getter)packet_get_ip_version, NULL, "4 or 6 for IP packets, else None.", NULL},
    {"src", (getter)packet_get_src, NULL,
     "Source address (ipaddress.IPv4Address/IPv6Address; ARP's sender), or None.", NULL},
    {"dst", (getter)packet_get_dst, NULL, "Destination address, as src.", NULL},
    {"sport", (getter)packet_get_sport, NULL, "TCP/UDP/SCTP source port, or None.", NULL},
    {"dport", (getter)packet_get_dport, NULL, "TCP/UDP/SCTP destination port, or None.", NULL},
    {"tcp_flags", (getter)packet_get_tcp_flags, NULL,
     "The TCP flags byte (FIN 0x01 ... CWR 0x80), or None.", NULL},
    {"payload_len", (getter)packet_get_payload_len, NULL,
     "Bytes after the last header decoded, as the headers say, or None.", NULL},
    {"payload_offset", (getter)packet_get_payload_offset, NULL,
     "Where that payload starts in data, or None.", NULL},
    {"vlan", (getter)packet_get_vlan, NULL, "Outermost VLAN id, or None.", NULL},
    {"vlans", (getter)packet_get_vlans, NULL, "All VLAN ids read, outermost first (tuple).", NULL},
    {"mac_src", (getter)packet_get_mac_src, NULL, "Link-layer source 'xx:xx:...', or None.", NULL},
    {"mac_dst", (getter)packet_get_mac_dst, NULL, "Link-layer destination, or None.", NULL},
    {"ethertype", (getter)packet_get_ethertype, NULL, "EtherType of the network layer, or None.",
     NULL},
    {"ip_proto", (getter)packet_get_ip_proto, NULL, "IP protocol number, or None.", NULL},
    {"icmp_type", (getter)packet_get_icmp_type, NULL, "ICMP/ICMPv6 type, or None.", NULL},
    {"icmp_code", (getter)packet_get_icmp_code, NULL, "ICMP/ICMPv6 code, or None.", NULL},
    {"fragment_offset", (getter)packet_get_fragment_offset, NULL,
     "IP fragment offset in bytes (0: first of several), None if not a fragment.", NULL},
    {"truncated", (getter)packet_get_truncated, NULL,
     "True when the capture ended inside a header (or one is malformed).", NULL},
    {"payload", (getter)packet_get_payload, NULL,
     "The bytes after the last header decoded (memoryview into data, captured part), "
     "or None.", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

PyTypeObject PacketParamsType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "ipmonitor.IPMonitorPacketEventParams",
    .tp_basicsize = sizeof(PacketParams),
    .tp_dealloc = (destructor)packet_dealloc,
    .tp_repr = (reprfunc)packet_repr,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Parameters of the on_packet event.",
    .tp_getset = packet_getset,
    .tp_methods = params_methods,
};

/* ------------------------------------------------------------------ */
/* IPMonitorStatisticsEventParams                                      */
/* ------------------------------------------------------------------ */

typedef struct {
    PyObject_HEAD
    PyObject *time_stamp, *time_stamp_ns, *time_stamp_utc, *adapter;
    long long captured_packets, captured_bytes, dropped, adapter_dropped;
    int adapter_index;
    char detail;
    long long incoming_packets, incoming_bytes, outgoing_packets, outgoing_bytes;
    PyObject *protocol_packets, *protocol_bytes, *family_packets, *family_bytes;
} StatisticsParams;

static void stats_dealloc(StatisticsParams *s)
{
    Py_XDECREF(s->time_stamp);
    Py_XDECREF(s->time_stamp_ns);
    Py_XDECREF(s->time_stamp_utc);
    Py_XDECREF(s->adapter);
    Py_XDECREF(s->protocol_packets);
    Py_XDECREF(s->protocol_bytes);
    Py_XDECREF(s->family_packets);
    Py_XDECREF(s->family_bytes);
    PyObject_Free(s);
}

#define SMEM(name, type, doc) {#name, type, offsetof(StatisticsParams, name), READONLY, doc}
static PyMemberDef stats_members[] = {
    SMEM(time_stamp, T_OBJECT, "When the statistics were collected (naive local datetime)."),
    SMEM(time_stamp_ns, T_OBJECT, "The same as nanoseconds since the epoch."),
    SMEM(time_stamp_utc, T_OBJECT, "The same as an aware datetime in UTC."),
    SMEM(captured_packets, T_LONGLONG, "Packets captured since the previous event of this adapter."),
    SMEM(captured_bytes, T_LONGLONG, "Sum of their packet sizes."),
    SMEM(adapter_index, T_INT, "Index of the adapter, -1 if not listed."),
    SMEM(adapter, T_OBJECT, "Adapter name or capture file path."),
    SMEM(dropped, T_LONGLONG, "Kernel drops in this interval."),
    SMEM(adapter_dropped, T_LONGLONG, "Interface drops in this interval."),
    SMEM(detail, T_BOOL, "Whether the detail fields are filled (config StatisticsDetail=True)."),
    SMEM(incoming_packets, T_LONGLONG, "Detail: incoming packets."),
    SMEM(incoming_bytes, T_LONGLONG, "Detail: incoming bytes."),
    SMEM(outgoing_packets, T_LONGLONG, "Detail: outgoing packets."),
    SMEM(outgoing_bytes, T_LONGLONG, "Detail: outgoing bytes."),
    SMEM(protocol_packets, T_OBJECT, "Detail: dict tcp/udp/icmp/other -> packets."),
    SMEM(protocol_bytes, T_OBJECT, "Detail: dict tcp/udp/icmp/other -> bytes."),
    SMEM(family_packets, T_OBJECT, "Detail: dict ipv4/ipv6/other -> packets."),
    SMEM(family_bytes, T_OBJECT, "Detail: dict ipv4/ipv6/other -> bytes."),
    {NULL, 0, 0, 0, NULL}};

static PyObject *stats_repr(StatisticsParams *s)
{
    return PyUnicode_FromFormat("<IPMonitorStatisticsEventParams captured_packets=%lld "
                                "captured_bytes=%lld adapter=%R>",
                                s->captured_packets, s->captured_bytes,
                                s->adapter ? s->adapter : Py_None);
}

PyTypeObject StatisticsParamsType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "ipmonitor.IPMonitorStatisticsEventParams",
    .tp_basicsize = sizeof(StatisticsParams),
    .tp_dealloc = (destructor)stats_dealloc,
    .tp_repr = (reprfunc)stats_repr,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Parameters of the on_statistics event.",
    .tp_members = stats_members,
    .tp_methods = params_methods,
};

static const char *const protocol_names[IPM_PROTO_COUNT] = {"tcp", "udp", "icmp", "other"};
static const char *const family_names[IPM_FAMILY_COUNT] = {"ipv4", "ipv6", "other"};

static PyObject *count_dict(const char *const *names, const int64_t *values, int n)
{
    PyObject *d = PyDict_New();
    for (int i = 0; d && i < n; i++) {
        PyObject *v = PyLong_FromLongLong(values[i]);
        if (!v || PyDict_SetItemString(d, names[i], v) < 0)
            Py_CLEAR(d);
        Py_XDECREF(v);
    }
    return d;
}

static PyObject *make_stats_params(MonitorObject *self, const ipm_statistics_event *ev)
{
    (void)self;
    StatisticsParams *s = PyObject_New(StatisticsParams, &StatisticsParamsType);
    if (!s)
        return NULL;
    s->captured_packets = ev->captured_packets;
    s->captured_bytes = ev->captured_bytes;
    s->dropped = ev->dropped;
    s->adapter_dropped = ev->adapter_dropped;
    s->adapter_index = ev->adapter_index;
    s->detail = ev->detail ? 1 : 0;
    s->incoming_packets = ev->incoming_packets;
    s->incoming_bytes = ev->incoming_bytes;
    s->outgoing_packets = ev->outgoing_packets;
    s->outgoing_bytes = ev->outgoing_bytes;
    s->time_stamp = make_datetime(&ev->time_stamp);
    s->time_stamp_ns = make_ns(&ev->time_stamp);
    s->time_stamp_utc = make_datetime_utc(&ev->time_stamp);
    s->adapter = decode(ev->adapter);
    s->protocol_packets = count_dict(protocol_names, ev->protocol_packets, IPM_PROTO_COUNT);
    s->protocol_bytes = count_dict(protocol_names, ev->protocol_bytes, IPM_PROTO_COUNT);
    s->family_packets = count_dict(family_names, ev->family_packets, IPM_FAMILY_COUNT);
    s->family_bytes = count_dict(family_names, ev->family_bytes, IPM_FAMILY_COUNT);
    if (!s->time_stamp || !s->time_stamp_ns || !s->time_stamp_utc || !s->adapter || !s->protocol_packets
        || !s->protocol_bytes || !s->family_packets || !s->family_bytes) {
        Py_DECREF(s);
        return NULL;
    }
    return (PyObject *)s;
}

/* ------------------------------------------------------------------ */
/* IPMonitorErrorEventParams                                           */
/* ------------------------------------------------------------------ */

typedef struct {
    PyObject_HEAD
    int error_code, handler_result, adapter_index;
    PyObject *description, *adapter, *exception;
} ErrorParams;

static int error_traverse(ErrorParams *e, visitproc visit, void *arg)
{
    Py_VISIT(e->exception);
    return 0;
}

static int error_clear(ErrorParams *e)
{
    Py_CLEAR(e->exception);
    return 0;
}

static void error_dealloc(ErrorParams *e)
{
    PyObject_GC_UnTrack(e);
    error_clear(e);
    Py_XDECREF(e->description);
    Py_XDECREF(e->adapter);
    PyObject_GC_Del(e);
}

#define EMEM(name, type, doc) {#name, type, offsetof(ErrorParams, name), READONLY, doc}
static PyMemberDef error_members[] = {
    EMEM(error_code, T_INT, "The library's IPM_E_* code (IPM_E_HANDLER for a failed handler)."),
    EMEM(description, T_OBJECT, "What went wrong."),
    EMEM(handler_result, T_INT, "The non-zero value a handler returned, else 0."),
    EMEM(adapter_index, T_INT, "Index of the adapter concerned, -1 if none."),
    EMEM(adapter, T_OBJECT, "Name of the adapter concerned, or None."),
    EMEM(exception, T_OBJECT, "The exception a Python handler raised, or None."),
    {NULL, 0, 0, 0, NULL}};

static PyObject *error_repr(ErrorParams *e)
{
    return PyUnicode_FromFormat("<IPMonitorErrorEventParams error_code=%d description=%R>",
                                e->error_code, e->description ? e->description : Py_None);
}

PyTypeObject ErrorParamsType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "ipmonitor.IPMonitorErrorEventParams",
    .tp_basicsize = sizeof(ErrorParams),
    .tp_dealloc = (destructor)error_dealloc,
    .tp_repr = (reprfunc)error_repr,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "Parameters of the on_error event.",
    .tp_members = error_members,
    .tp_methods = params_methods,
    .tp_traverse = (traverseproc)error_traverse,
    .tp_clear = (inquiry)error_clear,
};

/* ------------------------------------------------------------------ */
/* The GIL inside callbacks                                            */
/* ------------------------------------------------------------------ */

typedef enum { GIL_HELD, GIL_RESTORED, GIL_ENSURED } gil_how;

/* Get the GIL in a library callback. Normally the callback runs in the
 * thread of do_events, which saved its thread state: take it back. Any
 * other case (a callback inside deactivate, or from a library thread) goes
 * through PyGILState. */
static inline gil_how gil_enter(MonitorObject *self, PyGILState_STATE *st)
{
    if (self->saved_ts && self->busy_thread == PyThread_get_thread_ident()) {
        PyEval_RestoreThread(self->saved_ts);
        self->saved_ts = NULL;
        return GIL_RESTORED;
    }
    if (PyGILState_Check())
        return GIL_HELD;
    *st = PyGILState_Ensure();
    return GIL_ENSURED;
}

/* Undo gil_enter. A GIL taken back from do_events' saved state is kept to
 * the end of the batch (ipm_py_after_dispatch). Only the benchmark's own
 * build of the extension (bench/python/, IPM_PY_GIL_PER_EVENT) hands it
 * back after every event, to measure what keeping it saves. */
static inline void gil_leave(MonitorObject *self, gil_how how, PyGILState_STATE st)
{
#ifdef IPM_PY_GIL_PER_EVENT
    if (how == GIL_RESTORED)
        self->saved_ts = PyEval_SaveThread();
#else
    (void)self;
#endif
    if (how == GIL_ENSURED)
        PyGILState_Release(st);
}

void ipm_py_after_dispatch(MonitorObject *self)
{
    if (self->saved_ts) {
        PyEval_RestoreThread(self->saved_ts);
        self->saved_ts = NULL;
    }
}

/* ------------------------------------------------------------------ */
/* Handler failures                                                    */
/* ------------------------------------------------------------------ */

/* The exception now set, normalized, with its traceback attached. */
static PyObject *fetch_exception(void)
{
    PyObject *t, *v, *tb;
    PyErr_Fetch(&t, &v, &tb);
    PyErr_NormalizeException(&t, &v, &tb);
    if (tb && v)
        PyException_SetTraceback(v, tb);
    Py_XDECREF(t);
    Py_XDECREF(tb);
    return v;
}

/* Keep the raised exception to leave do_events with, and end the batch
 * after this packet (ipm_break_events: the packets after it stay for the
 * next do_events, none is skipped). */
static void leave_do_events(MonitorObject *self)
{
    PyObject *v = fetch_exception();
    if (!self->pending_exc)
        self->pending_exc = v;
    else
        Py_XDECREF(v);
    ipm_break_events(self->m);
}

/* With no on_error: one IPMonitorHookWarning per hook and exception type
 * for the monitor's life, so a hook that fails on every packet says so
 * once instead of flooding stderr. A warning turned into an error
 * (-W error) leaves do_events like raise_hook_errors. */
static void warn_once(MonitorObject *self, const char *event)
{
    PyObject *v = fetch_exception();
    if (!v)
        return;
    PyObject *key = Py_BuildValue("(sO)", event, (PyObject *)Py_TYPE(v));
    int seen = key && self->warned ? PySet_Contains(self->warned, key) : 0;
    if (seen == 0 && key && (self->warned || (self->warned = PySet_New(NULL)))) {
        if (PySet_Add(self->warned, key) == 0 &&
            PyErr_WarnFormat(ipm_py_hook_warning, 1,
                             "%s hook raised %s: %S (the capture goes on; this is said once "
                             "per hook and exception type: set on_error to see each, or use "
                             "IPMonitor(raise_hook_errors=True) to stop at the first)",
                             event, Py_TYPE(v)->tp_name, v) < 0)
            leave_do_events(self);
    }
    if (PyErr_Occurred()) /* no memory for the set: nothing better to do */
        PyErr_Clear();
    Py_XDECREF(key);
    Py_DECREF(v);
}

/* A hook raised. KeyboardInterrupt and other non-Exception exceptions, and
 * any exception with raise_hook_errors, end the batch and leave do_events.
 * Otherwise the first Exception of a hook in one do_events call goes to
 * on_error (through the library's IPM_E_HANDLER event) or, with no
 * on_error, to a warning (warn_once); later ones in that call are not
 * reported again. The capture goes on. Returns the handler result for the
 * library (non-zero: fire on_error). */
static int hook_failed(MonitorObject *self, enum ipm_py_hook which, const char *event)
{
    if (self->raise_hook_errors || !PyErr_ExceptionMatches(PyExc_Exception)) {
        leave_do_events(self);
        return 0;
    }
    unsigned bit = 1u << which;
    if (self->reported_this_call & bit) {
        PyErr_Clear();
        return 0;
    }
    self->reported_this_call |= bit;
    if (!self->on_error) {
        warn_once(self, event);
        return 0;
    }
    PyObject *v = fetch_exception();
    PyObject *text = v ? PyUnicode_FromFormat("%s handler raised %s: %S", event,
                                              Py_TYPE(v)->tp_name, v)
                       : NULL;
    if (!text)
        PyErr_Clear();
    Py_XSETREF(self->handler_exc, v);
    Py_XSETREF(self->handler_text, text);
    return 1;
}

/* ------------------------------------------------------------------ */
/* Packet events                                                       */
/* ------------------------------------------------------------------ */

/* The adapter name as a str, cached across packets (borrowed reference). */
static PyObject *adapter_str(MonitorObject *self, const char *name)
{
    if (!name)
        return Py_None;
    if (self->adapter_str && strcmp(self->adapter_cstr, name) == 0)
        return self->adapter_str;
    PyObject *s = decode(name);
    char *copy = s ? PyMem_Malloc(strlen(name) + 1) : NULL;
    if (!copy) {
        Py_XDECREF(s);
        PyErr_Clear();
        return Py_None;
    }
    strcpy(copy, name);
    Py_XSETREF(self->adapter_str, s);
    PyMem_Free(self->adapter_cstr);
    self->adapter_cstr = copy;
    return s;
}

static PacketParams *take_params(MonitorObject *self)
{
    if (!self->spare) {
        PacketParams *p = PyObject_New(PacketParams, &PacketParamsType);
        if (!p)
            return NULL;
        p->data = p->adapter = p->time_stamp = NULL;
        p->raw = NULL;
        p->decoded = 0;
        self->spare = p;
    }
    return self->spare;
}

static void fill_params(MonitorObject *self, PacketParams *p, const ipm_packet_event *ev)
{
    p->ts = ev->time_stamp;
    p->packet_size = ev->packet_size;
    p->data_size = ev->data_size;
    p->direction = ev->direction;
    p->adapter_index = ev->adapter_index;
    p->link_type = ev->link_type;
    p->raw = ev->data;
    p->decoded = 0;
    PyObject *a = adapter_str(self, ev->adapter);
    if (p->adapter != a) {
        Py_INCREF(a);
        Py_XSETREF(p->adapter, a);
    }
}

/* After the hook: keep the object for the next packet, or, if the hook
 * kept a reference, copy the packet bytes into it and let it go. */
static void release_params(MonitorObject *self, PacketParams *p)
{
    if (Py_REFCNT(p) > 1) {
        if (!p->data) {
            p->data = PyBytes_FromStringAndSize(p->raw ? (const char *)p->raw : "",
                                                p->raw ? (Py_ssize_t)p->data_size : 0);
            if (!p->data)
                PyErr_WriteUnraisable((PyObject *)p);
        }
        p->raw = NULL;
        self->spare = NULL;
        Py_DECREF(p);
        return;
    }
    p->raw = NULL;
    Py_CLEAR(p->data);
    Py_CLEAR(p->time_stamp);
}

/* An owned packet object (its own copy of the bytes) appended to
 * self->collect: the iterators' path, with no Python call per packet. */
static int collect_packet(MonitorObject *self, const ipm_packet_event *ev)
{
    PacketParams *p = take_params(self);
    if (!p)
        return -1;
    self->spare = NULL;
    fill_params(self, p, ev);
    p->data = PyBytes_FromStringAndSize(p->raw ? (const char *)p->raw : "", p->raw ? (Py_ssize_t)p->data_size : 0);
    p->raw = NULL;
    int rc = p->data ? PyList_Append(self->collect, (PyObject *)p) : -1;
    Py_DECREF(p);
    return rc;
}

int ipm_py_packet_cb(const ipm_packet_event *ev, void *user)
{
    MonitorObject *self = user;
    PyGILState_STATE st = PyGILState_UNLOCKED;
    gil_how how = gil_enter(self, &st);
    int rc = 0;
    PyObject *hook = self->on_packet;
    if (self->collect && !self->pending_exc) {
        if (collect_packet(self, ev) < 0)
            leave_do_events(self); /* MemoryError: out of do_events, nothing lost */
        else if (self->break_after && ++self->delivered >= self->break_after)
            ipm_break_events(self->m);
    } else if (hook && !self->pending_exc) {
        PacketParams *p = take_params(self);
        if (!p) {
            rc = hook_failed(self, HOOK_PACKET, "on_packet");
        } else {
            fill_params(self, p, ev);
            Py_INCREF(hook); /* the hook may replace itself */
            PyObject *res = PyObject_CallOneArg(hook, (PyObject *)p);
            release_params(self, p);
            if (res)
                Py_DECREF(res);
            else
                rc = hook_failed(self, HOOK_PACKET, "on_packet");
            Py_DECREF(hook);
            if (self->break_after && ++self->delivered >= self->break_after)
                ipm_break_events(self->m);
        }
    }
    gil_leave(self, how, st);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Statistics and error events                                         */
/* ------------------------------------------------------------------ */

int ipm_py_statistics_cb(const ipm_statistics_event *ev, void *user)
{
    MonitorObject *self = user;
    PyGILState_STATE st = PyGILState_UNLOCKED;
    gil_how how = gil_enter(self, &st);
    int rc = 0;
    PyObject *hook = self->on_statistics;
    if (hook && !self->pending_exc) {
        Py_INCREF(hook);
        PyObject *params = make_stats_params(self, ev);
        PyObject *res = params ? PyObject_CallOneArg(hook, params) : NULL;
        Py_XDECREF(params);
        if (res)
            Py_DECREF(res);
        else
            rc = hook_failed(self, HOOK_STATISTICS, "on_statistics");
        Py_DECREF(hook);
    }
    gil_leave(self, how, st);
    return rc;
}

static PyObject *make_error_params(MonitorObject *self, const ipm_error_event *ev)
{
    ErrorParams *e = PyObject_GC_New(ErrorParams, &ErrorParamsType);
    if (!e)
        return NULL;
    e->error_code = ev->error_code;
    e->handler_result = ev->handler_result;
    e->adapter_index = ev->adapter_index;
    e->exception = e->description = e->adapter = NULL;
    if (ev->error_code == IPM_E_HANDLER && self->handler_text) {
        e->description = self->handler_text;
        e->exception = self->handler_exc;
        self->handler_text = self->handler_exc = NULL;
    } else {
        e->description = decode(ev->description ? ev->description : "");
    }
    if (!e->exception) {
        e->exception = Py_None;
        Py_INCREF(Py_None);
    }
    e->adapter = decode(ev->adapter);
    PyObject_GC_Track(e);
    if (!e->description || !e->adapter) {
        Py_DECREF(e);
        return NULL;
    }
    return (PyObject *)e;
}

void ipm_py_error_cb(const ipm_error_event *ev, void *user)
{
    MonitorObject *self = user;
    PyGILState_STATE st = PyGILState_UNLOCKED;
    gil_how how = gil_enter(self, &st);
    PyObject *hook = self->on_error;
    if (hook && !self->pending_exc) {
        Py_INCREF(hook);
        PyObject *params = make_error_params(self, ev);
        PyObject *res = params ? PyObject_CallOneArg(hook, params) : NULL;
        Py_XDECREF(params);
        if (res) {
            Py_DECREF(res);
        } else if (!PyErr_ExceptionMatches(PyExc_Exception)) {
            PyObject *v = fetch_exception();
            if (!self->pending_exc)
                self->pending_exc = v;
            else
                Py_XDECREF(v);
        } else {
            PyErr_WriteUnraisable(hook);
        }
        Py_DECREF(hook);
    }
    /* Whatever a failed hook left is now reported. */
    Py_CLEAR(self->handler_exc);
    Py_CLEAR(self->handler_text);
    gil_leave(self, how, st);
}

void ipm_py_events_clear(MonitorObject *self)
{
    Py_CLEAR(self->collect);
    Py_CLEAR(self->spare);
    Py_CLEAR(self->adapter_str);
    PyMem_Free(self->adapter_cstr);
    self->adapter_cstr = NULL;
    Py_CLEAR(self->pending_exc);
    Py_CLEAR(self->handler_exc);
    Py_CLEAR(self->handler_text);
    Py_CLEAR(self->warned);
}

int ipm_py_events_init(void)
{
    PyDateTime_IMPORT;
    if (!PyDateTimeAPI)
        return -1;
    PyObject *ipaddress = PyImport_ImportModule("ipaddress");
    if (!ipaddress)
        return -1;
    ipv4_address_type = PyObject_GetAttrString(ipaddress, "IPv4Address");
    ipv6_address_type = PyObject_GetAttrString(ipaddress, "IPv6Address");
    Py_DECREF(ipaddress);
    return ipv4_address_type && ipv6_address_type ? 0 : -1;
}
