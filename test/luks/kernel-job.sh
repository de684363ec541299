#!/bin/sh
# Guest half of test/luks/kernel.test.ts (run inside the kernel harness VM by
# test/kernel/run.sh; busybox sh). Inputs in /host (made by the test):
#   key          the passphrase key file
#   u2k.img      LUKS2 volume made by ucrypt, an ext4 (hello.txt, data.bin) written through ucrypt
#   k2u.img      empty LUKS2 volume made by the host's cryptsetup
#   fs.img       ext4 image (hello.txt, data.bin) for the kernel to write into k2u
#   pattern.bin  1 MiB the kernel writes through serpent/twofish volumes it formats
# Outputs in /host/out: u2k.hello, u2k.data.sha256, u2k.status, k2u.done, CIPHER-TYPE.img/.vk,
# and *.log. Images are worked on in /tmp (tmpfs) and copied back.
OUT=/host/out
rm -rf "$OUT"; mkdir -p "$OUT" /mnt/a /mnt/b
modprobe loop; modprobe dm-crypt
export DM_DISABLE_UDEV=1
uname -r > "$OUT/uname"

# ucrypt -> kernel: open ucrypt's volume with the kernel's cryptsetup, read the files.
cp /host/u2k.img /tmp/u2k.img
L=$(losetup -f); losetup "$L" /tmp/u2k.img
cryptsetup luksDump "$L" > "$OUT/u2k.dump" 2>&1
if cryptsetup open --key-file /host/key "$L" u2k > "$OUT/u2k.log" 2>&1; then
  dmsetup mknodes
  cryptsetup status u2k > "$OUT/u2k.status" 2>&1
  if mount -t ext4 -o ro /dev/mapper/u2k /mnt/a >> "$OUT/u2k.log" 2>&1; then
    cat /mnt/a/hello.txt > "$OUT/u2k.hello"
    sha256sum /mnt/a/data.bin | cut -d' ' -f1 > "$OUT/u2k.data.sha256"
    umount /mnt/a
  fi
  cryptsetup close u2k
fi
losetup -d "$L"

# kernel -> ucrypt: the kernel writes an ext4 into cryptsetup's volume and adds a file.
cp /host/k2u.img /tmp/k2u.img
L=$(losetup -f); losetup "$L" /tmp/k2u.img
if cryptsetup open --key-file /host/key "$L" k2u > "$OUT/k2u.log" 2>&1; then
  dmsetup mknodes
  dd if=/host/fs.img of=/dev/mapper/k2u bs=1M conv=fsync 2>> "$OUT/k2u.log"
  if mount -t ext4 /dev/mapper/k2u /mnt/b >> "$OUT/k2u.log" 2>&1; then
    echo "written by the kernel" > /mnt/b/kernel.txt
    umount /mnt/b && echo ok > "$OUT/k2u.done"
  fi
  cryptsetup close k2u
fi
losetup -d "$L"
cp /tmp/k2u.img "$OUT/k2u.img"

# Ciphers the host's cryptsetup cannot use without dm-crypt: formatted here, data written here.
for c in serpent-xts-plain64 twofish-xts-plain64 serpent-cbc-essiv:sha256; do
  for t in luks1 luks2; do
    n=$(echo "$c-$t" | tr ':' '_')
    dd if=/dev/zero of=/tmp/$n.img bs=1M count=0 seek=20 2>/dev/null
    cryptsetup luksFormat -q --type "$t" --cipher "$c" --key-size 256 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 --key-file /host/key /tmp/$n.img > "$OUT/$n.log" 2>&1 || continue
    cryptsetup luksDump --dump-volume-key -q --key-file /host/key /tmp/$n.img > "$OUT/$n.vk" 2>> "$OUT/$n.log"
    L=$(losetup -f); losetup "$L" /tmp/$n.img
    if cryptsetup open --key-file /host/key "$L" x >> "$OUT/$n.log" 2>&1; then
      dmsetup mknodes
      dd if=/host/pattern.bin of=/dev/mapper/x bs=64k conv=fsync 2>> "$OUT/$n.log"
      cryptsetup close x
    fi
    losetup -d "$L"
    cp /tmp/$n.img "$OUT/$n.img"
    rm -f /tmp/$n.img
  done
done
echo done > "$OUT/done"
