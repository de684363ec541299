#!/usr/bin/env bash
# ucrypt kernel test harness: one-time (idempotent) setup.
#
# - installs the host tools we need from Debian (qemu, busybox-static, dmsetup,
#   cryptsetup-bin, fio, nbd-client, kmod, cpio)
# - downloads Debian's stock linux-image-<ver>-amd64 .deb and extracts it into
#   the cache dir (never installed into the host's /boot)
# - builds a small initramfs (busybox + kmod + the needed .ko files + dmsetup,
#   cryptsetup, veritysetup, integritysetup, fio, nbd-client and their libraries)
# - writes $CACHE/current.env (KVER, VMLINUZ, INITRD) for run.sh
# - prints the kernel version on the last line of stdout
#
# Environment:
#   UCRYPT_KERNEL_CACHE   cache dir (default: <repo>/.cache/kernel)
#   UCRYPT_KERNEL         kernel series: empty for Debian's default (linux-image-amd64, 6.1 on
#                         bookworm), or e.g. 6.12 for what linux-image-6.12-amd64 depends on
#                         (bookworm-security carries Linux 6.12 next to 6.1)
#   UCRYPT_KERNEL_PKG     kernel package to use (overrides UCRYPT_KERNEL)
#   UCRYPT_KERNEL_NO_FIO  set to 1 to leave fio (and its ~80 MiB of libraries) out
#   UCRYPT_KERNEL_REBUILD set to 1 to force rebuilding the initramfs
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
CACHE="${UCRYPT_KERNEL_CACHE:-$REPO/.cache/kernel}"
mkdir -p "$CACHE"
CACHE="$(cd "$CACHE" && pwd)"

log() { echo "[kernel-setup] $*" >&2; }

SUDO=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    log "not root and no sudo: cannot install packages"; fi
fi

# ---------------------------------------------------------------- host packages
PKGS=(qemu-system-x86 busybox-static dmsetup cryptsetup-bin fio nbd-client kmod cpio gzip)
APT_UPDATED=0
apt_update() {
  if [ "$APT_UPDATED" = 0 ]; then
    log "apt-get update"
    $SUDO apt-get update -qq >&2
    APT_UPDATED=1
  fi
}
apt_lists_present() { ls /var/lib/apt/lists/ 2>/dev/null | grep -q '_Packages'; }

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing: ${missing[*]}"
  apt_lists_present || apt_update
  if ! DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2; then
    apt_update
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
  fi
fi

# ---------------------------------------------------------------- kernel package
KPKG="${UCRYPT_KERNEL_PKG:-}"
if [ -z "$KPKG" ]; then
  META="linux-image-amd64"
  [ -z "${UCRYPT_KERNEL:-}" ] || META="linux-image-${UCRYPT_KERNEL}-amd64"
  resolve_kpkg() { apt-cache depends "$META" 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}'; }
  KPKG="$(resolve_kpkg || true)"
  if [ -z "$KPKG" ]; then apt_update; KPKG="$(resolve_kpkg || true)"; fi
  if [ -n "$KPKG" ]; then
    echo "$KPKG" > "$CACHE/resolved-$META"
  elif [ -f "$CACHE/resolved-$META" ]; then
    # offline and no package lists: the package this meta-package named last time
    KPKG="$(cat "$CACHE/resolved-$META")"
  fi
  [ -n "$KPKG" ] || { log "cannot determine kernel package"; exit 1; }
fi
KVER="${KPKG#linux-image-}"
KROOT="$CACHE/root-$KPKG"

if [ ! -f "$KROOT/.extracted" ]; then
  mkdir -p "$CACHE/debs"
  deb="$(ls "$CACHE"/debs/"${KPKG}"_*.deb 2>/dev/null | tail -1 || true)"
  if [ -z "$deb" ]; then
    log "downloading $KPKG"
    ( cd "$CACHE/debs" && { apt-get download "$KPKG" >&2 2>/dev/null || { apt_update; apt-get download "$KPKG" >&2; }; } )
    deb="$(ls "$CACHE"/debs/"${KPKG}"_*.deb | tail -1)"
  fi
  log "extracting $(basename "$deb")"
  rm -rf "$KROOT"
  mkdir -p "$KROOT"
  dpkg-deb -x "$deb" "$KROOT"
  depmod -b "$KROOT" "$KVER"
  dpkg-deb -f "$deb" Version > "$KROOT/.pkgversion"
  touch "$KROOT/.extracted"
