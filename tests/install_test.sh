#!/usr/bin/env bash
# What a user of the installed library does: `cmake --install` into a
# prefix, then build a program with pkg-config, against the shared and the
# static library, and run it on a capture file it writes with libpcap.
# Usage: install_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1 src=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cmake --install "$build" --prefix "$work/prefix" >/dev/null
pcdir=$(dirname "$(find "$work/prefix" -name ipmonitor.pc)")
export PKG_CONFIG_PATH=$pcdir
test -f "$work/prefix/include/ipmonitor.h"
test -n "$(find "$work/prefix" -name 'libipmonitor.so.1')"
test -n "$(find "$work/prefix" -name 'libipmonitor.a')"

cat > "$work/app.c" <<'C'
#include <ipmonitor.h>
#include <pcap/pcap.h>
#include <stdio.h>
static int count(const ipm_packet_event *e, void *user) { *(long *)user += e->packet_size; return 0; }
int main(int argc, char **argv)
{
    (void)argc;
    /* three frames of 60, 70 and 80 bytes */
    pcap_t *dead = pcap_open_dead(DLT_EN10MB, 65535);
    pcap_dumper_t *d = pcap_dump_open(dead, argv[1]);
    unsigned char frame[80] = {0};
    for (int i = 0; i < 3; i++) {
        struct pcap_pkthdr h = {.ts = {1, i}, .caplen = 60 + 10 * i, .len = 60 + 10 * i};
        pcap_dump((u_char *)d, &h, frame);
    }
    pcap_dump_close(d);
    pcap_close(dead);
    ipm_monitor *m = ipm_new();
    long bytes = 0;
    ipm_set_on_packet(m, count, &bytes);
    if (ipm_activate(m, argv[1]) != IPM_OK) { fprintf(stderr, "%s\n", ipm_last_error(m)); return 1; }
    while (ipm_get_active(m)) ipm_do_events(m);
    ipm_free(m);
    printf("%ld\n", bytes);
    return bytes == 210 ? 0 : 1;
}
C
cc "$work/app.c" -o "$work/app_shared" $(pkg-config --cflags --libs ipmonitor) -lpcap \
   -Wl,-rpath,"$(pkg-config --variable=libdir ipmonitor)"
# The static library with libpcap still shared, as most users link it.
cc "$work/app.c" -o "$work/app_static" $(pkg-config --cflags ipmonitor) \
   -L"$(pkg-config --variable=libdir ipmonitor)" -l:libipmonitor.a -lpcap -lpthread
test "$("$work/app_shared" "$work/a.pcap")" = 210
test "$("$work/app_static" "$work/b.pcap")" = 210
# Through files, not `ldd | grep -q`: grep -q exits at its match, ldd may
# then die of SIGPIPE, and pipefail makes that a silent failure (seen under
# load).
ldd "$work/app_shared" >"$work/ldd_shared"
ldd "$work/app_static" >"$work/ldd_static"
grep -q "$work/prefix" "$work/ldd_shared"
! grep -q libipmonitor "$work/ldd_static"
echo "install_test: installed headers, shared and static library and pkg-config file work"
