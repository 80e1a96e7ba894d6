# In-memory checkpoints (issue 10): with train.ckpt_in_memory_every = 1 a rank killed after step 13 costs at
# most a step or two of work: the restart resumes from each rank's state in host memory (/dev/shm; it outlives
# the killed processes) instead of step 10, the newest one in storage, and the run ends with every loss and
# the final parameters bit-identical to an uninterrupted run. The host memory is given back at the end.
# (The loss of a host's memory, restored from the partners' copies, is tests/mpi/netns_hosts.sh's second job.)
source "$(dirname "$0")/../cli/lib.sh"
cfg="$SRC/tests/configs/test_tiny.toml"
common=(--data "$FORTUNES" --quiet --set train.threads=1 --set train.peak_gflops_per_thread=100
        --set train.eval_every=0 --set train.ckpt_every=10 --set train.micro_batch=4 --steps 30)

"$TESSERA" launch -n 2 "$cfg" "${common[@]}" --out "$WORK/clean"
TESSERA_FAULT='kill:rank=1,step=13' "$TESSERA" launch -n 2 --max-restarts 2 "$cfg" "${common[@]}" \
  --set train.ckpt_in_memory_every=1 --out "$WORK/memory" 2>"$WORK/memory.log" ||
  fail "the supervised run failed: $(tail -5 "$WORK/memory.log")"
shm_dir=$(sed -n 's/.*checkpoints: in host memory every 1 step(s) under \([^ ]*\) .*/\1/p' "$WORK/memory.log" | head -1)
[ -n "$shm_dir" ] || fail "the in-memory checkpoint directory is not logged: $(head -5 "$WORK/memory.log")"
grep -q "checkpoints: step 1[23] from host memory$" "$WORK/memory.log" ||
  fail "the restart did not resume from host memory at step 12 or 13: $(grep -i -E "resume|memory" "$WORK/memory.log")"
grep -q "resumed from '$shm_dir/[0-9a-fx]*/rank_0/step_0000001[23]' at step 1[23]" "$WORK/memory.log" ||
  fail "rank 0 did not load its own state from host memory: $(grep -i resume "$WORK/memory.log")"
echo "ok: $(grep -o "resumed from '$shm_dir[^']*' at step [0-9]*" "$WORK/memory.log")"
[ ! -e "$shm_dir" ] || fail "the host memory was not given back: $(ls -R "$shm_dir")"
echo "ok: $shm_dir removed at the end"

python3 - "$WORK" <<'PY'
import json, sys
work = sys.argv[1]
rows = lambda run: [json.loads(l) for l in open(f"{work}/{run}/metrics.jsonl")]
a, b = rows("clean"), rows("memory")
assert [r["step"] for r in b] == list(range(1, 31)), [r["step"] for r in b]
diff = [r["step"] for r, s in zip(a, b) if r["loss"] != s["loss"]]
assert not diff, f"losses differ from the uninterrupted run at steps {diff[:5]}"
died = [i for i in map(json.loads, open(f"{work}/memory/incidents.jsonl")) if i["kind"] == "rank_died"]
assert len(died) == 1 and died[0]["step"] == 13, died
assert "resumed from step 12" in died[0]["detail"] or "resumed from step 13" in died[0]["detail"], died[0]["detail"]
print(f"ok: 30 steps bit-identical; {died[0]['detail']}")
PY
same_final_parameters clean memory 00000030

expect_error "train.ckpt_in_memory_every" "$TESSERA" train "$cfg" "${common[@]}" --set train.ckpt_in_memory_every=-1 --out "$WORK/bad"
