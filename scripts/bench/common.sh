# Shared by the benchmark scripts: build, start a server on a throwaway data folder, wrk and pgbench.
# Sourcing script sets: SECONDS_EACH, CONNECTIONS. Exports PG* for psql/pgbench; sets BIN, BASE, WORK.
scripts/install-deps
command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
# BENCH_BIN: another build to measure (an older commit's, say), taken as it is.
if [ -n "${BENCH_BIN:-}" ]; then
    BIN=$BENCH_BIN
else
    swift build -c release --product feedfusion >/dev/null
    BIN="$(swift build -c release --show-bin-path)/feedfusion"
fi
PGBIN=/usr/lib/postgresql/15/bin

WORK=$(mktemp -d /tmp/feedfusion-bench.XXXXXX); chmod 755 "$WORK"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export DATA_DIR="$WORK/data" PORT LOG_LEVEL=warning DB_POOL_SIZE=${DB_POOL_SIZE:-20}
export METRICS_TOKEN="bench-metrics-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d " \n")"
BASE="http://127.0.0.1:$PORT"

start_server() { # [VAR=value…] prefix the call to change the server's settings
    # The limiter stays on (its cost is part of every request) with a ceiling wrk cannot reach from one address.
    RATE_LIMIT_REST_PER_MIN=${RATE_LIMIT_REST_PER_MIN:-10000000} RATE_LIMIT_AUTH_PER_MIN=${RATE_LIMIT_AUTH_PER_MIN:-10000000} \
        "$BIN" serve > "$WORK/serve.log" 2>&1 &
    SERVER=$!
    # Also any second instance or redis-server a script started (bench-cache).
    trap 'kill -TERM $SERVER ${SECOND:-} ${REDIS:-} 2>/dev/null; wait $SERVER 2>/dev/null; rm -rf "$WORK"' EXIT
    for _ in $(seq 1 240); do curl -sf "$BASE/ready" >/dev/null && break; sleep 0.5; done
    export PGHOST=127.0.0.1 PGPORT=$(cat "$DATA_DIR/postgres/port") PGUSER=postgres PGDATABASE=feedfusion
    export PGPASSWORD=$(cat "$DATA_DIR/postgres/superuser-password")
}

wrk_run() { # path [header…] → "rps p50ms p99ms"
    local path=$1; shift
    local headers=()
    for header in "$@"; do headers+=(-H "$header"); done
    wrk -t2 -c"$CONNECTIONS" -d"${SECONDS_EACH}s" --latency "${headers[@]}" "$BASE$path" \
        | awk '/Requests\/sec/ {rps=$2} /^ +50%/ {p50=$2} /^ +99%/ {p99=$2}
               function ms(v) { if (v ~ /us$/) return v/1000; if (v ~ /ms$/) return v+0; if (v ~ /s$/) return v*1000; return v }
               END {printf "%.0f %.2f %.2f\n", rps, ms(p50), ms(p99)}'
}

pgbench_run() { # script [clients] → "tps - -"
    "$PGBIN/pgbench" -n -M extended -c "${2:-$CONNECTIONS}" -j 2 -T "$SECONDS_EACH" -f "$1" 2>/dev/null \
        | awk '/^tps/ {printf "%.0f - -\n", $3}'
}

# Latency percentiles of one connection per script, for scripts measured side by side in time, for comparing them on a machine
# whose speed drifts: SECONDS_EACH per script, cut into slices of at most 2 s that take turns
# (a b c a b c …), each slice on a fresh connection whose first 20 calls (cold plans) are dropped.
# One "p50 p95 p99 calls" line (ms) per script, in argument order.
pgbench_latencies() { # script…
    local slices=$(( SECONDS_EACH / 2 > 1 ? SECONDS_EACH / 2 : 1 ))
    local slice_seconds=$(( SECONDS_EACH / slices ))
    local dir; dir=$(mktemp -d "$WORK/lat.XXXX")
    for slice in $(seq 1 "$slices"); do
        local index=0
        for script in "$@"; do
            index=$((index + 1))
            mkdir -p "$dir/$index/$slice"
            (cd "$dir/$index/$slice" && "$PGBIN/pgbench" -n -M extended -c 1 -T "$slice_seconds" -l -f "$script" >/dev/null 2>&1)
        done
    done
    for index in $(seq 1 $#); do
        python3 - "$dir/$index" <<'PY'
import glob, sys
lat = []
for log in glob.glob(sys.argv[1] + "/*/pgbench_log.*"):
    lines = [line for line in open(log) if line.strip()]
    lat += [int(line.split()[2]) / 1000 for line in lines[20:]]
lat.sort()
if not lat: print("- - - 0 (failed)"); sys.exit()
pick = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]
print(f"{pick(0.50):.2f} {pick(0.95):.2f} {pick(0.99):.2f} {len(lat)}")
PY
    done
}