fi
VMLINUZ="$KROOT/boot/vmlinuz-$KVER"
MODDIR="$KROOT/lib/modules/$KVER"
[ -f "$VMLINUZ" ] || { log "missing $VMLINUZ"; exit 1; }

# ---------------------------------------------------------------- initramfs
BINS=(/usr/sbin/dmsetup /usr/sbin/cryptsetup /usr/sbin/veritysetup /usr/sbin/integritysetup
      /usr/sbin/nbd-client /usr/bin/kmod)
[ "${UCRYPT_KERNEL_NO_FIO:-0}" = 1 ] || BINS+=(/usr/bin/fio)

# Modules wanted by name (all that exist are included, with their dependencies),
# plus every module under the crypto directories and every dm target.
MODS=(brd loop nbd dm-mod dm-crypt dm-zero dm-integrity dm-verity dm-delay dm-flakey
      dm-snapshot dm-thin-pool dm-mirror dm-unstripe dm-log-writes dm-bufio
      virtio_pci virtio_net virtio_blk virtio_rng 9p 9pnet_virtio ext4
      xts cbc ecb lrw essiv ctr cts pcbc gcm ccm authenc authencesn hmac cmac xcbc
      aes_generic aesni_intel aes_ti serpent_generic serpent-sse2-x86_64 serpent-avx2
      twofish_generic twofish-x86_64 twofish-avx-x86_64 camellia_generic camellia-x86_64
      camellia-aesni-avx2 cast5_generic cast6_generic cast6-avx-x86_64 blowfish_generic
      des_generic des3_ede-x86_64 sm4_generic adiantum chacha_generic chacha-x86_64
      xchacha poly1305_generic poly1305-x86_64 nhpoly1305 nhpoly1305-sse2 nhpoly1305-avx2
      chacha20poly1305 sha256_generic sha256-ssse3 sha512_generic sha512-ssse3 sha1_generic
      sha1-ssse3 sha3_generic blake2b_generic rmd160 wp512 streebog_generic sm3_generic
      crc32c_generic crc32c-intel crc32_generic crc32-pclmul crct10dif_generic
      xxhash_generic md4 md5 michael_mic cryptd crypto_simd crypto_user af_alg
      algif_skcipher algif_hash algif_aead cipher_null crypto_null)

