# tessera launch: the mpirun command line it builds (--dry-run), its refusals (one line each), a real
# 2-rank run through it (output streamed, exit code passed through), and a SIGTERM to the launcher that
# stops the ranks after a committed checkpoint with kExitPreempted (3).
source "$(dirname "$0")/lib.sh"
cfg="$SRC/tests/configs/test_tiny.toml"
tessera_exe="$(readlink -f "$TESSERA")"

# The command line: one host (loopback listener, oversubscribed past the cores, dp = N), as root here.
line="$("$TESSERA" launch -n 1000 --dry-run "$cfg" --steps 5 --set train.lr=1e-3)"
root=""; [ "$(id -u)" = 0 ] && root=" --allow-run-as-root"
want="$(command -v mpirun) -q -n 1000 --mca oob_tcp_if_include lo --oversubscribe$root --bind-to none $tessera_exe train $cfg --steps 5 --set train.lr=1e-3 --set parallel.dp=1000"
[ "$line" = "$want" ] || fail "launch -n 1000: expected '$want', got '$line'"
echo "ok: $line"
line="$("$TESSERA" launch -n 1 --dry-run "$cfg" --set=parallel.dp=1)"
case "$line" in *"--oversubscribe"* | *"parallel.dp=1 "* | *"--set parallel.dp"*) fail "launch -n 1: $line" ;; esac
echo "ok: 1 rank, dp given by the user: $line"
# Several hosts: --host, no loopback scoping; TESSERA_MPI_INTERFACES scopes mpirun and goes to the ranks.
line="$(TESSERA_MPI_INTERFACES=10.9.0.0/24 "$TESSERA" launch -n 4 --hosts node1:2,node2:2 --dry-run "$cfg")"
case "$line" in
  *"-q -n 4 --host node1:2,node2:2 --mca oob_tcp_if_include 10.9.0.0/24 -x TESSERA_MPI_INTERFACES"*"train $cfg --set parallel.dp=4") ;;
  *) fail "launch --hosts: $line" ;;
esac
case "$line" in *" lo "*) fail "a multi-host launch is scoped to loopback: $line" ;; esac
echo "ok: $line"

# Refusals: one line each.
expect_error "--ranks: expected an integer in [1, 1048576], found 0" "$TESSERA" launch -n 0 "$cfg"
expect_error "--ranks is required" "$TESSERA" launch "$cfg"
expect_error "expected CONFIG.toml after the launch options, found nothing" "$TESSERA" launch -n 2
expect_error "--hosts: the ranks per host add up to 4, but -n is 3; hint: -n 4" \
  "$TESSERA" launch -n 3 --hosts a:2,b:2 --dry-run "$cfg"
expect_error "--hosts: expected HOST:RANKS[,HOST:RANKS...] with RANKS a positive integer, found 'b:0' in 'a:2,b:0'" \
  "$TESSERA" launch -n 2 --hosts a:2,b:0 --dry-run "$cfg"
expect_error "mpirun: not found on PATH; hint: install Open MPI" env PATH=/nonexistent "$TESSERA" launch -n 2 "$cfg"
expect_error "--mpirun: expected an executable, found '$WORK/nothing'" "$TESSERA" launch -n 2 --mpirun "$WORK/nothing" "$cfg"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
expect_error "already running under an MPI launcher" mpirun -q -n 1 "$TESSERA" launch -n 2 "$cfg"
unset OMPI_ALLOW_RUN_AS_ROOT OMPI_ALLOW_RUN_AS_ROOT_CONFIRM

# A real run: 2 ranks on shm (auto), the ranks' output streamed through, exit 0.
"$TESSERA" launch -n 2 "$cfg" --data "$FORTUNES" --out "$WORK/run" --steps 6 --quiet --set train.threads=1 \
  --set train.micro_batch=4 >"$WORK/run.log" 2>&1 || fail "launch -n 2 failed: $(cat "$WORK/run.log")"
grep -q "comm: dp axis of 2 ranks on shm (parallel.comm_backend = auto)" "$WORK/run.log" ||
  fail "the ranks' output did not come through: $(cat "$WORK/run.log")"
[ "$(wc -l <"$WORK/run/metrics.jsonl")" -eq 6 ] || fail "expected 6 steps in metrics.jsonl"
echo "ok: launch -n 2 trained 6 steps on shm: $(grep -o 'comm: dp axis.*' "$WORK/run.log" | head -1)"
# The ranks' error code and their one line come through.
expect_error "unknown key 'train.lrr'" "$TESSERA" launch -n 2 "$cfg" --set train.lrr=1 --out "$WORK/bad"

