/*
 * output.c - the per-packet output formats of ipmon capture (see output.h).
 *
 * Lines are assembled with a tiny appender over a fixed buffer (integers
 * formatted by hand, no printf per field) and written with one fwrite. A
 * line that would overflow the buffer is cut, never overrun.
 */
#include "output.h"

#include <errno.h>
#include <string.h>

/* Big enough for any text or JSON line; hex dumps are written in chunks. */
#define LINE_CAP 4096
/* The adapter name (or -r file path, up to PATH_MAX) is the one field of
 * unbounded length: at most this many bytes of it are printed (escaped, in
 * JSON), so that the rest of the line, its newline included, always fits. */
#define ADAPTER_TEXT_MAX 1024

typedef struct lb {
    char buf[LINE_CAP];
    size_t n;
} lb;

static void lb_mem(lb *b, const char *s, size_t len)
{
    if (len > sizeof b->buf - 1 - b->n)
        len = sizeof b->buf - 1 - b->n;
    memcpy(b->buf + b->n, s, len);
    b->n += len;
}
static void lb_str(lb *b, const char *s) { lb_mem(b, s, strlen(s)); }
static void lb_chr(lb *b, char c)
{
    if (b->n < sizeof b->buf - 1)
        b->buf[b->n++] = c;
}

static void lb_u64(lb *b, uint64_t v)
{
    char tmp[24];
    int i = sizeof tmp;
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    lb_mem(b, tmp + i, sizeof tmp - (size_t)i);
}

static void lb_i64(lb *b, int64_t v)
{
    if (v < 0) {
        lb_chr(b, '-');
        lb_u64(b, (uint64_t)0 - (uint64_t)v);
    } else {
        lb_u64(b, (uint64_t)v);
    }
}

/* `v` with exactly `digits` digits, zero-padded. */
static void lb_fixed(lb *b, uint64_t v, int digits)
{
    char tmp[20];
    for (int i = digits - 1; i >= 0; i--) {
        tmp[i] = (char)('0' + v % 10);
        v /= 10;
    }
    lb_mem(b, tmp, (size_t)digits);
}

/* A JSON string value, quoted and escaped, of at most `max` bytes inside
 * the quotes. */
static void lb_json_str_max(lb *b, const char *s, size_t max)
{
    lb_chr(b, '"');
    size_t room = sizeof b->buf - 1 - b->n;
    b->n += json_escape(b->buf + b->n, room < max + 1 ? room : max + 1, s);
    lb_chr(b, '"');
}

/* A JSON string value, quoted and escaped. */
static void lb_json_str(lb *b, const char *s)
{
    lb_json_str_max(b, s, sizeof b->buf);
}

static void lb_json_int_or_null(lb *b, int64_t v, int present)
{
    if (present)
        lb_i64(b, v);
    else
        lb_str(b, "null");
}

/* Write the buffer; adds its length to *total. A failure may also show
 * only later, in the sink (see sink.h): the caller checks that. */
static int lb_write(const lb *b, FILE *f, long *total)
{
    *total += (long)b->n;
    return fwrite(b->buf, 1, b->n, f) == b->n ? 0 : -1;
}

/* The length of the well-formed UTF-8 sequence at s (shortest form, no
 * surrogates, at most U+10FFFF; RFC 3629), or 0 when there is none. */
