#!/usr/bin/env bash
# Sets up a local Docker engine that builds for every architecture Slipway
# targets, on a fresh Debian machine, as root. Idempotent: each step checks
# first and does nothing when it is already done, so it is cheap to call
# before every build or test run.
#
#   1. docker.io, qemu-user-static, binfmt-support, mmdebstrap from Debian;
#   2. dockerd started in the background (no systemd here), waiting for the socket;
#   3. qemu registered with binfmt_misc, so RUN steps of foreign images run;
#   4. local base images, because no registry can be reached:
#        busybox:slipway-<arch>   FROM scratch + Debian's busybox-static, per arch
#        busybox:slipway          the native one
#        amd64/node:18-bookworm-slim   a Debian bookworm root with nodejs 18 and npm
#        <arch>/busybox:1.36      the same busybox under the catalogue's names
#      Each is made once and found by its tag afterwards.
set -euo pipefail

log() { echo "setup-docker: $*" >&2; }
export DEBIAN_FRONTEND=noninteractive

# -- 1. packages --------------------------------------------------------------
need=()
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
[ -x /usr/bin/qemu-aarch64-static ] || need+=(qemu-user-static)
command -v update-binfmts >/dev/null 2>&1 || need+=(binfmt-support)
command -v mmdebstrap >/dev/null 2>&1 || need+=(mmdebstrap)
if [ ${#need[@]} -gt 0 ]; then
    log "installing ${need[*]}"
    apt-get update -qq || log "apt-get update reported errors; trying the install anyway"
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# -- 2. the engine ------------------------------------------------------------
socket=/var/run/docker.sock
if ! docker version >/dev/null 2>&1; then
    log "starting dockerd (log: /var/log/slipway-dockerd.log)"
    # setsid: the engine outlives this script and the shell that ran it.
    setsid dockerd >/var/log/slipway-dockerd.log 2>&1 </dev/null &
    for _ in $(seq 1 120); do
        [ -S "$socket" ] && docker version >/dev/null 2>&1 && break
        sleep 0.5
    done
    docker version >/dev/null 2>&1 || {
        log "dockerd did not come up; last lines of its log:"
        tail -n 20 /var/log/slipway-dockerd.log >&2
        exit 1
    }
fi

# -- 3. emulation -------------------------------------------------------------
if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
    mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
fi
if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || [ ! -e /proc/sys/fs/binfmt_misc/qemu-arm ]; then
    log "registering qemu with binfmt_misc"
    update-binfmts --enable >/dev/null 2>&1 || true
fi
for emulator in qemu-aarch64 qemu-arm; do
    # An entry switched off (echo 0 > ...) is switched back on.
    if [ -e "/proc/sys/fs/binfmt_misc/$emulator" ] &&
        ! grep -q '^enabled' "/proc/sys/fs/binfmt_misc/$emulator"; then
        echo 1 >"/proc/sys/fs/binfmt_misc/$emulator"
    fi
    grep -q '^enabled' "/proc/sys/fs/binfmt_misc/$emulator" 2>/dev/null || {
        log "binfmt_misc has no enabled $emulator entry; foreign-arch RUN steps would fail"
        exit 1
    }
done

# -- 4. base images -----------------------------------------------------------
have_image() { docker image inspect "$1" >/dev/null 2>&1; }

# Foreign Debian architectures whose busybox-static we download (added once).
foreign_arches() {
    local missing=()
    for debarch in arm64 armhf armel i386; do
        dpkg --print-foreign-architectures | grep -qx "$debarch" || missing+=("$debarch")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    for debarch in "${missing[@]}"; do dpkg --add-architecture "$debarch"; done
    # A mirror mid-sync may fail one index (security); main is what busybox-static comes from.
    apt-get update -qq 2>/dev/null || log "apt-get update reported errors; trying the download anyway"
}

# The native busybox lists the applets (the same set in every Debian build);
# fetched once, on the first image that needs it.
applets_file=$(mktemp)
trap 'rm -f "$applets_file"' EXIT
busybox_applets() {
    if [ ! -s "$applets_file" ]; then
        local native
        native=$(mktemp -d) && chmod 755 "$native"
        (cd "$native" && apt-get download -qq "busybox-static:$(dpkg --print-architecture)" >/dev/null 2>&1)
        dpkg-deb -x "$native"/busybox-static_*.deb "$native/deb"
        "$native/deb/bin/busybox" --list >"$applets_file"
        rm -rf "$native"
    fi
    cat "$applets_file"
}

# balena arch, Debian arch, Docker platform.
busybox_image() {
    local arch=$1 debarch=$2 platform=$3
    local tag="busybox:slipway-$arch"
    have_image "$tag" && return 0
    log "making $tag ($platform) from Debian's busybox-static:$debarch"
    local work rootfs out
    work=$(mktemp -d) && chmod 755 "$work"
    (cd "$work" && apt-get download -qq "busybox-static:$debarch" >/dev/null 2>&1)
    dpkg-deb -x "$work"/busybox-static_*.deb "$work/deb"
    rootfs="$work/context/rootfs"
    mkdir -p "$rootfs/bin" "$rootfs/tmp" "$rootfs/etc" "$rootfs/root"
    cp "$work/deb/bin/busybox" "$rootfs/bin/busybox"
    busybox_applets >/dev/null
    for applet in $(cat "$applets_file"); do
        [ -e "$rootfs/bin/$applet" ] || ln -s busybox "$rootfs/bin/$applet"
    done
    printf 'root:x:0:0:root:/root:/bin/sh\n' >"$rootfs/etc/passwd"
    printf 'root:x:0:\n' >"$rootfs/etc/group"
    chmod 1777 "$rootfs/tmp"
    printf 'FROM scratch\nCOPY rootfs/ /\nENV PATH=/bin\nCMD ["sh"]\n' >"$work/context/Dockerfile"
    out=$(DOCKER_BUILDKIT=0 docker build -q --platform "$platform" -t "$tag" "$work/context" 2>&1) || {
        echo "$out" >&2
        exit 1
    }
    rm -rf "$work"
}

foreign_arches
busybox_image amd64 amd64 linux/amd64
busybox_image aarch64 arm64 linux/arm64
busybox_image armv7hf armhf linux/arm/v7
busybox_image rpi armel linux/arm/v6
busybox_image i386 i386 linux/386
have_image busybox:slipway || docker tag busybox:slipway-amd64 busybox:slipway
# The catalogue's static-file server (busybox httpd) under the names plugins
# generate, so generated static-site Dockerfiles build here too.
for pair in amd64:amd64 aarch64:arm64v8 armv7hf:arm32v7 rpi:arm32v6 i386:i386; do
    have_image "${pair#*:}/busybox:1.36" || docker tag "busybox:slipway-${pair%%:*}" "${pair#*:}/busybox:1.36"
done

node_image=amd64/node:18-bookworm-slim
if ! have_image "$node_image"; then
    log "making $node_image from Debian bookworm's nodejs and npm (mmdebstrap)"
    work=$(mktemp -d)
    mmdebstrap --quiet --variant=essential --architectures=amd64 \
        --include=nodejs,npm,ca-certificates \
        --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
        --dpkgopt='path-exclude=/usr/share/locale/*' \
        bookworm "$work/root.tar" http://deb.debian.org/debian
    docker import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'CMD ["node"]' "$work/root.tar" "$node_image" >/dev/null
    rm -rf "$work"
fi
log "engine ready: $(docker version --format 'server {{.Server.Version}}, API {{.Server.APIVersion}}')"
