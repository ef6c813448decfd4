/*
 * cmd_stats.c - `ipmon stats`: traffic statistics per adapter and interval.
 *
 * One monitor in statistics mode on the adapters named with -i
 * (ipm_activate_many), or without -i on every adapter, following the host
 * (ipm_activate_matching: adapters that appear are added to the view as
 * they come, ones that disappear are marked gone and the rest go on; a
 * named one that comes back is counted again), with config
 * StatisticsDetail=True, so each on_statistics event carries the
 * direction, protocol and address-family splits. do_events runs in a loop;
 * its events are summed per adapter until the interval (CLOCK_MONOTONIC)
 * has passed, then shown: in the live view on a terminal (view.c, on
 * ncurses, like iftop or bmon), as one line per adapter and interval when
 * piped or with --plain, or as JSON lines. At the end (-t, Ctrl-C, SIGTERM,
 * `q` in the view) the last packets still in the kernel's ring are
 * collected and the totals printed: a small aligned table after the view,
 * machine lines (key=value or JSON) otherwise.
 *
 * With -r FILE (or -r - for standard input) the same lines come from a
 * capture file, as fast as it reads: the monitor reads the file in capture
 * mode and each packet is counted here, in the interval its own time stamp
 * falls in (interval k covers [t0 + k*I, t0 + (k+1)*I), t0 the first
 * packet's time), classified by ipm_decode() as the library's detailed
 * statistics classify (its family and protocol class) and by the packet's
 * direction. The library's statistics events cannot do this: a file's are
 * fired once per do_events, which reads the whole file. An interval is
 * printed when the first packet past it comes (and the empty ones between,
 * with zero counts, as live); the last at the end of the file, then the
 * totals. Adapters are the file's interfaces (pcapng if_name), else its
 * path.
 *
 * The output goes through a sink (sink.h), flushed and checked after every
 * interval: a failed write stops the command at once with its real errno
 * (a closed pipe quietly, with status 0), instead of counting on.
 */
#include <getopt.h>
#include <math.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "output.h"
#include "sink.h"
#include "view.h"

#define CMD "stats"
#define MAX_ADAPTERS 1024 /* slots: adapters watched over the whole run */

typedef struct counters {
    int64_t packets, bytes, dropped, ifdropped;
    int64_t in_p, in_b, out_p, out_b;
    int64_t proto_p[IPM_PROTO_COUNT], proto_b[IPM_PROTO_COUNT];
    int64_t fam_p[IPM_FAMILY_COUNT], fam_b[IPM_FAMILY_COUNT];
} counters;

typedef struct slot {
    char name[128];
    int index; /* in the library's adapter list */
    int gone;  /* 1: disappeared (the library said so); 2: and its last interval was printed */
    counters interval, total;
} slot;

enum { MODE_LINES, MODE_LIVE, MODE_JSON };

typedef struct stats_state {
    ipm_monitor *m;
    slot slots[MAX_ADAPTERS];
    int n;
    int detail;
    int mode;
    double interval, duration;
    double start;
    int64_t unmatched; /* events beyond MAX_ADAPTERS slots */
    int following;     /* no -i: every adapter, as they come and go */
    const char *engine; /* --engine: auto (NULL), kernel or ring */
    char engine_shown[64]; /* what counts, for the view's header */
    sink out;          /* standard output */
    /* -r FILE: intervals by the file's time stamps */
    const char *read_file;
    const char *file_path;     /* what the library opened: read_file, /dev/stdin for -r - */
    int64_t file_interval_ns;  /* I */
    int64_t file_t0_ns;        /* the first packet's time */
    int64_t file_last_ns;      /* the latest packet's time */
    int64_t file_interval;     /* k of the interval being counted, -1 before the first packet */
    int file_write_failed;
} stats_state;

