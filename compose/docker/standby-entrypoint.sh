#!/bin/bash
# A hot standby of UPSTREAM_HOST (a primary, or a hub for cascading), streaming through a physical slot
# named after NODE_NAME. The first start clones the upstream with pg_basebackup; later starts just run.
set -euo pipefail
: "${UPSTREAM_HOST:?set UPSTREAM_HOST}" "${NODE_NAME:?set NODE_NAME}"
slot="${NODE_NAME//-/_}"

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  until pg_isready -q -h "$UPSTREAM_HOST" -U postgres; do sleep 1; done
  mkdir -p "$PGDATA"
  chown postgres:postgres "$PGDATA"
  chmod 700 "$PGDATA"
  gosu postgres pg_basebackup -h "$UPSTREAM_HOST" -U postgres -D "$PGDATA" \
    -X stream -C -S "$slot" --checkpoint=fast
  gosu postgres touch "$PGDATA/standby.signal"
  cat > "$PGDATA/postgresql.auto.conf" <<CONF
primary_conninfo = 'host=$UPSTREAM_HOST user=postgres application_name=$NODE_NAME'
primary_slot_name = '$slot'
CONF
  chown postgres:postgres "$PGDATA/postgresql.auto.conf"
fi

exec gosu postgres "$@"
