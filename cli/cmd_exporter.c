/*
 * cmd_exporter.c - `ipmon exporter`: a Prometheus exporter.
 *
 * One monitor in statistics mode (StatisticsDetail on) on the chosen
 * adapters; this thread runs do_events and adds each on_statistics event
 * to the counter store (metrics.h). The counters are served in the text
 * exposition format 0.0.4 by libmicrohttpd on its own thread, which copies
 * the store (a memcpy under its mutex) and formats the copy: a scrape never
 * blocks capture and never waits for an interval. Or, with --textfile, the
 * same exposition is written to a file every interval for node_exporter's
 * textfile collector (a temporary file in the same folder, then rename).
 *
 * Without -i the monitor follows the host (ipm_activate_matching): an
 * adapter that appears is counted from then on; one that disappears is a
 * notice, not an end: its ipmonitor_device_up goes to 0, its series stay,
 * and the others go on being counted; one that comes back continues its
 * series. Adapters named with -i are followed the same way by name.
 * The web configuration (TLS, basic auth) is webconfig.c's.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "metrics.h"
#include "webconfig.h"

#define CMD "exporter"
#define MAX_DEVICES 4096
/* Outside the 9100-9999 range of the Prometheus wiki's "Default port
 * allocations" (full since 2023; the wiki asks exporters it does not list
 * to stay out of it), below Linux's ephemeral ports (32768-60999), and not
 * in /etc/services. */
#define DEFAULT_LISTEN ":19101"

typedef struct exporter {
    ipm_monitor *m;
    metrics_store store;
    metrics_info info;
    char libpcap[64];
    /* options */
    char names[4096]; /* -i, joined with commas */
    const char *listen, *path, *web_config_file, *textfile, *user;
    double interval;
    /* web */
    web_config wc;
    struct MHD_Daemon *daemon;
    char mhd_error[256]; /* libmicrohttpd's message while it starts */
    int starting;
    char served[512];    /* what the "listening on" line says is served */
} exporter;

static void usage(void)
{
    fputs("Usage: ipmon exporter [OPTIONS] [FILTER EXPRESSION...]\n"
          "\n"
          "Serve per-adapter packet, byte and drop counters to Prometheus (text\n"
          "exposition format 0.0.4), split by direction, protocol and address family,\n"
          "or write them to a file for node_exporter's textfile collector.\n"
          "An optional pcap-filter(7) expression limits what is counted.\n"
          "\n"
          "  -i, --interface=ADAPTER      adapter to count; repeat (or separate with commas)\n"
          "                               for more (default: every adapter, followed: ones\n"
          "                               that appear are added, ones gone get device_up 0)\n"
          "      --web.listen-address=[ADDR]:PORT\n"
          "                               where to serve (default " DEFAULT_LISTEN ": every address;\n"
          "                               [::1]:PORT for IPv6 addresses)\n"
          "      --web.telemetry-path=PATH  the metrics' URL path (default /metrics)\n"
          "      --web.config.file=FILE   TLS and basic auth, in the Prometheus\n"
          "                               exporter-toolkit format (tls_server_config:\n"
          "                               cert_file, key_file; basic_auth_users: bcrypt)\n"
          "      --textfile=PATH          no HTTP: write the metrics to PATH every interval\n"
          "                               (atomically: a temporary file, then rename)\n"
          "  -I, --interval=SECONDS       how often counters are brought up to date and the\n"
          "                               textfile written (default 1; fractions allowed)\n"
          "  -Z, --relinquish-privileges=USER\n"
          "                               when started as root, become USER once the\n"
          "                               captures and the listening socket are open\n"
          "  -h, --help                   this help\n"
          "\n"
          "Metrics: ipmonitor_packets_total, ipmonitor_bytes_total {device, direction,\n"
          "protocol, family}; ipmonitor_dropped_packets_total {device, stage};\n"
          "ipmonitor_device_up {device}; ipmonitor_build_info; process_*.\n"
          "\n"
          "Examples:\n"
          "  ipmon exporter                                 every adapter, on :19101/metrics\n"
          "  ipmon exporter -i eth0 --web.listen-address=127.0.0.1:19101\n"
          "  ipmon exporter --textfile=/var/lib/node_exporter/textfile/ipmon.prom\n",
          stdout);
}

