# `tessera plan` end to end: a report and its JSON agree, validate prints one JSON object per CSV row plus a
# summary, search ranks layouts, and impossible inputs get one line naming the thing (exit 1 or 2, no crash).
source "$(dirname "$0")/lib.sh"
export TESSERA_CATALOG="$SRC/catalog"
"$TESSERA" plan --model llama3-70b --cluster dgx-h100-superpod --gpus 1024 --tp 8 --pp 4 --global-batch 512 \
  --recompute selective --precision bf16 --tokens 1e12 >"$WORK/report.txt"
grep -q "fits: needs" "$WORK/report.txt" || fail "no memory verdict: $(cat "$WORK/report.txt")"
"$TESSERA" plan --model llama3-70b --cluster dgx-h100-superpod --gpus 1024 --tp 8 --pp 4 --global-batch 512 \
  --recompute selective --precision bf16 --json >"$WORK/report.json"
"$TESSERA" plan validate "$SRC/tests/data/published_runs.csv" --json >"$WORK/validate.jsonl"
"$TESSERA" plan search --model llama3-8b --cluster dgx-h100-superpod --gpus 64 --global-batch 256 --top 3 >"$WORK/search.txt"
/usr/bin/python3 - "$WORK/report.json" "$WORK/validate.jsonl" "$SRC/tests/data/published_runs.csv" <<'PY'
import csv, json, sys
report = json.load(open(sys.argv[1]))
text = json.dumps(report)
for key in ("step_time_s", "tokens_per_s", "mfu_percent"):
    assert key in text, key
lines = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
rows = [l for l in lines if "row" in l]
data_rows = sum(1 for _ in csv.DictReader(open(sys.argv[3])))
assert len(rows) == data_rows, (len(rows), data_rows)
assert [r["row"] for r in rows] == list(range(data_rows))
predicted = [r for r in rows if r.get("step_time_s") is not None]
for r in predicted:
    for key in ("step_time_s", "tflops_per_gpu", "mfu_percent", "tokens_per_sec", "memory_gib_per_gpu"):
        assert key in r and r[key] is not None and r[key] > 0, (r["row"], key)
    assert r["memory_band"] in ("fits", "tight", "OOM"), r
summary = lines[-1]
assert summary["summary"] and summary["memory"]["fits"] + summary["memory"]["tight"] + summary["memory"]["oom"] == len(predicted)
assert summary["memory"]["error_vs_measured"]["count"] >= 14, summary["memory"]
print("ok: %d rows, %d predicted" % (len(rows), len(predicted)))
PY
# Frameworks and offload: the report names them, offloading layers lowers the activation memory.
"$TESSERA" plan --model llama3-70b --cluster gb200-nvl72 --gpus 64 --global-batch 256 --micro-batch 2 --zero 3 \
  --precision fp8 --framework nemo --json >"$WORK/nemo.json"
"$TESSERA" plan --model llama3-70b --cluster gb200-nvl72 --gpus 64 --global-batch 256 --micro-batch 2 --zero 3 \
  --precision fp8 --framework nemo --offload-layers 40 --json >"$WORK/nemo_offload.json"
/usr/bin/python3 - "$WORK/nemo.json" "$WORK/nemo_offload.json" <<'PY'
import json, sys
plain, offload = (json.load(open(f)) for f in sys.argv[1:3])
assert plain["layout"]["framework"] == "nemo" and offload["layout"]["offload_layers"] == 40, offload["layout"]
assert offload["memory_gib"]["activations"] < 0.6 * plain["memory_gib"]["activations"], (plain["memory_gib"], offload["memory_gib"])
assert plain["memory_gib"]["band"] == "OOM" and offload["memory_gib"]["band"] != "OOM", (plain["memory_gib"], offload["memory_gib"])
assert plain["memory_gib"]["offload_layers_to_fit"] > 0, plain["memory_gib"]
PY
# The suggested offload makes it fit, one layer fewer does not.
suggested=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["memory_gib"]["offload_layers_to_fit"])' "$WORK/nemo.json")
for n in "$suggested" "$((suggested - 1))"; do
  "$TESSERA" plan --model llama3-70b --cluster gb200-nvl72 --gpus 64 --global-batch 256 --micro-batch 2 --zero 3 \
    --precision fp8 --framework nemo --offload-layers "$n" --json >"$WORK/nemo_$n.json"
