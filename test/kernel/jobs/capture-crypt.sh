#!/bin/sh
# dm-crypt conformance vectors from the real kernel dm-crypt.
# Run by ../capture-crypt.sh through ../run.sh; do not run on a host.
#
# Input:  /host/plain.bin  (64 KiB deterministic plaintext made by the host:
#                           byte i = (i * 31 + (i >> 9) * 7 + 13) & 0xff)
# Output: /host/meta/      kernel/dmsetup/target versions, ram0 size
#         /host/cases/NNN/ one directory per case:
#   id, note, expect (valid|invalid|probe), table (the table line given),
#   len (device length, 512-byte sectors), offset (start sector on /dev/ram0),
#   create.stdout, create.stderr, create.exit, create.dmesg (every kernel log
#   line emitted while `dmsetup create` + `dmsetup mknodes` ran)
#   and, if the device was created:
#   table.out (`dmsetup table cv`), showkeys.out (`dmsetup table --showkeys cv`),
#   status.out (`dmsetup status cv`), write.exit/.stderr, cipher.bin (the raw
#   bytes of /dev/ram0 sectors [offset, offset+len)), readback.bin (what the
#   mapped device returns), readback.ok (1 if it equals the plaintext written),
#   outside.nonzero (count of non-zero bytes on /dev/ram0 outside the mapped
#   area: must be 0), data.dmesg (kernel lines during the data path),
#   remove.exit
#
# Each case: zero /dev/ram0; `dmsetup create cv --table TABLE`; `dmsetup
# mknodes` (no udev); write the first len*512 bytes of plain.bin with
# `dd bs=4096 oflag=direct`; read the ciphertext from /dev/ram0 and the
# plaintext back through /dev/mapper/cv with `iflag=direct`; record; remove;
# zero /dev/ram0 again. The job keeps going after failing cases.

OUT=/host/cases
META=/host/meta
PLAIN=/host/plain.bin
DEV=/dev/ram0
RAM_KB=1024                     # /dev/ram0 = 2048 sectors
NAME=cv

rm -rf "$OUT" "$META"
mkdir -p "$OUT" "$META" || exit 1
[ -f "$PLAIN" ] || { echo "missing $PLAIN"; exit 1; }
[ "$(wc -c < "$PLAIN")" -eq 65536 ] || { echo "bad $PLAIN size"; exit 1; }

echo N > /sys/module/printk/parameters/time || exit 1
modprobe brd rd_nr=1 rd_size=$RAM_KB || exit 1
modprobe dm-mod || exit 1
modprobe dm-crypt || exit 1

uname -r > "$META/uname-r"
uname -a > "$META/uname-a"
cat /proc/version > "$META/proc-version"
dmsetup version > "$META/dmsetup-version" 2>&1
dmsetup targets > "$META/dmsetup-targets" 2>&1
blockdev --getsz $DEV > "$META/ram0-sectors"
stat -c '%t:%T' $DEV > "$META/ram0-devno"   # hex major:minor
cryptsetup --version > "$META/cryptsetup-version" 2>&1
echo "kernel $(uname -r); ram0: $(cat "$META/ram0-sectors") sectors"

# k N: hex of the N bytes 00 01 02 ... (byte i = i mod 256), lowercase
k() { awk -v n="$1" 'BEGIN { for (i = 0; i < n; i++) printf "%02x", i % 256 }'; }
KU() { k "$1" | tr 'a-f' 'A-F'; }

zero_ram() {
  dd if=/dev/zero of=$DEV bs=65536 count=$((RAM_KB / 64)) oflag=direct 2>/dev/null
}

