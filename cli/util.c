/*
 * util.c - what the subcommands of ipmon share (declared in cli.h): the
 * stop flag and signal handling, error messages and exit codes, number and
 * option parsing, and the choice of the default adapter. main.c only
 * dispatches; each cmd_*.c is one subcommand.
 */
#include "cli.h"

#include <errno.h>
#include <grp.h>
#include <math.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The contracts of the cli_* functions are in cli.h. */

volatile sig_atomic_t cli_stop = 0;
static volatile sig_atomic_t graceful = 0;
int cli_parse_only = 0;

/* SIGINT/SIGTERM: while setting up, die of the signal (nothing to save yet,
 * and a filter compile cannot be interrupted otherwise); then only set the
 * flag. Both are async-signal-safe. */
static void on_stop_signal(int sig)
{
    if (!graceful) {
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    cli_stop = 1;
}

void cli_signals_graceful(void)
{
    graceful = 1;
}

void cli_install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    /* No SA_RESTART: a blocking wait returns early and the loop sees the flag. */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* Write prefix, the formatted message and suffix as one line to stderr. */
static void vmessage(const char *prefix, const char *fmt, va_list ap, const char *suffix)
{
    /* One fputs of the whole line, so messages of parallel runs never mix. */
    char buf[1024];
    int n = snprintf(buf, sizeof buf, "%s", prefix);
    if (n < 0)
        n = 0;
    if ((size_t)n < sizeof buf)
        vsnprintf(buf + n, sizeof buf - (size_t)n, fmt, ap);
    size_t len = strlen(buf);
    if (len < sizeof buf)
        snprintf(buf + len, sizeof buf - len, "%s\n", suffix);
    fputs(buf, stderr);
    fflush(stderr);
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    char prefix[64], suffix[96];
    snprintf(prefix, sizeof prefix, "ipmon%s%s: ", cmd ? " " : "", cmd ? cmd : "");
    snprintf(suffix, sizeof suffix, " (see 'ipmon%s%s --help')", cmd ? " " : "", cmd ? cmd : "");
    va_list ap;
    va_start(ap, fmt);
    vmessage(prefix, fmt, ap, suffix);
    va_end(ap);
    return EXIT_USAGE;
}

int cli_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmessage("ipmon: ", fmt, ap, "");
    va_end(ap);
    return EXIT_RUNTIME;
}

