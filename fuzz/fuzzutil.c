/*
 * fuzzutil.c - the in-memory capture file the fuzz targets hand to the
 * library (see fuzz.h). A memfd rather than a file on disk: nothing is
 * left behind when a run crashes, and writing it costs no disk I/O.
 */
#include "fuzz.h"

#include <sys/mman.h>
#include <unistd.h>

static int file_fd = -1;
static char file_path[64];

const char *fuzz_file_path(void)
{
    if (file_fd < 0) {
        file_fd = memfd_create("ipm-fuzz-input", MFD_CLOEXEC);
        FUZZ_CHECK(file_fd >= 0, "memfd_create failed");
        snprintf(file_path, sizeof file_path, "/proc/self/fd/%d", file_fd);
    }
    return file_path;
}

void fuzz_file_set(const uint8_t *data, size_t size)
{
    fuzz_file_path();
    FUZZ_CHECK(ftruncate(file_fd, 0) == 0, "ftruncate failed");
    size_t done = 0;
    while (done < size) {
        ssize_t n = pwrite(file_fd, data + done, size - done, (off_t)done);
        FUZZ_CHECK(n > 0, "pwrite to the memfd failed");
        done += (size_t)n;
    }
}
