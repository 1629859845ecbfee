#!/usr/bin/env bash
# Lists every fuzz target as PACKAGE:FuncName, for `make fuzz`.
set -euo pipefail
cd "$(dirname "$0")/.."
grep -rl --include='*_test.go' -E '^func Fuzz[A-Za-z0-9_]*\(f \*testing\.F\)' . | sort | while read -r file; do
	pkg="./$(dirname "${file#./}")"
	grep -oE '^func Fuzz[A-Za-z0-9_]*' "$file" | sed 's/^func //' | while read -r name; do
		echo "$pkg:$name"
	done
done