# The transaction-local settings the server sets for a caller, as SQL, for pgbench scripts.
caller_settings() { # role claims-json [user-id]
    echo "SELECT set_config('role', '$1', true), set_config('request.jwt.claims', '$2', true), set_config('request.jwt.claim.sub', '${3:-}', true), set_config('request.jwt.claim.role', '$1', true), set_config('request.method', 'GET', true), set_config('statement_timeout', '8000ms', true);"
}

# Access tokens signed with the server's secret, as its auth API would issue them: user ids on
# stdin, "token <jwt>" lines out.
make_tokens() {
    python3 -c '
import base64, hashlib, hmac, json, sys, time
secret = open(sys.argv[1]).read().strip().encode()
b64 = lambda raw: base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
for user in sys.stdin.read().split():
    claims = {"sub": user, "role": "authenticated", "aud": "authenticated", "exp": int(time.time()) + 7200, "session_id": user}
    body = head + "." + b64(json.dumps(claims).encode())
    print("token", body + "." + b64(hmac.new(secret, body.encode(), hashlib.sha256).digest()))
' "$DATA_DIR/jwt-secret"
}

# The seeded author with the most followers, posting as one more client beside a load test: its
# create_post latency is the fan-out's cost to a writer (20 posts: the hourly cap is 30, and the
# load test's virtual users may post as this user too). After start_server and the seed.
find_top_author() { # → TOP_AUTHOR (email), ANON_KEY
    TOP_AUTHOR=$(psql -XAtq -c "SELECT u.email FROM public.follows f JOIN auth.users u ON u.id = f.followed_profile_id
                                GROUP BY u.email ORDER BY count(*) DESC LIMIT 1")
    ANON_KEY=$("$BIN" keys --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["anon_key"])')
}
top_author_posts() { # seconds → "n p50 p95 max" (ms) in $WORK/top-author.txt, failures in top-author.err
    python3 - "$BASE" "$ANON_KEY" "$TOP_AUTHOR" "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["password"])' "$DATA_DIR/seed-users.json")" "$1" \
        > "$WORK/top-author.txt" 2> "$WORK/top-author.err" <<'PY'
import json, math, sys, time, urllib.request
base, key, email, password, seconds = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5])
headers = {"apikey": key, "Content-Type": "application/json", "X-Forwarded-For": "10.255.255.254"}
def call(path, body, token=key):
    request = urllib.request.Request(base + path, json.dumps(body).encode(), {**headers, "Authorization": f"Bearer {token}"})
    started = time.monotonic()
    with urllib.request.urlopen(request, timeout=30) as reply:
        return json.load(reply), (time.monotonic() - started) * 1000
session, _ = call("/auth/v1/token?grant_type=password", {"email": email, "password": password})
latencies, count = [], 20
for index in range(count):
    time.sleep(seconds / count)
    try:
        _, ms = call("/rest/v1/rpc/create_post", {"p_body": f"top author, post {index}"}, session["access_token"])
        latencies.append(ms)
    except Exception as error:
        print(f"create_post failed: {error}", file=sys.stderr)
latencies.sort()
pick = lambda q: latencies[max(0, math.ceil(q * len(latencies)) - 1)]  # nearest rank
print(f"{len(latencies)} {pick(0.5):.1f} {pick(0.95):.1f} {latencies[-1]:.1f}" if latencies else "0 - - -")
PY
}