N=0
# c EXPECT LEN OFFSET NOTE TABLE
#   EXPECT: valid | invalid | probe (no firm expectation; record what happens)
c() {
  N=$((N + 1))
  d="$OUT/$(printf '%03d' "$N")"
  mkdir -p "$d"
  printf '%s' "$N" > "$d/id"
  printf '%s' "$1" > "$d/expect"
  printf '%s' "$2" > "$d/len"
  printf '%s' "$3" > "$d/offset"
  printf '%s' "$4" > "$d/note"
  printf '%s' "$5" > "$d/table"
  len=$2; off=$3
  zero_ram
  dmesg -c > /dev/null
  dmsetup create $NAME --table "$5" < /dev/null > "$d/create.stdout" 2> "$d/create.stderr"
  rc=$?
  echo "$rc" > "$d/create.exit"
  [ "$rc" = 0 ] && dmsetup mknodes $NAME > /dev/null 2>&1
  usleep 100000 2>/dev/null || sleep 1
  dmesg -c > "$d/create.dmesg"
  if [ "$rc" = 0 ]; then
    dmsetup table $NAME > "$d/table.out" 2>&1
    dmsetup table --showkeys $NAME > "$d/showkeys.out" 2>&1
    dmsetup status $NAME > "$d/status.out" 2>&1
    bytes=$((len * 512))
    blocks=$((bytes / 4096))
    dd if=$PLAIN of=/dev/mapper/$NAME bs=4096 count=$blocks oflag=direct 2> "$d/write.stderr"
    echo $? > "$d/write.exit"
    dd if=$DEV of="$d/cipher.bin" bs=512 skip=$off count=$len iflag=direct 2> "$d/cipher.stderr"
    dd if=/dev/mapper/$NAME of="$d/readback.bin" bs=4096 count=$blocks iflag=direct 2> "$d/readback.stderr"
    head -c $bytes $PLAIN > /tmp/want
    if cmp -s /tmp/want "$d/readback.bin"; then echo 1 > "$d/readback.ok"; else echo 0 > "$d/readback.ok"; fi
    nz=0
    if [ "$off" -gt 0 ]; then
      nz=$(dd if=$DEV bs=512 count=$off iflag=direct 2>/dev/null | tr -d '\000' | wc -c)
    fi
    nz2=$(dd if=$DEV bs=512 skip=$((off + len)) iflag=direct 2>/dev/null | tr -d '\000' | wc -c)
    echo $((nz + nz2)) > "$d/outside.nonzero"
    dmsetup remove $NAME > /dev/null 2> "$d/remove.stderr" || dmsetup remove --force $NAME > /dev/null 2>&1
    echo $? > "$d/remove.exit"
    usleep 100000 2>/dev/null || sleep 1
    dmesg -c > "$d/data.dmesg"
    zero_ram
    echo "--- [$N] OK   $(cat "$d/readback.ok") $(cat "$d/outside.nonzero") $(head -c 160 "$d/showkeys.out")"
  else
    echo "--- [$N] FAIL $rc $4: $(grep -v '^device-mapper: ioctl: error adding target' "$d/create.dmesg" | tr '\n' '|')"
  fi
  if dmsetup info $NAME > /dev/null 2>&1; then
    echo "device $NAME still exists after case $N; aborting"
    exit 1
  fi
}

R=/dev/ram0
K16=$(k 16); K24=$(k 24); K32=$(k 32); K48=$(k 48); K64=$(k 64); K128=$(k 128)

# =============================================================== valid: xts-plain64
c valid 16 0 "aes-xts-plain64, 2x128-bit key"          "0 16 crypt aes-xts-plain64 $K32 0 $R 0"
c valid 16 0 "aes-xts-plain64, 2x192-bit key"          "0 16 crypt aes-xts-plain64 $K48 0 $R 0"
c valid 16 0 "aes-xts-plain64, 2x256-bit key"          "0 16 crypt aes-xts-plain64 $K64 0 $R 0"
c valid 16 0 "serpent-xts-plain64, 2x128-bit key"      "0 16 crypt serpent-xts-plain64 $K32 0 $R 0"
c valid 16 0 "serpent-xts-plain64, 2x256-bit key"      "0 16 crypt serpent-xts-plain64 $K64 0 $R 0"
c valid 16 0 "twofish-xts-plain64, 2x128-bit key"      "0 16 crypt twofish-xts-plain64 $K32 0 $R 0"
c valid 16 0 "twofish-xts-plain64, 2x256-bit key"      "0 16 crypt twofish-xts-plain64 $K64 0 $R 0"
c valid 16 0 "camellia-xts-plain64, 2x128-bit key"     "0 16 crypt camellia-xts-plain64 $K32 0 $R 0"
c valid 16 0 "camellia-xts-plain64, 2x256-bit key"     "0 16 crypt camellia-xts-plain64 $K64 0 $R 0"
c valid 16 0 "cast6-xts-plain64, 2x128-bit key"        "0 16 crypt cast6-xts-plain64 $K32 0 $R 0"
c valid 16 0 "cast6-xts-plain64, 2x256-bit key"        "0 16 crypt cast6-xts-plain64 $K64 0 $R 0"

# =============================================================== valid: cbc-essiv:sha256
c valid 16 0 "aes-cbc-essiv:sha256, 128-bit key"       "0 16 crypt aes-cbc-essiv:sha256 $K16 0 $R 0"
c valid 16 0 "aes-cbc-essiv:sha256, 192-bit key"       "0 16 crypt aes-cbc-essiv:sha256 $K24 0 $R 0"
c valid 16 0 "aes-cbc-essiv:sha256, 256-bit key"       "0 16 crypt aes-cbc-essiv:sha256 $K32 0 $R 0"
c valid 16 0 "serpent-cbc-essiv:sha256, 128-bit key"   "0 16 crypt serpent-cbc-essiv:sha256 $K16 0 $R 0"
c valid 16 0 "serpent-cbc-essiv:sha256, 256-bit key"   "0 16 crypt serpent-cbc-essiv:sha256 $K32 0 $R 0"
c valid 16 0 "twofish-cbc-essiv:sha256, 128-bit key"   "0 16 crypt twofish-cbc-essiv:sha256 $K16 0 $R 0"
c valid 16 0 "twofish-cbc-essiv:sha256, 256-bit key"   "0 16 crypt twofish-cbc-essiv:sha256 $K32 0 $R 0"
c valid 16 0 "camellia-cbc-essiv:sha256, 128-bit key"  "0 16 crypt camellia-cbc-essiv:sha256 $K16 0 $R 0"
c valid 16 0 "camellia-cbc-essiv:sha256, 256-bit key"  "0 16 crypt camellia-cbc-essiv:sha256 $K32 0 $R 0"
c valid 16 0 "cast6-cbc-essiv:sha256, 128-bit key"     "0 16 crypt cast6-cbc-essiv:sha256 $K16 0 $R 0"
c valid 16 0 "cast6-cbc-essiv:sha256, 256-bit key"     "0 16 crypt cast6-cbc-essiv:sha256 $K32 0 $R 0"

