/*
 * main.c - the ipmon command: the table of subcommands (list, capture,
 * stats, exporter), the top-level help built from it, and the dispatch. What the
 * subcommands share lives in util.c (see cli.h).
 *
 * `ipmon` with no subcommand, or with options only, runs `ipmon stats`.
 * The program's main() (ipmon.c) is only cli_main(), so that a fuzz target
 * (fuzz/fuzz_cli_args.c) can link this dispatch without a second main.
 */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* One row per subcommand: adding a command is one row here and its file. */
static const struct command {
    const char *name;
    int (*run)(int argc, char **argv); /* argv[0] is the command's name */
    const char *summary;               /* its line in `ipmon --help` */
} commands[] = {
    {"list", cmd_list, "list the adapters (index, name, type, MAC, state, MTU, addresses)"},
    {"capture", cmd_capture, "print or save packets, like tcpdump"},
    {"stats", cmd_stats, "live traffic statistics per adapter (the default command)"},
    {"exporter", cmd_exporter, "serve the statistics to Prometheus (or to a textfile)"},
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])
/* What `ipmon` runs without a command name. */
#define DEFAULT_COMMAND "stats"

/* The row named `name`, or NULL. */
static const struct command *find_command(const char *name)
{
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

/* "unknown command 'x'; commands are list, capture, stats"; EXIT_USAGE. */
static int unknown_command(const char *name)
{
    char names[128] = "";
    for (size_t i = 0; i < N_COMMANDS; i++) {
        size_t len = strlen(names);
        snprintf(names + len, sizeof names - len, "%s%s", i ? ", " : "", commands[i].name);
    }
    return cli_usage_error(NULL, "unknown command '%s'; commands are %s", name, names);
}

static void print_help(void)
{
    fputs("Usage: ipmon [COMMAND] [OPTIONS]\n"
          "\n"
          "Monitor network adapters with libipmonitor.\n"
          "\n"
          "Commands:\n",
          stdout);
    for (size_t i = 0; i < N_COMMANDS; i++)
        printf("  %-9s %s\n", commands[i].name, commands[i].summary);
    fputs("\n"
          "'ipmon' alone runs 'ipmon stats' on every adapter that is up until Ctrl-C;\n"
          "'ipmon -t 10' does so for ten seconds.\n"
          "'ipmon COMMAND --help' describes each command; see also ipmon(1).\n"
          "\n"
          "Exit status: 0 ok, 1 runtime error, 2 usage error.\n",
          stdout);
}

/* Help and version text go to stdout's buffer, large enough to hold any
 * of them, so the one write is the final fflush and its errno is the real
 * one. The commands' own output goes through sinks (sink.h), not stdout. */
static int finish(int rc)
{
    if (fflush(stdout) != 0) {
        int e = errno;
        if (e != EPIPE) {
            cli_error("writing standard output failed: %s", strerror(e));
            if (rc == EXIT_OK)
                rc = EXIT_RUNTIME;
        }
    }
    return rc;
}

static int dispatch(int argc, char **argv);

/* Options only (`ipmon -i lo -c 5`) run the default command, stats. When one
 * of them is `ipmon capture`'s and not stats' (tcpdump habits), say where it
 * belongs and the command line that would work, instead of stats' "unknown
 * option"; returns EXIT_USAGE then, else -1. */
static int capture_option_hint(int argc, char **argv)
{
    static const char capture_only[] = "crwsBQpxXelUnvAqSDFZ";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0 || a[0] != '-' || a[1] == '-' || a[1] == '\0')
            continue;
        if (strchr("iIt", a[1]) && a[2] == '\0') { /* stats' options with a value */
            i++;
            continue;
        }
        if (!strchr(capture_only, a[1]))
            continue;
        char line[512] = "ipmon capture";
        for (int k = 1; k < argc; k++) {
            size_t n = strlen(line);
            snprintf(line + n, sizeof line - n, " %s", argv[k]);
        }
        return cli_usage_error(NULL, "-%c belongs to 'ipmon capture': %s", a[1], line);
    }
    return -1;
}

int cli_main(int argc, char **argv)
{
    return finish(dispatch(argc, argv));
}

/* Run the command argv names (or the default one); returns its exit code. */
static int dispatch(int argc, char **argv)
{
    if (argc < 2) {
        char *args[] = {DEFAULT_COMMAND, NULL};
        return find_command(DEFAULT_COMMAND)->run(1, args);
    }
    const char *c = argv[1];
    if (strcmp(c, "-h") == 0 || strcmp(c, "--help") == 0 || strcmp(c, "help") == 0) {
        if (strcmp(c, "help") == 0 && argc > 2) {
            const struct command *cmd = find_command(argv[2]);
            if (!cmd)
                return unknown_command(argv[2]);
            char *args[] = {argv[2], "--help", NULL};
            return cmd->run(2, args);
        }
        print_help();
        return EXIT_OK;
    }
    if (strcmp(c, "-V") == 0 || strcmp(c, "--version") == 0) {
        printf("ipmon %s (libipmonitor %s)\n", IPM_VERSION_STRING, ipm_version());
        return EXIT_OK;
    }
    const struct command *cmd = find_command(c);
    if (cmd)
        return cmd->run(argc - 1, argv + 1);
    if (c[0] == '-') {
        /* Options only: they belong to the default command. */
        int hint = capture_option_hint(argc, argv);
        if (hint >= 0)
            return hint;
        argv[0] = DEFAULT_COMMAND;
        return find_command(DEFAULT_COMMAND)->run(argc, argv);
    }
    return unknown_command(c);
}
