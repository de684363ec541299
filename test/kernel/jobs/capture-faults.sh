#!/bin/sh
# Capture of the kernel's dm-flakey and dm-delay: for each table, `dmsetup create` (exit, stderr,
# device-mapper kernel lines), then `dmsetup table` and `dmsetup status` when it was accepted.
# Run by ../capture-faults.sh through ../run.sh; do not run on a host.
#
# Records under /host/cases/NNN/: id, table, exit, stderr, dmesg, and (accepted) table-out,
# status-out. /host/targets holds `dmsetup targets` after both modules are loaded.

OUT=/host/cases
rm -rf "$OUT"
mkdir -p "$OUT" || exit 1
N=0
echo N > /sys/module/printk/parameters/time || exit 1
modprobe brd rd_nr=2 rd_size=8192 || exit 1
modprobe dm-mod || exit 1
modprobe dm-flakey || exit 1
modprobe dm-delay || exit 1
dmsetup targets > /host/targets
uname -r > /host/uname

# t ID TABLE
t() {
  N=$((N + 1))
  d="$OUT/$(printf '%03d' "$N")"
  mkdir -p "$d"
  printf '%s' "$1" > "$d/id"
  printf '%s' "$2" > "$d/table"
  dmesg -c > /dev/null
  dmsetup create f --table "$2" > /dev/null 2> "$d/stderr"
  echo $? > "$d/exit"
  usleep 100000 2>/dev/null || sleep 1
  dmesg -c | grep '^device-mapper:' > "$d/dmesg"
  if dmsetup info f > /dev/null 2>&1; then
    dmsetup table f > "$d/table-out" 2>&1
    dmsetup status f > "$d/status-out" 2>&1
    dmsetup remove f > /dev/null 2>&1
  fi
  echo "--- [$N] $1: $2 -> exit $(cat "$d/exit")"
  cat "$d/table-out" "$d/status-out" "$d/stderr" "$d/dmesg" 2>/dev/null
}

