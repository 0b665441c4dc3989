#!/bin/bash
# A stand-in for `registry-setup apply` (issue 4, not merged yet), only to check the e2e
# harness end to end: it does by hand over the lab's ssh what apply will do (the real
# `registry-setup serve` as a Type=notify unit on host-a, with the shared libraries a bare
# node lacks; ip_forward persisted; --insecure-registry in DOCKER_OPTS) and prints an
# Ansible-like recap. Every other command goes to the real binary. Delete when apply lands.
#   RS_E2E=1 tests/lab/e2e_test.sh tests/lab/apply_standin.sh
real=${RS_BIN:-$(cd "$(dirname "$0")/../.." && pwd)/build/registry-setup}
[ "$1" = apply ] || exec "$real" "$@"
shift 2
hosts="192.168.1.11 192.168.1.12"
[ "${1:-}" = --limit ] && hosts="192.168.1.11"
for h in $hosts; do
  changed=0
  if [ "$h" = 192.168.1.11 ] && ! ssh root@$h test -f /etc/systemd/system/registry-setup-registry.service; then
    scp -q "$real" root@$h:/usr/local/bin/registry-setup
    for l in libspdlog.so.1.10 libfmt.so.9 libyaml-cpp.so.0.7; do scp -q /usr/lib/x86_64-linux-gnu/$l root@$h:/usr/local/lib/$l; done
    ssh root@$h 'ldconfig && printf "[Service]\nType=notify\nExecStart=/usr/local/bin/registry-setup serve --listen 0.0.0.0:5000 --root /var/lib/registry\nRestart=always\nRestartSec=1\n[Install]\nWantedBy=multi-user.target\n" > /etc/systemd/system/registry-setup-registry.service && systemctl daemon-reload && systemctl enable --now registry-setup-registry.service' >/dev/null 2>&1
    changed=1
  fi
  if ! ssh root@$h grep -q insecure /etc/default/docker; then
    ssh root@$h 'mkdir -p /etc/sysctl.d && echo "net.ipv4.ip_forward = 1" > /etc/sysctl.d/60-registry-setup.conf && sysctl -q -p /etc/sysctl.d/60-registry-setup.conf && echo "DOCKER_OPTS=\"--ip-forward=false --insecure-registry 192.168.1.11:5000\"" > /etc/default/docker && systemctl restart docker'
    changed=1
  fi
  echo "$h : ok=2 changed=$changed failed=0"
done
