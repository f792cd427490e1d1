#!/usr/bin/env bash
# Installs the native TensorFlow backend (@tensorflow/tfjs-node) for the engine and
# builds its binding from source, then trains one step on it as a smoke test.
#
# tfjs-node's own install script downloads libtensorflow 2.9.1 and a prebuilt binding
# from storage.googleapis.com. Where that host is unreachable, this script links the
# shared libraries and C API headers of the TensorFlow wheel in .venv instead
# (pnpm setup:python installs it). Nothing here runs during plain `pnpm install`.
#
# Side effects: `pnpm add` records @tensorflow/tfjs-node as an optional dependency in
# packages/engine/package.json and pnpm-lock.yaml, and the script writes deps/, build/
# and lib/ inside the installed tfjs-node package.
set -euo pipefail

readonly TFJS_NODE_VERSION=4.22.0
# The libtensorflow release that tfjs-node 4.22.0 downloads (its scripts/deps-constants.js).
readonly LIBTENSORFLOW_VERSION=2.9.1
readonly LIBTENSORFLOW_URL="https://storage.googleapis.com/tensorflow/libtensorflow/libtensorflow-cpu-linux-x86_64-${LIBTENSORFLOW_VERSION}.tar.gz"

root=$(cd "$(dirname "$0")/../../.." && pwd)
engine="$root/packages/engine"

fail() {
  echo "setup:native failed: $*" >&2
  echo "The pure-JavaScript backend still works, and the engine falls back to it." >&2
  exit 1
}

step() {
  echo "== $*"
}

# --- Build tools -------------------------------------------------------------------

[[ "$(uname -s)-$(uname -m)" == "Linux-x86_64" ]] ||
  fail "only Linux x86_64 is supported, this is $(uname -s) $(uname -m)"
for tool in node pnpm g++ make python3 nm; do
  command -v "$tool" >/dev/null || fail "'$tool' is not installed or not on PATH; node-gyp needs a C++ compiler, make and python3"
done

# node-gyp must use the installed Node.js headers because it cannot download them offline.
node_dir=$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")
[[ -f "$node_dir/include/node/node_api.h" && -f "$node_dir/include/node/common.gypi" ]] ||
  fail "Node.js headers not found in $node_dir/include/node (node_api.h, common.gypi); install the Node.js development headers"

if command -v node-gyp >/dev/null; then
  node_gyp=(node-gyp)
else
  npm_node_gyp="$(npm prefix -g 2>/dev/null)/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js"
  [[ -f "$npm_node_gyp" ]] || fail "node-gyp not found on PATH nor at $npm_node_gyp; install it with npm i -g node-gyp"
  node_gyp=(node "$npm_node_gyp")
fi

# --- Package -----------------------------------------------------------------------

package_json="$engine/node_modules/@tensorflow/tfjs-node/package.json"
installed_version=$(node -p "require('$package_json').version" 2>/dev/null || true)
if [[ "$installed_version" != "$TFJS_NODE_VERSION" ]]; then
  step "Installing @tensorflow/tfjs-node@$TFJS_NODE_VERSION into packages/engine"
  # pnpm 10 skips the package's install script, which would try to download; the
  # binding is built below instead.
  (cd "$root" && pnpm add --save-optional --save-exact --filter @centroid/engine "@tensorflow/tfjs-node@$TFJS_NODE_VERSION") ||
    fail "pnpm add @tensorflow/tfjs-node@$TFJS_NODE_VERSION failed; check access to the npm registry"
fi
package_dir=$(dirname "$(readlink -f "$package_json")")

# tfjs-node registers its backend with the @tensorflow/tfjs it imports, so it must be
# the engine's copy.
engine_tfjs=$(cd "$engine" && node -p "require('fs').realpathSync(require.resolve('@tensorflow/tfjs'))")
package_tfjs=$(cd "$package_dir" && node -p "require('fs').realpathSync(require.resolve('@tensorflow/tfjs'))")
[[ "$engine_tfjs" == "$package_tfjs" ]] ||
  fail "tfjs-node resolves @tensorflow/tfjs to $package_tfjs but the engine uses $engine_tfjs; both must be 4.22.0"

# --- libtensorflow -----------------------------------------------------------------

