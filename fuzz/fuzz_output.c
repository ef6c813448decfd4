/*
 * fuzz_output.c - fuzz target "output": every per-packet output format of
 * `ipmon capture` (the text line, -e, -x, -X, --nano, --json, --json -x),
 * through ipmon's own code (cli/decode.c, cli/output.c, linked, not copied).
 *
 * Input: byte 0 the options (bit 0 --nano, bit 1 -e, bits 2-3 hex 0/1/2,
 * bits 4-7 the link type), bytes 1-8 the seconds, 9-12 the nanoseconds
 * (reduced below 10^9, as the library hands them over), 13-16 the wire
 * length, 17 the direction, 18-19 the adapter name's length (a file path
 * can be as long as PATH_MAX), then the name and the packet. Both the text and the JSON form are written to memory
 * and checked: the text line is one line, a hex dump has one line per 16
 * bytes, the JSON is one well-formed object on one line.
 */
#include "fuzz.h"

#include <pcap/dlt.h>
#include <string.h>

#include "decode.h"
#include "output.h"

static const int link_types[16] = {
    DLT_EN10MB, DLT_EN10MB, DLT_EN10MB, DLT_EN10MB, DLT_LINUX_SLL, DLT_LINUX_SLL2,
    DLT_RAW, DLT_IPV4, DLT_IPV6, DLT_NULL, DLT_LOOP, DLT_EN10MB, DLT_IEEE802_11,
    147, DLT_LINUX_SLL, DLT_RAW};

/* ---- a strict JSON reader, enough to say "well-formed" ---- */

typedef struct jr {
    const char *p, *end;
    int depth;
} jr;

static int j_value(jr *r);

static void j_ws(jr *r)
{
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\t'))
        r->p++;
}

static int j_lit(jr *r, const char *lit)
{
    size_t n = strlen(lit);
    if ((size_t)(r->end - r->p) < n || memcmp(r->p, lit, n) != 0)
        return 0;
    r->p += n;
    return 1;
}

/* The length of the UTF-8 sequence at p (shortest form, no surrogates,
 * at most U+10FFFF), or 0 when it is not one. */
