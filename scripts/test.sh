#!/usr/bin/env bash
# The test command (README, .ci/run): installs what the tests need, then runs them all.
#   - npm dependencies (npm ci), then build, lint, typecheck and every test (npm test);
#   - as root with apt-get: the kernel test harness (Debian's kernel under QEMU, dmsetup,
#     cryptsetup, ...), so the tests that regenerate vectors on the live kernel run too.
#     Set UCRYPT_KERNEL_TESTS=0 to leave them out.
set -euo pipefail
cd "$(dirname "$0")/.."

npm ci --no-audit --no-fund

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