/* ---- the listening socket ---- */

/* Parse [ADDR]:PORT into addr; returns -1 after a usage error. An empty
 * ADDR is every address (IPv6 and IPv4 when the system has IPv6). With
 * resolve 0 only the form is checked (no name lookup; addr is not set). */
static int parse_listen(const char *arg, struct sockaddr_storage *addr, socklen_t *len, int resolve)
{
    const char *colon = strrchr(arg, ':');
    if (!colon)
        return cli_usage_error(CMD, "--web.listen-address '%s': expected [ADDR]:PORT, e.g. :19101", arg), -1;
    long long port;
    char *end;
    errno = 0;
    port = strtoll(colon + 1, &end, 10);
    if (colon[1] == '\0' || *end || errno || port < 1 || port > 65535)
        return cli_usage_error(CMD, "--web.listen-address '%s': the port must be 1 to 65535", arg), -1;
    char host[256];
    size_t hl = (size_t)(colon - arg);
    if (hl >= sizeof host)
        return cli_usage_error(CMD, "--web.listen-address '%s': address too long", arg), -1;
    memcpy(host, arg, hl);
    host[hl] = '\0';
    if (host[0] == '[') {
        if (hl < 2 || host[hl - 1] != ']')
            return cli_usage_error(CMD, "--web.listen-address '%s': an IPv6 address goes in [ ]", arg), -1;
        memmove(host, host + 1, hl - 2);
        host[hl - 2] = '\0';
        if (!strchr(host, ':'))
            return cli_usage_error(CMD, "--web.listen-address '%s': not an IPv6 address in [ ]", arg), -1;
    } else if (strchr(host, ':')) {
        return cli_usage_error(CMD, "--web.listen-address '%s': write an IPv6 address as [ADDR]:PORT", arg), -1;
    }
    if (!resolve)
        return 0;
    memset(addr, 0, sizeof *addr);
    if (!host[0]) {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)addr;
        a6->sin6_family = AF_INET6;
        a6->sin6_addr = in6addr_any;
        a6->sin6_port = htons((uint16_t)port);
        *len = sizeof *a6;
        return 0;
    }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV}, *res = NULL;
    int gai = getaddrinfo(host, colon + 1, &hints, &res);
    if (gai != 0 || !res)
        return cli_usage_error(CMD, "--web.listen-address '%s': %s", arg,
                               gai == EAI_SYSTEM ? strerror(errno) : gai_strerror(gai)), -1;
    memcpy(addr, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

/* The bound, listening socket, or -1 after printing why (EXIT_RUNTIME). */
static int open_listener(const char *text, struct sockaddr_storage *addr, socklen_t len)
{
    int fd = socket(addr->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 && addr->ss_family == AF_INET6 && errno == EAFNOSUPPORT &&
        IN6_IS_ADDR_UNSPECIFIED(&((struct sockaddr_in6 *)addr)->sin6_addr)) {
        /* no IPv6 here: every IPv4 address */
        struct sockaddr_in a4 = {.sin_family = AF_INET,
                                 .sin_port = ((struct sockaddr_in6 *)addr)->sin6_port,
                                 .sin_addr.s_addr = htonl(INADDR_ANY)};
        memcpy(addr, &a4, sizeof a4);
        len = sizeof a4;
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    }
    if (fd < 0) {
        cli_error("cannot listen on %s: %s", text, strerror(errno));
        return -1;
    }
    int one = 1, zero = 0;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (addr->ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    if (bind(fd, (struct sockaddr *)addr, len) != 0 || listen(fd, 64) != 0) {
        int e = errno;
        close(fd);
        cli_error("cannot listen on %s: %s", text, strerror(e));
        return -1;
    }
    return fd;
}

/* ---- serving ---- */

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *type, char *body,
                             size_t len, int must_free, int auth_failed)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(
        len, body, must_free ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!r) {
        if (must_free)
            free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    enum MHD_Result ok = auth_failed ? MHD_queue_basic_auth_fail_response(c, "ipmon", r)
                                     : MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ok;
}

static int authorised(exporter *ex, struct MHD_Connection *c)
{
    if (!web_config_has_auth(&ex->wc))
        return 1;
    char *pass = NULL;
    char *user = MHD_basic_auth_get_username_password(c, &pass);
    int ok = user && pass && web_config_check_user(&ex->wc, user, pass);
    if (user)
        MHD_free(user);
    if (pass)
        MHD_free(pass);
    return ok;
}

/* The exposition of the current counters, malloc'd; NULL if out of memory. */
static char *exposition(exporter *ex, size_t *len)
{
    int n = 0;
    metrics_device *devs = metrics_snapshot(&ex->store, &n);
    textbuf b = {0};
    metrics_format(&b, devs, n, &ex->info);
    free(devs);
    if (b.failed) {
        free(b.data);
        return NULL;
    }
    *len = b.len;
    return b.data;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **state)
{
    exporter *ex = cls;
    (void)version;
    (void)upload;
    /* The first call only sees the headers; answering then would make
     * libmicrohttpd close the connection (the request might have a body
     * not yet read). Answer on the second, so scrapers keep the
     * connection (and its TLS session) alive. */
    static int seen;
    if (*state == NULL) {
        *state = &seen;
        return MHD_YES;
    }
    if (*upload_size != 0) {
        *upload_size = 0; /* a body is ignored */
        return MHD_YES;
    }
    static char unauthorised[] = "Unauthorized\n", not_found[] = "Not Found\n",
                bad_method[] = "Method Not Allowed\n", no_memory[] = "out of memory\n";
    if (!authorised(ex, c))
        return reply(c, MHD_HTTP_UNAUTHORIZED, "text/plain; charset=utf-8", unauthorised,
                     sizeof unauthorised - 1, 0, 1);
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain; charset=utf-8", bad_method,
                     sizeof bad_method - 1, 0, 0);
    if (strcmp(url, ex->path) == 0) {
        size_t len = 0;
        char *text = exposition(ex, &len);
        if (!text)
            return reply(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain; charset=utf-8", no_memory,
                         sizeof no_memory - 1, 0, 0);
        return reply(c, MHD_HTTP_OK, METRICS_CONTENT_TYPE, text, len, 1, 0);
    }
    if (strcmp(url, "/") == 0) {
        /* a landing page, as node_exporter has */
        textbuf b = {0};
        textbuf_printf(&b, "<html><head><title>ipmon exporter</title></head><body>"
                           "<h1>ipmon exporter</h1><p><a href=\"%s\">Metrics</a></p></body></html>\n",
                       ex->path);
        if (!b.failed)
            return reply(c, MHD_HTTP_OK, "text/html; charset=utf-8", b.data, b.len, 1, 0);
        free(b.data);
    }
    return reply(c, MHD_HTTP_NOT_FOUND, "text/plain; charset=utf-8", not_found, sizeof not_found - 1, 0, 0);
}