# ------------------------------------------------------------------ flakey, valid
t flakey-nofeatures "0 64 flakey /dev/ram0 0 1 1"
t flakey-zero-features "0 64 flakey /dev/ram0 0 1 1 0"
t flakey-offset "0 64 flakey /dev/ram1 16 60 0"
t flakey-drop-writes "0 64 flakey /dev/ram0 0 1 1 1 drop_writes"
t flakey-drop-writes-upper "0 64 flakey /dev/ram0 0 1 1 1 DROP_WRITES"
t flakey-error-writes "0 64 flakey /dev/ram0 0 1 1 1 error_writes"
t flakey-error-reads "0 64 flakey /dev/ram0 0 1 1 1 error_reads"
t flakey-error-reads-writes "0 64 flakey /dev/ram0 0 1 1 2 error_reads error_writes"
t flakey-error-writes-reads "0 64 flakey /dev/ram0 0 1 1 2 error_writes error_reads"
t flakey-corrupt-r "0 64 flakey /dev/ram0 0 0 1 5 corrupt_bio_byte 32 r 1 0"
t flakey-corrupt-w "0 64 flakey /dev/ram0 0 0 1 5 corrupt_bio_byte 600 W 255 2048"
t flakey-error-writes-corrupt-r "0 64 flakey /dev/ram0 0 1 1 6 error_writes corrupt_bio_byte 1 r 0 0"
t flakey-drop-corrupt-r "0 64 flakey /dev/ram0 0 1 1 6 corrupt_bio_byte 1 r 7 0 drop_writes"
t flakey-random-read "0 64 flakey /dev/ram0 0 0 1 2 random_read_corrupt 100000000"
t flakey-random-both "0 64 flakey /dev/ram0 0 0 1 4 random_read_corrupt 1000000000 random_write_corrupt 1"
t flakey-random-zero "0 64 flakey /dev/ram0 0 0 1 2 random_read_corrupt 0"
t flakey-leading-zeros "0 64 flakey 1:0 00 0010 01"
t flakey-max-up "0 64 flakey /dev/ram0 0 4294967294 1"
t flakey-up-wrap "0 64 flakey /dev/ram0 0 4294967296 1"
t flakey-corrupt-random-write "0 64 flakey /dev/ram0 0 1 1 8 error_reads corrupt_bio_byte 3 w 9 2048 random_write_corrupt 7"
# ------------------------------------------------------------------ flakey, invalid
t flakey-too-few "0 64 flakey /dev/ram0 0 1"
t flakey-bad-sector "0 64 flakey /dev/ram0 x 1 1"
t flakey-negative-up "0 64 flakey /dev/ram0 0 -1 1"
t flakey-bad-down "0 64 flakey /dev/ram0 0 1 1x"
t flakey-zero-total "0 64 flakey /dev/ram0 0 0 0"
t flakey-wrap-total "0 64 flakey /dev/ram0 0 1 4294967295"
t flakey-overflow "0 64 flakey /dev/ram0 0 2 4294967295"
t flakey-too-many-features "0 64 flakey /dev/ram0 0 1 1 12"
t flakey-features-short "0 64 flakey /dev/ram0 0 1 1 2 drop_writes"
t flakey-unknown-feature "0 64 flakey /dev/ram0 0 1 1 1 nosuch"
t flakey-dup-drop "0 64 flakey /dev/ram0 0 1 1 2 drop_writes drop_writes"
t flakey-drop-error "0 64 flakey /dev/ram0 0 1 1 2 drop_writes error_writes"
t flakey-error-drop "0 64 flakey /dev/ram0 0 1 1 2 error_writes drop_writes"
t flakey-dup-error-reads "0 64 flakey /dev/ram0 0 1 1 2 error_reads error_reads"
t flakey-corrupt-short "0 64 flakey /dev/ram0 0 1 1 4 corrupt_bio_byte 1 r 0"
t flakey-corrupt-zero-byte "0 64 flakey /dev/ram0 0 1 1 5 corrupt_bio_byte 0 r 0 0"
t flakey-corrupt-bad-dir "0 64 flakey /dev/ram0 0 1 1 5 corrupt_bio_byte 1 x 0 0"
t flakey-corrupt-bad-value "0 64 flakey /dev/ram0 0 1 1 5 corrupt_bio_byte 1 r 256 0"
t flakey-corrupt-bad-flags "0 64 flakey /dev/ram0 0 1 1 5 corrupt_bio_byte 1 r 0 z"
t flakey-corrupt-dup "0 64 flakey /dev/ram0 0 1 1 10 corrupt_bio_byte 1 r 0 0 corrupt_bio_byte 1 r 0 0"
t flakey-random-too-big "0 64 flakey /dev/ram0 0 1 1 2 random_read_corrupt 1000000001"
t flakey-random-missing "0 64 flakey /dev/ram0 0 1 1 1 random_write_corrupt"
t flakey-random-dup "0 64 flakey /dev/ram0 0 1 1 4 random_read_corrupt 1 random_read_corrupt 1"
t flakey-drop-corrupt-w "0 64 flakey /dev/ram0 0 1 1 6 drop_writes corrupt_bio_byte 1 w 0 0"
t flakey-error-writes-random-w "0 64 flakey /dev/ram0 0 1 1 3 error_writes random_write_corrupt 5"
t flakey-error-reads-random-r "0 64 flakey /dev/ram0 0 1 1 3 error_reads random_read_corrupt 5"
t flakey-error-reads-corrupt-r "0 64 flakey /dev/ram0 0 1 1 6 error_reads corrupt_bio_byte 1 r 0 0"
t flakey-no-device "0 64 flakey /dev/nosuch 0 1 1"
t flakey-too-big "0 20000 flakey /dev/ram0 0 1 1"
# ------------------------------------------------------------------ delay, valid
t delay-3 "0 64 delay /dev/ram0 16 100"
t delay-3-zero "0 64 delay /dev/ram0 0 0"
t delay-6 "0 64 delay /dev/ram0 0 0 /dev/ram1 8 50"
t delay-9 "0 64 delay /dev/ram0 0 10 /dev/ram0 0 20 /dev/ram1 0 30"
t delay-leading-zeros "0 64 delay 1:1 007 0500"
t delay-wrap "0 64 delay /dev/ram0 0 4294967297"
# ------------------------------------------------------------------ delay, invalid
t delay-2 "0 64 delay /dev/ram0 0"
t delay-4 "0 64 delay /dev/ram0 0 1 /dev/ram1"
t delay-bad-sector "0 64 delay /dev/ram0 x 1"
t delay-negative "0 64 delay /dev/ram0 0 -1"
t delay-unit "0 64 delay /dev/ram0 0 1ms"
t delay-no-device "0 64 delay /dev/nosuch 0 1"
t delay-bad-write-sector "0 64 delay /dev/ram0 0 1 /dev/ram1 y 1"
t delay-bad-write-delay "0 64 delay /dev/ram0 0 1 /dev/ram1 0 z"
t delay-no-flush-device "0 64 delay /dev/ram0 0 1 /dev/ram1 0 1 /dev/nosuch 0 1"
t delay-too-big "0 20000 delay /dev/ram0 0 1"

