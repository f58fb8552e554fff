#!/bin/busybox sh
# /init of the Ballast test guest (see build-guest.sh). Starts what the host wired up:
# the Ballast agent if QEMU has an org.ballast.agent.0 port, qemu-ga if it has
# org.qemu.guest_agent.0 (a stock guest has neither), and the control port.
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /dev/shm /var/run
mount -t tmpfs -o size=95% shm /dev/shm
for m in $(cat /lib/modules/order); do insmod "/lib/modules/$m" || echo "init: insmod $m failed"; done
# Wait for the virtio-serial ports to appear.
i=0
while [ $i -lt 50 ] && [ -z "$(ls /sys/class/virtio-ports 2>/dev/null)" ]; do sleep 0.1; i=$((i + 1)); done
port_of() {
  for p in /sys/class/virtio-ports/*; do
    [ "$(cat "$p/name" 2>/dev/null)" = "$1" ] && { echo "/dev/${p##*/}"; return 0; }
  done
  return 1
}
started=""
if port_of org.ballast.agent.0 >/dev/null; then /bin/ballast-agent & started="$started agent"; fi
if [ -x /bin/qemu-ga ] && qga=$(port_of org.qemu.guest_agent.0); then
  /bin/qemu-ga -m virtio-serial -p "$qga" -f /var/run/qemu-ga.pid -t /var/run &
  started="$started qemu-ga"
fi
echo "ballast-guest: up ($(head -n1 /proc/meminfo); started:${started:- nothing})"
/bin/ballast-ctl &
# PID 1 must not exit. It wakes every ballast.init_tick seconds (kernel command line;
# default 3600): a tick of 1 makes it fork as often as a real init does, so that a guest
# starved of memory with nothing left to kill panics as a real one does.
tick=3600
for w in $(cat /proc/cmdline); do
  case "$w" in ballast.init_tick=*) tick=${w#ballast.init_tick=} ;; esac
done
while :; do sleep "$tick"; done
