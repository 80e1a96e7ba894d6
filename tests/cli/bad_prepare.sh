# Bad input to tessera data prepare and data inspect: one line in Tessera's words on stderr (no CLI11 or
# SentencePiece internals), exit 1, and nothing created or removed where it was refused.
source "$(dirname "$0")/lib.sh"
expect_line() {
  expect_error "$@"
  [ "$(wc -l <"$WORK/err.txt")" -eq 1 ] || fail "more than one line on stderr of '${*:2}': $(cat "$WORK/err.txt")"
  if grep -qE '\.cc\(|Internal:|required_chars|trainer_spec|Run with --help' "$WORK/err.txt"; then
    fail "internals in the message of '${*:2}': $(cat "$WORK/err.txt")"
  fi
}
prepare() { "$TESSERA" data prepare "$@"; }
cd "$WORK"
printf 'hello world\n%%\nanother document here\n' >tiny.txt
: >empty.txt
mkdir nothing binaries
printf 'a\0b\0c' >binaries/x.bin
printf '\0\1\2binary' >binary.txt

# Inputs without text.
expect_line "empty corpus: 1 input file(s), 0 bytes, no document with text; hint:" prepare --input empty.txt --out o
expect_line "empty corpus: no text file under nothing" prepare --input nothing --out o
expect_line "empty corpus: no text file under binaries" prepare --input binaries --out o
expect_line "input 'binary.txt' looks binary" prepare --input binary.txt --out o
expect_line "input 'missing.txt': no such file or directory" prepare --input missing.txt --out o
[ ! -e o ] || fail "a refused prepare left its --out directory behind"
# Options: missing, not numbers, out of range.
expect_line "tessera data prepare: no output directory; hint: --out DIR" prepare --input tiny.txt
expect_line "tessera data prepare: no input; hint: --input" prepare --out o
for v in 0 1 259 1048577 99999999999999999999; do
  expect_line "--vocab-size $v is outside 260..1048576; hint: e.g. --vocab-size 8192" prepare --input tiny.txt --out o --vocab-size "$v"
done
expect_line "--vocab-size 'abc' is not a whole number" prepare --input tiny.txt --out o --vocab-size abc
expect_line "--vocab-size '12.5' is not a whole number" prepare --input tiny.txt --out o --vocab-size 12.5
expect_line "--shard-tokens 0 is outside 1.." prepare --input tiny.txt --out o --shard-tokens 0
expect_line "--val-fraction 'nan' is not a number" prepare --input tiny.txt --out o --val-fraction nan
expect_line "--val-fraction 1 is outside [0, 1)" prepare --input tiny.txt --out o --val-fraction 1
expect_line "--vocab-size and --tokenizer exclude each other" prepare --input tiny.txt --out o --vocab-size 300 --tokenizer x
# The corpus cannot fill the vocabulary, or its characters do not fit it: SentencePiece's failure in our words.
expect_line "tokenizer 'o/tokenizer.model': vocab size 5000 is more than this text can make (at most " \
  prepare --input tiny.txt --out o --vocab-size 5000
grep -qE "hint: use --vocab-size [0-9]+ or less" err.txt || fail "no vocab size hint: $(cat err.txt)"
python3 -c "
for i in range(200): print(''.join(chr(0x4e00 + (i * 20 + c) * 7 % 150) for c in range(20)))" >cjk.txt
expect_line "vocab size 300 is too small for this text (it needs at least " prepare --input cjk.txt --out o --vocab-size 300
python3 -c "print('x' * 6000)" >long.txt
expect_line "no line of the text is short enough to train a tokenizer on (lines over 4192 bytes are skipped)" \
  prepare --input long.txt --out o --vocab-size 300
[ ! -e o ] || fail "a failed prepare left its --out directory behind"
# A bad tokenizer to reuse.
printf 'junk' >junk.model
: >empty.model
expect_line "--tokenizer: tokenizer 'junk.model': not a tokenizer model (4 bytes that do not parse as a SentencePiece model)" \
  prepare --input tiny.txt --out o --tokenizer junk.model
expect_line "--tokenizer: tokenizer 'empty.model': not a tokenizer model (0 bytes" prepare --input tiny.txt --out o --tokenizer empty.model
expect_line "--tokenizer: cannot open 'missing.model'" prepare --input tiny.txt --out o --tokenizer missing.model
# An --out that cannot be made.
expect_line "--out: cannot create directory '/proc/version/sub'" prepare --input tiny.txt --out /proc/version/sub

# Issue 7: --out inside an --input directory read its own output and left the former dataset unusable.
# Every overlap, symlinks resolved, is refused before anything is created or removed.
mkdir corpus
cp tiny.txt corpus/
python3 -c "
import random
random.seed(2)
w = 'the a of and to in is it that was for on are with as his they be at one have this from by'.split()
for d in range(300): print(' '.join(random.choice(w) for _ in range(12))); print('%')" >corpus/more.txt
prepare --input corpus --out elsewhere --vocab-size 300 >/dev/null
cp -r elsewhere corpus/data
before=$(cd corpus/data && sha256sum ./*)
ln -s corpus link
expect_line "--out 'corpus/data' ($WORK/corpus/data) is inside the input 'corpus': prepare would read its own output; hint: write the dataset to a directory outside every --input" \
  prepare --input corpus --out corpus/data --vocab-size 300
expect_line "is inside the input 'link'" prepare --input link --out corpus/data --vocab-size 300
expect_line "--out 'link/new' ($WORK/corpus/new) is inside the input 'corpus'" prepare --input corpus --out link/new --vocab-size 300
expect_line "--out 'corpus' is the input 'corpus'" prepare --input corpus --out corpus --vocab-size 300
expect_line "--out 'corpus/tiny.txt' is the input 'corpus/tiny.txt'" prepare --input corpus/tiny.txt --out corpus/tiny.txt
expect_line "the input 'corpus/more.txt' ($WORK/corpus/more.txt) is inside --out '.'" prepare --input corpus/more.txt --out .
[ "$(cd corpus/data && sha256sum ./*)" = "$before" ] || fail "a refused prepare changed the former dataset"
[ ! -e corpus/new ] || fail "a refused prepare created its --out"
"$TESSERA" data inspect --verify corpus/data >/dev/null || fail "the former dataset no longer validates"

# data inspect.
expect_line "tessera data inspect: no path; hint: tessera data inspect DIR_OR_SHARD" "$TESSERA" data inspect
expect_line "tessera data inspect: 'missing': no such file or directory" "$TESSERA" data inspect missing
expect_line "data 'nothing': not a data directory (no dataset.json, no shards)" "$TESSERA" data inspect nothing
expect_line "--tokens 'abc' is not a whole number" "$TESSERA" data inspect elsewhere --tokens abc
expect_line "shard 'tiny.txt': file is $(stat -c %s tiny.txt) bytes, shorter than the 64-byte header" "$TESSERA" data inspect tiny.txt
expect_line "shard 'corpus/more.txt': bad magic" "$TESSERA" data inspect corpus/more.txt
