/*
 * cmd_capture.c - `ipmon capture`: print packets one line each, or save them
 * to a pcap or pcapng file, with tcpdump's flags where they overlap.
 *
 * One monitor in capture mode on one adapter, several (-i given again: one
 * pcapng file holds them all, each packet with its interface and
 * direction), or a file (-r). Like tcpdump, the capture ends (status 1)
 * when an adapter it captures on disappears: the library would open it
 * again if it came back, but a capture with a gap nobody asked for is worse
 * than one that says where it stopped. The packet callback decodes into a
 * stack struct and writes one line, or hands the packet to the library's
 * writer (ipm_writer: pcapng with direction and interfaces, or classic
 * pcap): nothing is allocated per packet. SIGINT/SIGTERM set a flag; the
 * loop (or the callback, for files read in one go) then deactivates,
 * closes the output file and prints tcpdump's summary.
 *
 * --threads N captures one adapter with N monitors, each in its own thread
 * and its own PACKET_FANOUT member (config FanoutGroup, FanoutMode hash:
 * a flow stays in one thread), as Suricata's and Zeek's workers do: each
 * writes its own -w file (FILE.0 ... FILE.N-1), or all print into one
 * merged stream, a line at a time under one lock. Threads never deactivate
 * each other (a deactivate waits for the other's do_events): one that
 * reaches -c or fails sets a shared flag, and each stops itself.
 *
 * Every write is checked after each packet: printed lines go through a
 * sink (sink.h), the file through the writer, which both keep the real
 * errno and how many packets reached the output whole. The first failed
 * write stops the capture at once and is reported, and the counts ipmon
 * prints afterwards include only the packets that reached the output
 * whole. A closed pipe (EPIPE) ends the command quietly with status 0, as
 * tcpdump does.
 */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <pcap/pcap.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "decode.h"
#include "output.h"
#include "sink.h"

#define CMD "capture"
/* How long the library may hold packets before handing them over: short,
 * so lines appear promptly (tcpdump uses immediate mode on a terminal). */
#define CAPTURE_PACKET_TIMEOUT_MS 100
#define DEFAULT_SNAPLEN 262144
/* -i given more than once: as many adapters as one monitor takes. */
#define MAX_CAPTURE_ADAPTERS 64
/* How often the loop asks whether the reader of a pipe has gone. */
#define READER_CHECK_SECONDS 0.1
/* --threads: at most one thread per possible CPU of a large host. */
#define MAX_CAPTURE_THREADS 64

typedef struct capture_opts {
    const char *adapter;   /* -i: the first */
    const char *adapters[MAX_CAPTURE_ADAPTERS]; /* every -i, in order */
    int adapter_count;
    const char *read_file; /* -r */
    const char *write_file; /* -w */
    long long rotate_seconds; /* -G: a new file every so many seconds, 0 = never */
    long long rotate_mb;   /* -C: a new file past so many millions of bytes, 0 = never */
    long long rotate_count; /* -W: with -C a ring of so many files, with -G the last file */
    int format;            /* IPM_FORMAT_PCAP or _PCAPNG (--pcap, --pcapng, or the -w name) */
    long long count;       /* -c, 0 = unlimited */
    long long snaplen;     /* -s, -1 = default */
    long long buffer_kb;   /* -B, -1 = default */
    int promisc;           /* on unless -p (as tcpdump) */
    int promisc_given;     /* --promisc or -p typed */
    int direction;         /* -Q */
    int json, hex, link_level, line_buffered, packet_buffered, nano, print;
    int time_format;       /* how many -t (out_ctx.time_format) */
    int verbose;           /* how many -v */
    int ascii, quiet;      /* -A, -q */
    int absolute_seq;      /* -S */
    int list_numbered;     /* -D */
    int list_types;        /* -L ('L') or -J ('J'): list the adapter's and leave */
    const char *link_type; /* -y: a libpcap link type name */
    const char *tstamp_type; /* -j: a libpcap time stamp type name */
    int monitor_mode;      /* -I */
    const char *filter_file; /* -F */
    const char *user;      /* -Z */
    int immediate;         /* --immediate-mode, or printing to a terminal */
    long long threads;     /* --threads: fanout workers on the one adapter (1: none) */
    char *filter;
} capture_opts;

/* What the --threads workers share (see the top). */
typedef struct capture_shared {
    pthread_mutex_t print_lock; /* one packet's lines at a time */
    long long taken;            /* packets taken over all workers, for -c */
    int stop;                   /* -c reached or a worker failed: every worker ends */
} capture_shared;

typedef struct capture_state {
    ipm_monitor *m;
    const capture_opts *o;
    out_ctx out;
    ipm_writer *writer;     /* -w: the file, or standard output for -w - */
    int write_fd;           /* the writer's fd, to see a pipe's reader go */
    int write_is_pipe;
    int write_err;          /* errno of the writer's failure (EPIPE: a quiet end) */
    long long written;      /* packets handed to the writer (not those it cannot hold) */
    sink print;             /* the lines, on standard output */
    dec_seq_table seqs;     /* relative TCP sequence numbers (unless -S) */
    /* -G / -C / -W rotation, by tcpdump's rules */
    char path[4096];        /* the -w file being written (the name, strftime'd, numbered) */
    long long file_number;  /* tcpdump's Cflag_count: the number after the name */
    long long time_files;   /* files started by -G */
    time_t file_started;    /* when -G last began a file (wall clock, as tcpdump) */
    uint64_t file_bytes;    /* the bytes the current file holds, as -C counts them */
    long long lost_earlier; /* packets of closed files that did not reach them whole */
    int rotate_failed;      /* a rotation could not close or open a file: exit 1 */
    long long captured;
    long long skipped_link; /* packets a classic pcap file cannot hold (another link type) */
    int write_failed;       /* a sink failed: stop taking packets */
    int activated;
    int draining;           /* stopped by a signal: still taking what the kernel holds */
    char name[1024];        /* the adapters captured on, for the announcement */
    int adapter_gone;       /* the library said an adapter disappeared */
    /* --threads: NULL, and `printer` this state itself, without it */
    capture_shared *shared;
    struct capture_state *printer; /* whose sink and line format print (worker 0's) */
    int worker;             /* this worker's number, for FILE.N */
    int loop_rc;            /* the worker's loop() result */
} capture_state;

