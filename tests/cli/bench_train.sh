# `tessera bench train --json` prints one JSON object with the documented fields and sane values.
source "$(dirname "$0")/lib.sh"
"$TESSERA" bench train "$SRC/tests/configs/test_tiny.toml" --steps 3 --warmup 1 --threads 1 --json >"$WORK/b.json"
python3 - "$WORK/b.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
for key in ("tokens_per_s", "model_flops_per_s", "peak_rss_mib", "mfu", "step_time_s"):
    assert key in r and r[key] > 0, key
assert abs(r["tokens_per_s"] * r["step_time_s"] - 8 * 64) < 1e-6 * 512, r
assert r["threads"] == 1 and r["batch_size"] == 8 and r["seq_len"] == 64, r
print("ok:", {k: r[k] for k in ("tokens_per_s", "mfu", "peak_rss_mib")})
PY