# =============================================================== valid: cbc-plain64
c valid 16 0 "aes-cbc-plain64, 128-bit key"            "0 16 crypt aes-cbc-plain64 $K16 0 $R 0"
c valid 16 0 "aes-cbc-plain64, 192-bit key"            "0 16 crypt aes-cbc-plain64 $K24 0 $R 0"
c valid 16 0 "aes-cbc-plain64, 256-bit key"            "0 16 crypt aes-cbc-plain64 $K32 0 $R 0"
c valid 16 0 "serpent-cbc-plain64, 256-bit key"        "0 16 crypt serpent-cbc-plain64 $K32 0 $R 0"
c valid 16 0 "twofish-cbc-plain64, 256-bit key"        "0 16 crypt twofish-cbc-plain64 $K32 0 $R 0"
c valid 16 0 "camellia-cbc-plain64, 256-bit key"       "0 16 crypt camellia-cbc-plain64 $K32 0 $R 0"
c valid 16 0 "cast6-cbc-plain64, 256-bit key"          "0 16 crypt cast6-cbc-plain64 $K32 0 $R 0"

# =============================================================== valid: ecb, null ciphers
c valid 16 0 "aes-ecb (no IV), 128-bit key"            "0 16 crypt aes-ecb $K16 0 $R 0"
c valid 16 0 "aes-ecb (no IV), 256-bit key"            "0 16 crypt aes-ecb $K32 0 $R 0"
c probe 16 0 "aes-ecb-null: ecb has no IV, kernel warns 'Selected cipher does not support IVs' and ignores the IV mode" "0 16 crypt aes-ecb-null $K16 0 $R 0"
c probe 16 0 "aes-ecb-plain64: IV mode ignored for ecb"  "0 16 crypt aes-ecb-plain64 $K16 0 $R 0"
c valid 16 0 "serpent-ecb, 128-bit key"                "0 16 crypt serpent-ecb $K16 0 $R 0"
c valid 16 0 "cipher_null-ecb with key '-' (ciphertext = plaintext)" "0 16 crypt cipher_null-ecb - 0 $R 0"
c valid 16 0 "capi:ecb(cipher_null) with key '-' (ciphertext = plaintext)" "0 16 crypt capi:ecb(cipher_null) - 0 $R 0"
c probe 16 0 "capi:ecb(cipher_null)-plain64 with key '-' (IV mode ignored)" "0 16 crypt capi:ecb(cipher_null)-plain64 - 0 $R 0"

# =============================================================== valid: lrw
c valid 16 0 "aes-lrw-benbi: 128-bit AES key + 128-bit tweak key" "0 16 crypt aes-lrw-benbi $K32 0 $R 0"
c valid 16 0 "aes-lrw-benbi: 256-bit AES key + 128-bit tweak key" "0 16 crypt aes-lrw-benbi $K48 0 $R 0"
c valid 16 0 "aes-lrw-plain64: 128-bit AES key + 128-bit tweak key" "0 16 crypt aes-lrw-plain64 $K32 0 $R 0"
c valid 16 0 "serpent-lrw-plain64: 256-bit key + 128-bit tweak key" "0 16 crypt serpent-lrw-plain64 $K48 0 $R 0"
c valid 16 0 "twofish-lrw-benbi: 256-bit key + 128-bit tweak key" "0 16 crypt twofish-lrw-benbi $K48 0 $R 0"

