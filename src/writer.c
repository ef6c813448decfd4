/*
 * writer.c - saving packets: classic pcap and pcapng files (ipm_writer_*).
 *
 * libpcap writes classic pcap only, which has no place for a packet's
 * direction or interface; pcapng has both, and one file can hold several
 * adapters of different link types. So the library writes the files itself:
 *  - pcapng: a section header (hardware, OS, application), an interface
 *    description block the first time an adapter's packet comes (name,
 *    description, link type, snapshot length, nanosecond time stamps, the
 *    filter, MAC and addresses, read from the monitor when one is given),
 *    an enhanced packet block per packet with the direction in epb_flags,
 *    and at the end an interface statistics block per interface.
 *  - pcap: the classic header (nanosecond magic) and records, one link type.
 * Blocks are built in one buffer of the writer's and go out through
 * write(2) in large pieces, every result checked: the first failure is kept
 * with the real errno, and every later call returns it. Writing a packet
 * allocates nothing and makes no system call until the buffer is full.
 */
#include "internal.h"
#include "platform.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Room for the largest block: a packet of MAX_CAPTURE bytes with its
 * enhanced packet block's fields and options (or a pcap record's header). */
#define WRITE_BUFFER (MAX_CAPTURE + 64u * 1024)
#define MAX_INTERFACES IPM_MAX_SOURCES
#define MAX_CAPTURE 262144u

/* pcapng block types and option codes (draft-ietf-opsawg-pcapng). */
#define BT_SHB 0x0A0D0D0Au
#define BT_IDB 0x00000001u
#define BT_ISB 0x00000005u
#define BT_EPB 0x00000006u
#define BYTE_ORDER_MAGIC 0x1A2B3C4Du
#define OPT_END 0
#define OPT_SHB_HARDWARE 2
#define OPT_SHB_OS 3
#define OPT_SHB_USERAPPL 4
#define OPT_IF_NAME 2
#define OPT_IF_DESCRIPTION 3
#define OPT_IF_IPV4ADDR 4
#define OPT_IF_IPV6ADDR 5
#define OPT_IF_MACADDR 6
#define OPT_IF_TSRESOL 9
#define OPT_IF_FILTER 11
#define OPT_EPB_FLAGS 2
#define OPT_ISB_STARTTIME 2
#define OPT_ISB_ENDTIME 3
#define OPT_ISB_IFDROP 5
#define OPT_ISB_FILTERACCEPT 6
#define OPT_ISB_OSDROP 7
#define OPT_ISB_USRDELIV 8

/* One interface of the file: an adapter (by name) and link type. */
typedef struct writer_interface {
    const char *seen;  /* the event's adapter pointer last matched (a cache) */
    char *name;
    int link_type;
    int adapter_index;
    uint64_t packets;
    struct timespec first, last;
} writer_interface;

struct ipm_writer {
    int fd;
    int format;
    ipm_monitor *monitor; /* for interface metadata and statistics, or NULL */
    int error;            /* a write failed (IPM_E_FILE...): sticky, nothing more is written */
    int refused;          /* the first packet refused (IPM_E_UNSUPPORTED...); the file is fine */
    char message[IPM_ERRBUF_SIZE]; /* what the first of either was */
    int os_error;         /* the errno of a failed write, or 0 */
    int64_t packets;
    /* Packets the system has taken whole, and where each block in the
     * buffer ends (offset << 1 | 1 for a packet): after a failed write, the
     * file holds the saved packets plus those that end within what the
     * last write took, and a regular file is cut back to the last whole
     * block, so that readers see a valid file of exactly those packets. */
    int64_t saved;
    int64_t offset;     /* the file offset of the buffer's start; -1: not a regular file */
    uint32_t pending, pending_packets;
    uint32_t ends[WRITE_BUFFER / 16]; /* a block is at least 16 bytes */
    int interface_count;
    writer_interface interfaces[MAX_INTERFACES];
    writer_interface *last;
    size_t used;
    uint8_t buffer[WRITE_BUFFER];
};

/* Record why the file can take nothing more (the first time only). */
static int fail(ipm_writer *w, int code, const char *fmt, ...)
{
    if (w->error)
        return w->error;
    if (!w->refused) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(w->message, sizeof w->message, fmt, ap);
        va_end(ap);
    }
    w->error = code;
    return code;
}

