# `tessera bench train --json` prints one JSON object with the documented fields and sane values; MFU is
# measured against the peak probed on this machine (never above 100%; the larger of a start-up and an end
# probe), or the configured one, which says so and is not probed.
source "$(dirname "$0")/lib.sh"
"$TESSERA" bench train "$SRC/tests/configs/test_tiny.toml" --steps 3 --warmup 1 --threads 1 --json >"$WORK/b.json"
"$TESSERA" bench train "$SRC/tests/configs/test_tiny.toml" --steps 1 --warmup 0 --threads 1 --json \
  --set train.peak_gflops_per_thread=1000 >"$WORK/configured.json"
python3 - "$WORK/b.json" "$WORK/configured.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
for key in ("tokens_per_s", "model_flops_per_s", "peak_rss_mib", "mfu", "step_time_s", "peak_flops_per_s"):
    assert key in r and r[key] > 0, key
assert abs(r["tokens_per_s"] * r["step_time_s"] - 8 * 64) < 1e-6 * 512, r
assert r["threads"] == 1 and r["batch_size"] == 8 and r["seq_len"] == 64, r
assert r["mfu"] <= 1.0, r
assert r["peak_source"].startswith("probed: fp32 FMA loop"), r["peak_source"]
assert r["peak_source"].endswith("the larger of the start-up and end probes"), r["peak_source"]
assert abs(r["mfu"] - r["model_flops_per_s"] / r["peak_flops_per_s"]) < 1e-9, r
c = json.load(open(sys.argv[2]))
assert c["peak_flops_per_s"] == 1000e9, c
assert c["peak_source"].startswith("configured: train.peak_gflops_per_thread = 1000"), c["peak_source"]
assert "probe" not in c["peak_source"], c["peak_source"]
print("ok:", {k: r[k] for k in ("tokens_per_s", "mfu", "peak_rss_mib", "peak_source")})
PY