# =============================================================== valid: IV generators with aes-cbc
c valid 16 0 "aes-cbc-plain"                           "0 16 crypt aes-cbc-plain $K16 0 $R 0"
c valid 16 0 "aes-cbc-plain64be"                       "0 16 crypt aes-cbc-plain64be $K16 0 $R 0"
c valid 16 0 "aes-cbc-benbi"                           "0 16 crypt aes-cbc-benbi $K16 0 $R 0"
c valid 16 0 "aes-cbc-null (IV always zero)"           "0 16 crypt aes-cbc-null $K16 0 $R 0"
c valid 16 0 "aes-xts-plain (32-bit sector IV, old cryptsetup default)" "0 16 crypt aes-xts-plain $K64 0 $R 0"
c valid 16 0 "aes-xts-plain64be"                       "0 16 crypt aes-xts-plain64be $K64 0 $R 0"
c probe 16 0 "aes-xts-essiv:sha256 (essiv over xts)"  "0 16 crypt aes-xts-essiv:sha256 $K64 0 $R 0"
c probe 16 0 "aes-cbc-essiv:sha1: 20-byte salt is not an AES key size" "0 16 crypt aes-cbc-essiv:sha1 $K16 0 $R 0"
c probe 16 0 "serpent-cbc-essiv:sha1: serpent accepts a 20-byte salt key" "0 16 crypt serpent-cbc-essiv:sha1 $K16 0 $R 0"
c probe 16 0 "aes-cbc-essiv:sha512: 64-byte salt"      "0 16 crypt aes-cbc-essiv:sha512 $K16 0 $R 0"
c probe 16 0 "serpent-cbc-essiv:sha224: 28-byte salt" "0 16 crypt serpent-cbc-essiv:sha224 $K16 0 $R 0"

# lmk (loop-AES): key = 64 subkeys (v2) or 64 subkeys + 1 IV seed of the same size (v3)
c valid 16 0 "aes:64-cbc-lmk, loop-AES v2: 64 x 16-byte keys (1024 bytes); sector s uses key s mod 64" "0 16 crypt aes:64-cbc-lmk $(k 1024) 0 $R 0"
c valid 16 0 "aes:64-cbc-lmk, loop-AES v3: 64 x 16-byte keys + 16-byte IV seed (1040 bytes)" "0 16 crypt aes:64-cbc-lmk $(k 1040) 0 $R 0"
c valid 16 0 "aes:64-cbc-lmk, loop-AES v3: 64 x 32-byte keys + 32-byte seed (2080 bytes; seed uses its first 16 bytes)" "0 16 crypt aes:64-cbc-lmk $(k 2080) 0 $R 0"
c probe 16 0 "capi:cbc(aes)-lmk: capi lmk implies 64 keys (v2, 1024 bytes)" "0 16 crypt capi:cbc(aes)-lmk $(k 1024) 0 $R 0"
c probe 16 0 "aes-cbc-lmk without keycount: single 16-byte key, lmk IV, no seed" "0 16 crypt aes-cbc-lmk $K16 0 $R 0"
c valid 16 0 "aes:64-cbc-lmk v3 with iv_offset 2^56-8 (lmk crops the sector to 56 bits; key index s mod 64)" "0 16 crypt aes:64-cbc-lmk $(k 1040) 72057594037927928 $R 0"

# tcw (TrueCrypt < 4.1): key = cipher key + IV seed (iv_size bytes) + 16-byte whitening
c valid 16 0 "aes-cbc-tcw: 16-byte AES key + 16-byte IV seed + 16-byte whitening (48 bytes)" "0 16 crypt aes-cbc-tcw $K48 0 $R 0"
c valid 16 0 "aes-cbc-tcw: 32-byte AES key + 16-byte IV seed + 16-byte whitening (64 bytes)" "0 16 crypt aes-cbc-tcw $K64 0 $R 0"
c valid 16 0 "serpent-cbc-tcw: 32-byte key + 16 + 16 (64 bytes)" "0 16 crypt serpent-cbc-tcw $K64 0 $R 0"
c valid 16 0 "twofish-cbc-tcw: 32-byte key + 16 + 16 (64 bytes)" "0 16 crypt twofish-cbc-tcw $K64 0 $R 0"
c valid 16 0 "aes-cbc-tcw with iv_offset 4294967290 (sectors cross 2^32)" "0 16 crypt aes-cbc-tcw $K64 4294967290 $R 0"

# eboiv / elephant (BitLocker)
c valid 16 0 "aes-cbc-eboiv, 128-bit key"              "0 16 crypt aes-cbc-eboiv $K16 0 $R 0"
c valid 16 0 "aes-cbc-eboiv, 256-bit key"              "0 16 crypt aes-cbc-eboiv $K32 0 $R 0"
c valid 64 0 "aes-cbc-eboiv sector_size:4096 (IV from 512-byte sector number * 4096)" "0 64 crypt aes-cbc-eboiv $K32 0 $R 0 1 sector_size:4096"
c valid 64 0 "aes-cbc-eboiv sector_size:4096 iv_large_sectors (BitLocker layout)" "0 64 crypt aes-cbc-eboiv $K32 0 $R 0 2 sector_size:4096 iv_large_sectors"
c valid 16 0 "aes-cbc-elephant: 16-byte CBC key + 16-byte Elephant sector key (32 bytes)" "0 16 crypt aes-cbc-elephant $K32 0 $R 0"
c valid 16 0 "aes-cbc-elephant: 32-byte CBC key + 32-byte Elephant sector key (64 bytes)" "0 16 crypt aes-cbc-elephant $K64 0 $R 0"
c valid 64 0 "aes-cbc-elephant 64-byte key, sector_size:4096 iv_large_sectors" "0 64 crypt aes-cbc-elephant $K64 0 $R 0 2 sector_size:4096 iv_large_sectors"
c probe 16 0 "aes-cbc-elephant: 24 + 24 (48-byte key, AES-192 both halves)" "0 16 crypt aes-cbc-elephant $K48 0 $R 0"

