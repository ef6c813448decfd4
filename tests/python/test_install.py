"""`pip install --no-build-isolation .` from python/ and from the repository
root, with no index (nothing may be downloaded), on a copy of the sources so
the work tree stays clean; the installed package then captures a file.
"""
import os
import shutil
import subprocess

import pytest

from helpers import udp_frame, write_pcap

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PYTHON = "/usr/bin/python3"


def _copy_sources(dst):
    for d in ("include", "src", "python"):
        shutil.copytree(os.path.join(ROOT, d), os.path.join(dst, d),
                        ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    for f in ("setup.py", "pyproject.toml", "LICENSE", "README.md", "MANIFEST.in"):
        shutil.copy(os.path.join(ROOT, f), dst)


@pytest.mark.parametrize("where", ["python", "."])
def test_pip_install_without_downloads(tmp_path, where):
    if not os.path.exists(PYTHON):
        pytest.skip("needs Debian's /usr/bin/python3")
    src = tmp_path / "tree"
    _copy_sources(src)
    target = tmp_path / "site"
    env = dict(os.environ, PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    env.pop("PYTHONPATH", None)
    r = subprocess.run([PYTHON, "-m", "pip", "install", "--no-build-isolation", "--no-index",
                        "--target", str(target), "."], cwd=src / where, env=env,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (target / "ipmonitor" / "__init__.pyi").exists()
    assert (target / "pcapfilter" / "__init__.py").exists()

    frames = [udp_frame(bytes([i]) * i) for i in range(1, 6)]
    path = write_pcap(tmp_path / "f.pcap", [(10**18 + i, f) for i, f in enumerate(frames)])
    code = ("import sys, ipmonitor; from pcapfilter import IPMonitor; m = IPMonitor(); "
            "got = []; m.on_packet = lambda e: got.append(e.data); m.activate(sys.argv[1]); "
            "m.do_events(); print(ipmonitor.__file__); print(len(got), sum(map(len, got)))")
    r = subprocess.run([PYTHON, "-c", code, path], env=dict(env, PYTHONPATH=str(target)),
                       cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    file, counts = r.stdout.splitlines()
    assert file.startswith(str(target))
    assert counts == f"{len(frames)} {sum(map(len, frames))}"


def test_sdist_and_wheel_with_metadata_then_a_fresh_venv(tmp_path):
    # `python -m build` (Debian's python3-build) makes both from a copy of
    # the sources; the wheel carries complete metadata; the sdist alone is
    # enough to build and install in a fresh venv, with nothing downloaded.
    pytest.importorskip("build")
    src = tmp_path / "tree"
    _copy_sources(src)
    env = dict(os.environ, PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    env.pop("PYTHONPATH", None)
    dist = tmp_path / "dist"
    r = subprocess.run([PYTHON, "-m", "build", "--no-isolation", "--sdist", "--wheel",
                        "--outdir", str(dist), "."], cwd=src, env=env,
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    wheel = next(dist.glob("ipmonitor-*.whl"))
    sdist = next(dist.glob("ipmonitor-*.tar.gz"))
    import zipfile
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        meta = z.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    for line in ("License: MIT", "Author: The ipmonitor authors",
                 "Classifier: License :: OSI Approved :: MIT License", "Classifier: Typing :: Typed",
                 "Requires-Python: >=3.8", "Description-Content-Type: text/markdown"):
        assert line in meta.splitlines(), line
    assert "ipmonitor/py.typed" in names and "ipmonitor/__init__.pyi" in names
    assert any(n.endswith(".dist-info/LICENSE") for n in names)

    # The README's venv line: --system-site-packages lends Debian's
    # setuptools and wheel to the build, so nothing is fetched.
    venv = tmp_path / "venv"
    subprocess.run([PYTHON, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    vpy = str(venv / "bin" / "python")
    r = subprocess.run([vpy, "-m", "pip", "install", "--no-build-isolation", "--no-index",
                        str(sdist)], cwd=tmp_path, env=env, capture_output=True, text=True,
                       timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    frames = [udp_frame(bytes([i]) * 10) for i in range(1, 4)]
    path = write_pcap(tmp_path / "f.pcap", [(10**18 + i, f) for i, f in enumerate(frames)])
    code = ("import sys, ipmonitor, importlib.metadata as md; from pcapfilter import IPMonitor; "
            "print(md.version('ipmonitor') == ipmonitor.__version__); "
            "print(sum(1 for _ in IPMonitor().packets(sys.argv[1])))")
    r = subprocess.run([vpy, "-c", code, path], cwd=tmp_path, env=env, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["True", str(len(frames))]
