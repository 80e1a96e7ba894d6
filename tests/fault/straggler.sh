# Stragglers (issue 10): TESSERA_FAULT makes rank 1 of three compute 80 ms longer in every step after step 5
# (a throttled node). Every step the ranks gather their compute time per section (waits for peers left out:
# in a synchronous step every rank waits as long as the slowest); rank 0 names a rank slower than 1.5x the
# median for 5 steps in a row, with the section where its time goes, in the log and incidents.jsonl.
source "$(dirname "$0")/../cli/lib.sh"
cfg="$SRC/tests/configs/test_tiny.toml"
TESSERA_FAULT='slow:rank=1,step=5,ms=80' \
  "$TESSERA" launch -n 3 "$cfg" --data "$FORTUNES" --quiet --set train.threads=1 --set train.peak_gflops_per_thread=100 \
  --set train.eval_every=0 --set train.micro_batch=2 --steps 30 --out "$WORK/run" 2>"$WORK/run.log" ||
  fail "the run failed: $(tail -5 "$WORK/run.log")"
grep -q "train: rank 1 is .*x slower than the median" "$WORK/run.log" || fail "no straggler warning: $(cat "$WORK/run.log")"
python3 - "$WORK/run/incidents.jsonl" <<'PY'
import json, sys
# Slow from step 6 on: reported once 5 slow steps are in a row (start-up noise may have made steps before 6
# count towards the episode too), once per episode.
found = [i for i in map(json.loads, open(sys.argv[1])) if i["kind"] == "straggler" and i["rank"] == 1 and i["step"] >= 6]
assert found, "no straggler incident for rank 1"
first = found[0]
assert first["step"] <= 20, first
assert "slow sections: forward" in first["detail"], first["detail"]
print(f"ok: {first['detail']}")
PY
expect_error "expected all of rank=R,step=S,ms=M" env TESSERA_FAULT='slow:rank=1,step=5' \
  "$TESSERA" train "$cfg" --data "$FORTUNES" --quiet --steps 2 --out "$WORK/bad"
