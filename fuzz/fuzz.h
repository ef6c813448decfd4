/*
 * fuzz.h - what the fuzz targets share: the check that stops a run with a
 * message (a failed invariant is a crash to libFuzzer, like a sanitizer
 * report), and an in-memory file to hand bytes to the library by path.
 *
 * Each fuzz_*.c defines LLVMFuzzerTestOneInput (and may define
 * LLVMFuzzerInitialize). Built with -DIPM_FUZZ=ON they are libFuzzer
 * programs; in every other build replay.c gives them a main() that runs
 * them once on each file named (the corpus and the regressions), for ctest.
 */
#ifndef IPM_FUZZ_H
#define IPM_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* Abort with the condition and a formatted reason when `cond` is false. */
#define FUZZ_CHECK(cond, ...)                                                        \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "fuzz check failed at %s:%d: %s: ", __FILE__, __LINE__, \
                    #cond);                                                          \
            fprintf(stderr, __VA_ARGS__);                                            \
            fputc('\n', stderr);                                                     \
            abort();                                                                 \
        }                                                                            \
    } while (0)

/* An anonymous in-memory file (memfd, tmpfs) whose path, /proc/self/fd/N,
 * the library opens like any capture file. Made once per process; aborts
 * if it cannot be made. */
const char *fuzz_file_path(void);

/* Make the in-memory file hold exactly `data`; aborts on failure. */
void fuzz_file_set(const uint8_t *data, size_t size);

#endif