static void usage(void)
{
    fputs("Usage: ipmon stats [OPTIONS] [FILTER EXPRESSION...]\n"
          "       ipmon [OPTIONS]\n"
          "\n"
          "Count packets and bytes per adapter and interval: packets/s, bits/s, kernel\n"
          "drops, and the split by direction (in/out), protocol (TCP, UDP, ICMP, other)\n"
          "and family (IPv4, IPv6). On a terminal a live view refreshes in place;\n"
          "piped (or with --plain), each interval prints one line per adapter.\n"
          "Totals follow at the end.\n"
          "An optional pcap-filter(7) expression limits what is counted.\n"
          "\n"
          "  -i ADAPTER     adapter to watch; repeat (or separate with commas) for more\n"
          "                 (default: every adapter that is up, and those that appear\n"
          "                 while it runs; one that disappears is marked gone)\n"
          "  -r FILE        the statistics of a pcap or pcapng file ('-': standard input),\n"
          "                 read as fast as it can: intervals by the packets' time\n"
          "                 stamps from the first packet's, a line per interface of the\n"
          "                 file (plain lines, or --json), then the totals over the file\n"
          "  -I SECONDS     interval between reports (default 1; fractions allowed)\n"
          "  -t SECONDS     stop after this long (default: run until Ctrl-C)\n"
          "  -j, --json     JSON lines: {\"type\":\"interval\",...} and {\"type\":\"total\",...}\n"
          "      --plain    plain lines even on a terminal\n"
          "      --engine auto|kernel|ring\n"
          "                 who counts: kernel counts in an eBPF program on the capture\n"
          "                 socket (no copy, no ring, no drops; needs CAP_BPF besides\n"
          "                 CAP_NET_RAW), ring counts the packets from a ring as\n"
          "                 tcpdump reads them; auto (default) takes kernel where it\n"
          "                 can and says why where it cannot\n"
          "  -h, --help     this help\n"
          "\n"
          "Keys in the live view: q quit (totals follow, as after Ctrl-C); r, d, n sort\n"
          "by rate, drops, name; p or space pause; arrows, PgUp, PgDn, Home, End scroll.\n"
          "Narrower than the full table, the view drops columns in this order: IP4%/IP6%,\n"
          "TCP%/UDP%/ICM%/OTH%, BYTES, PACKETS, IN/OUT, PKT/S (ADAPTER, TOTAL and DROPS\n"
          "stay; long names are cut with an ellipsis).\n"
          "\n"
          "Examples:\n"
          "  ipmon                       live table of every adapter that is up\n"
          "  ipmon stats -i eth0 -I 5    one adapter, a report every 5 seconds\n"
          "  ipmon stats -t 10 --json    ten seconds of JSON lines, then totals\n"
          "  ipmon stats -r trace.pcap -I 60 tcp\n"
          "                              TCP per minute of the trace, and its totals\n",
          stdout);
}

static int add_adapter_names(stats_state *st, const ipm_monitor *m, const char *list)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", list);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (!*tok)
            continue;
        int dup = 0;
        for (int i = 0; i < st->n; i++)
            dup |= strcmp(st->slots[i].name, tok) == 0;
        if (dup)
            continue;
        if (st->n == MAX_ADAPTERS)
            return cli_usage_error(CMD, "at most %d adapters", MAX_ADAPTERS);
        int idx = ipm_find_adapter(m, tok);
        if (idx < 0)
            return cli_error("no adapter named '%s' (see 'ipmon list')", tok);
        snprintf(st->slots[st->n].name, sizeof st->slots[st->n].name, "%s", tok);
        st->slots[st->n].index = idx;
        st->n++;
    }
    return EXIT_OK;
}

/* The slot of adapter index `index` (or name), added if new; NULL when
 * the table is full. */
static slot *slot_for(stats_state *st, int index, const char *name)
{
    for (int i = 0; i < st->n; i++) {
        slot *s = &st->slots[i];
        if (s->index == index || (name && strcmp(s->name, name) == 0))
            return s;
    }
    if (st->n == MAX_ADAPTERS || !name)
        return NULL;
    slot *s = &st->slots[st->n++];
    memset(s, 0, sizeof *s);
    snprintf(s->name, sizeof s->name, "%s", name);
    s->index = index;
    return s;
}

/* Every adapter that is up, except pseudo-devices such as "any" (what the
 * library follows at first; more come as they appear). */
static int add_default_adapters(stats_state *st, const ipm_monitor *m)
{
    int count = ipm_get_adapter_count(m);
    for (int i = 0; i < count && st->n < MAX_ADAPTERS; i++) {
        const char *name = ipm_get_adapter_name(m, i);
        if (!name || cli_is_pseudo_adapter(name) || ipm_get_adapter_is_up(m, i) <= 0)
            continue;
        snprintf(st->slots[st->n].name, sizeof st->slots[st->n].name, "%s", name);
        st->slots[st->n].index = i;
        st->n++;
    }
    return EXIT_OK; /* none up: the view waits for adapters */
}

static void counters_add(counters *c, const ipm_statistics_event *e)
{
    c->packets += e->captured_packets;
    c->bytes += e->captured_bytes;
    c->dropped += e->dropped;
    c->ifdropped += e->adapter_dropped;
    c->in_p += e->incoming_packets;
    c->in_b += e->incoming_bytes;
    c->out_p += e->outgoing_packets;
    c->out_b += e->outgoing_bytes;
    for (int i = 0; i < IPM_PROTO_COUNT; i++) {
        c->proto_p[i] += e->protocol_packets[i];
        c->proto_b[i] += e->protocol_bytes[i];
    }
    for (int i = 0; i < IPM_FAMILY_COUNT; i++) {
        c->fam_p[i] += e->family_packets[i];
        c->fam_b[i] += e->family_bytes[i];
    }
}

static int on_statistics(const ipm_statistics_event *e, void *user)
{
    stats_state *st = user;
    slot *s = slot_for(st, e->adapter_index, e->adapter);
    if (!s) {
        st->unmatched++;
        return 0;
    }
    counters_add(&s->interval, e);
    counters_add(&s->total, e);
    return 0;
}

