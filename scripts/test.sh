#!/usr/bin/env bash
# The test command (README, .ci/run): installs what the tests need, then runs them all.
#   - npm dependencies (npm ci), then build, lint, typecheck and every test (npm test);
#   - as root with apt-get: the kernel test harness (Debian's kernel under QEMU, dmsetup,
#     cryptsetup, ...), so the tests that regenerate vectors on the live kernel run too.
#     Set UCRYPT_KERNEL_TESTS=0 to leave them out.
#   - as root with apt-get: real NBD clients and peers (libnbd-bin, qemu-utils, fio, fuse3,
#     e2fsprogs, nbdkit, gnutls-bin), so test/nbd/interop runs with UCRYPT_NBD_TOOLS=1 (a
#     missing tool then fails instead of skipping). Set UCRYPT_NBD_TOOLS=0 to leave them out.
set -euo pipefail
cd "$(dirname "$0")/.."

npm ci --no-audit --no-fund

if [ "${UCRYPT_NBD_TOOLS:-}" != 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    # One apt-get update here; test/kernel/setup.sh finds the lists present and skips its own.
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libnbd-bin qemu-utils fio fuse3 e2fsprogs nbdkit gnutls-bin
    export UCRYPT_NBD_TOOLS=1
  else
    echo "test.sh: not root or no apt-get: the NBD interop tests skip the tools they lack" >&2
    export UCRYPT_NBD_TOOLS=0
  fi
fi

# The real cryptsetup for the LUKS interop tests (test/luks): with UCRYPT_LUKS_TOOLS=1 a missing
# cryptsetup fails those tests instead of skipping them. Set UCRYPT_LUKS_TOOLS=0 to leave them out.
if [ "${UCRYPT_LUKS_TOOLS:-}" != 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    command -v cryptsetup >/dev/null || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq cryptsetup-bin; }
    export UCRYPT_LUKS_TOOLS=1
  else
    echo "test.sh: not root or no apt-get: the LUKS interop tests skip if cryptsetup is missing" >&2
    export UCRYPT_LUKS_TOOLS=0
  fi
fi

if [ "${UCRYPT_KERNEL_TESTS:-}" != 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    test/kernel/setup.sh
    export UCRYPT_KERNEL_TESTS=1
  else
    echo "test.sh: not root or no apt-get: the live-kernel tests will be skipped" >&2
    export UCRYPT_KERNEL_TESTS=0
  fi
fi

# npm ci builds the native crypto addon (DESIGN.md "Native crypto"); here it must have loaded.
export UCRYPT_REQUIRE_NATIVE=1

npm test
