# Ranks under mpirun (issue 7): a one-host job's ranks listen on no TCP socket (shared memory only); an
# error that every rank hits is printed once, one that only rank 1 hits names rank 1; SIGTERM to every rank
# (as Slurm's scancel does) stops all of them after the same step with one committed checkpoint, exit 3.
source "$(dirname "$0")/lib.sh"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
cfg="$SRC/tests/configs/test_tiny.toml"
dp2=(--set parallel.dp=2 --set train.micro_batch=4 --set train.threads=1)
long=(--data "$FORTUNES" --steps 100000 --set train.ckpt_every=0 --set train.eval_every=0 --quiet)

mpirun -q -n 2 "$TESSERA" train "$cfg" "${long[@]}" "${dp2[@]}" --out "$WORK/run" 2>"$WORK/run.log" &
launcher=$!
for _ in $(seq 600); do [ -f "$WORK/run/metrics.jsonl" ] && [ "$(wc -l <"$WORK/run/metrics.jsonl")" -ge 3 ] && break; sleep 0.1; done
ranks=$(pgrep -f -- "--out $WORK/run" | while read -r p; do [ "$(readlink "/proc/$p/exe")" = "$(readlink -f "$TESSERA")" ] && echo "$p"; done)
[ "$(echo "$ranks" | wc -w)" -eq 2 ] || fail "expected 2 rank processes, found: $ranks"
# Listening TCP sockets (state 0A) whose inode is one of the ranks' open sockets.
python3 - $ranks <<'PY'
import os, sys
inodes = set()
for pid in sys.argv[1:]:
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
listening = []
for table in ("/proc/net/tcp", "/proc/net/tcp6"):
    for line in open(table).readlines()[1:]:
        fields = line.split()
        if fields[3] == "0A" and fields[9] in inodes:
            listening.append((table, fields[1]))
assert not listening, "ranks listen on TCP: %s" % listening
print("ok: the 2 ranks own %d sockets, none listening on TCP" % len(inodes))
PY
kill -TERM $ranks
rc=0; wait "$launcher" || rc=$?
[ "$rc" -eq 3 ] || fail "SIGTERM to both ranks: expected exit 3, got $rc: $(tail -3 "$WORK/run.log")"
[ "$(grep -c "stopped by SIGTERM after step" "$WORK/run.log")" -eq 1 ] || fail "expected one stop line: $(cat "$WORK/run.log")"
last=$(python3 -c "import json,sys; print(json.loads(open(sys.argv[1]).readlines()[-1])['step'])" "$WORK/run/metrics.jsonl")
[ -f "$(printf "%s/run/checkpoints/step_%08d/COMMIT" "$WORK" "$last")" ] || fail "no committed checkpoint at step $last"
echo "ok: both ranks stopped after step $last with a committed checkpoint, exit 3"

# An error on every rank: one line, Tessera's, and nothing from Open MPI (mpirun -q).
rc=0; mpirun -q -n 2 "$TESSERA" train "$cfg" --set train.lrr=1 "${dp2[@]}" --out "$WORK/bad" 2>"$WORK/err.txt" || rc=$?
[ "$rc" -ne 0 ] || fail "a bad config succeeded under mpirun"
[ "$(grep -c . "$WORK/err.txt")" -eq 1 ] || fail "expected one line, got: $(cat "$WORK/err.txt")"
grep -q "^tessera train: config .*unknown key 'train.lrr'" "$WORK/err.txt" || fail "unexpected: $(cat "$WORK/err.txt")"
echo "ok: $(cat "$WORK/err.txt" | cut -c1-100)"
# An error on rank 1 only names it.
rc=0; mpirun -q -n 2 bash -c 'extra=(); [ "$OMPI_COMM_WORLD_RANK" = 1 ] && extra=(--set train.lrr=1); exec "$0" "$@" "${extra[@]}"' \
  "$TESSERA" train "$cfg" --data "$FORTUNES" "${dp2[@]}" --out "$WORK/bad1" --quiet 2>"$WORK/err.txt" || rc=$?
[ "$rc" -ne 0 ] || fail "a bad config on rank 1 succeeded"
grep -q "^tessera train (rank 1): config .*unknown key 'train.lrr'" "$WORK/err.txt" || fail "unexpected: $(cat "$WORK/err.txt")"
echo "ok: $(head -1 "$WORK/err.txt" | cut -c1-100)"
