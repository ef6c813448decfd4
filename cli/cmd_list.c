/*
 * cmd_list.c - `ipmon list [-l] [--json]`: every adapter libipmonitor can
 * monitor, with what the OS knows about it, as an aligned table or as JSON;
 * and `ipmon capture -D`, the same adapters as tcpdump -D numbers them.
 * The table's IDX is tcpdump's number (the library's index + 1), the one
 * `ipmon capture -i N` takes. The table fits 80 columns by default: the
 * monitor-mode and description columns are left to -l/--long, and the
 * addresses are cut to the room left ("+N" says how many more there are);
 * -l prints every column whole.
 * Written through a sink (sink.h): a failed write is reported with its real
 * errno; a closed pipe ends quietly.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "output.h"
#include "sink.h"

#define NCOLS 9
#define SHORT_COLS 7   /* IDX .. ADDRESSES: the default table */
#define SHORT_WIDTH 80 /* what the default table fits */
#define MIN_ADDR_WIDTH 12

static const char *type_name(int iftype)
{
    switch (iftype) {
    case IPM_IFTYPE_ETHERNET_CSMACD: return "ethernet";
    case IPM_IFTYPE_SOFTWARE_LOOPBACK: return "loopback";
    case IPM_IFTYPE_PPP: return "ppp";
    case IPM_IFTYPE_IEEE80211: return "wifi";
    case IPM_IFTYPE_TUNNEL: return "tunnel";
    default: return "other";
    }
}

static const char *state_name(const ipm_monitor *m, int i)
{
    if (ipm_get_adapter_is_up(m, i) <= 0)
        return "down";
    return ipm_get_adapter_is_running(m, i) > 0 ? "up" : "no-carrier";
}

/* "02-FC-00-00-00-01" -> "02:fc:00:00:00:01", the form ip(8) and the
 * capture output use. */
static void mac_text(char *out, size_t cap, const char *lib)
{
    size_t i = 0;
    for (; lib && lib[i] && i + 1 < cap; i++) {
        char c = lib[i];
        out[i] = c == '-' ? ':' : (c >= 'A' && c <= 'F') ? (char)(c - 'A' + 'a') : c;
    }
    out[i] = '\0';
}

static const char *str_or_empty(const char *s) { return s ? s : ""; }

/* A space-separated address list as a JSON array. */
static void json_addr_list(FILE *f, const char *list)
{
    fputc('[', f);
    const char *p = list ? list : "";
    int first = 1;
    while (*p) {
        while (*p == ' ')
            p++;
        if (!*p)
            break;
        size_t n = strcspn(p, " ");
        char one[128];
        snprintf(one, sizeof one, "%.*s", (int)n, p);
        if (!first)
            fputc(',', f);
        json_fputs(f, one);
        first = 0;
        p += n;
    }
    fputc(']', f);
}

static void print_json(FILE *f, const ipm_monitor *m)
{
    int n = ipm_get_adapter_count(m);
    fprintf(f, "[");
    for (int i = 0; i < n; i++) {
        char mac[32];
        mac_text(mac, sizeof mac, ipm_get_adapter_mac_address(m, i));
        fprintf(f, "%s\n  {\"index\":%d,\"number\":%d,\"name\":", i ? "," : "", i, i + 1);
        json_fputs(f, ipm_get_adapter_name(m, i));
        fprintf(f, ",\"friendly_name\":");
        json_fputs(f, ipm_get_adapter_friendly_name(m, i));
        int iftype = ipm_get_adapter_interface_type(m, i);
        fprintf(f, ",\"id\":%d,\"type\":\"%s\",\"iftype\":%d,\"mac\":", ipm_get_adapter_id(m, i),
               type_name(iftype), iftype);
        if (mac[0])
            json_fputs(f, mac);
        else
            fprintf(f, "null");
        fprintf(f, ",\"state\":\"%s\",\"up\":%s,\"running\":%s,\"loopback\":%s,\"wireless\":%s",
               state_name(m, i), ipm_get_adapter_is_up(m, i) > 0 ? "true" : "false",
               ipm_get_adapter_is_running(m, i) > 0 ? "true" : "false",
               ipm_get_adapter_is_loopback(m, i) > 0 ? "true" : "false",
               ipm_get_adapter_is_wireless(m, i) > 0 ? "true" : "false");
        int mtu = ipm_get_adapter_mtu(m, i);
        fprintf(f, ",\"mtu\":");
        if (mtu > 0)
            fprintf(f, "%d", mtu);
        else
            fprintf(f, "null");
        fprintf(f, ",\"ipv4\":");
        json_addr_list(f, ipm_get_adapter_ipv4_addresses(m, i));
        fprintf(f, ",\"ipv6\":");
        json_addr_list(f, ipm_get_adapter_ipv6_addresses(m, i));
        fprintf(f, ",\"description\":");
        json_fputs(f, ipm_get_adapter_description(m, i));
        fprintf(f, ",\"monitor_mode_supported\":%s}",
               ipm_get_adapter_wi_fi_monitor_mode_supported(m, i) > 0 ? "true" : "false");
    }
    fprintf(f, "%s]\n", n ? "\n" : "");
}