modlist="$(
  {
    for m in "${MODS[@]}"; do
      modprobe -d "$KROOT" -S "$KVER" --show-depends "$m" 2>/dev/null || true
    done
    for f in $(cd "$MODDIR" && ls kernel/crypto/*.ko* kernel/arch/x86/crypto/*.ko* kernel/lib/crypto/*.ko* \
                 kernel/drivers/md/dm-*.ko* 2>/dev/null); do
      modprobe -d "$KROOT" -S "$KVER" --show-depends "$MODDIR/$f" 2>/dev/null || true
      echo "insmod $MODDIR/$f"
    done
  } | awk '$1=="insmod"{print $2}' | sort -u
)"

# Stamp: rebuild the initramfs only when an input changes.
stamp_input="$(
  echo "kpkg=$KPKG $(cat "$KROOT/.pkgversion")"
  sha256sum "$HERE/setup.sh" "$HERE/init.sh"
  for b in "${BINS[@]}" /bin/busybox; do
    echo "$b $(stat -Lc '%s %Y' "$b")"
  done
  echo "$modlist" | sha256sum
)"
STAMP="$(echo "$stamp_input" | sha256sum | cut -c1-16)"
INITRD="$CACHE/initramfs-$KVER.cpio.gz"

if [ "${UCRYPT_KERNEL_REBUILD:-0}" != 1 ] && [ -f "$INITRD" ] && [ -f "$INITRD.stamp" ] \
   && [ "$(cat "$INITRD.stamp")" = "$STAMP" ]; then
  log "initramfs up to date: $INITRD"
else
  log "building initramfs"
  ST="$CACHE/initramfs-staging"
  rm -rf "$ST"
  mkdir -p "$ST"/{usr/bin,usr/sbin,usr/lib,usr/lib64,etc,proc,sys,dev,run,tmp,host,mnt,root,var}
  # mirror the host's merged-/usr layout (or lack of it) so library paths resolve
  for d in bin sbin lib lib64; do
    if [ -L "/$d" ]; then ln -s "$(readlink "/$d")" "$ST/$d"; else mkdir -p "$ST/$d"; fi
  done
  ln -s ../run "$ST/var/run"
  ln -s ../tmp "$ST/var/tmp"

  # busybox applets (real binaries copied below win over applet links)
  cp /bin/busybox "$ST/bin/busybox"
  for a in $(/bin/busybox --list-full); do
    [ -e "$ST/$a" ] || [ -L "$ST/$a" ] || ln -s /bin/busybox "$ST/$a"
  done

  # dynamically linked tools + their libraries (and the dynamic loader)
  copy_file() { # copy a host file (resolving symlinks) to the same path in staging
    local src="$1"
    local dst="$ST$src"
    [ -e "$dst" ] && return 0
    mkdir -p "$(dirname "$dst")"
    if [ -L "$src" ]; then
      local tgt; tgt="$(readlink -f "$src")"
      copy_file "$tgt"
      ln -sf "$tgt" "$dst"
    else
      cp "$src" "$dst"
    fi
  }
  for b in "${BINS[@]}"; do
    rm -f "$ST$b"
    copy_file "$b"
    for l in $(ldd "$b" | awk '/=>/ && $3 ~ /^\// {print $3} /^[ \t]*\/.*ld-linux/ {print $1}'); do
      copy_file "$l"
    done
  done
  copy_file /lib64/ld-linux-x86-64.so.2
  # kmod provides the real modprobe (the kernel's request_module() calls /sbin/modprobe)
  for t in modprobe insmod rmmod lsmod modinfo depmod; do
    rm -f "$ST/sbin/$t" "$ST/bin/$t" "$ST/usr/sbin/$t" "$ST/usr/bin/$t"
    ln -s /usr/bin/kmod "$ST/sbin/$t"
  done

  # kernel modules
  mkdir -p "$ST/lib/modules/$KVER"
  for f in $modlist; do
    rel="${f#"$MODDIR"/}"
    mkdir -p "$ST/lib/modules/$KVER/$(dirname "$rel")"
    cp "$f" "$ST/lib/modules/$KVER/$rel"
  done
  cp "$MODDIR"/modules.builtin* "$MODDIR"/modules.order "$ST/lib/modules/$KVER/"
  depmod -b "$ST" "$KVER"

  # minimal /etc
  echo "root:x:0:0:root:/root:/bin/sh" > "$ST/etc/passwd"
  printf "root:x:0:\ndisk:x:6:\n" > "$ST/etc/group"
  printf 'tcp 6\nudp 17\n' > "$ST/etc/protocols"
  ln -s /proc/mounts "$ST/etc/mtab"
  mkdir -p "$ST/etc/lvm"   # libdevmapper looks for config here; absent is fine
  echo "$KVER" > "$ST/etc/ucrypt-kernel-version"

  cp "$HERE/init.sh" "$ST/init"
  chmod 755 "$ST/init"

  ( cd "$ST" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet -R 0:0 ) \
    | gzip -6 > "$INITRD.tmp"
  mv "$INITRD.tmp" "$INITRD"
  echo "$STAMP" > "$INITRD.stamp"
  rm -rf "$ST"
  log "initramfs: $INITRD ($(du -h "$INITRD" | cut -f1))"
fi

cat > "$CACHE/current.env" <<EOF
KPKG=$KPKG
KPKG_VERSION=$(cat "$KROOT/.pkgversion")
KVER=$KVER
VMLINUZ=$VMLINUZ
INITRD=$INITRD
EOF

echo "$KVER"