done
/usr/bin/python3 - "$WORK/nemo_$suggested.json" "$WORK/nemo_$((suggested - 1)).json" <<'PY'
import json, sys
enough, short = (json.load(open(f))["memory_gib"] for f in sys.argv[1:3])
assert enough["fits"] and not short["fits"], (enough, short)
PY
"$TESSERA" plan --model llama3-8b --cluster dgx-h100-superpod --gpus 8 --zero 3 --recompute selective \
  --framework torchtitan >"$WORK/titan.txt"
grep -q "framework=torchtitan" "$WORK/titan.txt" || fail "framework not reported: $(cat "$WORK/titan.txt")"
expect_error "--framework: expected generic | megatron | nemo | torchtitan, found 'jax'" \
  "$TESSERA" plan --model llama3-8b --gpus 8 --framework jax
expect_error "has no host link bandwidth" "$TESSERA" plan --model llama3-8b --cluster tpu-v5p-pod --gpus 64 --offload-layers 2
expect_error "offload layers: expected 0..20" "$TESSERA" plan --model llama3-70b --gpus 64 --pp 4 --offload-layers 21
[ "$(grep -c . "$WORK/search.txt")" -ge 3 ] || fail "search printed nothing: $(cat "$WORK/search.txt")"
expect_error "unknown model 'llama5'" "$TESSERA" plan --model llama5 --gpus 8
expect_error "model 'qwen3-next-80b-a3b' is not modelled: 36 of its 48 layers are Gated DeltaNet" \
  "$TESSERA" plan --model qwen3-next-80b-a3b --gpus 8
expect_error "--recompute-modules: module(s) mlp not modelled (expected norm" \
  "$TESSERA" plan --model qwen3-235b-a22b --gpus 256 --tp 4 --pp 8 --ep 8 --recompute-modules layernorm,mlp
# Megatron-Core's "moe" module: the whole MoE layer re-run in the backward — slower, fewer activations kept.
for modules in layernorm layernorm,moe; do
  "$TESSERA" plan --model qwen3-235b-a22b --cluster dgx-h100-superpod --gpus 256 --tp 4 --pp 8 --vpp 4 --ep 8 \
    --global-batch 256 --seq-len 16384 --framework megatron --zero 1 --recompute-modules "$modules" --json \
    >"$WORK/recompute_$modules.json"
done
/usr/bin/python3 - "$WORK/recompute_layernorm.json" "$WORK/recompute_layernorm,moe.json" <<'PY'
import json, sys
norm, moe = (json.load(open(p)) for p in sys.argv[1:3])
assert moe["step_time_s"] > norm["step_time_s"], (moe["step_time_s"], norm["step_time_s"])
assert moe["memory_gib"]["activations"] < 0.5 * norm["memory_gib"]["activations"], (moe["memory_gib"], norm["memory_gib"])
assert moe["layout"]["recompute"] == "none" and moe["layout"]["recompute_modules"] == "layernorm,moe", moe["layout"]
PY
# GEMM parts in another format (Nemotron 3 Super's NVFP4 recipe keeps these in bf16, Mamba's out_proj in MXFP8):
# slower than all-NVFP4 and more activations (bf16 saved inputs); bad items and too many layers refused by name.
super_fp4=(plan --model nemotron-3-super --cluster gb300-nvl72 --gpus 64 --ep 64 --global-batch 512 --precision fp4
  --framework nemo --json)
"$TESSERA" "${super_fp4[@]}" >"$WORK/super_fp4.json"
"$TESSERA" "${super_fp4[@]}" --gemm-parts "last=14,attention=bf16,moe_latent=bf16,mtp=bf16,mamba_out_proj=fp8" \
  >"$WORK/super_parts.json"
/usr/bin/python3 - "$WORK/super_fp4.json" "$WORK/super_parts.json" <<'PY'
import json, sys
fp4, parts = (json.load(open(p)) for p in sys.argv[1:3])
assert parts["step_time_s"] > 1.1 * fp4["step_time_s"], (parts["step_time_s"], fp4["step_time_s"])
assert parts["memory_gib"]["activations"] > fp4["memory_gib"]["activations"], (parts["memory_gib"], fp4["memory_gib"])
assert fp4["layout"]["gemm_parts"] == "", fp4["layout"]
assert parts["layout"]["gemm_parts"] == "last=14,attention=bf16,mamba_out_proj=fp8,moe_latent=bf16,mtp=bf16", parts["layout"]
PY
expect_error "--gemm-parts: expected first=N, last=N or PART=FORMAT (PART: attention" \
  "$TESSERA" plan --model nemotron-3-super --gpus 64 --ep 64 --precision fp4 --gemm-parts experts=bf16