int cli_lib_error(const ipm_monitor *m)
{
    const char *msg = ipm_last_error(m);
    int code = ipm_last_error_code(m);
    if (!msg || !*msg)
        msg = ipm_strerror(code);
    /* ipmon's own advice after the library's, by error code. */
    const char *hint = code == IPM_E_PERMISSION && !strstr(msg, "CAP_BPF") ? "; 'ipmon list' needs no privilege" : "";
    /* Keep it one line even if the library's message has several. */
    char buf[1024];
    snprintf(buf, sizeof buf, "%s%s", msg, hint);
    /* The library's words for its callers, in ipmon's: its options. */
    static const char *const words[][2] = {
        {"(config LinkType)", "(-y)"},
        {"(config TimeStampType)", "(-j)"},
        {"call list_adapters to see the adapters", "see 'ipmon list'"},
        {"set config StatisticsEngine=auto", "use --engine auto"},
    };
    for (size_t w = 0; w < sizeof words / sizeof words[0]; w++) {
        char *at = strstr(buf, words[w][0]);
        if (!at)
            continue;
        size_t from = strlen(words[w][0]), to = strlen(words[w][1]);
        memmove(at + to, at + from, strlen(at + from) + 1); /* never longer: to <= from */
        memcpy(at, words[w][1], to);
    }
    for (char *p = buf; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    cli_error("%s", buf);
    return code == IPM_E_BAD_FILTER ? EXIT_USAGE : EXIT_RUNTIME;
}

int cli_getopt_error(const char *cmd, int c, char *const argv[])
{
    extern int optind, optopt;
    /* Name the option as typed: "--interval" rather than its short form.
     * A missing value always ends argv, so argv[optind - 1] is the option;
     * an unknown short option may sit inside a cluster ("-kx"): use optopt. */
    const char *arg = argv[optind - 1];
    char name[64];
    int long_form = c == ':' ? strncmp(arg, "--", 2) == 0 : optopt == 0;
    if (long_form)
        snprintf(name, sizeof name, "%.*s", (int)strcspn(arg, "="), arg);
    else
        snprintf(name, sizeof name, "-%c", optopt);
    if (c == ':')
        return cli_usage_error(cmd, "option %s needs a value", name);
    return cli_usage_error(cmd, "unknown option %s", name);
}

int cli_parse_int(const char *cmd, const char *what, const char *arg, long long min,
                  long long max, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(arg, &end, 10);
    if (errno || end == arg || *end != '\0' || v < min || v > max) {
        cli_usage_error(cmd, "%s: '%s' is not a whole number from %lld to %lld", what, arg, min,
                        max);
        return -1;
    }
    *out = v;
    return 0;
}

int cli_parse_seconds(const char *cmd, const char *what, const char *arg, double min,
                      double *out)
{
    char *end;
    errno = 0;
    double v = strtod(arg, &end);
    if (errno || end == arg || *end != '\0' || !isfinite(v) || v < min || v > 1e9) {
        cli_usage_error(cmd, "%s: '%s' is not a number of seconds (at least %g)", what, arg, min);
        return -1;
    }
    *out = v;
    return 0;
}

char *cli_join_words(int count, char *const words[])
{
    size_t len = 1;
    for (int i = 0; i < count; i++)
        len += strlen(words[i]) + 1;
    char *s = malloc(len);
    if (!s)
        return NULL;
    s[0] = '\0';
    for (int i = 0; i < count; i++) {
        if (i)
            strcat(s, " ");
        strcat(s, words[i]);
    }
    return s;
}

int cli_is_pseudo_adapter(const char *name)
{
    static const char *const exact[] = {"any", "nflog", "nfqueue", NULL};
    static const char *const prefixes[] = {"dbus-", "bluetooth", "usbmon", "nflog:", "nfqueue:",
                                           NULL};
    for (int i = 0; exact[i]; i++)
        if (strcmp(name, exact[i]) == 0)
            return 1;
    for (int i = 0; prefixes[i]; i++)
        if (strncmp(name, prefixes[i], strlen(prefixes[i])) == 0)
            return 1;
    return 0;
}

int cli_default_capture_adapter(const ipm_monitor *m)
{
    int n = ipm_get_adapter_count(m);
    for (int i = 0; i < n; i++) {
        const char *name = ipm_get_adapter_name(m, i);
        if (!name || cli_is_pseudo_adapter(name))
            continue;
        if (ipm_get_adapter_is_up(m, i) > 0 && ipm_get_adapter_is_running(m, i) > 0 &&
            ipm_get_adapter_is_loopback(m, i) == 0)
            return i;
    }
    return -1;
}

void cli_human(char *out, size_t cap, double v, const char *unit)
{
    static const char *const prefix[] = {"", "k", "M", "G", "T", "P"};
    int p = 0;
    while (v >= 999.5 && p < 5) {
        v /= 1000.0;
        p++;
    }
    if (p == 0)
        snprintf(out, cap, "%.0f %s", v, unit);
    else
        snprintf(out, cap, "%.*f %s%s", v < 9.995 ? 2 : v < 99.95 ? 1 : 0, v, prefix[p], unit);
}

double cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int cli_find_user(const char *name, uid_t *uid, gid_t *gid)
{
    errno = 0;
    struct passwd *pw = getpwnam(name);
    if (!pw)
        return errno ? cli_error("-Z %s: cannot look the user up: %s", name, strerror(errno))
                     : cli_error("-Z %s: no such user", name);
    if (uid)
        *uid = pw->pw_uid;
    if (gid)
        *gid = pw->pw_gid;
    return EXIT_OK;
}

int cli_drop_privileges(const char *name)
{
    uid_t uid;
    gid_t gid;
    if (cli_find_user(name, &uid, &gid) != EXIT_OK)
        return EXIT_RUNTIME;
    if (getuid() != 0 && geteuid() != 0)
        return EXIT_OK; /* as tcpdump: only root has anything to give up */
    if (initgroups(name, gid) != 0 || setgid(gid) != 0 || setuid(uid) != 0)
        return cli_error("-Z %s: cannot become that user: %s", name, strerror(errno));
    if (getuid() != uid || geteuid() != uid || getgid() != gid || getegid() != gid ||
        (uid != 0 && setuid(0) == 0))
        return cli_error("-Z %s: the change of user did not hold", name);
    return EXIT_OK;
}

void cli_describe_engine(ipm_monitor *m, char *out, size_t cap)
{
    const char *engine = ipm_config(m, "StatisticsEngine");
    if (!engine || !*engine) {
        snprintf(out, cap, "%s", "");
        return;
    }
    const char *reason = ipm_config(m, "StatisticsEngineReason");
    if (strcmp(engine, "kernel") == 0)
        snprintf(out, cap, ", counted in the kernel (eBPF)");
    else if (reason && *reason)
        snprintf(out, cap, ", counted by the %s engine (not the kernel's: %s)", engine, reason);
    else
        snprintf(out, cap, ", counted by the %s engine", engine);
}

int cli_adapter_engine(ipm_monitor *m, const char *name, char *out, size_t cap)
{
    const char *all = ipm_config(m, "StatisticsEngine");
    if (!all || !*all)
        return -1;
    if (!strchr(all, '=')) { /* one engine for every adapter */
        snprintf(out, cap, "%s", all);
        return 0;
    }
    /* "eth0=kernel, any=ring": this adapter's entry */
    size_t n = strlen(name);
    for (const char *p = all; p && *p; p = strstr(p, ", ") ? strstr(p, ", ") + 2 : NULL) {
        if (strncmp(p, name, n) == 0 && p[n] == '=') {
            const char *v = p + n + 1;
            size_t len = strcspn(v, ",");
            snprintf(out, cap, "%.*s", (int)len, v);
            return 0;
        }
    }
    return -1;
}
