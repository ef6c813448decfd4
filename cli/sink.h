/*
 * sink.h - every byte ipmon writes to standard output or to a -w file goes
 * through a sink: a stdio stream (so fwrite, fprintf and libpcap's
 * pcap_dump work as usual) whose buffer is emptied by our own write(2)
 * loop (fopencookie). That loop is where a write fails, so it keeps:
 *  - the real errno of the failing write(2), and stops there for good: a
 *    failed sink refuses every later write, so nothing reaches the output
 *    after an error has been reported;
 *  - the number of bytes the kernel accepted, and, for outputs made of
 *    records (a line, a pcap record), the end of each recent record, so
 *    that after a failure ipmon knows exactly how many whole records
 *    reached the output and never claims more.
 * Callers check sink_failed() after each record (a flag test, no call), so
 * a failure stops the command at once, whatever the buffering: glibc's
 * fwrite on a line-buffered stream reports success even when its flush
 * failed, so its return value alone is not enough.
 */
#ifndef IPMON_SINK_H
#define IPMON_SINK_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct sink {
    FILE *f;              /* write through this */
    int fd;
    int own_fd;           /* opened by sink_open_path: closed by sink_close */
    int is_pipe;          /* a pipe or FIFO: its reader can go away */
    int err;              /* errno of the first failed write, 0 while none */
    const char *name;     /* "standard output" or the path, for messages */
    int64_t base;         /* the fd's offset when opened (regular files) */
    int64_t accepted;     /* bytes write(2) accepted */
    int64_t logical;      /* bytes handed to the stream */
    int64_t head_end;     /* logical end of the header (sink_skip) */
    uint64_t records;     /* records handed to the stream */
    int64_t *ends;        /* ring: logical end of each recent record */
    size_t ring_mask;     /* ring size - 1; 0 without record tracking */
    uint64_t delivered;   /* sink_records_delivered() when closed */
} sink;

enum { SINK_FULL = 0, SINK_LINE = 1 };

/* Wrap the open descriptor `fd` (not closed by sink_close). `buf` of
 * `size` bytes becomes the stream's buffer (static storage; size > 0);
 * `mode` is SINK_FULL or SINK_LINE. With `track_records`, sink_record()
 * keeps enough record ends to answer sink_records_delivered() after a
 * failure. Returns 0, or -1 with errno set (out of memory). */
int sink_open_fd(sink *s, int fd, const char *name, char *buf, size_t size, int mode,
                 int track_records);

/* Create or truncate `path` and wrap it as above; the descriptor is closed
 * by sink_close. Returns 0, or -1 with errno set. */
int sink_open_path(sink *s, const char *path, char *buf, size_t size, int mode,
                   int track_records);

/* Non-zero once a write has failed (s->err holds why). Cheap enough for
 * every packet: it reads one field and makes no call. */
static inline int sink_failed(const sink *s) { return s->err != 0; }

/* Note that `bytes` more bytes, handed to the stream since the last call,
 * end one record (with record tracking), or are a header (sink_skip). */
static inline void sink_record(sink *s, size_t bytes)
{
    s->logical += (int64_t)bytes;
    if (s->ring_mask)
        s->ends[s->records & s->ring_mask] = s->logical;
    s->records++;
}
/* A record whose writing failed part-way, length unknown: it counts as
 * handed but can never be delivered. */
static inline void sink_record_failed(sink *s)
{
    if (s->ring_mask)
        s->ends[s->records & s->ring_mask] = INT64_MAX;
    s->records++;
}
static inline void sink_skip(sink *s, size_t bytes)
{
    s->logical += (int64_t)bytes;
    s->head_end = s->logical;
}

/* Non-zero when `fd` is the write end of a pipe whose readers have all
 * gone (it polls as POLLERR): a write would fail with EPIPE. */
int cli_pipe_reader_gone(int fd);

/* For a pipe: has its reader gone (closed its end)? Then the sink fails
 * with EPIPE, as the next write would, so a command with nothing to write
 * (a quiet adapter) still ends soon after `| head` has had enough. One
 * poll(2) with no wait; call it a few times a second, not per packet.
 * Returns 0, or -1 when the sink has failed. */
int sink_check_reader(sink *s);

/* Flush the stream; returns 0, or -1 when this or an earlier write failed. */
int sink_flush(sink *s);

/* After a failure: how many records (counted by sink_record) reached the
 * output whole. Without a failure: every record handed so far. */
uint64_t sink_records_delivered(const sink *s);

/* Flush and release the stream (and the descriptor if the sink opened it).
 * After a failure on a regular file, the file is cut back to the end of
 * the last whole record, so it stays a valid file of the records counted.
 * Returns 0, or -1 when any write failed (s->err says why). */
int sink_close(sink *s);

/* A failure that ends the command quietly with status 0 rather than as an
 * error: EPIPE, the reader went away (`ipmon ... | head`), which tcpdump
 * also treats as a normal end; or a write interrupted by Ctrl-C/SIGTERM
 * while the reader was not reading (the user asked to stop). */
int sink_quiet_end(const sink *s);

/* Print "ipmon: writing NAME failed: STRERROR" plus `detail` (may be "")
 * and return EXIT_RUNTIME; for a quiet end print nothing and return
 * EXIT_OK. Call only after a failure. */
int sink_report(const sink *s, const char *detail);

#endif
