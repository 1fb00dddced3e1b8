#!/bin/bash
# Runs once, at the primary's first start: let the standbys connect for replication.
set -euo pipefail
echo "host replication all all trust" >> "$PGDATA/pg_hba.conf"
