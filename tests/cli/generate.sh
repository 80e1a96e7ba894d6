# Sampling from a trained run: deterministic for a seed, different for another seed, greedy works, and
# bad arguments fail cleanly.
source "$(dirname "$0")/lib.sh"
cfg="$SRC/tests/configs/test_tiny.toml"
"$TESSERA" train "$cfg" --data "$FORTUNES" --out "$WORK/run" --steps 30 --quiet
"$TESSERA" generate "$WORK/run" --prompt "The" --max-tokens 20 --seed 1 >"$WORK/a.txt"
"$TESSERA" generate "$WORK/run" --prompt "The" --max-tokens 20 --seed 1 >"$WORK/b.txt"
"$TESSERA" generate "$WORK/run" --prompt "The" --max-tokens 20 --seed 2 --temperature 1.5 --top-k 0 >"$WORK/c.txt"
"$TESSERA" generate "$WORK/run/checkpoints/step_00000030" --prompt "The" --max-tokens 20 --temperature 0 >"$WORK/d.txt"
cmp "$WORK/a.txt" "$WORK/b.txt" || fail "same seed gave different text"
! cmp -s "$WORK/a.txt" "$WORK/c.txt" || fail "different seeds gave the same text"
grep -q "^The" "$WORK/a.txt" || fail "output does not start with the prompt: $(cat "$WORK/a.txt")"
[ "$(wc -c <"$WORK/a.txt")" -gt 10 ] || fail "nothing generated: $(cat "$WORK/a.txt")"
[ "$(wc -c <"$WORK/d.txt")" -gt 10 ] || fail "greedy generated nothing"
expect_error "is not a directory; hint: pass a step directory" "$TESSERA" generate "$WORK/nowhere" --prompt "x"
expect_error "--temperature: expected a finite number in [0, 100], found nan" "$TESSERA" generate "$WORK/run" --temperature nan
expect_error "--temperature: expected a finite number in [0, 100], found inf" "$TESSERA" generate "$WORK/run" --temperature inf
expect_error "--max-tokens: expected an integer >= 1, found 0" "$TESSERA" generate "$WORK/run" --max-tokens 0
echo "ok: $(head -c 200 "$WORK/a.txt")"
# A model whose vocabulary is padded beyond the tokenizer's trains and samples (only decodable ids).
"$TESSERA" train "$cfg" --data "$FORTUNES" --out "$WORK/padded" --steps 5 --set model.vocab_size=2112 --quiet
"$TESSERA" generate "$WORK/padded" --prompt "The" --max-tokens 20 --seed 3 --temperature 2 --top-k 0 >"$WORK/e.txt"
grep -q "^The" "$WORK/e.txt" || fail "padded-vocabulary model did not generate: $(cat "$WORK/e.txt")"
# The run's data directory got another tokenizer.model after training (an interrupted re-prepare):
# generate refuses it rather than decoding with the wrong pieces; --tokenizer given by hand is used.
cp -r "$FORTUNES" "$WORK/data"
"$TESSERA" train "$cfg" --data "$WORK/data" --out "$WORK/moved" --steps 2 --quiet
printf 'x' >>"$WORK/data/tokenizer.model"
expect_error "tokenizer.model does not match the tokenizer the shards were made with" \
  "$TESSERA" generate "$WORK/moved" --prompt "The" --max-tokens 5
"$TESSERA" generate "$WORK/moved" --prompt "The" --max-tokens 5 --tokenizer "$FORTUNES/tokenizer.model" >"$WORK/f.txt"
grep -q "^The" "$WORK/f.txt" || fail "generate with --tokenizer did not generate: $(cat "$WORK/f.txt")"
