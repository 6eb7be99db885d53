#!/usr/bin/env bash
# Webhook ingress benchmark: Fixpoint vs Probot on loopback, same payloads, same run.
# Not a test and not run by CI. See README.md in this folder.
#
#   benches/ingress/run.sh            # everything: install wrk, build, generate, run, table
#
# Knobs (environment): CONNS=32 DURATION=20 THREADS=2 (wrk, max-throughput phase),
# RATE=500 RATE_SECS=20 RATE_CONNS=16 (fixed-rate phase), WARMUP=3 WARM_RATE=1000
# (seconds and req/s of the warm-up before each measurement), ROUNDS=2 (each round runs
# every phase on both servers, alternating), DELIVERIES=300000 (unique
# deliveries for the wrk phase; must exceed what the faster server answers in DURATION
# seconds, or the `wrapped` count turns non-zero), FIXPOINT_PORT=38081,
# PROBOT_PORT=38082, SKIP_BUILD=1 (use target/release/fixpoint as it is),
# FIXPOINT_BIN=path (use that binary, no build), KEEP=1 (keep the temp dir: logs, DBs).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CONNS=${CONNS:-32}
DURATION=${DURATION:-20}
THREADS=${THREADS:-2}
RATE=${RATE:-500}
RATE_SECS=${RATE_SECS:-20}
RATE_CONNS=${RATE_CONNS:-16}
WARMUP=${WARMUP:-3}
WARM_RATE=${WARM_RATE:-1000}
ROUNDS=${ROUNDS:-2}
DELIVERIES=${DELIVERIES:-300000}
FIXPOINT_PORT=${FIXPOINT_PORT:-38081}
PROBOT_PORT=${PROBOT_PORT:-38082}
NODE_MODULES="$ROOT/tests/node/node_modules"
EXAMPLES="$NODE_MODULES/@octokit/webhooks-examples/api.github.com/index.json"
BIN=${FIXPOINT_BIN:-$ROOT/target/release/fixpoint}

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'run.sh: %s\n' "$*" >&2; exit 1; }

