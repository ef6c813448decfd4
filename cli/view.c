/*
 * view.c - the live terminal view of `ipmon stats` on ncurses (see view.h
 * for the contract and the order in which columns are dropped).
 *
 * The screen, top to bottom: a header line (adapters, interval, running
 * time, sort order, PAUSED), a key line, the column titles, the adapter
 * rows (a window onto the sorted rows that the arrow keys and PgUp/PgDn
 * move), the TOTAL row when there are several adapters, and a status line
 * ("rows x-y of N", the latest note). The first three lines and the foot
 * never scroll. The layout is worked out again at every draw from the
 * terminal's current size, so a resize (KEY_RESIZE, which ncurses delivers
 * after SIGWINCH) only needs a redraw.
 *
 * Only this file talks to ncurses. Everything is kept in one static state
 * (one terminal, one view per process), which view_close() releases so
 * that an ASan build sees no leak of ours.
 */
#include "view.h"

#include <curses.h>
#include <term.h>
#include <langinfo.h>
#include <locale.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

#define MAX_ROWS 1025 /* the adapters cmd_stats.c can hold, plus the total */
#define NAME_MAX_W 22 /* the adapter column grows to the longest label up to this
                       * (a 15-character Linux name and " (gone)") */
#define NAME_MIN_W 6  /* and is cut down to this before anything is clipped */
#define MAX_NOTES 32
#define TOP_LINES 3   /* header, keys, column titles */

enum { SORT_FOUND, SORT_RATE, SORT_DROPS, SORT_NAME };
static const char *const sort_names[] = {"found", "rate", "drops", "name"};

enum { C_IN, C_OUT, C_TOTAL, C_PPS, C_DROPS, C_TCP, C_UDP, C_ICMP, C_OTH, C_IP4, C_IP6,
       C_PACKETS, C_BYTES, NCOLS };

/* A column: its title, its width, and when it goes (view.h's order; 0:
 * never dropped). */
static const struct column {
    const char *title;
    int width;
    int drop_rank;
} col_defs[NCOLS] = {
    [C_IN] = {"IN", 9, 5},     [C_OUT] = {"OUT", 9, 5},    [C_TOTAL] = {"TOTAL", 9, 0},
    [C_PPS] = {"PKT/S", 8, 6}, [C_DROPS] = {"DROPS", 6, 0}, [C_TCP] = {"TCP%", 4, 2},
    [C_UDP] = {"UDP%", 4, 2},  [C_ICMP] = {"ICM%", 4, 2},  [C_OTH] = {"OTH%", 4, 2},
    [C_IP4] = {"IP4%", 4, 1},  [C_IP6] = {"IP6%", 4, 1},   [C_PACKETS] = {"PACKETS", 10, 4},
    [C_BYTES] = {"BYTES", 8, 3},
};
#define LAST_DROP_RANK 6

typedef struct stored_row {
    view_row r;
    char name[128];
} stored_row;

typedef struct frame {
    stored_row rows[MAX_ROWS];
    int n;         /* rows, the total included */
    int has_total; /* rows[n - 1] is the total */
    view_info info;
    char engine[64]; /* info.engine, copied */
    int valid;
} frame;

static struct {
    SCREEN *screen;
    int active;
    int exit_hook; /* atexit(view_close) registered */
    int paused;
    int sort;
    int top;       /* first row shown (index into the sorted rows) */
    int utf8;      /* the locale writes UTF-8: a real ellipsis */
    frame shown;   /* what is on screen (frozen while paused) */
    frame latest;  /* what came in while paused */
    int order[MAX_ROWS];
    char notes[MAX_NOTES][256];
    int n_notes, notes_lost;
} V;

int view_active(void)
{
    return V.active;
}

int view_open(void)
{
    if (V.active)
        return 0;
    const char *term = getenv("TERM");
    if (!term || !*term || strcmp(term, "dumb") == 0) {
        cli_error("note: TERM is %s%s%s: no live view, plain lines instead", term ? "'" : "unset",
                  term ? term : "", term ? "'" : "");
        return -1;
    }
    /* Only the character type: numbers in the plain and JSON outputs keep
     * their C-locale decimal point. */
    setlocale(LC_CTYPE, "");
    V.utf8 = strcmp(nl_langinfo(CODESET), "UTF-8") == 0;
    /* Asked first with setupterm, which frees what it took when the type
     * is unknown (a failing newterm keeps its pre-screen allocated, which
     * LeakSanitizer rightly reports); newterm, not initscr, which would
     * exit the process on a terminal it cannot drive. */
    int err = 0;
    if (setupterm(NULL, STDOUT_FILENO, &err) != OK) {
        cli_error("note: the terminal type '%s' is unknown to ncurses: no live view, plain "
                  "lines instead",
                  term);
        return -1;
    }
    del_curterm(cur_term);
    V.screen = newterm(NULL, stdout, stdin);
    if (!V.screen) {
        cli_error("note: the terminal type '%s' is unknown to ncurses: no live view, plain "
                  "lines instead",
                  term);
        return -1;
    }
    set_term(V.screen);
    V.active = 1;
    if (!V.exit_hook) {
        atexit(view_close);
        V.exit_hook = 1;
    }
    noecho();
    cbreak();
    keypad(stdscr, TRUE);
    nodelay(stdscr, TRUE);
    set_escdelay(25);
    curs_set(0);
    leaveok(stdscr, TRUE);
    erase();
    refresh();
    return 0;
}

