/*
 * cli.h - what the subcommands of ipmon share: exit codes, error messages,
 * option-parsing helpers, the stop flag set by SIGINT/SIGTERM, and the
 * choice of default adapters. Implemented in util.c; main.c dispatches.
 */
#ifndef IPMON_CLI_H
#define IPMON_CLI_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "ipmonitor.h"

enum { EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_USAGE = 2 };

/* Set by SIGINT/SIGTERM (async-signal-safe); the main loops poll it. */
extern volatile sig_atomic_t cli_stop;
/* Catch SIGINT and SIGTERM; ignore SIGPIPE (writes report EPIPE instead,
 * so files still get closed properly; sink.h ends the command quietly on
 * it). Until cli_signals_graceful(), the command is still setting up (a
 * large filter can keep libpcap's compiler busy for minutes, and nothing
 * can interrupt it): a signal then ends the process at once, as it would
 * without a handler. */
void cli_install_signals(void);
/* From here on, SIGINT and SIGTERM only set cli_stop: the running command
 * finishes its work (drains the ring, completes the file, prints totals). */
void cli_signals_graceful(void);

/* Print "ipmon CMD: MESSAGE (see 'ipmon CMD --help')" and return EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Print "ipmon: MESSAGE" and return EXIT_RUNTIME. */
int cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print "ipmon: " + the library's last error; EXIT_USAGE for a filter that
 * does not compile, else EXIT_RUNTIME. */
int cli_lib_error(const ipm_monitor *m);

/* Which statistics engine counts `m`'s active adapters, as the "listening
 * on" lines say it: ", counted in the kernel (eBPF)", ", counted by the
 * ring engine (not the kernel's: REASON)", ... ("" when none is active). */
void cli_describe_engine(ipm_monitor *m, char *out, size_t cap);

/* The statistics engine ("kernel", "ring", "file") counting the active
 * adapter `name` of `m`, into out: 0, or -1 when `m` does not say. */
int cli_adapter_engine(ipm_monitor *m, const char *name, char *out, size_t cap);

/* -Z USER, for the commands that take it. cli_find_user looks the user up
 * (uid/gid may be NULL): EXIT_OK, or EXIT_RUNTIME after one line ("no such
 * user"). cli_drop_privileges, called once the captures (and sockets) are
 * open: as tcpdump, only when running as root (otherwise there is nothing
 * to give up) it becomes the user (its groups, its group, its user) and
 * checks that the change held and cannot be undone. */
#include <sys/types.h>
int cli_find_user(const char *name, uid_t *uid, gid_t *gid);
int cli_drop_privileges(const char *name);

/* The message for getopt_long's '?' or ':' result (needs opterr = 0 and an
 * optstring starting with ':'); returns EXIT_USAGE. */
int cli_getopt_error(const char *cmd, int c, char *const argv[]);

/* Parse an integer in [min, max]; on error print a usage error and return
 * -1. `what` names the option ("-c"). */
int cli_parse_int(const char *cmd, const char *what, const char *arg, long long min,
                  long long max, long long *out);
/* Parse a positive number of seconds such as "1", "0.5"; same errors. */
int cli_parse_seconds(const char *cmd, const char *what, const char *arg, double min,
                      double *out);

/* The trailing words joined with spaces (the filter expression); "" when
 * there are none. The caller frees it. NULL if out of memory. */
char *cli_join_words(int count, char *const words[]);

/* Devices that are not real network interfaces: "any", nflog, nfqueue,
 * dbus-*, bluetooth*, usbmon*. They are never chosen by default. */
int cli_is_pseudo_adapter(const char *name);

/* The index of the first adapter that is up, running, not loopback and not
 * a pseudo-device (tcpdump's choice), or -1. The adapters must be listed. */
int cli_default_capture_adapter(const ipm_monitor *m);

/* `ipmon capture -D`: the adapters numbered as tcpdump -D prints them
 * ("1.eth0 [Up, Running, Connected]"); the number is the library's index
 * + 1, as `ipmon list` shows and `ipmon capture -i N` takes. Returns the
 * exit status. */
int cli_list_numbered(void);

/* `v` with an SI prefix and `unit` appended: 1234567, "b/s" -> "1.23 Mb/s"
 * (three significant digits; under 1000 as a whole number). */
void cli_human(char *out, size_t cap, double v, const char *unit);

/* Seconds of CLOCK_MONOTONIC. */
double cli_now(void);

/* The whole command line (main.c): help, version, or dispatch to a
 * subcommand; returns the exit status. main() is only this call. */
int cli_main(int argc, char **argv);

/* When set (only the argument-parsing fuzz target sets it), each command
 * returns EXIT_OK right after parsing its arguments: no monitor is made,
 * nothing is opened or captured. Usage errors and --help are as usual. */
extern int cli_parse_only;

/* The subcommands (cmd_*.c), listed in main.c's command table. */
int cmd_list(int argc, char **argv);
int cmd_capture(int argc, char **argv);
int cmd_stats(int argc, char **argv);
int cmd_exporter(int argc, char **argv);

#endif
