"""Upload throughput to a real S3 HTTP server (moto on 127.0.0.1): `taptik-db upload` against
a plain boto3 loop at the same concurrency, and against the seed's way (batches of 10, 1 s pause).

    python benchmarks/upload_s3.py [--files 2000] [--concurrency 8] [--old-files 200]

The seed's way spends a whole second per 10 files sleeping; it runs on --old-files only
(its rate does not depend on the count) unless you give it more.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _setup import add_user, migrated_database, print_table, start_moto, stop_database


def make_packages(folder: Path, n: int) -> list[Path]:
    folder.mkdir(parents=True)
    paths = []
    for i in range(n):
        doc = {"name": f"pkg-{i}", "platform": "cursor", "settings": {"i": i, "pad": "x" * 400}}
        path = folder / f"pkg-{i:05d}.taptik"
        path.write_text(json.dumps(doc))
        paths.append(path)
    return paths


def new_bucket(name: str) -> str:
    import boto3

    boto3.client("s3").create_bucket(Bucket=name)
    return name


def boto3_loop(paths: list[Path], concurrency: int) -> float:
    import boto3
    from botocore.config import Config

    client = boto3.client("s3", config=Config(max_pool_connections=concurrency, s3={"addressing_style": "path"}))
    bucket = new_bucket("plain-boto3")

    def put(path: Path) -> None:
        client.put_object(Bucket=bucket, Key=path.name, Body=path.read_bytes(), ContentType="application/json")

    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(put, paths))
    return len(paths) / (time.perf_counter() - start)


def seed_way(paths: list[Path]) -> float:
    import boto3

    client = boto3.client("s3", config=__import__("botocore.config").config.Config(s3={"addressing_style": "path"}))
    bucket = new_bucket("seed-way")
    start = time.perf_counter()
    for i in range(0, len(paths), 10):
        batch = paths[i : i + 10]
        with ThreadPoolExecutor(10) as pool:
            list(pool.map(lambda p: client.put_object(Bucket=bucket, Key=p.name, Body=p.read_bytes()), batch))
        if i + 10 < len(paths):
            time.sleep(1)
    return len(paths) / (time.perf_counter() - start)


def taptik_upload(folder: Path, user_id: str, concurrency: int) -> tuple[float, int]:
    from storage_tasks.export import export_packages
    from storage_tasks.upload import upload_packages

    manifest = folder.parent / "manifest.json"
    export_packages(folder, manifest)
    bucket = new_bucket("taptik-packages")
    start = time.perf_counter()
    result = upload_packages(manifest, user_id, storage_url=f"s3://{bucket}", concurrency=concurrency)
    elapsed = time.perf_counter() - start
    assert result.ok, [o.detail for o in result.by_status("failed")][:3]
    return len(result.by_status("uploaded")) / elapsed, len(result.by_status("uploaded"))


def on_fresh_server(fn, *args):
    server = start_moto()
    try:
        return fn(*args)
    finally:
        server.terminate()
        server.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--old-files", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        try:
            _, admin_url = migrated_database(tmp / "db")
            user_id = add_user(admin_url)
            paths = make_packages(tmp / "packages", args.files)
            # Each way gets a fresh S3 server, so none pays for the objects of another.
            plain = on_fresh_server(boto3_loop, paths, args.concurrency)
            ours, uploaded = on_fresh_server(taptik_upload, tmp / "packages", user_id, args.concurrency)
            old = on_fresh_server(seed_way, paths[: args.old_files])
        finally:
            stop_database(tmp / "db")
    print(f"{args.files} packages of ~0.5 kB, concurrency {args.concurrency}, moto S3 on 127.0.0.1\n")
    print_table(
        ["way", "files", "files/s", "vs plain boto3"],
        [
            ["plain boto3 put_object loop", args.files, f"{plain:.0f}", "1.00"],
            ["taptik-db upload (put+verify+rows)", uploaded, f"{ours:.0f}", f"{ours / plain:.2f}"],
            ["seed: batches of 10, 1 s pause", min(args.old_files, args.files), f"{old:.1f}", f"{old / plain:.3f}"],
        ],
    )


if __name__ == "__main__":
    main()