/* Errors, and the notices of a view that follows the adapters: an adapter
 * that appeared gets its row, one gone is marked, one back unmarked. */
static void on_error(const ipm_error_event *e, void *user)
{
    stats_state *st = user;
    if (e->error_code == IPM_E_ADAPTER_ADDED || e->error_code == IPM_E_ADAPTER_BACK ||
        e->error_code == IPM_E_ADAPTER_GONE) {
        slot *s = slot_for(st, e->adapter_index, e->adapter);
        if (s)
            s->gone = e->error_code == IPM_E_ADAPTER_GONE;
    }
    char msg[512];
    snprintf(msg, sizeof msg, "%s%s%s", e->adapter ? e->adapter : "", e->adapter ? ": " : "",
             e->description ? e->description : ipm_strerror(e->error_code));
    /* On the terminal the view owns, stderr would scribble over it: the
     * view shows the message and writes it to stderr when it closes. */
    if (view_active() && isatty(STDERR_FILENO))
        view_note(msg);
    else
        cli_error("%s", msg);
}

/* ---- formatting helpers ---- */

static void wall_hms(char out[16])
{
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    strftime(out, 16, "%H:%M:%S", &tm);
}

static void wall_iso_utc(char out[48])
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char head[24];
    strftime(head, sizeof head, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, 48, "%s.%03dZ", head, (int)(ts.tv_nsec / 1000000) % 1000);
}

static int pct(int64_t part, int64_t whole)
{
    return whole > 0 ? (int)llround(100.0 * (double)part / (double)whole) : 0;
}

/* ---- plain lines ---- */

static void print_line(FILE *f, const char *label, const slot *s, const counters *c,
                       double secs)
{
    double pps = secs > 0 ? (double)c->packets / secs : 0;
    double bps = secs > 0 ? 8.0 * (double)c->bytes / secs : 0;
    fprintf(f, "%s %s packets=%lld bytes=%lld pps=%.1f bps=%.0f drops=%lld ifdrops=%lld "
           "in_packets=%lld in_bytes=%lld out_packets=%lld out_bytes=%lld "
           "tcp=%lld udp=%lld icmp=%lld other=%lld ipv4=%lld ipv6=%lld seconds=%.3f\n",
           label, s->name, (long long)c->packets, (long long)c->bytes, pps, bps,
           (long long)c->dropped, (long long)c->ifdropped, (long long)c->in_p,
           (long long)c->in_b, (long long)c->out_p, (long long)c->out_b,
           (long long)c->proto_p[IPM_PROTO_TCP], (long long)c->proto_p[IPM_PROTO_UDP],
           (long long)c->proto_p[IPM_PROTO_ICMP], (long long)c->proto_p[IPM_PROTO_OTHER],
           (long long)c->fam_p[IPM_FAMILY_IPV4], (long long)c->fam_p[IPM_FAMILY_IPV6], secs);
}

/* ---- JSON lines ---- */

static void print_json(FILE *f, const char *type, const stats_state *st, const slot *s,
                       const counters *c, double secs, const char *at)
{
    char when[48];
    if (at)
        snprintf(when, sizeof when, "%s", at);
    else
        wall_iso_utc(when);
    double pps = secs > 0 ? (double)c->packets / secs : 0;
    double bps = secs > 0 ? 8.0 * (double)c->bytes / secs : 0;
    fprintf(f, "{\"type\":\"%s\",\"time\":\"%s\",\"adapter\":", type, when);
    json_fputs(f, s->name);
    fprintf(f, ",\"seconds\":%.3f,\"packets\":%lld,\"bytes\":%lld,\"pps\":%.3f,\"bps\":%.3f,"
           "\"dropped\":%lld,\"adapter_dropped\":%lld,\"detail\":%s",
           secs, (long long)c->packets, (long long)c->bytes, pps, bps, (long long)c->dropped,
           (long long)c->ifdropped, st->detail ? "true" : "false");
    fprintf(f, ",\"in_packets\":%lld,\"in_bytes\":%lld,\"out_packets\":%lld,\"out_bytes\":%lld",
           (long long)c->in_p, (long long)c->in_b, (long long)c->out_p, (long long)c->out_b);
    static const char *const pn[IPM_PROTO_COUNT] = {"tcp", "udp", "icmp", "other"};
    for (int i = 0; i < IPM_PROTO_COUNT; i++)
        fprintf(f, ",\"%s_packets\":%lld,\"%s_bytes\":%lld", pn[i], (long long)c->proto_p[i], pn[i],
               (long long)c->proto_b[i]);
    static const char *const fn[IPM_FAMILY_COUNT] = {"ipv4", "ipv6", "nonip"};
    for (int i = 0; i < IPM_FAMILY_COUNT; i++)
        fprintf(f, ",\"%s_packets\":%lld,\"%s_bytes\":%lld", fn[i], (long long)c->fam_p[i], fn[i],
               (long long)c->fam_b[i]);
    fprintf(f, "}\n");
}