static void usage(void)
{
    fputs("Usage: ipmon capture [OPTIONS] [FILTER EXPRESSION...]\n"
          "\n"
          "Print one line per packet (time, direction, adapter, protocol, source >\n"
          "destination with ports, TCP flags, payload and wire length), or save the\n"
          "packets to a pcap file. The filter is a pcap-filter(7) expression.\n"
          "\n"
          "  -i ADAPTER     adapter to capture on, by name or by the number -D and\n"
          "                 'ipmon list' print (default: the first that is up and\n"
          "                 running and not loopback, as tcpdump picks);\n"
          "                 give -i again to capture on several at once\n"
          "  -r FILE        read packets from a pcap or pcapng file instead ('-': standard\n"
          "                 input, e.g. zcat trace.pcap.gz | ipmon capture -r -)\n"
          "  -w FILE        write the packets to FILE instead of printing them; '-' is\n"
          "                 standard output. A name ending in .pcapng is a pcapng file\n"
          "                 (each packet with its interface and direction, interface\n"
          "                 statistics at the end); any other, classic pcap (nanosecond)\n"
          "      --pcapng   write pcapng whatever the name; --pcap: classic pcap\n"
          "      --print    print lines even with -w\n"
          "  -c COUNT       stop after COUNT packets\n"
          "  -s SNAPLEN     keep at most SNAPLEN bytes of each packet (0 = 262144); with\n"
          "                 -r, what is shown and written is cut to SNAPLEN bytes\n"
          "  -B KB          kernel capture buffer in KiB\n"
          "  -p, --no-promiscuous-mode  leave promiscuous mode off (it is on by\n"
          "                 default, as in tcpdump); --promisc: on (the default)\n"
          "  -Q in|out|inout  capture only packets going this way (default inout)\n"
          "  -x             add a hex dump of each packet; -X adds ASCII too\n"
          "  -e             add the MAC addresses to each line\n"
          "      --json     one JSON object per packet per line (with -x: \"data\");\n"
          "                 -j is tcpdump's time-stamp type, which ipmon does not offer\n"
          "  -t             no time stamp; -tt seconds since 1970; -ttt the time since\n"
          "                 the previous packet; -tttt date and time; -ttttt the time\n"
          "                 since the first packet (all as tcpdump prints them)\n"
          "      --time-stamp-precision=micro|nano  digits of the time stamps\n"
          "                 (default micro); --nano, --micro: the same as =nano, =micro\n"
          "  -v, -vv        add the IP header's facts (tos, ttl, id, offset, flags,\n"
          "                 protocol, length, IPv4 options; IPv6 class, flow label, hop\n"
          "                 limit, next header, payload length) and TCP's checksum and\n"
          "                 options\n"
          "  -A             after each line, the packet from its IP header as ASCII\n"
          "  -q             quieter lines: protocol, addresses, payload length\n"
          "  -S             absolute TCP sequence numbers (default: relative to each\n"
          "                 connection's first, as tcpdump)\n"
          "  -l             line-buffer standard output\n"
          "      --immediate-mode  hand each packet over at once instead of in\n"
          "                 batches (the default when printing to a terminal)\n"
          "  -U             flush the -w file after every packet\n"
          "  -G SECONDS     with -w: a new file every SECONDS; the name goes through\n"
          "                 strftime(3) (-w 'trace-%H%M%S.pcap'), as tcpdump\n"
          "  -C MB          with -w: a new file once one holds more than MB million\n"
          "                 bytes, named FILE, FILE1, FILE2... as tcpdump\n"
          "  -W COUNT       with -C: a ring of COUNT files (FILE0..), overwritten in\n"
          "                 turn; with -G alone: stop after COUNT files\n"
          "  -n             accepted for tcpdump habits (ipmon never resolves names)\n"
          "  -D, --list-interfaces  the adapters, numbered as tcpdump -D (and 'ipmon\n"
          "                 list') numbers them; -i N takes that number\n"
          "  -F FILE        read the filter expression from FILE ('#' starts a comment);\n"
          "                 no filter words may follow the options then\n"
          "  -I, --monitor-mode  Wi-Fi monitor mode (refused on adapters without it)\n"
          "  -Z USER        become USER once the capture is open (before -w creates\n"
          "                 its file), as tcpdump -Z; needs root\n"
          "      --threads N  capture the one adapter with N threads, each with its own\n"
          "                 ring, sharing its packets by flow (PACKET_FANOUT hash): about\n"
          "                 N times what one thread takes. With -w FILE each thread\n"
          "                 writes FILE.0 ... FILE.N-1; printed, one merged stream\n"
          "  -h, --help     this help\n"
          "\n"
          "Ctrl-C or SIGTERM stops cleanly: the file is completed and the summary\n"
          "(captured, received by filter, dropped by kernel) goes to standard error.\n"
          "A closed pipe (ipmon capture -l | head) stops it quietly with status 0; any\n"
          "other failed write stops it at once with the reason and status 1.\n"
          "\n"
          "Examples:\n"
          "  ipmon capture -i eth0 -c 10 tcp port 443\n"
          "  ipmon capture -i eth0 -w trace.pcap udp\n"
          "  ipmon capture -i eth0 -i lo -w both.pcapng\n"
          "  ipmon capture -r trace.pcap --json\n",
          stdout);
}

/* tcpdump 4.99's one-letter options that ipmon capture does not have
 * (-j, -J, -y and -L have their own messages): never read as something
 * else. ipmon(1) says why each is missing. */
#define TCPDUMP_ONLY_FLAGS "#bdEfHKMNOTVz"

/* The largest -F file read: far beyond any filter a person writes. */
#define FILTER_FILE_MAX (1 << 20)

/* -F FILE: the filter expression is the file's text, '#' to the end of a
 * line a comment, as tcpdump reads it. Returns -1 to go on, else an exit
 * code (1: the file cannot be read, with the system's reason). */
static int read_filter_file(capture_opts *o)
{
    FILE *f = strcmp(o->filter_file, "-") == 0 ? stdin : fopen(o->filter_file, "r");
    if (!f)
        return cli_error("-F %s: %s", o->filter_file, strerror(errno));
    char *buf = malloc(FILTER_FILE_MAX + 1);
    if (!buf) {
        if (f != stdin)
            fclose(f);
        return cli_error("out of memory");
    }
    size_t n = fread(buf, 1, FILTER_FILE_MAX + 1, f);
    int err = ferror(f) ? errno : 0;
    if (f != stdin)
        fclose(f);
    if (err || n > FILTER_FILE_MAX) {
        free(buf);
        if (err)
            return cli_error("-F %s: %s", o->filter_file, strerror(err));
        return cli_error("-F %s: larger than %d bytes; is it a filter?", o->filter_file, FILTER_FILE_MAX);
    }
    buf[n] = '\0';
    if (memchr(buf, '\0', n)) {
        free(buf);
        return cli_error("-F %s: holds a NUL byte: not a filter expression", o->filter_file);
    }
    for (size_t i = 0; i < n; i++) {
        if (buf[i] == '#')
            while (i < n && buf[i] != '\n')
                buf[i++] = ' ';
        if (buf[i] == '\n' || buf[i] == '\r' || buf[i] == '\t')
            buf[i] = ' ';
    }
    o->filter = buf;
    return -1;
}

/* The adapter `arg` names: the adapter of that name, else (all digits)
 * the number `ipmon list` and -D print, tcpdump's (library index + 1).
 * Returns the index, or -1 (the name is then tried as it is); -2 after
 * printing why a number is out of range. */
static int resolve_adapter(ipm_monitor *m, const char *arg)
{
    int idx = ipm_find_adapter(m, arg);
    if (idx >= 0 || !arg[0] || strspn(arg, "0123456789") != strlen(arg))
        return idx;
    long long number = strlen(arg) > 9 ? 0 : atoll(arg);
    int count = ipm_get_adapter_count(m);
    if (number < 1 || number > count) {
        cli_error("-i %s: there is no adapter number %s; 'ipmon capture -D' lists 1 to %d", arg, arg,
                  count);
        return -2;
    }
    return (int)number - 1;
}

