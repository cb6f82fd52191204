#!/bin/bash
# bench/utf8-login.sh: login+STAT on a 10,000-message Maildir (every
# 100th message with a UTF-8 Subject) under one utf8_legacy mode, cold
# (the first login: no index yet) and warm (1,000 sessions after three
# more). Needs root (the server drops to its users) and a built binary.
#
#   bench/utf8-login.sh BINARY PORT [-o utf8_legacy=send ...]
#
# Prints the first login's latency and the warm run's JSON line
# (satchel bench --json). Runs well under a minute.
set -eu
BIN=$(realpath "$1") PORT=$2; shift 2
D=$(mktemp -d /tmp/satchel-utf8-login-XXXXXX)
trap 'kill $SRV 2>/dev/null; wait $SRV 2>/dev/null; rm -rf "$D"' EXIT
SRV=
mkdir -p "$D/state" "$D/mail"
/usr/bin/python3 - "$D/mail/bob" <<'PY'
import os, sys
top = sys.argv[1]
for s in ("new", "cur", "tmp"):
    os.makedirs(os.path.join(top, s))
for i in range(10000):
    subj = "Gr\u00fc\u00dfe %d" % i if i % 100 == 0 else "report %d" % i
    body = ("From: a@example.org\nTo: bob@example.org\nSubject: %s\n"
            "Date: Thu, 3 Dec 2026 10:00:00 +0000\n\n" % subj +
            "line of text\n" * 30).encode()
    with open(os.path.join(top, "cur", "%d.M%dP1.bench:2,S"
                           % (1700000000 + i, i)), "wb") as f:
        f.write(body)
PY
chown -R satchel: "$D/mail"
echo 'bob:{PLAIN}pw' >"$D/passwd"
chmod 600 "$D/passwd"; chown satchel-auth "$D/passwd"; chmod 755 "$D"
cat >"$D/satchel.conf" <<C
listen = 127.0.0.1:$PORT
users = passwd-file:$D/passwd
mail = maildir:$D/mail/%u
state_dir = $D/state
log = stderr
workers = 1
C
"$BIN" serve -c "$D/satchel.conf" --foreground "$@" 2>"$D/log" \
	>/dev/null </dev/null &
SRV=$!
for _ in $(seq 100); do grep -q " ready: " "$D/log" && break; sleep 0.1; done
grep -q " ready: " "$D/log" || { echo "utf8-login: no ready line" >&2; exit 1; }
printf 'cold '
"$BIN" bench -p "$PORT" -u bob -w pw -n 1 --quiet --json
"$BIN" bench -p "$PORT" -u bob -w pw -n 3 --quiet >/dev/null
printf 'warm '
"$BIN" bench -p "$PORT" -u bob -w pw -n 1000 --quiet --json
