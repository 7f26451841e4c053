#!/usr/bin/env bash
# `make demo`, after targeting and the preview: enforce the demo directive against four
# reference platforms (real HTTP servers), deliver the webhooks, reconcile, show what
# happened to the seed personas, and (unless DEMO_SERVE=0) serve the appeal portal.
#
#   scripts/demo_enforce.sh DEMO_DIR
set -euo pipefail

DIR=${1:?usage: scripts/demo_enforce.sh DEMO_DIR}
UV=${UV:-uv}
PORT0=${DEMO_PLATFORM_PORT:-8701}
export FAIRBAN_HOME="$DIR/home"
export FAIRBAN_PUBLIC_URL=${FAIRBAN_PUBLIC_URL:-http://127.0.0.1:${DEMO_PORT:-8000}}
unset FAIRBAN_DATABASE_URL  # the demo is the embedded default: a SQLite file in $DIR/home
rm -rf "$FAIRBAN_HOME"
mkdir -p "$FAIRBAN_HOME"
$UV run --frozen --quiet fairban db upgrade >/dev/null

# the environment's own executable: a background `uv run` would not pass our kill on
BIN="$($UV run --frozen --quiet python -c 'import sys; print(sys.prefix)')/bin"
fairban() { "$BIN/fairban" "$@"; }
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

# one shared secret per demo run, never printed; each platform keeps its own table
FAIRBAN_SIM_SECRET=$($UV run --frozen --quiet python -c 'import secrets; print(secrets.token_urlsafe(24))')
export FAIRBAN_SIM_SECRET
i=0
for platform in qq wechat alipay pos; do
    port=$((PORT0 + i)); i=$((i + 1))
    "$BIN/fairban" platform-sim --name "$platform" --port "$port" --db "$FAIRBAN_HOME/platform-$platform.db" \
        >"$FAIRBAN_HOME/platform-$platform.log" 2>&1 &
    pids+=($!)
    "$BIN/python" - "$port" <<'PY'
import sys, time, httpx
url = f"http://127.0.0.1:{sys.argv[1]}/health"
for _ in range(200):
    try:
        if httpx.get(url, timeout=1).status_code == 200:
            sys.exit(0)
    except httpx.HTTPError:
        pass
    time.sleep(0.1)
sys.exit(f"the reference platform on port {sys.argv[1]} did not start (see its log)")
PY
    fairban platform add "$platform" --url "http://127.0.0.1:$port/webhook" --secret "$FAIRBAN_SIM_SECRET" --actor operator:demo >/dev/null
done
echo "4 reference platforms (qq, wechat, alipay, pos) on ports $PORT0-$((PORT0 + 3))"

echo; echo "== enforce: a 10% stage first, then all"
fairban enforce "$DIR/directive.yaml" --decisions "$DIR/decisions" --data "$DIR/evidence" --stage 10% --actor operator:demo
fairban enforce "$DIR/directive.yaml" --decisions "$DIR/decisions" --data "$DIR/evidence" --stage all --actor operator:demo

echo; echo "== deliver the webhooks, then compare each platform with fairban"
fairban worker --once --quiet
fairban reconcile

echo; echo "== the seed personas of 2019"
"$BIN/python" scripts/demo_personas.py "$DIR/truth.csv"

if [ -d "$DIR/days" ]; then
    echo; echo "== a standing directive: the days after 14 October"
    # the store holds the evidence the first judgement read; each day's delivery then
    # comes in as a platform sends it, and the daily run enforces what changed
    fairban ingest "$DIR/evidence" --store "$DIR/store" -q | tail -n 1
    for day in $(ls "$DIR/days" | head -n "${DEMO_DAYS:-2}"); do
        echo; echo "-- $day"
        fairban daily "$DIR/directive.yaml" --store "$DIR/store" --inbox "$DIR/days/$day" --actor operator:demo -q
        fairban worker --once --quiet
    done
fi

fairban audit verify

echo; echo "== the transparency report of the last two days (Beijing time): what was done and why"
fairban report transparency --from "$(TZ=Asia/Shanghai date -d yesterday +%F)" --to "$(TZ=Asia/Shanghai date +%F)" \
    --out "$DIR/transparency" --force

if [ "${DEMO_SERVE:-1}" = "0" ]; then
    exit 0
fi
echo; echo "== the appeal portal and the reviewer console"
fairban appeals demo-access --truth "$DIR/truth.csv"
"$BIN/fairban" worker --quiet >"$FAIRBAN_HOME/worker.log" 2>&1 &
pids+=($!)
echo "Serving on $FAIRBAN_PUBLIC_URL (Ctrl-C ends the demo); one-time codes go to $FAIRBAN_HOME/codes.log"
fairban serve --port "${DEMO_PORT:-8000}" --data "$DIR/evidence"