# ------------------------------------------------------------------ I/O while down
# io ID OP TABLE: one 4 KiB O_DIRECT read or write at sector 0 through the table (up 0, down 1:
# always down; up 1, down 0: always up), with /host/old.bin on the disk before. Records under
# /host/io/NNN/: id, op, table, create-exit, io-exit, and for reads `cmp -l old.bin data` (diff),
# for writes what the disk holds afterwards (on-disk: old, new or other) and `cmp -l new.bin disk`.
IO=/host/io
rm -rf "$IO"
mkdir -p "$IO" || exit 1
M=0
io() {
  M=$((M + 1))
  d="$IO/$(printf '%03d' "$M")"
  mkdir -p "$d"
  printf '%s' "$1" > "$d/id"
  printf '%s' "$2" > "$d/op"
  printf '%s' "$3" > "$d/table"
  dd if=/host/old.bin of=/dev/ram0 bs=4096 count=1 oflag=direct conv=notrunc 2>/dev/null || exit 1
  dmsetup create f --table "$3" > /dev/null 2>&1
  echo $? > "$d/create-exit"
  if dmsetup info f > /dev/null 2>&1; then
    dmsetup mknodes f
    rm -f /tmp/out
    if [ "$2" = read ]; then
      dd if=/dev/mapper/f of=/tmp/out bs=4096 count=1 iflag=direct 2> "$d/io-stderr"
      echo $? > "$d/io-exit"
      if [ -s /tmp/out ]; then cmp -l /host/old.bin /tmp/out > "$d/diff"; fi
    else
      dd if=/host/new.bin of=/dev/mapper/f bs=4096 count=1 oflag=direct conv=notrunc 2> "$d/io-stderr"
      echo $? > "$d/io-exit"
    fi
    dmsetup remove f > /dev/null 2>&1
    if [ "$2" = write ]; then
      dd if=/dev/ram0 of=/tmp/disk bs=4096 count=1 iflag=direct 2>/dev/null
      if cmp -s /host/new.bin /tmp/disk; then echo new > "$d/on-disk"
      elif cmp -s /host/old.bin /tmp/disk; then echo old > "$d/on-disk"
      else echo other > "$d/on-disk"; fi
      cmp -l /host/new.bin /tmp/disk > "$d/diff"
    fi
  fi
  echo "--- io [$M] $1 $2: $3 -> create $(cat "$d/create-exit") io $(cat "$d/io-exit" 2>/dev/null) $(cat "$d/on-disk" 2>/dev/null) diff $(wc -l < "$d/diff" 2>/dev/null)"
}

if [ -f /host/old.bin ] && [ -f /host/new.bin ]; then
  io io-up-read read "0 64 flakey /dev/ram0 0 1 0"
  io io-up-write write "0 64 flakey /dev/ram0 0 1 0"
  io io-nofeatures-read read "0 64 flakey /dev/ram0 0 0 1"
  io io-nofeatures-write write "0 64 flakey /dev/ram0 0 0 1"
  io io-error-reads-read read "0 64 flakey /dev/ram0 0 0 1 1 error_reads"
  io io-error-reads-write write "0 64 flakey /dev/ram0 0 0 1 1 error_reads"
  io io-error-writes-read read "0 64 flakey /dev/ram0 0 0 1 1 error_writes"
  io io-error-writes-write write "0 64 flakey /dev/ram0 0 0 1 1 error_writes"
  io io-drop-writes-read read "0 64 flakey /dev/ram0 0 0 1 1 drop_writes"
  io io-drop-writes-write write "0 64 flakey /dev/ram0 0 0 1 1 drop_writes"
  io io-corrupt-r-read read "0 64 flakey /dev/ram0 0 0 1 5 corrupt_bio_byte 32 r 1 0"
  io io-corrupt-r-write write "0 64 flakey /dev/ram0 0 0 1 5 corrupt_bio_byte 32 r 1 0"
  io io-corrupt-w-read read "0 64 flakey /dev/ram0 0 0 1 5 corrupt_bio_byte 600 w 255 0"
  io io-corrupt-w-write write "0 64 flakey /dev/ram0 0 0 1 5 corrupt_bio_byte 600 w 255 0"
  io io-corrupt-r-up-read read "0 64 flakey /dev/ram0 0 1 0 5 corrupt_bio_byte 32 r 1 0"
  io io-random-read-read read "0 64 flakey /dev/ram0 0 0 1 2 random_read_corrupt 1000000000"
  io io-random-read-write write "0 64 flakey /dev/ram0 0 0 1 2 random_read_corrupt 1000000000"
  io io-random-write-read read "0 64 flakey /dev/ram0 0 0 1 2 random_write_corrupt 1000000000"
  io io-random-write-write write "0 64 flakey /dev/ram0 0 0 1 2 random_write_corrupt 1000000000"
  io io-error-reads-random-write-write write "0 64 flakey /dev/ram0 0 0 1 3 error_reads random_write_corrupt 1000000000"
  io io-error-writes-random-read-read read "0 64 flakey /dev/ram0 0 0 1 3 error_writes random_read_corrupt 1000000000"
  io io-corrupt-r-random-read-read read "0 64 flakey /dev/ram0 0 0 1 7 corrupt_bio_byte 32 r 1 0 random_read_corrupt 1000000000"
fi

echo "captured $N cases, $M I/O cases"
exit 0