expect_error "--gemm-parts: expected first + last bf16 layers within the model's 88 layers, found first=0 last=90" \
  "$TESSERA" plan --model nemotron-3-super --gpus 64 --ep 64 --precision fp4 --gemm-parts last=90
expect_error "unknown cluster 'nope'" "$TESSERA" plan --model llama3-8b --cluster nope --gpus 8
expect_error "tp*pp*cp=3 must divide the world size" "$TESSERA" plan --model llama3-8b --gpus 64 --tp 3
expect_error "--gpus" "$TESSERA" plan --model llama3-8b --gpus 0
expect_error "--top" "$TESSERA" plan search --model llama3-8b --gpus 64 --global-batch 64 --top -1
# Mixture of experts: a catalog MoE model with expert parallelism reports its experts, ep and the all-to-all;
# impossible ep is refused by name; search puts ep in the space; validate predicts the MoE rows.
"$TESSERA" plan --model deepseek-v3 --cluster gb200-nvl72 --gpus 256 --pp 4 --ep 64 --global-batch 4096 \
  --precision fp8 --framework nemo --zero 1 --json >"$WORK/moe.json"
"$TESSERA" plan --model deepseek-v3 --cluster gb200-nvl72 --gpus 256 --pp 4 --ep 8 --global-batch 4096 \
  --precision fp8 --framework nemo --zero 1 --json >"$WORK/moe_ep8.json"
# Token drop padded to capacity 1.25: every expert computes and sends its padded capacity.
"$TESSERA" plan --model deepseek-v3 --cluster gb200-nvl72 --gpus 256 --pp 4 --ep 64 --global-batch 4096 \
  --precision fp8 --framework nemo --zero 1 --capacity-factor 1.25 --pad-to-capacity --json >"$WORK/moe_padded.json"
expect_error "padding to capacity needs a capacity factor" "$TESSERA" plan --model deepseek-v3 --cluster gb200-nvl72 \
  --gpus 256 --pp 4 --ep 64 --global-batch 4096 --pad-to-capacity
# The same padded layers captured in CUDA graphs: no per-expert launch loop on the host, the same GPU work; dropless
# layers cannot be captured.
"$TESSERA" plan --model deepseek-v3 --cluster gb200-nvl72 --gpus 256 --pp 4 --ep 64 --global-batch 4096 \
  --precision fp8 --framework nemo --zero 1 --capacity-factor 1.25 --pad-to-capacity --moe-cuda-graph \
  --json >"$WORK/moe_graph.json"
/usr/bin/python3 - "$WORK/moe_padded.json" "$WORK/moe_graph.json" <<'PY'
import json, sys
eager, graph = (json.load(open(f)) for f in sys.argv[1:3])
assert graph["layout"]["moe_cuda_graph"] and not eager["layout"]["moe_cuda_graph"], graph["layout"]
assert 0 < graph["breakdown_s"]["moe_host_wait"] < eager["breakdown_s"]["moe_host_wait"], (eager["breakdown_s"], graph["breakdown_s"])
assert graph["breakdown_s"]["compute"] == eager["breakdown_s"]["compute"], (eager["breakdown_s"], graph["breakdown_s"])
PY
expect_error "CUDA graph of the MoE layers needs experts padded to capacity" "$TESSERA" plan --model deepseek-v3 \
  --cluster gb200-nvl72 --gpus 256 --pp 4 --ep 64 --global-batch 4096 --moe-cuda-graph
# A full-iteration graph captures dropless MoE too (static per-rank token budget): no host wait at all.
"$TESSERA" plan --model deepseek-v3 --cluster gb200-nvl72 --gpus 256 --pp 4 --ep 64 --global-batch 4096 \
  --precision fp8 --framework nemo --zero 1 --full-iteration-graph --json >"$WORK/moe_full_graph.json"
