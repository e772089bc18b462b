#!/usr/bin/env bash
# Builds one image per binary in bin/ (run `make build` first; `make images` does both).
# FROM scratch: nothing is pulled. Tag with SCOUTBRIDGE_TAG (default dev).
set -euo pipefail
cd "$(dirname "$0")/.."
tag=${SCOUTBRIDGE_TAG:-dev}
ctx=deploy/.build/context
rm -rf "$ctx" && mkdir -p "$ctx/data"
ca=/etc/ssl/certs/ca-certificates.crt
[ -r "$ca" ] || { echo "no CA bundle at $ca (install the ca-certificates package)"; exit 1; }
cp "$ca" "$ctx/"
printf 'root:x:0:0:root:/:/sbin/nologin\nscoutbridge:x:65532:65532:scoutbridge:/data:/sbin/nologin\n' >"$ctx/passwd"
printf 'root:x:0:\nscoutbridge:x:65532:\n' >"$ctx/group"
for b in discovery scanner ingest orchestrator runtime fakehub fakedynatrace; do
  [ -x "bin/$b" ] || { echo "bin/$b is missing: run make build"; exit 1; }
  cp "bin/$b" "$ctx/$b"
  DOCKER_BUILDKIT=0 docker build -q --pull=false -f deploy/Dockerfile --build-arg BINARY="$b" \
    -t "scoutbridge/$b:$tag" "$ctx" >/dev/null 2> >(grep -v -i 'deprecated\|buildx\|BuildKit\|environment-variable\|^\s*$' >&2 || true)
  echo "built scoutbridge/$b:$tag"
done