/* Refuse one packet (the file stays good); the first reason is kept. */
static int refuse(ipm_writer *w, int code, const char *fmt, ...)
{
    if (!w->refused && !w->error) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(w->message, sizeof w->message, fmt, ap);
        va_end(ap);
        w->refused = code;
    }
    return code;
}

/* A write failed after `done` bytes of the buffer went out: count the
 * packets that lie whole in them, cut a regular file back to the last
 * whole block, and keep the reason for good. */
static int write_failed(ipm_writer *w, size_t done, int err)
{
    w->os_error = err;
    size_t keep = 0;
    for (uint32_t i = 0; i < w->pending && (w->ends[i] >> 1) <= done; i++) {
        w->saved += w->ends[i] & 1;
        keep = w->ends[i] >> 1;
    }
    if (w->offset >= 0 && keep < done && ftruncate(w->fd, (off_t)(w->offset + (int64_t)keep)) != 0) {
        /* the file stays cut inside a block; the count is still of whole packets */
    }
    w->pending = w->pending_packets = 0;
    w->used = 0;
    return fail(w, IPM_E_FILE, "writing the capture file failed: %s", err ? strerror(err) : "nothing written");
}

/* Everything in the buffer to the fd; the real errno on failure. */
static int flush_buffer(ipm_writer *w)
{
    if (w->error) { /* failed before (a write, or memory): what is buffered never goes out */
        w->pending = w->pending_packets = 0;
        w->used = 0;
        return w->error;
    }
    size_t done = 0;
    while (done < w->used) {
        ssize_t n = write(w->fd, w->buffer + done, w->used - done);
        if (n > 0) {
            done += (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            /* a non-blocking fd (a pipe set so by its reader): wait for room */
            struct pollfd p = {.fd = w->fd, .events = POLLOUT};
            if (poll(&p, 1, -1) < 0 && errno != EINTR)
                return write_failed(w, done, errno);
        } else {
            return write_failed(w, done, n < 0 ? errno : 0);
        }
    }
    w->saved += w->pending_packets;
    w->pending = w->pending_packets = 0;
    if (w->offset >= 0)
        w->offset += (int64_t)w->used;
    w->used = 0;
    return IPM_OK;
}

/* Room for `n` more bytes in the buffer (a block is at most a record plus
 * its options, far below the buffer's size). */
static int reserve(ipm_writer *w, size_t n)
{
    if (n > sizeof w->buffer) /* never for a packet (WRITE_BUFFER has room); options could */
        return fail(w, IPM_E_INVALID_ARGUMENT, "a block of %zu bytes is larger than the writer's buffer", n);
    if (w->used + n > sizeof w->buffer)
        return flush_buffer(w);
    return w->error;
}

static void put(ipm_writer *w, const void *p, size_t n)
{
    memcpy(w->buffer + w->used, p, n);
    w->used += n;
}

static void put32(ipm_writer *w, uint32_t v) { put(w, &v, 4); }

/* A block (or a pcap record) ends here in the buffer. */
static void end_block(ipm_writer *w, int is_packet)
{
    w->ends[w->pending++] = (uint32_t)w->used << 1 | (uint32_t)is_packet;
    w->pending_packets += (uint32_t)is_packet;
}

static void pad4(ipm_writer *w, size_t n)
{
    static const uint8_t zeros[4];
    put(w, zeros, (4 - n % 4) % 4);
}

/* One pcapng option: code, length, value, padding. */
static void put_option(ipm_writer *w, uint16_t code, const void *value, size_t len)
{
    uint16_t head[2] = {code, (uint16_t)len};
    put(w, head, sizeof head);
    put(w, value, len);
    pad4(w, len);
}

static size_t option_size(size_t len)
{
    return 4 + (len + 3) / 4 * 4;
}

/* A string option, if not empty; bounded to what one option can hold. */
static size_t string_option_size(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    return n ? option_size(n > 65000 ? 65000 : n) : 0;
}

static void put_string_option(ipm_writer *w, uint16_t code, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n)
        put_option(w, code, s, n > 65000 ? 65000 : n);
}

static void begin_block(ipm_writer *w, uint32_t type, size_t total)
{
    put32(w, type);
    put32(w, (uint32_t)total);
}