/* ---- the live view (view.c) ---- */

static void fill_row(view_row *r, const char *name, int gone, const counters *c,
                     const counters *tot, double secs)
{
    double k = secs > 0 ? 8.0 / secs : 0;
    memset(r, 0, sizeof *r);
    r->name = name;
    r->gone = gone;
    r->in_bps = (double)c->in_b * k;
    r->out_bps = (double)c->out_b * k;
    r->bps = (double)c->bytes * k;
    r->pps = secs > 0 ? (double)c->packets / secs : 0;
    r->drops = c->dropped;
    r->pct_tcp = pct(c->proto_p[IPM_PROTO_TCP], c->packets);
    r->pct_udp = pct(c->proto_p[IPM_PROTO_UDP], c->packets);
    r->pct_icmp = pct(c->proto_p[IPM_PROTO_ICMP], c->packets);
    r->pct_other = pct(c->proto_p[IPM_PROTO_OTHER], c->packets);
    r->pct_ip4 = pct(c->fam_p[IPM_FAMILY_IPV4], c->packets);
    r->pct_ip6 = pct(c->fam_p[IPM_FAMILY_IPV6], c->packets);
    r->packets = tot->packets;
    r->bytes = tot->bytes;
}

/* Add every counter of `b` to `a`. */
static void counters_sum(counters *a, const counters *b)
{
    int64_t *x = (int64_t *)a;
    const int64_t *y = (const int64_t *)b;
    for (size_t j = 0; j < sizeof(counters) / sizeof(int64_t); j++)
        x[j] += y[j];
}

/* Hand the view this interval's rows (and a TOTAL row for several
 * adapters); returns -1 when the terminal went away. */
static int show_view(const stats_state *st, double secs)
{
    static view_row rows[MAX_ADAPTERS + 1];
    counters sum_i, sum_t;
    memset(&sum_i, 0, sizeof sum_i);
    memset(&sum_t, 0, sizeof sum_t);
    for (int i = 0; i < st->n; i++) {
        const slot *s = &st->slots[i];
        fill_row(&rows[i], s->name, s->gone != 0, &s->interval, &s->total, secs);
        counters_sum(&sum_i, &s->interval);
        counters_sum(&sum_t, &s->total);
    }
    int n = st->n, has_total = st->n > 1;
    if (has_total)
        fill_row(&rows[n++], "TOTAL", 0, &sum_i, &sum_t, secs);
    view_info info = {.interval = st->interval, .running = cli_now() - st->start,
                      .detail = st->detail, .engine = st->engine_shown};
    return view_frame(rows, n, has_total, &info);
}

/* After the view: the totals as a small aligned table for people. */
static void print_human_totals(FILE *f, const stats_state *st, double secs)
{
    int namew = 7;
    for (int i = 0; i < st->n; i++) {
        int len = (int)strlen(st->slots[i].name) + (st->slots[i].gone ? 7 : 0);
        if (len > namew)
            namew = len;
    }
    fprintf(f, "totals over %.1f s:\n", secs);
    fprintf(f, "%-*s %12s %14s %11s %8s\n", namew, "ADAPTER", "PACKETS", "BYTES", "AVG RATE",
            "DROPS");
    counters sum;
    memset(&sum, 0, sizeof sum);
    for (int i = 0; i <= st->n; i++) {
        const counters *c = &sum;
        char label[160], rate[32];
        if (i < st->n) {
            const slot *s = &st->slots[i];
            c = &s->total;
            counters_sum(&sum, c);
            snprintf(label, sizeof label, "%s%s", s->name, s->gone ? " (gone)" : "");
        } else if (st->n > 1) {
            snprintf(label, sizeof label, "TOTAL");
        } else {
            break;
        }
        cli_human(rate, sizeof rate, secs > 0 ? 8.0 * (double)c->bytes / secs : 0, "b/s");
        fprintf(f, "%-*s %12lld %14lld %11s %8lld\n", namew, label, (long long)c->packets,
                (long long)c->bytes, rate, (long long)c->dropped);
    }
}

/* ---- the loop ---- */

/* Show one interval (print and flush it, or hand it to the view);
 * returns -1 when writing failed, -2 when the view's terminal went away. */
static int emit_interval(stats_state *st, double secs)
{
    FILE *f = st->out.f;
    char hms[16];
    wall_hms(hms);
    int rc = 0;
    if (st->mode == MODE_LIVE && show_view(st, secs) != 0)
        rc = -2;
    for (int i = 0; i < st->n; i++) {
        slot *s = &st->slots[i];
        /* A gone adapter's lines stop after the interval it went in (which
         * holds its last packets); the table keeps its row, marked. */
        if (s->gone == 2)
            continue;
        if (st->mode == MODE_LINES)
            print_line(f, hms, s, &s->interval, secs);
        else if (st->mode == MODE_JSON)
            print_json(f, "interval", st, s, &s->interval, secs, NULL);
        memset(&s->interval, 0, sizeof s->interval);
        if (s->gone)
            s->gone = 2;
    }
    if (rc != 0)
        return rc;
    return sink_flush(&st->out);
}

