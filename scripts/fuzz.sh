#!/usr/bin/env bash
# libFuzzer targets for the parsers of untrusted bytes (Fuzz/README.md).
#
#   scripts/fuzz.sh TARGET [SECONDS [RUNS]]   build, then fuzz one target (default 300 s, or until RUNS executions if
#                                      sooner); new inputs go to .build-fuzz/corpus/TARGET
#   scripts/fuzz.sh all [SECONDS [RUNS]]       every target in turn (default 60 s each); issue 17's campaign: all 1800 1000000
#   scripts/fuzz.sh --ci [SECONDS]     regression run for CI: every target over its committed corpus (Fuzz/corpus/TARGET, plus the generated binary seeds,
#                                      which holds every input that once crashed), then fuzzing for the rest of SECONDS
#                                      (default 15 s each); nothing is written to the committed corpus
#   scripts/fuzz.sh --list             the targets
#
# The binary is built with the address sanitizer and libFuzzer (`swift build --sanitize=fuzzer --sanitize=address`,
# release mode) in .build-fuzz, apart from the app's build. Any crash, hang (over 10 s), out-of-bounds access, leak or
# allocation over 512 MB stops the run with the input saved as .build-fuzz/artifacts/TARGET-crash-…, and the script
# fails. Reproduce one with: CONFAB_FUZZ_TARGET=TARGET .build-fuzz/release/confab-fuzz FILE
set -euo pipefail
cd "$(dirname "$0")/.."
targets=(gguf ct2 whisper-config whisper-vocab onnx piper-config manifest audio multipart wyoming)
usage() { sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
[ $# -ge 1 ] || usage
mode="$1"; seconds="${2:-}"; runs="${3:-}"
case "$mode" in
    --list) printf '%s\n' "${targets[@]}"; exit 0 ;;
    --ci) run=("${targets[@]}"); seconds="${seconds:-15}" ;;
    all) run=("${targets[@]}"); seconds="${seconds:-60}" ;;
    -h|--help) usage ;;
    *) printf '%s\n' "${targets[@]}" | grep -qx -- "$mode" || { echo "fuzz.sh: unknown target '$mode' (--list lists them)" >&2; exit 2; }
       run=("$mode"); seconds="${seconds:-300}" ;;
esac
[[ "$seconds" =~ ^[0-9]+$ ]] || { echo "fuzz.sh: SECONDS must be a whole number" >&2; exit 2; }
[[ -z "$runs" || "$runs" =~ ^[0-9]+$ ]] || { echo "fuzz.sh: RUNS must be a whole number" >&2; exit 2; }
limit=(); [ -n "$runs" ] && limit=(-runs="$runs")

echo "fuzz: building confab-fuzz (address sanitizer + libFuzzer, .build-fuzz)" >&2
start=$(date +%s)
# swift-driver keeps only the last -sanitize= it is given, and SwiftPM passes --sanitize=fuzzer and --sanitize=address
# as two flags in no fixed order: a build then had either no coverage (libFuzzer ran blind) or no address sanitizer
# in the Swift code. -Xswiftc with both in one flag comes last and gives both; --sanitize still does the C targets
# and the link.
CONFAB_FUZZ=1 swift build -c release --build-path .build-fuzz --sanitize=fuzzer --sanitize=address \
    -Xswiftc -sanitize=fuzzer,address --product confab-fuzz >&2
echo "fuzz: built in $(( $(date +%s) - start )) s" >&2
bin=.build-fuzz/release/confab-fuzz
# Refuse a binary whose parsers are not instrumented both ways: the GGUF parser's object must have coverage
# counters (a __sancov_cntrs section) and address-sanitizer checks (__asan_report_* calls).
probe=.build-fuzz/release/Engine.build/GGUFFile.swift.o
sections=$(objdump -h "$probe" 2>&1 || true); symbols=$(nm "$probe" 2>&1 || true)
if ! grep -q __sancov_cntrs <<<"$sections" || ! grep -q __asan_report <<<"$symbols"; then
    echo "fuzz: $probe lacks libFuzzer coverage or address-sanitizer checks; the build did not apply both sanitizers" >&2
    exit 1
fi
mkdir -p .build-fuzz/artifacts

# Leaks are reported (detect_leaks); a parser's allocation that outgrows the input by far trips -malloc_limit_mb.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=0}"
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$PWD/Fuzz/lsan.supp}"
# The binary seeds (GGUF, CTranslate2 and ONNX files, Wyoming event streams) are written here, not committed.
rm -rf .build-fuzz/seeds
python3 Fuzz/make_corpus.py .build-fuzz/seeds gguf,ct2,onnx,wyoming >&2
for t in "${run[@]}"; do
    seeds=()
    for d in "Fuzz/corpus/$t" ".build-fuzz/seeds/$t"; do [ -d "$d" ] && seeds+=("$d"); done
    if [ "$mode" = --ci ]; then work="$(mktemp -d)"; else work=".build-fuzz/corpus/$t"; mkdir -p "$work"; fi
    echo "fuzz: $t for $seconds s (corpus ${seeds[*]})" >&2
    log=".build-fuzz/artifacts/$t.log"
    status=0
    CONFAB_FUZZ_TARGET="$t" "$bin" "$work" "${seeds[@]}" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -malloc_limit_mb=512 -artifact_prefix=".build-fuzz/artifacts/$t-" -print_final_stats=1 "${limit[@]}" >"$log" 2>&1 || status=$?
    [ "$mode" = --ci ] && rm -rf "$work"
    # One summary line: executions, speed, coverage.
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || true)
    cov=$(grep -Eo 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[0-9a-zA-Z]+' "$log" | tail -1 || true)
    took=$(grep -Eo 'Done [0-9]+ runs in [0-9]+ second' "$log" | grep -Eo '[0-9]+ second' | grep -Eo '[0-9]+' || true)
    echo "fuzz: $t: ${execs:-?} executions in ${took:-$seconds} s; $cov" >&2
    if [ "$status" -ne 0 ]; then
        echo "fuzz: $t FAILED (exit $status); the report:" >&2
        grep -E -A 40 '^==[0-9]+==ERROR|^ALARM|deadly signal|Fatal error|out-of-memory|malloc\(' "$log" | head -60 >&2 || tail -40 "$log" >&2
        ls -1 .build-fuzz/artifacts/"$t"-* 2>/dev/null | grep -v '\.log$' >&2 || true
        exit 1
    fi
done
echo "fuzz: no crash, hang or sanitizer report in ${#run[@]} target(s)" >&2
