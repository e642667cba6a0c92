# SPDX-License-Identifier: MIT
# Auth and TLS against the mock: x-api-key, basic auth and SigV4 headers
# checked by the mock (secrets from the environment, never printed); extra
# headers; HTTPS with a test CA, refused without it; mutual TLS.
set -eu
. "$(dirname "$0")/lib.sh"
trap stop_mock EXIT

new_db auth
sql "CREATE TABLE ev (id bigserial PRIMARY KEY, who text);
     INSERT INTO ev (who) SELECT 'row ' || g FROM generate_series(1, 30) g" >/dev/null
u=0e3bbd435bfb
conf() { # conf EXTRA_SINK_SETTINGS
    write_conf "$WORK/pinemit.conf" '{ name = "ev"; key = "id"; }'
    sed -i "s|^  invoke_url = |  $1\n  invoke_url = |" "$WORK/pinemit.conf"
    rm -rf "$WORK/state"
}
last_auth() {
    python3 -c 'import json,sys; r=[json.loads(l) for l in open(sys.argv[1]) if "\"POST\"" in l][-1]; print(r["auth"], r["status"])' \
        "$MOCK_STORE/requests.jsonl"
}

# --- API Gateway API key ---
start_mock --auto-create --require-api-key 'k-123-secret'
conf 'api_key_env = "TEST_API_KEY";'
run_expect 2 run --stream ev
expect_match "unset variable" "sink.api_key_env: environment variable TEST_API_KEY is not set" "$OUT"
TEST_API_KEY=wrong-key run_expect 1 run --stream ev
expect_match "refused" "HTTP 403: gateway error: Forbidden" "$OUT"
expect_no_match "the key is never printed" "wrong-key" "$OUT"
TEST_API_KEY=k-123-secret run_expect 0 run --stream ev
expect_eq "sent with x-api-key" "api-key 200" "$(last_auth)"
verify $u.ev ev id
grep -q 'k-123-secret' "$WORK/pinemit.conf" "$MOCK_STORE/requests.jsonl" &&
    fail "the key leaked into a file"
stop_mock

# --- basic auth and extra headers (a REST proxy reached directly) ---
start_mock --auto-create --require-basic 'alice:s3cr3t'
conf 'basic_auth_env = "TEST_BASIC"; headers = [ "X-Request-Source: pinemit-test", "X-Custom-Team: data" ];'
TEST_BASIC='alice:wrong' run_expect 1 run --stream ev
expect_match "refused" "HTTP 401" "$OUT"
TEST_BASIC='alice:s3cr3t' run_expect 0 run --stream ev
expect_eq "sent with basic auth" "basic 200" "$(last_auth)"
python3 - "$MOCK_STORE/requests.jsonl" <<'PY' || fail "extra headers"
import json, sys
r = [json.loads(l) for l in open(sys.argv[1]) if '"POST"' in l][-1]
assert r["headers"]["x-request-source"] == "pinemit-test", r["headers"]
assert r["headers"]["x-custom-team"] == "data", r["headers"]
PY
stop_mock

# --- AWS SigV4 (IAM auth), with a session token ---
start_mock --auto-create --require-sigv4 'us-east-1:AKIDTEST:sEcReTkEy:tok-en'
conf 'aws_sigv4 = { region = "us-east-1"; };'
AWS_ACCESS_KEY_ID=AKIDTEST AWS_SECRET_ACCESS_KEY=wrong AWS_SESSION_TOKEN=tok-en run_expect 1 run --stream ev
expect_match "bad signature" "HTTP 403: gateway error: The request signature we calculated does not match" "$OUT"
expect_no_match "secret never printed" "sEcReTkEy|wrong" "$OUT"
AWS_ACCESS_KEY_ID=AKIDTEST AWS_SECRET_ACCESS_KEY=sEcReTkEy run_expect 1 run --stream ev
expect_match "token required" "HTTP 403" "$OUT"
AWS_ACCESS_KEY_ID=AKIDTEST AWS_SECRET_ACCESS_KEY=sEcReTkEy AWS_SESSION_TOKEN=tok-en run_expect 0 run --stream ev
expect_eq "signed" "sigv4 200" "$(last_auth)"
verify $u.ev ev id
stop_mock

# --- TLS with a test CA; refused without it; mutual TLS ---
bash "$TESTS_DIR/tls/mkcerts.sh" "$WORK/tls" >/dev/null
start_mock --auto-create --tls-cert "$WORK/tls/server.pem" --tls-key "$WORK/tls/server.key"
MOCK_URL="https://127.0.0.1:$MOCK_PORT/test"
conf ''
run_expect 1 run --stream ev
expect_match "unknown CA refused" "(certificate|SSL)" "$OUT"
conf "ca_file = \"$WORK/tls/ca.pem\";"
run_expect 0 run --stream ev
verify $u.ev ev id
conf 'insecure = true;'
run_expect 0 run --stream ev
expect_match "insecure is warned about" "sink.insecure = true: the proxy's TLS certificate is not verified" "$OUT"
stop_mock

start_mock --auto-create --tls-cert "$WORK/tls/server.pem" --tls-key "$WORK/tls/server.key" \
    --tls-client-ca "$WORK/tls/ca.pem"
MOCK_URL="https://127.0.0.1:$MOCK_PORT/test"
conf "ca_file = \"$WORK/tls/ca.pem\";"
run_expect 1 run --stream ev
conf "ca_file = \"$WORK/tls/ca.pem\"; client_cert = \"$WORK/tls/client.pem\"; client_key = \"$WORK/tls/client.key\";"
run_expect 0 run --stream ev
verify $u.ev ev id

# --- a config readable by others with a password in conninfo: a warning ---
sed -i 's|dbname=auth user=|dbname=auth password=hunter2 user=|' "$WORK/pinemit.conf"
chmod 644 "$WORK/pinemit.conf"
run_expect 0 run --stream ev
expect_match "exposed password warning" "holds a password in source.conninfo and others can read it" "$OUT"
expect_no_match "never printed" "hunter2" "$OUT"