/* -L / -J: the adapter's link types or time stamp types, as tcpdump lists
 * them (on standard output), for -y / -j. */
static int list_types(const capture_opts *o)
{
    ipm_monitor *m = ipm_new();
    if (!m)
        return cli_error("out of memory");
    int rc = EXIT_OK;
    if (ipm_list_adapters(m) != IPM_OK) {
        rc = cli_lib_error(m);
    } else {
        int idx = o->adapter ? resolve_adapter(m, o->adapter) : cli_default_capture_adapter(m);
        const char *name = idx >= 0 ? ipm_get_adapter_name(m, idx) : o->adapter;
        int types[64];
        int n = !name ? -1
                : o->list_types == 'L' ? ipm_list_link_types(m, name, types, 64)
                                       : ipm_list_time_stamp_types(m, name, types, 64);
        if (idx == -2) {
            rc = EXIT_RUNTIME; /* resolve_adapter said why */
        } else if (!name) {
            rc = cli_error("no adapter is up and running (other than loopback); choose one with -i");
        } else if (n < 0) {
            rc = ipm_last_error_code(m) == IPM_E_ADAPTER_NOT_FOUND
                     ? cli_error("no adapter named '%s' (see 'ipmon list')", name)
                     : cli_lib_error(m);
        } else {
            printf(o->list_types == 'L' ? "Data link types for %s (use option -y to set):\n"
                                        : "Time stamp types for %s (use option -j to set):\n",
                   name);
            for (int i = 0; i < n && i < 64; i++) {
                const char *nm = o->list_types == 'L' ? pcap_datalink_val_to_name(types[i])
                                                      : pcap_tstamp_type_val_to_name(types[i]);
                const char *d = o->list_types == 'L' ? pcap_datalink_val_to_description(types[i])
                                                     : pcap_tstamp_type_val_to_description(types[i]);
                /* as tcpdump, say which ones ipmon cannot print (its decoder's
                 * link types: see ipm_decode in ipmonitor.h) */
                static const int decoded[] = {DLT_EN10MB, DLT_LINUX_SLL, DLT_LINUX_SLL2, DLT_RAW,
                                              DLT_IPV4,   DLT_IPV6,      DLT_NULL,       DLT_LOOP};
                int printable = o->list_types != 'L';
                for (size_t k = 0; k < sizeof decoded / sizeof decoded[0]; k++)
                    printable |= types[i] == decoded[k];
                if (nm)
                    printf("  %s (%s)%s\n", nm, d ? d : "?", printable ? "" : " (printing not supported)");
                else
                    printf("  DLT %d%s\n", types[i], printable ? "" : " (printing not supported)");
            }
            if (fflush(stdout) != 0)
                rc = cli_error("writing standard output failed: %s", strerror(errno));
        }
    }
    ipm_free(m);
    return rc;
}

