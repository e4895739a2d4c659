#!/usr/bin/env bash
# Installs what building and testing outbox-sync needs, and only what is missing.
# Safe to run again and again: every step checks first and says what it did.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'bootstrap: %s\n' "$*"; }
present=()

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    say "need root to run: $* (run this script as root or install sudo)"; exit 1
  fi
}

apt_updated=no
apt_install() {
  if [ "$apt_updated" = no ]; then
    say "apt-get update"
    as_root apt-get update -qq
    apt_updated=yes
  fi
  say "installing Debian packages: $*"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# Rust toolchain and the wasm target.
if ! command -v cargo >/dev/null; then
  say "cargo is missing: install Rust with rustup (https://rustup.rs), then run this again"; exit 1
fi
if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
else present+=(wasm32-target); fi
for component in rustfmt clippy; do
  if ! rustup component list --installed | grep -q "^$component"; then
    say "adding rustup component $component"
    rustup component add "$component"
  fi
done

# wasm-pack, and wasm-bindgen-cli at exactly the version in Cargo.lock
# (wasm-pack uses an installed wasm-bindgen of the right version instead of downloading one).
if ! command -v wasm-pack >/dev/null; then
  say "installing wasm-pack (about 2 minutes)"
  cargo install wasm-pack
else present+=(wasm-pack); fi
wb_version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
if [ -z "$wb_version" ]; then
  say "Cargo.lock names no wasm-bindgen version; run 'cargo generate-lockfile' first"; exit 1
fi
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$wb_version" ]; then
  say "installing wasm-bindgen-cli $wb_version (the version in Cargo.lock)"
  # Not --locked: its lock file asks for a crate version the registry lacks.
  cargo install wasm-bindgen-cli --version "$wb_version" --force
else present+=("wasm-bindgen-cli $wb_version"); fi

# A browser and its driver, from Debian (browser downloads are not possible here).
missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v chromedriver >/dev/null || missing+=(chromium-driver)
if [ ${#missing[@]} -gt 0 ]; then apt_install "${missing[@]}"; else present+=(chromium chromedriver); fi

# Firefox and WebKit (the Safari engine), for the wasm suite and the
# end-to-end tests in every engine. Module service workers need Firefox >= 147
# (Debian's firefox-esr from its security updates); geckodriver comes from
# crates.io; WebKitGTK's WebDriver runs its MiniBrowser under a virtual X
# display (xvfb-run; xauth is what xvfb-run needs beside Xvfb).
min_firefox=147
firefox_major() { firefox-esr --version 2>/dev/null | grep -Eo '[0-9]+' | head -n 1 || true; }
missing=()
if [ "$(firefox_major)" -ge "$min_firefox" ] 2>/dev/null; then present+=("firefox-esr $(firefox_major)"); else missing+=(firefox-esr); fi
if [ -x /usr/bin/WebKitWebDriver ]; then present+=(WebKitWebDriver); else missing+=(webkit2gtk-driver); fi
if command -v xvfb-run >/dev/null && command -v xauth >/dev/null; then present+=(xvfb-run); else missing+=(xvfb xauth); fi
if [ ${#missing[@]} -gt 0 ]; then apt_install "${missing[@]}"; fi
if ! [ "$(firefox_major)" -ge "$min_firefox" ] 2>/dev/null; then
  say "firefox-esr $(firefox_major) is too old: the service-worker tests need Firefox $min_firefox or newer;"
  say "enable Debian's security updates in the apt sources (they carry a newer firefox-esr) and run this again"
  exit 1
fi
# Read whole: geckodriver panics when a pipe closes before it finishes printing.
if gecko_version=$(geckodriver --version 2>/dev/null); then
  present+=("${gecko_version%%$'\n'*}")
else
  say "installing geckodriver (about 2 minutes)"
  cargo install geckodriver --locked
fi

# PostgreSQL, for the server's tests on PostgreSQL: scripts/postgres.sh runs a
# throwaway cluster from these binaries (nothing is started here).
if ! compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
  apt_install postgresql
else present+=(postgresql); fi
# openssl makes that cluster's throwaway CA and certificate (TLS tests).
if ! command -v openssl >/dev/null; then
  apt_install openssl
else present+=(openssl); fi

# Node.js for the package, the demo and the browser end-to-end tests.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  apt_install nodejs npm
fi
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "npm ci"
  npm ci --no-audit --no-fund --loglevel=error
else present+=(node_modules); fi

say "ready (already present: ${present[*]:-nothing})"
