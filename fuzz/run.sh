#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 60); exits non-zero if one crashes.
#
#   fuzz/run.sh 60
#
# cargo-fuzz passes nightly-only flags (-Zsanitizer=address, …); RUSTC_BOOTSTRAP=1 lets the
# stable toolchain accept them. Install cargo-fuzz once: cargo install cargo-fuzz --locked
# The targets are built once, then run directly (`cargo fuzz run` would rebuild before
# each target whenever the main crate changed in between). New inputs go to
# fuzz/corpus/<target>, crashes to fuzz/artifacts/<target> (both ignored by git); the
# seeds in fuzz/seeds/<target> are only read (regenerate them with seeds/make_seeds.py).
# Reproduce a crash: RUSTC_BOOTSTRAP=1 cargo fuzz run <target> artifacts/<target>/<file>
set -euo pipefail

seconds="${1:-60}"
cd "$(dirname "$0")"
export RUSTC_BOOTSTRAP=1
targets=(name_parse dns_response dnssec_validate)
triple="$(rustc -vV | sed -n 's/^host: //p')"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked --quiet
fi
cargo fuzz build
status=0
for target in "${targets[@]}"; do
    mkdir -p "corpus/$target" "artifacts/$target"
    echo "== fuzzing $target for ${seconds}s"
    if ! "target/$triple/release/$target" -artifact_prefix="artifacts/$target/" \
        -max_total_time="$seconds" -timeout=10 -print_final_stats=1 \
        "corpus/$target" "seeds/$target"; then
        echo "!! $target crashed: see fuzz/artifacts/$target" >&2
        status=1
    fi
done
exit "$status"
