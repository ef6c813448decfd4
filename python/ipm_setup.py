"""ipm_setup: the setuptools description of the Python package, shared by
python/setup.py and the repository root's setup.py.

`pip install --no-build-isolation .` compiles the extension together with
the library's own sources so no CMake run and no shared library are needed;
libpcap comes from the system (Debian's libpcap-dev). What the library is
made of comes from the files CMake reads too: the sources and definitions
from src/sources.txt (for the platform in $IPM_PLATFORM, default linux),
build_info.h from src/build_info.h.in, the version from ipmonitor.h.
"""
import os
import re
import subprocess

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


def library_description(platform=None):
    """(sources, definitions) of src/sources.txt for `platform` (default:
    $IPM_PLATFORM, else linux): the file names (relative to src/) in their
    order, and (NAME, VALUE or None) pairs. The format is described at the
    top of that file; a line in another form raises SystemExit."""
    platform = platform or os.environ.get("IPM_PLATFORM") or "linux"
    sources, definitions = [], []
    path = os.path.join(ROOT, "src", "sources.txt")
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip() or line.startswith("#"):
                continue
            m = re.fullmatch(r"define[ \t]+([A-Za-z_][A-Za-z0-9_]*)(?:=([^ \t]*))?[ \t]*", line)
            if m:
                definitions.append((m.group(1), m.group(2)))
                continue
            m = re.fullmatch(r"([A-Za-z0-9_]+\.c)(?:[ \t]+([a-z]+))?[ \t]*", line)
            if not m:
                raise SystemExit(f"{path}:{number}: cannot read the line {line!r}")
            if m.group(2) is None or m.group(2) == platform:
                sources.append(m.group(1))
    return sources, definitions


def _compiler_version(compiler):
    """The C compiler's version as `cc -dumpfullversion` says, or ""."""
    try:
        r = subprocess.run(compiler + ["-dumpfullversion", "-dumpversion"],
                           capture_output=True, text=True, timeout=30)
    except OSError:
        return ""
    return r.stdout.strip() if r.returncode == 0 else ""


def build_info_h(compiler):
    """src/build_info.h.in with CMake's @VARIABLES@ filled in as this build
    knows them (`compiler`: the compiler command as a list)."""
    values = {
        "PROJECT_VERSION": _version(),
        "CMAKE_C_COMPILER_ID": os.path.basename(compiler[0]),
        "CMAKE_C_COMPILER_VERSION": _compiler_version(compiler),
        "CMAKE_BUILD_TYPE": "setup.py",
    }
    with open(os.path.join(ROOT, "src", "build_info.h.in"), encoding="utf-8") as f:
        template = f.read()
    text = re.sub(r"@([A-Za-z_]+)@", lambda m: values[m.group(1)], template)
    return text.replace(" ,", ",")  # no compiler version: "(gcc, ..." not "(gcc , ..."


class BuildExt(build_ext):
    """build_ext that writes the library's build_info.h (CMake does it for
    the CMake build) before compiling."""

    def build_extensions(self):
        gen = os.path.join(os.path.abspath(self.build_temp), "ipm_generated")
        os.makedirs(gen, exist_ok=True)
        with open(os.path.join(gen, "build_info.h"), "w", encoding="utf-8") as f:
            f.write(build_info_h(self.compiler.compiler_so[:1]))
        for ext in self.extensions:
            ext.include_dirs.append(gen)
        super().build_extensions()


def setup_args(setup_dir):
    """setup() keywords for a setup.py living in `setup_dir`."""
    rel = lambda *p: os.path.relpath(os.path.join(*p), setup_dir)  # noqa: E731
    lib_sources, lib_definitions = library_description()
    ext = Extension(
        "ipmonitor._ipmonitor",
        sources=[rel(HERE, f) for f in ("module.c", "monitor.c", "events.c", "writer.c")]
                + [rel(ROOT, "src", f) for f in lib_sources],
        include_dirs=[rel(ROOT, "include"), rel(ROOT, "src")],
        define_macros=lib_definitions,
        libraries=["pcap", "pthread"],
        extra_compile_args=["-std=c11", "-O2", "-fvisibility=hidden"],
    )
    pkg_dir = rel(HERE)
    readme_path = os.path.join(ROOT, "README.md")
    readme = ""
    if os.path.exists(readme_path):  # the long description; a bare tree may lack it
        with open(readme_path, encoding="utf-8") as f:
            readme = f.read()
    return dict(
        name="ipmonitor",
        version=_version(),
        description="The IPMonitor class of the PCAP Filter reference: packet capture on libpcap, "
                    "as a C extension over libipmonitor",
        long_description=readme,
        long_description_content_type="text/markdown",
        author="The ipmonitor authors",
        license="MIT",
        # setuptools takes licence files only from beside setup.py
        license_files=["LICENSE"] if os.path.exists(os.path.join(setup_dir, "LICENSE")) else [],
        keywords=["pcap", "libpcap", "packet capture", "network monitoring", "tcpdump"],
        classifiers=[
            "Development Status :: 4 - Beta",
            "Intended Audience :: Developers",
            "Intended Audience :: System Administrators",
            "License :: OSI Approved :: MIT License",
            "Operating System :: POSIX :: Linux",
            "Programming Language :: C",
            "Programming Language :: Python :: 3",
            "Programming Language :: Python :: Implementation :: CPython",
            "Topic :: System :: Networking :: Monitoring",
            "Typing :: Typed",
        ],
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
