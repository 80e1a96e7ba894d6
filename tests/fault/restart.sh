# The supervisor (issue 10): `tessera launch --max-restarts` survives a rank that dies (SIGKILL) and one that
# hangs (SIGSTOP), injected at fixed steps through TESSERA_FAULT, and then a soak of 20 kill -9s of random
# ranks at random moments (some during checkpoint writes). Each time the job restarts from its newest good
# checkpoint; the run finishes with every step's loss and the final parameters bit-identical to an
# uninterrupted run of the same layout (so no sample was skipped or repeated), and incidents.jsonl names each
# failure with its detection time.
source "$(dirname "$0")/../cli/lib.sh"
cfg="$SRC/tests/configs/test_tiny.toml"
# No MFU probe at each restart (a fixed peak), no evaluation: restarts are what is measured here.
common=(--data "$FORTUNES" --quiet --set train.threads=1 --set train.peak_gflops_per_thread=100
        --set train.eval_every=0 --set train.ckpt_every=2 --set train.keep_checkpoints=2
        --set train.micro_batch=4 --set parallel.comm_timeout_s=20)

"$TESSERA" launch -n 2 "$cfg" "${common[@]}" --steps 30 --out "$WORK/clean"
TESSERA_FAULT='kill:rank=1,step=9;hang:rank=0,step=20' \
  "$TESSERA" launch -n 2 --max-restarts 3 --hang-timeout 3 "$cfg" "${common[@]}" --steps 30 --out "$WORK/faults" \
  2>"$WORK/faults.log" || fail "the supervised run failed: $(tail -5 "$WORK/faults.log")"

# The soak: 20 kill -9s of a random rank, each a random 0.2-0.7 s after the restarted job steps again.
"$TESSERA" launch -n 2 "$cfg" "${common[@]}" --steps 4000 --out "$WORK/clean_long" --set train.log_every=100000
"$TESSERA" launch -n 2 --max-restarts 25 --hang-timeout 20 "$cfg" "${common[@]}" --steps 4000 \
  --out "$WORK/soak" --set train.log_every=100000 2>"$WORK/soak.log" &
launcher=$!
beat_pid() {  # the pid in rank $1's current heartbeat, if it is not a final one
  python3 -c 'import json,sys; b=json.load(open(sys.argv[1])); print("" if b.get("final") else b["pid"])' \
    "$WORK/soak/heartbeats/rank_0000$1.json" 2>/dev/null || true
}
kills=0
old=" "  # the pids of the attempt last shot at: the next kill waits for the restarted job's ranks
while [ "$kills" -lt 20 ] && kill -0 "$launcher" 2>/dev/null; do
  rank=$((RANDOM % 2))
  pid=$(beat_pid "$rank")
  if [ -z "$pid" ] || [[ "$old" == *" $pid "* ]]; then sleep 0.05; continue; fi  # not stepping (yet/again)
  sleep "0.$((RANDOM % 6 + 2))"
  if kill -9 "$pid" 2>/dev/null; then
    kills=$((kills + 1))
    old=" $pid $(beat_pid 0) $(beat_pid 1) "
  fi
done
wait "$launcher" || fail "the soak run failed after $kills kills: $(tail -5 "$WORK/soak.log")"
# Each kill -9 left the killed rank's buffer names in /dev/shm; the supervisor removed them after each attempt.
left=$(ls /dev/shm | grep "^tessera-p${launcher}a" || true)
[ -z "$left" ] || fail "the soak's killed ranks left shared memory behind: $left"
echo "ok: soak: nothing left in /dev/shm ($(grep -c "shared-memory segment" "$WORK/soak.log" || true) attempts cleaned up)"
[ "$kills" -ge 20 ] || fail "the soak ended after only $kills kills (the run was too short)"

python3 - "$WORK" "$kills" <<'PY'
import json, sys
work, kills = sys.argv[1], int(sys.argv[2])
def rows(run):
    return [json.loads(l) for l in open(f"{work}/{run}/metrics.jsonl")]
def incidents(run):
    return [json.loads(l) for l in open(f"{work}/{run}/incidents.jsonl")]
for clean, run, n in (("clean", "faults", 30), ("clean_long", "soak", 4000)):
    a, b = rows(clean), rows(run)
    assert [r["step"] for r in b] == list(range(1, n + 1)), f"{run}: steps logged {[r['step'] for r in b]}"
    diff = [r["step"] for r, s in zip(a, b) if r["loss"] != s["loss"]]
    assert not diff, f"{run}: losses differ from the uninterrupted run at steps {diff[:5]}"
    print(f"ok: {run}: {n} steps, every loss bit-identical to the uninterrupted run")
faults = incidents("faults")
kinds = [(i["kind"], i["rank"], i["step"]) for i in faults]
assert ("rank_died", 1, 9) in kinds, kinds
assert any(k == "rank_hung" and r == 0 and s == 20 for k, r, s in kinds), kinds
for i in faults:
    limit = 5.0 if i["kind"] == "rank_died" else 3.0 + 2.0
    assert i["detection_s"] < limit, i
    print(f"ok: {i['kind']} of rank {i['rank']} after step {i['step']}: detected in {i['detection_s']:.2f} s, "
          f"{i['time_lost_s']:.1f} s lost")
soak = [i for i in incidents("soak") if i["kind"] in ("rank_died", "rank_hung", "job_failed")]
assert len(soak) == kills, (len(soak), kills, [i["kind"] for i in soak])
restart = [i["time_lost_s"] for i in soak]
print(f"ok: soak: {kills} kills, {len(soak)} failure incidents, detection max {max(i['detection_s'] for i in soak):.2f} s, "
      f"time lost per incident median {sorted(restart)[len(restart) // 2]:.1f} s")
g = json.load(open(f"{work}/soak/goodput.json"))
print(f"ok: soak goodput {g}")
PY
# Final parameters: the committed step-4000 and step-30 checkpoints equal the uninterrupted runs' bit for bit.
same_final_parameters clean faults 00000030
same_final_parameters clean_long soak 00004000
