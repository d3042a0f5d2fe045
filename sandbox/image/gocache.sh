#!/bin/sh
# Bakes the sandbox image's Go build cache: the compile outputs and vet facts of the standard
# library that every `go test` needs, made at image build time from nothing but Go itself.
# Sandboxes link it into their own GOCACHE (sandbox/docker.py); here it is root's and read-only.
# Runs as root inside the image's tree (Dockerfile RUN, or chroot in the offline build).
set -eu
# The sandbox's Go settings (sandbox.plan.BASE_ENV; a test checks they agree): they are part of
# every cache key, so entries made under other settings would never be hit.
export CGO_ENABLED=0 GOFLAGS=-buildvcs=false GOPROXY=off GOTOOLCHAIN=local
export HOME=/tmp/gocache-bake GOPATH=/tmp/gocache-bake/go GOCACHE=/opt/agentd/gocache
seed="$HOME/seed"
mkdir -p "$seed/std" "$GOCACHE"
printf 'module agentd.local/seed\n\ngo 1.19\n' > "$seed/go.mod"
echo 'package std' > "$seed/std/std.go"
{
  echo 'package std'
  echo 'import ('
  go list std | grep -v -e internal -e vendor -e '^cmd/' -e '^runtime/cgo$' -e '^plugin$' | sed 's/.*/\t_ "&"/'
  echo ')'
} > "$seed/std/std_test.go"
(cd "$seed" && go test ./... > /dev/null)
# trim.txt is written by each sandbox at start: Go trims entries older than five days when it is missing.
rm -rf "$HOME" "$GOCACHE/trim.txt"
chown -R 0:0 "$GOCACHE"
find "$GOCACHE" -type d -exec chmod 0755 {} +
find "$GOCACHE" -type f -exec chmod 0444 {} +
