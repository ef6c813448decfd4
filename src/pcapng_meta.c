/*
 * pcapng_meta.c - what libpcap's pcapng reader does not tell: the interface
 * each packet was captured on (its if_name) and its direction (epb_flags).
 *
 * libpcap reads pcapng files (and checks them: what it refuses, the library
 * refuses, with its message), but pcap_next_ex gives only the time, lengths
 * and bytes. So a second, light reader walks the same file's blocks in step
 * with libpcap: libpcap hands over packets in the order of the file's
 * packet blocks (enhanced, simple and obsolete), and for each the walker
 * takes the next packet block, checks that its lengths are the ones libpcap
 * gave (they always are, unless the two readers disagree on a damaged
 * file), and reads the interface's name and the flags. From the first
 * disagreement on, it gives nothing more (the packets still come, with the
 * file's path as their adapter and no direction): a wrong name or direction
 * is worse than none.
 *
 * It reads with pread(2) into one buffer, like the classic in-place reader,
 * so a file cut short while read is only the end of the metadata.
 */
#include "pcapng_meta.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ipmonitor.h"

#define META_BUFFER (1024u * 1024) /* a larger block ends the walk */
#define BT_SHB 0x0A0D0D0Au
#define BT_IDB 0x00000001u
#define BT_OPB 0x00000002u /* obsolete packet block */
#define BT_SPB 0x00000003u
#define BT_EPB 0x00000006u
#define BYTE_ORDER_MAGIC 0x1A2B3C4Du
#define OPT_END 0
#define OPT_IF_NAME 2
#define OPT_EPB_FLAGS 2
#define OPT_OPB_FLAGS 2

struct ipm_pcapng_meta {
    int fd;
    int swapped;          /* the current section is in the other byte order */
    int broken;           /* out of step with libpcap, or unreadable: no more */
    uint64_t next_read;
    uint8_t *buffer;
    size_t pos, end;
    char **names;         /* the current section's interfaces (NULL: unnamed) */
    int count, cap;
};

static uint32_t get32(const ipm_pcapng_meta *w, const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return w->swapped ? __builtin_bswap32(v) : v;
}

static uint16_t get16(const ipm_pcapng_meta *w, const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return w->swapped ? __builtin_bswap16(v) : v;
}

static void forget_interfaces(ipm_pcapng_meta *w)
{
    for (int i = 0; i < w->count; i++)
        free(w->names[i]);
    w->count = 0;
}

ipm_pcapng_meta *ipm_pcapng_meta_open(const char *path)
{
    struct stat st;
    uint32_t first;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || pread(fd, &first, 4, 0) != 4 ||
        first != BT_SHB) {
        close(fd);
        return NULL;
    }
    ipm_pcapng_meta *w = calloc(1, sizeof *w);
    if (!w || !(w->buffer = malloc(META_BUFFER))) {
        free(w);
        close(fd);
        return NULL;
    }
    w->fd = fd;
    return w;
}

void ipm_pcapng_meta_free(ipm_pcapng_meta *w)
{
    if (!w)
        return;
    forget_interfaces(w);
    free(w->names);
    free(w->buffer);
    close(w->fd);
    free(w);
}

/* Make `n` bytes lie at buffer[pos]: 1, or 0 when the file has fewer. */
static int have(ipm_pcapng_meta *w, size_t n)
{
    while (w->end - w->pos < n) {
        if (n > META_BUFFER)
            return 0;
        size_t left = w->end - w->pos;
        if (left && w->pos)
            memmove(w->buffer, w->buffer + w->pos, left);
        w->pos = 0;
        w->end = left;
        ssize_t r = pread(w->fd, w->buffer + w->end, META_BUFFER - w->end, (off_t)w->next_read);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return 0;
        w->end += (size_t)r;
        w->next_read += (uint64_t)r;
    }
    return 1;
}

/* The options from `p` to `end`: the value of option `code` (4 bytes) if
 * present, for epb_flags; or the text of if_name, copied. */