/* ---- formatting cells ---- */

/* An exact count if it fits in `w`, else with k/M/G/T. */
static void fmt_count(char *out, size_t cap, int w, int64_t v)
{
    int n = snprintf(out, cap, "%lld", (long long)v);
    if (n <= w)
        return;
    static const char suffix[] = "kMGTPE";
    double d = (double)v;
    int p = -1;
    while (d >= 1000.0 && p < 5) {
        d /= 1000.0;
        p++;
    }
    snprintf(out, cap, "%.*f%c", d < 10 ? 2 : d < 100 ? 1 : 0, d, suffix[p < 0 ? 0 : p]);
}

static void fmt_cell(char *out, size_t cap, int col, const view_row *r)
{
    switch (col) {
    case C_IN: cli_human(out, cap, r->in_bps, "b/s"); break;
    case C_OUT: cli_human(out, cap, r->out_bps, "b/s"); break;
    case C_TOTAL: cli_human(out, cap, r->bps, "b/s"); break;
    case C_PPS:
        if (snprintf(out, cap, "%.1f", r->pps) > col_defs[C_PPS].width)
            fmt_count(out, cap, col_defs[C_PPS].width, (int64_t)r->pps);
        break;
    case C_DROPS: fmt_count(out, cap, col_defs[col].width, r->drops); break;
    case C_TCP: snprintf(out, cap, "%d", r->pct_tcp); break;
    case C_UDP: snprintf(out, cap, "%d", r->pct_udp); break;
    case C_ICMP: snprintf(out, cap, "%d", r->pct_icmp); break;
    case C_OTH: snprintf(out, cap, "%d", r->pct_other); break;
    case C_IP4: snprintf(out, cap, "%d", r->pct_ip4); break;
    case C_IP6: snprintf(out, cap, "%d", r->pct_ip6); break;
    case C_PACKETS: fmt_count(out, cap, col_defs[col].width, r->packets); break;
    case C_BYTES: {
        char b[32];
        snprintf(b, sizeof b, "%lld", (long long)r->bytes);
        if ((int)strlen(b) <= col_defs[col].width)
            snprintf(out, cap, "%s", b);
        else
            cli_human(out, cap, (double)r->bytes, "B");
        break;
    }
    default: out[0] = '\0';
    }
}

/* The label of a row: "NAME" or "NAME (gone)". */
static int label_len(const stored_row *s)
{
    return (int)strlen(s->name) + (s->r.gone ? 7 : 0);
}

/* Draw `s`'s label at (y, 0) in exactly `w` columns: cut names end in an
 * ellipsis, and a gone adapter keeps its "(gone)" mark as long as it fits. */
static void draw_label(int y, int w, const stored_row *s)
{
    const char *mark = s->r.gone ? " (gone)" : "";
    int mlen = (int)strlen(mark);
    int nlen = (int)strlen(s->name);
    if (nlen + mlen > w && mlen > 0 && w - mlen < 4) {
        mark = "";
        mlen = 0;
    }
    move(y, 0);
    if (nlen + mlen <= w) {
        printw("%s%s%*s", s->name, mark, w - nlen - mlen, "");
        return;
    }
    int keep = w - mlen - 1;
    if (keep < 0)
        keep = 0;
    printw("%.*s%s%s", keep, s->name, V.utf8 ? "\xe2\x80\xa6" : "~", mark);
}

/* ---- layout and drawing ---- */

typedef struct layout {
    int shown[NCOLS];
    int namew;
} layout;

