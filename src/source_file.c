/*
 * source_file.c - a pcap or pcapng file as a packet source.
 *
 * libpcap opens every file: it checks the header, maps the link type and
 * compiles filters. Reading is where it leaves speed behind: two stdio reads
 * and a copy per packet (about 430 instructions), through a 4 KiB buffer.
 * So:
 *  - a classic pcap file in this machine's byte order, version 2.4, whose
 *    link type has the usual 262144-byte limit (nearly every file tcpdump,
 *    Wireshark or libpcap writes) is read in place: read 512 KiB at a time
 *    into one buffer and walked record by record, with libpcap's checks and
 *    messages, its filter run by pcap_offline_filter. No copy per packet;
 *    memory stays at one buffer however large the file, and a file cut
 *    short while it is read is an error, never a signal.
 *  - anything else (pcapng, other byte order, old versions, special link
 *    types) goes through libpcap's reader, given a 256 KiB stdio buffer
 *    (glibc ignores setvbuf with a NULL buffer), about 1.2x faster than its
 *    default.
 *  - a pcapng file also gets each packet's interface name and direction
 *    (pcapng_meta.c walks its blocks beside libpcap): the packet event's
 *    adapter is the interface's if_name (the file's path when it has none)
 *    and its direction the epb_flags. libpcap is then given no filter: the
 *    walker must see every packet, so the filter runs here
 *    (pcap_offline_filter), as in the in-place reader.
 * Time stamps come out in nanoseconds either way.
 */
#include "pcapng_meta.h"
#include "source.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FILE_BUFFER_SIZE (256 * 1024)
#define MAX_CAPLEN 262144u    /* libpcap's limit for ordinary link types */
#define RECORD_HEADER 16u
/* Each read asks for this much; the buffer also holds the start of a record
 * left over from the previous read, so it is one read plus the largest
 * record. 512 KiB keeps what was just read in the caches while it is
 * walked; larger reads measured no faster. */
#define READ_CHUNK (512u * 1024)
#define READ_BUFFER (READ_CHUNK + RECORD_HEADER + MAX_CAPLEN)
#define PCAP_MAGIC_MICRO 0xa1b2c3d4u
#define PCAP_MAGIC_NANO 0xa1b23c4du

/* A classic pcap file read in place: large read(2)s into one buffer, whose
 * records are handed over where they lie. Reading, not mapping: a mapped
 * file that another process truncates raises SIGBUS at the first touch of
 * a page past the new end, which no library may let loose in its host;
 * read(2) just returns less, which is libpcap's "truncated dump file". */
typedef struct ipm_file_reader {
    int fd;
    uint64_t next_read;  /* file offset of the next read */
    uint8_t *buffer;     /* READ_BUFFER bytes */
    size_t pos, end;     /* unread bytes: buffer[pos, end) */
    uint32_t ts_multiplier; /* to nanoseconds: 1000 for micro files */
    uint32_t snapshot;
    struct bpf_program filter; /* bf_insns NULL: no filter */
} ipm_file_reader;

/* What only a file source has: libpcap's stdio buffer, and the reader when
 * the file is read in place. */
typedef struct file_priv {
    char *buffer;
    ipm_file_reader *reader;
    ipm_pcapng_meta *meta;       /* a pcapng file's walker, or NULL */
    struct bpf_program filter;   /* with meta: the filter, run here */
    pcap_handler handler;        /* with meta: dispatch's handler */
} file_priv;

/* The header of one record, as stored (host byte order here). */
typedef struct record_header {
    uint32_t sec, frac, caplen, len;
} record_header;

/* Move what is left to the front of the buffer and read after it: the
 * bytes read, 0 at the end of the file (as it is now: a file that grew
 * since the last read is read on, like libpcap's reader does), -1 with
 * errno on error. */