/* Fill the cells of row `i`; strings are copied since the library's are
 * valid only until the next call. */
static void row_cells(const ipm_monitor *m, int i, char cells[NCOLS][512])
{
    char mac[32];
    mac_text(mac, sizeof mac, ipm_get_adapter_mac_address(m, i));
    int mtu = ipm_get_adapter_mtu(m, i);
    const char *v4 = str_or_empty(ipm_get_adapter_ipv4_addresses(m, i));
    snprintf(cells[0], 512, "%d", i + 1); /* tcpdump's number, what -i N takes */
    snprintf(cells[1], 512, "%s", str_or_empty(ipm_get_adapter_name(m, i)));
    snprintf(cells[2], 512, "%s", type_name(ipm_get_adapter_interface_type(m, i)));
    snprintf(cells[3], 512, "%s", mac[0] ? mac : "-");
    snprintf(cells[4], 512, "%s", state_name(m, i));
    if (mtu > 0)
        snprintf(cells[5], 512, "%d", mtu);
    else
        snprintf(cells[5], 512, "-");
    char addrs[512];
    snprintf(addrs, sizeof addrs, "%s", v4);
    const char *v6 = str_or_empty(ipm_get_adapter_ipv6_addresses(m, i));
    if (*v6) {
        size_t len = strlen(addrs);
        snprintf(addrs + len, sizeof addrs - len, "%s%s", len ? " " : "", v6);
    }
    snprintf(cells[6], 512, "%s", addrs[0] ? addrs : "-");
    snprintf(cells[7], 512, "%s", ipm_get_adapter_wi_fi_monitor_mode_supported(m, i) > 0 ? "yes" : "no");
    const char *desc = str_or_empty(ipm_get_adapter_description(m, i));
    snprintf(cells[8], 512, "%s", *desc ? desc : "-");
}

/* Numbers right-aligned, text left-aligned, `gap` blanks between; the
 * last column unpadded so lines have no trailing blanks. */
static void print_cell(FILE *f, int col, int ncols, int gap, int width, const char *text)
{
    if (col == ncols - 1)
        fprintf(f, "%s\n", text);
    else if (col == 0 || col == 5)
        fprintf(f, "%*s%*s", width, text, gap, "");
    else
        fprintf(f, "%-*s%*s", width, text, gap, "");
}

/* The space-separated addresses `all` cut to at most `avail` characters:
 * whole addresses from the first while they fit, then " +N" for the N
 * left out (the first alone is cut, ending in "~", when it cannot fit). */