static void compute_layout(layout *L, const frame *F, int width)
{
    int namew = 7; /* "ADAPTER" */
    for (int i = 0; i < F->n; i++)
        if (label_len(&F->rows[i]) > namew)
            namew = label_len(&F->rows[i]);
    if (namew > NAME_MAX_W)
        namew = NAME_MAX_W;
    int total = namew;
    for (int c = 0; c < NCOLS; c++) {
        L->shown[c] = 1;
        total += 1 + col_defs[c].width;
    }
    for (int rank = 1; rank <= LAST_DROP_RANK && total > width; rank++)
        for (int c = 0; c < NCOLS; c++)
            if (col_defs[c].drop_rank == rank && L->shown[c]) {
                L->shown[c] = 0;
                total -= 1 + col_defs[c].width;
            }
    if (total > width) {
        namew -= total - width;
        if (namew < NAME_MIN_W)
            namew = NAME_MIN_W;
    }
    L->namew = namew;
}

/* Cells after the label, right-aligned; a cell that would cross the right
 * edge is not drawn (only on terminals too narrow for the fixed columns). */
static void draw_cells(int y, const layout *L, const view_row *r, int titles)
{
    int x = L->namew;
    for (int c = 0; c < NCOLS; c++) {
        if (!L->shown[c])
            continue;
        int w = col_defs[c].width;
        if (x + 1 + w > COLS)
            break;
        char cell[48];
        if (titles)
            snprintf(cell, sizeof cell, "%s", col_defs[c].title);
        else
            fmt_cell(cell, sizeof cell, c, r);
        mvprintw(y, x, " %*.*s", w, w, cell);
        x += 1 + w;
    }
}

static int cmp_found(int a, int b) { return a - b; }

static int compare_rows(const void *pa, const void *pb)
{
    int a = *(const int *)pa, b = *(const int *)pb;
    const view_row *x = &V.shown.rows[a].r, *y = &V.shown.rows[b].r;
    switch (V.sort) {
    case SORT_RATE:
        if (x->bps != y->bps)
            return x->bps < y->bps ? 1 : -1;
        break;
    case SORT_DROPS:
        if (x->drops != y->drops)
            return x->drops < y->drops ? 1 : -1;
        if (x->bps != y->bps)
            return x->bps < y->bps ? 1 : -1;
        break;
    case SORT_NAME: {
        int c = strcmp(V.shown.rows[a].name, V.shown.rows[b].name);
        if (c)
            return c;
        break;
    }
    default: break;
    }
    return cmp_found(a, b);
}

/* The number of adapter rows (the total excluded). */
static int body_count(const frame *F)
{
    return F->n - (F->has_total ? 1 : 0);
}

/* Rows of the screen that show adapters. */
static int body_height(const frame *F)
{
    int h = LINES - TOP_LINES - 1 - (F->has_total ? 1 : 0);
    return h < 0 ? 0 : h;
}

static void clamp_top(const frame *F)
{
    int n = body_count(F), h = body_height(F);
    if (V.top > n - h)
        V.top = n - h;
    if (V.top < 0)
        V.top = 0;
}

/* Write the line (text cut to the screen) at y, cleared to its end. */
static void draw_text_line(int y, const char *text, attr_t attr)
{
    if (y < 0 || y >= LINES)
        return;
    move(y, 0);
    clrtoeol();
    attron(attr);
    mvaddnstr(y, 0, text, COLS);
    attroff(attr);
}

static void draw(void)
{
    const frame *F = &V.shown;
    erase();
    if (LINES < 1 || COLS < 1)
        goto done;
    int n = body_count(F);
    for (int i = 0; i < n; i++)
        V.order[i] = i;
    if (V.sort != SORT_FOUND)
        qsort(V.order, (size_t)n, sizeof V.order[0], compare_rows);
    clamp_top(F);
    layout L;
    compute_layout(&L, F, COLS);

    char line[512], clock[16];
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    strftime(clock, sizeof clock, "%H:%M:%S", &tm);
    long run = (long)F->info.running;
    snprintf(line, sizeof line,
             "ipmon stats  %d adapter%s  every %g s  up %02ld:%02ld:%02ld  %s  sort: %s%s%s%s",
             n, n == 1 ? "" : "s", F->info.interval, run / 3600, run / 60 % 60, run % 60, clock,
             sort_names[V.sort], V.paused ? "  PAUSED" : "", F->engine[0] ? "  engine: " : "", F->engine);
    draw_text_line(0, line, A_BOLD);
    draw_text_line(1, "q quit  r/d/n sort by rate/drops/name  p pause  arrows PgUp PgDn scroll",
                   A_NORMAL);
    if (LINES > 2) {
        attron(A_REVERSE);
        move(2, 0);
        printw("%-*.*s", L.namew, L.namew, "ADAPTER");
        draw_cells(2, &L, NULL, 1);
        /* The title bar spans the whole width. */
        int x = getcurx(stdscr);
        for (; x < COLS; x++)
            mvaddch(2, x, ' ');
        attroff(A_REVERSE);
    }
    int h = body_height(F);
    for (int k = 0; k < h && V.top + k < n; k++) {
        const stored_row *s = &F->rows[V.order[V.top + k]];
        draw_label(TOP_LINES + k, L.namew, s);
        draw_cells(TOP_LINES + k, &L, &s->r, 0);
    }
    if (F->has_total && LINES > TOP_LINES + 1) {
        int y = LINES - 2;
        attron(A_BOLD);
        draw_label(y, L.namew, &F->rows[F->n - 1]);
        draw_cells(y, &L, &F->rows[F->n - 1].r, 0);
        attroff(A_BOLD);
    }
    if (LINES > TOP_LINES) {
        int last = V.top + h < n ? V.top + h : n;
        if (n == 0)
            snprintf(line, sizeof line, "no adapter yet");
        else
            snprintf(line, sizeof line, "rows %d-%d of %d", last > V.top ? V.top + 1 : 0, last, n);
        size_t len = strlen(line);
        if (V.n_notes > 0)
            snprintf(line + len, sizeof line - len, "  %s", V.notes[V.n_notes - 1]);
        else if (F->valid && !F->info.detail)
            snprintf(line + len, sizeof line - len, "  (the library gave no protocol split)");
        draw_text_line(LINES - 1, line, A_NORMAL);
    }
done:
    refresh();
}

