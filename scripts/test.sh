#!/usr/bin/env bash
# Runs every AppOS test against real components: dockerd, OpenSSH sshd, the
# agent, the CLI, and the desktop app in WebKit under Xvfb via tauri-driver.
# Installs and starts what is missing first (Debian/Ubuntu).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

install_packages "${PKGS_BUILD[@]}" "${PKGS_RUN[@]}" "${PKGS_TEST[@]}"
check_toolchains
use_shared_target_dir
start_dockerd
ensure_tauri_driver
build_frontend

cd "$ROOT"
log "frontend unit tests"
npm --prefix src-ui test --silent

log "building every binary"
cargo build --workspace --bins

log "Rust tests (unit, agent, CLI over sshd, desktop end to end)"
cargo test --workspace --no-fail-fast -- --test-threads="${APPOS_TEST_THREADS:-4}"