WORK=$(mktemp -d /tmp/fixpoint-ingress.XXXXXX)
SERVER_PID="" SERVER_LOG=/dev/null
stop_server() {
  # $1: signal. Only ever the one server this script started, by its pid.
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "-$1" "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do
      [[ $(awk '{print $3}' "/proc/$SERVER_PID/stat" 2>/dev/null) =~ ^[^ZX]$ ]] || break
      sleep 0.1
    done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" || true
  fi
  SERVER_PID=""
} 2>/dev/null # bash would report "Killed" for the server
cleanup() {
  stop_server TERM
  if [[ "${KEEP:-0}" == 1 ]]; then say "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- prerequisites
if ! command -v wrk >/dev/null; then
  say "installing wrk (Debian package)"
  command -v apt-get >/dev/null || die "wrk is missing and there is no apt-get: install wrk"
  SUDO=""; [[ $(id -u) == 0 ]] || SUDO=sudo
  $SUDO apt-get install -y wrk >/dev/null 2>&1 || { $SUDO apt-get update >/dev/null && $SUDO apt-get install -y wrk >/dev/null; }
fi
for tool in python3 node openssl curl; do command -v "$tool" >/dev/null || die "$tool is required"; done
if [[ ! -d "$NODE_MODULES/probot" || ! -f "$EXAMPLES" ]]; then
  say "installing tests/node (probot, @octokit/webhooks-examples)"
  (cd "$ROOT/tests/node" && npm ci --no-audit --no-fund >/dev/null)
fi
if [[ "${SKIP_BUILD:-0}" != 1 && -z "${FIXPOINT_BIN:-}" ]]; then
  say "cargo build --release --bin fixpoint"
  (cd "$ROOT" && cargo build --release --bin fixpoint)
fi
[[ -x "$BIN" ]] || die "$BIN is missing: build it, or unset SKIP_BUILD"

# ---------------------------------------------------------------- keys and payloads
openssl genrsa -out "$WORK/key.pem" 2048 2>/dev/null
SECRET=$(openssl rand -hex 20)
gen() { python3 "$HERE/gen_payloads.py" "$EXAMPLES" "$SECRET" "$@"; }
# Disjoint workflow_run.id ranges, so within one server instance nothing repeats.
WARM_N=$((WARM_RATE * WARMUP))
say "signing $((10 + WARM_N + DELIVERIES + RATE * (WARMUP + RATE_SECS))) unique deliveries"
gen 1000000000 5 "$WORK/smoke.1"
gen 1100000000 5 "$WORK/after.1"
gen 2000000000 "$WARM_N" "$WORK/warm.1"
max_files=()
for t in $(seq 1 "$THREADS"); do max_files+=("$WORK/max.$t"); done
gen --http 3000000000 "$DELIVERIES" "${max_files[@]}"
gen 4000000000 $((RATE * WARMUP)) "$WORK/ratewarm.1"
gen 5000000000 $((RATE * RATE_SECS)) "$WORK/rate.1"
BODY_BYTES=$(head -n1 "$WORK/smoke.1" | cut -f3 | tr -d '\n' | wc -c)
PROBOT_VERSION=$(node -p "require('$NODE_MODULES/probot/package.json').version")

# ---------------------------------------------------------------- servers
port_free() {
  if curl -s --max-time 2 -o /dev/null "http://127.0.0.1:$1/"; then
    die "something already answers on port $1: set FIXPOINT_PORT / PROBOT_PORT"
  fi
}

wait_healthy() {
  local port=$1
  for _ in $(seq 1 100); do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      tail -n 20 "$SERVER_LOG" >&2
      die "the server on port $port exited (its log is above)"
    fi
    curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  die "no /healthz on port $port after 10 s"
}

start_fixpoint() {
  # $1: a directory name for this instance's database and log.
  port_free "$FIXPOINT_PORT"
  mkdir -p "$WORK/$1"
  env -i PATH="$PATH" HOME="$HOME" \
    APP_ID=1 PRIVATE_KEY_PATH="$WORK/key.pem" WEBHOOK_SECRET="$SECRET" \
    DATABASE_URL="sqlite://$WORK/$1/fixpoint.sqlite" PORT="$FIXPOINT_PORT" \
    GITHUB_API_URL="http://127.0.0.1:9" FIXPOINT_WORKERS=1 \
    FIXPOINT_ENV_FILE=/nonexistent FIXPOINT_LOG=warn \
    "$BIN" serve >"$WORK/$1/server.log" 2>&1 &
  SERVER_PID=$! SERVER_LOG="$WORK/$1/server.log"
  wait_healthy "$FIXPOINT_PORT"
}

start_probot() {
  port_free "$PROBOT_PORT"
  mkdir -p "$WORK/$1"
  env -i PATH="$PATH" HOME="$HOME" NODE_ENV=production \
    APP_ID=1 PRIVATE_KEY_PATH="$WORK/key.pem" WEBHOOK_SECRET="$SECRET" \
    PORT="$PROBOT_PORT" LOG_LEVEL=warn PROBOT_NODE_MODULES="$NODE_MODULES" \
    node "$HERE/probot-app.mjs" >"$WORK/$1/server.log" 2>&1 &
  SERVER_PID=$! SERVER_LOG="$WORK/$1/server.log"
  wait_healthy "$PROBOT_PORT"
}

# POSTs one delivery; prints the status code (000 when there was no answer).
post() {
  local port=$1 guid=$2 sig=$3 body=$4
  printf '%s' "$body" | curl -sS -o /dev/null -w '%{http_code}' --max-time 15 \
    -X POST "http://127.0.0.1:$port/webhooks" \
    -H 'content-type: application/json' -H 'x-github-event: workflow_run' \
    -H "x-github-delivery: $guid" -H "x-hub-signature-256: $sig" --data-binary @- 2>/dev/null ||
    true
}

# Sends each delivery of a file one by one; prints the status codes.
post_each() {
  local port=$1 file=$2 codes=()
  while IFS=$'\t' read -r guid sig body; do
    codes+=("$(post "$port" "$guid" "$sig" "$body")")
  done <"$file"
  echo "${codes[*]}"
}

# Before measuring: 5 deliveries must be 2xx and a tampered body 4xx, or the comparison
# is not like for like (a server answering errors fast, or not checking signatures).
smoke() {
  local port=$1 codes code guid sig body
  codes=$(post_each "$port" "$WORK/smoke.1")
  for code in $codes; do [[ $code == 2* ]] || die "a smoke delivery to port $port answered $code"; done
  IFS=$'\t' read -r guid sig body <"$WORK/smoke.1"
  code=$(post "$port" "tampered-$guid" "$sig" "$body ")
  [[ $code == 4* ]] || die "a tampered delivery to port $port answered $code, not 4xx"
  echo "$codes, tampered: $code"
}

run_wrk() {
  # $1 port, $2 payload prefix; prints the RESULT line.
  wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --timeout 10s --latency \
    -s "$HERE/deliveries.lua" "http://127.0.0.1:$1/webhooks" -- "$2" | grep '^RESULT'
}

run_rate() {
  # $1 port, $2 payload file, $3 rate, $4 seconds; prints the RESULT line.
  python3 "$HERE/fixed_rate.py" "http://127.0.0.1:$1/webhooks" "$3" "$4" "$RATE_CONNS" "$2" |
    grep '^RESULT'
}

# The 202s Fixpoint itself counted, from /metrics.
accepted_metric() {
  curl -fsS --max-time 15 "http://127.0.0.1:$FIXPOINT_PORT/metrics" |
    awk '/^fixpoint_webhooks_total\{event="workflow_run",outcome="accepted"\}/ {print $2}'
}

# workflow_run jobs and deliveries in a database file (read with the server dead).
db_counts() {
  python3 - "$1" <<'PY'
import sqlite3, sys
db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
jobs = db.execute("SELECT COUNT(*) FROM jobs WHERE kind = 'workflow_run'").fetchone()[0]
deliveries = db.execute("SELECT COUNT(*) FROM deliveries WHERE event = 'workflow_run'").fetchone()[0]
print(jobs, deliveries)
PY
}

field() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<" $1"; }
count202() { local n=0 c; for c in $1; do [[ $c == 202 ]] && n=$((n + 1)); done; echo "$n"; }
# CPU accounting, in clock ticks, to tell how much of the machine other processes took
# during a measurement (other engineers' builds on a shared machine show up here).
HZ=$(getconf CLK_TCK)
busy_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }
proc_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
# Runs a load tool; appends client_ticks= (CPU of the tool and its children) to its RESULT.
with_cpu() {
  local out t
  out=$("$@")
  # `times` must run in this shell, not a pipeline's subshell: its second line is the
  # user and system time of this shell's waited-for children ("XmY.YYYs XmY.YYYs").
  times >"$WORK/times.txt"
  t=$(tail -n1 "$WORK/times.txt")
  python3 - "$out" "$t" "$HZ" <<'PY'
import re, sys
out, t, hz = sys.argv[1], sys.argv[2], int(sys.argv[3])
secs = sum(int(m) * 60 + float(s) for m, s in re.findall(r"(\d+)m([\d.]+)s", t))
print(f"{out} client_ticks={round(secs * hz)}")
PY
}
# Percent of all cores used by processes other than the server and the load tool.
other_cpu() {
  # $1 busy ticks over the window, $2 server ticks, $3 client ticks, $4 seconds
  python3 -c "print(f'{max(0, $1 - $2 - $3) / ($HZ * $(nproc) * $4) * 100:.0f}%')"
}