/* libmicrohttpd's messages: kept while it starts (they explain a failure,
 * e.g. a key that does not match the certificate), dropped afterwards (a
 * client's failed TLS handshake is not the exporter's news). */
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    exporter *ex = cls;
    if (!ex->starting || ex->mhd_error[0])
        return;
    vsnprintf(ex->mhd_error, sizeof ex->mhd_error, fmt, ap);
    ex->mhd_error[strcspn(ex->mhd_error, "\r\n")] = '\0';
}

static int start_http(exporter *ex)
{
    struct sockaddr_storage addr;
    socklen_t len;
    if (parse_listen(ex->listen, &addr, &len, 1) < 0)
        return EXIT_USAGE;
    int fd = open_listener(ex->listen, &addr, len);
    if (fd < 0)
        return EXIT_RUNTIME;
    int tls = ex->wc.cert_pem != NULL;
    struct MHD_OptionItem opts[] = {
        {MHD_OPTION_LISTEN_SOCKET, fd, NULL},
        {MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)on_mhd_log, ex},
        {MHD_OPTION_CONNECTION_LIMIT, 64, NULL},
        /* idle keep-alive connections live past a 15 s..1 min scrape interval */
        {MHD_OPTION_CONNECTION_TIMEOUT, 90, NULL},
        {tls ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, 0, ex->wc.key_pem},
        {MHD_OPTION_HTTPS_MEM_CERT, 0, ex->wc.cert_pem},
        {MHD_OPTION_END, 0, NULL},
    };
    /* SIGINT and SIGTERM stay with this thread: its poll in do_events
     * wakes at once; the server's thread inherits them blocked. */
    sigset_t stop, old;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, &old);
    ex->starting = 1;
    ex->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG |
                                      (tls ? MHD_USE_TLS : 0),
                                  0, NULL, NULL, on_request, ex, MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
    ex->starting = 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (!ex->daemon) {
        close(fd);
        if (tls)
            return cli_error("cannot start HTTPS on %s: %s (check cert_file and key_file of %s)",
                             ex->listen, ex->mhd_error[0] ? ex->mhd_error : "TLS set-up failed",
                             ex->web_config_file);
        return cli_error("cannot start the HTTP server on %s%s%s", ex->listen,
                         ex->mhd_error[0] ? ": " : "", ex->mhd_error);
    }
    snprintf(ex->served, sizeof ex->served, "serving %s://%s%s%s", tls ? "https" : "http", ex->listen,
             ex->path, web_config_has_auth(&ex->wc) ? " (basic auth)" : "");
    return EXIT_OK;
}