static ssize_t refill(ipm_file_reader *f)
{
    size_t left = f->end - f->pos;
    if (left && f->pos)
        memmove(f->buffer, f->buffer + f->pos, left);
    f->pos = 0;
    f->end = left;
    for (;;) {
        ssize_t n = pread(f->fd, f->buffer + f->end, READ_BUFFER - f->end, (off_t)f->next_read);
        if (n < 0 && errno == EINTR)
            continue;
        if (n > 0) {
            f->end += (size_t)n;
            f->next_read += (uint64_t)n;
        }
        return n;
    }
}

/* Make the record at the current position (header and data) lie whole in
 * the buffer: 1 when it does, 0 at the end of the file, -1 on error (with
 * libpcap's message for the same damage). */
static int record_ready(ipm_source *s, ipm_file_reader *f, record_header *rec)
{
    for (;;) {
        size_t avail = f->end - f->pos;
        if (avail >= sizeof *rec) {
            memcpy(rec, f->buffer + f->pos, sizeof *rec);
            if (rec->caplen > MAX_CAPLEN) {
                snprintf(s->error, sizeof s->error,
                         rec->caplen > f->snapshot
                             ? "invalid packet capture length %u, bigger than snaplen of %u"
                             : "invalid packet capture length %u, bigger than maximum of %u",
                         rec->caplen, rec->caplen > f->snapshot ? f->snapshot : MAX_CAPLEN);
                return -1;
            }
            if (avail - sizeof *rec >= rec->caplen)
                return 1;
        }
        ssize_t n = refill(f);
        if (n < 0) {
            snprintf(s->error, sizeof s->error, "error reading dump file: %s", strerror(errno));
            return -1;
        }
        if (n > 0)
            continue;
        if (avail == 0)
            return 0;
        if (avail < sizeof *rec)
            snprintf(s->error, sizeof s->error,
                     "truncated dump file; tried to read %zu header bytes, only got %zu",
                     sizeof *rec, avail);
        else
            snprintf(s->error, sizeof s->error,
                     "truncated dump file; tried to read %u captured bytes, only got %zu",
                     rec->caplen, avail - sizeof *rec);
        return -1;
    }
}

static int in_place_dispatch(ipm_source *s, pcap_handler handler)
{
    ipm_file_reader *f = ((file_priv *)s->priv)->reader;
    atomic_int *stop = &s->monitor->stop_requested;
    int count = 0, rc;
    record_header rec;
    struct pcap_pkthdr h;
    while ((rc = record_ready(s, f, &rec)) == 1) {
        const uint8_t *data = f->buffer + f->pos + sizeof rec;
        f->pos += sizeof rec + rec.caplen;
        h.ts.tv_sec = rec.sec;
        /* Not normalised here: events.c carries an out-of-range fraction
         * into the seconds for every kind of source alike. */
        h.ts.tv_usec = (suseconds_t)rec.frac * f->ts_multiplier;
        h.caplen = rec.caplen < f->snapshot ? rec.caplen : f->snapshot;
        h.len = rec.len;
        if (f->filter.bf_insns && !pcap_offline_filter(&f->filter, &h, data))
            continue;
        handler((u_char *)s, &h, data);
        count++;
        if (atomic_load_explicit(stop, memory_order_relaxed))
            return PCAP_ERROR_BREAK;
    }
    return rc < 0 ? PCAP_ERROR : count;
}

static int copy_program(ipm_source *s, struct bpf_program *to, const struct bpf_program *prog);

static int in_place_set_filter(ipm_source *s, struct bpf_program *prog)
{
    return copy_program(s, &((file_priv *)s->priv)->reader->filter, prog);
}

/* pcapng: one packet from libpcap, with its interface and direction from
 * the walker, through the filter, to dispatch's handler. */