declare -A R
# One phase on one freshly started server (fresh database): smoke, warm-up with the
# fixed-rate driver (which never abandons a request), measurement, then 5 more
# deliveries right after the measurement.
phase() {
  local server=$1 kind=$2 round=$3 name="$1-$2-$3" port warm result after counts
  local busy0 server0 secs
  if [[ $server == fixpoint ]]; then start_fixpoint "$name"; port=$FIXPOINT_PORT
  else start_probot "$name"; port=$PROBOT_PORT; fi
  R[$name.smoke]=$(smoke "$port")
  if [[ $kind == max ]]; then
    warm=$(run_rate "$port" "$WORK/warm.1" "$WARM_RATE" "$WARMUP")
    busy0=$(busy_ticks) server0=$(proc_ticks "$SERVER_PID")
    result=$(with_cpu run_wrk "$port" "$WORK/max")
  else
    warm=$(run_rate "$port" "$WORK/ratewarm.1" "$RATE" "$WARMUP")
    busy0=$(busy_ticks) server0=$(proc_ticks "$SERVER_PID")
    result=$(with_cpu run_rate "$port" "$WORK/rate.1" "$RATE" "$RATE_SECS")
  fi
  secs=$(field "$result" seconds)
  R[$name.server_cpu]=$(python3 -c "print(f'{($(proc_ticks "$SERVER_PID") - $server0) / $HZ / $secs:.2f}')")
  R[$name.bg]=$(other_cpu $(($(busy_ticks) - busy0)) $(($(proc_ticks "$SERVER_PID") - server0)) \
    "$(field "$result" client_ticks)" "$secs")
  # wrk ends by closing connections with requests in flight; the server must still
  # accept what comes next.
  sleep 0.5
  after=$(post_each "$port" "$WORK/after.1")
  R[$name]=$result
  R[$name.after]=$after
  if [[ $server == fixpoint ]]; then
    R[$name.metric]=$(accepted_metric)
    stop_server KILL # a crash right after the last ack: every ack must be on disk
    counts=$(db_counts "$WORK/$name/fixpoint.sqlite")
    R[$name.jobs]=${counts% *}
    R[$name.deliveries]=${counts#* }
    R[$name.client202]=$((5 + $(field "$warm" status_202) + $(field "$result" status_202) + $(count202 "$after")))
    say "$name: $result; after: $after; /metrics accepted ${R[$name.metric]}; jobs in the DB after SIGKILL ${R[$name.jobs]}"
  else
    stop_server TERM
    say "$name: $result; after: $after"
  fi
}

# Each server runs alone, so neither the idle other server nor Fixpoint's worker
# draining an earlier phase's queue shares the cores with a measurement. Rounds
# alternate the servers, so slow drift in the machine's other load hits both.
for round in $(seq 1 "$ROUNDS"); do
  say "round $round: maximum throughput, wrk -t$THREADS -c$CONNS -d${DURATION}s"
  phase fixpoint max "$round"
  phase probot max "$round"
  say "round $round: fixed rate, $RATE requests/s for ${RATE_SECS}s over $RATE_CONNS connections"
  phase fixpoint rate "$round"
  phase probot rate "$round"
done

# ---------------------------------------------------------------- report
errs() { echo $(($(field "$1" status_other) + $(field "$1" socket_errors))); }
ok2xx() { echo $(($(field "$1" status_202) + $(field "$1" status_200))); }
# Overall req/s of a server over all rounds: requests / seconds, summed.
overall_rps() {
  local req=0 secs=0 r
  for round in $(seq 1 "$ROUNDS"); do
    r=${R[$1-max-$round]}
    req=$((req + $(field "$r" requests)))
    secs=$(python3 -c "print($secs + $(field "$r" seconds))")
  done
  python3 -c "print(f'{$req / $secs:.1f}')"
}
fx_rps=$(overall_rps fixpoint)
pb_rps=$(overall_rps probot)
ratio=$(python3 -c "print(f'{$fx_rps / $pb_rps:.2f}')")
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)
label() { [[ $1 == fixpoint ]] && echo "Fixpoint" || echo "Probot $PROBOT_VERSION"; }