static void fit_addresses(char *out, size_t cap, const char *all, int avail)
{
    int count = 0;
    for (const char *p = all; *p;) {
        p += strspn(p, " ");
        if (*p) {
            count++;
            p += strcspn(p, " ");
        }
    }
    out[0] = '\0';
    int len = 0, taken = 0;
    const char *p = all;
    for (int i = 0; i < count; i++) {
        p += strspn(p, " ");
        int n = (int)strcspn(p, " ");
        char more[16] = "";
        if (i < count - 1)
            snprintf(more, sizeof more, " +%d", count - i - 1);
        int need = len + (len ? 1 : 0) + n + (int)strlen(more);
        if (need > avail)
            break;
        len += snprintf(out + len, cap - (size_t)len, "%s%.*s", len ? " " : "", n, p);
        taken++;
        p += n;
    }
    if (taken == count)
        return;
    if (taken == 0) {
        char more[16] = "";
        if (count > 1)
            snprintf(more, sizeof more, " +%d", count - 1);
        p = all + strspn(all, " ");
        int keep = avail - (int)strlen(more) - 1;
        if (keep < 1)
            keep = 1;
        snprintf(out, cap, "%.*s~%s", keep, p, more);
        return;
    }
    snprintf(out + len, cap - (size_t)len, " +%d", count - taken);
}

/* The table: every column with `long_form`, else the first SHORT_COLS
 * with the addresses fitted into what SHORT_WIDTH leaves them. */
static int print_table(FILE *f, const ipm_monitor *m, int long_form)
{
    static const char *const head[NCOLS] = {"IDX", "NAME", "TYPE", "MAC", "STATE", "MTU",
                                            "ADDRESSES", "MONITOR", "DESCRIPTION"};
    int n = ipm_get_adapter_count(m);
    char (*cells)[NCOLS][512] = calloc(n > 0 ? (size_t)n : 1, sizeof *cells);
    if (!cells)
        return cli_error("out of memory");
    size_t width[NCOLS];
    for (int c = 0; c < NCOLS; c++)
        width[c] = strlen(head[c]);
    for (int i = 0; i < n; i++) {
        row_cells(m, i, cells[i]);
        for (int c = 0; c < NCOLS; c++)
            if (strlen(cells[i][c]) > width[c])
                width[c] = strlen(cells[i][c]);
    }
    int ncols = long_form ? NCOLS : SHORT_COLS;
    int gap = long_form ? 2 : 1; /* the short table saves a blank per column */
    if (!long_form) {
        int used = 0;
        for (int c = 0; c < SHORT_COLS - 1; c++)
            used += (int)width[c] + gap;
        int avail = SHORT_WIDTH - used;
        if (avail < MIN_ADDR_WIDTH)
            avail = MIN_ADDR_WIDTH; /* very long names: the line goes over */
        for (int i = 0; i < n; i++) {
            char fitted[512];
            fit_addresses(fitted, sizeof fitted, cells[i][6], avail);
            snprintf(cells[i][6], sizeof cells[i][6], "%s", fitted);
        }
    }
    for (int c = 0; c < ncols; c++)
        print_cell(f, c, ncols, gap, (int)width[c], head[c]);
    for (int i = 0; i < n; i++)
        for (int c = 0; c < ncols; c++)
            print_cell(f, c, ncols, gap, (int)width[c], cells[i][c]);
    free(cells);
    return EXIT_OK;
}

static void usage(void)
{
    fputs("Usage: ipmon list [-l] [--json]\n"
          "\n"
          "List every adapter ipmon can monitor: number (tcpdump -D's, what\n"
          "'ipmon capture -i N' takes), name, type, MAC address, state (up,\n"
          "no-carrier, down), MTU and addresses, in 80 columns (addresses that do\n"
          "not fit are counted as +N). -l adds Wi-Fi monitor-mode support and the\n"
          "description, and shows every address.\n"
          "\n"
          "  -l, --long   every column, whole, however wide\n"
          "  -j, --json   one JSON array of objects, for scripts\n"
          "  -h, --help   this help\n",
          stdout);
}

