# Slurm (issue 13, "Schedulers"): Debian's munged, slurmctld and slurmd started by this test on loopback
# (a one-node cluster in a temporary directory, ports chosen free), a 2-rank job submitted with sbatch
# (tests/ecosystem/slurm_train.sbatch, srun --mpi=pmix), and its losses equal, step by step, to the same
# job under mpirun. Skips (77) with the reason where the daemons cannot start (not root, no munge/slurm,
# a container that refuses them).
# Called as: slurm.sh TESSERA_BIN TEST_DATA_DIR SOURCE_DIR BUILD_DIR
source "$3/tests/cli/lib.sh"
skip() { echo "skip: $*"; exit 77; }
for tool in munged slurmctld slurmd sbatch srun; do
  command -v "$tool" >/dev/null || skip "$tool is missing; scripts/setup.sh installs Debian's slurm-wlm and munge"
done
[ "$(id -u)" -eq 0 ] || skip "slurmd must run as root to start jobs"
S="$WORK/slurm"
mkdir -p "$S/state" "$S/spool" "$S/log" "$S/munge" "$S/run"
stop_daemons() {
  for pid_file in "$S/run/slurmd.pid" "$S/run/slurmctld.pid" "$S/munge/munged.pid"; do
    [ -f "$pid_file" ] && kill "$(cat "$pid_file")" 2>/dev/null || true
  done
  sleep 0.5
}
trap 'stop_daemons; cleanup_work' EXIT
head -c 1024 /dev/urandom >"$S/munge/munge.key"
chmod 600 "$S/munge/munge.key"
munged --key-file="$S/munge/munge.key" --socket="$S/munge/munge.socket" --pid-file="$S/munge/munged.pid" \
  --log-file="$S/munge/munged.log" --seed-file="$S/munge/seed" -f >"$S/log/munged.out" 2>&1 ||
  skip "munged could not start: $(cat "$S/log/munged.out" "$S/munge/munged.log" 2>/dev/null | tail -3)"