/* ---- the textfile ---- */

static int write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Write the exposition to a temporary file next to the textfile, then
 * rename it over: a reader sees the old file or the new one, whole.
 * Returns EXIT_OK, or EXIT_RUNTIME after printing the real reason. */
static int write_textfile(exporter *ex)
{
    size_t len = 0;
    char *text = exposition(ex, &len);
    if (!text)
        return cli_error("out of memory");
    char tmp[4096];
    /* ".prom.XXXXXX" is not "*.prom": the collector never reads it */
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.XXXXXX", ex->textfile) >= sizeof tmp) {
        free(text);
        return cli_error("--textfile: path too long");
    }
    int fd = mkstemp(tmp);
    if (fd < 0) {
        int e = errno;
        free(text);
        return cli_error("writing %s failed: cannot make a temporary file in its folder: %s",
                         ex->textfile, strerror(e));
    }
    int rc = 0, e = 0;
    if (fchmod(fd, 0644) != 0 || write_all(fd, text, len) != 0)
        rc = -1, e = errno;
    if (close(fd) != 0 && rc == 0)
        rc = -1, e = errno;
    if (rc == 0 && rename(tmp, ex->textfile) != 0)
        rc = -1, e = errno;
    free(text);
    if (rc != 0) {
        unlink(tmp);
        return cli_error("writing %s failed: %s", ex->textfile, strerror(e));
    }
    return EXIT_OK;
}

/* ---- the monitor ---- */

static int on_statistics(const ipm_statistics_event *ev, void *user)
{
    exporter *ex = user;
    metrics_add_event(&ex->store, ev);
    /* the device's engine, once per (re)appearance: asked here, where the
     * library already counts it */
    char engine[8];
    if (ev->adapter && !metrics_engine_known(&ex->store, ev->adapter) &&
        cli_adapter_engine(ex->m, ev->adapter, engine, sizeof engine) == 0)
        metrics_set_engine(&ex->store, ev->adapter, engine);
    return 0;
}

/* Notices of the followed adapters. Gone: device_up 0 (its series stay,
 * with their last values). Added (new) or back (made again, up again):
 * device_up 1, and a name seen before continues its series. */