static int write_section_header(ipm_writer *w)
{
    char hardware[128], os[256], app[128];
    ipm_os_describe_system(hardware, sizeof hardware, os, sizeof os);
    snprintf(app, sizeof app, "ipmonitor %s (%s)", IPM_VERSION_STRING, pcap_lib_version());
    size_t total = 28 + string_option_size(hardware) + string_option_size(os) +
                   string_option_size(app) + 4;
    if (reserve(w, total))
        return w->error;
    begin_block(w, BT_SHB, total);
    put32(w, BYTE_ORDER_MAGIC);
    uint16_t version[2] = {1, 0};
    put(w, version, sizeof version);
    int64_t section_length = -1; /* not known in advance */
    put(w, &section_length, sizeof section_length);
    put_string_option(w, OPT_SHB_HARDWARE, hardware);
    put_string_option(w, OPT_SHB_OS, os);
    put_string_option(w, OPT_SHB_USERAPPL, app);
    put32(w, OPT_END);
    put32(w, (uint32_t)total);
    end_block(w, 0);
    return w->error;
}

/* The LINKTYPE_ value files carry for a DLT_ value (they differ for a
 * few, DLT_RAW among them). libpcap's mapping is internal, so ask its
 * public writer: the header pcap_dump_fopen writes for it, in memory. */
static uint32_t linktype_of(int dlt)
{
    uint32_t value = (uint32_t)dlt;
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    pcap_t *dead = f ? pcap_open_dead(dlt, (int)MAX_CAPTURE) : NULL;
    pcap_dumper_t *d = dead ? pcap_dump_fopen(dead, f) : NULL;
    if (d) {
        pcap_dump_flush(d);
        if (size >= 24)
            memcpy(&value, text + 20, 4);
        pcap_dump_close(d); /* closes f */
    } else if (f) {
        fclose(f);
    }
    if (dead)
        pcap_close(dead);
    free(text);
    return value;
}

static int write_pcap_header(ipm_writer *w, int link_type)
{
    struct {
        uint32_t magic;
        uint16_t major, minor;
        int32_t thiszone;
        uint32_t sigfigs, snaplen, linktype;
    } h = {0xa1b23c4du, 2, 4, 0, 0, MAX_CAPTURE, linktype_of(link_type)};
    if (reserve(w, sizeof h))
        return w->error;
    put(w, &h, sizeof h);
    end_block(w, 0);
    return w->error;
}

/* "10.0.0.1/24 10.0.0.2/16" (AF_INET: address and mask) or "fd00::1/64"
 * (AF_INET6: address and prefix length) -> if_IPv4addr / if_IPv6addr
 * options; their total size, written too when `emit`. */
static size_t address_options(ipm_writer *w, const char *list, int family, int emit)
{
    int v6 = family == AF_INET6, bits = v6 ? 128 : 32;
    size_t len = v6 ? 17 : 8, size = 0;
    char copy[2048];
    snprintf(copy, sizeof copy, "%s", list ? list : "");
    for (char *save = NULL, *tok = strtok_r(copy, " ", &save); tok;
         tok = strtok_r(NULL, " ", &save)) {
        char *slash = strchr(tok, '/');
        int prefix = slash ? atoi(slash + 1) : bits;
        if (slash)
            *slash = '\0';
        uint8_t v[17];
        if (inet_pton(family, tok, v) != 1 || prefix < 0 || prefix > bits)
            continue;
        if (v6) {
            v[16] = (uint8_t)prefix;
        } else {
            uint32_t mask = prefix ? htonl(0xffffffffu << (32 - prefix)) : 0;
            memcpy(v + 4, &mask, 4);
        }
        size += option_size(len);
        if (emit)
            put_option(w, v6 ? OPT_IF_IPV6ADDR : OPT_IF_IPV4ADDR, v, len);
    }
    return size;
}