static void pcapng_packet(u_char *user, const struct pcap_pkthdr *h, const u_char *bytes)
{
    ipm_source *s = (ipm_source *)user;
    file_priv *fp = s->priv;
    const char *name = NULL;
    int direction = IPM_PACKET_DIRECTION_UNKNOWN;
    ipm_pcapng_meta_next(fp->meta, h->caplen, h->len, &name, &direction);
    s->event.adapter = name ? name : s->name;
    s->recorded_direction = direction;
    if (fp->filter.bf_insns && !pcap_offline_filter(&fp->filter, h, bytes))
        return;
    fp->handler(user, h, bytes);
}

static int pcapng_dispatch(ipm_source *s, pcap_handler handler)
{
    file_priv *fp = s->priv;
    fp->handler = handler;
    int n = pcap_dispatch(s->pcap, -1, pcapng_packet, (u_char *)s);
    if (n == PCAP_ERROR)
        snprintf(s->error, sizeof s->error, "%s", pcap_geterr(s->pcap));
    return n;
}

/* Keep a copy of the program, for pcap_offline_filter. */
static int copy_program(ipm_source *s, struct bpf_program *to, const struct bpf_program *prog)
{
    size_t bytes = prog->bf_len * sizeof *prog->bf_insns;
    struct bpf_insn *copy = malloc(bytes ? bytes : 1);
    if (!copy) {
        snprintf(s->error, sizeof s->error, "out of memory");
        return -1;
    }
    memcpy(copy, prog->bf_insns, bytes);
    free(to->bf_insns);
    to->bf_insns = copy;
    to->bf_len = prog->bf_len;
    return 0;
}

static int pcapng_set_filter(ipm_source *s, struct bpf_program *prog)
{
    return copy_program(s, &((file_priv *)s->priv)->filter, prog);
}

static void reader_free(ipm_file_reader *f)
{
    if (!f)
        return;
    free(f->buffer);
    if (f->fd >= 0)
        close(f->fd);
    free(f->filter.bf_insns);
    free(f);
}

/* Libpcap's limit differs for these link types: leave them to libpcap. */
static int has_usual_caplen_limit(int link_type)
{
    switch (link_type) {
    case DLT_DBUS:
    case DLT_USBPCAP:
    case DLT_USB_LINUX:
    case DLT_USB_LINUX_MMAPPED:
#ifdef DLT_EBHSCR
    case DLT_EBHSCR:
#endif
        return 0;
    default:
        return 1;
    }
}

/* A reader of the file when it can be read in place, else NULL. The header
 * was already checked by libpcap; this only decides which reader to use. */
static ipm_file_reader *try_in_place(const char *path, pcap_t *p)
{
    struct {
        uint32_t magic;
        uint16_t major, minor;
        uint32_t thiszone, sigfigs, snaplen, linktype;
    } hdr;
    struct stat st;
    ipm_file_reader *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (f->fd < 0 || fstat(f->fd, &st) != 0 || !S_ISREG(st.st_mode) ||
        pread(f->fd, &hdr, sizeof hdr, 0) != (ssize_t)sizeof hdr ||
        (hdr.magic != PCAP_MAGIC_MICRO && hdr.magic != PCAP_MAGIC_NANO) || hdr.major != 2 ||
        hdr.minor != 4 || !has_usual_caplen_limit(pcap_datalink(p)) ||
        !(f->buffer = malloc(READ_BUFFER)))
        goto no; /* libpcap's reader does it */
    f->ts_multiplier = hdr.magic == PCAP_MAGIC_NANO ? 1 : 1000;
    f->snapshot = (uint32_t)pcap_snapshot(p);
    f->next_read = sizeof hdr; /* the first read is made when reading starts */
#ifdef POSIX_FADV_SEQUENTIAL /* an optional part of POSIX: macOS lacks it */
    (void)posix_fadvise(f->fd, 0, 0, POSIX_FADV_SEQUENTIAL); /* larger read-ahead */
#endif
    return f;
no:
    reader_free(f);
    return NULL;
}