int cmd_list(int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'}, {"long", no_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int json = 0, long_form = 0, c;
    opterr = 0;
    /* 0, not 1: glibc then also forgets a cluster of short options an
     * earlier parse left half-read ("-hx"), which 1 would go on reading. */
    optind = 0;
    while ((c = getopt_long(argc, argv, ":jlh", opts, NULL)) != -1) {
        switch (c) {
        case 'j': json = 1; break;
        case 'l': long_form = 1; break;
        case 'h': usage(); return EXIT_OK;
        default: return cli_getopt_error("list", c, argv);
        }
    }
    if (optind < argc)
        return cli_usage_error("list", "unexpected argument '%s'", argv[optind]);
    if (cli_parse_only)
        return EXIT_OK;

    cli_install_signals(); /* SIGPIPE ignored: a closed pipe is an EPIPE */
    static char outbuf[1 << 16];
    sink out;
    if (sink_open_fd(&out, STDOUT_FILENO, "standard output", outbuf, sizeof outbuf, SINK_FULL, 0))
        return cli_error("out of memory");
    ipm_monitor *m = ipm_new();
    if (!m) {
        sink_close(&out);
        return cli_error("out of memory");
    }
    int rc = EXIT_OK;
    if (ipm_list_adapters(m) != IPM_OK)
        rc = cli_lib_error(m);
    else if (json)
        print_json(out.f, m);
    else
        rc = print_table(out.f, m, long_form);
    ipm_free(m);
    if (sink_close(&out) != 0 && rc == EXIT_OK)
        rc = sink_report(&out, "");
    return rc;
}

/* tcpdump -D's flags: "Up, Running, Wireless, Loopback" as they apply, then
 * for a real (not loopback, not pseudo) adapter that is up its carrier:
 * Connected or Disconnected; "none" when nothing applies. */
static void numbered_flags(const ipm_monitor *m, int i, char *out, size_t cap)
{
    const char *name = str_or_empty(ipm_get_adapter_name(m, i));
    int up = ipm_get_adapter_is_up(m, i) > 0, running = ipm_get_adapter_is_running(m, i) > 0;
    int loopback = ipm_get_adapter_is_loopback(m, i) > 0;
    size_t n = 0;
    out[0] = '\0';
#define FLAG(text)                                                                   \
    do {                                                                             \
        int k_ = snprintf(out + n, cap - n, "%s%s", n ? ", " : "", text);             \
        if (k_ > 0 && n + (size_t)k_ < cap)                                          \
            n += (size_t)k_;                                                         \
    } while (0)
    if (up)
        FLAG("Up");
    if (running)
        FLAG("Running");
    if (ipm_get_adapter_is_wireless(m, i) > 0)
        FLAG("Wireless");
    if (loopback)
        FLAG("Loopback");
    if (up && !loopback && !cli_is_pseudo_adapter(name))
        FLAG(running ? "Connected" : "Disconnected");
#undef FLAG
    if (!out[0])
        snprintf(out, cap, "none");
}

int cli_list_numbered(void)
{
    cli_install_signals();
    static char outbuf[1 << 16];
    sink out;
    if (sink_open_fd(&out, STDOUT_FILENO, "standard output", outbuf, sizeof outbuf, SINK_FULL, 0))
        return cli_error("out of memory");
    ipm_monitor *m = ipm_new();
    if (!m) {
        sink_close(&out);
        return cli_error("out of memory");
    }
    int rc = EXIT_OK;
    if (ipm_list_adapters(m) != IPM_OK) {
        rc = cli_lib_error(m);
    } else {
        int n = ipm_get_adapter_count(m);
        for (int i = 0; i < n; i++) {
            const char *name = str_or_empty(ipm_get_adapter_name(m, i));
            const char *desc = str_or_empty(ipm_get_adapter_description(m, i));
            char flags[128];
            numbered_flags(m, i, flags, sizeof flags);
            /* tcpdump shows libpcap's descriptions, which only pseudo-devices have */
            if (cli_is_pseudo_adapter(name) && *desc)
                fprintf(out.f, "%d.%s (%s) [%s]\n", i + 1, name, desc, flags);
            else
                fprintf(out.f, "%d.%s [%s]\n", i + 1, name, flags);
        }
    }
    ipm_free(m);
    if (sink_close(&out) != 0 && rc == EXIT_OK)
        rc = sink_report(&out, "");
    return rc;
}
