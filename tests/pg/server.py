"""Starts a throwaway PostgreSQL 16 with pgvector (from the `pgserver`
package) for the end-to-end tests, prints its URL, and stops it and removes
its folder when standard input closes (the test process exited).

    python3 tests/pg/server.py DATA_DIR [SHARED_BUFFERS]

SHARED_BUFFERS (e.g. 1GB; the store bench's --shared-buffers): the server's
cache, set and the server restarted before the URL is printed.
"""

import sys

import pgserver
from pgserver._commands import pg_ctl

data_dir = sys.argv[1]
server = pgserver.get_server(data_dir, cleanup_mode="delete")
if len(sys.argv) > 2:
    server.psql(f"ALTER SYSTEM SET shared_buffers = '{sys.argv[2]}';")
    pg_ctl(["-w", "-m", "fast", "-l", str(server.log), "restart"],
           pgdata=server.pgdata, user=server.system_user)
    print("shared_buffers:", server.psql("SHOW shared_buffers;").split()[2],
          file=sys.stderr, flush=True)
server.psql("CREATE EXTENSION IF NOT EXISTS vector;")
print(server.get_uri(), flush=True)
try:
    sys.stdin.read()
finally:
    server.cleanup()
