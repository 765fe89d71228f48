"""Real servers on 127.0.0.1 for the streaming tests: an S3 endpoint (moto's server mode),
a plain HTTP file server, and a proxy that breaks one request in N on its way to either.

Each is a context manager that starts the server in a thread of the test process and
stops it on exit; nothing listens beyond 127.0.0.1.
"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

BUCKET = "zelda-test"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "zelda-test-key", "AWS_SECRET_ACCESS_KEY": "zelda-secret-never-logged",
               "AWS_DEFAULT_REGION": "us-east-1"}


@contextmanager
def s3_server() -> Iterator[str]:
    """moto's S3 on 127.0.0.1 (a free port), with bucket BUCKET; yields its endpoint URL.
    The caller sets AWS_ENDPOINT_URL (and CREDENTIALS) where clients run."""
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # a line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        _client(endpoint).create_bucket(Bucket=BUCKET)
        yield endpoint
    finally:
        server.stop()


def _client(endpoint: str):
    import boto3

    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
                        aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"])


def upload(endpoint: str, folder: Path, prefix: str) -> str:
    """Every file under ``folder`` (hidden state aside) to s3://BUCKET/prefix/; the URL."""
    client = _client(endpoint)
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if path.is_file() and not any(part.startswith(".") for part in rel.split("/")):
            client.upload_file(str(path), BUCKET, f"{prefix}/{rel}")
    return f"s3://{BUCKET}/{prefix}"


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@contextmanager
def _serve(handler) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


@contextmanager
def http_server(folder: Path) -> Iterator[str]:
    """A plain HTTP server of ``folder``; yields its base URL."""
    with _serve(partial(_Quiet, directory=str(folder))) as url:
        yield url


class FaultCounter:
    def __init__(self, every: int) -> None:
        self.every, self.n, self.failed = every, 0, 0
        self.lock = threading.Lock()

    def next_fails(self) -> bool:
        with self.lock:
            self.n += 1
            fails = self.every > 0 and self.n % self.every == 0
            self.failed += fails
            return fails


@contextmanager
def fault_proxy(target: str, every: int = 5) -> Iterator[tuple[str, FaultCounter]]:
    """A proxy to ``target`` (http://host:port) that breaks every ``every``-th request:
    alternately a 503 (S3's SlowDown) and a body cut off half-way. Yields (URL, counter)."""
    host, port = target.removeprefix("http://").split(":")
    counter = FaultCounter(every)

    class Proxy(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:
            pass

        def _forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            fails = counter.next_fails()
            if fails and (counter.failed % 2 == 1 or self.command == "HEAD"):
                msg = b"<Error><Code>SlowDown</Code><Message>injected</Message></Error>"
                self.send_response(503)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(msg)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(msg)
                self.close_connection = True
                return
            conn = http.client.HTTPConnection(host, int(port), timeout=30)
            try:
                headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
            finally:
                conn.close()
            self.send_response(resp.status)
            for k, v in resp.getheaders():
                if k.lower() not in ("connection", "transfer-encoding", "content-length"):
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            if fails:  # promise the whole body, send half, hang up
                self.send_header("Connection", "close")
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data[:len(data) // 2])
                self.close_connection = True
                return
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _forward

    with _serve(Proxy) as url:
        yield url, counter


def s3_env(endpoint: str) -> dict[str, str]:
    """The environment a client of ``endpoint`` needs (the standard AWS variables)."""
    return {**CREDENTIALS, "AWS_ENDPOINT_URL": endpoint}


def closed_port() -> str:
    """An endpoint URL on 127.0.0.1 where nothing listens."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"

