#!/usr/bin/env bash
# Runs AppOS on this machine: the desktop app, with "This computer" served by
# a local agent. Installs what is missing first (Debian/Ubuntu).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

install_packages "${PKGS_BUILD[@]}" "${PKGS_RUN[@]}"
check_toolchains
use_shared_target_dir
start_dockerd
if [ "$(id -u)" -ne 0 ] && ! id -nG | grep -qw docker; then
  log "note: you are not in the docker group; the local agent will report Docker as unreachable (sudo usermod -aG docker \$USER, then log in again)"
fi
build_frontend
log "building AppOS"
cargo build -p appos-agent -p appos-desktop
export APPOS_AGENT_BIN="$CARGO_TARGET_DIR/debug/appos-agent"
app="$CARGO_TARGET_DIR/debug/appos-desktop"
if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
  log "no display found: running under a virtual X server (xvfb-run)"
  install_packages xvfb xauth dbus
  exec xvfb-run -a -s "-screen 0 1280x820x24" dbus-run-session -- "$app" "$@"
fi
exec "$app" "$@"
