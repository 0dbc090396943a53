#!/usr/bin/env bash
# Builds appos/agent:latest (and appos/agent:VERSION) from a built appos-agent binary:
#   container/build-image.sh PATH/TO/appos-agent
# The Debian base (appos/debian:bookworm) is made once with debootstrap from
# the same mirror this machine's apt uses; later builds reuse it.
set -euo pipefail
agent=${1:?usage: build-image.sh PATH/TO/appos-agent}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
docker=/usr/bin/docker
[ -x "$docker" ] || docker=docker

if ! $docker image inspect appos/debian:bookworm >/dev/null 2>&1; then
  command -v debootstrap >/dev/null || { echo "debootstrap is missing (apt-get install debootstrap)" >&2; exit 1; }
  mirror=$(sed -n 's/^URIs: *\([^ ]*\/debian\)$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n1)
  [ -n "$mirror" ] || mirror=$(sed -n 's/^deb \(http[^ ]*\/debian\) .*/\1/p' /etc/apt/sources.list 2>/dev/null | head -n1)
  root=$(mktemp -d)
  echo "building the Debian base with debootstrap (about a minute)" >&2
  debootstrap --variant=minbase bookworm "$root" ${mirror:+"$mirror"} >/dev/null
  tar -C "$root" -c . | $docker import - appos/debian:bookworm >/dev/null
  rm -rf "$root"
fi

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
cp "$here/Dockerfile" "$ctx/Dockerfile"
cp "$agent" "$ctx/appos-agent"
# Tagged with the agent's version too, so that an install or upgrade names one exactly.
version=$("$agent" --version | awk '{print $2}')
$docker build -q --build-arg "VERSION=$version" -t appos/agent:latest -t "appos/agent:$version" "$ctx" >/dev/null
echo appos/agent:latest