/* Parse the command line into `o`; returns -1 to go on, else an exit code. */
static int parse_args(int argc, char **argv, capture_opts *o)
{
    enum { OPT_PROMISC = 256, OPT_NANO, OPT_PRINT, OPT_IMMEDIATE, OPT_PCAP, OPT_PCAPNG, OPT_PRECISION,
           OPT_JSON, OPT_MICRO, OPT_THREADS };
    static const struct option opts[] = {
        {"interface", required_argument, NULL, 'i'},
        {"read", required_argument, NULL, 'r'},
        {"write", required_argument, NULL, 'w'},
        {"count", required_argument, NULL, 'c'},
        {"snapshot-length", required_argument, NULL, 's'},
        {"buffer-size", required_argument, NULL, 'B'},
        {"direction", required_argument, NULL, 'Q'},
        {"promisc", no_argument, NULL, OPT_PROMISC},
        {"no-promiscuous-mode", no_argument, NULL, 'p'},
        {"json", no_argument, NULL, OPT_JSON},
        {"time-stamp-type", required_argument, NULL, 'j'},
        {"list-time-stamp-types", no_argument, NULL, 'J'},
        {"linktype", required_argument, NULL, 'y'},
        {"list-data-link-types", no_argument, NULL, 'L'},
        {"nano", no_argument, NULL, OPT_NANO},
        {"micro", no_argument, NULL, OPT_MICRO},
        {"time-stamp-precision", required_argument, NULL, OPT_PRECISION},
        {"absolute-tcp-sequence-numbers", no_argument, NULL, 'S'},
        {"verbose", no_argument, NULL, 'v'},
        {"list-interfaces", no_argument, NULL, 'D'},
        {"monitor-mode", no_argument, NULL, 'I'},
        {"relinquish-privileges", required_argument, NULL, 'Z'},
        {"print", no_argument, NULL, OPT_PRINT},
        {"immediate-mode", no_argument, NULL, OPT_IMMEDIATE},
        {"pcap", no_argument, NULL, OPT_PCAP},
        {"pcapng", no_argument, NULL, OPT_PCAPNG},
        {"threads", required_argument, NULL, OPT_THREADS},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    memset(o, 0, sizeof *o);
    o->snaplen = -1;
    o->buffer_kb = -1;
    o->direction = IPM_PACKET_DIRECTION_ANY;
    o->format = -1;
    o->promisc = 1; /* as tcpdump: -p turns it off */
    o->threads = 1;
    int c;
    opterr = 0;
    /* 0, not 1: glibc then also forgets a cluster of short options an
     * earlier parse left half-read ("-hx"), which 1 would go on reading. */
    optind = 0;
    while ((c = getopt_long(argc, argv, ":i:r:w:c:s:B:Q:pj:JxXelUnhtvAqSDIF:Z:y:LG:C:W:", opts, NULL)) != -1) {
        switch (c) {
        case 'i':
            if (o->adapter_count == MAX_CAPTURE_ADAPTERS)
                return cli_usage_error(CMD, "-i: at most %d adapters", MAX_CAPTURE_ADAPTERS);
            for (int k = 0; k < o->adapter_count; k++)
                if (strcmp(o->adapters[k], optarg) == 0)
                    return cli_usage_error(CMD, "-i %s is given twice", optarg);
            o->adapters[o->adapter_count++] = optarg;
            o->adapter = o->adapters[0];
            break;
        case 'r': o->read_file = optarg; break;
        case 'w': o->write_file = optarg; break;
        case 'G':
            if (cli_parse_int(CMD, "-G", optarg, 1, 100L * 365 * 86400, &o->rotate_seconds) < 0)
                return EXIT_USAGE;
            break;
        case 'C':
            if (cli_parse_int(CMD, "-C", optarg, 1, 1000000000, &o->rotate_mb) < 0)
                return EXIT_USAGE;
            break;
        case 'W':
            if (cli_parse_int(CMD, "-W", optarg, 1, 1000000000, &o->rotate_count) < 0)
                return EXIT_USAGE;
            break;
        case 'c':
            if (cli_parse_int(CMD, "-c", optarg, 1, INT64_MAX, &o->count) < 0)
                return EXIT_USAGE;
            break;
        case 's':
            if (cli_parse_int(CMD, "-s", optarg, 0, 262144, &o->snaplen) < 0)
                return EXIT_USAGE;
            break;
        case 'B':
            if (cli_parse_int(CMD, "-B", optarg, 1, 4 * 1024 * 1024, &o->buffer_kb) < 0)
                return EXIT_USAGE;
            break;
        case 'Q':
            if (strcmp(optarg, "in") == 0)
                o->direction = IPM_PACKET_DIRECTION_INCOMING;
            else if (strcmp(optarg, "out") == 0)
                o->direction = IPM_PACKET_DIRECTION_OUTGOING;
            else if (strcmp(optarg, "inout") == 0)
                o->direction = IPM_PACKET_DIRECTION_ANY;
            else
                return cli_usage_error(CMD, "-Q: '%s' is not one of in, out, inout", optarg);
            break;
        case OPT_PROMISC: o->promisc = 1; o->promisc_given = 1; break;
        case 'p': o->promisc = 0; o->promisc_given = 1; break;
        case OPT_JSON: o->json = 1; break;
        case 'j':
            if (pcap_tstamp_type_name_to_val(optarg) < 0)
                return cli_usage_error(CMD, "-j %.60s: not a time stamp type ('ipmon capture -J -i "
                                            "ADAPTER' lists an adapter's); for JSON output write --json",
                                       optarg);
            o->tstamp_type = optarg;
            break;
        case 'y':
            if (pcap_datalink_name_to_val(optarg) < 0)
                return cli_usage_error(CMD, "-y %.60s: not a link type name ('ipmon capture -L -i "
                                            "ADAPTER' lists an adapter's)", optarg);
            o->link_type = optarg;
            break;
        case 'J':
        case 'L': o->list_types = c; break;
        case 'x': o->hex = o->hex > 1 ? o->hex : 1; break;
        case 'X': o->hex = 2; break;
        case 'e': o->link_level = 1; break;
        case 'l': o->line_buffered = 1; break;
        case 'U': o->packet_buffered = 1; break;
        case 'n': break;
        case OPT_NANO: o->nano = 1; break;
        case OPT_MICRO: o->nano = 0; break;
        case OPT_PRECISION:
            if (strcmp(optarg, "micro") == 0)
                o->nano = 0;
            else if (strcmp(optarg, "nano") == 0)
                o->nano = 1;
            else
                return cli_usage_error(CMD, "--time-stamp-precision: '%s' is not micro or nano", optarg);
            break;
        case 't':
            if (++o->time_format > 5)
                return cli_usage_error(CMD, "-t: at most five (-ttttt, the time since the first packet)");
            break;
        case 'v':
            if (++o->verbose > 3)
                o->verbose = 3;
            break;
        case 'A': o->ascii = 1; break;
        case 'q': o->quiet = 1; break;
        case 'S': o->absolute_seq = 1; break;
        case 'D': o->list_numbered = 1; break;
        case 'I': o->monitor_mode = 1; break;
        case 'F': o->filter_file = optarg; break;
        case 'Z':
            if (!optarg[0])
                return cli_usage_error(CMD, "-Z needs a user name");
            o->user = optarg;
            break;
        case OPT_PRINT: o->print = 1; break;
        case OPT_IMMEDIATE: o->immediate = 1; break;
        case OPT_PCAP: o->format = IPM_FORMAT_PCAP; break;
        case OPT_PCAPNG: o->format = IPM_FORMAT_PCAPNG; break;
        case OPT_THREADS:
            if (cli_parse_int(CMD, "--threads", optarg, 1, MAX_CAPTURE_THREADS, &o->threads) < 0)
                return EXIT_USAGE;
            break;
        case 'h': usage(); return EXIT_OK;
        default:
            if (c == ':' && optopt == 'j')
                return cli_usage_error(CMD, "-j needs a time stamp type, as in tcpdump ('ipmon "
                                            "capture -J' lists them); for JSON output write --json");
            if (c == '?' && optopt > 0 && strchr(TCPDUMP_ONLY_FLAGS, optopt))
                return cli_usage_error(CMD, "-%c is a tcpdump option ipmon does not have (see "
                                            "'TCPDUMP FLAGS IPMON DOES NOT HAVE' in ipmon(1))",
                                       optopt);
            return cli_getopt_error(CMD, c, argv);
        }
    }
    if (o->list_numbered || o->list_types)
        return -1; /* -D, -L, -J: list and leave, as tcpdump */
    if (o->read_file && (o->link_type || o->tstamp_type))
        return cli_usage_error(CMD, "-%c applies to adapters: a -r file has its own %s",
                               o->link_type ? 'y' : 'j', o->link_type ? "link type" : "time stamps");
    if (o->adapter && o->read_file)
        return cli_usage_error(CMD, "-i and -r cannot be used together");
    if (o->read_file && o->monitor_mode)
        return cli_usage_error(CMD, "-I (monitor mode) applies to adapters, not to -r files");
    if (o->filter_file && optind < argc)
        return cli_usage_error(CMD, "-F %s gives the filter: '%s' after the options is one "
                                    "too many (put the whole expression in the file)",
                               o->filter_file, argv[optind]);
    if (o->read_file && (o->promisc_given || o->buffer_kb >= 0))
        return cli_usage_error(CMD, "-p, --promisc and -B apply to adapters, not to -r files");
    if (o->read_file && o->direction != IPM_PACKET_DIRECTION_ANY)
        return cli_usage_error(CMD, "-Q selects by direction on live adapters only: a -r file's "
                                    "packets carry none that ipmon can select by");
    if ((o->rotate_seconds || o->rotate_mb || o->rotate_count) && !o->write_file)
        return cli_usage_error(CMD, "-%c rotates the -w file: add -w FILE",
                               o->rotate_seconds ? 'G' : o->rotate_mb ? 'C' : 'W');
    if ((o->rotate_seconds || o->rotate_mb || o->rotate_count) && strcmp(o->write_file, "-") == 0)
        return cli_usage_error(CMD, "-%c rotates files: standard output (-w -) cannot be rotated",
                               o->rotate_seconds ? 'G' : o->rotate_mb ? 'C' : 'W');
    if (o->rotate_count && !o->rotate_seconds && !o->rotate_mb)
        return cli_usage_error(CMD, "-W counts the files of -C or -G: add one of them");
    if (o->threads > 1 && o->read_file)
        return cli_usage_error(CMD, "--threads shares a live adapter's packets among threads; a -r "
                                    "file is read by one");
    if (o->threads > 1 && o->adapter_count > 1)
        return cli_usage_error(CMD, "--threads captures one adapter: give -i once");
    if (o->threads > 1 && o->write_file && strcmp(o->write_file, "-") == 0)
        return cli_usage_error(CMD, "--threads writes a file per thread (FILE.0, FILE.1, ...): "
                                    "give -w a file name, not -");
    if (o->threads > 1 && (o->rotate_seconds || o->rotate_mb || o->rotate_count))
        return cli_usage_error(CMD, "--threads does not rotate its files: -%c cannot be used with it",
                               o->rotate_seconds ? 'G' : o->rotate_mb ? 'C' : 'W');
    if (o->write_file && strcmp(o->write_file, "-") == 0 && o->print)
        return cli_usage_error(CMD, "--print cannot share standard output with -w -");
    if (o->format >= 0 && !o->write_file)
        return cli_usage_error(CMD, "--%s chooses the format of the -w file: add -w FILE",
                               o->format == IPM_FORMAT_PCAPNG ? "pcapng" : "pcap");
    if (o->write_file && o->format < 0) {
        size_t n = strlen(o->write_file);
        o->format = (n > 7 && strcmp(o->write_file + n - 7, ".pcapng") == 0) ||
                            (n > 5 && strcmp(o->write_file + n - 5, ".ntar") == 0)
                        ? IPM_FORMAT_PCAPNG
                        : IPM_FORMAT_PCAP;
    }
    if (o->write_file && o->format == IPM_FORMAT_PCAP && o->adapter_count > 1)
        return cli_usage_error(CMD, "a classic pcap file holds one adapter; for %d adapters write "
                               "pcapng (-w FILE.pcapng, or --pcapng)", o->adapter_count);
    if (!o->write_file)
        o->print = 1;
    /* Like tcpdump: someone watching a terminal wants each packet at once. */
    if (o->print && isatty(STDOUT_FILENO))
        o->immediate = 1;
    if (o->filter_file)
        return -1; /* the expression is read from the file by cmd_capture, once parsed */
    o->filter = cli_join_words(argc - optind, argv + optind);
    if (!o->filter)
        return cli_error("out of memory");
    return -1;
}

/* Apply the per-adapter settings the options ask for. */
static int apply_adapter_settings(ipm_monitor *m, int idx, const capture_opts *o)
{
    if (ipm_set_adapter_packet_timeout(m, idx, CAPTURE_PACKET_TIMEOUT_MS) != IPM_OK)
        return -1;
    if (o->snaplen >= 0 && ipm_set_adapter_max_packet_bytes(m, idx, (int)o->snaplen) != IPM_OK)
        return -1;
    if (o->buffer_kb >= 0 && ipm_set_adapter_buffer_size(m, idx, (int)o->buffer_kb) != IPM_OK)
        return -1;
    if (ipm_set_adapter_promiscuous_mode(m, idx, o->promisc) != IPM_OK)
        return -1;
    if (o->monitor_mode) {
        if (ipm_get_adapter_wi_fi_monitor_mode_supported(m, idx) <= 0) {
            cli_error("%s cannot capture in monitor mode (-I): it is not a Wi-Fi adapter that supports it",
                      ipm_get_adapter_name(m, idx));
            return -2;
        }
        if (ipm_set_adapter_wi_fi_monitor_mode(m, idx, 1) != IPM_OK)
            return -1;
    }
    return 0;
}

static int rotate_if_due(capture_state *s);
static int open_writer(capture_state *s);

/* Every worker is to end (-c reached, a write failed); without
 * --threads, only this one. Each worker deactivates its own monitor. */
static void stop_workers(capture_state *s)
{
    if (s->shared)
        __atomic_store_n(&s->shared->stop, 1, __ATOMIC_RELEASE);
    ipm_deactivate(s->m);
}

static int workers_stopped(const capture_state *s)
{
    return s->shared && __atomic_load_n(&s->shared->stop, __ATOMIC_ACQUIRE);
}

/* A write failed (the sink holds why): take no more packets. */
static void stop_on_write_error(capture_state *s)
{
    s->write_failed = 1;
    stop_workers(s);
}

/* Print one packet through the printer's sink and line format (under the
 * workers' lock with --threads). Returns -1 when the sink failed. */
static int print_packet(capture_state *s, const ipm_packet_event *e)
{
    const capture_opts *o = s->o;
    capture_state *p = s->printer;
    dec_packet d;
    dec_packet_decode_verbose(&d, e->link_type, e->data, e->data_size, o->verbose);
    if (!o->absolute_seq)
        dec_seq_relative(&s->seqs, &d); /* per worker: a flow stays in one */
    if (s->shared)
        pthread_mutex_lock(&s->shared->print_lock);
    long n = o->json ? out_json(&p->out, e, &d) : out_text(&p->out, e, &d);
    if (n >= 0) {
        sink_record(&p->print, (size_t)n);
    } else {
        sink_record_failed(&p->print);
        if (!sink_failed(&p->print))
            p->print.err = errno ? errno : EIO; /* stdio itself refused */
    }
    int failed = sink_failed(&p->print);
    if (s->shared)
        pthread_mutex_unlock(&s->shared->print_lock);
    return failed ? -1 : 0;
}

/* Checked after every packet, so a failed write stops the capture before
 * the next packet is read, whatever the buffering (-l, -U or neither). */
static int on_packet(const ipm_packet_event *e, void *user)
{
    capture_state *s = user;
    const capture_opts *o = s->o;
    ipm_packet_event cut;
    if (o->read_file && o->snaplen > 0 && e->data_size > (uint64_t)o->snaplen) {
        /* -s with -r: keep the first snaplen bytes (the original length
         * stays), for the lines and the -w file alike */
        cut = *e;
        cut.data_size = (uint32_t)o->snaplen;
        e = &cut;
    }
    if ((cli_stop && !s->draining) || s->write_failed || workers_stopped(s)) {
        ipm_deactivate(s->m);
        return 0;
    }
    /* -c over all workers: each packet takes a number first */
    if (s->shared && o->count && __atomic_add_fetch(&s->shared->taken, 1, __ATOMIC_ACQ_REL) > o->count) {
        stop_workers(s);
        return 0;
    }
    if (s->writer && (o->rotate_seconds || o->rotate_mb)) {
        int r = rotate_if_due(s);
        if (r != 0) {
            s->rotate_failed = r < 0;
            ipm_deactivate(s->m);
            return 0;
        }
        /* as -C counts: a pcap record, or a pcapng packet block with its
         * direction option */
        s->file_bytes += o->format == IPM_FORMAT_PCAP ? 16u + e->data_size
                                                      : 32u + ((e->data_size + 3u) & ~3u) + 12u;
    }
    s->captured++;
    if (s->writer) {
        int rc = ipm_writer_write(s->writer, e);
        if (rc == IPM_OK && o->packet_buffered)
            rc = ipm_writer_flush(s->writer);
        if (rc == IPM_E_UNSUPPORTED) {
            s->skipped_link++; /* classic pcap: one link type; the file stays good */
        } else if (s->written++, rc != IPM_OK) {
            s->write_err = ipm_writer_os_error(s->writer);
            stop_on_write_error(s);
            return 0;
        }
    }
    if (o->print && print_packet(s, e) != 0) {
        stop_on_write_error(s);
        return 0;
    }
    if (o->count && (s->shared ? __atomic_load_n(&s->shared->taken, __ATOMIC_ACQUIRE) : s->captured) >= o->count)
        stop_workers(s);
    return 0;
}

static void on_error(const ipm_error_event *e, void *user)
{
    capture_state *s = user;
    if (e->error_code == IPM_E_ADAPTER_GONE) {
        /* tcpdump ends when its interface is deleted: so does capture (the
         * packets the ring still held were delivered before this). */
        s->adapter_gone = 1;
        ipm_deactivate(s->m);
        cli_error("%s: the adapter disappeared; capture ended", e->adapter ? e->adapter : s->name);
        return;
    }
    cli_error("%s%s%s", e->adapter ? e->adapter : "", e->adapter ? ": " : "",
              e->description ? e->description : ipm_strerror(e->error_code));
}

static const char *link_name(int dlt)
{
    const char *n = pcap_datalink_val_to_name(dlt);
    return n ? n : "unknown";
}

static const char *link_description(int dlt)
{
    const char *d = pcap_datalink_val_to_description(dlt);
    return d ? d : "unknown";
}

/* The digits tcpdump gives the file number under -W: those of W - 1. */
static int count_digits(long long w)
{
    int c = 0;
    for (w -= 1; w > 0; w /= 10)
        c++;
    return c;
}

/* The name of the next -w file, as tcpdump's MakeFilename: with -G the
 * name through strftime(3) at the local time now, then the file number
 * (zero-padded to the digits of W - 1 under -C -W; none for the first
 * file otherwise, and none under -G alone). Returns -1 when it does not
 * fit. */
static int make_file_name(capture_state *s)
{
    const capture_opts *o = s->o;
    char base[sizeof s->path];
    if (o->threads > 1) /* one file per worker; --threads does not rotate */
        return (size_t)snprintf(s->path, sizeof s->path, "%s.%d", o->write_file, s->worker) < sizeof s->path ? 0 : -1;
    if (o->rotate_seconds) {
        time_t now = time(NULL);
        struct tm tm;
        if (!localtime_r(&now, &tm) || strftime(base, sizeof base, o->write_file, &tm) == 0)
            return -1;
    } else if ((size_t)snprintf(base, sizeof base, "%s", o->write_file) >= sizeof base) {
        return -1;
    }
    int digits = o->rotate_count && o->rotate_mb ? count_digits(o->rotate_count) : 0;
    size_t n = s->file_number == 0 && digits == 0
                   ? (size_t)snprintf(s->path, sizeof s->path, "%s", base)
                   : (size_t)snprintf(s->path, sizeof s->path, "%s%0*lld", base, digits, s->file_number);
    return n < sizeof s->path ? 0 : -1;
}

static long long close_writer(capture_state *s, int *rc);

/* Before each packet under -G/-C: start the next file when its time has
 * come or the current one has grown past -C, as tcpdump decides. Returns 0
 * to write the packet, 1 when -G -W's last file is done (stop, status 0),
 * -1 when a file could not be finished or begun (reported; status 1). */
static int rotate_if_due(capture_state *s)
{
    const capture_opts *o = s->o;
    int by_time = 0;
    if (o->rotate_seconds) {
        time_t now = time(NULL);
        by_time = now - s->file_started >= o->rotate_seconds;
    }
    int by_size = !by_time && o->rotate_mb && s->file_bytes > (uint64_t)o->rotate_mb * 1000000u;
    if (!by_time && !by_size)
        return 0;
    if (by_time) {
        /* -W stops -G only without -C (with -C it is the ring's size) */
        if (o->rotate_count && !o->rotate_mb && ++s->time_files >= o->rotate_count) {
            fprintf(stderr, "Maximum file limit reached: %lld\n", o->rotate_count);
            return 1;
        }
        s->file_started = time(NULL);
        s->file_number = 0;
    } else if (++s->file_number >= o->rotate_count && o->rotate_count) {
        s->file_number = 0; /* the ring starts over */
    }
    int rc = EXIT_OK;
    s->lost_earlier += close_writer(s, &rc);
    s->written = 0;
    if (rc != EXIT_OK)
        return -1;
    if (make_file_name(s) != 0) {
        cli_error("-w %s: the next file's name is too long", o->write_file);
        return -1;
    }
    if (open_writer(s) != EXIT_OK)
        return -1;
    s->file_bytes = o->format == IPM_FORMAT_PCAP ? 24 : 0;
    return 0;
}

/* Open the -w output: the library's writer on the file (or on standard
 * output for -w -), reading the monitor for each interface's name,
 * addresses, filter and, at the end, its statistics. */
static int open_writer(capture_state *s)
{
    const char *path = s->path;
    char err[IPM_ERRBUF_SIZE];
    int to_stdout = strcmp(path, "-") == 0;
    s->writer = to_stdout ? ipm_writer_fdopen(STDOUT_FILENO, s->o->format, s->m, err)
                          : ipm_writer_open(path, s->o->format, s->m, err);
    if (!s->writer)
        return cli_error("cannot write %s: %s (choose another -w FILE)", to_stdout ? "standard output" : path,
                         err);
    s->write_fd = to_stdout ? STDOUT_FILENO : -1;
    struct stat st;
    s->write_is_pipe = to_stdout && fstat(STDOUT_FILENO, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode));
    return EXIT_OK;
}