static void on_error(const ipm_error_event *e, void *user)
{
    exporter *ex = user;
    if (e->error_code == IPM_E_ADAPTER_GONE && e->adapter)
        metrics_set_up(&ex->store, e->adapter, 0);
    if ((e->error_code == IPM_E_ADAPTER_ADDED || e->error_code == IPM_E_ADAPTER_BACK) && e->adapter &&
        metrics_register(&ex->store, e->adapter) != 0)
        cli_error("%s: not counted: more than %d devices", e->adapter, MAX_DEVICES);
    cli_error("%s%s%s", e->adapter ? e->adapter : "", e->adapter ? ": " : "",
              e->description ? e->description : ipm_strerror(e->error_code));
}

/* ipm_activate_many of `n` adapters; a refusal of their number (the
 * library opens a bounded number of captures per monitor) is said in the
 * exporter's words. Returns EXIT_OK or the exit status after the error. */
static int activate_list(exporter *ex, const char **list, int n)
{
    if (ipm_activate_many(ex->m, list, n) == IPM_OK)
        return EXIT_OK;
    if (ipm_last_error_code(ex->m) == IPM_E_INVALID_ARGUMENT && n > 1)
        return cli_error("cannot count %d adapters named with -i (the library says: %s); "
                         "without -i every adapter is counted", n, ipm_last_error(ex->m));
    return cli_lib_error(ex->m);
}

/* Without -i: every adapter, following the host (ipm_activate_matching):
 * those up now are opened at once and registered here; ones that appear
 * or come back later are registered by their notice (on_error). None up
 * is not an error: the exporter serves and waits for one. */
static int activate_default(exporter *ex)
{
    ipm_monitor *m = ex->m;
    if (ipm_activate_matching(m, NULL, 0) != IPM_OK)
        return cli_lib_error(m);
    for (int i = 0; i < ipm_get_adapter_count(m); i++) {
        const char *name = ipm_get_adapter_name(m, i);
        if (name && !cli_is_pseudo_adapter(name) && ipm_get_adapter_is_up(m, i) > 0)
            metrics_register(&ex->store, name);
    }
    return EXIT_OK;
}