# SIGTERM to the launcher (a scheduler preempting it): the ranks finish their step, commit one checkpoint
# and exit 3, and so does launch.
"$TESSERA" launch -n 2 "$cfg" --data "$FORTUNES" --out "$WORK/long" --steps 100000 --set train.ckpt_every=0 \
  --set train.eval_every=0 --quiet --set train.threads=1 --set train.micro_batch=4 >"$WORK/long.log" 2>&1 &
launcher=$!
for _ in $(seq 600); do [ -f "$WORK/long/metrics.jsonl" ] && [ "$(wc -l <"$WORK/long/metrics.jsonl")" -ge 3 ] && break; sleep 0.1; done
[ -f "$WORK/long/metrics.jsonl" ] || fail "the long run did not start: $(cat "$WORK/long.log")"
kill -TERM "$launcher"
rc=0; wait "$launcher" || rc=$?
[ "$rc" -eq 3 ] || fail "SIGTERM to launch: expected exit 3, got $rc: $(tail -5 "$WORK/long.log")"
last=$(python3 -c "import json,sys; print(json.loads(open(sys.argv[1]).readlines()[-1])['step'])" "$WORK/long/metrics.jsonl")
[ -f "$(printf "%s/long/checkpoints/step_%08d/COMMIT" "$WORK" "$last")" ] || fail "no committed checkpoint at step $last"
echo "ok: SIGTERM to launch stopped both ranks after step $last with a committed checkpoint, exit 3"

# A rank that stops answering (SIGSTOP) is named in one line within parallel.comm_timeout_s, and the
# flight recorder of the rank that waited for it lands in the run directory.
"$TESSERA" launch -n 2 "$cfg" --data "$FORTUNES" --out "$WORK/hang" --steps 100000 --set train.ckpt_every=0 \
  --set train.eval_every=0 --quiet --set train.threads=1 --set train.micro_batch=4 --set parallel.comm_timeout_s=2 \
  >"$WORK/hang.log" 2>&1 &
launcher=$!
for _ in $(seq 600); do [ -f "$WORK/hang/metrics.jsonl" ] && [ "$(wc -l <"$WORK/hang/metrics.jsonl")" -ge 3 ] && break; sleep 0.1; done
rank1=$(pgrep -f -- "--out $WORK/hang" | while read -r p; do
  [ "$(readlink "/proc/$p/exe")" = "$tessera_exe" ] && tr '\0' '\n' <"/proc/$p/environ" | grep -qx OMPI_COMM_WORLD_RANK=1 && echo "$p"
done)
[ -n "$rank1" ] || fail "rank 1 of the hang run not found: $(cat "$WORK/hang.log")"
kill -STOP "$rank1"
rc=0; timeout 60 tail --pid="$launcher" -f /dev/null || fail "the job did not end after rank 1 stopped"
wait "$launcher" || rc=$?
[ "$rc" -eq 1 ] || fail "a stopped rank: expected exit 1, got $rc: $(tail -3 "$WORK/hang.log")"
# (rank 1 may stop before a step's gradient all-reduce on the dp axis (shm) or inside it, before reducing its
# slice, or before the per-step straggler timings all-gather or stop-signal agreement on the world axis (mpi):
# each names it)
grep -Eq "^tessera train: (stop signal: |step timings all-gather: )?(all_reduce|all_gather) #[0-9]+ on axis '(dp|world)' \(rank 0 of 2, (shm|mpi)\): (rank\(s\) 1 did not (arrive|finish reducing its slice) within the 2000 ms deadline|not complete within the 2000 ms deadline; missing rank\(s\) 1); .*flight recorder: $WORK/hang/flight_(dp|world)_rank0.txt" \
  "$WORK/hang.log" || fail "the stopped rank is not named: $(cat "$WORK/hang.log")"
dump=$(ls "$WORK/hang/"flight_*_rank0.txt | head -1)
head -1 "$dump" | grep -Eq "^tessera flight recorder axis=(dp|world) rank=0/2 backend=(shm|mpi) reason: (all_reduce|all_gather)" ||
  fail "no flight recorder dump in the run directory"
echo "ok: $(grep -Eo "(all_reduce|all_gather) #.*deadline" "$WORK/hang.log" | head -1); dump in the run directory"
