#!/usr/bin/env bash
# Fuzzes one target with clang's libFuzzer, starting from its checked-in
# corpus. New interesting inputs land in build-fuzz/corpus/NAME; copy the
# ones worth keeping into tests/fuzz/corpus/NAME.
#   tools/fuzz.sh resp_request 60     # target name, seconds
set -euo pipefail
cd "$(dirname "$0")/.."
name=${1:?usage: tools/fuzz.sh TARGET [SECONDS]}
seconds=${2:-60}
case $name in
  resp_request|resp_reply) srcs="src/resp/*.cc" ;;
  wal|snapshot_file) srcs="src/storage/*.cc" ;;
  command|kv_snapshot) srcs="src/kv/*.cc src/resp/*.cc" ;;
  membership) srcs="src/raft/membership.cc" ;;
  message) srcs="src/raft/membership.cc src/raft/message.cc src/raft/message_codec.cc" ;;
  *) echo "unknown target $name" >&2; exit 2 ;;
esac
mkdir -p build-fuzz/corpus/$name
# shellcheck disable=SC2086
clang++ -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -Isrc \
  tests/fuzz/${name}_fuzz.cc $srcs src/base/*.cc -lfmt -lxxhash -lspdlog \
  -o build-fuzz/${name}_fuzz
build-fuzz/${name}_fuzz -max_total_time="$seconds" build-fuzz/corpus/$name tests/fuzz/corpus/$name