static int utf8_len(const unsigned char *p, const unsigned char *end)
{
    unsigned c = p[0];
    int n = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
    if (n == 0 || end - p < n)
        return 0;
    uint32_t cp = n == 1 ? c : c & (0x7f >> n);
    for (int i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (p[i] & 0x3f);
    }
    static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

static int j_string(jr *r)
{
    if (r->p >= r->end || *r->p != '"')
        return 0;
    for (r->p++; r->p < r->end; r->p++) {
        unsigned char c = (unsigned char)*r->p;
        if (c == '"') {
            r->p++;
            return 1;
        }
        if (c < 0x20)
            return 0;
        if (c >= 0x80) { /* JSON text is UTF-8 (RFC 8259) */
            int n = utf8_len((const unsigned char *)r->p, (const unsigned char *)r->end);
            if (n == 0)
                return 0;
            r->p += n - 1;
            continue;
        }
        if (c == '\\') {
            if (++r->p >= r->end)
                return 0;
            if (*r->p == 'u') {
                for (int i = 0; i < 4; i++)
                    if (++r->p >= r->end || !strchr("0123456789abcdefABCDEF", *r->p) || !*r->p)
                        return 0;
            } else if (!strchr("\"\\/bfnrt", *r->p) || !*r->p) {
                return 0;
            }
        }
    }
    return 0;
}

static int j_number(jr *r)
{
    const char *s = r->p;
    if (r->p < r->end && *r->p == '-')
        r->p++;
    if (r->p >= r->end || *r->p < '0' || *r->p > '9')
        return 0;
    if (*r->p == '0' && r->p + 1 < r->end && r->p[1] >= '0' && r->p[1] <= '9')
        return 0; /* no leading zeros */
    while (r->p < r->end && *r->p >= '0' && *r->p <= '9')
        r->p++;
    if (r->p < r->end && *r->p == '.') {
        r->p++;
        if (r->p >= r->end || *r->p < '0' || *r->p > '9')
            return 0;
        while (r->p < r->end && *r->p >= '0' && *r->p <= '9')
            r->p++;
    }
    return r->p > s;
}

static int j_value(jr *r)
{
    j_ws(r);
    if (r->p >= r->end)
        return 0;
    switch (*r->p) {
    case '"': return j_string(r);
    case 't': return j_lit(r, "true");
    case 'f': return j_lit(r, "false");
    case 'n': return j_lit(r, "null");
    case '{':
        if (++r->depth > 4)
            return 0;
        r->p++;
        j_ws(r);
        if (r->p < r->end && *r->p == '}') {
            r->p++;
            r->depth--;
            return 1;
        }
        for (;;) {
            j_ws(r);
            if (!j_string(r))
                return 0;
            j_ws(r);
            if (!j_lit(r, ":") || !j_value(r))
                return 0;
            j_ws(r);
            if (j_lit(r, ","))
                continue;
            if (!j_lit(r, "}"))
                return 0;
            r->depth--;
            return 1;
        }
    default: return j_number(r);
    }
}

/* ---- the target ---- */

static char outbuf[1 << 20];

/* Run one format into memory; returns the bytes written. */
static size_t render(out_ctx *o, int json, const ipm_packet_event *e, const dec_packet *d)
{
    FILE *f = fmemopen(outbuf, sizeof outbuf, "w");
    FUZZ_CHECK(f != NULL, "fmemopen failed");
    setvbuf(f, NULL, _IONBF, 0); /* ipmon's stdout is buffered, the bytes are the same */
    o->f = f;
    long rc = json ? out_json(o, e, d) : out_text(o, e, d);
    FUZZ_CHECK(rc >= 0, "writing the %s form failed", json ? "JSON" : "text");
    long n = ftell(f);
    fclose(f);
    FUZZ_CHECK(n > 0 && (size_t)n < sizeof outbuf, "%ld bytes written", n);
    FUZZ_CHECK(rc == n, "the %s form said %ld bytes, wrote %ld", json ? "JSON" : "text", rc, n);
    return (size_t)n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 20)
        return 0;
    int64_t sec;
    uint32_t nsec, wire;
    memcpy(&sec, data + 1, 8);
    memcpy(&nsec, data + 9, 4);
    memcpy(&wire, data + 13, 4);
    size_t name_len = (size_t)data[18] | (size_t)data[19] << 8;
    if (size < 20 + name_len)
        return 0;
    static char name[65536];
    memcpy(name, data + 20, name_len);
    name[name_len] = '\0';
    const uint8_t *pkt = data + 20 + name_len;
    uint32_t caplen = (uint32_t)(size - 20 - name_len);

    ipm_packet_event e;
    memset(&e, 0, sizeof e);
    e.time_stamp.tv_sec = (time_t)sec;
    e.time_stamp.tv_nsec = (long)(nsec % 1000000000u);
    e.packet_size = wire;
    e.data = pkt;
    e.data_size = caplen;
    e.direction = (int)(data[17] % 4) - 1;
    e.adapter_index = -1;
    e.adapter = (data[0] & 0x0c) == 0x0c ? NULL : name;
    e.link_type = link_types[data[0] >> 4];

    /* data[17]'s upper bits: -v, the -t format, -q, relative sequence numbers */
    int extra = data[17] >> 2;
    dec_packet d;
    dec_packet_decode_verbose(&d, e.link_type, pkt, caplen, extra & 1);
    static dec_seq_table seqs;
    if (extra & 32)
        dec_seq_relative(&seqs, &d);
    FUZZ_CHECK(d.proto && d.proto[0], "no protocol name");

    out_ctx o;
    out_init(&o, NULL);
    o.nano = data[0] & 1;
    o.link_level = (data[0] >> 1) & 1;
    o.hex = (data[0] >> 2) & 3;
    if (o.hex == 3)
        o.hex = 0;
    o.verbose = extra & 1;
    o.time_format = (extra >> 1) % 6;
    o.quiet = (extra >> 4) & 1;
    if (o.time_format == 3 || o.time_format == 5) { /* a reference from an earlier packet */
        o.have_ref = 1;
        memcpy(&o.ref_sec, data + 1, 8);
        o.ref_sec = ~o.ref_sec;
        o.ref_nsec = nsec % 1000000000u / 2;
    }

    /* The text line, then the hex dump: one line of 16 bytes each. */
    size_t n = render(&o, 0, &e, &d);
    const char *nl = memchr(outbuf, '\n', n);
    FUZZ_CHECK(nl != NULL, "the text line has no newline");
    FUZZ_CHECK(memchr(outbuf, '\0', (size_t)(nl - outbuf)) == NULL, "a NUL in the text line");
    size_t lines = 0;
    for (size_t i = 0; i < n; i++)
        lines += outbuf[i] == '\n';
    size_t want = 1 + (o.hex ? (caplen + 15) / 16 : 0);
    /* (A file path may hold a newline, which the text line prints as is.) */
    if (!e.adapter || !strchr(e.adapter, '\n'))
        FUZZ_CHECK(outbuf[n - 1] == '\n' && lines == want, "%zu lines, expected %zu", lines,
                   want);

    /* The JSON object (with -x its "data" holds the bytes as hex). */
    n = render(&o, 1, &e, &d);
    FUZZ_CHECK(outbuf[n - 1] == '\n' && memchr(outbuf, '\n', n - 1) == NULL,
               "the JSON form is not exactly one line");
    jr r = {outbuf, outbuf + n - 1, 0};
    FUZZ_CHECK(j_value(&r) && r.p == r.end, "malformed JSON at byte %zu: %.*s",
               (size_t)(r.p - outbuf), (int)(n - 1), outbuf);
    /* Every key is there: the object ends with the last key, or with the
     * packet's bytes, all of them. */
    if (o.hex) {
        const char *tail = ",\"data\":\"";
        size_t tlen = strlen(tail), hex = 2 * (size_t)caplen;
        FUZZ_CHECK(n >= tlen + hex + 3 && memcmp(outbuf + n - 3 - hex - tlen, tail, tlen) == 0 &&
                       memcmp(outbuf + n - 3, "\"}\n", 3) == 0,
                   "the JSON object does not end with the packet's %u bytes", caplen);
    } else {
        const char *tail = d.truncated ? ",\"truncated\":true}\n" : ",\"truncated\":false}\n";
        size_t tlen = strlen(tail);
        FUZZ_CHECK(n >= tlen && memcmp(outbuf + n - tlen, tail, tlen) == 0,
                   "the JSON object does not end with its last key");
    }
    return 0;
}
