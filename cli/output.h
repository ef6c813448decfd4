/*
 * output.h - the per-packet output formats of ipmon capture.
 *
 * A text line (tcpdump-like), a JSON line, and a hex dump. Each packet is
 * formatted into one fixed buffer and written with one fwrite: no
 * allocation, and the local-time conversion is cached per second (glibc's
 * time-zone code is slow when called per packet).
 */
#ifndef IPMON_OUTPUT_H
#define IPMON_OUTPUT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "decode.h"
#include "ipmonitor.h"

typedef struct out_ctx {
    FILE *f;
    int nano;        /* print 9 fraction digits instead of 6 (--time-stamp-precision=nano) */
    /* The time column, by the number of -t as tcpdump: 0 local HH:MM:SS.frac,
     * 1 none, 2 epoch seconds.frac, 3 delta since the previous packet,
     * 4 local date and time, 5 delta since the first packet. */
    int time_format;
    int verbose;     /* -v: the IP and TCP facts of dec_packet_decode_verbose */
    int ascii;       /* -A: the packet from its network header as ASCII */
    int quiet;       /* -q: protocol, addresses and payload length only */
    int64_t ref_sec, ref_nsec; /* -ttt / -ttttt: the previous (or first) packet's time */
    int have_ref;
    int link_level;  /* -e: also print the MAC addresses */
    int hex;         /* 0 none, 1 hex (-x), 2 hex and ASCII (-X) */
    /* One-second caches of the formatted local and UTC times. */
    time_t local_sec, utc_sec;
    char local_hms[40]; /* "YYYY-MM-DD HH:MM:SS" (the time is its last 8) */
    char utc_date[80];
} out_ctx;

void out_init(out_ctx *o, FILE *f);

/* Write one packet; returns the bytes handed to the stream (the record's
 * length, for sink_record), or -1 when fwrite said it failed. A failed
 * flush of a line-buffered stream is not always seen by fwrite: check the
 * sink (sink_failed) after each packet. */
long out_text(out_ctx *o, const ipm_packet_event *e, const dec_packet *d);
long out_json(out_ctx *o, const ipm_packet_event *e, const dec_packet *d);

/* Copy `s` into `dst` as the inside of a JSON string (no quotes), always
 * NUL-terminated; cuts at a character boundary when `cap` is too small.
 * Bytes that are not UTF-8 become U+FFFD, so the text is valid UTF-8.
 * Returns the length written. */
size_t json_escape(char *dst, size_t cap, const char *s);

/* Print a JSON string value with quotes, escaped, to `f`. */
void json_fputs(FILE *f, const char *s);

/* "IN", "OUT" or "-" for an IPM_PACKET_DIRECTION_* value. */
const char *out_direction_text(int direction);

#endif
