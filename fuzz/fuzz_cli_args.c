/*
 * fuzz_cli_args.c - fuzz target "cli_args": ipmon's command line, through
 * its own dispatch (cli_main in cli/main.c) and each command's option
 * parsing, with cli_parse_only set so that no command captures anything.
 *
 * The input is the argument list, words separated by NUL bytes (at most
 * 64 of them), after "ipmon". It is parsed twice, each time from a fresh
 * copy (the first freed before the second), as a program that parses
 * several command lines would: the second parse must not see anything of
 * the first. What ipmon prints (help, usage errors) goes to /dev/null; the
 * checks are the exit status, 0 or 2 (usage), since with nothing opened
 * there is no runtime error to report, and the same status both times.
 */
#include "fuzz.h"

#include <string.h>

#include "cli.h"

#define MAX_WORDS 64

static FILE *devnull;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    cli_parse_only = 1;
    devnull = fopen("/dev/null", "w");
    FUZZ_CHECK(devnull != NULL, "cannot open /dev/null");
    return 0;
}

/* Parse the input as one command line; returns the exit status. */
static int parse_once(const uint8_t *data, size_t size)
{
    /* One copy with a NUL after the last word; argv points into it. */
    char *text = malloc(size + 1);
    FUZZ_CHECK(text != NULL, "out of memory");
    memcpy(text, data, size);
    text[size] = '\0';
    char *argv[MAX_WORDS + 2];
    int argc = 0;
    argv[argc++] = "ipmon";
    for (size_t pos = 0; pos <= size && argc <= MAX_WORDS;) {
        argv[argc++] = text + pos;
        pos += strlen(text + pos) + 1;
    }
    argv[argc] = NULL;
    if (size == 0)
        argc = 1; /* plain `ipmon` */

    FILE *out = stdout, *err = stderr;
    stdout = devnull;
    stderr = devnull;
    int rc = cli_main(argc, argv);
    stdout = out;
    stderr = err;
    free(text);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int first = parse_once(data, size);
    FUZZ_CHECK(first == EXIT_OK || first == EXIT_USAGE, "exit status %d", first);
    int second = parse_once(data, size);
    FUZZ_CHECK(second == first, "exit status %d, then %d for the same arguments", first, second);
    return 0;
}
