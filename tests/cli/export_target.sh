# `ckpt export --out` never replaces what it must not (issue 7): a device, a FIFO, a directory, a link,
# anything inside a checkpoint (the checkpoint's own data file), or an existing file without --force.
# Each refusal is one line naming the path and what was found, exit 1, and the target is left as it was.
# Devices are only ever named read-only (/dev/null is lstat()ed, never opened); the FIFO is our own.
source "$(dirname "$0")/lib.sh"
cfg="$SRC/tests/configs/test_tiny.toml"
"$TESSERA" train "$cfg" --data "$FORTUNES" --out "$WORK/run" --steps 5 --quiet
ckpt="$WORK/run/checkpoints/step_00000005"
sum_before="$(sha256sum "$ckpt"/* | sha256sum)"

mkfifo "$WORK/pipe"
# A FIFO used to hang the export (open for writing blocks): bound it, so a regression fails, not hangs.
expect_error "'$WORK/pipe' is a FIFO; expected a regular file or a new path" \
  timeout 20 "$TESSERA" ckpt export "$ckpt" --out "$WORK/pipe" --force
[ -p "$WORK/pipe" ] || fail "the FIFO was replaced"
expect_error "'/dev/null' is a character device; expected a regular file or a new path" \
  "$TESSERA" ckpt export "$ckpt" --out /dev/null --force
[ -c /dev/null ] || fail "/dev/null is no longer a character device"
expect_error "'$WORK' is a directory" "$TESSERA" ckpt export "$ckpt" --out "$WORK"
ln -s "$WORK/elsewhere.safetensors" "$WORK/link.safetensors"
expect_error "is a symbolic link" "$TESSERA" ckpt export "$ckpt" --out "$WORK/link.safetensors" --force

# Inside the checkpoint: its own data file, a new file in the step directory, the checkpoints/ directory,
# also through a path with '..' and with --force.
expect_error "'$ckpt/rank_00000.bin' is inside the checkpoint directory '$ckpt'" \
  "$TESSERA" ckpt export "$ckpt" --out "$ckpt/rank_00000.bin" --force
expect_error "is inside the checkpoint directory" "$TESSERA" ckpt export "$ckpt" --out "$ckpt/model.safetensors"
expect_error "is inside the checkpoint directory '$WORK/run/checkpoints'" \
  "$TESSERA" ckpt export "$ckpt" --out "$WORK/run/checkpoints/model.safetensors"
expect_error "is inside the checkpoint directory" \
  "$TESSERA" ckpt export "$ckpt" --out "$WORK/run/checkpoints/../checkpoints/step_00000005/manifest.json" --force
[ "$(sha256sum "$ckpt"/* | sha256sum)" = "$sum_before" ] || fail "a refused export changed the checkpoint"
"$TESSERA" ckpt verify "$ckpt" >/dev/null || fail "the checkpoint no longer verifies"

# An existing regular file: refused without --force (and left as it was), replaced with it.
echo "keep me" >"$WORK/model.safetensors"
expect_error "'$WORK/model.safetensors' already exists (a regular file of 8 bytes); hint: pass --force" \
  "$TESSERA" ckpt export "$ckpt" --out "$WORK/model.safetensors"
[ "$(cat "$WORK/model.safetensors")" = "keep me" ] || fail "a refused export changed the existing file"
"$TESSERA" ckpt export "$ckpt" --out "$WORK/model.safetensors" --force >/dev/null
[ "$(head -c 8 "$WORK/model.safetensors" | od -An -tu8 | tr -d ' ')" -gt 0 ] || fail "not a safetensors file"
expect_error "does not exist" "$TESSERA" ckpt export "$ckpt" --out "$WORK/no/such/dir/x.safetensors"

# A failed export (corrupt checkpoint) leaves neither the target nor a temporary file behind.
cp -r "$WORK/run" "$WORK/bad"
python3 - "$WORK/bad/checkpoints/step_00000005/rank_00000.bin" <<'PY'
import sys
data = bytearray(open(sys.argv[1], 'rb').read()); data[100] ^= 1; open(sys.argv[1], 'wb').write(bytes(data))
PY
mkdir "$WORK/out"
expect_error "checksum" "$TESSERA" ckpt export "$WORK/bad/checkpoints/step_00000005" --out "$WORK/out/m.safetensors"
[ -z "$(ls -A "$WORK/out")" ] || fail "a failed export left files: $(ls -A "$WORK/out")"
echo "ok: export targets"