static int activate_named(exporter *ex)
{
    ipm_monitor *m = ex->m;
    const char *list[256];
    int n = 0;
    for (char *save = NULL, *tok = strtok_r(ex->names, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (!*tok)
            continue;
        int dup = 0;
        for (int i = 0; i < n; i++)
            dup |= strcmp(list[i], tok) == 0;
        if (dup)
            continue;
        if (n == (int)(sizeof list / sizeof list[0]))
            return cli_usage_error(CMD, "at most %d adapters with -i", n);
        if (ipm_find_adapter(m, tok) < 0)
            return cli_error("no adapter named '%s' (see 'ipmon list')", tok);
        list[n++] = tok;
    }
    int rc = activate_list(ex, list, n);
    if (rc != EXIT_OK)
        return rc;
    for (int i = 0; i < n; i++)
        metrics_register(&ex->store, list[i]);
    return EXIT_OK;
}

/* The packet timeout: the interval, within 10 ms .. 1 s. */
static int packet_timeout_ms(double interval)
{
    double ms = interval * 1000.0;
    return ms < 10 ? 10 : ms > 1000 ? 1000 : (int)ms;
}

static int setup_monitor(exporter *ex, const char *filter)
{
    ipm_monitor *m = ex->m;
    /* The interval's timeout for every adapter, those that appear later
     * included (IPM_ADAPTER_DEFAULTS, set before listing). */
    int ms = packet_timeout_ms(ex->interval);
    if (ipm_set_adapter_packet_timeout(m, IPM_ADAPTER_DEFAULTS, ms) != IPM_OK)
        return cli_lib_error(m);
    if (ipm_list_adapters(m) != IPM_OK)
        return cli_lib_error(m);
    if (ipm_set_operation_mode(m, IPM_OM_STAT) != IPM_OK || !ipm_config(m, "StatisticsDetail=True"))
        return cli_lib_error(m);
    if (ipm_set_filter(m, filter) != IPM_OK)
        return cli_lib_error(m);
    return ex->names[0] ? activate_named(ex) : activate_default(ex);
}

/* ---- the loop ---- */

static int run(exporter *ex)
{
    int ms = packet_timeout_ms(ex->interval);
    double next_write = cli_now() + ex->interval;
    while (!cli_stop) {
        if (ipm_get_active(ex->m) > 0) {
            double t0 = cli_now();
            int r = ipm_do_events(ex->m);
            /* Every error (an adapter gone, down, a read error) was
             * reported through on_error and concerns one adapter; the
             * others go on. One that comes back at once must not spin. */
            if (r != IPM_OK && r != IPM_E_HANDLER && r != IPM_E_ADAPTER_GONE && cli_now() - t0 < 0.005)
                poll(NULL, 0, ms);
        } else {
            poll(NULL, 0, ms); /* nothing left to count: go on serving */
        }
        if (ex->textfile && cli_now() >= next_write) {
            if (write_textfile(ex) != EXIT_OK)
                return EXIT_RUNTIME;
            next_write += ex->interval;
            if (next_write <= cli_now())
                next_write = cli_now() + ex->interval;
        }
    }
    return EXIT_OK;
}

/* ---- arguments ---- */

static int parse_args(int argc, char **argv, exporter *ex, char **filter)
{
    enum { OPT_LISTEN = 256, OPT_PATH, OPT_WEBCONFIG, OPT_TEXTFILE };
    static const struct option opts[] = {{"interface", required_argument, NULL, 'i'},
                                         {"web.listen-address", required_argument, NULL, OPT_LISTEN},
                                         {"web.telemetry-path", required_argument, NULL, OPT_PATH},
                                         {"web.config.file", required_argument, NULL, OPT_WEBCONFIG},
                                         {"textfile", required_argument, NULL, OPT_TEXTFILE},
                                         {"interval", required_argument, NULL, 'I'},
                                         {"relinquish-privileges", required_argument, NULL, 'Z'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int c;
    ex->listen = DEFAULT_LISTEN;
    ex->path = "/metrics";
    ex->interval = 1.0;
    opterr = 0;
    optind = 0;
    while ((c = getopt_long(argc, argv, ":i:I:Z:h", opts, NULL)) != -1) {
        switch (c) {
        case 'i': {
            size_t len = strlen(ex->names);
            if (len + strlen(optarg) + 2 > sizeof ex->names)
                return cli_usage_error(CMD, "too many adapters");
            snprintf(ex->names + len, sizeof ex->names - len, "%s%s", len ? "," : "", optarg);
            break;
        }
        case OPT_LISTEN: ex->listen = optarg; break;
        case OPT_PATH:
            if (optarg[0] != '/')
                return cli_usage_error(CMD, "--web.telemetry-path '%s' must start with /", optarg);
            ex->path = optarg;
            break;
        case OPT_WEBCONFIG: ex->web_config_file = optarg; break;
        case OPT_TEXTFILE:
            if (!optarg[0])
                return cli_usage_error(CMD, "--textfile needs a file name");
            ex->textfile = optarg;
            break;
        case 'I':
            if (cli_parse_seconds(CMD, "--interval", optarg, 0.01, &ex->interval) < 0)
                return EXIT_USAGE;
            break;
        case 'Z': ex->user = optarg; break;
        case 'h': usage(); return EXIT_OK;
        default: return cli_getopt_error(CMD, c, argv);
        }
    }
    if (ex->textfile && ex->web_config_file)
        return cli_usage_error(CMD, "--textfile serves no HTTP: --web.config.file does not apply");
    if (!ex->textfile) {
        /* the address's form is checked now (its name is looked up when
         * the server starts, still before anything else is opened) */
        struct sockaddr_storage a;
        socklen_t l;
        if (parse_listen(ex->listen, &a, &l, 0) < 0)
            return EXIT_USAGE;
    }
    *filter = cli_join_words(argc - optind, argv + optind);
    if (!*filter)
        return cli_error("out of memory");
    return -1;
}

static void announce(exporter *ex)
{
    char buf[2048];
    int count = 0;
    metrics_device *devs = metrics_snapshot((metrics_store *)&ex->store, &count);
    if (count == 0) {
        fprintf(stderr, "listening on no adapter yet (none is up: waiting for one); %s\n", ex->served);
        fflush(stderr);
        return;
    }
    int n = snprintf(buf, sizeof buf, "listening on ");
    for (int i = 0; i < count && n > 0 && (size_t)n < sizeof buf; i++)
        n += snprintf(buf + n, sizeof buf - (size_t)n, "%s%s", i ? ", " : "", devs[i].name);
    free(devs);
    char engine[1024];
    cli_describe_engine(ex->m, engine, sizeof engine);
    if (n > 0 && (size_t)n < sizeof buf)
        snprintf(buf + n, sizeof buf - (size_t)n, "%s; %s\n", engine, ex->served);
    fputs(buf, stderr);
    fflush(stderr);
}

int cmd_exporter(int argc, char **argv)
{
    static exporter ex; /* large: keep it off the stack */
    memset(&ex, 0, sizeof ex);
    char *filter = NULL;
    int rc = parse_args(argc, argv, &ex, &filter);
    if (rc >= 0)
        return rc;
    if (cli_parse_only) {
        free(filter);
        return EXIT_OK;
    }
    if (ex.user && cli_find_user(ex.user, NULL, NULL) != EXIT_OK) {
        free(filter);
        return EXIT_RUNTIME; /* -Z: an unknown user fails before anything opens */
    }
    if (ex.web_config_file) {
        char err[512];
        int status = EXIT_RUNTIME;
        if (web_config_load(ex.web_config_file, &ex.wc, err, sizeof err, &status) != 0) {
            free(filter);
            if (status == EXIT_USAGE)
                return cli_usage_error(CMD, "--web.config.file %s: %s", ex.web_config_file, err);
            return cli_error("--web.config.file %s: %s", ex.web_config_file, err);
        }
    }
    if (metrics_store_init(&ex.store, MAX_DEVICES) != 0 || !(ex.m = ipm_new())) {
        metrics_store_free(&ex.store);
        web_config_free(&ex.wc);
        free(filter);
        return cli_error("out of memory");
    }
    metrics_libpcap_version(ex.libpcap, sizeof ex.libpcap);
    ex.info = (metrics_info){.version = IPM_VERSION_STRING,
                             .libpcap = ex.libpcap,
                             .process = ex.textfile == NULL,
                             .boot_time = metrics_boot_time()};
    ipm_set_on_statistics(ex.m, on_statistics, &ex);
    ipm_set_on_error(ex.m, on_error, &ex);
    cli_install_signals();
    /* The port first: a port in use is found before any capture opens. */
    rc = EXIT_OK;
    if (!ex.textfile)
        rc = start_http(&ex);
    else
        snprintf(ex.served, sizeof ex.served, "writing %s every %g s", ex.textfile, ex.interval);
    if (rc == EXIT_OK)
        rc = setup_monitor(&ex, filter);
    if (rc == EXIT_OK && ex.user)
        rc = cli_drop_privileges(ex.user);
    if (rc == EXIT_OK && ex.textfile)
        rc = write_textfile(&ex); /* at once: a folder it cannot write is an error now */
    if (rc == EXIT_OK) {
        cli_signals_graceful();
        announce(&ex);
        rc = run(&ex);
        if (rc == EXIT_OK && ex.textfile)
            rc = write_textfile(&ex); /* the last counts */
    }
    if (ex.daemon)
        MHD_stop_daemon(ex.daemon);
    ipm_deactivate(ex.m);
    ipm_free(ex.m);
    metrics_store_free(&ex.store);
    web_config_free(&ex.wc);
    free(filter);
    return rc;
}
