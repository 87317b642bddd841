#!/usr/bin/env bash
# Lints the C++ of native/ and test/fuzz/: clang-format (.clang-format) must
# leave every file as it is, and cpplint (CPPLINT.cfg) must find nothing.
# Debian/Ubuntu: apt-get install clang-format cpplint. Exits non-zero on any finding.
set -uo pipefail
cd "$(dirname "$0")/.."

for tool in clang-format cpplint; do
  command -v "$tool" >/dev/null 2>&1 || { echo "lint-native: $tool not found (apt-get install $tool)" >&2; exit 2; }
done

files=(native/*.h native/*.cc test/fuzz/*.h test/fuzz/*.cc)
status=0
clang-format --dry-run --Werror "${files[@]}" || status=1
cpplint --quiet "${files[@]}" || status=1
if [ "$status" -ne 0 ]; then
  echo "lint-native: fix the findings above (clang-format -i <file> applies the formatting)" >&2
fi
exit "$status"
