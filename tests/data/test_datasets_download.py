"""Download and extraction against a local HTTP server on 127.0.0.1 (no network)."""
from __future__ import annotations

import contextlib

import hashlib
import io
import re
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from relcon.data.process import download as dl
from relcon.data.process.download import (
    Archive, BadArchiveError, ChecksumError, DownloadError, RawDataMissing, ensure_extracted, extract_zip,
    sidecar_path,
)


def make_zip(entries: dict, compression=zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buf.getvalue()


PAYLOAD = make_zip({"top/data.txt": b"x" * 200_000, "top/sub/more.bin": bytes(range(256)) * 300}, zipfile.ZIP_STORED)


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):  # keep test output quiet
        pass

    def do_GET(self):
        srv = self.server
        srv.seen.append((self.path, self.headers.get("Range")))
        if self.path not in srv.files:
            self.send_error(404, "Not Found")
            return
        data = srv.files[self.path]
        start = 0
        m = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
        if m and srv.honour_ranges and int(m.group(1)) >= len(data):
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{len(data)}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if m and srv.honour_ranges:
            start = int(m.group(1))
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Type", "application/zip")
        self.end_headers()
        if srv.cut_next_at is not None:  # simulate a dropped connection mid-transfer
            cut, srv.cut_next_at = srv.cut_next_at, None
            self.wfile.write(body[:cut])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)


@contextlib.contextmanager
def local_server(files: dict):
    """An HTTP server on 127.0.0.1 serving ``files`` ({"/path": bytes}) with Range support, that
    records every request (``seen``) and can drop the next transfer after ``cut_next_at`` bytes."""
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.files, srv.seen, srv.cut_next_at, srv.honour_ranges = files, [], None, True
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}"
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()


@pytest.fixture
def server():
    with local_server({"/data.zip": PAYLOAD, "/page.zip": b"<html>Service unavailable</html>"}) as srv:
        yield srv


def fetch(server, dest, **kw):
    kw.setdefault("progress", False)
    kw.setdefault("backoff", 0.0)
    return dl.download(f"{server.url}/data.zip", dest, **kw)


def test_full_download_records_digest(server, tmp_path):
    dest = fetch(server, tmp_path / "set.zip")
    assert dest.read_bytes() == PAYLOAD
    assert sidecar_path(dest).read_text().split() == [hashlib.sha256(PAYLOAD).hexdigest(), "set.zip"]
    assert not (tmp_path / "set.zip.part").exists()
    assert server.seen == [("/data.zip", None)]
    fetch(server, dest)  # present: verified against the record, not fetched again
    assert len(server.seen) == 1


def test_resume_after_interrupted_transfer(server, tmp_path):
    server.cut_next_at = 150_000
    dest = fetch(server, tmp_path / "set.zip", retries=2, chunk_size=1000)
    assert dest.read_bytes() == PAYLOAD
    assert server.seen[0] == ("/data.zip", None) and len(server.seen) == 2
    resumed_at = int(re.fullmatch(r"bytes=(\d+)-", server.seen[1][1]).group(1))
    assert 140_000 <= resumed_at <= 150_000  # what arrived before the break was kept


def test_resume_partial_file_of_an_earlier_run(server, tmp_path):
    (tmp_path / "set.zip.part").write_bytes(PAYLOAD[:12345])
    dest = fetch(server, tmp_path / "set.zip")
    assert dest.read_bytes() == PAYLOAD
    assert server.seen == [("/data.zip", "bytes=12345-")]


def test_complete_partial_file_is_not_fetched_again(server, tmp_path):
    (tmp_path / "set.zip.part").write_bytes(PAYLOAD)  # an earlier run stopped before the rename
    assert fetch(server, tmp_path / "set.zip").read_bytes() == PAYLOAD
    assert server.seen == [("/data.zip", f"bytes={len(PAYLOAD)}-")]


def test_oversized_partial_file_restarts(server, tmp_path):
    (tmp_path / "set.zip.part").write_bytes(PAYLOAD + b"junk")
    assert fetch(server, tmp_path / "set.zip").read_bytes() == PAYLOAD
    assert [r for _, r in server.seen] == [f"bytes={len(PAYLOAD) + 4}-", None]


def test_server_without_ranges_restarts_cleanly(server, tmp_path):
    server.honour_ranges = False
    (tmp_path / "set.zip.part").write_bytes(b"garbage that is not the start of the file")
    assert fetch(server, tmp_path / "set.zip").read_bytes() == PAYLOAD


def test_interrupted_past_retries_keeps_partial_file(server, tmp_path):
    server.cut_next_at = 50_000
    with pytest.raises(DownloadError, match="partial file .*set.zip.part is kept"):
        fetch(server, tmp_path / "set.zip", retries=0, chunk_size=1000)
    assert 40_000 <= (tmp_path / "set.zip.part").stat().st_size <= 50_000
    assert not (tmp_path / "set.zip").exists()
    assert fetch(server, tmp_path / "set.zip").read_bytes() == PAYLOAD  # the next run resumes