# =============================================================== valid: capi forms
c valid 16 0 "capi:xts(aes)-plain64 (same as aes-xts-plain64 with the same key)" "0 16 crypt capi:xts(aes)-plain64 $K64 0 $R 0"
c valid 16 0 "capi:cbc(aes)-essiv:sha256"              "0 16 crypt capi:cbc(aes)-essiv:sha256 $K32 0 $R 0"
c valid 16 0 "capi:cbc(serpent)-plain"                 "0 16 crypt capi:cbc(serpent)-plain $K32 0 $R 0"
c valid 16 0 "capi:cbc(aes)-plain64be"                 "0 16 crypt capi:cbc(aes)-plain64be $K16 0 $R 0"
c valid 16 0 "capi:ecb(aes) (no IV)"                   "0 16 crypt capi:ecb(aes) $K16 0 $R 0"
c valid 16 0 "capi:adiantum(xchacha12,aes)-plain64, 512-byte sectors" "0 16 crypt capi:adiantum(xchacha12,aes)-plain64 $K32 0 $R 0"
c valid 64 0 "capi:adiantum(xchacha12,aes)-plain64 sector_size:4096" "0 64 crypt capi:adiantum(xchacha12,aes)-plain64 $K32 0 $R 0 1 sector_size:4096"
c valid 16 0 "capi:adiantum(xchacha20,aes)-plain64, 512-byte sectors" "0 16 crypt capi:adiantum(xchacha20,aes)-plain64 $K32 0 $R 0"
c valid 64 0 "capi:adiantum(xchacha20,aes)-plain64 sector_size:4096" "0 64 crypt capi:adiantum(xchacha20,aes)-plain64 $K32 0 $R 0 1 sector_size:4096"
c valid 64 0 "capi:adiantum(xchacha12,aes)-plain64 sector_size:4096 iv_large_sectors" "0 64 crypt capi:adiantum(xchacha12,aes)-plain64 $K32 0 $R 0 2 sector_size:4096 iv_large_sectors"

# =============================================================== valid: key counts, legacy forms
c valid 16 0 "aes:2-xts-plain64: 2 x 64-byte xts keys (128 bytes); sector s uses key s mod 2" "0 16 crypt aes:2-xts-plain64 $K128 0 $R 0"
c valid 16 0 "aes:4-cbc-plain64: 4 x 16-byte keys (64 bytes); sector s uses key s mod 4" "0 16 crypt aes:4-cbc-plain64 $K64 0 $R 0"
c valid 16 0 "aes:4-cbc-plain64 with iv_offset 1 (key index = (sector + iv_offset) mod 4)" "0 16 crypt aes:4-cbc-plain64 $K64 1 $R 0"
c probe 16 0 "aes:2-cbc-essiv:sha256: 2 x 16-byte keys, each with its own essiv salt" "0 16 crypt aes:2-cbc-essiv:sha256 $K32 0 $R 0"
c valid 16 0 "aes:1-cbc-plain: explicit key count 1"    "0 16 crypt aes:1-cbc-plain $K16 0 $R 0"
c valid 16 0 "aes (cipher only: defaults to cbc-plain)" "0 16 crypt aes $K16 0 $R 0"
c valid 16 0 "aes-plain (old form: cbc-plain)"          "0 16 crypt aes-plain $K16 0 $R 0"

