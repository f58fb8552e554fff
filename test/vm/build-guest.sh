#!/bin/sh
# Build a small Linux test guest from Debian packages, in seconds:
#   - the kernel from linux-image-cloud-amd64 (falling back to linux-image-amd64),
#     fetched with apt-get download and unpacked with dpkg -x (not installed);
#   - an initramfs of busybox-static plus the modules virtio_pci, virtio_balloon,
#     virtio_mem and virtio_console, in the load order modprobe computes from a
#     modules.dep that depmod builds for the unpacked tree (the .deb ships none);
#   - memhog (test/vm/memhog.c, compiled static): a process holding anonymous memory;
#   - qemu-ga from qemu-guest-agent (apt-get download, with the shared libraries ldd
#     finds for it on this Debian host), when those libraries are all here;
#   - /init mounts /proc, /sys, /dev, loads the modules, starts the Ballast guest agent
#     (agent/ballast-agent.sh) and qemu-ga where QEMU gave the guest their ports, and
#     serves a control port (org.ballast.ctl.0) on which a test makes the guest
#     allocate and free memory and start processes.
#
# Usage: test/vm/build-guest.sh [OUTDIR]     (default .cache/vm; prints OUTDIR)
# Needs: apt-get, dpkg, kmod (depmod, modprobe), cpio, gzip, busybox-static, a C
# compiler with a static libc (gcc, libc6-dev).
# OUTDIR/features lists optional parts that made it in ("qemu-ga").
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
out=${1:-$repo/.cache/vm}
mkdir -p "$out"
out=$(cd "$out" && pwd)

need() { command -v "$1" >/dev/null 2>&1 || { echo "build-guest: $1 is missing ($2)" >&2; exit 1; }; }
need apt-get "apt"
need dpkg "dpkg"
need depmod "apt-get install kmod"
need modprobe "apt-get install kmod"
need cpio "apt-get install cpio"
need gzip "gzip"
need cc "apt-get install gcc libc6-dev"

busybox=""
for b in /bin/busybox /usr/bin/busybox; do
  if [ -x "$b" ] && ! ldd "$b" >/dev/null 2>&1; then busybox=$b; break; fi
done
[ -n "$busybox" ] || { echo "build-guest: a static busybox is missing (apt-get install busybox-static)" >&2; exit 1; }

pkg=""
for meta in linux-image-cloud-amd64 linux-image-amd64; do
  pkg=$(apt-cache depends "$meta" 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*\)$/\1/p' | head -n1)
  [ -n "$pkg" ] && break
done
[ -n "$pkg" ] || { echo "build-guest: no kernel package found (run apt-get update)" >&2; exit 1; }

qga_pkg=$(apt-cache policy qemu-guest-agent 2>/dev/null | sed -n 's/^ *Candidate: //p' | head -n1)
stamp="$pkg qga=$qga_pkg $(cat "$repo/agent/ballast-agent.sh" "$here/init.sh" "$here/ctl.sh" "$here/memhog.c" "$0" | cksum)"
if [ -f "$out/stamp" ] && [ "$(cat "$out/stamp")" = "$stamp" ] && [ -f "$out/vmlinuz" ] && [ -f "$out/initrd.img" ]; then
  echo "$out"
  exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get download "$pkg" >/dev/null 2>&1) || { echo "build-guest: apt-get download $pkg failed" >&2; exit 1; }
dpkg -x "$work"/*.deb "$work/tree"
version=$(ls "$work/tree/lib/modules" | head -n1)
depmod -b "$work/tree" "$version"

root="$work/root"
mkdir -p "$root/bin" "$root/lib/modules" "$root/proc" "$root/sys" "$root/dev" "$root/tmp" "$root/etc"
cp "$busybox" "$root/bin/busybox"
: > "$root/lib/modules/order"
modprobe -a -d "$work/tree" -S "$version" --show-depends virtio_pci virtio_balloon virtio_mem virtio_console |
  while read -r verb path _; do
    [ "$verb" = insmod ] || continue
    base=$(basename "$path")
    grep -qx "$base" "$root/lib/modules/order" && continue
    case "$path" in
      *.ko.xz) xz -dc "$path" > "$root/lib/modules/${base%.xz}"; base=${base%.xz} ;;
      *.ko.zst) zstd -dqc "$path" > "$root/lib/modules/${base%.zst}"; base=${base%.zst} ;;
      *) cp "$path" "$root/lib/modules/$base" ;;
    esac
    echo "$base" >> "$root/lib/modules/order"
  done
cc -O2 -static -o "$root/bin/memhog" "$here/memhog.c" || { echo "build-guest: cannot build memhog statically (apt-get install gcc libc6-dev)" >&2; exit 1; }

# qemu-ga, with the libraries it links (copied from this host, which runs the same
# Debian release the package is built for). Optional: without it the guest has none.
features=""
if (cd "$work" && apt-get download qemu-guest-agent >/dev/null 2>&1); then
  dpkg -x "$work"/qemu-guest-agent_*.deb "$work/qga"
  qga="$work/qga/usr/sbin/qemu-ga"
  if [ -x "$qga" ] && ! ldd "$qga" | grep -q 'not found'; then
    cp "$qga" "$root/bin/qemu-ga"
    ldd "$qga" | sed -n 's/.*=> \(\/[^ ]*\) .*/\1/p; s/^[[:space:]]*\(\/[^ ]*\) .*/\1/p' |
      while read -r lib; do
        mkdir -p "$root$(dirname "$lib")"
        cp -L "$lib" "$root$lib"
      done
    features="$features qemu-ga"
  else
    echo "build-guest: qemu-ga left out: its libraries are not all on this host ($(ldd "$qga" | grep 'not found' | tr -s ' \n' ' '))" >&2
  fi
else
  echo "build-guest: qemu-ga left out: apt-get download qemu-guest-agent failed" >&2
fi

cp "$here/init.sh" "$root/init"
cp "$here/ctl.sh" "$root/bin/ballast-ctl"
cp "$repo/agent/ballast-agent.sh" "$root/bin/ballast-agent"
chmod +x "$root/init" "$root/bin/ballast-ctl" "$root/bin/ballast-agent"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) > "$out/initrd.img.tmp"
cp "$work/tree/boot/vmlinuz-$version" "$out/vmlinuz.tmp"
mv "$out/initrd.img.tmp" "$out/initrd.img"
mv "$out/vmlinuz.tmp" "$out/vmlinuz"
printf '%s\n' "$features" > "$out/features"
printf '%s\n' "$stamp" > "$out/stamp"
echo "$out"
