# Live training metrics for Prometheus (train.metrics_port): a running `tessera train` answers scrapes on
# loopback only, in the text format that Prometheus' own Python client parses (Debian's
# python3-prometheus-client, its text_string_to_metric_families), with values that follow the run; the
# port is refused when taken or out of range; metrics.jsonl records peak_rss_bytes, and `tessera report`
# draws it in the memory chart.
# Called as: prometheus.sh TESSERA_BIN TEST_DATA_DIR SOURCE_DIR BUILD_DIR
source "$3/tests/cli/lib.sh"
cfg="$SRC/tests/configs/test_tiny.toml"
PY=$(command -v /usr/bin/python3 || command -v python3)
"$PY" -c "import prometheus_client" 2>/dev/null ||
  fail "python3-prometheus-client is missing; scripts/setup.sh installs it"
port=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

"$TESSERA" train "$cfg" --data "$FORTUNES" --out "$WORK/run" --steps 100000 --set train.metrics_port="$port" \
  --set train.eval_every=20 --set train.ckpt_every=0 --quiet 2>"$WORK/train.err" &
TRAIN=$!
trap 'kill $TRAIN 2>/dev/null || true; cleanup_work' EXIT

# scrape OUT MIN_STEP: waits (≤ 120 s) until a scrape shows tessera_train_step >= MIN_STEP.
scrape() {
  for _ in $(seq 1200); do
    if curl -sf "http://127.0.0.1:$port/metrics" >"$1" 2>/dev/null &&
      awk -v min="$2" '$1 == "tessera_train_step" && $2 >= min { found = 1 } END { exit !found }' "$1"; then
      return 0
    fi
    kill -0 $TRAIN 2>/dev/null || fail "train exited: $(cat "$WORK/train.err")"
    sleep 0.1
  done
  fail "no scrape with tessera_train_step >= $2 within 120 s: $(cat "$1" 2>/dev/null)"
}
scrape "$WORK/a.txt" 25
scrape "$WORK/b.txt" "$(awk '$1 == "tessera_train_step" { print $2 + 5 }' "$WORK/a.txt")"
grep -q "metrics: Prometheus text on http://127.0.0.1:$port/metrics" "$WORK/train.err" ||
  fail "no log line naming the metrics address: $(cat "$WORK/train.err")"

"$PY" - "$WORK/a.txt" "$WORK/b.txt" "$port" <<'PY' || fail "scrapes: $(cat "$WORK/a.txt")"
import math, sys
from prometheus_client.parser import text_string_to_metric_families
def parse(path):
    families = {f.name: f for f in text_string_to_metric_families(open(path).read())}
    # Sample names: a counter family "x" has the sample "x_total".
    return families, {f.samples[0].name: f.samples[0].value for f in families.values()}
fa, a = parse(sys.argv[1])
fb, b = parse(sys.argv[2])
want = {"tessera_train_step": "gauge", "tessera_train_loss": "gauge", "tessera_train_val_loss": "gauge",
        "tessera_train_tokens_per_second": "gauge", "tessera_train_mfu": "gauge",
        "tessera_train_learning_rate": "gauge", "tessera_train_grad_norm": "gauge",
        "tessera_train_step_seconds": "gauge", "tessera_train_tokens": "counter",
        "tessera_train_peak_rss_bytes": "gauge", "process_resident_memory_bytes": "gauge",
        "tessera_train_last_step_timestamp_seconds": "gauge"}
for name, kind in want.items():
    assert name in fa, f"missing {name}: {sorted(fa)}"
    assert fa[name].type == kind, (name, fa[name].type, kind)
assert b["tessera_train_step"] >= a["tessera_train_step"] + 5, (a["tessera_train_step"], b["tessera_train_step"])
# tokens: 8 sequences x 64 tokens per step of test_tiny, counted since the process started (at step 0)
assert abs(a["tessera_train_tokens_total"] - 512 * a["tessera_train_step"]) < 1, a["tessera_train_tokens_total"]
assert b["tessera_train_tokens_total"] > a["tessera_train_tokens_total"]
assert 0 < a["tessera_train_loss"] < 10 and math.isfinite(a["tessera_train_val_loss"]), a
assert 0 < a["tessera_train_mfu"] <= 1 and a["tessera_train_tokens_per_second"] > 0, a
assert 0 < a["tessera_train_learning_rate"] <= 3e-3 and a["tessera_train_step_seconds"] > 0, a
assert a["process_resident_memory_bytes"] > 1 << 20, a
assert a["tessera_train_peak_rss_bytes"] >= a["process_resident_memory_bytes"] * 0.5, a
# Loopback only: the listening socket is bound to 127.0.0.1, not to every address.
port = int(sys.argv[3])
listening = [line.split()[1] for line in open("/proc/net/tcp").read().splitlines()[1:]
             if line.split()[3] == "0A" and int(line.split()[1].split(":")[1], 16) == port]
assert listening == ["0100007F:%04X" % port], listening
print(f"ok: scrapes parsed by prometheus_client at steps {a['tessera_train_step']:.0f} and {b['tessera_train_step']:.0f}; "
      f"loss {a['tessera_train_loss']:.3f}, val_loss {a['tessera_train_val_loss']:.3f}, mfu {a['tessera_train_mfu']:.3f}, "
      f"rss {a['process_resident_memory_bytes'] / 2**20:.1f} MiB; listening on 127.0.0.1 only")
PY

# The port is taken now: a second run is refused at start, naming it; an out-of-range port is refused.
expect_error "train.metrics_port: cannot listen on 127.0.0.1:$port" \
  "$TESSERA" train "$cfg" --data "$FORTUNES" --out "$WORK/second" --steps 5 --set train.metrics_port="$port" --quiet
expect_error "train.metrics_port" "$TESSERA" train "$cfg" --data "$FORTUNES" --out "$WORK/third" --steps 5 \
  --set train.metrics_port=70000 --quiet
kill -TERM $TRAIN
rc=0
wait $TRAIN || rc=$?
[ "$rc" = 3 ] || fail "train exited with $rc after SIGTERM (expected 3, preempted): $(tail -3 "$WORK/train.err")"
[ ! -e "$WORK/second/config.toml" ] || fail "the run refused for its metrics port wrote its run directory"

# Off by default (the resolved config says so), and every metrics.jsonl line has peak_rss_bytes, which the
# report draws in its memory chart.
"$TESSERA" train "$cfg" --data "$FORTUNES" --out "$WORK/plain" --steps 12 --quiet
grep -qE "^metrics_port = 0( |$)" "$WORK/plain/config.toml" || fail "config.toml does not show metrics_port = 0"
"$PY" - "$WORK/plain/metrics.jsonl" <<'PY' || fail "metrics.jsonl without peak_rss_bytes: $(head -2 "$WORK/plain/metrics.jsonl")"
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
assert len(rows) == 12 and all(r["peak_rss_bytes"] > 1 << 20 for r in rows), rows[0]
assert all(a["peak_rss_bytes"] <= b["peak_rss_bytes"] for a, b in zip(rows, rows[1:]))
PY
"$TESSERA" report "$WORK/plain" >/dev/null
grep -q ">peak_rss_bytes</text>" "$WORK/plain/report.html" || fail "the report has no peak_rss_bytes series"
! grep -q "records no memory column" "$WORK/plain/report.html" || fail "the report says there is no memory column"
echo "ok: prometheus"
