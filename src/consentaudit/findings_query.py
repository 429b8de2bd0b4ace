"""`consentaudit query DIR`: cross-shard questions over a `--out` folder's findings Parquet, answered by
DuckDB (the `[scale]` extra) without opening an image: which images a manifest names by sha256 (a
million-record manifest joins in seconds), which came from listed URLs or domains, which bytes occur in
more than one shard. Perceptual matching stays where it is exact and indexed: in each shard's scan.

Every answer is a row (kind, path, shard, sha256, verdict, detail)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from consentaudit.errors import InputError
from consentaudit.text_files import not_utf8_at

KINDS = ("manifest", "url", "domain", "duplicate")


@dataclass(frozen=True)
class QueryRow:
    kind: str  # manifest | url | domain | duplicate
    path: str
    shard: str
    sha256: str | None
    verdict: str
    detail: str  # the record id and status, the listed URL or domain, or the other shards holding the bytes


def _connect(out_dir: str) -> Any:
    """A DuckDB connection for a `scan --out` folder (an InputError when DuckDB or the folder is missing)."""
    try:
        import duckdb
    except ImportError:
        raise InputError("`consentaudit query` needs DuckDB: pip install 'consentaudit[scale]'") from None
    folder = Path(out_dir)
    if not (folder / "summary.json").is_file():
        raise InputError(f"{out_dir}: not a `scan --out` folder (no summary.json)")
    return duckdb.connect()


def _quote(text: str) -> str:
    return text.replace("'", "''")


def _manifest_table(con: Any, paths: Sequence[Path]) -> None:
    con.execute("CREATE TABLE manifest (record_id VARCHAR, sha256 VARCHAR, status VARCHAR, file VARCHAR)")
    for p in paths:
        if not p.is_file():
            raise InputError(f"manifest not found: {p}")
        name = p.name.lower()
        q = _quote(str(p))
        if name.endswith(".csv"):
            src = f"read_csv('{q}', header = true, all_varchar = true)"
        elif name.endswith((".jsonl", ".ndjson")):
            src = f"read_json('{q}', format = 'newline_delimited')"
        elif name.endswith(".json"):
            src = f"(SELECT unnest(records, recursive := true) FROM read_json('{q}', format = 'auto'))"
        else:
            raise InputError(f"{p}: manifest format must be .csv, .jsonl or .json")
        try:
            cols = {c[0] for c in con.execute(f"DESCRIBE SELECT * FROM {src}").fetchall()}
            if "sha256" not in cols or "record_id" not in cols:
                raise InputError(f"{p}: needs record_id and sha256 columns to be joined by sha256")
            status = "CAST(status AS VARCHAR)" if "status" in cols else "NULL"
            con.execute(
                f"INSERT INTO manifest SELECT CAST(record_id AS VARCHAR), lower(CAST(sha256 AS VARCHAR)), "
                f"{status}, '{_quote(p.name)}' FROM {src} WHERE sha256 IS NOT NULL AND CAST(sha256 AS VARCHAR) <> ''"
            )
        except InputError:
            raise
        except Exception as exc:  # duckdb's own error types: a malformed file
            raise InputError(f"{p}: cannot read as a manifest ({type(exc).__name__}: {str(exc)[:300]})") from None


def _url_lists(paths: Sequence[Path]) -> tuple[list[str], list[str]]:
    urls: list[str] = []
    domains: list[str] = []
    for p in paths:
        try:
            lines = p.read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError:
            raise InputError(f"cannot read URL list {p}: not UTF-8 text at {not_utf8_at(p)}") from None
        except OSError as exc:
            raise InputError(f"cannot read URL list {p}: {exc}") from None
        for ln in lines:
            entry = ln.strip()
            if not entry or entry.startswith("#"):
                continue
            if "/" in entry:
                urls.append(entry)
            else:
                domains.append(entry.lower().removeprefix("www.").lstrip("."))
    return urls, domains


def query(
    out_dir: str,
    manifests: Sequence[Path] = (),
    url_lists: Sequence[Path] = (),
    duplicates: bool = False,
) -> list[QueryRow]:
    """The rows answering each question asked (manifests by sha256, URL/domain lists, cross-shard
    duplicates), in that order, each sorted by path."""
    if not (manifests or url_lists or duplicates):
        raise InputError("ask something: --manifest, --urls or --duplicates")
    con = _connect(out_dir)
    import duckdb  # loaded by _connect

    glob = str(Path(out_dir) / "**" / "*.parquet")
    try:
        con.execute(f"CREATE VIEW findings AS SELECT * FROM read_parquet('{_quote(glob)}')")
        rows = _answers(con, manifests, url_lists, duplicates)
    except duckdb.Error as exc:  # a findings Parquet cut short or damaged (DuckDB names the file), or of another shape
        raise InputError(f"{out_dir}: cannot read its findings Parquet ({str(exc).splitlines()[0]})") from None
    return [QueryRow(*(str(v) if v is not None else None for v in r)) for r in rows]  # type: ignore[arg-type]


def _answers(con: Any, manifests: Sequence[Path], url_lists: Sequence[Path], duplicates: bool) -> list[tuple[Any, ...]]:
    """Each question's rows, in the order asked, from the `findings` view."""
    rows: list[tuple[Any, ...]] = []
    if manifests:
        _manifest_table(con, manifests)
        rows += con.execute(
            "SELECT 'manifest', f.path, f.shard, f.sha256, f.verdict, "
            "m.record_id || ' (' || coalesce(m.status, '?') || ', ' || m.file || ')' "
            "FROM findings f JOIN manifest m ON lower(f.sha256) = m.sha256 ORDER BY f.path, m.record_id"
        ).fetchall()
    if url_lists:
        urls, domains = _url_lists(url_lists)
        con.execute("CREATE TABLE listed_url (url VARCHAR)")
        con.execute("CREATE TABLE listed_domain (domain VARCHAR)")
        if urls:
            con.executemany("INSERT INTO listed_url VALUES (?)", [(u,) for u in urls])
        if domains:
            con.executemany("INSERT INTO listed_domain VALUES (?)", [(d,) for d in domains])
        rows += con.execute(
            "SELECT DISTINCT 'url', f.path, f.shard, f.sha256, f.verdict, u.url FROM findings f "
            "JOIN listed_url u ON f.url = u.url ORDER BY f.path"
        ).fetchall()
        rows += con.execute(
            "SELECT 'domain', f.path, f.shard, f.sha256, f.verdict, min(d.domain) FROM findings f "
            "JOIN listed_domain d ON lower(f.domain) = d.domain OR lower(f.domain) LIKE '%.' || d.domain "
            "GROUP BY ALL ORDER BY f.path"
        ).fetchall()
    if duplicates:
        rows += con.execute(
            "WITH d AS (SELECT sha256, list(DISTINCT shard ORDER BY shard) AS shards FROM findings "
            "WHERE sha256 IS NOT NULL GROUP BY sha256 HAVING count(DISTINCT shard) > 1) "
            "SELECT 'duplicate', f.path, f.shard, f.sha256, f.verdict, "
            "'in shards ' || array_to_string(d.shards, ', ') "
            "FROM findings f JOIN d USING (sha256) ORDER BY f.sha256, f.path"
        ).fetchall()
    return rows


def write_rows(rows: Sequence[QueryRow], out: Path) -> None:
    """Rows to a .csv, .jsonl or .parquet file."""
    fields = list(QueryRow.__dataclass_fields__)
    records = [{k: getattr(r, k) for k in fields} for r in rows]
    try:
        if out.suffix == ".csv":
            import csv

            with out.open("w", encoding="utf-8", newline="") as f:
                w = csv.DictWriter(f, fieldnames=fields, quoting=csv.QUOTE_ALL)
                w.writeheader()
                w.writerows(records)
        elif out.suffix == ".jsonl":
            out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
        elif out.suffix == ".parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            pq.write_table(pa.Table.from_pylist(records, schema=pa.schema([(k, pa.string()) for k in fields])), out)
        else:
            raise InputError(f"{out}: write .csv, .jsonl or .parquet")
    except OSError as exc:
        from consentaudit.errors import OutputError

        raise OutputError(f"cannot write {out}: {exc}") from None
