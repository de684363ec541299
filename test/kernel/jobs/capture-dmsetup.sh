#!/bin/sh
# Golden-output capture of the real dmsetup against the real kernel device-mapper.
# Run by ../capture-dmsetup.sh through ../run.sh; do not run on a host.
#
# Every case is run with `sh -c "$cmd"` (stdin from the given text, else
# /dev/null) and recorded under /host/cases/NNN/:
#   note, cmd, argv (NUL-separated words of cmd), stdin (if any), stdout,
#   stderr, exit, dmesg (kernel log lines of that command starting with
#   "device-mapper:"), dmesg-all (every kernel log line of that command)
# The job keeps going after failing commands; it only fails if setup fails.

OUT=/host/cases
rm -rf "$OUT"
mkdir -p "$OUT" || exit 1
N=0

# no timestamps in dmesg, so the lines start with the message itself
echo N > /sys/module/printk/parameters/time || exit 1

# case NOTE CMD [STDIN]
case_() {
  N=$((N + 1))
  d="$OUT/$(printf '%03d' "$N")"
  mkdir -p "$d"
  printf '%s' "$1" > "$d/note"
  printf '%s' "$2" > "$d/cmd"
  ( eval "set -- $2"; for w in "$@"; do printf '%s\0' "$w"; done ) > "$d/argv"
  dmesg -c > /dev/null
  if [ "$#" -ge 3 ]; then
    printf '%s' "$3" > "$d/stdin"
    sh -c "$2" < "$d/stdin" > "$d/stdout" 2> "$d/stderr"
  else
    sh -c "$2" < /dev/null > "$d/stdout" 2> "$d/stderr"
  fi
  rc=$?
  echo "$rc" > "$d/exit"
  # No udev here and Debian's libdevmapper trusts udev to make /dev/mapper
  # nodes ("Skipping NODE_ADD ... [trust_udev]"), so make them ourselves
  # (unrecorded) after every successful create.
  case "$2" in "dmsetup create"*) [ "$rc" = 0 ] && dmsetup mknodes >/dev/null 2>&1;; esac
  # let asynchronous kernel messages (if any) land
  usleep 100000 2>/dev/null || sleep 1
  dmesg -c > "$d/dmesg-all"
  grep '^device-mapper:' "$d/dmesg-all" > "$d/dmesg"
  echo "--- [$N] $2 -> exit $(cat "$d/exit")"
  cat "$d/stdout"
  sed 's/^/(stderr) /' "$d/stderr"
  sed 's/^/(dmesg) /' "$d/dmesg"
}

modprobe brd rd_nr=2 rd_size=8192 || exit 1
modprobe dm-mod || exit 1
modprobe dm-crypt || exit 1
echo "kernel $(uname -r)"
echo "ram0: $(blockdev --getsz /dev/ram0) sectors, ram1: $(blockdev --getsz /dev/ram1) sectors"

KEY=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f

# ---------------------------------------------------------------- no devices
case_ "version" "dmsetup version"
case_ "targets after loading dm-mod and dm-crypt (dm-zero not loaded yet)" "dmsetup targets"
case_ "ls with no devices" "dmsetup ls"
case_ "table with no devices" "dmsetup table"
case_ "status with no devices" "dmsetup status"
case_ "info with no devices" "dmsetup info"

# ---------------------------------------------------------------- linear
case_ "create linear" 'dmsetup create lin --table "0 1024 linear /dev/ram0 2048"'
case_ "ls with one device" "dmsetup ls"
case_ "table (all) with one device" "dmsetup table"
case_ "table of one device" "dmsetup table lin"
case_ "status of linear" "dmsetup status lin"
case_ "info of linear" "dmsetup info lin"
case_ "info -c (all)" "dmsetup info -c"
case_ "info -c of one device" "dmsetup info -c lin"

# ---------------------------------------------------------------- multi-target
case_ "create multi-target device from stdin" "dmsetup create multi" "0 100 linear /dev/ram1 0
100 50 zero
150 10 error
"
case_ "table of multi-target device" "dmsetup table multi"
case_ "status of multi-target device" "dmsetup status multi"
case_ "info of multi-target device" "dmsetup info multi"
case_ "table (all devices: NAME: prefixes)" "dmsetup table"
case_ "status (all devices)" "dmsetup status"
case_ "targets after the zero target was used (dm-zero auto-loaded by the kernel)" "dmsetup targets"

