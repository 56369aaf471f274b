#!/usr/bin/env bash
# Build the qabot image (`make image` runs this): with docker when its daemon answers, else with
# podman; tagged $IMAGE (qabot:latest). Prints the image's size at the end.
#
#   BASE=python:3.11-slim   the base image (default); BASE=local: a Debian 12 root made here with
#                           debootstrap (root, debootstrap and podman needed), imported as
#                           localhost/qabot-base:bookworm and reused while it exists
#   IMAGE=qabot:latest      the tag
#   TORCH_WHEELS=DIR        a folder holding torch-2.13.0+cpu's wheel, mounted into the build
#                           (podman) and used instead of TORCH_INDEX
#   TORCH_INDEX=URL         the pip index of the CPU build of torch (the Dockerfile's default:
#                           https://download.pytorch.org/whl/cpu)
#   PIP_CERT=FILE           a CA bundle for pip (a TLS-inspecting proxy), mounted read-only into
#                           the build (podman), never copied into the image; default: pip's own
#                           configured `cert`, if any
#   CONTAINER_TOOL=podman   force the tool; ISOLATION=chroot (podman's build isolation: the
#                           default here, as sandboxes often refuse the OCI runtime's rlimits)
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE="${IMAGE:-qabot:latest}"
BASE="${BASE:-python:3.11-slim}"
LOCAL_BASE="localhost/qabot-base:bookworm"

die() { echo "error: $*" >&2; exit 1; }

tool="${CONTAINER_TOOL:-}"
if [ -z "$tool" ]; then
    if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
        tool=docker
    elif command -v podman >/dev/null 2>&1; then
        tool=podman
    else
        die "neither docker (with a running daemon) nor podman was found; install one (Debian: apt-get install podman buildah)"
    fi
fi

command -v "$tool" >/dev/null 2>&1 || die "CONTAINER_TOOL $tool not found"
args=(build -t "$IMAGE" -f docker/Dockerfile)
if [ "$tool" = podman ]; then
    args+=(--format docker --isolation "${ISOLATION:-chroot}")  # docker format: HEALTHCHECK
fi

if [ "$BASE" = local ]; then
    [ "$tool" = podman ] || die "BASE=local needs podman (it imports a debootstrap root)"
    if ! podman image exists "$LOCAL_BASE"; then
        command -v debootstrap >/dev/null 2>&1 || die "BASE=local needs debootstrap (apt-get install debootstrap)"
        [ "$(id -u)" = 0 ] || die "BASE=local needs root (debootstrap)"
        root="$(mktemp -d)/rootfs"
        echo "making the Debian 12 base with debootstrap (about 30 s) ..."
        debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm \
            "$root" >/dev/null
        rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
        tar -C "$root" -c . | podman import --quiet - "$LOCAL_BASE" >/dev/null
        rm -rf "$(dirname "$root")"
    fi
    BASE="$LOCAL_BASE"
fi
args+=(--build-arg "BASE=$BASE")

if [ -n "${TORCH_WHEELS:-}" ]; then
    [ "$tool" = podman ] || die "TORCH_WHEELS needs podman (a volume mounted into the build)"
    ls "$TORCH_WHEELS"/torch-2.13.0+cpu-*.whl >/dev/null 2>&1 \
        || die "no torch-2.13.0+cpu wheel in $TORCH_WHEELS"
    args+=(-v "$(realpath "$TORCH_WHEELS"):/wheels:ro" --build-arg TORCH_WHEELS=/wheels)
elif [ -n "${TORCH_INDEX:-}" ]; then
    args+=(--build-arg "TORCH_INDEX=$TORCH_INDEX")
fi

cert="${PIP_CERT:-}"
if [ -z "$cert" ] && command -v pip >/dev/null 2>&1; then
    cert="$(pip config get global.cert 2>/dev/null || true)"
fi
if [ -n "$cert" ] && [ "$tool" = podman ]; then
    [ -f "$cert" ] || die "PIP_CERT $cert is not a file"
    args+=(-v "$(realpath "$cert"):/run/host-ca.crt:ro" --build-arg PIP_CERT=/run/host-ca.crt)
fi

echo "$tool ${args[*]} ."
started=$(date +%s)
"$tool" "${args[@]}" .
size=$("$tool" image inspect --format '{{.Size}}' "$IMAGE")
echo "built $IMAGE with $tool in $(( $(date +%s) - started )) s: $(( size / 1000000 )) MB"
