#!/usr/bin/env bash
# Installs every Debian 12 package that building, testing and benchmarking
# ipmonitor needs. Run as root. Idempotent: apt-get skips what is there.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
packages=(
  # build
  build-essential cmake pkg-config libpcap-dev clang libclang-rt-14-dev
  # Python package
  python3 python3-dev python3-pytest python3-setuptools python3-wheel python3-pip
  # the type hints held to the code (mypy --strict, stubtest)
  python3-mypy
  # the sdist and wheel (python -m build), checked by tests/python/test_install.py
  python3-build python3-venv
  # real peers and traffic tools used by tests and benchmarks
  iproute2 iputils-ping tcpdump tshark python3-scapy netsniff-ng valgrind
  procps time
  # capsh: the C tests drop capabilities to check the permission error
  libcap2-bin
  # ipmon exporter: HTTP (and TLS through GnuTLS) from libmicrohttpd, the web
  # config's YAML, bcrypt passwords through libxcrypt's crypt(3)
  libmicrohttpd-dev libyaml-dev libcrypt-dev
  # ipmon's live view (cli/view.c) on ncurses; its tests drive it in tmux
  libncurses-dev tmux
  # its tests: a real Prometheus server and promtool, htpasswd for bcrypt
  # hashes, openssl for a test certificate, curl for the README's examples
  prometheus apache2-utils openssl curl
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