/* Finish the -w file: flush, then note how many packets it holds whole
 * (all that were accepted, unless a write failed), then close (which adds
 * pcapng's statistics blocks). Reports a failure, a closed pipe quietly.
 * Returns how many accepted packets did not reach the file whole. */
static long long close_writer(capture_state *s, int *rc)
{
    if (!s->writer)
        return 0;
    const char *path = s->path;
    int to_stdout = strcmp(path, "-") == 0;
    ipm_writer_flush(s->writer);
    /* handed to the writer: accepted, or refused by a failed write */
    long long accepted = s->written, whole = ipm_writer_packets_saved(s->writer);
    char message[IPM_ERRBUF_SIZE];
    snprintf(message, sizeof message, "%s", ipm_writer_error(s->writer));
    int failed = ipm_writer_close(s->writer) != IPM_OK;
    /* errno: the system's reason, or 0 for a failure that is not the
     * system's (memory), whose words are the writer's message */
    int close_errno = failed ? errno : 0;
    s->writer = NULL;
    if (!failed && !s->write_err)
        return accepted - whole;
    int err = s->write_err ? s->write_err : close_errno;
    if (err) /* the system's words alone; the writer's message is for library users */
        snprintf(message, sizeof message, "%s", strerror(err));
    if (err == EPIPE || (err == EINTR && cli_stop))
        return accepted - whole; /* a closed pipe: a quiet end, as tcpdump */
    if (to_stdout)
        cli_error("writing standard output failed: %s; stopped after %lld packet%s written whole", message,
                  whole, whole == 1 ? "" : "s");
    else
        cli_error("writing %s failed: %s; it holds the first %lld packet%s whole (%s)", path, message, whole,
                  whole == 1 ? "" : "s",
                  err == ENOSPC || err == EDQUOT ? "free space, or choose another -w FILE" : "choose another -w FILE");
    *rc = EXIT_RUNTIME;
    return accepted - whole;
}

