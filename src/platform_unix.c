/*
 * platform_unix.c - the platform.h answers that every Unix-like system
 * gives alike, through POSIX interfaces alone: compiled with either
 * backend (platform_linux.c or platform_posix.c), so the two never carry
 * the same code.
 */
#include "platform.h"

#include <net/if.h>
#include <stdio.h>
#include <sys/utsname.h>

unsigned ipm_os_ifindex(const char *name)
{
    return if_nametoindex(name);
}

void ipm_os_describe_system(char *hardware, size_t hw_size, char *os, size_t os_size)
{
    struct utsname u;
    if (uname(&u) != 0) {
        snprintf(hardware, hw_size, "%s", "");
        snprintf(os, os_size, "%s", "");
        return;
    }
    snprintf(hardware, hw_size, "%s", u.machine);
    snprintf(os, os_size, "%s %s", u.sysname, u.release);
}