# =============================================================== valid: options
c valid 16 0 "option allow_discards"                   "0 16 crypt aes-xts-plain64 $K64 0 $R 0 1 allow_discards"
c valid 16 0 "option same_cpu_crypt"                   "0 16 crypt aes-xts-plain64 $K64 0 $R 0 1 same_cpu_crypt"
c valid 16 0 "option submit_from_crypt_cpus"           "0 16 crypt aes-xts-plain64 $K64 0 $R 0 1 submit_from_crypt_cpus"
c valid 16 0 "option no_read_workqueue"                "0 16 crypt aes-xts-plain64 $K64 0 $R 0 1 no_read_workqueue"
c valid 16 0 "option no_write_workqueue"               "0 16 crypt aes-xts-plain64 $K64 0 $R 0 1 no_write_workqueue"
c valid 16 0 "five flags given in reverse order (table prints kernel order)" "0 16 crypt aes-xts-plain64 $K64 0 $R 0 5 no_write_workqueue no_read_workqueue submit_from_crypt_cpus same_cpu_crypt allow_discards"
c valid 64 0 "all seven non-integrity options, shuffled" "0 64 crypt aes-xts-plain64 $K64 0 $R 0 7 iv_large_sectors no_write_workqueue sector_size:4096 same_cpu_crypt no_read_workqueue allow_discards submit_from_crypt_cpus"
c probe 16 0 "duplicate option (allow_discards twice)"  "0 16 crypt aes-xts-plain64 $K64 0 $R 0 2 allow_discards allow_discards"
c probe 16 0 "eight options (the maximum count) with duplicates" "0 16 crypt aes-xts-plain64 $K64 0 $R 0 8 allow_discards allow_discards same_cpu_crypt same_cpu_crypt no_read_workqueue no_read_workqueue no_write_workqueue no_write_workqueue"
c probe 16 0 "uppercase option names (ALLOW_DISCARDS, Same_Cpu_Crypt)" "0 16 crypt aes-xts-plain64 $K64 0 $R 0 2 ALLOW_DISCARDS Same_Cpu_Crypt"
c probe 64 0 "uppercase IV_LARGE_SECTORS with sector_size:4096" "0 64 crypt aes-xts-plain64 $K64 0 $R 0 2 sector_size:4096 IV_LARGE_SECTORS"
c probe 16 0 "opt_params count 0 (explicit empty option group)" "0 16 crypt aes-xts-plain64 $K64 0 $R 0 0"
c probe 16 0 "opt_params count 1 but two options follow" "0 16 crypt aes-xts-plain64 $K64 0 $R 0 1 allow_discards same_cpu_crypt"
c valid 16 0 "sector_size:1024"                        "0 16 crypt aes-xts-plain64 $K64 0 $R 0 1 sector_size:1024"
c valid 16 0 "sector_size:2048"                        "0 16 crypt aes-xts-plain64 $K64 0 $R 0 1 sector_size:2048"
c valid 64 0 "sector_size:4096 (IV = 512-byte sector number)" "0 64 crypt aes-xts-plain64 $K64 0 $R 0 1 sector_size:4096"
c valid 64 0 "sector_size:4096 iv_large_sectors (IV = 4096-byte sector number)" "0 64 crypt aes-xts-plain64 $K64 0 $R 0 2 sector_size:4096 iv_large_sectors"
c valid 64 0 "sector_size:4096 iv_large_sectors iv_offset 16" "0 64 crypt aes-xts-plain64 $K64 16 $R 0 2 sector_size:4096 iv_large_sectors"
c valid 16 0 "sector_size:1024 iv_large_sectors with aes-cbc-essiv:sha256" "0 16 crypt aes-cbc-essiv:sha256 $K32 0 $R 0 2 sector_size:1024 iv_large_sectors"
c probe 16 0 "explicit sector_size:512 (the default)"  "0 16 crypt aes-xts-plain64 $K64 0 $R 0 1 sector_size:512"
c probe 16 0 "iv_large_sectors with 512-byte sectors"  "0 16 crypt aes-xts-plain64 $K64 0 $R 0 1 iv_large_sectors"
c probe 16 0 "sector_size given twice (4096 then 1024; the last wins?)" "0 16 crypt aes-xts-plain64 $K64 0 $R 0 2 sector_size:4096 sector_size:1024"

# =============================================================== valid: iv_offset
for iv in plain plain64 plain64be; do
  for o in 8 1000 4294967290; do
    c valid 16 0 "aes-cbc-$iv iv_offset $o" "0 16 crypt aes-cbc-$iv $K16 $o $R 0"
  done
done
c valid 16 0 "aes-xts-plain iv_offset 4294967290 (32-bit IV wraps to 0)"   "0 16 crypt aes-xts-plain $K64 4294967290 $R 0"
c valid 16 0 "aes-xts-plain64 iv_offset 4294967290"    "0 16 crypt aes-xts-plain64 $K64 4294967290 $R 0"
c valid 16 0 "aes-cbc-essiv:sha256 iv_offset 4294967290" "0 16 crypt aes-cbc-essiv:sha256 $K32 4294967290 $R 0"
c valid 16 0 "aes-cbc-benbi iv_offset 4294967290"      "0 16 crypt aes-cbc-benbi $K16 4294967290 $R 0"
c valid 16 0 "aes-cbc-eboiv iv_offset 4294967290"      "0 16 crypt aes-cbc-eboiv $K16 4294967290 $R 0"
c probe 16 0 "aes-cbc-plain64 iv_offset 2^64-6 (64-bit sector wraps to 0)" "0 16 crypt aes-cbc-plain64 $K16 18446744073709551610 $R 0"
c probe 16 0 "aes-cbc-plain64 iv_offset 2^64 (does not fit in 64 bits)" "0 16 crypt aes-cbc-plain64 $K16 18446744073709551616 $R 0"