echo
echo "### Ingress: Fixpoint vs Probot ($(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $cpu)"
echo
echo "Each request: GitHub's \`workflow_run.completed\` example made a failed run of installation 1"
echo "($BODY_BYTES bytes), with its own delivery GUID, \`workflow_run.id\` and HMAC signature."
echo "Fixpoint answers 202 after the SQLite commit; Probot answers 200 after a no-op handler."
echo
echo "| Max throughput, wrk -t$THREADS -c$CONNS ${DURATION}s | req/s | p50 ms | p99 ms | 2xx | non-2xx + socket errors | server CPU (cores) | other processes' CPU |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
for round in $(seq 1 "$ROUNDS"); do
  for server in fixpoint probot; do
    r=${R[$server-max-$round]}
    echo "| $(label $server), round $round | $(field "$r" rps) | $(field "$r" p50_ms) | $(field "$r" p99_ms) | $(ok2xx "$r") | $(errs "$r") | ${R[$server-max-$round.server_cpu]} | ${R[$server-max-$round.bg]} |"
  done
done
echo
echo "Throughput over all rounds: Fixpoint $fx_rps req/s, Probot $pb_rps req/s, ratio **${ratio}×**."
echo "(Server CPU: the server process's CPU time over the measurement, in cores. Other"
echo "processes' CPU: the share of all $(nproc) cores used by neither the server nor the load tool.)"
echo
echo "| Fixed rate, $RATE req/s ${RATE_SECS}s, $RATE_CONNS conns | req/s | p50 ms | p99 ms | max ms | service p50 / p99 ms | non-2xx + socket errors | server CPU (cores) | other processes' CPU |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
for round in $(seq 1 "$ROUNDS"); do
  for server in fixpoint probot; do
    r=${R[$server-rate-$round]}
    echo "| $(label $server), round $round | $(field "$r" rps) | $(field "$r" p50_ms) | $(field "$r" p99_ms) | $(field "$r" max_ms) | $(field "$r" service_p50_ms) / $(field "$r" service_p99_ms) | $(errs "$r") | ${R[$server-rate-$round.server_cpu]} | ${R[$server-rate-$round.bg]} |"
  done
