#!/usr/bin/env bash
# Latency of <count> chat completions through a running sluice (or any
# OpenAI-compatible gateway), one call at a time.
#
# usage: bin/time_test.sh <domain> <key> <count> [<model>]
#   <domain>  base URL: http://host:port or https://host; a bare host[:port] means http://
#   <key>     API key (sk-…)
#   <count>   number of calls
#   <model>   default gpt-4o-mini
#
# Each call asks for max_tokens 1, so its time is the gateway's plus the
# upstream's time to one token. Prints every call's HTTP status and time,
# then "Average time: mean±stddev" (population stddev) and p50/p95/p99
# (nearest rank), all in seconds. Exits 1 if any call did not answer 200.
# Needs only curl and awk.
set -euo pipefail

if [ $# -lt 3 ] || [ $# -gt 4 ]; then
  echo "usage: $0 <domain> <key> <count> [<model>]" >&2
  exit 2
fi
domain=$1
key=$2
count=$3
model=${4:-gpt-4o-mini}
case $count in
  '' | *[!0-9]* | 0) echo "count must be a positive integer, not '$count'" >&2; exit 2 ;;
esac
case $domain in
  http://* | https://*) base=$domain ;;
  *) base="http://$domain" ;;
esac
base=${base%/}
base=${base%/v1}
url="$base/v1/chat/completions"
body='{"messages":[{"role":"user","content":"echo hi"}],"model":"'"$model"'","stream":false,"max_tokens":1}'

failed=0
times=""
for ((i = 1; i <= count; i++)); do
  # curl prints 000 when no HTTP answer came (refused, timed out).
  result=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' --max-time 120 "$url" \
    -H 'Content-Type: application/json' -H "Authorization: Bearer $key" -d "$body" || true)
  code=${result%% *}
  time=${result##* }
  echo "HTTP status code: $code, Time taken: $time"
  [ "$code" = 200 ] || failed=$((failed + 1))
  times="$times$time
"
done

printf '%s' "$times" | awk '
  { t[NR] = $1 + 0; sum += t[NR] }
  END {
    n = NR
    mean = sum / n
    for (i = 1; i <= n; i++) ss += (t[i] - mean) ^ 2
    # Shell sort: mawk has no asort.
    for (gap = int(n / 2); gap > 0; gap = int(gap / 2))
      for (i = gap + 1; i <= n; i++) {
        v = t[i]
        for (j = i; j > gap && t[j - gap] > v; j -= gap) t[j] = t[j - gap]
        t[j] = v
      }
    printf "Average time: %.6f±%.6f\n", mean, sqrt(ss / n)
    printf "p50: %.6f  p95: %.6f  p99: %.6f  (min %.6f, max %.6f, %d calls)\n",
      t[rank(50, n)], t[rank(95, n)], t[rank(99, n)], t[1], t[n], n
  }
  # rank is the nearest-rank index of percentile p among n sorted values.
  function rank(p, n,   r) { r = int((p * n + 99) / 100); return r < 1 ? 1 : r }'

if [ "$failed" -gt 0 ]; then
  echo "$failed of $count calls did not answer 200" >&2
  exit 1
fi
