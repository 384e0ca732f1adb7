#!/usr/bin/env bash
# Debian packages the tests use, installed where missing:
# - chromium: the dashboard's browser test (driven by playwright-core; never a browser download);
# - dataset-fashion-mnist: the Fashion-MNIST example (IDX files under /usr/share/datasets/fashion-mnist).
# Without apt-get or root the tests that need them skip, saying why.
set -uo pipefail
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -d /usr/share/datasets/fashion-mnist ] || missing+=(dataset-fashion-mnist)
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null && sudo="sudo -n"
if ! command -v apt-get >/dev/null; then
  echo "system-deps: no apt-get here; tests needing ${missing[*]} will skip" >&2
  exit 0
fi
echo "system-deps: installing ${missing[*]} (Debian packages)" >&2
if ! { $sudo apt-get install -y -qq "${missing[@]}" >/dev/null || { $sudo apt-get update -qq >/dev/null && $sudo apt-get install -y -qq "${missing[@]}" >/dev/null; }; }; then
  echo "system-deps: could not install ${missing[*]}; tests needing them will skip" >&2
fi
exit 0
