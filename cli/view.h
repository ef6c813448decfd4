/*
 * view.h - the live terminal view of `ipmon stats` (and bare `ipmon`), on
 * ncurses: one row per adapter, fitted to the terminal's width by dropping
 * columns in a fixed order, a header that never scrolls away, paging when
 * adapters outnumber the rows, keys to quit, sort, pause and scroll, and
 * the terminal restored on every way out. cmd_stats.c keeps the counters
 * and hands the view one frame per interval; the plain and JSON outputs
 * stay in cmd_stats.c. Implemented in view.c.
 *
 * Columns, and the order in which they are dropped when the terminal is
 * too narrow (first dropped first):
 *   1. IP4% IP6%            the family split of the interval's packets
 *   2. TCP% UDP% ICM% OTH%  the protocol split
 *   3. BYTES                bytes since the start
 *   4. PACKETS              packets since the start
 *   5. IN OUT               bits/s received and sent
 *   6. PKT/S                packets/s
 * ADAPTER, TOTAL (bits/s) and DROPS are always shown; when even they do
 * not fit, the adapter names are cut (ending in an ellipsis) down to 6
 * characters, and what is still too wide is clipped at the edge.
 */
#ifndef IPMON_VIEW_H
#define IPMON_VIEW_H

#include <stdint.h>

/* One adapter's row, as the caller computed it for the last interval. */
typedef struct view_row {
    const char *name;   /* copied by view_frame */
    int gone;           /* shown as "NAME (gone)" */
    double in_bps, out_bps, bps, pps;
    int64_t drops;      /* kernel drops in the interval */
    int pct_tcp, pct_udp, pct_icmp, pct_other, pct_ip4, pct_ip6; /* of the interval's packets */
    int64_t packets, bytes; /* since the start */
} view_row;

/* What the header line says. */
typedef struct view_info {
    double interval;    /* seconds */
    double running;     /* seconds since the start */
    int detail;         /* 0: the library gave no direction/protocol split */
    const char *engine; /* who counts ("kernel", "ring", per adapter...), or "" */
} view_info;

/* Key results of view_keys(). */
enum { VIEW_GO_ON = 0, VIEW_QUIT = 1 };

/* Take over the terminal (standard output, keys from standard input):
 * no echo, cbreak, keypad, hidden cursor, alternate screen where the
 * terminal has one. Returns 0, or -1 when ncurses cannot drive this
 * terminal (TERM unset or unknown, ...): then nothing was changed and one
 * note saying so was written to stderr; the caller falls back to plain
 * lines. The terminal is restored by view_close(), which is also run at
 * exit() in case a path forgets it. */
int view_open(void);

/* Non-zero while the view owns the terminal. */
int view_active(void);

/* Replace the rows (copied: `rows` may be reused at once) and redraw,
 * unless paused (then the new rows are kept for when the pause ends). The
 * last row of `rows` may be a total; pass has_total to keep it out of
 * sorting and paging (it is drawn at the foot). Returns 0, or -1 when the
 * terminal went away (hung up, closed). */
int view_frame(const view_row *rows, int n, int has_total, const view_info *info);

/* Read every pending key and act on it (sort, pause, scroll, resize:
 * redraw at once). Never blocks. Returns VIEW_QUIT after `q`, else
 * VIEW_GO_ON. */
int view_keys(void);

/* A message for the user while the view owns the terminal (stderr would
 * scribble over it): shown on the bottom line, and kept to be written to
 * stderr once the view is closed, so none is lost. */
void view_note(const char *text);

/* Give the terminal back as it was (echo, cursor, normal screen) and write
 * the kept notes to stderr. Safe to call more than once. */
void view_close(void);

#endif