static const uint8_t *find_option(const ipm_pcapng_meta *w, const uint8_t *p, const uint8_t *end,
                                  uint16_t code, uint16_t *len)
{
    while (end - p >= 4) {
        uint16_t c = get16(w, p), l = get16(w, p + 2);
        if (c == OPT_END || (size_t)(end - p - 4) < l)
            return NULL;
        if (c == code) {
            *len = l;
            return p + 4;
        }
        p += 4 + ((size_t)l + 3) / 4 * 4;
    }
    return NULL;
}

static int add_interface(ipm_pcapng_meta *w, const uint8_t *body, size_t body_len)
{
    if (w->count == w->cap) {
        int cap = w->cap ? w->cap * 2 : 8;
        char **n = realloc(w->names, (size_t)cap * sizeof *n);
        if (!n)
            return -1;
        w->names = n;
        w->cap = cap;
    }
    char *name = NULL;
    uint16_t len = 0;
    if (body_len >= 8) {
        const uint8_t *v = find_option(w, body + 8, body + body_len, OPT_IF_NAME, &len);
        if (v && len) {
            size_t n = strnlen((const char *)v, len);
            if (n && (name = malloc(n + 1))) {
                memcpy(name, v, n);
                name[n] = '\0';
            }
        }
    }
    w->names[w->count++] = name;
    return 0;
}

int ipm_pcapng_meta_next(ipm_pcapng_meta *w, uint32_t caplen, uint32_t len, const char **name,
                         int *direction)
{
    *name = NULL;
    *direction = IPM_PACKET_DIRECTION_UNKNOWN;
    while (!w->broken) {
        if (!have(w, 12))
            break;
        const uint8_t *b = w->buffer + w->pos;
        uint32_t type;
        memcpy(&type, b, 4);
        if (type == BT_SHB) {
            uint32_t magic;
            memcpy(&magic, b + 8, 4);
            if (magic != BYTE_ORDER_MAGIC && __builtin_bswap32(magic) != BYTE_ORDER_MAGIC)
                break;
            w->swapped = magic != BYTE_ORDER_MAGIC;
            forget_interfaces(w);
        } else {
            type = w->swapped ? __builtin_bswap32(type) : type;
        }
        uint32_t total = get32(w, b + 4);
        if (total < 12 || total % 4 || !have(w, total))
            break;
        b = w->buffer + w->pos; /* have() may have moved it */
        w->pos += total;
        const uint8_t *body = b + 8;
        size_t body_len = total - 12;
        if (type == BT_IDB) {
            if (add_interface(w, body, body_len) != 0)
                break;
            continue;
        }
        if (type != BT_EPB && type != BT_SPB && type != BT_OPB)
            continue; /* statistics, name resolution, custom...: not packets */
        uint32_t itf = 0, cap, wire, fixed;
        if (type == BT_SPB) {
            if (body_len < 4)
                break;
            wire = get32(w, body);
            fixed = 4;
            cap = wire; /* the block holds min(len, snaplen): checked below */
        } else {
            if (body_len < 20)
                break;
            itf = type == BT_OPB ? get16(w, body) : get32(w, body);
            cap = get32(w, body + 12);
            wire = get32(w, body + 16);
            fixed = 20;
        }
        /* In step with libpcap: the same wire length, and a captured
         * length it could have given (libpcap may cut it to the snapshot). */
        if (wire != len || caplen > cap || itf >= (uint32_t)w->count)
            break;
        *name = w->names[itf];
        if (type != BT_SPB) {
            size_t data_end = fixed + ((size_t)cap + 3) / 4 * 4;
            uint16_t olen = 0;
            const uint8_t *flags = data_end <= body_len
                                       ? find_option(w, body + data_end, body + body_len,
                                                     OPT_EPB_FLAGS, &olen)
                                       : NULL;
            if (flags && olen == 4) {
                uint32_t f = get32(w, flags) & 3;
                *direction = f == 1 ? IPM_PACKET_DIRECTION_INCOMING
                             : f == 2 ? IPM_PACKET_DIRECTION_OUTGOING
                                      : IPM_PACKET_DIRECTION_UNKNOWN;
            }
        }
        return 1;
    }
    w->broken = 1;
    return 0;
}
