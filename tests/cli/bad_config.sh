# Bad configs and command lines: one clear line naming the key, the expected and the found value; exit 1.
source "$(dirname "$0")/lib.sh"
cfg="$SRC/tests/configs/test_tiny.toml"
expect_error "unknown key 'train.lrr'" "$TESSERA" train "$cfg" --set train.lrr=1 --out "$WORK/r"
expect_error "train.lr: expected a number, found 'fast' (a string)" "$TESSERA" train "$cfg" --set train.lr=fast --out "$WORK/r"
expect_error "model.n_head: expected a divisor of model.n_embd (64), found 3" "$TESSERA" train "$cfg" --set model.n_head=3 --out "$WORK/r"
expect_error "model.n_layer: expected a positive integer, found 0" "$TESSERA" train "$cfg" --set model.n_layer=0 --out "$WORK/r"
expect_error "train.backend: expected \"fast\" or \"ref\", found \"gpu\"" "$TESSERA" train "$cfg" --set train.backend=gpu --out "$WORK/r"
expect_error "parallel.precision: expected \"fp32\" or \"bf16\" for training (fp8 is for \`tessera plan\` only), found \"fp8\"" "$TESSERA" train "$cfg" --set parallel.precision=fp8 --out "$WORK/r"
# A CPU without a oneDNN bf16 matmul (simulated by capping oneDNN at AVX2) refuses bf16 at startup.
expect_error "kernels: this CPU has no oneDNN bf16 matmul" env ONEDNN_MAX_CPU_ISA=AVX2 "$TESSERA" train "$cfg" --set parallel.precision=bf16 --data "$WORK/none" --out "$WORK/r"
expect_error "cannot open the file" "$TESSERA" train "$WORK/missing.toml"
printf '[model]\nn_layer = = 2\n' >"$WORK/syntax.toml"
expect_error "syntax.toml': line 2" "$TESSERA" train "$WORK/syntax.toml"
expect_error "no data; hint: pass --data DIR" "$TESSERA" train "$cfg" --out "$WORK/r"
expect_error "parallel: dp(1)*tp(2)*pp(1)*cp(1)=2 != world_size(1)" "$TESSERA" train "$cfg" --set parallel.tp=2 --out "$WORK/r"
[ ! -e "$WORK/r/checkpoints" ] || [ -z "$(ls "$WORK/r/checkpoints")" ] || fail "a failed start wrote checkpoints"
# Absurd sizes and values: one line, before any large allocation (never bad_alloc, a hang or a crash).
expect_error "needs ~" "$TESSERA" train "$cfg" --data "$FORTUNES" --set model.n_embd=1000000000 --set model.n_head=1 --out "$WORK/r"
expect_error "needs ~" "$TESSERA" train "$cfg" --data "$FORTUNES" --set train.micro_batch=4000000000000 --out "$WORK/r"
expect_error "needs ~" timeout 20 "$TESSERA" train "$cfg" --data "$FORTUNES" --set model.n_layer=100000000000 --out "$WORK/r"
expect_error "train.eval_batches: expected at most 100000" "$TESSERA" train "$cfg" --set train.eval_batches=1000000000000000 --out "$WORK/r"
expect_error "train.threads: expected at most 1024" "$TESSERA" train "$cfg" --set train.threads=100000 --out "$WORK/r"
expect_error "train.lr: expected a finite number, found inf" "$TESSERA" train "$cfg" --set train.lr=inf --out "$WORK/r"
expect_error "train.global_batch: expected >= 0" "$TESSERA" train "$cfg" --set train.global_batch=-5 --out "$WORK/r"

# Configs that are not configs (issue 7): refused in one line before anything is read, trained or written.
mkdir -p "$WORK/cfgdir"
expect_error "config '$WORK/cfgdir': expected a regular file, found a directory" "$TESSERA" train "$WORK/cfgdir" --out "$WORK/r"
expect_error "expected a regular file, found a character device" timeout 10 "$TESSERA" train /dev/zero --out "$WORK/r"
expect_error "expected a regular file, found a character device" timeout 10 "$TESSERA" train /dev/urandom --out "$WORK/r"
mkfifo "$WORK/fifo"
expect_error "expected a regular file, found a FIFO" timeout 10 "$TESSERA" train "$WORK/fifo" --out "$WORK/r"
head -c 2000000 /dev/zero | tr '\0' '#' >"$WORK/huge.toml"
expect_error "expected a file of at most 1048576 bytes, found 2000000 bytes" "$TESSERA" train "$WORK/huge.toml" --out "$WORK/r"
: >"$WORK/empty.toml"
expect_error "model.n_layer: expected an integer (every config must set it), found nothing" "$TESSERA" train "$WORK/empty.toml" --out "$WORK/r"
printf '[modle]\nn_layer = 2\n' >"$WORK/typo.toml"
expect_error "model.n_layer: expected an integer (every config must set it), found nothing" "$TESSERA" train "$WORK/typo.toml" --out "$WORK/r"
[ ! -e "$WORK/r" ] || fail "a refused config created the run directory"

# Numbers on the command line: Tessera's words, no clamping, no NaN (issue 7).
expect_error "tessera train: --steps: expected an integer >= 1, found 99999999999999999999 (too large for a 64-bit integer); hint: tessera train --help" \
  "$TESSERA" train "$cfg" --steps 99999999999999999999
expect_error "tessera train: --steps: expected an integer >= 1, found 0" "$TESSERA" train "$cfg" --steps 0
expect_error "--steps: expected an integer >= 1, found 'ten'" "$TESSERA" train "$cfg" --steps ten
expect_error "train.steps: expected an integer between -2^63 and 2^63-1, found 99999999999999999999" \
  "$TESSERA" train "$cfg" --set train.steps=99999999999999999999
expect_error "tessera bench kernels: --seconds: expected a finite number in [0.001, 3600], found nan" "$TESSERA" bench kernels --seconds nan
for out in "$WORK/out.txt" "$WORK/err.txt"; do
  ! grep -q "not in range\|Run with --help\|(a string)" "$out" || fail "CLI11's own words leaked: $(cat "$out")"
done
[ "$(wc -l <"$WORK/err.txt")" -eq 1 ] || fail "a bad command line printed more than one line: $(cat "$WORK/err.txt")"

# A schedule the layout cannot run is refused, never accepted and ignored.
expect_error "parallel.schedule = \"interleaved\" with parallel.pp = 1: interleaving needs several pipeline ranks" \
  "$TESSERA" train "$cfg" --set parallel.schedule=interleaved --set parallel.vpp=2 --data "$FORTUNES" --out "$WORK/r"