# ---------------------------------------------------------------- stacked
case_ "create device stacked on another dm device" 'dmsetup create stacked --table "0 512 linear /dev/mapper/lin 0"'
case_ "ls --tree" "dmsetup ls --tree"
case_ "ls with three devices" "dmsetup ls"
case_ "table of stacked device (shows 254:0)" "dmsetup table stacked"
case_ "deps of stacked device (extra)" "dmsetup deps stacked"
case_ "deps (all) (extra)" "dmsetup deps"
case_ "remove device in use (must fail: busy)" "dmsetup remove lin"
case_ "info of device in use (Open count)" "dmsetup info lin"

# ---------------------------------------------------------------- suspend/resume/reload
case_ "suspend" "dmsetup suspend lin"
case_ "info of suspended device" "dmsetup info lin"
case_ "info -c of suspended device" "dmsetup info -c lin"
case_ "status of suspended device" "dmsetup status lin"
case_ "resume" "dmsetup resume lin"
case_ "reload (load inactive table)" 'dmsetup reload lin --table "0 2048 linear /dev/ram0 0"'
case_ "info with live and inactive tables" "dmsetup info lin"
case_ "table --inactive" "dmsetup table --inactive lin"
case_ "table (live) while inactive table is loaded" "dmsetup table lin"
case_ "resume swaps in the inactive table" "dmsetup resume lin"
case_ "table after resume" "dmsetup table lin"
case_ "table --inactive with no inactive table" "dmsetup table --inactive lin"
case_ "info -c after reload+resume" "dmsetup info -c lin"
case_ "info after reload+resume (event number)" "dmsetup info lin"

# ---------------------------------------------------------------- message
case_ "message to linear (not supported)" "dmsetup message lin 0 hello"

# ---------------------------------------------------------------- crypt
# UCRYPT_JOB_CRYPT=0 leaves out every crypt case (the core-only capture).
if [ "${UCRYPT_JOB_CRYPT:-1}" = 1 ]; then
case_ "create crypt aes-xts-plain64" "dmsetup create c1 --table \"0 2048 crypt aes-xts-plain64 $KEY 0 /dev/ram1 0\""
case_ "crypt table (key masked)" "dmsetup table c1"
case_ "crypt table --showkeys" "dmsetup table --showkeys c1"
case_ "crypt status" "dmsetup status c1"
case_ "crypt info" "dmsetup info c1"
case_ "create crypt cipher_null with optional args" 'dmsetup create c2 --table "0 2048 crypt capi:ecb(cipher_null) - 0 /dev/ram1 0 2 no_read_workqueue no_write_workqueue"'
case_ "cipher_null table" "dmsetup table c2"
case_ "cipher_null table --showkeys" "dmsetup table --showkeys c2"
case_ "cipher_null status" "dmsetup status c2"
case_ "create crypt with iv_offset, offset and sector_size (extra)" "dmsetup create c3 --table \"0 1024 crypt aes-cbc-essiv:sha256 $KEY 8 /dev/ram1 1024 2 allow_discards sector_size:4096\""
case_ "table of c3 (extra)" "dmsetup table --showkeys c3"
case_ "table --target crypt (extra)" "dmsetup table --target crypt"
case_ "ls --target crypt (extra)" "dmsetup ls --target crypt"
case_ "message to crypt: key wipe while active (extra, must fail)" "dmsetup message c1 0 key wipe"
case_ "remove c3 (extra)" "dmsetup remove c3"

fi