/* Print the totals and flush them; returns -1 when writing failed. */
static int emit_totals(stats_state *st, double secs)
{
    FILE *f = st->out.f;
    if (st->mode == MODE_LIVE) {
        print_human_totals(f, st, secs);
        return sink_flush(&st->out);
    }
    for (int i = 0; i < st->n; i++) {
        const slot *s = &st->slots[i];
        if (st->mode == MODE_JSON)
            print_json(f, "total", st, s, &s->total, secs, NULL);
        else
            print_line(f, "total", s, &s->total, secs);
    }
    return sink_flush(&st->out);
}

/* After the end, wait one packet timeout more so packets that are in the
 * kernel's ring but not yet handed over are still counted. */
static int drain(stats_state *st, int timeout_ms)
{
    double until = cli_now() + timeout_ms / 1000.0 + 0.05;
    while (cli_now() < until && ipm_get_active(st->m) > 0) {
        int rc = ipm_do_events(st->m);
        if (rc != IPM_OK && rc != IPM_E_HANDLER)
            return rc;
    }
    return IPM_OK;
}

/* The view's terminal hung up or closed: give it back (as far as it is
 * still there) and stop without totals, which have nowhere to go. */
static int terminal_gone(void)
{
    view_close();
    return cli_error("the terminal went away; stopped");
}

static int run(stats_state *st, int timeout_ms)
{
    double last = st->start, next = st->start + st->interval;
    double next_check = st->start + 0.1;
    double end = st->duration > 0 ? st->start + st->duration : INFINITY;
    int rc = EXIT_OK;
    while (!cli_stop && ipm_get_active(st->m) > 0) {
        int r = ipm_do_events(st->m);
        if (r != IPM_OK && r != IPM_E_HANDLER) {
            rc = EXIT_RUNTIME; /* on_error printed it */
            break;
        }
        /* `q` ends the view as Ctrl-C does: drain, then the totals. */
        if (st->mode == MODE_LIVE && view_keys() == VIEW_QUIT)
            break;
        double now = cli_now();
        if (now >= end)
            break;
        /* A closed pipe ends the command before the next interval is due
         * (intervals can be long); one poll(2) a few times a second. */
        if (now >= next_check) {
            next_check = now + 0.1;
            if (sink_check_reader(&st->out) != 0)
                return sink_report(&st->out, "");
        }
        if (now >= next) {
            int e = emit_interval(st, now - last);
            if (e == -2)
                return terminal_gone();
            if (e != 0)
                return sink_report(&st->out, ""); /* no totals: they cannot be written */
            last = now;
            next += st->interval;
            if (next <= now)
                next = now + st->interval;
        }
    }
    if (rc == EXIT_OK && drain(st, timeout_ms) != IPM_OK)
        rc = EXIT_RUNTIME;
    double now = cli_now();
    /* The view gives the terminal back before the totals are printed on
     * it; its last interval is not drawn (it would vanish at once). */
    int failed = 0;
    if (st->mode == MODE_LIVE)
        view_close();
    else
        failed = emit_interval(st, now - last) != 0;
    if (failed || emit_totals(st, now - st->start) != 0) {
        int wrc = sink_report(&st->out, "");
        return rc == EXIT_OK ? wrc : rc;
    }
    return rc;
}

/* ---- -r FILE: intervals by the file's time stamps ---- */

/* A time in nanoseconds since the epoch as the plain lines' label (local
 * HH:MM:SS, as live) and as JSON's "time" (UTC, milliseconds). */