static size_t utf8_sequence(const unsigned char *s)
{
    unsigned c = s[0];
    size_t n = (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
    if (n == 0)
        return 0;
    uint32_t cp = c & (0x7fu >> n);
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) /* also stops at the NUL */
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    static const uint32_t shortest[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < shortest[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

size_t json_escape(char *dst, size_t cap, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = 0;
    if (cap == 0)
        return 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[7];
        size_t len;
        /* JSON text is UTF-8: a valid character is copied whole, a byte
         * that starts none (a Latin-1 file name) becomes U+FFFD. */
        size_t utf8 = c >= 0x80 ? utf8_sequence((const unsigned char *)s) : 0;
        if (utf8 > 0) {
            if (n + utf8 > cap - 1)
                break;
            memcpy(dst + n, s, utf8);
            n += utf8;
            s += utf8 - 1;
            continue;
        }
        if (c >= 0x80) {
            memcpy(esc, "\\ufffd", 6);
            len = 6;
        } else if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            len = 2;
        } else if (c == '\n' || c == '\r' || c == '\t') {
            esc[0] = '\\';
            esc[1] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
            len = 2;
        } else if (c < 0x20 || c == 0x7f) {
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            len = 6;
        } else {
            esc[0] = (char)c;
            len = 1;
        }
        if (n + len > cap - 1)
            break;
        memcpy(dst + n, esc, len);
        n += len;
    }
    dst[n] = '\0';
    return n;
}

void json_fputs(FILE *f, const char *s)
{
    char buf[1024];
    json_escape(buf, sizeof buf, s ? s : "");
    fputc('"', f);
    fputs(buf, f);
    fputc('"', f);
}

const char *out_direction_text(int direction)
{
    switch (direction) {
    case IPM_PACKET_DIRECTION_INCOMING: return "IN";
    case IPM_PACKET_DIRECTION_OUTGOING: return "OUT";
    default: return "-";
    }
}

static const char *direction_json(int direction)
{
    switch (direction) {
    case IPM_PACKET_DIRECTION_INCOMING: return "in";
    case IPM_PACKET_DIRECTION_OUTGOING: return "out";
    default: return "unknown";
    }
}

void out_init(out_ctx *o, FILE *f)
{
    memset(o, 0, sizeof *o);
    o->f = f;
    o->local_sec = o->utc_sec = (time_t)-1;
    tzset(); /* read the time zone once */
}

/* "YYYY-MM-DD HH:MM:SS" in local time, recomputed only when the second
 * changes; the time alone is its last 8 characters. */
static const char *local_date_time(out_ctx *o, time_t sec)
{
    if (sec != o->local_sec) {
        struct tm tm;
        if (!localtime_r(&sec, &tm))
            memset(&tm, 0, sizeof tm);
        snprintf(o->local_hms, sizeof o->local_hms, "%04d-%02d-%02d %02d:%02d:%02d",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
        o->local_sec = sec;
    }
    return o->local_hms;
}

/* ".uuuuuu" or, with nano, ".nnnnnnnnn". */
static void lb_frac(out_ctx *o, lb *b, uint64_t nsec)
{
    lb_chr(b, '.');
    if (o->nano)
        lb_fixed(b, nsec, 9);
    else
        lb_fixed(b, nsec / 1000, 6);
}

/* The time column as tcpdump 4.99 prints it for the number of -t
 * (out_ctx.time_format), with its trailing blank; nothing for -t. With
 * microsecond precision the time is cut to microseconds first, as libpcap
 * hands tcpdump, so deltas agree to the digit. */
static void lb_time(out_ctx *o, lb *b, const struct timespec *ts)
{
    int64_t unit = o->nano ? 1 : 1000;
    int64_t nsec = ts->tv_nsec / unit * unit;
    size_t len;
    switch (o->time_format) {
    case 1: return;
    case 2:
        lb_i64(b, (int64_t)ts->tv_sec);
        lb_frac(o, b, (uint64_t)nsec);
        break;
    case 3:
    case 5: {
        if (!o->have_ref) {
            o->ref_sec = (int64_t)ts->tv_sec;
            o->ref_nsec = nsec;
            o->have_ref = 1;
        }
        /* the delta as sign and magnitude; wrapping arithmetic, so that no
         * time stamp a file can hold overflows */
        int64_t sec = (int64_t)ts->tv_sec;
        int negative = sec < o->ref_sec || (sec == o->ref_sec && nsec < o->ref_nsec);
        uint64_t dsec = negative ? (uint64_t)o->ref_sec - (uint64_t)sec : (uint64_t)sec - (uint64_t)o->ref_sec;
        int64_t dn = negative ? o->ref_nsec - nsec : nsec - o->ref_nsec;
        if (dn < 0) {
            dn += 1000000000;
            dsec--;
        }
        lb_chr(b, negative ? '-' : ' ');
        /* tcpdump formats the delta as a time of day: hours wrap at 24 */
        lb_fixed(b, dsec / 3600 % 24, 2);
        lb_chr(b, ':');
        lb_fixed(b, dsec / 60 % 60, 2);
        lb_chr(b, ':');
        lb_fixed(b, dsec % 60, 2);
        lb_frac(o, b, (uint64_t)dn);
        if (o->time_format == 3) {
            o->ref_sec = sec;
            o->ref_nsec = nsec;
        }
        break;
    }
    case 4:
        lb_str(b, local_date_time(o, ts->tv_sec));
        lb_frac(o, b, (uint64_t)nsec);
        break;
    default:
        len = strlen(local_date_time(o, ts->tv_sec));
        lb_str(b, o->local_hms + len - 8);
        lb_frac(o, b, (uint64_t)nsec);
        break;
    }
    lb_chr(b, ' ');
}

/* -A: the packet from its network header (as tcpdump -A), printable ASCII
 * as is and any other byte as '.', on one line. */
static int write_ascii(out_ctx *o, const uint8_t *d, uint32_t len, const dec_packet *p, long *total)
{
    lb b;
    b.n = 0;
    uint32_t from = p->network_offset >= 0 && p->network_offset <= (int64_t)len ? (uint32_t)p->network_offset : 0;
    for (uint32_t i = from; i < len; i++) {
        if (b.n > sizeof b.buf - 4) {
            if (lb_write(&b, o->f, total) < 0)
                return -1;
            b.n = 0;
        }
        lb_chr(&b, d[i] >= 0x20 && d[i] < 0x7f ? (char)d[i] : '.');
    }
    lb_chr(&b, '\n');
    return lb_write(&b, o->f, total);
}

/* "YYYY-MM-DDTHH:MM:SS" in UTC, recomputed only when the second changes. */
static const char *utc_date(out_ctx *o, time_t sec)
{
    if (sec != o->utc_sec) {
        struct tm tm;
        if (!gmtime_r(&sec, &tm))
            memset(&tm, 0, sizeof tm);
        snprintf(o->utc_date, sizeof o->utc_date, "%04d-%02d-%02dT%02d:%02d:%02d",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
        o->utc_sec = sec;
    }
    return o->utc_date;
}

/* An address with its port: "10.0.0.1:53", "[fd00::1]:53", or the address. */
static void lb_endpoint(lb *b, const char *addr, int port, int v6)
{
    if (port >= 0 && v6) {
        lb_chr(b, '[');
        lb_str(b, addr);
        lb_chr(b, ']');
    } else {
        lb_str(b, addr);
    }
    if (port >= 0) {
        lb_chr(b, ':');
        lb_u64(b, (uint64_t)port);
    }
}

/* The hex dump: tcpdump -xx layout, 16 bytes a line, optional ASCII. */
static int write_hex(out_ctx *o, const uint8_t *d, uint32_t len, long *total)
{
    static const char hex[] = "0123456789abcdef";
    lb b;
    b.n = 0;
    for (uint32_t off = 0; off < len; off += 16) {
        if (b.n > sizeof b.buf - 128) {
            if (lb_write(&b, o->f, total) < 0)
                return -1;
            b.n = 0;
        }
        lb_str(&b, "\t0x");
        char pos[5] = {hex[(off >> 12) & 15], hex[(off >> 8) & 15], hex[(off >> 4) & 15],
                       hex[off & 15], 0};
        lb_str(&b, pos);
        lb_str(&b, ": ");
        uint32_t n = len - off < 16 ? len - off : 16;
        /* -x stops after the last byte (no trailing blanks); -X pads to
         * the ASCII column */
        for (uint32_t i = 0; i < (o->hex == 2 ? 16 : n); i++) {
            if (i % 2 == 0)
                lb_chr(&b, ' ');
            if (i < n) {
                lb_chr(&b, hex[d[off + i] >> 4]);
                lb_chr(&b, hex[d[off + i] & 15]);
            } else if (o->hex == 2) {
                lb_str(&b, "  ");
            }
        }
        if (o->hex == 2) {
            lb_str(&b, "  ");
            for (uint32_t i = 0; i < n; i++) {
                uint8_t c = d[off + i];
                lb_chr(&b, c >= 0x20 && c < 0x7f ? (char)c : '.');
            }
        }
        lb_chr(&b, '\n');
    }
    return lb_write(&b, o->f, total);
}

long out_text(out_ctx *o, const ipm_packet_event *e, const dec_packet *d)
{
    long total = 0;
    lb b;
    b.n = 0;
    lb_time(o, &b, &e->time_stamp);
    lb_str(&b, out_direction_text(e->direction));
    lb_chr(&b, ' ');
    const char *adapter = e->adapter ? e->adapter : "?";
    lb_mem(&b, adapter, strnlen(adapter, ADAPTER_TEXT_MAX));
    lb_chr(&b, ' ');
    if (o->link_level && d->mac_src[0]) {
        lb_str(&b, d->mac_src);
        if (d->mac_dst[0]) {
            lb_str(&b, " > ");
            lb_str(&b, d->mac_dst);
        }
        lb_chr(&b, ' ');
    }
    if (d->vlan >= 0) {
        lb_str(&b, "vlan ");
        lb_u64(&b, (uint64_t)d->vlan);
        lb_chr(&b, ' ');
    }
    lb_str(&b, d->proto);
    if (o->verbose && d->ip_facts[0] && !o->quiet) {
        lb_chr(&b, ' ');
        lb_str(&b, d->ip_facts);
    }
    if (d->src[0] || d->dst[0]) {
        lb_chr(&b, ' ');
        lb_endpoint(&b, d->src[0] ? d->src : "?", d->sport, d->ip_version == 6);
        lb_str(&b, " > ");
        lb_endpoint(&b, d->dst[0] ? d->dst : "?", d->dport, d->ip_version == 6);
    }
    if (o->quiet) {
        /* -q: as tcpdump -q, what goes where and how much */
        if (d->payload_len >= 0 && d->sport >= 0) {
            lb_str(&b, " payload ");
            lb_i64(&b, d->payload_len);
        }
        goto end;
    }
    if (d->tcp_flags[0]) {
        lb_str(&b, " [");
        lb_str(&b, d->tcp_flags);
        lb_chr(&b, ']');
    }
    if (o->verbose && d->tcp_cksum[0]) {
        lb_chr(&b, ' ');
        lb_str(&b, d->tcp_cksum);
    }
    if (d->info[0]) {
        lb_chr(&b, ' ');
        lb_str(&b, d->info);
    }
    if (o->verbose && d->tcp_options[0]) {
        lb_chr(&b, ' ');
        lb_str(&b, d->tcp_options);
    }
    if (d->payload_len >= 0 && d->sport >= 0) {
        lb_str(&b, " payload ");
        lb_i64(&b, d->payload_len);
    }
    lb_str(&b, " len ");
    lb_u64(&b, e->packet_size);
end:
    if (d->truncated)
        lb_str(&b, " [truncated]");
    lb_chr(&b, '\n');
    if (lb_write(&b, o->f, &total) < 0)
        return -1;
    if (o->ascii && write_ascii(o, e->data, e->data_size, d, &total) < 0)
        return -1;
    if (o->hex && write_hex(o, e->data, e->data_size, &total) < 0)
        return -1;
    return total;
}

/* JSON keys are always present (null when absent) so scripts see one shape. */
long out_json(out_ctx *o, const ipm_packet_event *e, const dec_packet *d)
{
    long total = 0;
    lb b;
    b.n = 0;
    lb_str(&b, "{\"ts\":");
    lb_i64(&b, (int64_t)e->time_stamp.tv_sec);
    lb_chr(&b, '.');
    lb_fixed(&b, (uint64_t)e->time_stamp.tv_nsec, 9);
    /* the exact time: a float cannot hold nanoseconds since 1970 */
    lb_str(&b, ",\"ts_ns\":");
    if (e->time_stamp.tv_sec < 0)
        lb_chr(&b, '-'); /* before 1970: -(|sec| * 1e9 - nsec), printed without overflow */
    {
        uint64_t sec = e->time_stamp.tv_sec < 0 ? (uint64_t)0 - (uint64_t)e->time_stamp.tv_sec
                                                : (uint64_t)e->time_stamp.tv_sec;
        uint64_t ns = (uint64_t)e->time_stamp.tv_nsec;
        if (e->time_stamp.tv_sec < 0 && ns > 0) {
            sec -= 1;
            ns = 1000000000u - ns;
        }
        if (sec > 0) {
            lb_u64(&b, sec);
            lb_fixed(&b, ns, 9);
        } else {
            lb_u64(&b, ns);
        }
    }
    lb_str(&b, ",\"time\":\"");
    lb_str(&b, utc_date(o, e->time_stamp.tv_sec));
    lb_chr(&b, '.');
    lb_fixed(&b, (uint64_t)e->time_stamp.tv_nsec, 9);
    lb_str(&b, "Z\",\"adapter\":");
    lb_json_str_max(&b, e->adapter ? e->adapter : "", ADAPTER_TEXT_MAX);
    lb_str(&b, ",\"direction\":\"");
    lb_str(&b, direction_json(e->direction));
    lb_str(&b, "\",\"link_type\":");
    lb_i64(&b, e->link_type);
    lb_str(&b, ",\"len\":");
    lb_u64(&b, e->packet_size);
    lb_str(&b, ",\"caplen\":");
    lb_u64(&b, e->data_size);
    lb_str(&b, ",\"proto\":");
    lb_json_str(&b, d->proto);
    lb_str(&b, ",\"ip_version\":");
    lb_json_int_or_null(&b, d->ip_version, d->ip_version != 0);
    lb_str(&b, ",\"src\":");
    if (d->src[0])
        lb_json_str(&b, d->src);
    else
        lb_str(&b, "null");
    lb_str(&b, ",\"dst\":");
    if (d->dst[0])
        lb_json_str(&b, d->dst);
    else
        lb_str(&b, "null");
    lb_str(&b, ",\"sport\":");
    lb_json_int_or_null(&b, d->sport, d->sport >= 0);
    lb_str(&b, ",\"dport\":");
    lb_json_int_or_null(&b, d->dport, d->dport >= 0);
    lb_str(&b, ",\"tcp_flags\":");
    if (d->tcp_flags[0])
        lb_json_str(&b, d->tcp_flags);
    else
        lb_str(&b, "null");
    lb_str(&b, ",\"payload_len\":");
    lb_json_int_or_null(&b, d->payload_len, d->payload_len >= 0);
    lb_str(&b, ",\"vlan\":");
    lb_json_int_or_null(&b, d->vlan, d->vlan >= 0);
    lb_str(&b, ",\"mac_src\":");
    if (d->mac_src[0])
        lb_json_str(&b, d->mac_src);
    else
        lb_str(&b, "null");
    lb_str(&b, ",\"mac_dst\":");
    if (d->mac_dst[0])
        lb_json_str(&b, d->mac_dst);
    else
        lb_str(&b, "null");
    lb_str(&b, ",\"ethertype\":");
    lb_json_int_or_null(&b, d->ethertype, d->ethertype >= 0);
    lb_str(&b, ",\"ip_proto\":");
    lb_json_int_or_null(&b, d->ip_proto, d->ip_proto >= 0);
    lb_str(&b, ",\"icmp_type\":");
    lb_json_int_or_null(&b, d->icmp_type, d->icmp_type >= 0);
    lb_str(&b, ",\"icmp_code\":");
    lb_json_int_or_null(&b, d->icmp_code, d->icmp_code >= 0);
    lb_str(&b, ",\"info\":");
    lb_json_str(&b, d->info);
    lb_str(&b, ",\"truncated\":");
    lb_str(&b, d->truncated ? "true" : "false");
    if (!o->hex) {
        lb_str(&b, "}\n");
        return lb_write(&b, o->f, &total) < 0 ? -1 : total;
    }
    /* The bytes as one hex string, written in chunks after the head. */
    static const char hex[] = "0123456789abcdef";
    lb_str(&b, ",\"data\":\"");
    for (uint32_t i = 0; i < e->data_size; i++) {
        if (b.n > sizeof b.buf - 8) {
            if (lb_write(&b, o->f, &total) < 0)
                return -1;
            b.n = 0;
        }
        lb_chr(&b, hex[e->data[i] >> 4]);
        lb_chr(&b, hex[e->data[i] & 15]);
    }
    lb_str(&b, "\"}\n");
    return lb_write(&b, o->f, &total) < 0 ? -1 : total;
}