/* "02-77-00-00-00-01" -> 6 bytes; 0 when it is not a MAC. */
static int parse_mac(const char *s, uint8_t mac[6])
{
    unsigned b[6];
    if (!s || sscanf(s, "%2x-%2x-%2x-%2x-%2x-%2x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]) != 6)
        return 0;
    for (int i = 0; i < 6; i++)
        mac[i] = (uint8_t)b[i];
    return 1;
}

/* The interface description block of `itf`, with what the monitor knows
 * of its adapter (nothing for a capture file or without a monitor). */
static int write_interface(ipm_writer *w, const writer_interface *itf)
{
    ipm_monitor *m = w->monitor;
    int idx = itf->adapter_index;
    const char *description = NULL, *v4 = NULL, *v6 = NULL, *filter = NULL;
    uint8_t mac[6];
    int has_mac = 0;
    uint32_t snaplen = MAX_CAPTURE;
    if (m && idx >= 0) {
        description = ipm_get_adapter_description(m, idx);
        v4 = ipm_get_adapter_ipv4_addresses(m, idx);
        v6 = ipm_get_adapter_ipv6_addresses(m, idx);
        has_mac = parse_mac(ipm_get_adapter_mac_address(m, idx), mac);
        int mpb = ipm_get_adapter_max_packet_bytes(m, idx);
        if (mpb > 0)
            snaplen = (uint32_t)mpb;
    }
    if (m)
        filter = ipm_get_filter(m);
    char filter_option[1024];
    size_t filter_len = 0;
    if (filter && filter[0]) {
        filter_option[0] = 0; /* a libpcap filter string */
        filter_len = 1 + (size_t)snprintf(filter_option + 1, sizeof filter_option - 1, "%s",
                                          filter);
        if (filter_len > sizeof filter_option - 1)
            filter_len = sizeof filter_option - 1;
    }
    uint8_t tsresol = 9; /* nanoseconds */
    size_t total = 20 + string_option_size(itf->name) + string_option_size(description) +
                   address_options(w, v4, AF_INET, 0) + address_options(w, v6, AF_INET6, 0) +
                   (has_mac ? option_size(6) : 0) + option_size(1) +
                   (filter_len ? option_size(filter_len) : 0) + 4;
    if (reserve(w, total))
        return w->error;
    begin_block(w, BT_IDB, total);
    uint16_t lt[2] = {(uint16_t)linktype_of(itf->link_type), 0};
    put(w, lt, sizeof lt);
    put32(w, snaplen);
    put_string_option(w, OPT_IF_NAME, itf->name);
    put_string_option(w, OPT_IF_DESCRIPTION, description);
    address_options(w, v4, AF_INET, 1);
    address_options(w, v6, AF_INET6, 1);
    if (has_mac)
        put_option(w, OPT_IF_MACADDR, mac, 6);
    put_option(w, OPT_IF_TSRESOL, &tsresol, 1);
    if (filter_len)
        put_option(w, OPT_IF_FILTER, filter_option, filter_len);
    put32(w, OPT_END);
    put32(w, (uint32_t)total);
    end_block(w, 0);
    return w->error;
}

/* The interface of a packet: the cached one, a known one, or a new one
 * (announced in the file). NULL with the error set. */
static writer_interface *interface_of(ipm_writer *w, const ipm_packet_event *ev)
{
    writer_interface *itf = w->last;
    const char *name = ev->adapter ? ev->adapter : "";
    /* The same adapter as the last packet: the same pointer, and the same
     * text (an "any" capture names each packet's interface from a small
     * cache whose entries can be reused for another interface). */
    if (itf && itf->seen == ev->adapter && itf->link_type == ev->link_type && strcmp(itf->name, name) == 0)
        return itf;
    /* Classic pcap has no interfaces: one link type is all it needs (an
     * "any" capture's packets name several interfaces, all cooked v2). */
    if (w->format == IPM_FORMAT_PCAP && w->interface_count == 1 && w->interfaces[0].link_type == ev->link_type)
        return w->last = &w->interfaces[0];
    for (int i = 0; i < w->interface_count; i++) {
        itf = &w->interfaces[i];
        if (itf->link_type == ev->link_type && strcmp(itf->name, name) == 0) {
            itf->seen = ev->adapter;
            return w->last = itf;
        }
    }
    if (w->format == IPM_FORMAT_PCAP && w->interface_count == 1) {
        refuse(w, IPM_E_UNSUPPORTED,
             "a classic pcap file holds one link type (%s, of \"%s\"); \"%s\" (%s) needs "
             "a pcapng file",
             pcap_datalink_val_to_name(w->interfaces[0].link_type), w->interfaces[0].name, name,
             pcap_datalink_val_to_name(ev->link_type));
        return NULL;
    }
    if (w->interface_count == MAX_INTERFACES) {
        refuse(w, IPM_E_UNSUPPORTED, "a capture file of ipmonitor holds at most %d interfaces",
             MAX_INTERFACES);
        return NULL;
    }
    itf = &w->interfaces[w->interface_count];
    memset(itf, 0, sizeof *itf);
    itf->name = ipm_strdup(name);
    if (!itf->name) {
        fail(w, IPM_E_NO_MEMORY, "out of memory");
        return NULL;
    }
    itf->seen = ev->adapter;
    itf->link_type = ev->link_type;
    itf->adapter_index = ev->adapter_index;
    w->interface_count++;
    if ((w->format == IPM_FORMAT_PCAPNG ? write_interface(w, itf)
                                        : write_pcap_header(w, ev->link_type)) != IPM_OK)
        return NULL;
    return w->last = itf;
}

static ipm_writer *writer_new(int fd, int format, ipm_monitor *m, char *errbuf)
{
    if (format != IPM_FORMAT_PCAP && format != IPM_FORMAT_PCAPNG) {
        snprintf(errbuf, IPM_ERRBUF_SIZE, "unknown file format %d: use IPM_FORMAT_PCAP (%d) or "
                 "IPM_FORMAT_PCAPNG (%d)", format, IPM_FORMAT_PCAP, IPM_FORMAT_PCAPNG);
        return NULL;
    }
    ipm_writer *w = calloc(1, sizeof *w);
    if (!w) {
        snprintf(errbuf, IPM_ERRBUF_SIZE, "out of memory");
        return NULL;
    }
    w->fd = fd;
    w->format = format;
    struct stat st;
    /* A regular file may be cut back after a failed write; not one opened
     * for appending (writes land at its end whatever SEEK_CUR says), nor a
     * pipe. */
    int flags = fcntl(fd, F_GETFL);
    w->offset = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && flags >= 0 && !(flags & O_APPEND)
                    ? (int64_t)lseek(fd, 0, SEEK_CUR)
                    : -1;
    w->monitor = m;
    if (format == IPM_FORMAT_PCAPNG && write_section_header(w) != IPM_OK) {
        snprintf(errbuf, IPM_ERRBUF_SIZE, "%s", w->message);
        free(w);
        return NULL;
    }
    return w;
}

ipm_writer *ipm_writer_open(const char *path, int format, ipm_monitor *m, char *errbuf)
{
    char ignored[IPM_ERRBUF_SIZE];
    if (!errbuf)
        errbuf = ignored;
    if (!path) {
        snprintf(errbuf, IPM_ERRBUF_SIZE, "ipm_writer_open needs a path, not NULL");
        return NULL;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(errbuf, IPM_ERRBUF_SIZE, "cannot create \"%s\": %s", path, strerror(errno));
        return NULL;
    }
    ipm_writer *w = writer_new(fd, format, m, errbuf);
    if (!w)
        close(fd);
    return w;
}

ipm_writer *ipm_writer_fdopen(int fd, int format, ipm_monitor *m, char *errbuf)
{
    char ignored[IPM_ERRBUF_SIZE];
    if (!errbuf)
        errbuf = ignored;
    if (fd < 0) {
        snprintf(errbuf, IPM_ERRBUF_SIZE, "ipm_writer_fdopen needs an open fd, not %d", fd);
        return NULL;
    }
    return writer_new(fd, format, m, errbuf);
}

int ipm_writer_write(ipm_writer *w, const ipm_packet_event *ev)
{
    if (!w)
        return IPM_E_INVALID_ARGUMENT;
    if (w->error)
        return w->error;
    if (!ev || (!ev->data && ev->data_size))
        return IPM_E_INVALID_ARGUMENT; /* not sticky: the file is still good */
    writer_interface *itf = interface_of(w, ev);
    if (!itf)
        return w->error ? w->error : IPM_E_UNSUPPORTED;
    uint32_t caplen = ev->data_size > MAX_CAPTURE ? MAX_CAPTURE : ev->data_size;
    uint64_t ns = (uint64_t)ev->time_stamp.tv_sec * 1000000000u + (uint64_t)ev->time_stamp.tv_nsec;
    if (w->format == IPM_FORMAT_PCAPNG) {
        /* type, length, 5 fields, data, flags option, end, length */
        size_t total = 28 + (caplen + 3) / 4 * 4 + option_size(4) + 4 + 4;
        if (reserve(w, total))
            return w->error;
        begin_block(w, BT_EPB, total);
        uint32_t fields[5] = {(uint32_t)(itf - w->interfaces), (uint32_t)(ns >> 32),
                              (uint32_t)ns, caplen, ev->packet_size};
        put(w, fields, sizeof fields);
        put(w, ev->data, caplen);
        pad4(w, caplen);
        uint32_t flags = ev->direction == IPM_PACKET_DIRECTION_INCOMING   ? 1
                         : ev->direction == IPM_PACKET_DIRECTION_OUTGOING ? 2
                                                                           : 0;
        put_option(w, OPT_EPB_FLAGS, &flags, 4);
        put32(w, OPT_END);
        put32(w, (uint32_t)total);
    } else {
        if (reserve(w, 16 + caplen))
            return w->error;
        uint32_t rec[4] = {(uint32_t)ev->time_stamp.tv_sec, (uint32_t)ev->time_stamp.tv_nsec,
                           caplen, ev->packet_size};
        put(w, rec, sizeof rec);
        put(w, ev->data, caplen);
    }
    if (itf->packets++ == 0)
        itf->first = ev->time_stamp;
    itf->last = ev->time_stamp;
    w->packets++;
    end_block(w, 1);
    return IPM_OK;
}

int ipm_writer_flush(ipm_writer *w)
{
    return w ? flush_buffer(w) : IPM_E_INVALID_ARGUMENT;
}

/* pcapng: one statistics block per interface. Every interface gets its
 * first and last packet's times and the packets written; with a monitor
 * and one interface, also what the capture counted (filter accepts, kernel
 * and interface drops: ipm_get_statistics). */
static void write_statistics(ipm_writer *w)
{
    int64_t received = 0, dropped = 0, adapter_dropped = 0;
    int with_capture = w->monitor && w->interface_count == 1 &&
                       ipm_get_statistics(w->monitor, &received, &dropped, &adapter_dropped) == 0;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    for (int i = 0; i < w->interface_count && !w->error; i++) {
        writer_interface *itf = &w->interfaces[i];
        size_t total = 24 + 3 * option_size(8) + (with_capture ? 3 * option_size(8) : 0) + 4;
        if (reserve(w, total))
            return;
        uint64_t ts = (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
        begin_block(w, BT_ISB, total);
        uint32_t head[3] = {(uint32_t)i, (uint32_t)(ts >> 32), (uint32_t)ts};
        put(w, head, sizeof head);
        uint64_t start = (uint64_t)itf->first.tv_sec * 1000000000u + (uint64_t)itf->first.tv_nsec;
        uint64_t end = (uint64_t)itf->last.tv_sec * 1000000000u + (uint64_t)itf->last.tv_nsec;
        uint32_t st[2] = {(uint32_t)(start >> 32), (uint32_t)start};
        uint32_t en[2] = {(uint32_t)(end >> 32), (uint32_t)end};
        put_option(w, OPT_ISB_STARTTIME, st, 8);
        put_option(w, OPT_ISB_ENDTIME, en, 8);
        put_option(w, OPT_ISB_USRDELIV, &itf->packets, 8);
        if (with_capture) {
            uint64_t v[3] = {(uint64_t)received, (uint64_t)dropped, (uint64_t)adapter_dropped};
            put_option(w, OPT_ISB_FILTERACCEPT, &v[0], 8);
            put_option(w, OPT_ISB_OSDROP, &v[1], 8);
            put_option(w, OPT_ISB_IFDROP, &v[2], 8);
        }
        put32(w, OPT_END);
        put32(w, (uint32_t)total);
        end_block(w, 0);
    }
}

int ipm_writer_close(ipm_writer *w)
{
    if (!w)
        return IPM_E_INVALID_ARGUMENT;
    if (w->format == IPM_FORMAT_PCAPNG && !w->error)
        write_statistics(w);
    int rc = flush_buffer(w);
    if (close(w->fd) != 0 && !rc) {
        w->os_error = errno;
        rc = fail(w, IPM_E_FILE, "closing the capture file failed: %s", strerror(errno));
    }
    int os_error = w->os_error;
    for (int i = 0; i < w->interface_count; i++)
        free(w->interfaces[i].name);
    free(w);
    if (rc != IPM_OK)
        errno = os_error; /* 0: not the system's failure (see ipm_writer_error) */
    return rc;
}

const char *ipm_writer_error(const ipm_writer *w)
{
    return w ? w->message : "no writer (NULL)";
}

int64_t ipm_writer_packets(const ipm_writer *w)
{
    return w ? w->packets : 0;
}

int64_t ipm_writer_packets_saved(const ipm_writer *w)
{
    return w ? w->saved : 0;
}

int ipm_writer_os_error(const ipm_writer *w)
{
    return w ? w->os_error : 0;
}
