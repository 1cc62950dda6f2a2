#!/usr/bin/env bash
# The harness as a user meets it, from outside this checkout: install rusm
# into a temporary prefix, create an app of every template in a temporary
# directory, build it and pass `rusm test`; change one line of a component
# so its behaviour changes and see `rusm test` fail with the diff and a
# replay line that prints exactly the new trace; accept it and pass again.
# Bad input (a scenario naming a missing component or app, a misplaced
# modifier, a snapshot that is not one) must be a clear error naming the
# file and line.
#
#   bash ci/roundtrip.sh            # after the tests built target/debug/rusm
#                                   # and target-madsim/debug/rusm (ci/test.sh)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d /tmp/rusm-roundtrip.XXXXXX)"
trap 'rm -rf "$work"' EXIT
# Nothing of the checkout's own settings: a user's shell has none of them.
unset RUSM_TARGET_DIR RUSM_HOME RUSM_SIM RUSM_BUN CARGO_TARGET_DIR RUSTFLAGS
fail() { echo "roundtrip: $*" >&2; exit 1; }
expect() { # expect <what> <pattern> <file>: the file holds the pattern
    grep -qF -- "$2" "$3" || { cat "$3" >&2; fail "$1: expected to see: $2"; }
}

bash "$repo/ci/install.sh" "$work/prefix" \
    --prebuilt "$repo/target/debug/rusm" "$repo/target-madsim/debug/rusm"
export PATH="$work/prefix/bin:$PATH"
cd "$work"
[ "$(command -v rusm)" = "$work/prefix/bin/rusm" ] || fail "the installed rusm is not the one on the PATH"

for lang in rust ts; do
    for template in worker service http ws; do
        app="$lang-$template"
        echo "== $app: rusm new, rusm build, rusm test" >&2
        rusm new "$app" --lang "$lang" --template "$template"
        # Its SDK references point into the install, never into this checkout.
        if grep -rlF "$repo" "$app"; then fail "$app refers to the checkout"; fi
        (cd "$app" && rusm build && rusm test)
        if [ "$lang" = rust ]; then
            # What a user's CI would lint: the template's code as written out.
            cargo clippy -q --manifest-path "$app/Cargo.toml" --target wasm32-wasip2 \
                --target-dir "$work/clippy" -- -D warnings
        fi
    done
done

echo "== rusm test --seeds sweeps, with a summary" >&2
(cd rust-worker && rusm test --seeds 6 2> ../out)
expect "a sweep" "ok     greet seed 6 (6/6)" out
expect "a sweep" "rusm test: 6 passed, 0 failed" out

echo "== a second install updates in place" >&2
bash "$repo/ci/install.sh" "$work/prefix" \
    --prebuilt "$repo/target/debug/rusm" "$repo/target-madsim/debug/rusm" 2> out
expect "the second install" "installed: $work/prefix/bin/rusm" out
(cd rust-worker && rusm test --scenario greet)

echo "== rusm new refuses a directory that is not empty" >&2
if rusm new rust-worker 2> out; then fail "rusm new overwrote an app"; fi
expect "rusm new into an app" "exists and is not empty" out

echo "== a changed component fails rusm test with a diff and a replay line" >&2
for app in rust-http ts-ws; do
    case "$app" in
        rust-http) sed -i 's/the client left after {sent} events/the client left, {sent} events sent/' "$app/components/api/src/main.rs" ;;
        ts-ws) sed -i 's/`${frames}: ${text}`/`#${frames}: ${text}`/' "$app/components/echo/index.ts" ;;
    esac
    if (cd "$app" && rusm test > ../out 2>&1); then fail "$app: rusm test passed after its behaviour changed"; fi
    expect "$app's failure" "FAILED" out
    expect "$app's failure" "--- pinned" out
    expect "$app's failure" "rusm test: 2 passed, 1 failed" out
    replay="$(grep '^replay: ' out | head -n 1 | sed 's/^replay: //')"
    [ -n "$replay" ] || fail "$app: no replay line"
    # The replay line, run as printed, prints the failing run's trace.
    (cd "$app" && $replay > ../replayed 2> /dev/null)
    pending="$(ls "$app"/snapshots/*.snap.new)"
    sed '1,/^---$/d' "$pending" > pending-trace
    diff pending-trace replayed || fail "$app: the replay line printed another trace than the one that failed"
    (cd "$app" && rusm test --accept 2> ../out) || { cat out >&2; fail "$app: rusm test --accept failed"; }
    expect "$app's accept" "accepted: the trace differs from" out
    [ ! -e "$pending" ] || fail "$app: the pending snapshot stayed after --accept"
    (cd "$app" && rusm test)
done

echo "== bad input names the file and the line" >&2
cd rust-worker
printf 'description = "x"\nseeds = [1]\nrun-ms = 10\n\n[[step]]\nat-ms = 0\nspawn = "wroker"\n' > scenarios/typo.toml
if rusm sim scenarios/typo.toml 2> ../out; then fail "a spawn of a missing component ran"; fi
expect "a missing component" "scenarios/typo.toml:5: step 1: the app has no component \"wroker\" (it has: worker)" ../out
printf 'description = "x"\napp = "../nowhere"\nseeds = [1]\nrun-ms = 10\n' > scenarios/typo.toml
if rusm sim scenarios/typo.toml 2> ../out; then fail "a scenario of a missing app ran"; fi
expect "a missing app" "scenarios/typo.toml:2: app: " ../out
expect "a missing app" "nowhere is not an app (it has no rusm.toml)" ../out
printf 'description = "x"\nseeds = [1]\nrun-ms = 10\n\n[[step]]\nat-ms = 0\nkill = "worker"\nreason = "normal"\n' > scenarios/typo.toml
if rusm test --scenario typo 2> ../out; then fail "a misplaced modifier passed"; fi
expect "a misplaced modifier" "scenarios/typo.toml:5: step 1: reason goes with expect-exited" ../out
rm scenarios/typo.toml
echo "not a snapshot" > snapshots/greet.snap
if rusm test 2> ../out; then fail "a broken snapshot passed"; fi
expect "a broken snapshot" "snapshots/greet.snap:1: not a snapshot" ../out
echo "roundtrip: every template built and tested from $work, failures found and replayed" >&2