# =============================================================== valid: offset, key spelling
c valid 16 8 "offset 8"                                "0 16 crypt aes-xts-plain64 $K64 0 $R 8"
c valid 16 1024 "offset 1024"                          "0 16 crypt aes-xts-plain64 $K64 0 $R 1024"
c valid 16 1024 "offset 1024 and iv_offset 1024 (what cryptsetup plain --offset/--skip do)" "0 16 crypt aes-xts-plain64 $K64 1024 $R 1024"
c valid 16 0 "device given as major:minor 1:0"         "0 16 crypt aes-xts-plain64 $K64 0 1:0 0"
c valid 16 0 "uppercase hex key (table prints lowercase)" "0 16 crypt aes-xts-plain64 $(KU 64) 0 $R 0"
c probe 16 0 "odd hex length: 33 hex digits (the last digit is ignored?)" "0 16 crypt aes-cbc-plain64 ${K16}1 0 $R 0"
c probe 16 0 "non-hex trailing character after 32 hex digits" "0 16 crypt aes-cbc-plain64 ${K16}z 0 $R 0"
c probe 16 0 "xts key with identical halves (rejected only in FIPS mode?)" "0 16 crypt aes-xts-plain64 ${K16}${K16} 0 $R 0"

# =============================================================== invalid
c invalid 16 0 "bad cipher name"                       "0 16 crypt nosuch-xts-plain64 $K64 0 $R 0"
c invalid 16 0 "uppercase cipher name AES"             "0 16 crypt AES-xts-plain64 $K64 0 $R 0"
c invalid 16 0 "bad chain mode"                        "0 16 crypt aes-nosuch-plain64 $K32 0 $R 0"
c invalid 16 0 "bad iv mode"                           "0 16 crypt aes-xts-nosuch $K64 0 $R 0"
c invalid 16 0 "cbc without iv mode"                   "0 16 crypt aes-cbc $K16 0 $R 0"
c invalid 16 0 "essiv without hash"                    "0 16 crypt aes-cbc-essiv $K16 0 $R 0"
c invalid 16 0 "essiv with unknown hash"               "0 16 crypt aes-cbc-essiv:nosuch $K16 0 $R 0"
c invalid 16 0 "capi: unknown template"                "0 16 crypt capi:nosuch(aes)-plain64 $K32 0 $R 0"
c invalid 16 0 "parenthesis in old-style cipher spec"  "0 16 crypt cbc(aes)-plain64 $K16 0 $R 0"
c invalid 16 0 "wrong key length for xts (40 bytes)"   "0 16 crypt aes-xts-plain64 $(k 40) 0 $R 0"
c invalid 16 0 "wrong key length for xts (16 bytes)"   "0 16 crypt aes-xts-plain64 $K16 0 $R 0"
c invalid 16 0 "wrong key length for cbc (20 bytes)"   "0 16 crypt aes-cbc-plain64 $(k 20) 0 $R 0"
c invalid 16 0 "odd hex length: 31 hex digits (15 bytes)" "0 16 crypt aes-cbc-plain64 $(k 16 | cut -c1-31) 0 $R 0"
c invalid 16 0 "non-hex key"                           "0 16 crypt aes-cbc-plain64 zz0102030405060708090a0b0c0d0e0f 0 $R 0"
c invalid 16 0 "keyring key :32:logon:foo (no such key)" "0 16 crypt aes-xts-plain64 :32:logon:foo 0 $R 0"
c invalid 16 0 "keyring key :32:user:foo (no such key)" "0 16 crypt aes-xts-plain64 :32:user:foo 0 $R 0"
c invalid 16 0 "keyring key with unknown key type"     "0 16 crypt aes-xts-plain64 :32:nosuch:foo 0 $R 0"
c invalid 16 0 "keyring key with bad size field"       "0 16 crypt aes-xts-plain64 :abc:logon:foo 0 $R 0"
c invalid 16 0 "key '-' with a cipher that needs a key" "0 16 crypt aes-cbc-plain64 - 0 $R 0"
c invalid 16 0 "cipher_null with a non-empty key"     "0 16 crypt cipher_null-ecb $K16 0 $R 0"
c invalid 16 0 "too few args (no offset)"              "0 16 crypt aes-xts-plain64 $K64 0 $R"
c invalid 16 0 "non-numeric iv_offset"                 "0 16 crypt aes-xts-plain64 $K64 abc $R 0"
c invalid 16 0 "iv_offset with trailing garbage"       "0 16 crypt aes-xts-plain64 $K64 8x $R 0"
c invalid 16 0 "negative iv_offset"                    "0 16 crypt aes-xts-plain64 $K64 -1 $R 0"
c invalid 16 0 "non-numeric offset"                    "0 16 crypt aes-xts-plain64 $K64 0 $R abc"
c invalid 16 0 "device missing"                        "0 16 crypt aes-xts-plain64 $K64 0 /dev/nosuch 0"
c invalid 16 0 "offset past device end (2040 + 16 > 2048)" "0 16 crypt aes-xts-plain64 $K64 0 $R 2040"
c invalid 4096 0 "length past device end (4096 > 2048)" "0 4096 crypt aes-xts-plain64 $K64 0 $R 0"
c invalid 16 0 "opt_params count larger than the options given" "0 16 crypt aes-xts-plain64 $K64 0 $R 0 2 allow_discards"
c invalid 16 0 "opt_params count not a number"         "0 16 crypt aes-xts-plain64 $K64 0 $R 0 x allow_discards"
c invalid 16 0 "unknown option"                        "0 16 crypt aes-xts-plain64 $K64 0 $R 0 1 nosuch_option"
c invalid 16 0 "option with a value it does not take"  "0 16 crypt aes-xts-plain64 $K64 0 $R 0 1 allow_discards=1"
c invalid 16 0 "nine options (more than the 8 this kernel allows)" "0 16 crypt aes-xts-plain64 $K64 0 $R 0 9 allow_discards allow_discards same_cpu_crypt same_cpu_crypt no_read_workqueue no_read_workqueue no_write_workqueue no_write_workqueue submit_from_crypt_cpus"
c invalid 16 0 "sector_size:3000 (not a power of two)" "0 16 crypt aes-xts-plain64 $K64 0 $R 0 1 sector_size:3000"
c invalid 16 0 "sector_size:256 (below 512)"           "0 16 crypt aes-xts-plain64 $K64 0 $R 0 1 sector_size:256"
c invalid 16 0 "sector_size:8192 (above 4096)"         "0 16 crypt aes-xts-plain64 $K64 0 $R 0 1 sector_size:8192"
c invalid 16 0 "sector_size:0"                         "0 16 crypt aes-xts-plain64 $K64 0 $R 0 1 sector_size:0"
c invalid 16 0 "sector_size:4096x (trailing garbage)"  "0 16 crypt aes-xts-plain64 $K64 0 $R 0 1 sector_size:4096x"
c invalid 16 0 "uppercase SECTOR_SIZE:4096"            "0 16 crypt aes-xts-plain64 $K64 0 $R 0 1 SECTOR_SIZE:4096"
c invalid 12 0 "sector_size:4096 does not divide the length (12 sectors)" "0 12 crypt aes-xts-plain64 $K64 0 $R 0 1 sector_size:4096"
c invalid 64 0 "iv_offset 7 not aligned with sector_size:4096" "0 64 crypt aes-xts-plain64 $K64 7 $R 0 1 sector_size:4096"
c invalid 64 0 "lmk with sector_size:4096"             "0 64 crypt aes:64-cbc-lmk $(k 1024) 0 $R 0 1 sector_size:4096"
c invalid 64 0 "tcw with sector_size:4096"             "0 64 crypt aes-cbc-tcw $K48 0 $R 0 1 sector_size:4096"
c invalid 16 0 "tcw with a key of only IV seed + whitening (32 bytes)" "0 16 crypt aes-cbc-tcw $K32 0 $R 0"
c invalid 16 0 "lmk v2/v3 key length not a multiple of the key size (1032 bytes)" "0 16 crypt aes:64-cbc-lmk $(k 1032) 0 $R 0"
c invalid 16 0 "elephant with a 128-byte key (Elephant key > 32 bytes)" "0 16 crypt aes-cbc-elephant $K128 0 $R 0"
c invalid 16 0 "adiantum with a 16-byte key"           "0 16 crypt capi:adiantum(xchacha12,aes)-plain64 $K16 0 $R 0"
c invalid 16 0 "random IV without an integrity device" "0 16 crypt aes-xts-random $K64 0 $R 0"
c invalid 16 0 "capi:gcm(aes)-random integrity:28:aead without an integrity device" "0 16 crypt capi:gcm(aes)-random $K16 0 $R 0 1 integrity:28:aead"
c invalid 16 0 "old-style aes-gcm-random with integrity:28:aead" "0 16 crypt aes-gcm-random $K16 0 $R 0 1 integrity:28:aead"
c invalid 16 0 "integrity:0:aead"                      "0 16 crypt capi:gcm(aes)-random $K16 0 $R 0 1 integrity:0:aead"
c invalid 16 0 "integrity with unknown profile"        "0 16 crypt aes-xts-random $K64 0 $R 0 1 integrity:16:foo"
c invalid 16 0 "option high_priority (added in Linux 6.10; unknown to 6.1)" "0 16 crypt aes-xts-plain64 $K64 0 $R 0 1 high_priority"
c invalid 16 0 "option integrity_key_size:32 (added after 6.1)" "0 16 crypt aes-xts-plain64 $K64 0 $R 0 1 integrity_key_size:32"
c invalid 16 0 "keycount not a power of two (aes:3-cbc-plain)" "0 16 crypt aes:3-cbc-plain $(k 48) 0 $R 0"
c invalid 16 0 "keycount 0"                            "0 16 crypt aes:0-cbc-plain $K16 0 $R 0"
c invalid 16 0 "keycount not a number"                 "0 16 crypt aes:x-cbc-plain $K16 0 $R 0"

echo "captured $N cases"
exit 0