def test_checksum_mismatch_keeps_bad_file_aside(server, tmp_path):
    with pytest.raises(ChecksumError, match="sha256 mismatch .*kept aside as .*set.zip.bad-"):
        fetch(server, tmp_path / "set.zip", expected_sha256="0" * 64)
    assert not (tmp_path / "set.zip").exists() and not (tmp_path / "set.zip.part").exists()
    bad = list(tmp_path.glob("set.zip.bad-*"))
    assert len(bad) == 1 and bad[0].read_bytes() == PAYLOAD


def test_known_digest_table_is_used(server, tmp_path, monkeypatch):
    monkeypatch.setitem(dl.KNOWN_SHA256, f"{server.url}/data.zip", hashlib.sha256(PAYLOAD).hexdigest())
    fetch(server, tmp_path / "ok.zip")
    monkeypatch.setitem(dl.KNOWN_SHA256, f"{server.url}/data.zip", "f" * 64)
    with pytest.raises(ChecksumError):
        fetch(server, tmp_path / "other.zip")


def test_html_page_is_not_accepted_as_zip(server, tmp_path):
    with pytest.raises(BadArchiveError, match="not a zip archive"):
        dl.download(f"{server.url}/page.zip", tmp_path / "set.zip", progress=False)
    assert not (tmp_path / "set.zip").exists() and list(tmp_path.glob("set.zip.bad-*"))


def test_recorded_digest_is_checked_on_later_use(tmp_path):
    archive = tmp_path / "fam" / "set.zip"
    archive.parent.mkdir()
    archive.write_bytes(PAYLOAD)
    sidecar_path(archive).write_text("a" * 64 + "  set.zip\n")
    chain = [Archive(path=archive, into=tmp_path / "fam" / "set", url="http://127.0.0.1:9/never")]
    with pytest.raises(ChecksumError, match="recorded in"):
        ensure_extracted(tmp_path / "fam" / "set" / "top", chain, download_missing=False, progress=False)
    assert not archive.exists() and list(archive.parent.glob("set.zip.bad-*"))
    assert not (tmp_path / "fam" / "set").exists()


def test_ensure_extracted_downloads_then_extracts(server, tmp_path):
    set_root = tmp_path / "fam" / "set"
    chain = [Archive(path=set_root.parent / "set.zip", into=set_root, url=f"{server.url}/data.zip")]
    target = ensure_extracted(set_root / "top" / "sub" / "more.bin", chain, progress=False)
    assert target.read_bytes() == bytes(range(256)) * 300
    ensure_extracted(target, chain, download_missing=False, progress=False)  # present: no network
    assert len(server.seen) == 1


def test_offline_error_names_url_file_and_place(tmp_path):
    set_root = tmp_path / "sslbench" / "hhar"
    chain = [Archive(path=set_root / "inner.zip", into=set_root),
             Archive(path=tmp_path / "sslbench" / "hhar.zip", into=set_root, url="https://example.org/hhar.zip")]
    with pytest.raises(RawDataMissing) as err:
        ensure_extracted(set_root / "inner" / "data.csv", chain, download_missing=False, what="HHAR")
    msg = str(err.value)
    for part in ("https://example.org/hhar.zip", str(tmp_path / "sslbench" / "hhar.zip"),
                 str(set_root / "inner" / "data.csv"), str(set_root / "inner.zip"), "--no-download"):
        assert part in msg


def test_failed_download_becomes_placement_instructions(server, tmp_path):
    chain = [Archive(path=tmp_path / "set.zip", into=tmp_path / "set", url=f"{server.url}/missing.zip")]
    with pytest.raises(RawDataMissing, match=r"(?s)HTTP 404.*saved as .*set\.zip"):
        ensure_extracted(tmp_path / "set" / "x", chain, progress=False)
    assert server.seen == [("/missing.zip", None)]  # a 404 is not retried


def test_extract_refuses_unsafe_names_and_leaves_nothing(tmp_path):
    archive = tmp_path / "evil.zip"
    archive.write_bytes(make_zip({"ok.txt": b"1", "../escape.txt": b"2"}))
    with pytest.raises(BadArchiveError, match="unsafe member name"):
        extract_zip(archive, tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists() and not (tmp_path / "escape.txt").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["evil.zip"]


def test_corrupt_archive_leaves_no_partial_tree(tmp_path):
    data = bytearray(make_zip({"top/a.txt": b"a" * 5000, "top/b.txt": b"b" * 5000}))
    i = data.index(b"top/b.txt") + 9 + 10  # inside b.txt's compressed data
    data[i] ^= 0xFF
    archive = tmp_path / "bad.zip"
    archive.write_bytes(bytes(data))
    with pytest.raises(BadArchiveError, match="corrupt"):
        extract_zip(archive, tmp_path / "out", progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.zip"]


def test_extract_into_existing_folder_keeps_existing_entries(tmp_path):
    into = tmp_path / "set"
    (into / "keep").mkdir(parents=True)
    (into / "keep" / "mine.txt").write_text("user data")
    archive = tmp_path / "a.zip"
    archive.write_bytes(make_zip({"keep/mine.txt": b"from zip", "new/file.txt": b"new"}))
    extract_zip(archive, into, progress=False)
    assert (into / "keep" / "mine.txt").read_text() == "user data"
    assert (into / "new" / "file.txt").read_text() == "new"
    assert sorted(p.name for p in into.iterdir()) == ["keep", "new"]
