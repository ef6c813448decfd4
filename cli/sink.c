/*
 * sink.c - checked output streams for ipmon (see sink.h): a stdio stream
 * whose buffer is written by our own write(2) loop, which keeps the real
 * errno, the bytes accepted and a ring of record ends.
 */
#include "sink.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

/* The stream's write function: write everything or fail for good. A
 * non-blocking descriptor (inherited O_NONBLOCK) is waited on with poll.
 * An interruption by Ctrl-C/SIGTERM ends the wait with EINTR, so a reader
 * that stopped reading cannot hold ipmon forever after a stop was asked.
 * Returns the bytes written; fewer than `size` marks the stream failed
 * (fopencookie's contract: never negative). */
static ssize_t sink_write(void *cookie, const char *buf, size_t size)
{
    sink *s = cookie;
    size_t done = 0;
    if (s->err) {
        errno = s->err;
        return 0;
    }
    while (done < size) {
        ssize_t n = write(s->fd, buf + done, size - done);
        if (n > 0) {
            done += (size_t)n;
            s->accepted += n;
            continue;
        }
        int e = n < 0 ? errno : EIO;
        if (e == EINTR && !cli_stop)
            continue;
        if (e == EAGAIN || e == EWOULDBLOCK) {
            struct pollfd p = {.fd = s->fd, .events = POLLOUT};
            if (poll(&p, 1, -1) >= 0 || (errno == EINTR && !cli_stop))
                continue;
            e = errno;
        }
        s->err = e;
        errno = e;
        break;
    }
    return (ssize_t)done;
}

static const cookie_io_functions_t sink_io = {.write = sink_write};

int sink_open_fd(sink *s, int fd, const char *name, char *buf, size_t size, int mode,
                 int track_records)
{
    memset(s, 0, sizeof *s);
    s->fd = fd;
    s->name = name;
    off_t at = lseek(fd, 0, SEEK_CUR);
    s->base = at > 0 ? (int64_t)at : 0;
    struct stat st;
    s->is_pipe = fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode);
    if (track_records) {
        /* Records not yet accepted all sit in the buffer (or are the one
         * being written), and none is shorter than a pcap record header. */
        size_t need = size / 16 + 2, ring = 1;
        while (ring < need)
            ring <<= 1;
        s->ends = malloc(ring * sizeof *s->ends);
        if (!s->ends)
            return -1;
        s->ring_mask = ring - 1;
    }
    s->f = fopencookie(s, "w", sink_io);
    if (!s->f) {
        free(s->ends);
        s->ends = NULL;
        return -1;
    }
    setvbuf(s->f, buf, mode == SINK_LINE ? _IOLBF : _IOFBF, size);
    /* Only the thread running ipmon's loop writes here (callbacks run
     * inside ipm_do_events): no stream lock per fwrite, per ferror (which
     * pcap_dump calls for every packet). */
    __fsetlocking(s->f, FSETLOCKING_BYCALLER);
    return 0;
}

int sink_open_path(sink *s, const char *path, char *buf, size_t size, int mode,
                   int track_records)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0)
        return -1;
    if (sink_open_fd(s, fd, path, buf, size, mode, track_records) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    s->own_fd = 1;
    return 0;
}

int sink_check_reader(sink *s)
{
    if (s->err)
        return -1;
    if (!s->f || !s->is_pipe)
        return 0;
    if (cli_pipe_reader_gone(s->fd)) {
        s->err = EPIPE;
        return -1;
    }
    return 0;
}

int cli_pipe_reader_gone(int fd)
{
    /* The write end of a pipe whose readers are all gone polls as POLLERR. */
    struct pollfd p = {.fd = fd, .events = 0};
    return poll(&p, 1, 0) == 1 && (p.revents & POLLERR);
}

int sink_flush(sink *s)
{
    if (fflush(s->f) != 0 && !s->err)
        s->err = errno ? errno : EIO;
    return s->err ? -1 : 0;
}

/* How many of the records handed so far end at or before `limit`. */
static uint64_t records_within(const sink *s, int64_t limit)
{
    if (!s->ring_mask)
        return 0;
    uint64_t ring = s->ring_mask + 1;
    uint64_t lo = s->records > ring ? s->records - ring : 0, hi = s->records;
    if (lo == hi || s->ends[lo & s->ring_mask] > limit) {
        /* Not even the oldest remembered record is whole. The ring is sized
         * so that this cannot happen after an older one; claim nothing
         * rather than too much. */
        return 0;
    }
    /* ends[] rises with the index: the last index in [lo, hi) within limit. */
    while (hi - lo > 1) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (s->ends[mid & s->ring_mask] <= limit)
            lo = mid;
        else
            hi = mid;
    }
    return lo + 1;
}

uint64_t sink_records_delivered(const sink *s)
{
    if (!s->f && !s->ends)
        return s->delivered; /* closed: as counted then */
    return s->err ? records_within(s, s->accepted) : s->records;
}

int sink_close(sink *s)
{
    if (!s->f)
        return s->err ? -1 : 0;
    if (fclose(s->f) != 0 && !s->err)
        s->err = errno ? errno : EIO;
    s->f = NULL;
    s->delivered = s->err ? records_within(s, s->accepted) : s->records;
    struct stat st;
    if (s->err && s->own_fd && s->ring_mask && fstat(s->fd, &st) == 0 && S_ISREG(st.st_mode)) {
        /* Keep the header and the whole records only: a reader then sees a
         * valid file of exactly the records counted, not a cut one. */
        uint64_t k = s->delivered;
        int64_t keep = k ? s->ends[(k - 1) & s->ring_mask]
                         : (s->accepted < s->head_end ? s->accepted : s->head_end);
        if (keep < s->accepted && ftruncate(s->fd, (off_t)(s->base + keep)) != 0) {
            /* The file stays cut inside a record; the message still counts
             * only whole records. */
        }
    }
    if (s->own_fd && close(s->fd) != 0 && !s->err)
        s->err = errno;
    s->own_fd = 0;
    free(s->ends);
    s->ends = NULL;
    s->ring_mask = 0;
    return s->err ? -1 : 0;
}

int sink_quiet_end(const sink *s)
{
    return s->err == EPIPE || (s->err == EINTR && cli_stop);
}

int sink_report(const sink *s, const char *detail)
{
    if (sink_quiet_end(s))
        return EXIT_OK;
    return cli_error("writing %s failed: %s%s", s->name, strerror(s->err), detail ? detail : "");
}
