#!/bin/busybox sh
# /init of the Ballast test guest (see build-guest.sh).
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /dev/shm
mount -t tmpfs -o size=95% shm /dev/shm
for m in $(cat /lib/modules/order); do insmod "/lib/modules/$m" || echo "init: insmod $m failed"; done
# Wait for the virtio-serial ports to appear.
i=0
while [ $i -lt 50 ] && [ -z "$(ls /sys/class/virtio-ports 2>/dev/null)" ]; do sleep 0.1; i=$((i + 1)); done
/bin/ballast-agent &
echo "ballast-guest: up ($(cat /proc/meminfo | head -n1))"
/bin/ballast-ctl &
# PID 1 must not exit.
while :; do sleep 3600; done