/usr/bin/python3 - "$WORK/moe.json" "$WORK/moe_full_graph.json" <<'PY'
import json, sys
eager, full = (json.load(open(f)) for f in sys.argv[1:3])
assert full["layout"]["full_iteration_graph"] and not eager["layout"]["full_iteration_graph"], full["layout"]
assert eager["breakdown_s"]["moe_host_wait"] > 0 and full["breakdown_s"]["moe_host_wait"] == 0, full["breakdown_s"]
assert full["breakdown_s"]["compute"] == eager["breakdown_s"]["compute"] and full["step_time_s"] < eager["step_time_s"]
PY
/usr/bin/python3 - "$WORK/moe.json" "$WORK/moe_ep8.json" "$WORK/validate.jsonl" "$WORK/moe_padded.json" <<'PY'
import json, sys
ep64, ep8 = (json.load(open(f)) for f in sys.argv[1:3])
padded = json.load(open(sys.argv[4]))
assert padded["layout"]["pad_to_capacity"] and not ep64["layout"]["pad_to_capacity"], padded["layout"]
assert padded["breakdown_s"]["compute"] > ep64["breakdown_s"]["compute"], (padded["breakdown_s"], ep64["breakdown_s"])
assert ep64["layout"]["ep"] == 64 and ep8["layout"]["ep"] == 8, ep64["layout"]
assert 670e9 < ep64["params"]["total"] < 700e9 and 35e9 < ep64["params"]["active_matmul"] < 42e9, ep64["params"]
assert ep64["breakdown_s"]["ep_comm"] > 0 and ep64["breakdown_s"]["moe_host_wait"] > 0, ep64["breakdown_s"]
# ep 8 holds 8x the experts per GPU (the dense part, attention and embeddings, stays).
assert ep8["memory_gib"]["weights"] > 3 * ep64["memory_gib"]["weights"], (ep8["memory_gib"], ep64["memory_gib"])
lines = [json.loads(l) for l in open(sys.argv[3]) if l.strip()]
moe = [l for l in lines if "row" in l and any(n in l["model"] for n in ("DeepSeek", "Qwen3", "GPT OSS", "Kimi", "Nemotron_3"))]
assert len(moe) >= 74 and sum(1 for l in moe if l.get("step_time_s")) >= 73, len(moe)
summary = lines[-1]
# >= 95% of all rows predicted (the issue's target, no row left out of the count): the refused rows name why — a
# published model the planner does not model says so ("is not modelled: ..."), none is left as an unknown name.
unknown = [l for l in lines if "row" in l and "not in the catalog" in (l.get("skipped") or "")]
assert not unknown, unknown[0]
unmodelled = [l for l in lines if "row" in l and "is not modelled:" in (l.get("skipped") or "")]
assert len(unmodelled) == 5, len(unmodelled)
assert summary["predicted"] * 100 >= summary["rows"] * 95, summary
assert summary["step_time_moe"]["count"] >= 70, summary["step_time_moe"]
assert summary["step_time_dense_held_out"]["count"] >= 25, summary["step_time_dense_held_out"]
# Each predicted row says what configuration it is and where its time went.
rows = [l for l in lines if "row" in l and l.get("step_time_s")]
assert all(l["config"] and l["breakdown_s"]["compute"] > 0 for l in rows), rows[0]
PY
# DeepSeek-V3 on 1024 H100 (ep 64 over 8 nodes): the deduplicating dispatcher sends a token once per remote node
# it reaches (4 of 8 with the model's node-limited routing), half the all-to-all dispatcher's NIC traffic; the
# all-to-all overlap hides part of what is left behind the paired micro-batch's compute.
for mode in alltoall dedup; do
  "$TESSERA" plan --model deepseek-v3 --cluster dgx-h100-superpod --gpus 1024 --tp 2 --pp 8 --vpp 4 --ep 64 \
    --global-batch 8192 --precision fp8 --framework nemo --zero 1 --ep-dispatcher $mode --json >"$WORK/dsv3_$mode.json"
done
"$TESSERA" plan --model deepseek-v3 --cluster dgx-h100-superpod --gpus 1024 --tp 2 --pp 8 --vpp 4 --ep 64 \
  --global-batch 8192 --precision fp8 --framework nemo --zero 1 --ep-overlap --json >"$WORK/dsv3_overlap.json"
/usr/bin/python3 - "$WORK/dsv3_alltoall.json" "$WORK/dsv3_dedup.json" "$WORK/dsv3_overlap.json" <<'PY'
import json, sys
a2a, dedup, overlap = (json.load(open(f)) for f in sys.argv[1:4])
assert a2a["layout"]["ep_dispatcher"] == "alltoall" and dedup["layout"]["ep_dispatcher"] == "dedup", dedup["layout"]
ratio = dedup["breakdown_s"]["ep_comm"] / a2a["breakdown_s"]["ep_comm"]
assert 0.45 < ratio < 0.55, ratio
assert overlap["layout"]["ep_overlap"] and 0 < overlap["breakdown_s"]["ep_comm"] < a2a["breakdown_s"]["ep_comm"], overlap
assert dedup["step_time_s"] < a2a["step_time_s"] and overlap["step_time_s"] < a2a["step_time_s"]
PY
expect_error "--ep-dispatcher: expected alltoall, dedup or hybridep, found 'nccl'" \
  "$TESSERA" plan --model deepseek-v3 --cluster gb200-nvl72 --gpus 256 --pp 4 --ep 64 --global-batch 4096 --ep-dispatcher nccl
