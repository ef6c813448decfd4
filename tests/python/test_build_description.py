"""The library's build is described once (src/sources.txt, the version in
include/ipmonitor.h, src/build_info.h.in): CMake and pip's
python/ipm_setup.py must read the same files, definitions and version out
of it."""
import os
import sys

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "python"))
import ipm_setup  # noqa: E402


def test_pip_reads_the_sources_and_definitions_cmake_read():
    path = os.environ.get("IPM_CMAKE_SOURCES_READ")
    if not path:
        pytest.skip("run by ctest, which names what CMake read")
    with open(path, encoding="utf-8") as f:
        read = dict(line.rstrip("\n").split(" ", 1) for line in f)
    sources, definitions = ipm_setup.library_description(read["platform"])
    assert sources == read["sources"].split()
    assert [n if v is None else f"{n}={v}" for n, v in definitions] == read["definitions"].split()


def test_every_library_source_is_listed():
    # A .c file in src/ that no platform builds is a forgotten line.
    listed = set()
    for platform in ("linux", "posix"):
        listed.update(ipm_setup.library_description(platform)[0])
    present = {f for f in os.listdir(os.path.join(ROOT, "src")) if f.endswith(".c")}
    assert present == listed


def test_platform_files_are_selected_by_platform(tmp_path, monkeypatch):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "sources.txt").write_text(
        "# comment\na.c\nlin.c linux\npos.c posix\n\ndefine X\ndefine Y=2\n")
    monkeypatch.setattr(ipm_setup, "ROOT", str(tmp_path))
    assert ipm_setup.library_description("linux") == (["a.c", "lin.c"], [("X", None), ("Y", "2")])
    assert ipm_setup.library_description("posix") == (["a.c", "pos.c"], [("X", None), ("Y", "2")])
    monkeypatch.setenv("IPM_PLATFORM", "posix")
    assert ipm_setup.library_description()[0] == ["a.c", "pos.c"]
    (tmp_path / "src" / "sources.txt").write_text("a.c linux extra\n")
    with pytest.raises(SystemExit, match="cannot read the line"):
        ipm_setup.library_description("linux")


def test_version_and_build_info_come_from_the_header_and_template():
    with open(os.path.join(ROOT, "include", "ipmonitor.h"), encoding="utf-8") as f:
        header = f.read()
    assert f'#define IPM_VERSION_STRING "{ipm_setup._version()}"' in header
    info = ipm_setup.build_info_h(["no-such-cc"])
    assert f'"ipmonitor {ipm_setup._version()} (no-such-cc, setup.py build)"' in info
    assert "@" not in info
