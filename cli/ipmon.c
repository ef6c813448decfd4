/*
 * ipmon.c - the program's entry point. Everything else is cli_main()
 * (main.c); keeping main() alone here lets the argument-parsing fuzz target
 * link the rest of the command line (libFuzzer brings its own main).
 */
#include "cli.h"

#include <stdio.h>

int main(int argc, char **argv)
{
    /* Help and version text are written by one fflush at the end (see
     * finish() in main.c): a buffer larger than any of them. */
    static char outbuf[1 << 16];
    setvbuf(stdout, outbuf, _IOFBF, sizeof outbuf);
    return cli_main(argc, argv);
}
