#!/usr/bin/env bash
# The project's test command (README): vet, the cgo-free build of rpiq, and every package's tests.
set -euo pipefail
cd "$(dirname "$0")/.."
go vet ./...
CGO_ENABLED=0 go build -o /dev/null ./cmd/rpiq
go test -timeout 60m ./...