/* Close the outputs, then say what failed, if anything, and take the
 * packets that did not reach an output whole out of the count. Returns
 * EXIT_OK (also for a quiet end on a closed pipe) or EXIT_RUNTIME. */
static int close_outputs(capture_state *s)
{
    int rc = EXIT_OK;
    long long undelivered = close_writer(s, &rc) + s->lost_earlier;
    sink *k = &s->print;
    if (k->f && sink_close(k) != 0) {
        long long lost = (long long)(k->records - sink_records_delivered(k));
        if (lost > undelivered)
            undelivered = lost;
        char detail[128];
        unsigned long long whole = (unsigned long long)sink_records_delivered(k);
        snprintf(detail, sizeof detail, "; stopped after %llu packet%s written whole", whole,
                 whole == 1 ? "" : "s");
        if (sink_report(k, detail) != EXIT_OK)
            rc = EXIT_RUNTIME;
    }
    s->captured -= undelivered;
    return rc;
}

/* tcpdump's summary, over every worker. */
static void print_summary(capture_state *w, int workers)
{
    int64_t received = 0, dropped = 0, ifdropped = 0;
    long long captured = 0;
    for (int k = 0; k < workers; k++) {
        int64_t r = 0, d = 0, i = 0;
        ipm_get_statistics(w[k].m, &r, &d, &i);
        received += r;
        dropped += d;
        ifdropped = i; /* the interface's: the same adapter for all */
        captured += w[k].captured;
    }
    char buf[256];
    int n = snprintf(buf, sizeof buf,
                     "%lld packet%s captured\n%lld packet%s received by filter\n"
                     "%lld packet%s dropped by kernel\n",
                     captured, captured == 1 ? "" : "s", (long long)received,
                     received == 1 ? "" : "s", (long long)dropped, dropped == 1 ? "" : "s");
    if (ifdropped > 0 && n > 0 && (size_t)n < sizeof buf)
        snprintf(buf + n, sizeof buf - (size_t)n, "%lld packet%s dropped by interface\n",
                 (long long)ifdropped, ifdropped == 1 ? "" : "s");
    fputs(buf, stderr);
}

