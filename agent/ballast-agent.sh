#!/bin/sh
# Ballast guest agent: back-pressure from inside the guest.
#
# Once a second, writes /proc/pressure/memory and the key /proc/meminfo lines as one
# JSON line to the virtio-serial port named org.ballast.agent.0. Needs nothing but a
# POSIX shell and /proc (busybox is enough). PSI is not in virtio-balloon's stats; this
# is how the host learns that a guest is short of memory.
#
# Usage: ballast-agent.sh [PORT]     (default: the port named org.ballast.agent.0)
set -u
NAME=org.ballast.agent.0
INTERVAL=${BALLAST_AGENT_INTERVAL:-1}

find_port() {
  if [ -e "/dev/virtio-ports/$NAME" ]; then echo "/dev/virtio-ports/$NAME"; return 0; fi
  for p in /sys/class/virtio-ports/*; do
    [ -r "$p/name" ] || continue
    if [ "$(cat "$p/name")" = "$NAME" ]; then echo "/dev/${p##*/}"; return 0; fi
  done
  return 1
}

PORT=${1:-}
while [ -z "$PORT" ]; do
  PORT=$(find_port) || { PORT=""; sleep "$INTERVAL"; }
done

psi() {
  # "some avg10=0.00 avg60=0.00 avg300=0.00 total=0" -> "some":{"avg10":0.00,...}
  out=""
  if [ -r /proc/pressure/memory ]; then
    while read -r kind a10 a60 a300 total; do
      out="$out${out:+,}\"$kind\":{\"avg10\":${a10#avg10=},\"avg60\":${a60#avg60=},\"avg300\":${a300#avg300=},\"total\":${total#total=}}"
    done < /proc/pressure/memory
  fi
  printf '{%s}' "$out"
}

meminfo() {
  out=""
  while read -r key val unit; do
    key=${key%:}
    case "$key" in
      MemTotal|MemFree|MemAvailable|Cached|Shmem|AnonPages|"Active(anon)"|"Inactive(anon)"|"Active(file)"|"Inactive(file)"|Unevictable|SUnreclaim|SwapTotal|SwapFree)
        out="$out${out:+,}\"$key\":$val" ;;
    esac
  done < /proc/meminfo
  printf '{%s}' "$out"
}

vmstat() {
  out=""
  while read -r key val; do
    case "$key" in
      pgmajfault|pswpin|pswpout) out="$out${out:+,}\"$key\":$val" ;;
    esac
  done < /proc/vmstat
  printf '{%s}' "$out"
}

while :; do
  read -r up _ < /proc/uptime
  # Open the port for each line: the host side may come and go.
  printf '{"v":1,"uptime":%s,"psi":%s,"meminfo_kb":%s,"vmstat":%s}\n' "$up" "$(psi)" "$(meminfo)" "$(vmstat)" > "$PORT" 2>/dev/null || true
  sleep "$INTERVAL"
done
