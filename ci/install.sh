#!/usr/bin/env bash
# Installs rusm from this checkout, so that `rusm new`, `rusm build`,
# `rusm run`, `rusm serve`, `rusm sim` and `rusm test` work in any
# directory:
#
#   bash ci/install.sh                 # into ~/.rusm (then: export PATH="$HOME/.rusm/bin:$PATH")
#   bash ci/install.sh /opt/rusm       # into another prefix
#
# Run again to update in place. What goes where:
#
#   PREFIX/bin/rusm               the rusm command (the production build)
#   PREFIX/lib/rusm/rusm-sim      its simulation build (--cfg madsim), which
#                                 `rusm sim` and `rusm test` hand over to
#   PREFIX/share/rusm/            the home: the guest SDKs (sdk-rs/, sdk-ts/),
#                                 the WIT package, the TypeScript runner built,
#                                 and Bun; apps made by `rusm new` point here
#
# --prebuilt NORMAL SIM lays out binaries already built (CI reuses the
# builds its tests made: target/debug/rusm, target-madsim/debug/rusm)
# instead of building both in release.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
prefix="$HOME/.rusm"
normal="" sim=""
while [ $# -gt 0 ]; do
    case "$1" in
        --prebuilt) normal="$2" sim="$3"; shift 3 ;;
        -*) echo "ci/install.sh: unknown option $1" >&2; exit 2 ;;
        *) prefix="$1"; shift ;;
    esac
done
mkdir -p "$prefix"
prefix="$(cd "$prefix" && pwd)"
cd "$repo"
say() { printf 'rusm install: %s\n' "$*" >&2; }

bash ci/setup.sh >&2
if [ -z "$normal" ]; then
    say "building rusm (release) and its simulation build (release, --cfg madsim, target-madsim/)"
    cargo build --release -p rusm
    RUSTFLAGS="--cfg madsim" CARGO_TARGET_DIR=target-madsim cargo build --release -p rusm
    normal=target/release/rusm sim=target-madsim/release/rusm
fi
[ -x "$normal" ] && [ -x "$sim" ] || { echo "ci/install.sh: $normal or $sim is not an executable" >&2; exit 1; }

home="$prefix/share/rusm"
stage="$prefix/share/.rusm-install.$$"
rm -rf "$stage"
mkdir -p "$stage/runner" "$stage/runtime/host" "$stage/sdk-ts" "$stage/.tools"
say "the guest SDKs: rusm-rs, its macros and wire (sdk-rs/), rusm-ts (sdk-ts/), the WIT package"
for crate in sdk-rs/rusm-rs sdk-rs/macros sdk-rs/wire; do
    mkdir -p "$stage/$crate"
    cp "$crate/Cargo.toml" "$stage/$crate/"
    cp -R "$crate/src" "$stage/$crate/"
done
cp -R runtime/host/wit "$stage/runtime/host/"
# rusm-ts with its type declarations, for an editor's or tsc's sake (the
# bundler reads the sources).
bun="$repo/.tools/node_modules/.bin/bun"
(cd sdk-ts && "$bun" install --frozen-lockfile && "$bun" run types) >&2
cp -R sdk-ts/src sdk-ts/types sdk-ts/bundle.ts sdk-ts/package.json sdk-ts/tsconfig.json "$stage/sdk-ts/"
# The SDK crates inherit their version, edition and lints from a workspace,
# as in the checkout: the home has one of its own holding just them.
{
    printf '# The guest SDK crates of this rusm (written by ci/install.sh).\n'
    printf '[workspace]\nresolver = "2"\nmembers = ["sdk-rs/wire", "sdk-rs/macros"]\nexclude = ["sdk-rs/rusm-rs"]\n\n'
    awk '/^\[/{keep = ($0 ~ /^\[workspace\.(package|lints)/)} keep' Cargo.toml
} > "$stage/Cargo.toml"
say "the TypeScript runner (QuickJS for wasm32-wasip2), built once for every app"
runner="$("$normal" build-runner --target-dir target/guests)"
cp "$runner" "$stage/runner/rusm-runner.wasm"
say "Bun (bundles TypeScript components), from .tools/"
cp -R .tools/node_modules "$stage/.tools/"
printf 'rusm %s from %s\n' "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" "$repo" > "$stage/rusm-home"

rm -rf "$home"
mv "$stage" "$home"
mkdir -p "$prefix/bin" "$prefix/lib/rusm"
# Copied beside and renamed over: a running rusm keeps its old file.
cp "$normal" "$prefix/bin/.rusm.new" && mv -f "$prefix/bin/.rusm.new" "$prefix/bin/rusm"
cp "$sim" "$prefix/lib/rusm/.rusm-sim.new" && mv -f "$prefix/lib/rusm/.rusm-sim.new" "$prefix/lib/rusm/rusm-sim"
say "installed: $prefix/bin/rusm, $prefix/lib/rusm/rusm-sim, $home/"
case ":$PATH:" in
    *":$prefix/bin:"*) ;;
    *) say "add it to your PATH: export PATH=\"$prefix/bin:\$PATH\"" ;;
esac
