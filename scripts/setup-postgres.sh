#!/usr/bin/env bash
# Debian's PostgreSQL, started, with a `slipway` role the scale-out tests
# and benchmarks use (it creates a database per test). Idempotent; a
# partial `apt-get update` failure is tolerated. Prints the URL to use.
set -euo pipefail
# Only the URL goes to stdout (callers capture it); everything the tools
# say (e.g. pg_ctlcluster's "Removed stale pid file." after an unclean
# stop) goes to stderr.
exec 3>&1 1>&2
if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    echo "setup-postgres: installing postgresql" >&2
    apt-get update -qq >/dev/null 2>&1 || echo "setup-postgres: apt-get update reported errors; trying the install anyway" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null
fi
version=$(ls /usr/lib/postgresql | sort -n | tail -1)
if ! pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main"' | grep -q .; then
    pg_createcluster "$version" main >/dev/null
fi
if ! pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main" && $4 == "online"' | grep -q .; then
    # The server must not keep the caller's stdout (fd 3) open.
    pg_ctlcluster "$version" main start 3>&-
fi
for _ in $(seq 1 30); do
    su postgres -c "psql -Atqc 'select 1'" >/dev/null 2>&1 && break
    sleep 1
done
su postgres -c "psql -Atqc \"select 1 from pg_roles where rolname = 'slipway'\"" | grep -q 1 ||
    su postgres -c "psql -qc \"create role slipway login superuser password 'slipway'\"" >/dev/null
# Databases earlier test runs made (one per test) are of no further use.
su postgres -c "psql -Atqc \"select datname from pg_database where datname like 'slipway\\_test\\_%'\"" |
    while read -r name; do su postgres -c "dropdb --if-exists '$name'" >/dev/null 2>&1 || true; done
echo "postgres://slipway:slipway@127.0.0.1:5432/postgres" >&3
