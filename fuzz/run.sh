#!/usr/bin/env bash
# Build and run the libFuzzer targets (fuzz/CMakeLists.txt) in a clang build of their own.
#
#   run.sh build DIR                 configure (CC, default clang) and build DIR
#   run.sh check DIR TARGET          replay fuzz/regressions/TARGET, then a short fixed run
#                                    (ctest fuzz_TARGET)
#   run.sh run DIR TARGET [SECONDS]  fuzz for SECONDS (default 300; ./takumi fuzz)
#
# New inputs go to DIR/corpus/TARGET (kept between runs), crashes to DIR/artifacts/TARGET/.
# A crash worth keeping: fix it, then copy the input into fuzz/regressions/TARGET/.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CHECK_RUNS=${TK_FUZZ_RUNS:-20000}
CHECK_SECONDS=${TK_FUZZ_SECONDS:-30}

die() { printf 'fuzz: %s\n' "$*" >&2; exit 1; }

max_len() {
    case $1 in
        reading) echo 8192 ;;
        config) echo 4096 ;;
        filter|query) echo 4200 ;;
        coap) echo 9000 ;;
        *) echo 512 ;;
    esac
}

build() {
    local dir=$1
    if [ ! -f "$dir/CMakeCache.txt" ]; then
        CC=${CC:-clang} cmake -S "$HERE" -B "$dir" -DCMAKE_BUILD_TYPE=Debug >/dev/null ||
            die "cmake configure failed in $dir"
    fi
    cmake --build "$dir" -j "$(nproc)" >"$dir.log" 2>&1 ||
        { tail -40 "$dir.log" >&2; die "build failed (full log: $dir.log)"; }
}

# fuzz DIR TARGET LIBFUZZER-ARGS...: the corpus dirs are the working one (written), the seeds
# and the regression inputs (read only; every input in them is run first).
fuzz() {
    local dir=$1 t=$2
    shift 2
    local bin="$dir/fuzz_$t" work="$dir/corpus/$t" art="$dir/artifacts/$t" dirs=()
    [ -x "$bin" ] || die "no target fuzz_$t in $dir (targets: $(cd "$dir" && ls fuzz_* 2>/dev/null | tr '\n' ' '))"
    mkdir -p "$work" "$art"
    dirs=("$work" "$dir/seeds/$t")
    [ -d "$HERE/regressions/$t" ] && dirs+=("$HERE/regressions/$t")
    # the config target writes a file: keep the test's own temp dir clean
    "$bin" -max_len="$(max_len "$t")" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$art/" "$@" "${dirs[@]}" || {
        printf 'fuzz: fuzz_%s failed; crash input in %s/ (replay: %s FILE)\n' "$t" "$art" "$bin" >&2
        return 1
    }
}

cmd=${1:-}
case $cmd in
    build)
        [ $# -eq 2 ] || die "usage: run.sh build DIR"
        build "$2" ;;
    check)
        [ $# -eq 3 ] || die "usage: run.sh check DIR TARGET"
        fuzz "$2" "$3" -runs="$CHECK_RUNS" -max_total_time="$CHECK_SECONDS" ;;
    run)
        [ $# -ge 3 ] || die "usage: run.sh run DIR TARGET [SECONDS]"
        fuzz "$2" "$3" -max_total_time="${4:-300}" ;;
    *)
        die "usage: run.sh build DIR | check DIR TARGET | run DIR TARGET [SECONDS]" ;;
esac