/* Several -i: every one must be listed (a name not listed is refused here,
 * where one alone would be tried with defaults), each gets the options'
 * settings, and one activation opens them all or none. */
static int start_many(capture_state *s, const capture_opts *o, int *snaplen)
{
    ipm_monitor *m = s->m;
    size_t used = 0;
    s->name[0] = '\0';
    const char *names[MAX_CAPTURE_ADAPTERS];
    for (int k = 0; k < o->adapter_count; k++) {
        int idx = resolve_adapter(m, o->adapters[k]);
        if (idx == -2)
            return EXIT_RUNTIME;
        if (idx < 0)
            return cli_error("no adapter named '%s' (see 'ipmon list')", o->adapters[k]);
        names[k] = ipm_get_adapter_name(m, idx);
        for (int j = 0; j < k; j++)
            if (strcmp(names[j], names[k]) == 0)
                return cli_usage_error(CMD, "-i %s and -i %s are the same adapter", o->adapters[j],
                                       o->adapters[k]);
        int arc = apply_adapter_settings(m, idx, o);
        if (arc == -2)
            return EXIT_RUNTIME;
        if (arc != 0)
            return cli_lib_error(m);
        int mpb = ipm_get_adapter_max_packet_bytes(m, idx);
        if (k == 0 && mpb > 0)
            *snaplen = mpb;
        int n = snprintf(s->name + used, sizeof s->name - used, "%s%s", k ? ", " : "", names[k]);
        if (n > 0 && used + (size_t)n < sizeof s->name)
            used += (size_t)n;
    }
    if (ipm_activate_many(m, names, o->adapter_count) != IPM_OK)
        return cli_lib_error(m);
    return EXIT_OK;
}

/* Pick the adapter, apply the settings, activate; prints its own errors. */
static int start(capture_state *s, const capture_opts *o, int *snaplen)
{
    ipm_monitor *m = s->m;
    if (ipm_set_operation_mode(m, IPM_OM_CAPTURE) != IPM_OK || ipm_set_direction(m, o->direction) != IPM_OK)
        return cli_lib_error(m);
    if (ipm_set_filter(m, o->filter) != IPM_OK)
        return cli_lib_error(m);
    if (o->immediate && !o->read_file && !ipm_config(m, "ImmediateMode=True"))
        return cli_lib_error(m);
    char setting[128];
    if (o->link_type) { /* -y */
        snprintf(setting, sizeof setting, "LinkType=%s", o->link_type);
        if (!ipm_config(m, setting))
            return cli_lib_error(m);
    }
    if (o->tstamp_type) { /* -j */
        snprintf(setting, sizeof setting, "TimeStampType=%s", o->tstamp_type);
        if (!ipm_config(m, setting))
            return cli_lib_error(m);
    }
    *snaplen = o->snaplen > 0 ? (int)o->snaplen : DEFAULT_SNAPLEN;
    if (o->read_file) {
        /* -r -: standard input, as tcpdump (a pipe is read as it comes). */
        const char *path = strcmp(o->read_file, "-") == 0 ? "/dev/stdin" : o->read_file;
        if (ipm_activate(m, path) != IPM_OK) {
            const char *msg = ipm_last_error(m), *at = msg ? strstr(msg, "\"/dev/stdin\"") : NULL;
            if (path == o->read_file || !at)
                return cli_lib_error(m);
            /* the library names the path it opened; the user typed "-" */
            return cli_error("%.*sstandard input (-r -)%s", (int)(at - msg), msg, at + strlen("\"/dev/stdin\""));
        }
        return EXIT_OK;
    }
    if (ipm_list_adapters(m) != IPM_OK)
        return cli_lib_error(m);
    if (o->adapter_count > 1)
        return start_many(s, o, snaplen);
    const char *name = o->adapter;
    int idx;
    if (name) {
        idx = resolve_adapter(m, name);
        if (idx == -2)
            return EXIT_RUNTIME;
        if (idx >= 0)
            name = ipm_get_adapter_name(m, idx);
    } else {
        idx = cli_default_capture_adapter(m);
        if (idx < 0)
            return cli_error("no adapter is up and running (other than loopback); "
                             "choose one with -i (see 'ipmon list')");
        name = ipm_get_adapter_name(m, idx);
    }
    if (idx >= 0) {
        int arc = apply_adapter_settings(m, idx, o);
        if (arc == -2)
            return EXIT_RUNTIME;
        if (arc != 0)
            return cli_lib_error(m);
        int mpb = ipm_get_adapter_max_packet_bytes(m, idx);
        if (mpb > 0)
            *snaplen = mpb;
    }
    /* Unlisted names are still tried: the library opens them with defaults. */
    snprintf(s->name, sizeof s->name, "%s", name);
    if (ipm_activate(m, name) != IPM_OK) {
        if (ipm_last_error_code(m) == IPM_E_ADAPTER_NOT_FOUND)
            return cli_error("no adapter named '%s' (see 'ipmon list')", name);
        return cli_lib_error(m);
    }
    return EXIT_OK;
}

static void announce(capture_state *s, int snaplen)
{
    int dlt = ipm_get_link_type(s->m);
    if (s->o->read_file) /* the file's snapshot length, with -s too (as tcpdump) */
        fprintf(stderr, "reading from file %s, link-type %s (%s), snapshot length %d\n",
                s->o->read_file, link_name(dlt), link_description(dlt),
                ipm_get_snapshot_length(s->m));
    else if (s->o->threads > 1)
        fprintf(stderr, "listening on %s with %lld threads (fanout by flow), link-type %s (%s), "
                "snapshot length %d bytes\n", s->name, s->o->threads, link_name(dlt), link_description(dlt),
                snaplen);
    else if (s->o->adapter_count > 1) /* each its own link type: see 'ipmon list' */
        fprintf(stderr, "listening on %s, snapshot length %d bytes\n", s->name, snaplen);
    else
        fprintf(stderr, "listening on %s, link-type %s (%s), snapshot length %d bytes\n",
                s->name, link_name(dlt), link_description(dlt),
                snaplen);
    fflush(stderr);
}

