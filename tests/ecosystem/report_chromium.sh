# tessera report (issue 13, "Pictures"): the HTML page of a run, rendered by headless Chromium (Debian's
# chromium, scripts/setup.sh) to a PNG, which must not be blank and must show the loss line (#1f77b4),
# the validation points (#d62728), the throughput line (#9467bd) and the checkpoint markers (#2ca02c); a run
# with a real incident (a quarantined checkpoint) shows it in orange (#e6550d) and its goodput bar (#7f7f7f: other).
# Chromium runs with no network features and a fresh profile; the page has no external resources.
# Called as: report_chromium.sh TESSERA_BIN TEST_DATA_DIR SOURCE_DIR BUILD_DIR
source "$3/tests/cli/lib.sh"
cfg="$SRC/tests/configs/test_tiny.toml"
CHROMIUM="$(command -v chromium || true)"
[ -n "$CHROMIUM" ] || fail "chromium is missing; scripts/setup.sh installs Debian's chromium"

"$TESSERA" train "$cfg" --data "$FORTUNES" --out "$WORK/run" --steps 40 --quiet
"$TESSERA" report "$WORK/run" >"$WORK/report.txt"
grep -q "40 steps, 2 checkpoints" "$WORK/report.txt" || fail "unexpected report summary: $(cat "$WORK/report.txt")"
page="$WORK/run/report.html"
[ "$(grep -o "<svg " "$page" | wc -l)" -eq 7 ] || fail "expected 6 charts and the goodput bar in $page"
grep -q "checkpoint step 40" "$page" || fail "no checkpoint marker for step 40"
! grep -qE "<script|src=|href=|url\(|@import" "$page" || fail "the page refers to something outside itself"

"$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
  --disable-component-update --disable-sync --user-data-dir="$WORK/profile" --hide-scrollbars \
  --window-size=1400,1100 --screenshot="$WORK/report.png" "file://$page" >"$WORK/chromium.log" 2>&1 ||
  fail "chromium could not render the page: $(tail -5 "$WORK/chromium.log")"
[ -s "$WORK/report.png" ] || fail "chromium wrote no screenshot: $(tail -5 "$WORK/chromium.log")"
/usr/bin/python3 "$SRC/tests/ecosystem/png_stats.py" "$WORK/report.png" 0.03 40 1f77b4 d62728 9467bd 2ca02c
[ -z "${TESSERA_KEEP_SCREENSHOT:-}" ] || cp "$WORK/report.png" "$TESSERA_KEEP_SCREENSHOT"

# Incidents and goodput, from a real incident: the newest checkpoint corrupted on disk is quarantined when the
# run resumes (a checkpoint_quarantined incident at step 40), and the resumed run writes goodput.json. The page
# marks the incident on all six charts and lists it (#e6550d), and draws the goodput bar.
cp -r "$WORK/run" "$WORK/incident"
/usr/bin/python3 - "$WORK/incident/checkpoints/step_00000040/rank_00000.bin" <<'PY'
import sys
data = bytearray(open(sys.argv[1], "rb").read())
data[1000] ^= 0x01
open(sys.argv[1], "wb").write(bytes(data))
PY
"$TESSERA" train "$cfg" --data "$FORTUNES" --out "$WORK/incident" --steps 45 --resume --quiet 2>"$WORK/incident.log" ||
  fail "the resume after a corrupt checkpoint failed: $(tail -3 "$WORK/incident.log")"
"$TESSERA" report "$WORK/incident" >"$WORK/incident.txt"
grep -q "1 incident, goodput" "$WORK/incident.txt" || fail "unexpected report summary: $(cat "$WORK/incident.txt")"
ipage="$WORK/incident/report.html"
markers=$(grep -o "<title>checkpoint_quarantined rank [0-9]* step 40</title>" "$ipage" | wc -l)
[ "$markers" -eq 6 ] || fail "expected the incident marked on 6 charts, found $markers"
grep -q '<td class="incident">checkpoint_quarantined</td>' "$ipage" || fail "the incident is not in the table"
grep -q "Goodput: effective training time [0-9.]*%" "$ipage" || fail "no goodput bar"
"$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
  --disable-component-update --disable-sync --user-data-dir="$WORK/profile" --hide-scrollbars \
  --window-size=1400,1700 --screenshot="$WORK/incident.png" "file://$ipage" >"$WORK/chromium.log" 2>&1 ||
  fail "chromium could not render the page: $(tail -5 "$WORK/chromium.log")"
/usr/bin/python3 "$SRC/tests/ecosystem/png_stats.py" "$WORK/incident.png" 0.03 40 1f77b4 2ca02c e6550d 7f7f7f
[ -z "${TESSERA_KEEP_SCREENSHOT:-}" ] || cp "$WORK/incident.png" "${TESSERA_KEEP_SCREENSHOT%.png}_incident.png"
echo "ok: incident marked on 6 charts and listed; goodput bar rendered"

# Bad input: one line each, nothing written.
expect_error "has no metrics.jsonl; hint" "$TESSERA" report "$WORK/nowhere"
expect_error "is a character device" "$TESSERA" report "$WORK/run" --out /dev/null
mkfifo "$WORK/pipe"
expect_error "is a FIFO" timeout 20 "$TESSERA" report "$WORK/run" --out "$WORK/pipe"
echo "{not json" >>"$WORK/run/metrics.jsonl"
expect_error "line 41: expected a JSON object" "$TESSERA" report "$WORK/run" --out "$WORK/other.html"
[ ! -e "$WORK/other.html" ] || fail "a refused report wrote its file"
echo "ok: report rendered by chromium"

# The planner's page (tessera plan --json → tessera report PLAN.json), rendered the same way: the memory
# bar (weights #1f77b4, optimizer #2ca02c), the step-time bars (exposed dp comm #d62728, bubble #9467bd) and
# the step timeline (one row per pipeline stage, its idle time #e8e8e8), 8 stages × 1 micro-batch × F and B.
"$TESSERA" plan --model gpt3-175b --gpus 1024 --tp 8 --pp 8 --json >"$WORK/plan.json"
"$TESSERA" report "$WORK/plan.json" | grep -q "wrote $WORK/plan.html: plan page" || fail "no plan page written"
grep -q "Step timeline (simulated pipeline schedule, bubble 87.5%)" "$WORK/plan.html" || fail "no step timeline"
[ "$(grep -o "<title>stage [0-7] [FB]0 " "$WORK/plan.html" | wc -l)" -eq 16 ] || fail "expected 16 ops on the timeline"
! grep -qE "<script|src=|href=|url\(|@import" "$WORK/plan.html" || fail "the plan page refers to something outside itself"
"$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
  --disable-component-update --disable-sync --user-data-dir="$WORK/profile" --hide-scrollbars \
  --window-size=1000,1000 --screenshot="$WORK/plan.png" "file://$WORK/plan.html" >"$WORK/chromium.log" 2>&1 ||
  fail "chromium could not render the plan page: $(tail -5 "$WORK/chromium.log")"
/usr/bin/python3 "$SRC/tests/ecosystem/png_stats.py" "$WORK/plan.png" 0.03 40 1f77b4 2ca02c d62728 9467bd e8e8e8
echo '{"step_time_s": 1}' >"$WORK/bad_plan.json"
expect_error "bad_plan.json: memory_gib: expected an object, found nothing" "$TESSERA" report "$WORK/bad_plan.json"
echo "ok: plan page rendered by chromium"
