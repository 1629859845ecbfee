#!/usr/bin/env bash
# Makes sure PostgreSQL answers on 127.0.0.1:5432 with trust authentication
# for local connections: installs it from Debian's packages when missing,
# creates a cluster when there is none, starts it when stopped. Tests and
# `make demo` then find it (herald can also start a private cluster itself,
# but the tests use the machine's server).
set -euo pipefail

ready() { pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; }

if command -v pg_isready >/dev/null && ready; then
	exit 0
fi

sudo_() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
	echo "installing PostgreSQL from Debian's packages"
	sudo_ apt-get update -qq
	sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi

if ! ls -d /etc/postgresql/*/main >/dev/null 2>&1; then
	ver=$(ls /usr/lib/postgresql | sort -V | tail -1)
	sudo_ pg_createcluster "$ver" main -- --auth=trust >/dev/null
fi

for conf in /etc/postgresql/*/main; do
	ver=$(basename "$(dirname "$conf")")
	hba="$conf/pg_hba.conf"
	# Trust local TCP and socket connections: tests connect without a password.
	if ! grep -q '^host all all 127.0.0.1/32 trust' "$hba"; then
		sudo_ sed -i -E 's/^(local|host)(\s+all\s+all\s+.*)\s(peer|md5|scram-sha-256)$/\1\2 trust/' "$hba"
		echo 'host all all 127.0.0.1/32 trust' | sudo_ tee -a "$hba" >/dev/null
	fi
	sudo_ pg_ctlcluster --skip-systemctl-redirect "$ver" main start 2>/dev/null || \
		sudo_ pg_ctlcluster --skip-systemctl-redirect "$ver" main reload 2>/dev/null || true
done

for _ in $(seq 1 30); do
	ready && break
	sleep 1
done
if ! ready; then
	echo "PostgreSQL does not answer on 127.0.0.1:5432" >&2
	exit 1
fi
# The role tests connect as (the current user) must exist.
me=$(id -un)
if ! psql -h 127.0.0.1 -U postgres -d postgres -tAc "SELECT 1 FROM pg_roles WHERE rolname = '$me'" | grep -q 1; then
	psql -h 127.0.0.1 -U postgres -d postgres -c "CREATE ROLE \"$me\" SUPERUSER LOGIN" >/dev/null
fi
