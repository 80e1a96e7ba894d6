#!/usr/bin/env python3
"""The table of bench/pipeline.sh: medians per layout of its runs, and `tessera plan calibrate`'s prediction of
each layout's median run from the kernel probe alone (nothing fitted to the measured step times).

Usage: bench/pipeline_table.py RESULTS.jsonl TESSERA PROBE.json CONFIG.toml [COMM_PROBE.json]
  (RESULTS.jsonl: one line per run as bench/pipeline.sh writes it; with TESSERA_BENCH_KEEP=DIR the runs stay in
  DIR, so a new planner can replan a measurement: bench/pipeline_table.py DIR/results.jsonl build/tessera
  DIR/probe.json DIR/config.toml DIR/comm_probe.json. COMM_PROBE: the mpi all-reduce the tp collectives are
  priced on; without it calibrate's fallback constant.)
"""
import json, statistics, subprocess, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
tessera, probe, config = sys.argv[2:5]
comm = ["--comm-probe", sys.argv[5]] if len(sys.argv) > 5 else []
layouts = list(dict.fromkeys(r["layout"] for r in rows))
numeric = [k for k in rows[0] if k not in ("layout", "file")]
med = {l: {k: statistics.median(r[k] for r in rows if r["layout"] == l) for k in numeric} for l in layouts}
base = med[layouts[0]]["tokens_per_s"]
print("| layout | tokens/s (median) | vs 1 rank | step s | planner s | error | micro-batches | bubble measured "
      "| planner bubble | ideal bubble | peak RSS (largest rank) | predicted |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for l in layouts:
    m = med[l]
    # The planner predicts the run whose step time is the layout's median, from the kernel probe alone.
    runs = sorted((r for r in rows if r["layout"] == l), key=lambda r: r["step_time_s"])
    chosen = runs[len(runs) // 2]
    plan = json.loads(subprocess.run([tessera, "plan", "calibrate", "--probe", probe, "--config", config, "--measured",
                                      chosen["file"], "--json"] + comm, check=True, capture_output=True, text=True).stdout)
    p, mb = m["pp"], m["micro_batches"]
    # ZB-H1: F = I = W; interleaved: v chunks shrink each fill/drain slot v-fold.
    ideal = (p - 1) / ((3 if "zb" in l else m["vpp"]) * mb + p - 1) if p > 1 else 0
    print(f"| {l} | {m['tokens_per_s']:.0f} | {m['tokens_per_s'] / base:.2f}x | {m['step_time_s']:.3f} | "
          f"{plan['step_time_s']:.3f} | {plan['error_percent']:+.1f}% | {mb:.0f} | {100 * m['bubble']:.1f}% | "
          f"{100 * plan['bubble_fraction']:.1f}% | {100 * ideal:.1f}% | {m['peak_rss_mib']:.0f} MiB | {m['predicted_mib']:.0f} MiB |")