# ---------------------------------------------------------------- bad tables
bad() { # bad NOTE TABLE (table passed on stdin)
  case_ "bad table: $1" "dmsetup create bad" "$2"
  case_ "ls after bad table: $1" "dmsetup ls"
  if dmsetup info bad >/dev/null 2>&1; then
    case_ "info after bad table (it was accepted): $1" "dmsetup info bad"
    case_ "table after bad table (it was accepted): $1" "dmsetup table bad"
    case_ "cleanup: remove bad (it was accepted): $1" "dmsetup remove bad"
  fi
}
bad "gap" "0 100 linear /dev/ram0 0
200 100 zero
"
bad "overlap" "0 100 zero
50 100 zero
"
bad "not starting at 0" "10 100 zero
"
bad "zero length" "0 0 zero
"
bad "unknown target" "0 100 nosuch
"
bad "linear wrong arg count" "0 100 linear /dev/ram0
"
bad "linear bad sector" "0 100 linear /dev/ram0 abc
"
bad "linear device too small" "0 20000 linear /dev/ram0 0
"
bad "linear nonexistent device" "0 100 linear /dev/nosuch 0
"
bad "zero with an argument" "0 100 zero 5
"
bad "error with an argument" "0 100 error 5
"
bad "malformed line" "abc def
"
bad "empty table" ""
if [ "${UCRYPT_JOB_CRYPT:-1}" = 1 ]; then
bad "crypt bad cipher" "0 2048 crypt nosuch-xts-plain64 $KEY 0 /dev/ram1 0
"
bad "crypt bad iv mode (extra)" "0 2048 crypt aes-xts-nosuch $KEY 0 /dev/ram1 0
"
bad "crypt wrong key size for xts (extra)" "0 2048 crypt aes-xts-plain64 0001020304 0 /dev/ram1 0
"
bad "crypt non-hex key (extra)" "0 2048 crypt aes-cbc-plain zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz 0 /dev/ram1 0
"
bad "crypt iv_offset not a multiple of sector_size (extra)" "0 1024 crypt aes-cbc-essiv:sha256 $KEY 7 /dev/ram1 1024 1 sector_size:4096
"
bad "crypt length not a multiple of sector_size (extra)" "0 1001 crypt aes-cbc-essiv:sha256 $KEY 0 /dev/ram1 1024 1 sector_size:4096
"
bad "crypt too few args (extra)" "0 2048 crypt aes-xts-plain64 $KEY 0 /dev/ram1
"
bad "crypt unknown optional arg (extra)" "0 2048 crypt aes-xts-plain64 $KEY 0 /dev/ram1 0 1 nosuch_flag
"
fi
case_ "bad table via --table: linear wrong arg count" 'dmsetup create bad --table "0 100 linear /dev/ram0"'
case_ "reload with bad table (extra)" 'dmsetup reload lin --table "0 100 linear /dev/ram0"'
case_ "info after failed reload (extra)" "dmsetup info lin"

# ---------------------------------------------------------------- errors
case_ "create with duplicate name" 'dmsetup create lin --table "0 10 zero"'
case_ "remove nonexistent" "dmsetup remove nosuch"
case_ "info nonexistent" "dmsetup info nosuch"
case_ "table nonexistent" "dmsetup table nosuch"
case_ "status nonexistent" "dmsetup status nosuch"
case_ "suspend nonexistent" "dmsetup suspend nosuch"
case_ "resume nonexistent" "dmsetup resume nosuch"
case_ "message nonexistent" "dmsetup message nosuch 0 x"
case_ "unknown verb" "dmsetup nosuchverb"
case_ "create without a name" "dmsetup create"
case_ "mknodes" "dmsetup mknodes"

# ---------------------------------------------------------------- more core cases
case_ "create a device over both ram disks (extra)" "dmsetup create two" "0 100 linear /dev/ram0 4096
100 100 linear /dev/ram1 4096
"
case_ "create a device on top of it (extra)" 'dmsetup create top --table "0 200 linear /dev/mapper/two 0"'
case_ "ls --tree with two children (extra)" "dmsetup ls --tree"
case_ "deps with two dependencies (extra)" "dmsetup deps two"
case_ "create with a uuid (extra)" 'dmsetup create withuuid -u UCRYPT-TEST-0001 --table "0 8 zero"'
case_ "info with a uuid (extra)" "dmsetup info withuuid"
case_ "info -c with a uuid (extra)" "dmsetup info -c withuuid"
case_ "create read-only (extra)" 'dmsetup create ro --readonly --table "0 8 zero"'
case_ "info of a read-only device (extra)" "dmsetup info ro"
case_ "info -c of a read-only device (extra)" "dmsetup info -c ro"
case_ "load an inactive table (extra)" 'dmsetup load withuuid --table "0 16 zero"'
case_ "info -c with an inactive table (extra)" "dmsetup info -c withuuid"
case_ "status --inactive (extra)" "dmsetup status --inactive withuuid"
case_ "clear the inactive table (extra)" "dmsetup clear withuuid"
case_ "info after clear (extra)" "dmsetup info withuuid"
case_ "status --target zero (extra)" "dmsetup status --target zero"
case_ "suspend a device (extra)" "dmsetup suspend ro"
case_ "info -c of every device (extra)" "dmsetup info -c"
case_ "info of every device (extra)" "dmsetup info"
case_ "resume it (extra)" "dmsetup resume ro"
case_ "remove several devices at once (extra)" "dmsetup remove ro withuuid"
case_ "table of a multi-line table given with --table (extra)" 'dmsetup create nl --table "0 8 zero
8 8 error"'
case_ "table of it (extra)" "dmsetup table nl"
case_ "malformed --table (extra)" 'dmsetup create bad2 --table "x y z"'

# ---------------------------------------------------------------- teardown
case_ "remove stacked" "dmsetup remove stacked"
case_ "remove_all" "dmsetup remove_all"
case_ "ls after remove_all" "dmsetup ls"
case_ "targets at the end" "dmsetup targets"

echo "captured $N cases"
exit 0