deps="$package_dir/deps"
if curl --silent --head --fail --max-time 15 "$LIBTENSORFLOW_URL" >/dev/null 2>&1; then
  step "Downloading libtensorflow $LIBTENSORFLOW_VERSION from $LIBTENSORFLOW_URL"
  # NOTE: untested, because no test machine reaches the host. It assumes the tarball
  # unpacks to lib/ and include/, as tfjs-node's install script expects.
  rm -rf "$deps" && mkdir -p "$deps"
  curl --silent --show-error --fail --location "$LIBTENSORFLOW_URL" | tar -xz -C "$deps" ||
    fail "downloading or unpacking $LIBTENSORFLOW_URL failed"
else
  tensorflow_dir=$(ls -d "$root"/.venv/lib/python3*/site-packages/tensorflow 2>/dev/null | head -n 1 || true)
  [[ -n "$tensorflow_dir" && -f "$tensorflow_dir/libtensorflow_cc.so.2" ]] ||
    fail "$LIBTENSORFLOW_URL is unreachable and TensorFlow is not installed in $root/.venv; run pnpm setup:python first"
  for file in libtensorflow_framework.so.2 include/tensorflow/c/c_api.h include/tensorflow/c/eager/c_api.h; do
    [[ -e "$tensorflow_dir/$file" ]] || fail "$tensorflow_dir/$file is missing; reinstall TensorFlow with pnpm setup:python"
  done
  wheel=$(ls -d "$tensorflow_dir"/../tensorflow*-*.dist-info 2>/dev/null | head -n 1 | xargs -r basename)
  step "Linking libtensorflow from the Python wheel ${wheel:-(unknown version)} in $tensorflow_dir"

  # The wheel's libtensorflow_cc.so.2 contains the C and eager C APIs that a libtensorflow
  # release ships as libtensorflow.so. The name libtensorflow.so.$LIBTENSORFLOW_VERSION
  # only marks the library as present for tfjs-node's install script, and the binding
  # loads it by its soname, libtensorflow_cc.so.2. The links break if .venv is rebuilt.
  rm -rf "$deps" && mkdir -p "$deps/lib"
  ln -s "$tensorflow_dir/include" "$deps/include"
  for name in libtensorflow.so "libtensorflow.so.$LIBTENSORFLOW_VERSION" libtensorflow_cc.so.2; do
    ln -s "$tensorflow_dir/libtensorflow_cc.so.2" "$deps/lib/$name"
  done
  for name in libtensorflow_framework.so libtensorflow_framework.so.2; do
    ln -s "$tensorflow_dir/libtensorflow_framework.so.2" "$deps/lib/$name"
  done
fi

# --- Binding -----------------------------------------------------------------------

# node-pre-gyp picks the binding path from the package's N-API versions (lib/napi-v8
# on Node.js 20), so the build writes to the path that the package loads from.
binding=$(cd "$package_dir" && node -p "require('@mapbox/node-pre-gyp').find(require('path').resolve('package.json'))")
napi_version=$(basename "$(dirname "$binding")")
napi_version=${napi_version#napi-v}

step "Building the binding into $binding"
# A binding that exists makes the engine select this backend, so each failure below
# removes it again.
rm -f "$binding"
(
  cd "$package_dir"
  "${node_gyp[@]}" rebuild --nodedir="$node_dir" --jobs=2 \
    --module_name=tfjs_binding --module_path="$(dirname "$binding")" --napi_build_version="$napi_version"
) > "$package_dir/build-native.log" 2>&1 ||
  fail "node-gyp could not build the binding; see $package_dir/build-native.log"

remove_binding_and_fail() {
  rm -f "$binding"
  fail "$* The binding was removed."
}

# Node.js loads addons lazily, so a missing C API function would only fail when called.
# Every TF_ and TFE_ function the binding imports must be exported by the libraries.
missing=$(comm -23 \
  <(nm -D --undefined-only "$binding" | awk '{print $2}' | sed 's/@.*//' | grep -E '^TFE?_' | sort -u) \
  <(nm -D --defined-only "$deps"/lib/libtensorflow*.so* | awk 'NF == 3 {print $3}' | sed 's/@.*//' | sort -u))
[[ -z "$missing" ]] ||
  remove_binding_and_fail "libtensorflow does not export these C API functions that the binding uses: $(echo "$missing" | tr '\n' ' ')"

# --- Smoke test --------------------------------------------------------------------

step "Training one step on the tensorflow backend"
(cd "$engine" && CENTROID_BACKEND=tensorflow TF_CPP_MIN_LOG_LEVEL=2 node --import tsx scripts/native-smoke.ts) ||
  remove_binding_and_fail "the binding was built, but the smoke test on the tensorflow backend failed (output above)."
step "Native backend ready. CENTROID_BACKEND=tensorflow forces it; unset, the engine picks it automatically."
