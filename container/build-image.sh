#!/usr/bin/env bash
# Builds appos/agent:latest (and appos/agent:VERSION) from a built appos-agent binary:
#   container/build-image.sh PATH/TO/appos-agent
#   container/build-image.sh --base SUITE     only the Debian base appos/debian:SUITE
# The Debian base (appos/debian:trixie) is made once with debootstrap from
# the mirror this machine's apt uses, without documentation, translations
# or apt's caches; later builds reuse it.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
docker=/usr/bin/docker
[ -x "$docker" ] || docker=docker

# Makes appos/debian:SUITE unless it exists.
base() {
  local suite=$1 mirror root
  $docker image inspect "appos/debian:$suite" >/dev/null 2>&1 && return 0
  command -v debootstrap >/dev/null || { echo "debootstrap is missing (apt-get install debootstrap)" >&2; exit 1; }
  mirror=$(sed -n 's/^URIs: *\([^ ]*\/debian\)$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n1)
  [ -n "$mirror" ] || mirror=$(sed -n 's/^deb \(http[^ ]*\/debian\) .*/\1/p' /etc/apt/sources.list 2>/dev/null | head -n1)
  root=$(mktemp -d)
  echo "building the Debian $suite base with debootstrap (about a minute)" >&2
  debootstrap --variant=minbase "$suite" "$root" ${mirror:+"$mirror"} >/dev/null
  # What Debian's own slim images leave out, now and for every later package.
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/*.bin "$root"/var/lib/apt/lists/* \
    "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/*
  find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
  cat > "$root/etc/dpkg/dpkg.cfg.d/appos-slim" <<'SLIM'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
SLIM
  tar -C "$root" -c . | $docker import - "appos/debian:$suite" >/dev/null
  rm -rf "$root"
}

if [ "${1:-}" = --base ]; then
  base "${2:?usage: build-image.sh --base SUITE}"
  echo "appos/debian:$2"
  exit 0
fi
agent=${1:?usage: build-image.sh PATH/TO/appos-agent}
base trixie

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
cp "$here/Dockerfile" "$here/rootfs.sh" "$ctx/"
cp "$agent" "$ctx/appos-agent"
# Tagged with the agent's version too, so that an install or upgrade names one exactly.
version=$("$agent" --version | awk '{print $2}')
$docker build -q --build-arg "VERSION=$version" -t appos/agent:latest -t "appos/agent:$version" "$ctx" >/dev/null
echo appos/agent:latest
