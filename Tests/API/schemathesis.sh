#!/bin/sh
# Runs schemathesis (PyPI) against a live certvault service: no 5xx, and every response as
# /openapi.json describes it. A bounded, seeded run, so it is repeatable and takes a minute or two.
#
# usage: Tests/API/schemathesis.sh BASE_URL        (e.g. http://127.0.0.1:8443)
# The API token (all scopes, on a throwaway vault) comes in $CERTVAULT_API_TOKEN.
# The Swift test SchemathesisTests starts a live service with a fresh vault and the VB365
# simulator and calls this script when CERTVAULT_SCHEMATHESIS=1.
set -eu
base=${1:?usage: schemathesis.sh BASE_URL}
: "${CERTVAULT_API_TOKEN:?set CERTVAULT_API_TOKEN to an API token}"
here=$(cd "$(dirname "$0")" && pwd)
# schemathesis keeps its example database and reports in the current folder: a scratch one.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cd "$scratch"
schemathesis --config-file "$here/schemathesis.toml" run "$base/openapi.json" \
    --url "$base" \
    --checks not_a_server_error,response_schema_conformance \
    --max-examples "${CERTVAULT_SCHEMATHESIS_EXAMPLES:-20}" \
    --seed 11 \
    --workers 1