static int file_stats(ipm_source *s, ipm_totals *out)
{
    /* pcap_stats() has nothing for savefiles: what passed the filter is
     * what was read, and nothing can be dropped. */
    out->received = s->total_packets + s->interval.packets;
    out->dropped = 0;
    out->adapter_dropped = 0;
    return 0;
}

static void file_close(ipm_source *s)
{
    file_priv *fp = s->priv;
    reader_free(fp->reader);
    fp->reader = NULL;
    ipm_pcapng_meta_free(fp->meta);
    fp->meta = NULL;
    free(fp->filter.bf_insns);
    fp->filter.bf_insns = NULL;
    if (s->pcap)
        pcap_close(s->pcap); /* also fcloses the stream using fp->buffer */
    s->pcap = NULL;
    free(fp->buffer);
    fp->buffer = NULL;
}

/* A file has no fd to wait on, no direction of its own to select and no
 * kernel: those ops stay NULL. */
static const ipm_source_ops file_ops = {
    .dispatch = ipm_source_pcap_dispatch,
    .set_filter = ipm_source_pcap_set_filter,
    .stats = file_stats,
    .close = file_close,
};
static const ipm_source_ops pcapng_file_ops = {
    .dispatch = pcapng_dispatch,
    .set_filter = pcapng_set_filter,
    .stats = file_stats,
    .close = file_close,
};
static const ipm_source_ops in_place_file_ops = {
    .dispatch = in_place_dispatch,
    .set_filter = in_place_set_filter,
    .stats = file_stats,
    .close = file_close,
};

ipm_source *ipm_source_open_file(ipm_monitor *m, const char *path,
                                 const ipm_adapter_settings *settings)
{
    char err[PCAP_ERRBUF_SIZE];
    FILE *f = fopen(path, "rb");
    if (!f) {
        /* A path that names nothing is the code for "no adapter or file by
         * that name"; one that cannot be read is a file error. */
        int code = errno == ENOENT ? IPM_E_ADAPTER_NOT_FOUND : IPM_E_FILE;
        ipm_fail(m, code, "cannot open capture file \"%s\": %s", path, strerror(errno));
        return NULL;
    }
    char *buffer = malloc(FILE_BUFFER_SIZE);
    if (buffer)
        setvbuf(f, buffer, _IOFBF, FILE_BUFFER_SIZE);
    pcap_t *p = pcap_fopen_offline_with_tstamp_precision(f, PCAP_TSTAMP_PRECISION_NANO, err);
    if (!p) {
        ipm_fail(m, IPM_E_FILE, "\"%s\" is not a readable pcap or pcapng file: %s", path, err);
        fclose(f);
        free(buffer);
        return NULL;
    }
    ipm_source *s = ipm_source_alloc(m, path, -1, settings, sizeof(file_priv));
    if (!s) {
        pcap_close(p);
        free(buffer);
        return NULL;
    }
    file_priv *fp = s->priv;
    fp->reader = try_in_place(path, p);
    fp->meta = fp->reader ? NULL : ipm_pcapng_meta_open(path);
    fp->buffer = buffer;
    s->ops = fp->reader ? &in_place_file_ops : fp->meta ? &pcapng_file_ops : &file_ops;
    s->caps = IPM_SOURCE_ENDS | IPM_SOURCE_PACKET_CLOCK;
    s->pcap = p;
    /* The in-place reader always produces nanoseconds. */
    s->ts_scale = fp->reader || pcap_get_tstamp_precision(p) == PCAP_TSTAMP_PRECISION_NANO ? 1 : 1000;
    s->link_type = s->event.link_type = pcap_datalink(p);
    s->base_dir_method = s->link_type == DLT_LINUX_SLL    ? IPM_DIRMETHOD_SLL
                         : s->link_type == DLT_LINUX_SLL2 ? IPM_DIRMETHOD_SLL2
                         : fp->meta                       ? IPM_DIRMETHOD_RECORDED
                                                          : IPM_DIRMETHOD_UNKNOWN;
    s->dir_method = s->base_dir_method;
    return s;
}