/* After Ctrl-C on a live adapter, take what the kernel already accepted (it
 * holds packets up to one packet timeout), so "captured" matches "received
 * by filter" and the file has every packet that was counted. */
static int drain(capture_state *s)
{
    double until = cli_now() + CAPTURE_PACKET_TIMEOUT_MS / 1000.0 + 0.05;
    s->draining = 1;
    while (ipm_get_active(s->m) > 0 && cli_now() < until) {
        int rc = ipm_do_events(s->m);
        if (rc != IPM_OK && rc != IPM_E_HANDLER)
            return EXIT_RUNTIME;
    }
    return EXIT_OK;
}

/* Run until stopped, counted out, the end of the file, an error, or the
 * reader of our pipe gone (checked a few times a second, so a quiet
 * adapter does not keep `ipmon capture | head -1` alive). */
static int loop(capture_state *s)
{
    double next_check = cli_now() + READER_CHECK_SECONDS;
    while (!cli_stop && !workers_stopped(s) && ipm_get_active(s->m) > 0) {
        int rc = ipm_do_events(s->m);
        if (rc != IPM_OK && rc != IPM_E_HANDLER) {
            /* on_error already printed what happened. */
            return EXIT_RUNTIME;
        }
        double now = cli_now();
        if (now >= next_check && !s->write_failed) {
            next_check = now + READER_CHECK_SECONDS;
            if (s->writer && s->write_is_pipe && cli_pipe_reader_gone(s->write_fd))
                s->write_err = EPIPE;
            if ((s->printer == s && sink_check_reader(&s->print) != 0) || s->write_err)
                stop_on_write_error(s);
        }
    }
    if (s->adapter_gone)
        return EXIT_RUNTIME;
    if (cli_stop && !s->o->read_file && ipm_get_active(s->m) > 0)
        return drain(s);
    return EXIT_OK;
}

static void *worker_main(void *arg)
{
    capture_state *s = arg;
    s->loop_rc = loop(s);
    return NULL;
}

int cmd_capture(int argc, char **argv)
{
    capture_opts o;
    int rc = parse_args(argc, argv, &o);
    if (rc >= 0)
        return rc;
    if (cli_parse_only) {
        free(o.filter);
        return EXIT_OK;
    }
    /* Parsing opens nothing (the fuzz target relies on it): -F's file is read here. */
    if (o.filter_file && (rc = read_filter_file(&o)) >= 0)
        return rc;
    if (o.list_numbered) {
        free(o.filter);
        return cli_list_numbered();
    }
    if (o.list_types) {
        free(o.filter);
        return list_types(&o);
    }
    if (o.user && cli_find_user(o.user, NULL, NULL) != EXIT_OK) {
        free(o.filter);
        return EXIT_RUNTIME; /* -Z: an unknown user fails before anything opens */
    }

    /* One worker, or --threads of them (see the top); worker 0 prints. */
    int n = (int)o.threads;
    capture_state *w = calloc((size_t)n, sizeof *w);
    capture_shared shared;
    memset(&shared, 0, sizeof shared);
    pthread_mutex_init(&shared.print_lock, NULL);
    if (!w) {
        free(o.filter);
        return cli_error("out of memory");
    }
    capture_state *s = &w[0];
    static char outbuf[1 << 16];
    if (o.print && sink_open_fd(&s->print, STDOUT_FILENO, "standard output", outbuf, sizeof outbuf,
                                o.line_buffered ? SINK_LINE : SINK_FULL, 1) != 0) {
        free(w);
        free(o.filter);
        return cli_error("out of memory");
    }
    out_init(&s->out, s->print.f);
    s->out.nano = o.nano;
    s->out.time_format = o.time_format;
    s->out.verbose = o.verbose;
    s->out.ascii = o.ascii;
    s->out.quiet = o.quiet;
    s->out.hex = o.hex;
    s->out.link_level = o.link_level;
    cli_install_signals();

    /* A fanout group of this process's own (ids are per network namespace). */
    int group = (int)(getpid() % 65535) + 1;
    int snaplen = DEFAULT_SNAPLEN, opened = 0;
    rc = EXIT_OK;
    for (int k = 0; k < n && rc == EXIT_OK; k++) {
        capture_state *x = &w[k];
        x->o = &o;
        x->printer = s;
        x->worker = k;
        x->shared = n > 1 ? &shared : NULL;
        x->m = ipm_new();
        if (!x->m) {
            rc = cli_error("out of memory");
            break;
        }
        opened++;
        ipm_set_on_packet(x->m, on_packet, x);
        ipm_set_on_error(x->m, on_error, x);
        if (n > 1) {
            char setting[64];
            snprintf(setting, sizeof setting, "FanoutGroup=%d", group);
            if (!ipm_config(x->m, setting) || !ipm_config(x->m, "FanoutMode=hash")) {
                rc = cli_lib_error(x->m);
                break;
            }
        }
        rc = start(x, &o, &snaplen);
    }
    if (rc == EXIT_OK && o.user)
        rc = cli_drop_privileges(o.user);
    for (int k = 0; k < n && rc == EXIT_OK && o.write_file; k++) {
        capture_state *x = &w[k];
        if (make_file_name(x) != 0) {
            rc = cli_error("-w %s: the file name is too long", o.write_file);
        } else {
            rc = open_writer(x);
            x->file_started = time(NULL);
            x->file_bytes = o.format == IPM_FORMAT_PCAP ? 24 : 0;
        }
    }
    if (rc == EXIT_OK) {
        cli_signals_graceful();
        s->activated = 1; /* the summary is owed from here on */
        announce(s, snaplen);
        pthread_t threads[MAX_CAPTURE_THREADS];
        int running = 1;
        for (; running < n; running++)
            if (pthread_create(&threads[running], NULL, worker_main, &w[running]) != 0)
                break;
        if (running < n) { /* no thread for the rest: nobody is to capture alone */
            cli_error("cannot start capture thread %d of %d: %s", running + 1, n, strerror(errno));
            stop_workers(s);
            w[0].loop_rc = EXIT_RUNTIME;
        } else {
            w[0].loop_rc = loop(s);
        }
        for (int k = 1; k < running; k++)
            pthread_join(threads[k], NULL);
        for (int k = 0; k < running && rc == EXIT_OK; k++)
            rc = w[k].loop_rc;
    }
    long long skipped = 0;
    for (int k = 0; k < opened; k++) {
        capture_state *x = &w[k];
        ipm_deactivate(x->m);
        int crc = close_outputs(x);
        if (rc == EXIT_OK)
            rc = crc;
        if (rc == EXIT_OK && x->rotate_failed)
            rc = EXIT_RUNTIME;
        skipped += x->skipped_link;
    }
    if (skipped)
        cli_error("%lld packets of another link type were not written to %s", skipped, o.write_file);
    if (s->activated && !o.read_file)
        print_summary(w, opened);
    for (int k = 0; k < opened; k++)
        ipm_free(w[k].m);
    pthread_mutex_destroy(&shared.print_lock);
    free(w);
    free(o.filter);
    return rc;
}
