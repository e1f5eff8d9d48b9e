#!/usr/bin/env bash
# Latency of N chat calls through a running sluice: mean ± stddev, min, max.
# usage: bin/time_test.sh <base-url> <api-key> <model> [N=100] [stream=false]
set -euo pipefail
base=${1:?base url, e.g. http://localhost:3000}
key=${2:?api key}
model=${3:?model}
n=${4:-100}
stream=${5:-false}
body=$(printf '{"model":"%s","stream":%s,"max_tokens":16,"messages":[{"role":"user","content":"Say hi"}]}' "$model" "$stream")
times=()
for _ in $(seq 1 "$n"); do
  t=$(curl -s -o /dev/null -w '%{time_total}' "$base/v1/chat/completions" \
        -H "Authorization: Bearer $key" -H 'Content-Type: application/json' -d "$body")
  times+=("$t")
done
printf '%s\n' "${times[@]}" | awk -v n="$n" '
  { s += $1; ss += $1 * $1; if (NR == 1 || $1 < mn) mn = $1; if ($1 > mx) mx = $1 }
  END { m = s / n; sd = sqrt(ss / n - m * m);
        printf "calls: %d  mean: %.2f ms ± %.2f ms  min: %.2f ms  max: %.2f ms\n", n, m*1000, sd*1000, mn*1000, mx*1000 }'
