#!/usr/bin/env bash
# Runs every AppOS test against real components: dockerd, OpenSSH sshd, the
# agent, the CLI, and the desktop app in WebKit under Xvfb via tauri-driver.
# Installs and starts what is missing first (Debian/Ubuntu).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

install_packages "${PKGS_BUILD[@]}" "${PKGS_RUN[@]}" "${PKGS_TEST[@]}"
APT_OPTS=--no-install-recommends install_packages "${PKGS_TEST_LEAN[@]}"
check_toolchains
use_shared_target_dir
start_dockerd
ensure_tauri_driver
ensure_schemathesis
ensure_compose_v2
build_frontend

cd "$ROOT"
results=$(mktemp)
trap 'rm -f "$results"' EXIT

log "frontend unit tests"
set +e
npm --prefix src-ui test --silent 2>&1 | tee -a "$results"
ui_status=${PIPESTATUS[0]}
set -e

log "building every binary"
cargo build --workspace --bins

log "Rust tests (unit, agent, CLI over sshd, desktop end to end)"
set +e
cargo test --workspace --no-fail-fast -- --test-threads="${APPOS_TEST_THREADS:-4}" 2>&1 | tee -a "$results"
rust_status=${PIPESTATUS[0]}
set -e

# One closing line over both runners.
sed 's/\x1b\[[0-9;]*m//g' "$results" | awk '
  /^test result:/ { for (i = 1; i <= NF; i++) { if ($(i) ~ /^passed/) p += $(i-1); if ($(i) ~ /^failed/) f += $(i-1); if ($(i) ~ /^ignored/) s += $(i-1) } }
  /^ *Tests +[0-9]/ { for (i = 1; i <= NF; i++) { if ($(i) == "passed") p += $(i-1); if ($(i) == "failed") f += $(i-1); if ($(i) == "skipped") s += $(i-1) } }
  END { printf "%d passed, %d failed, %d skipped\n", p, f, s }'
[ "$ui_status" -eq 0 ] && [ "$rust_status" -eq 0 ]
