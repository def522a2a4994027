#!/usr/bin/env bash
# Runs fuzz targets one after another, each for SECONDS of wall time, at the lowest CPU
# priority, on the seeds of seeds.py plus the target's growing corpus.
# Usage: fuzz/run.sh SECONDS TARGET...   (build first: see README, "Fuzzing")
# Each run's log is logs/TARGET.log; crashes, hangs and OOMs land in artifacts/TARGET/.
set -u
cd "$(dirname "$0")"
bin=${FUZZ_BIN:-${CARGO_TARGET_DIR:-../target}/x86_64-unknown-linux-gnu/release}
secs=$1
shift
for t in "$@"; do
    mkdir -p "corpus/$t" "artifacts/$t" logs
    start=$(date +%s)
    nice -n 19 "$bin/$t" "corpus/$t" "seeds/$t" \
        -max_total_time="$secs" -rss_limit_mb=1024 -timeout=5 \
        -artifact_prefix="artifacts/$t/" -print_final_stats=1 >"logs/$t.log" 2>&1
    rc=$?
    end=$(date +%s)
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "logs/$t.log" | grep -o '[0-9]*$')
    echo "$t: exit $rc, $((end - start)) s, ${runs:-?} executions," \
        "corpus $(ls "corpus/$t" | wc -l) files ($(du -sh "corpus/$t" | cut -f1))," \
        "artifacts $(ls "artifacts/$t" | wc -l)" | tee -a logs/summary.txt
done
