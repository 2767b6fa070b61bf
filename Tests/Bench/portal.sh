#!/bin/sh
# The portal's figures for docs/benchmarks.md (portal section): the weight (bytes on the wire,
# requests) and first contentful paint of each customer page in headless Chromium, and the time from
# the simulator's sign-in to the sign-in page saying "Connected". Nothing is asserted.
#
# It runs BrowserTests/portalBench (Tests/CertVaultServerTests/BrowserTests.swift), which starts the
# service in process with the VB365 simulator and runs `Tests/Browser/portal_test.py --bench`, twice:
# with the defaults ([portal] status_poll_seconds = 3, [onboarding] poll_interval = 5) and with both
# at 1 s. Build first: swift build --build-tests
# Environment: RUNS (default 5) sign-ins per setting.
set -eu
cd "$(dirname "$0")/../.."
for setting in "3 5" "1 1"; do
    set -- $setting
    CERTVAULT_PORTAL_BENCH=1 CERTVAULT_PORTAL_BENCH_POLL=$1 CERTVAULT_PORTAL_BENCH_WORKER_POLL=$2 \
        CERTVAULT_PORTAL_BENCH_RUNS=${RUNS:-5} \
        swift test --skip-build --filter BrowserTests/portalBench 2>&1 | grep -E "^portal bench|^  [a-z]" || true
done
