"""ipm_setup: the setuptools description of the Python package, shared by
python/setup.py and the repository root's setup.py.

`pip install --no-build-isolation .` compiles the extension together with
the library's own sources (src/*.c) so no CMake run and no shared library
are needed; libpcap comes from the system (Debian's libpcap-dev).
"""
import glob
import os
import re

from setuptools import Extension
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def _version():
    """MAJOR.MINOR.PATCH from include/ipmonitor.h, the one place the version
    is written (the top CMakeLists.txt reads the same lines)."""
    with open(os.path.join(ROOT, "include", "ipmonitor.h"), encoding="utf-8") as f:
        header = f.read()
    parts = []
    for part in ("MAJOR", "MINOR", "PATCH"):
        m = re.search(r"^#define IPM_VERSION_%s ([0-9]+)$" % part, header, re.M)
        if not m:
            raise SystemExit("include/ipmonitor.h: no '#define IPM_VERSION_%s <number>' line" % part)
        parts.append(m.group(1))
    version = ".".join(parts)
    m = re.search(r'^#define IPM_VERSION_STRING "([^"]*)"$', header, re.M)
    if not m or m.group(1) != version:
        raise SystemExit("include/ipmonitor.h: IPM_VERSION_STRING is not MAJOR.MINOR.PATCH (%s)" % version)
    return version


class BuildExt(build_ext):
    """build_ext that writes the library's build_info.h (CMake does it for
    the CMake build) before compiling."""

    def build_extensions(self):
        gen = os.path.join(os.path.abspath(self.build_temp), "ipm_generated")
        os.makedirs(gen, exist_ok=True)
        compiler = os.path.basename(self.compiler.compiler_so[0])
        with open(os.path.join(gen, "build_info.h"), "w", encoding="utf-8") as f:
            f.write(f'#define IPM_BUILD_INFO "ipmonitor {_version()} ({compiler}, setup.py build)"\n')
        for ext in self.extensions:
            ext.include_dirs.append(gen)
        super().build_extensions()


def setup_args(setup_dir):
    """setup() keywords for a setup.py living in `setup_dir`."""
    rel = lambda *p: os.path.relpath(os.path.join(*p), setup_dir)  # noqa: E731
    src = sorted(glob.glob(os.path.join(ROOT, "src", "*.c")))
    ext = Extension(
        "ipmonitor._ipmonitor",
        sources=[rel(HERE, f) for f in ("module.c", "monitor.c", "events.c")] + [rel(s) for s in src],
        include_dirs=[rel(ROOT, "include"), rel(ROOT, "src")],
        define_macros=[("_GNU_SOURCE", None), ("IPM_HAVE_BUILD_INFO_H", None)],
        libraries=["pcap", "pthread"],
        extra_compile_args=["-std=c11", "-O2", "-fvisibility=hidden"],
    )
    pkg_dir = rel(HERE)
    return dict(
        name="ipmonitor",
        version=_version(),
        description="The IPMonitor class of the PCAP Filter reference: packet capture on libpcap, "
                    "as a C extension over libipmonitor",
        python_requires=">=3.8",
        packages=["ipmonitor", "pcapfilter"],
        package_dir={"": pkg_dir} if pkg_dir != "." else {},
        package_data={"ipmonitor": ["__init__.pyi", "py.typed"],
                      "pcapfilter": ["__init__.pyi", "py.typed"]},
        ext_modules=[ext],
        cmdclass={"build_ext": BuildExt},
        zip_safe=False,
        # At the root, "build/" is CMake's build tree: keep setuptools out of it.
        options={"build": {"build_base": "build-pip"}} if pkg_dir != "." else {},
    )
