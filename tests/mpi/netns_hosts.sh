#!/bin/bash
# netns_hosts.sh TESSERA_BIN TEST_DATA_DIR SOURCE_DIR: a real two-host job on one machine.
#
# Two "hosts" are made of Linux namespaces, each with
#   - its own network namespace, the two joined by one veth pair with the addresses 10.213.K.1 and
#     10.213.K.2 (/24, K from this script's PID); no other interface and no route, so nothing outside the
#     pair is ever reachable, let alone a target;
#   - its own mount namespace with a private tmpfs on /dev/shm (Tessera's host detection and Open MPI's
#     shared-memory transport see two hosts: no shared memory between them);
#   - its own UTS namespace with the hostname tessera-host-a / -b.
# A holder process (sleep) keeps each host's namespaces alive; this script enters them with nsenter.
# `tessera launch -n 4 --hosts A:2,B:2` runs inside host A; Open MPI starts host B's daemon through
# plm_rsh_agent = this script in --agent mode, which enters host B's namespaces instead of ssh-ing.
# TESSERA_MPI_INTERFACES scopes every listener to the veth subnet, so ranks talk TCP between the hosts and
# shared memory within them; parallel.comm_backend = "auto" makes the dp axis hier (shm within a host, MPI
# between the hosts' leaders).
#
# The dp4 job (2 hosts × 2 ranks, micro-batch 2) trains test_tiny.toml for 20 steps with the same global
# batch (8) as one rank with micro-batch 8; the per-step losses must agree within 1e-5 relative.
# Then the loss of a host's memory (issue 10): the same job with in-memory checkpoints every step and storage
# ones every 10; rank 2 (host B) dies after step 13 and host B's /dev/shm is wiped, as a replaced host's would
# be. The resumed job must restore step 13 from host memory — ranks 2 and 3 from the copies their partners on
# host A kept — not step 10 from storage, and end bit-identical to the uninterrupted dp4 job.
# Needs root, ip netns, unshare and nsenter; exits 77 (skipped) where namespaces cannot be made. Sets up
# and always tears down (trap EXIT), whatever happens in between.
set -euo pipefail

if [[ "${1:-}" == --agent ]]; then
  # Open MPI's remote launch: `AGENT [options] HOST COMMAND...`, COMMAND quoted for a remote shell, as ssh
  # gets it. Enter HOST's namespaces and run COMMAND there with a shell, as sshd would.
  shift
  while [[ "${1:-}" == -* ]]; do shift; done
  host="$1"
  shift
  holder="$(cat "$TESSERA_NETNS_STATE/$host.pid")"
  exec nsenter --target "$holder" --net --mount --uts -- /bin/sh -c "$*"
fi

TESSERA="$(realpath "$1")"
FORTUNES="$(realpath "$2")/fortunes"
SRC="$(realpath "$3")"  # absolute: nsenter starts host A's commands in its root directory
self="$(realpath "$0")"
skip() {
  echo "netns_hosts: skipped: $*"
  exit 77
}
[[ "$(id -u)" == 0 ]] || skip "needs root (network and mount namespaces)"
for tool in ip unshare nsenter mpirun; do command -v "$tool" >/dev/null || skip "$tool is not installed"; done

