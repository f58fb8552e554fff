#!/bin/sh
# The test guest's control port (org.ballast.ctl.0): one command per line, one reply.
#   alloc MIB                   touch MIB of memory (a tmpfs file, so it stays until freed)
#   free                        free it all
#   hog NAME MIB [HOT] [RATE]   start a process holding MIB of anonymous memory, HOT MiB of
#                               it touched every second (memhog); without RATE, reply once
#                               it holds it all ("ok hog NAME PID") or died ("err hog NAME
#                               died"); with RATE (MiB/s), reply at once
#   unhog NAME                  kill it
#   ps                          "ok PID:COMM PID:COMM ..." of every process
#   klog                        "ok LINE;LINE;..." the kernel log's last 40 lines
#   meminfo                     reply with /proc/meminfo on one line
#   read PATH                   "ok LINE;LINE;..." a file under /proc or /sys (e.g.
#                               /proc/sys/vm/min_free_kbytes, /proc/pressure/memory)
#   kgrep TEXT                  "ok LINE;LINE;..." every kernel log line containing TEXT
#   ping                        reply pong
NAME=org.ballast.ctl.0
port=""
while [ -z "$port" ]; do
  for p in /sys/class/virtio-ports/*; do
    [ "$(cat "$p/name" 2>/dev/null)" = "$NAME" ] && port="/dev/${p##*/}"
  done
  [ -n "$port" ] || sleep 0.2
done

hog() {
  name=$1
  shift
  [ -n "$name" ] && [ -n "${1:-}" ] || { echo "err usage: hog NAME MIB [HOT] [RATE]"; return; }
  /bin/memhog "$@" > "/tmp/hog.$name" 2>&1 &
  pid=$!
  echo "$pid" > "/tmp/hog.$name.pid"
  if [ -n "${3:-}" ]; then echo "ok hog $name $pid"; return; fi
  i=0
  while [ $i -lt 1200 ]; do
    if grep -q '^ready' "/tmp/hog.$name" 2>/dev/null; then echo "ok hog $name $pid"; return; fi
    kill -0 "$pid" 2>/dev/null || { echo "err hog $name died"; return; }
    sleep 0.1
    i=$((i + 1))
  done
  echo "err hog $name timeout"
}

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
      hog) hog $arg >&4 ;;
      unhog)
        if [ -f "/tmp/hog.$arg.pid" ]; then kill "$(cat "/tmp/hog.$arg.pid")" 2>/dev/null; rm -f "/tmp/hog.$arg.pid"; fi
        echo "ok unhog $arg" >&4 ;;
      ps)
        out=""
        for d in /proc/[0-9]*; do
          [ -r "$d/comm" ] && out="$out ${d#/proc/}:$(cat "$d/comm" 2>/dev/null)"
        done
        echo "ok$out" >&4 ;;
      klog) echo "ok $(dmesg | tail -n 40 | tr '\n' ';')" >&4 ;;
      meminfo) echo "ok $(tr -s ' \n' ' ;' < /proc/meminfo)" >&4 ;;
      read)
        case "$arg" in
          /proc/*|/sys/*) if [ -r "$arg" ]; then echo "ok $(tr -s ' \n' ' ;' < "$arg")" >&4; else echo "err read $arg" >&4; fi ;;
          *) echo "err read: only /proc and /sys" >&4 ;;
        esac ;;
      kgrep) echo "ok $(dmesg | grep -F -e "$arg" | tr '\n' ';')" >&4 ;;
      ping) echo "pong" >&4 ;;
      "") ;;
      *) echo "err unknown command $cmd" >&4 ;;
    esac
  done
  sleep 0.1
done
