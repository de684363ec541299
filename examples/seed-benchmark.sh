#!/bin/bash -e
# The seed experiment, as published with the dm-crypt patch that added no_read_workqueue and
# no_write_workqueue (Ignat Korchagin, dm-devel, July 2020; Linux 5.9), with `sudo` dropped and
# `ucrypt` put before modprobe, dmsetup and fio. Nothing else is changed.
#
#   RUNTIME=10 examples/seed-benchmark.sh     # 10 s per job instead of the original 3 minutes
#
# The devices live in the ucrypt daemon ($UCRYPT_RUNTIME_DIR, started on demand); fio reaches
# them over NBD, as a user reaches /dev/mapper/NAME. Afterwards:
#   ucrypt dmsetup remove_all && ucrypt rmmod brd && ucrypt daemon --stop
# `ucrypt` is the one on PATH, else this checkout's bin/ucrypt.js.

RUNTIME=${RUNTIME:-3m}
if ! command -v ucrypt >/dev/null 2>&1; then
  UCRYPT_BIN="$(cd "$(dirname "$0")/.." && pwd)/bin/ucrypt.js"
  ucrypt() { node "$UCRYPT_BIN" "$@"; }
fi

ucrypt modprobe brd rd_nr=1 rd_size=4194304

echo '0 8388608 crypt capi:ecb(cipher_null) - 0 /dev/ram0 0' | \
ucrypt dmsetup create eram0

echo '0 8388608 crypt capi:ecb(cipher_null) - 0 /dev/ram0 0 1 no_write_workqueue' | \
ucrypt dmsetup create eram0-inline-write

echo '0 8388608 crypt capi:ecb(cipher_null) - 0 /dev/ram0 0 1 no_read_workqueue' | \
ucrypt dmsetup create eram0-inline-read

devices="/dev/ram0 /dev/mapper/eram0 /dev/mapper/eram0-inline-read "
devices+="/dev/mapper/eram0-inline-write"

for dev in $devices; do
  echo "reading from $dev"
  ucrypt fio --filename=$dev --readwrite=read --bs=4k --direct=1 \
  --loops=1000000 --runtime=$RUNTIME --name=plain | grep READ
done

for dev in $devices; do
  echo "writing to $dev"
  ucrypt fio --filename=$dev --readwrite=write --bs=4k --direct=1 \
  --loops=1000000 --runtime=$RUNTIME --name=plain | grep WRITE
done
