"""Starts a throwaway PostgreSQL 16 with pgvector (from the `pgserver`
package) for the end-to-end tests, prints its URL, and stops it and removes
its folder when standard input closes (the test process exited).

    python3 tests/pg/server.py DATA_DIR
"""

import sys

import pgserver

data_dir = sys.argv[1]
server = pgserver.get_server(data_dir, cleanup_mode="delete")
server.psql("CREATE EXTENSION IF NOT EXISTS vector;")
print(server.get_uri(), flush=True)
try:
    sys.stdin.read()
finally:
    server.cleanup()
