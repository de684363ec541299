#!/bin/sh
# dm-crypt interoperability, both directions, in one boot.
# Run by test/kernel/crypt-interop.test.ts through ../run.sh; do not run on a host.
#
# Input (made by the test on the host):
#   /host/list              one case a line: ID|LEN|IMGSECTORS|TABLE
#                           ID: [0-9a-z_-]+; LEN: device length (512-byte sectors,
#                           a multiple of 8); IMGSECTORS: how many sectors of
#                           /dev/ram0 the image covers (offset + LEN); TABLE: the
#                           dm table line (over /dev/ram0)
#   /host/u2k/ID.img        (optional) raw /dev/ram0 image that ucrypt wrote
#                           through its crypt device with TABLE
#   /host/u2k/ID.sha256     sha256 of ucrypt's plaintext (first LEN*512 bytes)
# Output, in /host/k2u/:
#   uname                   `uname -r`
#   ID.u2k.sha256           sha256 of what the kernel reads through
#                           /dev/mapper/interop from ucrypt's image
#   ID.u2k.result           OK | MISMATCH | NOIMAGE | CREATE-FAILED | READ-FAILED
#   ID.k2u.img              raw /dev/ram0 image (IMGSECTORS sectors) after the
#                           kernel wrote fresh /dev/urandom data through TABLE
#   ID.k2u.sha256           sha256 of that plaintext
#   ID.k2u.result           OK (the kernel reads its own data back) | READBACK-MISMATCH
#                           | CREATE-FAILED | WRITE-FAILED
#   ID.log                  dmsetup and dd stderr, and the kernel log lines of the case
# Exit: 0 if every case is OK both ways, 3 if a case failed, 1 on setup errors.
#
# Environment: UCRYPT_JOB_INTEROP_RAM_KB  size of /dev/ram0 in KiB (default 2048)

LIST=/host/list
IN=/host/u2k
OUT=/host/k2u
DEV=/dev/ram0
RAM_KB=${UCRYPT_JOB_INTEROP_RAM_KB:-2048}
NAME=interop
MAP=/dev/mapper/$NAME

rm -rf "$OUT"
mkdir -p "$OUT" || exit 1
[ -f "$LIST" ] || { echo "missing $LIST"; exit 1; }

echo N > /sys/module/printk/parameters/time
modprobe brd rd_nr=1 rd_size="$RAM_KB" || exit 1
modprobe dm-mod || exit 1
modprobe dm-crypt || exit 1
uname -r > "$OUT/uname"
echo "kernel $(uname -r); ram0: $(blockdev --getsz $DEV) sectors; $(grep -c . "$LIST") cases"

zero_ram() {
  dd if=/dev/zero of=$DEV bs=65536 count=$((RAM_KB / 64)) oflag=direct 2>/dev/null
}

# create TABLE LOGFILE: dmsetup create + mknodes (no udev); returns dmsetup's status
create() {
  dmsetup create $NAME --table "$1" < /dev/null >> "$2" 2>&1
  rc=$?
  [ "$rc" = 0 ] && dmsetup mknodes $NAME >> "$2" 2>&1
  return $rc
}

# remove LOGFILE: removes the device; aborts the job if it stays
remove() {
  dmsetup remove $NAME >> "$1" 2>&1 && return 0
  dmsetup remove --force $NAME >> "$1" 2>&1 && return 0
  echo "device $NAME cannot be removed; aborting"
  exit 1
}

sum() { sha256sum | cut -d' ' -f1; }

# One device per case serves both directions: ucrypt's image is on /dev/ram0 when the table
# is created and is read through it; then /dev/ram0 is zeroed under the live mapping (direct
# I/O on both, so no cache sits between them) and the kernel writes its own data.
FAILED=0
while IFS='|' read -r id len img table <&3; do
  [ -n "$id" ] || continue
  bytes=$((len * 512))
  blocks=$((bytes / 4096))
  log="$OUT/$id.log"
  : > "$log"
  dmesg -c > /dev/null
  zero_ram
  [ -f "$IN/$id.img" ] && dd if="$IN/$id.img" of=$DEV bs=512 oflag=direct 2>> "$log"
  head -c $bytes /dev/urandom > /tmp/kplain
  sum < /tmp/kplain > "$OUT/$id.k2u.sha256"

  if ! create "$table" "$log"; then
    u2k=CREATE-FAILED
    k2u=CREATE-FAILED
  else
    # ---------------------------------------------------------------- ucrypt -> kernel
    if [ ! -f "$IN/$id.img" ]; then
      u2k=NOIMAGE
    elif dd if=$MAP bs=4096 count=$blocks iflag=direct 2>> "$log" > /tmp/uplain; then
      sum < /tmp/uplain > "$OUT/$id.u2k.sha256"
      if [ "$(cat "$OUT/$id.u2k.sha256")" = "$(cat "$IN/$id.sha256" 2>/dev/null)" ]; then u2k=OK; else u2k=MISMATCH; fi
    else
      u2k=READ-FAILED
    fi
    # ---------------------------------------------------------------- kernel -> ucrypt
    zero_ram
    if dd if=/tmp/kplain of=$MAP bs=4096 count=$blocks oflag=direct 2>> "$log"; then
      back=$(dd if=$MAP bs=4096 count=$blocks iflag=direct 2>> "$log" | sum)
      if [ "$back" = "$(cat "$OUT/$id.k2u.sha256")" ]; then k2u=OK; else k2u=READBACK-MISMATCH; fi
    else
      k2u=WRITE-FAILED
    fi
    remove "$log"
    dd if=$DEV of="$OUT/$id.k2u.img" bs=512 count="$img" iflag=direct 2>> "$log"
  fi
  dmesg -c >> "$log"
  echo "$u2k" > "$OUT/$id.u2k.result"
  echo "$k2u" > "$OUT/$id.k2u.result"
  [ "$u2k" = OK ] && [ "$k2u" = OK ] || FAILED=1
  echo "--- $id: ucrypt->kernel $u2k, kernel->ucrypt $k2u"
done 3< "$LIST"

if [ "$FAILED" = 0 ]; then echo "all cases OK"; exit 0; fi
echo "some cases failed"
exit 3