expect_error "parallel.ep: expected ep(3)*etp(1) to divide tp*cp*dp (64)" \
  "$TESSERA" plan --model deepseek-v3 --cluster gb200-nvl72 --gpus 256 --pp 4 --ep 3 --global-batch 4096
expect_error "parallel.ep: expected 1 for a dense model" "$TESSERA" plan --model llama3-8b --gpus 8 --ep 2
"$TESSERA" plan search --model qwen3-30b-a3b --cluster dgx-h100-superpod --gpus 64 --global-batch 512 --top 3 \
  --json >"$WORK/moe_search.json"
/usr/bin/python3 -c '
import json, sys
top = json.load(open(sys.argv[1]))["top"]
assert top and all(c["layout"]["ep"] >= 1 for c in top), top
' "$WORK/moe_search.json"
# Failures in time-to-train and step time as a distribution: goodput-adjusted days and dollars beside the
# ideal ones, p50 <= p90 and both above the jitter-free step, growing with --step-jitter.
"$TESSERA" plan --model llama3-70b --cluster dgx-h100-superpod --gpus 1024 --tp 8 --pp 4 --global-batch 512 \
  --recompute selective --precision bf16 --tokens 1e12 --json >"$WORK/budget.json"
"$TESSERA" plan --model llama3-70b --cluster dgx-h100-superpod --gpus 1024 --tp 8 --pp 4 --global-batch 512 \
  --recompute selective --precision bf16 --tokens 1e12 --step-jitter 0.05 --json >"$WORK/budget_jitter.json"
/usr/bin/python3 - "$WORK/budget.json" "$WORK/budget_jitter.json" <<'PY'
import json, sys
plain, jitter = (json.load(open(f)) for f in sys.argv[1:3])
ideal, real = plain["budget"], plain["with_failures"]
assert real["train_hours"] > ideal["train_hours"] and real["rental_cost_usd"] > ideal["rental_cost_usd"], (ideal, real)
assert abs(real["train_hours"] * plain["reliability"]["goodput"] - ideal["train_hours"]) < 1e-6 * ideal["train_hours"]
assert plain["step_time_s"] < plain["step_time_p50_s"] <= plain["step_time_p90_s"], plain
assert jitter["step_time_p90_s"] > plain["step_time_p90_s"], (jitter["step_time_p90_s"], plain["step_time_p90_s"])
PY
grep -q "to train" "$WORK/report.txt" || fail "no failure-adjusted time-to-train: $(cat "$WORK/report.txt")"
grep -q "p50" "$WORK/report.txt" || fail "no step-time distribution: $(cat "$WORK/report.txt")"
expect_error "--step-jitter" "$TESSERA" plan --model llama3-8b --gpus 8 --step-jitter 2
# MFU at the peak of the precision the job runs in, beside the bf16-peak MFU.
"$TESSERA" plan --model llama3-70b --cluster dgx-h100-superpod --gpus 64 --tp 4 --pp 4 --global-batch 128 \
  --precision fp8 --json >"$WORK/fp8.json"
/usr/bin/python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))
assert abs(j["mfu_format_peak_percent"] * 2 - j["mfu_percent"]) < 0.01 * j["mfu_percent"], j  # H100 fp8 peak 1979 = 2x bf16 989
' "$WORK/fp8.json"
# Context parallelism as a ring or as Ulysses' all-to-all; a mode the planner does not know is refused.
"$TESSERA" plan --model llama3-8b --cluster dgx-h100-superpod --gpus 8 --cp 4 --seq-len 131072 --global-batch 2 \
  --cp-mode ulysses --json >"$WORK/ulysses.json"
/usr/bin/python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))
assert j["layout"]["cp_mode"] == "ulysses" and j["breakdown_s"]["cp_comm"] > 0, (j["layout"], j["breakdown_s"])
' "$WORK/ulysses.json"
expect_error "--cp-mode: expected ring or ulysses, found 'star'" \
  "$TESSERA" plan --model llama3-8b --gpus 8 --cp 4 --seq-len 131072 --cp-mode star
