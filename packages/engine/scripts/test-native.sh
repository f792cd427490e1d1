#!/usr/bin/env bash
# Runs the engine's tests again on the native TensorFlow backend when `pnpm setup:native` has built it,
# and prints why nothing ran otherwise. Backend selection and the pure-JavaScript kernel tests are
# left out because they are about the cpu backend itself.
set -euo pipefail
cd "$(dirname "$0")/../../.."

if ! node --import tsx -e "await import('@tensorflow/tfjs-node')" --input-type=module >/dev/null 2>&1 \
  && ! (cd packages/engine && node -e "require('@tensorflow/tfjs-node')" >/dev/null 2>&1); then
  echo "test:native skipped: the native backend is not built here (run pnpm setup:native to build it)."
  exit 0
fi

mapfile -t files < <(ls packages/engine/test/*.test.ts | grep -v -e '/backend.test.ts$' -e '/native-backend.test.ts$')
CENTROID_BACKEND=tensorflow exec node --import tsx --import ./packages/engine/test/select-backend.ts \
  --test --test-concurrency=1 "${files[@]}"
