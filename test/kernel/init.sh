#!/bin/sh
# /init of the ucrypt kernel-test initramfs (busybox sh). Copied in by setup.sh.
#
# Mounts proc/sys/devtmpfs, loads virtio + 9p, mounts the host share (tag
# "host") at /host, optionally brings up eth0, runs /job.sh (appended to the
# initramfs by run.sh) with /bin/sh, tees its output to /host/job-output.log,
# then writes /host/exit-code and /host/dmesg.log and powers off.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root
export TERM=dumb

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm /dev/mapper
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
ln -sf /proc/self/fd /dev/fd 2>/dev/null
ln -sf /proc/self/fd/0 /dev/stdin 2>/dev/null
ln -sf /proc/self/fd/1 /dev/stdout 2>/dev/null
ln -sf /proc/self/fd/2 /dev/stderr 2>/dev/null
hostname ucrypt-kvm
echo /sbin/modprobe > /proc/sys/kernel/modprobe

say() { echo "[ucrypt-init] $*"; }

cmdline_opt() { # cmdline_opt NAME -> value of ucrypt.NAME=... (empty if absent)
  for w in $(cat /proc/cmdline); do
    case "$w" in "ucrypt.$1="*) echo "${w#*=}"; return 0;; esac
  done
  return 0
}

die() {
  say "FATAL: $*"
  poweroff -f
  sleep 5
  exit 1
}

modprobe virtio_pci 2>/dev/null
modprobe virtio_rng 2>/dev/null
modprobe 9pnet_virtio || die "cannot load 9pnet_virtio"
modprobe 9p || die "cannot load 9p"
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,cache=none host /host \
  || die "cannot mount host share"

if [ "$(cmdline_opt net)" = 1 ]; then
  modprobe virtio_net
  ip link set lo up
  ip link set eth0 up || say "no eth0"
  ip addr add 10.0.2.15/24 dev eth0
  ip route add default via 10.0.2.2
fi

[ -f /job.env ] && . /job.env
export UCRYPT_HOST=/host
cd /host || die "cd /host"

say "running job ($(cat /etc/ucrypt-kernel-version), $(nproc) cpus)"
rm -f /tmp/job-rc
( /bin/sh /job.sh; echo $? > /tmp/job-rc ) </dev/null 2>&1 | tee /host/job-output.log
rc="$(cat /tmp/job-rc 2>/dev/null)"
[ -n "$rc" ] || rc=255
say "job exited with $rc"

cd /
dmesg > /host/dmesg.log 2>/dev/null
echo "$rc" > /host/exit-code
sync
umount /host 2>/dev/null
poweroff -f
sleep 10
