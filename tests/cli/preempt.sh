# Preemption: SIGTERM (what Slurm and every cluster scheduler send before they kill) lets the trainer finish
# its step, commit a checkpoint and exit with code 3; resuming from it gives the same parameters, byte for
# byte, as a run that was never interrupted. Two trainers on one run directory: the second is refused by
# name (the directory and the holder's pid) and the first one's files are untouched.
source "$(dirname "$0")/lib.sh"
cfg="$SRC/tests/configs/test_tiny.toml"
long=(--data "$FORTUNES" --steps 100000 --set train.ckpt_every=0 --set train.eval_every=0 --quiet)

"$TESSERA" train "$cfg" "${long[@]}" --out "$WORK/pre" 2>"$WORK/pre.log" &
pid=$!
rows() { [ -f "$1" ] && wc -l <"$1" || echo 0; }
for _ in $(seq 600); do [ "$(rows "$WORK/pre/metrics.jsonl")" -ge 5 ] && break; sleep 0.1; done
[ "$(rows "$WORK/pre/metrics.jsonl")" -ge 5 ] || fail "the trainer logged no steps"

# A second trainer on the same --out while the first runs: refused, naming the holder; nothing changes.
before=$(rows "$WORK/pre/metrics.jsonl")
cp "$WORK/pre/config.toml" "$WORK/config.before"
expect_error "run directory '$WORK/pre' is in use: '$WORK/pre/lock' is held by pid $pid" \
  "$TESSERA" train "$cfg" --data "$FORTUNES" --out "$WORK/pre" --steps 20 --quiet
expect_error "is held by pid $pid" "$TESSERA" train "$cfg" --data "$FORTUNES" --out "$WORK/pre" --steps 20 --resume --quiet
cmp "$WORK/pre/config.toml" "$WORK/config.before" || fail "the refused trainer rewrote config.toml"
[ "$(rows "$WORK/pre/metrics.jsonl")" -ge "$before" ] || fail "the refused trainer truncated metrics.jsonl"

kill -TERM "$pid"
rc=0; wait "$pid" || rc=$?
[ "$rc" -eq 3 ] || fail "SIGTERM: expected exit code 3 (preempted), got $rc: $(tail -2 "$WORK/pre.log")"
grep -q "stopped by SIGTERM after step [0-9]* with a committed checkpoint" "$WORK/pre.log" || fail "no stop line: $(cat "$WORK/pre.log")"
stopped=$(python3 -c "import json,sys; print(json.loads(open(sys.argv[1]).readlines()[-1])['step'])" "$WORK/pre/metrics.jsonl")
ckpt=$(printf "%s/pre/checkpoints/step_%08d" "$WORK" "$stopped")
[ -f "$ckpt/COMMIT" ] || fail "no committed checkpoint at the last logged step $stopped"
echo "ok: SIGTERM after step $stopped -> exit 3, checkpoint $ckpt"

# Resume to a common stopping point; the same run without the interruption must end byte-identical.
target=$((stopped + 5))
"$TESSERA" train "$cfg" "${long[@]}" --out "$WORK/pre" --resume --stop-at-step "$target"
"$TESSERA" train "$cfg" "${long[@]}" --out "$WORK/straight" --stop-at-step "$target"
final=$(printf "checkpoints/step_%08d/rank_00000.bin" "$target")
cmp "$WORK/pre/$final" "$WORK/straight/$final" || fail "the preempted and resumed run differs from the straight one"
echo "ok: preempted + resumed == uninterrupted at step $target"

# A trainer killed outright (kill -9) leaves its lock file but not its lock: the next run resumes.
"$TESSERA" train "$cfg" "${long[@]}" --out "$WORK/pre" --resume 2>/dev/null &
pid=$!
sleep 1
kill -9 "$pid"; wait "$pid" 2>/dev/null || true
"$TESSERA" train "$cfg" "${long[@]}" --out "$WORK/pre" --resume --stop-at-step $((target + 2)) || fail "a dead holder's lock blocked the resume"
echo "ok: a killed trainer's lock does not block the next run"
