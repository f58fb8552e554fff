#!/bin/sh
# Start, restart or stop a private libvirtd (and its virtlogd) for the real-guest tests,
# as root, without touching the host's libvirt: a private mount namespace (unshare) gets
# its own /etc/libvirt, /run/libvirt, /var/lib/libvirt, /var/log/libvirt and
# /var/cache/libvirt (directories under DIR), and an /etc/passwd and /etc/group that have
# the libvirt-qemu user the QEMU driver insists on parsing even when told to run QEMU as
# root. libvirtd's client socket is DIR/sock/libvirt-sock: connect with
#   qemu:///system?socket=DIR/sock/libvirt-sock
# The QEMU driver runs guests as root with no namespaces, cgroups or security driver, and
# the guests use TCG (<domain type='qemu'>): what works on a machine without systemd or
# KVM (/work/shared/REAL-COMPONENTS.md).
#
# Usage: test/vm/libvirtd.sh start DIR | stop DIR | restart DIR
# stop destroys the domains this libvirtd runs, then stops libvirtd and virtlogd.
# restart stops libvirtd alone and starts it again, as an upgrade, a crash or
# `systemctl restart libvirtd` would: the guests and virtlogd keep running, and the new
# libvirtd reconnects to them from its state under DIR.
set -eu
cmd=$1
D=$2
URI="qemu:///system?socket=$D/sock/libvirt-sock"

# Run shell commands with the private directories mounted, in a mount namespace of their own.
in_namespace() {
  unshare --mount --propagation private sh -e -c "
    mount --bind '$D/passwd' /etc/passwd
    mount --bind '$D/group' /etc/group
    mount --bind '$D/etc' /etc/libvirt
    mount --bind '$D/run' /run/libvirt
    mount --bind '$D/lib' /var/lib/libvirt
    mount --bind '$D/log' /var/log/libvirt
    mount --bind '$D/cache' /var/cache/libvirt
    $1
  "
}

wait_up() {
  i=0
  until virsh -q -c "$URI" uri >/dev/null 2>&1; do
    i=$((i + 1))
    if [ $i -gt 100 ]; then
      echo "libvirtd.sh: libvirtd did not come up; its log:" >&2
      tail -n 20 "$D/log/libvirtd.log" >&2 || true
      exit 1
    fi
    sleep 0.1
  done
}

# Stop the daemon whose pid file is DIR/NAME.pid: SIGTERM, then SIGKILL after 5 s.
stop_pid() {
  if [ -f "$D/$1.pid" ]; then
    pid=$(cat "$D/$1.pid")
    kill "$pid" 2>/dev/null || true
    i=0
    while kill -0 "$pid" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
    kill -9 "$pid" 2>/dev/null || true
  fi
}

LIBVIRTD="libvirtd -d -p '$D/libvirtd.pid' -f '$D/etc/libvirtd.conf'"

case "$cmd" in
start)
  mkdir -p "$D/etc/qemu" "$D/run" "$D/lib" "$D/log" "$D/cache" "$D/sock"
  cat > "$D/etc/libvirtd.conf" <<X
unix_sock_dir = "$D/sock"
unix_sock_rw_perms = "0700"
auth_unix_rw = "none"
auth_unix_ro = "none"
X
  cat > "$D/etc/qemu.conf" <<X
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
namespaces = []
cgroup_controllers = []
security_driver = "none"
X
  cp /etc/passwd "$D/passwd"
  cp /etc/group "$D/group"
  grep -q '^libvirt-qemu:' "$D/group" || echo "libvirt-qemu:x:64055:" >> "$D/group"
  grep -q '^libvirt-qemu:' "$D/passwd" ||
    echo "libvirt-qemu:x:64055:64055:Libvirt Qemu:/var/lib/libvirt:/usr/sbin/nologin" >> "$D/passwd"
  # Mount points for the private directories (empty where the host has no libvirt state).
  for m in /etc/libvirt /run/libvirt /var/lib/libvirt /var/log/libvirt /var/cache/libvirt; do
    mkdir -p "$m"
  done
  in_namespace "virtlogd -d -p '$D/virtlogd.pid'; $LIBVIRTD"
  wait_up
  echo "$URI"
  ;;
restart)
  stop_pid libvirtd
  in_namespace "$LIBVIRTD"
  wait_up
  ;;
stop)
  if [ -S "$D/sock/libvirt-sock" ]; then
    for dom in $(virsh -q -c "$URI" list --name 2>/dev/null); do
      virsh -q -c "$URI" destroy "$dom" >/dev/null 2>&1 || true
    done
  fi
  # QEMU processes libvirtd started and may have left (their pid files are ours).
  for p in "$D"/run/qemu/*.pid; do
    [ -f "$p" ] && kill -9 "$(cat "$p")" 2>/dev/null || true
  done
  for f in libvirtd virtlogd; do stop_pid "$f"; done
  ;;
*)
  echo "usage: $0 start DIR | stop DIR | restart DIR" >&2
  exit 2
  ;;
esac
