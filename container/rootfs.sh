#!/bin/sh
# Collects into $1 the image's root file system: the programs the agent runs
# and exactly the shared libraries they load (as ldd reports them), busybox
# for a shell and its tools, CA certificates, and the few files in /etc that
# name users and resolvers. Nothing else of the Debian it ran on is kept.
# Runs in the build stage of container/Dockerfile.
set -eu
root=$1
mkdir -p "$root/usr/bin" "$root/usr/sbin" "$root/usr/lib" "$root/usr/lib64" "$root/etc/ssl/certs" "$root/tmp" "$root/var/lib/appos"
chmod 1777 "$root/tmp"
# Debian's merged /usr: the top-level directories are links.
for d in bin sbin lib lib64; do ln -s "usr/$d" "$root/$d"; done

# A file and, when it is a link, what it points to, at the same paths.
keep() {
  cp -a --parents "$1" "$root/"
  real=$(readlink -f "$1")
  [ "$real" = "$1" ] || cp -a --parents "$real" "$root/"
}

# git: what clone, fetch and reset run (its built-in commands, hard links
# or links to git itself, and the http(s) transport); not its daemon, shell, mail
# or http-server helpers, nor the scripts that need perl.
git_core=$(find /usr/lib/git-core -samefile /usr/lib/git-core/git -o -samefile /usr/lib/git-core/git-remote-http -o -lname git -o -lname git-remote-http)
tar -C / -c $git_core | tar -C "$root" -x
programs="/usr/local/bin/appos-agent /usr/libexec/docker/cli-plugins/docker-compose /usr/sbin/nginx /usr/bin/git /usr/bin/ssh /usr/bin/ssh-keygen /usr/bin/ssh-keyscan /usr/bin/restic /usr/bin/busybox
  /usr/lib/git-core/git /usr/lib/git-core/git-remote-http"
for p in $programs; do
  keep "$p"
  # The libraries an ELF program loads (scripts have none).
  ldd "$p" 2>/dev/null | awk '/=> \// {print $3} /^\t\/[^ ]+ \(/ {print $1}' | while read -r lib; do keep "$lib"; done
done
ln -s ../libexec/docker/cli-plugins/docker-compose "$root/usr/bin/docker-compose"
# Debian ships git twice, the same program at /usr/bin/git and in git-core:
# one copy, hard-linked at both paths, is enough (4 MB less).
if cmp -s "$root/usr/bin/git" "$root/usr/lib/git-core/git"; then
  ln -f "$root/usr/lib/git-core/git" "$root/usr/bin/git"
fi
cp -a --parents /usr/share/git-core/templates "$root/"

# A shell and the usual tools for the agent's own terminal.
/usr/bin/busybox --list | while read -r applet; do
  [ -e "$root/usr/bin/$applet" ] || ln -s busybox "$root/usr/bin/$applet"
done

cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n' > "$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$root/etc/group"
printf 'passwd: files\ngroup: files\nhosts: files dns\n' > "$root/etc/nsswitch.conf"
mkdir -p "$root/root" "$root/var/log/nginx" "$root/var/lib/nginx"
