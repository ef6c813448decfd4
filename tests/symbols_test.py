#!/usr/bin/python3
"""symbols_test.py - only the public API is global in libipmonitor.

The library's files call each other through internal ipm_* functions. In
libipmonitor.so they are hidden; in libipmonitor.a they are made local
(src/CMakeLists.txt: ld -r, objcopy --localize-hidden). This checks that
the global symbols each library defines are exactly the functions
include/ipmonitor.h declares IPM_API (read from the preprocessed header, so
declarations made by macros count too), and that a program defining
functions with the library's internal names links with the static and the
shared library and still gets the library's own behaviour.

Usage: symbols_test.py --cc CC --nm NM --header ipmonitor.h libipmonitor.a libipmonitor.so
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

PUBLIC_DECL = re.compile(r'__attribute__\(\(visibility\("default"\)\)\)[^;{]*?\b(ipm_\w+)\s*\(')


def public_functions(cc, header):
    """The names of the functions the header declares IPM_API."""
    text = subprocess.run([cc, "-E", "-P", "-x", "c", header], check=True,
                          capture_output=True, text=True).stdout
    names = set(PUBLIC_DECL.findall(text))
    if len(names) < 10:
        sys.exit(f"{header}: found only {sorted(names)} declared IPM_API; is the pattern stale?")
    return names


def symbols(nm, lib, *flags):
    """{name: type letter} of the symbols `nm flags lib` lists."""
    out = subprocess.run([nm, *flags, lib], check=True, capture_output=True, text=True).stdout
    found = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 2 and not line.endswith(":"):
            found[parts[-1]] = parts[-2]
    return found


def check_link(cc, header, lib, internal, work, kind):
    """A program that defines every internal name itself (each aborts if
    called) and uses the library, linked against `lib`; it must link and
    the library must still call its own functions. Returns an error text
    or None."""
    prog = os.path.join(work, f"app_{kind}.c")
    with open(prog, "w", encoding="utf-8") as f:
        f.write("#include <stdlib.h>\n#include <string.h>\n#include <ipmonitor.h>\n")
        for name in sorted(internal):
            f.write(f"void {name}(void);\nvoid {name}(void) {{ abort(); }}\n")
        f.write("""
int main(void)
{
    ipm_monitor *m = ipm_new();
    if (!m)
        return 2;
    /* A filter that does not compile goes through the library's own
     * error helpers; the program's same-named functions would abort. */
    int rc = ipm_set_filter(m, "not ( a filter");
    int ok = rc == IPM_E_BAD_FILTER && strlen(ipm_last_error(m)) > 0;
    ipm_free(m);
    return ok ? 0 : 3;
}
""")
    exe = os.path.join(work, f"app_{kind}")
    libdir = os.path.dirname(os.path.abspath(lib))
    cmd = [cc, "-std=c11", "-I", os.path.dirname(os.path.abspath(header)), prog, "-o", exe]
    if kind == "static":
        cmd += [lib, "-lpcap", "-pthread"]
    else:
        cmd += [lib, f"-Wl,-rpath,{libdir}"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        return f"{kind}: a program using the library's internal names does not link:\n{r.stderr}"
    r = subprocess.run([exe], capture_output=True, text=True)
    if r.returncode != 0:
        return f"{kind}: the library called the program's functions (exit {r.returncode})"
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cc", required=True)
    ap.add_argument("--nm", required=True)
    ap.add_argument("--header", required=True)
    ap.add_argument("static_lib")
    ap.add_argument("shared_lib")
    args = ap.parse_args()

    public = public_functions(args.cc, args.header)
    failures = []
    for lib, flags in ((args.static_lib, ["-g", "--defined-only"]),
                       (args.shared_lib, ["-D", "--defined-only"])):
        glob = set(symbols(args.nm, lib, *flags))
        if glob - public:
            failures.append(f"{lib}: global but not IPM_API: {sorted(glob - public)}")
        if public - glob:
            failures.append(f"{lib}: IPM_API but not defined: {sorted(public - glob)}")

    # The library's internal names: the archive's other ipm_* symbols.
    internal = {n for n in symbols(args.nm, args.static_lib, "--defined-only")
                if re.fullmatch(r"ipm_\w+", n) and n not in public}
    if not internal:
        failures.append(f"{args.static_lib}: no internal ipm_* symbols (stripped?), nothing to check")
    with tempfile.TemporaryDirectory(prefix="ipm-symbols-") as work:
        for lib, kind in ((args.static_lib, "static"), (args.shared_lib, "shared")):
            err = check_link(args.cc, args.header, lib, internal, work, kind)
            if err:
                failures.append(err)

    for f in failures:
        print(f, file=sys.stderr)
    if failures:
        return 1
    print(f"symbols_test: {len(public)} IPM_API functions global in both libraries; "
          f"a program may define the {len(internal)} internal names")
    return 0


if __name__ == "__main__":
    sys.exit(main())