done
echo
echo "Durable acks: each Fixpoint instance was killed with SIGKILL right after its phase, then"
echo "its SQLite file was read (smoke + warm-up + measurement + 5 deliveries after)."
echo
echo "| Fixpoint instance | 202s the clients read | 202s sent (/metrics) | workflow_run jobs in the DB | workflow_run deliveries in the DB |"
echo "|---|---:|---:|---:|---:|"
for round in $(seq 1 "$ROUNDS"); do
  for kind in max rate; do
    n="fixpoint-$kind-$round"
    echo "| $kind, round $round | ${R[$n.client202]} | ${R[$n.metric]} | ${R[$n.jobs]} | ${R[$n.deliveries]} |"
  done
done
echo
echo "wrk stops with up to $CONNS requests in flight and never reads their answers, so the"
echo "clients can read fewer 202s than were sent, and a request abandoned after its commit is"
echo "stored without being acknowledged. What must hold: jobs in the DB >= 202s sent."
echo
echo "Checks: smoke Fixpoint \`${R[fixpoint-max-1.smoke]}\`, Probot \`${R[probot-max-1.smoke]}\`."
for round in $(seq 1 "$ROUNDS"); do
  echo "Round $round, five deliveries right after wrk closed its connections: Fixpoint \`${R[fixpoint-max-$round.after]}\`, Probot \`${R[probot-max-$round.after]}\`;"
  echo "payload files wrapped (would mean duplicates): Fixpoint $(field "${R[fixpoint-max-$round]}" wrapped), Probot $(field "${R[probot-max-$round]}" wrapped)."
done

status=0
for round in $(seq 1 "$ROUNDS"); do
  for kind in max rate; do
    n="fixpoint-$kind-$round"
    if ((${R[$n.jobs]} < ${R[$n.metric]})); then
      echo "MISMATCH ($n): ${R[$n.metric]} acks sent but only ${R[$n.jobs]} jobs stored" >&2
      status=1
    fi
    for code in ${R[$n.after]}; do
      if [[ $code != 2* ]]; then
        echo "WARNING ($n): after the measurement Fixpoint answered ${R[$n.after]}" \
          "(see README: an abandoned request can leave a pooled SQLite connection inside a transaction)" >&2
        ((status == 1)) || status=2
        break
      fi
    done
  done
done
exit "$status"