read -r ctld_port slurmd_port < <(/usr/bin/python3 -c '
import socket
ports = []
socks = [socket.socket() for _ in range(2)]
for s in socks: s.bind(("127.0.0.1", 0)); ports.append(s.getsockname()[1])
print(*ports)')
host=$(hostname -s)
cat >"$S/slurm.conf" <<CONF
ClusterName=tessera-test
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
AuthType=auth/munge
AuthInfo=socket=$S/munge/munge.socket
CryptoType=crypto/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
ReturnToService=2
SlurmctldPidFile=$S/run/slurmctld.pid
SlurmdPidFile=$S/run/slurmd.pid
SlurmdSpoolDir=$S/spool
StateSaveLocation=$S/state
SlurmUser=root
SlurmdUser=root
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SlurmctldLogFile=$S/log/slurmctld.log
SlurmdLogFile=$S/log/slurmd.log
NodeName=$host NodeAddr=127.0.0.1 CPUs=$(nproc) State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
CONF
export SLURM_CONF="$S/slurm.conf"
slurmctld -f "$SLURM_CONF" -i >"$S/log/slurmctld.out" 2>&1 ||
  skip "slurmctld could not start: $(tail -3 "$S/log/slurmctld.out" "$S/log/slurmctld.log" 2>/dev/null)"
slurmd -f "$SLURM_CONF" >"$S/log/slurmd.out" 2>&1 ||
  skip "slurmd could not start: $(tail -3 "$S/log/slurmd.out" "$S/log/slurmd.log" 2>/dev/null)"
for _ in $(seq 100); do
  sinfo -h -o %t 2>/dev/null | grep -qx idle && break
  sleep 0.2
done
sinfo -h -o %t 2>/dev/null | grep -qx idle ||
  skip "the node did not become idle: $(sinfo 2>&1 | tail -2); $(tail -3 "$S/log/slurmd.log" 2>/dev/null)"
echo "ok: a one-node Slurm on 127.0.0.1:$ctld_port ($(sinfo -h -o '%P %t %N %c' 2>&1))"

cfg="$SRC/tests/configs/test_tiny.toml"
args="--steps 12 --set train.micro_batch=4 --set train.ckpt_every=6 --quiet"
sbatch --wait --output="$WORK/job.out" \
  --export=ALL,TESSERA="$TESSERA",CONFIG="$cfg",DATA="$FORTUNES",OUT="$WORK/slurm_run",EXTRA_ARGS="$args" \
  "$SRC/tests/ecosystem/slurm_train.sbatch" >"$WORK/sbatch.txt" 2>&1 ||
  fail "the sbatch job failed: $(cat "$WORK/sbatch.txt"; tail -5 "$WORK/job.out")"
echo "ok: $(cat "$WORK/sbatch.txt")"
grep -q "dp axis of 2 ranks" "$WORK/job.out" || fail "the job did not run 2 ranks: $(tail -5 "$WORK/job.out")"
OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 mpirun -n 2 --oversubscribe "$TESSERA" train "$cfg" \
  --data "$FORTUNES" --out "$WORK/mpirun_run" --set parallel.dp=2 $args 2>"$WORK/mpirun.err" ||
  fail "mpirun: $(tail -5 "$WORK/mpirun.err")"
/usr/bin/python3 - "$WORK/slurm_run/metrics.jsonl" "$WORK/mpirun_run/metrics.jsonl" <<'PY' || fail "losses differ"
import json, sys
a = [json.loads(l) for l in open(sys.argv[1])]
b = [json.loads(l) for l in open(sys.argv[2])]
assert len(a) == len(b) == 12, (len(a), len(b))
for x, y in zip(a, b):
    assert x["loss"] == y["loss"], (x["step"], x["loss"], y["loss"])
    assert x.get("val_loss") == y.get("val_loss"), (x["step"], x.get("val_loss"), y.get("val_loss"))
print(f"ok: 12 steps under sbatch/srun and under mpirun, losses equal bit for bit (last {a[-1]['loss']:.6f})")
PY
ls "$WORK/slurm_run/checkpoints" | grep -q step_00000012 || fail "no final checkpoint from the Slurm job"

# The supervisor inside the allocation: the same job through `tessera launch --max-restarts` (mpirun within
# the allocation), with rank 1 killed after step 8; it restarts from step 6 and every loss still equals mpirun's.
TESSERA_FAULT='kill:rank=1,step=8' sbatch --wait --output="$WORK/job2.out" \
  --export=ALL,TESSERA="$TESSERA",CONFIG="$cfg",DATA="$FORTUNES",OUT="$WORK/slurm_supervised",EXTRA_ARGS="$args",MAX_RESTARTS=2 \
  "$SRC/tests/ecosystem/slurm_train.sbatch" >"$WORK/sbatch2.txt" 2>&1 ||
  fail "the supervised sbatch job failed: $(cat "$WORK/sbatch2.txt"; tail -5 "$WORK/job2.out")"
# (The supervisor usually sees the dead pid first: rank_died; if mpirun's own exit wins: job_failed.)
grep -qE '"kind":"(rank_died","rank":1,"step":8|job_failed)' "$WORK/slurm_supervised/incidents.jsonl" ||
  fail "no rank_died incident: $(cat "$WORK/slurm_supervised/incidents.jsonl" 2>&1; tail -5 "$WORK/job2.out")"
/usr/bin/python3 - "$WORK/slurm_supervised/metrics.jsonl" "$WORK/mpirun_run/metrics.jsonl" <<'PY' || fail "losses differ"
import json, sys
a = [json.loads(l) for l in open(sys.argv[1])]
b = [json.loads(l) for l in open(sys.argv[2])]
assert [r["step"] for r in a] == list(range(1, 13)), [r["step"] for r in a]
for x, y in zip(a, b):
    assert x["loss"] == y["loss"], (x["step"], x["loss"], y["loss"])
print("ok: supervised in the allocation: rank 1 killed after step 8, restarted, 12 losses equal mpirun's bit for bit")
PY
# The report of the supervised job shows what happened: the incident in its table and the restart in the goodput.
"$TESSERA" report "$WORK/slurm_supervised" >"$WORK/report.txt" || fail "tessera report: $(cat "$WORK/report.txt")"
page="$WORK/slurm_supervised/report.html"
grep -qE '<td class="incident">(rank_died|job_failed)</td>' "$page" || fail "the report lists no rank_died incident"
grep -qE 'in [1-9][0-9]* restarts?, ' "$page" || fail "the report's goodput counts no restart: $(grep -o 'goodput</th><td>[^<]*' "$page")"
echo "ok: tessera report of the supervised job: $(cat "$WORK/report.txt")"
