"""Data that leaves: the Python duckdb package reads `rctgate export` and the native file.

    python3 tests/export/test_export.py RCTGATE_BINARY

Writes the demo to a new database, exports it as Parquet, and reads every exported table
and the database file itself with the Python `duckdb` package (tests/export/requirements.txt),
checking that both give the same rows.
"""

import subprocess
import sys
import tempfile
from pathlib import Path

import duckdb

BINARY = sys.argv[1]
TABLES = ["exposures", "metric_events", "metrics", "experiments", "models", "model_versions",
          "promotions", "overrides", "alias_syncs", "audit_log", "api_keys", "schema_version"]


def check(condition, message):
    if not condition:
        raise AssertionError(message)


def main():
    work = Path(tempfile.mkdtemp(prefix="rctgate-export-"))
    db = work / "demo.duckdb"
    subprocess.run([BINARY, "demo", "--db", str(db)], capture_output=True, text=True, check=True)
    export = work / "export"
    out = subprocess.run([BINARY, "export", str(export), "--format", "parquet", "--db", str(db)],
                         capture_output=True, text=True)
    check(out.returncode == 0, f"export failed: {out.stderr}")

    native = duckdb.connect(str(db), read_only=True)
    exported = duckdb.connect()
    for table in TABLES:
        file = export / f"{table}.parquet"
        check(file.exists(), f"{file} was written")
        rows = exported.execute(f"SELECT count(*) FROM '{file}'").fetchone()[0]
        stored = native.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        check(rows == stored, f"{table}: {rows} rows exported, {stored} in the file")
        print(f"{table}: {rows} rows")
    check(exported.execute(f"SELECT count(*) FROM '{export / 'exposures.parquet'}'").fetchone()[0] > 10000,
          "the demo's exposures are there")
    # The same numbers through either door: exposures per experiment and variant.
    query = "SELECT experiment, variant, count(DISTINCT unit) FROM {} GROUP BY ALL ORDER BY ALL"
    through_export = exported.execute(query.format(f"'{export / 'exposures.parquet'}'")).fetchall()
    through_file = native.execute(query.format("exposures")).fetchall()
    check(through_export == through_file, "the export and the file agree")
    columns = [row[0] for row in exported.execute(f"DESCRIBE SELECT * FROM '{export / 'api_keys.parquet'}'").fetchall()]
    check("key_hash" not in columns, f"key hashes are not exported: {columns}")
    print(f"export test passed with duckdb {duckdb.__version__}")


if __name__ == "__main__":
    main()
