#!/usr/bin/env bash
# Shared by run.sh and test.sh: installs what AppOS needs on Debian or Ubuntu
# and starts the services it uses. Every step checks first, so running it
# again does nothing new.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

log() { printf '\033[1;34m==>\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31merror:\033[0m %s\n' "$*" >&2; exit 1; }

# Build dependencies of the desktop app (Tauri/WebKitGTK) and the agent.
PKGS_BUILD=(build-essential pkg-config libssl-dev libwebkit2gtk-4.1-dev libxdo-dev
  libayatana-appindicator3-dev librsvg2-dev curl ca-certificates)
# What AppOS drives at run time.
PKGS_RUN=(docker.io docker-compose openssh-client restic)
# What the tests start: real sshd, Xvfb + WebKitWebDriver, keyring, redis, proxies, ACME.
PKGS_TEST=(openssh-server busybox-static redis-server xvfb xauth dbus dbus-x11 webkit2gtk-driver
  gnome-keyring libsecret-tools openssl debootstrap caddy nginx pebble procps iproute2 docker-registry python3-venv)

# Installed without recommends (Prometheus would bring node-exporter, ipmitool, ...);
# aiosmtpd is the SMTP server alert emails are sent to.
PKGS_TEST_LEAN=(prometheus python3-aiosmtpd)

install_packages() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q ${APT_OPTS:-} "${missing[@]}"
  fi
}

check_toolchains() {
  command -v cargo >/dev/null || die "Rust is missing: install it with rustup (https://rustup.rs), then run this again"
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    install_packages nodejs npm
  fi
  local major
  major=$(node -p 'process.versions.node.split(".")[0]')
  [ "$major" -ge 20 ] || die "Node.js $(node --version) is too old for the frontend build: install Node.js 20 or newer"
}

# Cargo builds go outside the clone when we may write there, so CI reuses them.
use_shared_target_dir() {
  if [ -z "${CARGO_TARGET_DIR:-}" ]; then
    if mkdir -p /var/cache/appos/target 2>/dev/null && [ -w /var/cache/appos/target ]; then
      export CARGO_TARGET_DIR=/var/cache/appos/target
    else
      export CARGO_TARGET_DIR="$ROOT/target"
    fi
  fi
  log "cargo target dir: $CARGO_TARGET_DIR"
}

docker_ok() { timeout 10 /usr/bin/docker info >/dev/null 2>&1; }

start_dockerd() {
  if docker_ok; then return; fi
  if [ -d /run/systemd/system ]; then
    $SUDO systemctl start docker || true
  fi
  if ! docker_ok; then
    log "starting dockerd"
    $SUDO sh -c 'nohup dockerd >/var/log/appos-dockerd.log 2>&1 &'
  fi
  local i
  for i in $(seq 1 60); do
    docker_ok && return
    sleep 1
  done
  die "dockerd did not start; see /var/log/appos-dockerd.log"
}

build_frontend() {
  cd "$ROOT/src-ui"
  # npm ci only when the lock file changed since the last install.
  if [ ! -f node_modules/.package-lock.json ] || ! cmp -s package-lock.json node_modules/.appos-lock; then
    log "installing frontend dependencies"
    npm ci --no-audit --no-fund
    cp package-lock.json node_modules/.appos-lock
  fi
  log "building the frontend"
  npm run build --silent
  cd "$ROOT"
}

ensure_tauri_driver() {
  if ! command -v tauri-driver >/dev/null && [ ! -x "$HOME/.cargo/bin/tauri-driver" ]; then
    log "installing tauri-driver"
    cargo install tauri-driver --locked --version 2.1.0
  fi
}

# schemathesis (PyPI), the schema-driven fuzzer the agent's OpenAPI document
# is held to, in a venv beside the cargo cache; the tests find it through
# APPOS_SCHEMATHESIS.
ensure_schemathesis() {
  local base=/var/cache/appos
  mkdir -p "$base" 2>/dev/null && [ -w "$base" ] || base="${XDG_CACHE_HOME:-$HOME/.cache}/appos"
  local venv="$base/venv"
  if [ ! -x "$venv/bin/st" ]; then
    log "installing schemathesis into $venv"
    /usr/bin/python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check schemathesis
  fi
  export APPOS_SCHEMATHESIS="$venv/bin/st"
}

# Compose v2 (Go) beside Debian 12's v1, for the tests that hold the agent
# to both tools' rules (the .env round trip). Debian 13's package, pinned by
# its hash, unpacked into the cache; the tests find it through
# APPOS_COMPOSE_V2. The agent itself keeps using what it detects.
COMPOSE_V2_DEB=pool/main/d/docker-compose/docker-compose_2.26.1-4_amd64.deb
COMPOSE_V2_SHA256=47681197cb2b1ab88206b42a1a92fc75f50d9530a6322d03494a473eed0408ea
ensure_compose_v2() {
  local base=/var/cache/appos
  mkdir -p "$base" 2>/dev/null && [ -w "$base" ] || base="${XDG_CACHE_HOME:-$HOME/.cache}/appos"
  local dir="$base/compose-v2" bin="$base/compose-v2/usr/libexec/docker/cli-plugins/docker-compose"
  if [ ! -x "$bin" ]; then
    log "fetching docker-compose v2 (Debian 13) into $dir"
    mkdir -p "$dir"
    curl -fsSL --retry 3 -o "$dir/compose.deb" "http://deb.debian.org/debian/$COMPOSE_V2_DEB"
    echo "$COMPOSE_V2_SHA256  $dir/compose.deb" | sha256sum -c --quiet - || die "docker-compose v2 package hash mismatch"
    dpkg-deb -x "$dir/compose.deb" "$dir"
    rm -f "$dir/compose.deb"
  fi
  export APPOS_COMPOSE_V2="$bin"
}
