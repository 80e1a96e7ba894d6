# ABFT (issue 10): TESSERA_FAULT makes one matmul on rank 1 compute a wrong output (its largest element x2 or
# x1/2: a compute fault). The gradient all-reduce hands its effect to every replica alike, so comparing replicas
# cannot see it: without checksums the run ends silently with other parameters than an uninterrupted run. With
# train.abft_check_every = 1 the matmul's column checksum fails on rank 1 in that step, every rank rolls back to
# the newest checkpoint and replays, and the run ends bit-identical to the uninterrupted one. A clean run with
# checksums on raises no alarm.
source "$(dirname "$0")/../cli/lib.sh"
cfg="$SRC/tests/configs/test_tiny.toml"
common=(--data "$FORTUNES" --quiet --set train.threads=1 --set train.peak_gflops_per_thread=100
        --set train.eval_every=0 --set train.ckpt_every=4 --set train.micro_batch=2 --steps 20)

"$TESSERA" launch -n 2 "$cfg" "${common[@]}" --set train.abft_check_every=1 --out "$WORK/clean"
TESSERA_FAULT='matmul:rank=1,step=7' "$TESSERA" launch -n 2 "$cfg" "${common[@]}" --set train.abft_check_every=1 \
  --out "$WORK/abft" 2>"$WORK/abft.log" || fail "the run with ABFT failed: $(tail -5 "$WORK/abft.log")"
grep -q "rank 1: 1 of .* matmul checksums (ABFT) failed; the first: matmul_forward \[" "$WORK/abft.log" ||
  fail "rank 1 did not report the failed checksum: $(grep -i abft "$WORK/abft.log")"
TESSERA_FAULT='matmul:rank=1,step=7' "$TESSERA" launch -n 2 "$cfg" "${common[@]}" --set train.replica_check_every=1 \
  --out "$WORK/silent" 2>"$WORK/silent.log" || fail "the run without ABFT failed: $(tail -5 "$WORK/silent.log")"

python3 - "$WORK" <<'PY'
import json, os, sys
work = sys.argv[1]
rows = lambda run: [json.loads(l) for l in open(f"{work}/{run}/metrics.jsonl")]
incidents = lambda run: [json.loads(l) for l in open(f"{work}/{run}/incidents.jsonl")] if os.path.exists(f"{work}/{run}/incidents.jsonl") else []
assert not [i for i in incidents("clean") if i["kind"] == "abft_mismatch"], incidents("clean")
a, b = rows("clean"), rows("abft")
assert [r["step"] for r in b] == list(range(1, 21)), [r["step"] for r in b]
diff = [r["step"] for r, s in zip(a, b) if r["loss"] != s["loss"]]
assert not diff, f"losses differ from the uninterrupted run at steps {diff[:5]}"
found = [i for i in incidents("abft") if i["kind"] == "abft_mismatch"]
assert len(found) == 1 and found[0]["rank"] == 1 and found[0]["step"] == 7, found
assert "failed on rank(s) 1" in found[0]["detail"] and "rolled back to step 4" in found[0]["detail"], found[0]["detail"]
print(f"ok: abft: every loss bit-identical to the uninterrupted run; {found[0]['detail']}")
assert not incidents("silent"), incidents("silent")
print("ok: silent: the replicas agreed at every step (the fault reached them all alike): nothing raised")
PY
same_final_parameters clean abft 00000020
export_parameters silent 00000020
! cmp -s "$WORK/clean.safetensors" "$WORK/silent.safetensors" || fail "without ABFT the fault left no trace: the test injects nothing"
echo "ok: without ABFT the run ended with other parameters, silently"
expect_error "train.abft_check_every" "$TESSERA" train "$cfg" "${common[@]}" --set train.abft_check_every=-2 --out "$WORK/bad"