/* The terminal went away: a hang-up or error polls on standard output. */
static int output_gone(void)
{
    struct pollfd p = {.fd = STDOUT_FILENO, .events = POLLOUT};
    if (poll(&p, 1, 0) < 0)
        return 0;
    return (p.revents & (POLLERR | POLLHUP | POLLNVAL)) != 0;
}

static void store(frame *F, const view_row *rows, int n, int has_total, const view_info *info)
{
    if (n > MAX_ROWS)
        n = MAX_ROWS;
    for (int i = 0; i < n; i++) {
        F->rows[i].r = rows[i];
        snprintf(F->rows[i].name, sizeof F->rows[i].name, "%s", rows[i].name ? rows[i].name : "");
        F->rows[i].r.name = F->rows[i].name;
    }
    F->n = n;
    F->has_total = has_total && n > 0;
    F->info = *info;
    snprintf(F->engine, sizeof F->engine, "%s", info->engine ? info->engine : "");
    F->info.engine = F->engine;
    F->valid = 1;
}

int view_frame(const view_row *rows, int n, int has_total, const view_info *info)
{
    if (!V.active)
        return 0;
    if (V.paused) {
        store(&V.latest, rows, n, has_total, info);
        return output_gone() ? -1 : 0;
    }
    store(&V.shown, rows, n, has_total, info);
    draw();
    return output_gone() ? -1 : 0;
}

int view_keys(void)
{
    if (!V.active)
        return VIEW_GO_ON;
    int redraw = 0, ch;
    while ((ch = getch()) != ERR) {
        int page = body_height(&V.shown) > 1 ? body_height(&V.shown) - 1 : 1;
        switch (ch) {
        case 'q':
        case 'Q': return VIEW_QUIT;
        case 'r': V.sort = SORT_RATE; break;
        case 'd': V.sort = SORT_DROPS; break;
        case 'n': V.sort = SORT_NAME; break;
        case 'p':
        case ' ':
            V.paused = !V.paused;
            if (!V.paused && V.latest.valid) {
                V.shown = V.latest;
                V.latest.valid = 0;
            }
            break;
        case KEY_UP: V.top--; break;
        case KEY_DOWN: V.top++; break;
        case KEY_PPAGE: V.top -= page; break;
        case KEY_NPAGE: V.top += page; break;
        case KEY_HOME: V.top = 0; break;
        case KEY_END: V.top = MAX_ROWS; break;
        case KEY_RESIZE: break;
        default: continue; /* other keys: nothing to redraw */
        }
        redraw = 1;
    }
    if (redraw)
        draw();
    return VIEW_GO_ON;
}

void view_note(const char *text)
{
    if (V.n_notes == MAX_NOTES) {
        memmove(V.notes[0], V.notes[1], sizeof V.notes[0] * (MAX_NOTES - 1));
        V.n_notes--;
        V.notes_lost++;
    }
    snprintf(V.notes[V.n_notes++], sizeof V.notes[0], "%s", text);
    if (V.active && V.shown.valid && !V.paused)
        draw();
}

void view_close(void)
{
    if (V.active) {
        V.active = 0;
        curs_set(1);
        endwin();
        delscreen(V.screen);
        V.screen = NULL;
        fflush(stdout);
    }
    if (V.notes_lost)
        cli_error("(%d earlier messages not kept)", V.notes_lost);
    for (int i = 0; i < V.n_notes; i++)
        cli_error("%s", V.notes[i]);
    V.n_notes = V.notes_lost = 0;
}