k=$(($$ % 250 + 1))
subnet="10.213.$k"
ns_a="tessera-$$-a"
ns_b="tessera-$$-b"
WORK="$(mktemp -d)"
export TESSERA_NETNS_STATE="$WORK/state"
mkdir -p "$TESSERA_NETNS_STATE"
holders=()
cleanup() {
  local rc=$?
  set +e
  for ns in "$ns_a" "$ns_b"; do
    # Everything still running in a host (a stuck rank, the holder) ends with it.
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
  done
  for pid in "${holders[@]}"; do kill -KILL "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
  ip netns del "$ns_a" 2>/dev/null
  ip netns del "$ns_b" 2>/dev/null  # deleting a namespace deletes its end of the veth pair, and so the pair
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT

ip netns add "$ns_a" 2>/dev/null || skip "cannot create a network namespace (ip netns add)"
ip netns add "$ns_b" || skip "cannot create a second network namespace"
ip link add "tsr$$a" type veth peer name "tsr$$b" 2>/dev/null || skip "cannot create a veth pair"
ip link set "tsr$$a" netns "$ns_a"
ip link set "tsr$$b" netns "$ns_b"
ip -n "$ns_a" addr add "$subnet.1/24" dev "tsr$$a"
ip -n "$ns_b" addr add "$subnet.2/24" dev "tsr$$b"
for ns in "$ns_a" "$ns_b"; do ip -n "$ns" link set lo up; done
ip -n "$ns_a" link set "tsr$$a" up
ip -n "$ns_b" link set "tsr$$b" up

# One holder per host: in the host's network namespace, a new mount namespace (private /dev/shm) and UTS
# namespace (hostname). Its PID file names the host's address, which is what Open MPI passes the agent.
start_host() {
  local ns="$1" name="$2" address="$3"
  ip netns exec "$ns" unshare --mount --uts --propagation private /bin/sh -c \
    'mount -t tmpfs -o size=256m tmpfs /dev/shm && hostname "$1" && echo $$ >"$2.tmp" && mv "$2.tmp" "$2" && exec sleep 100000' \
    holder "$name" "$TESSERA_NETNS_STATE/$address.pid" &
  holders+=($!)
  for _ in $(seq 100); do [[ -s "$TESSERA_NETNS_STATE/$address.pid" ]] && return 0; sleep 0.05; done
  skip "cannot make a private /dev/shm and hostname in $ns (unshare --mount --uts)"
}
start_host "$ns_a" tessera-host-a "$subnet.1"
start_host "$ns_b" tessera-host-b "$subnet.2"
in_host_a() { nsenter --target "$(cat "$TESSERA_NETNS_STATE/$subnet.1.pid")" --net --mount --uts -- "$@"; }
in_host_b() { nsenter --target "$(cat "$TESSERA_NETNS_STATE/$subnet.2.pid")" --net --mount --uts -- "$@"; }
[[ "$(in_host_a hostname)" == tessera-host-a ]] || { echo "FAIL: host A's namespaces are not entered" >&2; exit 1; }
if command -v ping >/dev/null; then
  in_host_a ping -c 1 -W 2 "$subnet.2" >/dev/null 2>&1 || { echo "FAIL: host A cannot reach host B over the veth pair" >&2; exit 1; }
fi
echo "ok: two hosts: tessera-host-a ($subnet.1) and tessera-host-b ($subnet.2), joined by a veth pair"

cfg="$SRC/tests/configs/test_tiny.toml"
"$TESSERA" train "$cfg" --data "$FORTUNES" --out "$WORK/one" --steps 20 --quiet --set train.threads=1

# The dp4 job, launched in host A. Open MPI: host B through this script as the "ssh"; the daemons' and
# the ranks' TCP only on the veth subnet (TESSERA_MPI_INTERFACES → btl/oob_tcp_if_include); TCP between the
# hosts, shared memory within each (the default btl set: self, vader, tcp).
# launch_two_hosts OUT [options]: the dp4 job in host A, 2 ranks on each host.
launch_two_hosts() {
  local out="$1"
  shift
  in_host_a env TESSERA_MPI_INTERFACES="$subnet.0/24" OMPI_MCA_plm_rsh_agent="bash $self --agent" \
    TESSERA_NETNS_STATE="$TESSERA_NETNS_STATE" \
    timeout 240 "$TESSERA" launch -n 4 --hosts "$subnet.1:2,$subnet.2:2" "$cfg" --data "$FORTUNES" --out "$out" \
    --steps 20 --quiet --set train.threads=1 --set train.micro_batch=2 "$@"
}
rc=0
launch_two_hosts "$WORK/four" >"$WORK/four.log" 2>&1 || rc=$?
cat "$WORK/four.log"
[[ "$rc" == 0 ]] || { echo "FAIL: the 2-host dp4 job exited with $rc" >&2; exit 1; }
grep -q "comm: dp axis of 4 ranks on hier" "$WORK/four.log" ||
  { echo "FAIL: the dp axis is not hierarchical across the two hosts" >&2; exit 1; }

python3 - "$WORK/one/metrics.jsonl" "$WORK/four/metrics.jsonl" <<'PY'
import json, sys
one = {r["step"]: r for r in map(json.loads, open(sys.argv[1]))}
four = {r["step"]: r for r in map(json.loads, open(sys.argv[2]))}
assert sorted(four) == list(range(1, 21)), sorted(four)
worst = max(abs(one[s]["loss"] - four[s]["loss"]) / one[s]["loss"] for s in one)
assert worst < 1e-5, "2 hosts x 2 ranks vs 1 rank: losses differ by %.2e relative" % worst
print("ok: 2 hosts x 2 ranks (hier: shm within, TCP between) agree with one rank over 20 steps; "
      "worst relative loss difference %.1e" % worst)
PY

# The loss of host B's memory: in-memory checkpoints every step, a copy of each rank's at its partner on the
# other host; rank 2 dies after step 13, and host B's /dev/shm is emptied before the job resumes.
memory=(--set train.ckpt_in_memory_every=1 --set train.ckpt_every=10)
rc=0
TESSERA_FAULT='kill:rank=2,step=13' launch_two_hosts "$WORK/lost" "${memory[@]}" >"$WORK/lost.log" 2>&1 || rc=$?
[[ "$rc" != 0 ]] || { cat "$WORK/lost.log"; echo "FAIL: the job survived the kill of rank 2" >&2; exit 1; }
grep -q "a copy of it at its partner on the next host" "$WORK/lost.log" ||
  { cat "$WORK/lost.log"; echo "FAIL: the partners are not on the other host" >&2; exit 1; }
in_host_b sh -c 'rm -rf /dev/shm/tessera-*'
in_host_b sh -c 'ls /dev/shm' | grep -q tessera- && { echo "FAIL: host B's memory was not wiped" >&2; exit 1; }
echo "ok: rank 2 died after step 13 (exit $rc) and host B's memory is wiped"
rc=0
launch_two_hosts "$WORK/lost" "${memory[@]}" --resume >"$WORK/resumed.log" 2>&1 || rc=$?
cat "$WORK/resumed.log"
[[ "$rc" == 0 ]] || { echo "FAIL: the resumed job exited with $rc" >&2; exit 1; }
grep -q "checkpoints: step 13 from host memory (rank(s) 2,3 from their partners' copies)" "$WORK/resumed.log" ||
  { echo "FAIL: step 13 was not restored from host memory with host B's states from host A" >&2; exit 1; }
echo "ok: $(grep -o "checkpoints: step 13 from host memory.*" "$WORK/resumed.log")"
python3 - "$WORK/four/metrics.jsonl" "$WORK/lost/metrics.jsonl" <<'PY'
import json, sys
clean = [json.loads(l) for l in open(sys.argv[1])]
lost = [json.loads(l) for l in open(sys.argv[2])]
assert [r["step"] for r in lost] == list(range(1, 21)), [r["step"] for r in lost]
diff = [a["step"] for a, b in zip(clean, lost) if a["loss"] != b["loss"]]
assert not diff, "losses differ from the uninterrupted dp4 job at steps %s" % diff[:5]
print("ok: 20 steps bit-identical to the uninterrupted dp4 job")
PY
for run in four lost; do
  "$TESSERA" ckpt export "$WORK/$run/checkpoints/step_00000020" --out "$WORK/$run.safetensors" >/dev/null
done
cmp -s "$WORK/four.safetensors" "$WORK/lost.safetensors" ||
  { echo "FAIL: the final parameters differ from the uninterrupted dp4 job's" >&2; exit 1; }
echo "ok: final parameters bit-identical to the uninterrupted dp4 job's"
