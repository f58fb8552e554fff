#!/bin/sh
# The test guest's control port (org.ballast.ctl.0): one command per line, one reply.
#   alloc MIB   touch MIB of memory (a tmpfs file, so it stays until freed)
#   free        free it all
#   meminfo     reply with /proc/meminfo on one line
#   ping        reply pong
NAME=org.ballast.ctl.0
port=""
while [ -z "$port" ]; do
  for p in /sys/class/virtio-ports/*; do
    [ "$(cat "$p/name" 2>/dev/null)" = "$NAME" ] && port="/dev/${p##*/}"
  done
  [ -n "$port" ] || sleep 0.2
done
n=0
# Open the port once and keep it open: Linux's virtio_console discards data that
# arrives while the guest side is closed, so closing between host connections could
# lose a command. With no host connected, read returns EOF at once: wait and read again.
exec 4<>"$port"
while :; do
  while read -r cmd arg <&4; do
    case "$cmd" in
      alloc)
        n=$((n + 1))
        if dd if=/dev/zero of="/dev/shm/blob$n" bs=1M count="$arg" 2>/dev/null; then echo "ok alloc $arg" >&4; else echo "err alloc" >&4; fi ;;
      free) rm -f /dev/shm/blob*; echo "ok free" >&4 ;;
      meminfo) echo "ok $(tr -s ' \n' ' ;' < /proc/meminfo)" >&4 ;;
      ping) echo "pong" >&4 ;;
      "") ;;
      *) echo "err unknown command $cmd" >&4 ;;
    esac
  done
  sleep 0.1
done
