#!/usr/bin/env bash
# scripts/deps.sh - install the build and test dependencies of libcancelable.
#
# Usage: bash scripts/deps.sh [build | fuzz]
#   build: only what a build without the tests needs (the library, the
#          tool, the adapters and the examples: scripts/demo.sh), not the
#          test tools (cmocka, clang, a browser, nats-server, ...);
#   fuzz:  also what scripts/fuzz.sh needs (clang's libFuzzer runtime).
#
# Checks each Debian package (dpkg -s) and installs only what is missing with
# apt-get; runs `apt-get update` first only when something is missing.  Quiet
# and idempotent when everything is present.  Needs root (or sudo) only when
# it has something to install.
set -euo pipefail

packages=(cmake make gcc g++ clang clang-format pkg-config libcmocka-dev libjansson-dev uthash-dev binutils locales
  libmicrohttpd-dev libcurl4-openssl-dev python3 libuv1-dev libglib2.0-dev
  nats-server libnats-dev
  chromium chromium-driver python3-selenium)
# Locales the JSON tests write numbers under: a decimal comma (de_DE) and
# the Arabic decimal separator U+066B (ps_AF).  Made with localedef when
# missing (as root); without them /json/numbers-any-locale skips.
test_locales=(de_DE ps_AF)
# libFuzzer (libclang_rt.fuzzer) for the default clang: Debian 12 ships it
# in libclang-rt-14-dev, which libclang-rt-dev pulls in.
fuzz_packages=(libclang-rt-dev)
# A build with -DCX_BUILD_TESTS=OFF: the compiler, CMake, uthash, and the
# libraries of the adapters (each built when pkg-config finds its library);
# python3 for the examples' CMake (the echo server's client).
build_packages=(cmake make gcc pkg-config uthash-dev binutils python3
  libmicrohttpd-dev libuv1-dev libglib2.0-dev libnats-dev)

case "${1:-}" in
  "") ;;
  build)
    packages=("${build_packages[@]}")
    test_locales=()
    ;;
  fuzz) packages+=("${fuzz_packages[@]}") ;;
  *) echo "deps: unknown group '$1' (only 'build' or 'fuzz')" >&2; exit 2 ;;
esac

missing=()
for pkg in "${packages[@]}"; do
  if ! dpkg -s "$pkg" >/dev/null 2>&1; then
    missing+=("$pkg")
  fi
done

# Outside Debian (no dpkg), fall back to looking for the commands.
if ! command -v dpkg >/dev/null 2>&1; then
  missing=()
  for cmd in cmake make gcc g++ clang pkg-config nm; do
    command -v "$cmd" >/dev/null 2>&1 || missing+=("$cmd")
  done
  if ((${#missing[@]} > 0)); then
    echo "deps: missing ${missing[*]} and no dpkg/apt-get here;" \
      "install them by hand" >&2
    exit 1
  fi
  exit 0
fi

make_locales() {
  local have loc
  command -v localedef >/dev/null 2>&1 || return 0
  have=$(locale -a 2>/dev/null | tr 'A-Z' 'a-z')
  for loc in "${test_locales[@]}"; do
    grep -qx "$(tr 'A-Z' 'a-z' <<<"$loc").utf8" <<<"$have" && continue
    if [[ $(id -u) -ne 0 ]]; then
      echo "deps: locale $loc.UTF-8 is missing; run as root to make it" >&2
      continue
    fi
    localedef -i "$loc" -f UTF-8 "$loc.UTF-8" >/dev/null 2>&1 ||
      echo "deps: could not make the locale $loc.UTF-8" >&2
  done
}

if ((${#missing[@]} == 0)); then
  make_locales
  exit 0
fi

sudo=()
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo=(sudo)
  else
    echo "deps: missing ${missing[*]}; run as root to install them" >&2
    exit 1
  fi
fi

echo "deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq </dev/null >/dev/null
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" \
  </dev/null >/dev/null
make_locales
