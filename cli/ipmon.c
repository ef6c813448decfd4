/*
 * ipmon.c - the program's entry point. Everything else is cli_main()
 * (main.c); keeping main() alone here lets the argument-parsing fuzz target
 * link the rest of the command line (libFuzzer brings its own main).
 */
#include "cli.h"

int main(int argc, char **argv)
{
    return cli_main(argc, argv);
}
