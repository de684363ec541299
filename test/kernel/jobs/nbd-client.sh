#!/bin/sh
# The kernel's own NBD client against a ucrypt export (test/nbd/kernel.test.ts): nbd-client,
# mkfs, mount, write, unmount, remount, compare. Needs UCRYPT_KERNEL_GUESTFWD=$UCRYPT_JOB_PORT.
#   UCRYPT_JOB_PORT    the host port ucrypt listens on (forwarded from 10.0.2.100)
#   UCRYPT_JOB_EXPORT  the export name
set -e
modprobe nbd
nbd-client 10.0.2.100 "$UCRYPT_JOB_PORT" /dev/nbd0 -N "$UCRYPT_JOB_EXPORT" -b 4096
echo "== size: $(cat /sys/block/nbd0/size) sectors"
if command -v mkfs.ext4 >/dev/null 2>&1; then mkfs.ext4 -q -F -b 4096 /dev/nbd0; else mke2fs -b 4096 /dev/nbd0; fi
mkdir -p /mnt/nbd
if ! mount -t ext4 /dev/nbd0 /mnt/nbd; then
  dmesg | tail -20
  exit 1
fi
i=0
while [ $i -lt 16 ]; do
  dd if=/dev/urandom of=/mnt/nbd/f$i bs=64k count=$((i + 1)) 2>/dev/null
  i=$((i + 1))
done
(cd /mnt/nbd && sha256sum f* > /tmp/sums)
sync
umount /mnt/nbd
echo 3 > /proc/sys/vm/drop_caches
mount -t ext4 /dev/nbd0 /mnt/nbd
(cd /mnt/nbd && sha256sum -c /tmp/sums)
cp /tmp/sums /host/sums
umount /mnt/nbd
# Unmount flushed through NBD_CMD_FLUSH; disconnect sends NBD_CMD_DISC.
nbd-client -d /dev/nbd0
echo "nbd kernel client: ok"
