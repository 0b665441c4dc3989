#!/usr/bin/env bash
# registry-setup apply beside Ansible on the same real lab hosts, for 2, 8 and 20 hosts (or
# the sizes given): a fresh lab per tool and size, the first run (everything to do: docker
# restarts, the registry binary copied and started) and a converged re-run (nothing to do),
# each timed for wall clock and the controller's CPU (user+sys of the tool and its ssh
# children). Both run every host at once (--forks N / -f N). A benchmark, not a test: it
# prints figures and ratios and fails only when a tool fails.
#
#   bench/agent_bench.sh              # 2 8 20
#   bench/agent_bench.sh 20           # one size
#
# Needs root, the lab's cached root filesystem (scripts/lab-rootfs.sh, which has python3 for
# Ansible's modules), ansible (scripts/install-deps.sh bench). The Ansible side runs
# bench/ansible/site.yml, which does less than registry-setup's playbook (see its header).
# All traffic stays inside the lab's namespaces; only the lab this script started is torn down.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$(realpath "${REGISTRY_SETUP:-$root/build/registry-setup}")
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(2 8 20)
[ "$(id -u)" -eq 0 ] || { echo "agent_bench: needs root (the lab)" >&2; exit 1; }
command -v ansible-playbook >/dev/null || { echo "agent_bench: ansible-playbook missing (scripts/install-deps.sh bench)" >&2; exit 1; }
[ -x "$bin" ] || { echo "agent_bench: no binary at $bin (scripts/build.sh)" >&2; exit 1; }

work=$(mktemp -d)
name=abench$$
trap '"$bin" lab down --name "$name" >/dev/null 2>&1; rm -rf "$work"' EXIT

inventory() {  # N: registry r1, clients c2..cN
  local n=$1
  {
    echo "all:"
    echo "  vars: {ansible_user: root, registry_port: 5000, ansible_python_interpreter: /usr/bin/python3}"
    echo "  children:"
    echo "    registry:"
    echo "      hosts:"
    echo "        r1: {ansible_host: 192.168.1.11}"
    if [ "$n" -gt 1 ]; then
      echo "    clients:"
      echo "      hosts:"
      for ((i = 2; i <= n; i++)); do echo "        c$i: {ansible_host: 192.168.1.$((10 + i))}"; done
    fi
  } >"$work/inventory.yml"
}

# timed LOG CMD...: runs CMD, prints "WALL CPU" (seconds; CPU = user + sys of it and its
# children), fails with the tool's status.
timed() {
  local log=$1
  shift
  local t0 t1 c0 c1 rc me=$BASHPID
  read -r c0 < <(awk '{print $14 + $15 + $16 + $17}' "/proc/$me/stat")
  t0=$(date +%s.%N)
  "$@" >"$log" 2>&1
  rc=$?
  t1=$(date +%s.%N)
  # Children's CPU is folded into this shell's cutime/cstime once they are waited for.
  read -r c1 < <(awk '{print $14 + $15 + $16 + $17}' "/proc/$me/stat")
  echo "$(echo "$t1 - $t0" | bc -l | xargs printf '%.2f') $(echo "($c1 - $c0) / $(getconf CLK_TCK)" | bc -l | xargs printf '%.2f')"
  return $rc
}

ours() { "$bin" lab run --name "$name" -- "$bin" apply "$work/inventory.yml" --forks "$1"; }
theirs() {
  "$bin" lab run --name "$name" -- env ANSIBLE_NOCOLOR=1 ANSIBLE_HOST_KEY_CHECKING=False \
    ansible-playbook -i "$work/inventory.yml" -f "$1" -e "registry_binary=$bin" "$root/bench/ansible/site.yml"
}

declare -A result
fail=0
for n in "${sizes[@]}"; do
  inventory "$n"
  for tool in ours theirs; do
    "$bin" lab up "$work/inventory.yml" --name "$name" >"$work/up.log" 2>&1 || { cat "$work/up.log"; exit 1; }
    # Where the time goes, once per size: a new ssh connection and a docker restart on one host.
    if [ "$tool" = ours ]; then
      ssh_s=$(timed "$work/ssh.log" "$bin" lab run --name "$name" -- ssh r1 true | cut -d' ' -f1)
      restart_s=$(timed "$work/restart.log" "$bin" lab exec --name "$name" r1 -- systemctl restart docker.service | cut -d' ' -f1)
    fi
    first=$(timed "$work/$tool-$n-1.log" "$tool" "$n") || { echo "agent_bench: $tool, $n hosts: first run failed"; tail -20 "$work/$tool-$n-1.log"; fail=1; }
    again=$(timed "$work/$tool-$n-2.log" "$tool" "$n") || { echo "agent_bench: $tool, $n hosts: re-run failed"; tail -20 "$work/$tool-$n-2.log"; fail=1; }
    if [ "$tool" = ours ]; then
      grep -cE '^[a-z0-9]+ +: ok=[0-9]+ +changed=0 ' "$work/$tool-$n-2.log" | grep -qx "$n" || { echo "agent_bench: ours, $n hosts: the re-run changed something"; fail=1; }
    else
      grep -cE '^[a-z0-9]+ +: ok=[0-9]+ +changed=0 ' "$work/$tool-$n-2.log" | grep -qx "$n" || { echo "agent_bench: ansible, $n hosts: the re-run changed something"; fail=1; }
    fi
    result[$tool,$n,1]=$first
    result[$tool,$n,2]=$again
    "$bin" lab down --name "$name" >/dev/null 2>&1
  done
  echo "$n hosts: one new ssh connection $ssh_s s, one docker restart $restart_s s (on r1, before the runs)"
done

echo
echo "wall s / controller CPU s, every host at once (--forks N, -f N)"
printf '%-6s | %-24s %-24s | %-24s %-24s | %s\n' hosts "registry-setup first" "ansible first" "registry-setup re-run" "ansible re-run" "ansible/ours wall (first, re-run)"
for n in "${sizes[@]}"; do
  read -r of oc <<<"${result[ours,$n,1]:-0 0}"
  read -r tf tc <<<"${result[theirs,$n,1]:-0 0}"
  read -r or orc <<<"${result[ours,$n,2]:-0 0}"
  read -r tr trc <<<"${result[theirs,$n,2]:-0 0}"
  ratio() { echo "$1 / $2" | bc -l 2>/dev/null | xargs printf '%.1fx' 2>/dev/null || echo "-"; }
  printf '%-6s | %-24s %-24s | %-24s %-24s | %s, %s\n' "$n" "$of / $oc" "$tf / $tc" "$or / $orc" "$tr / $trc" \
    "$(ratio "$tf" "$of")" "$(ratio "$tr" "$or")"
done
exit $fail
