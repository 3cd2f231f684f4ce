#!/usr/bin/env bash
# The project's test command: formatting, go vet and the race-enabled tests of
# every module in this repository (the core at the root, and the integration
# modules in subfolders that have their own go.mod).
#
#   ./test.sh            # everything
#   ./test.sh -short     # extra flags are passed to go test
set -euo pipefail
cd "$(dirname "$0")"

unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then
	echo "gofmt would change these files:" >&2
	echo "$unformatted" >&2
	exit 1
fi

for mod in $(find . -name go.mod -not -path './.git/*' -printf '%h\n' | sort); do
	echo "== $mod"
	(cd "$mod" && go vet ./... && go test -race "$@" ./...)
done
