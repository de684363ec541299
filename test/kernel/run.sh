#!/usr/bin/env bash
# ucrypt kernel test harness: boot Debian's kernel under QEMU (TCG) and run a job.
#
# usage: run.sh <job-script> <shared-dir>
#
# The job script is appended to the initramfs as /job.sh and run with busybox
# /bin/sh (cwd = /host, stdin = /dev/null). <shared-dir> is mounted in the guest
# at /host (9p). After the run, <shared-dir> contains:
#   exit-code        the job's exit status
#   job-output.log   the job's stdout+stderr (also printed on our stdout)
#   console.log      the whole serial console (kernel + init + job)
#   dmesg.log        the guest's full kernel log at the end of the job
# run.sh exits with the job's exit status; 124 on timeout, 125 if the guest
# died without reporting one. On failure the console log is copied to stderr.
#
# Environment:
#   UCRYPT_KERNEL_CACHE     cache dir (default <repo>/.cache/kernel; see setup.sh)
#   UCRYPT_KERNEL_TIMEOUT   seconds before qemu is killed (default 300)
#   UCRYPT_KERNEL_MEM       guest RAM in MiB (default 1024)
#   UCRYPT_KERNEL_SMP       guest CPUs (default 2)
#   UCRYPT_KERNEL_LOGLEVEL  console loglevel (default 3: kernel errors are NOT
#                           echoed to the console; they are in dmesg.log)
#   UCRYPT_KERNEL_GUESTFWD  comma-separated TCP ports; if set, the guest gets
#                           virtio-net (restricted user net, 10.0.2.15/24) and
#                           10.0.2.100:PORT is forwarded to host 127.0.0.1:PORT
#   UCRYPT_KERNEL_APPEND    extra kernel command line
#   UCRYPT_KERNEL_SETUP     set to 0 to skip running setup.sh first (default 1;
#                           setup.sh is a fast no-op when everything is cached)
#   UCRYPT_JOB_*            exported into the job's environment (values are
#                           single-quoted; avoid embedded single quotes)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
CACHE="${UCRYPT_KERNEL_CACHE:-$REPO/.cache/kernel}"

if [ "$#" -ne 2 ]; then
  echo "usage: $0 <job-script> <shared-dir>" >&2
  exit 2
fi
JOB="$1"
SHARED="$2"
[ -f "$JOB" ] || { echo "run.sh: no such job script: $JOB" >&2; exit 2; }
mkdir -p "$SHARED"
SHARED="$(cd "$SHARED" && pwd)"

if [ "${UCRYPT_KERNEL_SETUP:-1}" != 0 ] || [ ! -f "$CACHE/current.env" ]; then
  "$HERE/setup.sh" >/dev/null
fi
# shellcheck disable=SC1091
. "$CACHE/current.env"

TIMEOUT="${UCRYPT_KERNEL_TIMEOUT:-300}"
MEM="${UCRYPT_KERNEL_MEM:-1024}"
SMP="${UCRYPT_KERNEL_SMP:-2}"
LOGLEVEL="${UCRYPT_KERNEL_LOGLEVEL:-3}"

TMP="$(mktemp -d "${TMPDIR:-/tmp}/ucrypt-kvm.XXXXXX")"
QEMU_PID=""
cleanup() {
  if [ -n "$QEMU_PID" ] && kill -0 "$QEMU_PID" 2>/dev/null; then kill -9 "$QEMU_PID" 2>/dev/null || true; fi
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Job cpio: /job.sh (+ /job.env), appended to the base initramfs (the kernel
# unpacks concatenated archives in order).
mkdir -p "$TMP/jobroot"
cp "$JOB" "$TMP/jobroot/job.sh"
chmod 755 "$TMP/jobroot/job.sh"
: > "$TMP/jobroot/job.env"
while IFS='=' read -r name _; do
  case "$name" in UCRYPT_JOB_*)
    printf "export %s='%s'\n" "$name" "${!name}" >> "$TMP/jobroot/job.env";;
  esac
done < <(env)
( cd "$TMP/jobroot" && printf 'job.sh\njob.env\n' | cpio -o -H newc --quiet -R 0:0 ) | gzip -1 > "$TMP/job.cpio.gz"
cat "$INITRD" "$TMP/job.cpio.gz" > "$TMP/initrd"

rm -f "$SHARED/exit-code" "$SHARED/console.log" "$SHARED/job-output.log" "$SHARED/dmesg.log"

NET_ARGS=(-nic none)
NET_APPEND="ucrypt.net=0"
if [ -n "${UCRYPT_KERNEL_GUESTFWD:-}" ]; then
  fwd=""
  IFS=',' read -r -a ports <<< "$UCRYPT_KERNEL_GUESTFWD"
  for p in "${ports[@]}"; do
    fwd+=",guestfwd=tcp:10.0.2.100:$p-tcp:127.0.0.1:$p"
  done
  NET_ARGS=(-netdev "user,id=n0,restrict=on$fwd" -device virtio-net-pci,netdev=n0)
  NET_APPEND="ucrypt.net=1"
fi

APPEND="console=ttyS0 panic=-1 loglevel=$LOGLEVEL mitigations=off random.trust_cpu=on $NET_APPEND ${UCRYPT_KERNEL_APPEND:-}"

start=$(date +%s)
set +e
timeout -k 5 "$TIMEOUT" qemu-system-x86_64 \
  -accel tcg -cpu max -m "$MEM" -smp "$SMP" \
  -nodefaults -no-user-config -display none -vga none -no-reboot \
  -serial "file:$SHARED/console.log" -monitor none \
  -kernel "$VMLINUZ" -initrd "$TMP/initrd" -append "$APPEND" \
  -virtfs "local,path=$SHARED,mount_tag=host,security_model=none,id=host0" \
  -device virtio-rng-pci \
  "${NET_ARGS[@]}" > "$TMP/qemu.out" 2>&1 &
QEMU_PID=$!
wait "$QEMU_PID"
qrc=$?
QEMU_PID=""
set -e
elapsed=$(( $(date +%s) - start ))

if [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then
  rc=124
  echo "run.sh: timeout after ${TIMEOUT}s (job $JOB)" >&2
elif [ -f "$SHARED/exit-code" ]; then
  rc="$(tr -dc '0-9' < "$SHARED/exit-code")"
  [ -n "$rc" ] || rc=125
else
  rc=125
  echo "run.sh: guest did not report an exit code (qemu exit $qrc)" >&2
fi

[ -f "$SHARED/job-output.log" ] && cat "$SHARED/job-output.log"

if [ "$rc" != 0 ]; then
  {
    echo "run.sh: job $JOB failed with exit code $rc after ${elapsed}s; qemu output:"
    cat "$TMP/qemu.out"
    echo "----- guest console ($SHARED/console.log) -----"
    cat "$SHARED/console.log" 2>/dev/null || true
    echo "----- end of guest console -----"
  } >&2
fi
exit "$rc"