static void file_time_texts(int64_t ns, char hms[16], char iso[48])
{
    int64_t sec = ns >= 0 ? ns / 1000000000 : -((-ns + 999999999) / 1000000000);
    int ms = (int)((ns - sec * 1000000000) / 1000000);
    time_t when = (time_t)sec;
    struct tm tm;
    char head[24] = "";
    if (localtime_r(&when, &tm))
        strftime(hms, 16, "%H:%M:%S", &tm);
    else
        snprintf(hms, 16, "?");
    if (gmtime_r(&when, &tm))
        strftime(head, sizeof head, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(iso, 48, "%s.%03dZ", head, ms);
}

/* Print the interval being counted (labelled with its start, in the file's
 * time; its seconds are the interval's length) and start the next. */
static void file_emit_interval(stats_state *st)
{
    char hms[16], iso[48];
    file_time_texts(st->file_t0_ns + st->file_interval * st->file_interval_ns, hms, iso);
    double secs = (double)st->file_interval_ns / 1e9;
    for (int i = 0; i < st->n; i++) {
        slot *s = &st->slots[i];
        if (st->mode == MODE_JSON)
            print_json(st->out.f, "interval", st, s, &s->interval, secs, iso);
        else
            print_line(st->out.f, hms, s, &s->interval, secs);
        memset(&s->interval, 0, sizeof s->interval);
    }
    st->file_interval++;
}

/* The slot of a file's interface, by name (a few string compares: a file
 * has few interfaces), added when new; NULL when the table is full. */
static slot *file_slot(stats_state *st, const char *name)
{
    if (strcmp(name, st->file_path) == 0)
        name = st->read_file; /* a file without interface names: as typed (-r -) */
    for (int i = 0; i < st->n; i++)
        if (strcmp(st->slots[i].name, name) == 0)
            return &st->slots[i];
    if (st->n == MAX_ADAPTERS)
        return NULL;
    slot *s = &st->slots[st->n++];
    memset(s, 0, sizeof *s);
    snprintf(s->name, sizeof s->name, "%s", name);
    s->index = -1;
    return s;
}

static void counters_add_packet(counters *c, int64_t bytes, int direction, int protocol, int family)
{
    c->packets++;
    c->bytes += bytes;
    if (direction == IPM_PACKET_DIRECTION_INCOMING) {
        c->in_p++;
        c->in_b += bytes;
    } else if (direction == IPM_PACKET_DIRECTION_OUTGOING) {
        c->out_p++;
        c->out_b += bytes;
    }
    c->proto_p[protocol]++;
    c->proto_b[protocol] += bytes;
    c->fam_p[family]++;
    c->fam_b[family] += bytes;
}

/* One packet of the file: close the intervals it is past (printing them,
 * the empty ones too), then count it. A packet stamped earlier than the
 * interval being counted (files are not always in time order) is counted
 * in it. Nothing is allocated. */
static int on_file_packet(const ipm_packet_event *e, void *user)
{
    stats_state *st = user;
    if (cli_stop || st->file_write_failed) {
        ipm_deactivate(st->m);
        return 0;
    }
    int64_t ns = (int64_t)e->time_stamp.tv_sec * 1000000000 + e->time_stamp.tv_nsec;
    if (st->file_interval < 0) {
        st->file_t0_ns = st->file_last_ns = ns;
        st->file_interval = 0;
    }
    if (ns > st->file_last_ns)
        st->file_last_ns = ns;
    if (ns - st->file_t0_ns >= (st->file_interval + 1) * st->file_interval_ns) {
        int64_t k = (ns - st->file_t0_ns) / st->file_interval_ns;
        while (st->file_interval < k && !sink_failed(&st->out))
            file_emit_interval(st);
        if (sink_failed(&st->out)) {
            st->file_write_failed = 1;
            ipm_deactivate(st->m);
            return 0;
        }
    }
    slot *s = file_slot(st, e->adapter ? e->adapter : st->file_path);
    if (!s) {
        st->unmatched++;
        return 0;
    }
    ipm_decoded d;
    ipm_decode(e->link_type, e->data, e->data_size, &d);
    int protocol = d.protocol >= 0 && d.protocol < IPM_PROTO_COUNT ? d.protocol : IPM_PROTO_OTHER;
    int family = d.family >= 0 && d.family < IPM_FAMILY_COUNT ? d.family : IPM_FAMILY_OTHER;
    counters_add_packet(&s->interval, e->packet_size, e->direction, protocol, family);
    counters_add_packet(&s->total, e->packet_size, e->direction, protocol, family);
    return 0;
}

/* ipmon stats -r: read the file to its end, then the last interval and
 * the totals (over the time from the first packet to the last). */
static int run_file(stats_state *st, const char *filter)
{
    ipm_monitor *m = st->m;
    st->file_interval = -1;
    st->file_interval_ns = (int64_t)llround(st->interval * 1e9);
    if (ipm_set_operation_mode(m, IPM_OM_CAPTURE) != IPM_OK || ipm_set_filter(m, filter) != IPM_OK)
        return cli_lib_error(m);
    ipm_set_on_packet(m, on_file_packet, st);
    const char *path = strcmp(st->read_file, "-") == 0 ? "/dev/stdin" : st->read_file;
    st->file_path = path;
    if (ipm_activate(m, path) != IPM_OK) {
        const char *msg = ipm_last_error(m), *at = msg ? strstr(msg, "\"/dev/stdin\"") : NULL;
        if (path == st->read_file || !at)
            return cli_lib_error(m);
        /* the library names the path it opened; the user typed "-" */
        return cli_error("%.*sstandard input (-r -)%s", (int)(at - msg), msg, at + strlen("\"/dev/stdin\""));
    }
    int dlt = ipm_get_link_type(m);
    const char *lt = pcap_datalink_val_to_name(dlt), *ltd = pcap_datalink_val_to_description(dlt);
    fprintf(stderr, "reading from file %s, link-type %s (%s), interval %g s\n", st->read_file,
            lt ? lt : "unknown", ltd ? ltd : "unknown", st->interval);
    fflush(stderr);
    int rc = EXIT_OK;
    while (!cli_stop && !st->file_write_failed && ipm_get_active(m) > 0) {
        int r = ipm_do_events(m);
        if (r != IPM_OK && r != IPM_E_HANDLER) {
            rc = EXIT_RUNTIME; /* on_error printed it */
            break;
        }
    }
    if (st->file_write_failed)
        return sink_report(&st->out, "");
    if (st->file_interval >= 0)
        file_emit_interval(st);
    double secs = st->file_interval >= 0 ? (double)(st->file_last_ns - st->file_t0_ns) / 1e9 : 0;
    if (emit_totals(st, secs) != 0) {
        int wrc = sink_report(&st->out, "");
        return rc == EXIT_OK ? wrc : rc;
    }
    return rc;
}

/* Parse; returns -1 to go on, else an exit code. Adapter names are kept
 * in `names` (joined with commas) until the list is read. */
static int parse_args(int argc, char **argv, stats_state *st, char *names, size_t cap,
                      char **filter)
{
    enum { OPT_PLAIN = 256, OPT_ENGINE };
    static const struct option opts[] = {{"interface", required_argument, NULL, 'i'},
                                         {"interval", required_argument, NULL, 'I'},
                                         {"time", required_argument, NULL, 't'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"plain", no_argument, NULL, OPT_PLAIN},
                                         {"engine", required_argument, NULL, OPT_ENGINE},
                                         {"read", required_argument, NULL, 'r'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int json = 0, plain = 0, c;
    st->interval = 1.0;
    st->duration = 0;
    names[0] = '\0';
    opterr = 0;
    /* 0, not 1: glibc then also forgets a cluster of short options an
     * earlier parse left half-read ("-hx"), which 1 would go on reading. */
    optind = 0;
    while ((c = getopt_long(argc, argv, ":i:I:t:r:jh", opts, NULL)) != -1) {
        switch (c) {
        case 'i': {
            size_t len = strlen(names);
            if (len + strlen(optarg) + 2 > cap)
                return cli_usage_error(CMD, "too many adapters");
            snprintf(names + len, cap - len, "%s%s", len ? "," : "", optarg);
            break;
        }
        case 'I':
            if (cli_parse_seconds(CMD, "-I", optarg, 0.01, &st->interval) < 0)
                return EXIT_USAGE;
            break;
        case 't':
            if (cli_parse_seconds(CMD, "-t", optarg, 0.01, &st->duration) < 0)
                return EXIT_USAGE;
            break;
        case 'j': json = 1; break;
        case 'r': st->read_file = optarg; break;
        case OPT_PLAIN: plain = 1; break;
        case OPT_ENGINE:
            if (strcmp(optarg, "auto") != 0 && strcmp(optarg, "kernel") != 0 && strcmp(optarg, "ring") != 0)
                return cli_usage_error(CMD, "--engine takes auto, kernel or ring, not \"%s\"", optarg);
            st->engine = strcmp(optarg, "auto") == 0 ? NULL : optarg;
            break;
        case 'h': usage(); return EXIT_OK;
        default: return cli_getopt_error(CMD, c, argv);
        }
    }
    if (st->read_file && names[0])
        return cli_usage_error(CMD, "-r reads a file and -i watches adapters: give one of them");
    if (st->read_file && st->duration > 0)
        return cli_usage_error(CMD, "-t stops a live run; a -r file is read to its end");
    if (st->read_file && st->engine)
        return cli_usage_error(CMD, "--engine chooses who counts live adapters; a -r file is read by ipmon");
    if (st->read_file && !*st->read_file)
        return cli_usage_error(CMD, "-r needs a file name ('-' for standard input)");
    const char *term = getenv("TERM");
    if (st->read_file) /* no live view for a file: it is read in an instant */
        st->mode = json ? MODE_JSON : MODE_LINES;
    else if (json)
        st->mode = MODE_JSON;
    else if (!plain && isatty(STDOUT_FILENO) && !(term && strcmp(term, "dumb") == 0))
        st->mode = MODE_LIVE;
    else
        st->mode = MODE_LINES;
    *filter = cli_join_words(argc - optind, argv + optind);
    if (!*filter)
        return cli_error("out of memory");
    return -1;
}

/* The packet timeout: short enough that intervals end on time. */
static int packet_timeout_ms(double interval)
{
    int ms = (int)(interval * 1000.0 / 10.0);
    return ms < 10 ? 10 : ms > 200 ? 200 : ms;
}

static int setup(stats_state *st, const char *names, const char *filter, int timeout_ms)
{
    ipm_monitor *m = st->m;
    /* The interval's timeout also for adapters that appear later (set
     * before listing: every adapter listed now takes it too). */
    if (ipm_set_adapter_packet_timeout(m, IPM_ADAPTER_DEFAULTS, timeout_ms) != IPM_OK)
        return cli_lib_error(m);
    if (ipm_list_adapters(m) != IPM_OK)
        return cli_lib_error(m);
    st->following = names[0] == '\0';
    int rc = names[0] ? add_adapter_names(st, m, names) : add_default_adapters(st, m);
    if (rc != EXIT_OK)
        return rc;
    if (ipm_set_operation_mode(m, IPM_OM_STAT) != IPM_OK)
        return cli_lib_error(m);
    st->detail = ipm_config(m, "StatisticsDetail=True") != NULL;
    if (st->engine) {
        char setting[64];
        snprintf(setting, sizeof setting, "StatisticsEngine=%s", st->engine);
        if (!ipm_config(m, setting))
            return cli_lib_error(m);
    }
    if (ipm_set_filter(m, filter) != IPM_OK)
        return cli_lib_error(m);
    static const char *list[MAX_ADAPTERS];
    for (int i = 0; i < st->n; i++) {
        if (ipm_set_adapter_packet_timeout(m, st->slots[i].index, timeout_ms) != IPM_OK ||
            ipm_set_adapter_collect_statistics(m, st->slots[i].index, 1) != IPM_OK)
            return cli_lib_error(m);
        list[i] = st->slots[i].name;
    }
    if (st->following) {
        if (ipm_activate_matching(m, NULL, 0) != IPM_OK)
            return cli_lib_error(m);
        return EXIT_OK;
    }
    if (ipm_activate_many(m, list, st->n) != IPM_OK)
        return cli_lib_error(m);
    return EXIT_OK;
}

static void announce(stats_state *st)
{
    char buf[2048], engine[1024];
    cli_describe_engine(st->m, engine, sizeof engine);
    const char *running = ipm_config(st->m, "StatisticsEngine");
    snprintf(st->engine_shown, sizeof st->engine_shown, "%s", running ? running : "");
    if (st->n == 0) {
        fprintf(stderr, "listening on no adapter yet (none is up: waiting for one), interval %g s\n",
                st->interval);
        fflush(stderr);
        return;
    }
    int n = snprintf(buf, sizeof buf, "listening on ");
    for (int i = 0; i < st->n && n > 0 && (size_t)n < sizeof buf; i++)
        n += snprintf(buf + n, sizeof buf - (size_t)n, "%s%s", i ? ", " : "", st->slots[i].name);
    if (n > 0 && (size_t)n < sizeof buf)
        snprintf(buf + n, sizeof buf - (size_t)n, ", interval %g s%s\n", st->interval, engine);
    fputs(buf, stderr);
    fflush(stderr);
}

int cmd_stats(int argc, char **argv)
{
    static stats_state st; /* large: keep it off the stack */
    memset(&st, 0, sizeof st);
    char names[4096];
    char *filter = NULL;
    int rc = parse_args(argc, argv, &st, names, sizeof names, &filter);
    if (rc >= 0)
        return rc;
    if (cli_parse_only) {
        free(filter);
        return EXIT_OK;
    }
    st.m = ipm_new();
    if (!st.m) {
        free(filter);
        return cli_error("out of memory");
    }
    static char outbuf[1 << 16];
    if (sink_open_fd(&st.out, STDOUT_FILENO, "standard output", outbuf, sizeof outbuf, SINK_FULL,
                     0) != 0) {
        ipm_free(st.m);
        free(filter);
        return cli_error("out of memory");
    }
    ipm_set_on_statistics(st.m, on_statistics, &st);
    ipm_set_on_error(st.m, on_error, &st);
    cli_install_signals();
    int timeout_ms = packet_timeout_ms(st.interval);
    if (st.read_file) {
        cli_signals_graceful();
        rc = run_file(&st, filter);
    } else {
        rc = setup(&st, names, filter, timeout_ms);
    }
    if (rc == EXIT_OK && !st.read_file) {
        cli_signals_graceful();
        announce(&st);
        /* No terminal ncurses can drive: plain lines (view_open said so). */
        if (st.mode == MODE_LIVE && view_open() != 0)
            st.mode = MODE_LINES;
        st.start = cli_now();
        if (st.mode == MODE_LIVE && show_view(&st, 0) != 0)
            rc = terminal_gone();
        else
            rc = run(&st, timeout_ms);
        view_close(); /* every way out of run() gives the terminal back */
    }
    ipm_deactivate(st.m);
    ipm_free(st.m);
    free(filter);
    /* Everything was flushed and checked per interval; a failure not yet
     * reported (setup failed after output began) is reported here. */
    int reported = st.out.err != 0;
    if (sink_close(&st.out) != 0 && !reported && rc == EXIT_OK)
        rc = sink_report(&st.out, "");
    return rc;
}
