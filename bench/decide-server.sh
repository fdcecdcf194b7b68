# Sourced by the assignment benches (run-assign-bench.sh, decide-instructions.sh): starting
# `rctgate serve` and setting up its experiments. Expects WORK (a scratch directory), BENCH
# (the script's name, for errors), RCTGATE (the binary) and, before `api`, ADMIN (an admin
# key, which `create_keys` sets).

# create_keys DB: an admin and an assign key in the database at DB, as ADMIN and ASSIGN.
create_keys() {
    ADMIN="$("$RCTGATE" keys create --scope admin --db "$1" | tail -n 1 | tr -d '[:space:]')"
    ASSIGN="$("$RCTGATE" keys create --scope assign --db "$1" | tail -n 1 | tr -d '[:space:]')"
    [[ "$ADMIN" == rctg_* && "$ASSIGN" == rctg_* ]] || { echo "$BENCH: could not create keys" >&2; exit 1; }
}

# start_server COMMAND...: runs COMMAND (ending in `rctgate serve ... --addr 127.0.0.1:0`,
# perhaps behind taskset or valgrind) in the background, output in $WORK/serve.out and
# serve.err; sets SERVER_PID, and URL once the server prints where it listens (60 s at most).
start_server() {
    "$@" >"$WORK/serve.out" 2>"$WORK/serve.err" &
    SERVER_PID=$!
    URL=""
    for _ in $(seq 1 600); do
        URL="$(sed -n 's/^rctgate listening on //p' "$WORK/serve.out" | head -1)"
        [[ -n "$URL" ]] && return 0
        kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/serve.err" >&2; exit 1; }
        sleep 0.1
    done
    echo "$BENCH: the server did not start" >&2
    exit 1
}

# api METHOD PATH [BODY]: one call with the admin key; exits unless it answers 2xx.
api() {
    local args=(-sS -o "$WORK/api.out" -w '%{http_code}' -X "$1" -H "Authorization: Bearer $ADMIN")
    [[ $# -ge 3 ]] && args+=(-H 'Content-Type: application/json' --data "$3")
    local code
    code="$(curl "${args[@]}" "$URL$2")"
    [[ "$code" == 2* ]] || { echo "$BENCH: $1 $2 -> $code: $(cat "$WORK/api.out")" >&2; exit 1; }
}

# The metric every bench experiment measures.
create_metric() {
    api POST /v1/metrics '{"name": "bookings", "kind": "proportion", "event": "booking", "window_hours": 168, "direction": "increase"}'
}

# create_experiment KEY: two arms 50/50, coverage 1, started.
create_experiment() {
    api POST /v1/experiments "{\"key\": \"$1\", \"hypothesis\": \"variant B books more\",
        \"variants\": [{\"name\": \"control\", \"weight\": 0.5, \"payload\": {\"model\": \"v6\"}},
                       {\"name\": \"treatment\", \"weight\": 0.5, \"payload\": {\"model\": \"v7\"}}],
        \"metrics\": {\"primary\": \"bookings\"}, \"coverage\": 1.0}"
    api POST "/v1/experiments/$1/start"
}
