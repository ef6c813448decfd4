/*
 * blaster.c - floods UDP datagrams as fast as one core can, for a bounded
 * time, with sendmmsg(2) in batches. Run inside the sending network
 * namespace of the live benchmark (pinned to a core with taskset); the
 * receiving namespace captures.
 *
 *   blaster -d DST_IPV4 [-p PORT] [-s FRAME_BYTES] [-t SECONDS] [-n COUNT]
 *
 * FRAME_BYTES is the Ethernet frame length without FCS (as a capture sees
 * it): 64 gives 22 bytes of UDP payload, 1400 gives 1358. The datagrams are
 * never fragmented (FRAME_BYTES <= 1514). Stops after SECONDS (default 3) or
 * COUNT datagrams, whichever comes first, and prints one JSON line with the
 * number of datagrams the kernel accepted.
 */
#include "bench_common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BATCH 64
#define HEADERS (14 + 20 + 8) /* Ethernet + IPv4 + UDP */

static void usage(void)
{
    fprintf(stderr, "usage: blaster -d DST_IPV4 [-p PORT] [-s FRAME_BYTES] [-t SECONDS] [-n COUNT]\n");
    exit(2);
}

static double num_arg(const char *s, double lo, double hi)
{
    char *end;
    double v = strtod(s, &end);
    if (*s == '\0' || *end || v < lo || v > hi) {
        fprintf(stderr, "blaster: '%s' is not a number in [%g, %g]\n", s, lo, hi);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    const char *dst = NULL;
    int port = 9, frame = 64;
    double seconds = 3.0;
    uint64_t limit = UINT64_MAX;
    int opt;
    while ((opt = getopt(argc, argv, "d:p:s:t:n:")) != -1) {
        switch (opt) {
        case 'd': dst = optarg; break;
        case 'p': port = (int)num_arg(optarg, 1, 65535); break;
        case 's': frame = (int)num_arg(optarg, 60, 1514); break;
        case 't': seconds = num_arg(optarg, 0.001, 3600); break;
        case 'n': limit = (uint64_t)num_arg(optarg, 1, 1e15); break;
        default: usage();
        }
    }
    if (!dst || optind != argc)
        usage();

    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, dst, &sa.sin_addr) != 1) {
        fprintf(stderr, "blaster: '%s' is not an IPv4 address\n", dst);
        return 2;
    }
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        fprintf(stderr, "blaster: socket/connect to %s: %s\n", dst, strerror(errno));
        return 1;
    }

    static char payload[1514];
    memset(payload, 0x5a, sizeof payload);
    struct iovec iov[BATCH];
    struct mmsghdr msgs[BATCH];
    memset(msgs, 0, sizeof msgs);
    for (int i = 0; i < BATCH; i++) {
        iov[i].iov_base = payload;
        iov[i].iov_len = (size_t)(frame - HEADERS);
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
    }

    uint64_t sent = 0, errors = 0;
    double t0 = bench_now(), deadline = t0 + seconds, t1 = t0;
    while (sent < limit && (t1 = bench_now()) < deadline) {
        unsigned n = limit - sent < BATCH ? (unsigned)(limit - sent) : BATCH;
        int rc = sendmmsg(fd, msgs, n, 0);
        if (rc > 0)
            sent += (uint64_t)rc;
        else if (errno == ENOBUFS || errno == EAGAIN || errno == ECONNREFUSED)
            errors++; /* queue full or an ICMP error: try again */
        else {
            fprintf(stderr, "blaster: sendmmsg: %s\n", strerror(errno));
            return 1;
        }
    }
    t1 = bench_now();
    close(fd);
    printf("{\"prog\": \"blaster\", \"frame\": %d, \"sent\": %llu, \"seconds\": %.6f, "
           "\"pps\": %.1f, \"send_errors\": %llu}\n",
           frame, (unsigned long long)sent, t1 - t0, (double)sent / (t1 - t0),
           (unsigned long long)errors);
    return 0;
}
