"""The local Hub speaks Xet: the real huggingface_hub client with hf_xet uploads and downloads through its CAS."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import httpx2
import pytest
from huggingface_hub import CommitOperationAdd, HfApi, HfFileSystem, hf_hub_download, snapshot_download

from ludwig_hub_export.testing import LocalHub
from ludwig_hub_export.testing import xet_format
from ludwig_hub_export.testing.pytest_plugin import use_transfer_protocol

def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def weights(size: int, seed: int) -> bytes:
    """Incompressible bytes with a compressible tail, so stored chunks mix raw and LZ4 ones."""
    rng = hashlib.sha256(str(seed).encode()).digest()
    head = os.urandom(size // 2) if seed < 0 else (rng * (size // 64 + 1))[: size // 4] + os.urandom(size // 4)
    return head + bytes(size - len(head))


@pytest.fixture
def xet_client(local_hub: LocalHub, monkeypatch: pytest.MonkeyPatch) -> None:
    use_transfer_protocol("xet", local_hub, monkeypatch)


@pytest.fixture
def repo(hub_api: HfApi, xet_client) -> str:
    hub_api.create_repo("tester/xet")
    return "tester/xet"


def kinds(hub: LocalHub) -> list[str]:
    return [r.kind for r in hub.requests()]


def fault_fired(hub: LocalHub, kind: str) -> bool:
    """Whether a scripted fault answered a `kind` call (the Hub logs a call just after answering it)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if any(r.fault and r.kind == kind for r in hub.requests()):
            return True
        time.sleep(0.02)
    return False


def test_upload_file_goes_through_the_cas_and_downloads_back(hub_api: HfApi, repo: str, local_hub: LocalHub,
                                                              tmp_path: Path):
    data = weights(3_000_000, 1)
    (tmp_path / "w.safetensors").write_bytes(data)
    hub_api.upload_file(path_or_fileobj=tmp_path / "w.safetensors", path_in_repo="w.safetensors", repo_id=repo)

    seen = kinds(local_hub)
    assert "lfs_batch" not in seen and "lfs_upload" not in seen
    # Through an upload grant, as on the real Hub: asked, the bytes PUT to its URL without the Xet token, committed.
    assert [r.status for r in local_hub.requests("xorb_grant")] == [201]
    assert [(r.method, r.status) for r in local_hub.requests("xorb")] == [("PUT", 200)]
    assert [r.status for r in local_hub.requests("xorb_commit")] == [200]
    assert [(r.path, r.status) for r in local_hub.requests("shard")] == [("/cas/v2/shards", 200)]  # the real form
    assert local_hub.read_file(repo, "w.safetensors") == data
    (entry,) = [e for e in hub_api.list_repo_tree(repo) if e.path == "w.safetensors"]
    assert entry.lfs.sha256 == sha256(data) and entry.xet_hash and entry.size == len(data)

    local_hub.log.clear()
    path = hf_hub_download(repo, "w.safetensors", cache_dir=tmp_path / "dl", token=local_hub.token)
    assert Path(path).read_bytes() == data
    assert local_hub.requests("reconstruction") and local_hub.requests("xorb_get")


def test_create_commit_with_several_files_including_a_large_one(hub_api: HfApi, repo: str, local_hub: LocalHub,
                                                                 tmp_path: Path):
    files = {"config.json": b'{"a": 1}\n', "small.bin": weights(300_000, 2), "big.safetensors": weights(24_000_000, 3),
             "sub/other.safetensors": weights(1_000_000, -1)}
    ops = []
    for name, content in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(content)
        ops.append(CommitOperationAdd(path_in_repo=name, path_or_fileobj=tmp_path / name))
    hub_api.create_commit(repo, ops, commit_message="several")

    assert len(local_hub.commits(repo)) == 2  # the repo's first commit and this one
    for name, content in files.items():
        assert local_hub.read_file(repo, name) == content
    infos = {i.path: i for i in hub_api.get_paths_info(repo, list(files))}
    assert infos["config.json"].xet_hash is None  # a regular file goes in the commit itself
    assert all(infos[n].xet_hash for n in files if n != "config.json")

    local_hub.log.clear()
    snapshot = Path(snapshot_download(repo, cache_dir=tmp_path / "snap", token=local_hub.token))
    for name, content in files.items():
        assert (snapshot / name).read_bytes() == content
    # Xet files come from the CAS without even a HEAD on resolve (their tree entries carry xetHash).
    resolved = {r.path.rsplit("/", 1)[-1] for r in local_hub.requests("resolve")}
    assert resolved <= {".gitattributes", "config.json"}
    assert len(local_hub.requests("reconstruction")) == 3


def test_reupload_sends_no_xorb_from_the_local_cache_or_the_global_dedup(hub_api: HfApi, repo: str,
                                                                         local_hub: LocalHub, tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "a.safetensors").write_bytes(weights(5_000_000, 4))
    (folder / "b.bin").write_bytes(weights(2_000_000, 5))
    hub_api.upload_folder(folder_path=folder, repo_id=repo)
    sent = sum(r.bytes_in for r in local_hub.requests("xorb"))
    assert sent > 0

    local_hub.log.clear()
    hub_api.create_repo("tester/again")
    hub_api.upload_folder(folder_path=folder, repo_id="tester/again")  # same Xet cache: dedup locally
    assert local_hub.requests("xorb") == []
    assert local_hub.read_file("tester/again", "a.safetensors") == (folder / "a.safetensors").read_bytes()

    local_hub.log.clear()
    monkeypatch.setenv("HF_XET_CACHE", str(tmp_path / "fresh-cache"))  # a new machine: only the server knows
    hub_api.create_repo("tester/third")
    hub_api.upload_folder(folder_path=folder, repo_id="tester/third")
    assert [r.status for r in local_hub.requests("dedup")].count(200) >= 1
    assert local_hub.requests("xorb") == []
    assert local_hub.read_file("tester/third", "b.bin") == (folder / "b.bin").read_bytes()


def test_ranged_reads_of_a_xet_file(hub_api: HfApi, repo: str, local_hub: LocalHub):
    data = weights(2_500_000, 6)
    hub_api.upload_file(path_or_fileobj=data, path_in_repo="x.bin", repo_id=repo)  # bytes go through Xet too
    assert local_hub.requests("xorb") and not local_hub.requests("lfs_upload")
    fs = HfFileSystem(endpoint=local_hub.url, token=local_hub.token)
    with fs.open(f"{repo}/x.bin", "rb", block_size=100_000) as f:  # ranged GETs on resolve, rebuilt from xorbs
        f.seek(1_234_567)
        assert f.read(300_001) == data[1_234_567:1_534_568]

    # The reconstruction API itself, for a byte range, as hf_xet asks it.
    (info,) = hub_api.get_paths_info(repo, ["x.bin"])
    token = httpx2.get(f"{local_hub.url}/api/models/{repo}/xet-read-token/main",
                       headers={"Authorization": f"Bearer {local_hub.token}"}).json()
    for first, last in [(0, 0), (70_000, 1_999_999), (len(data) - 10, len(data) - 1)]:
        answer = httpx2.get(f"{token['casUrl']}/v1/reconstructions/{info.xet_hash}",
                            headers={"Authorization": f"Bearer {token['accessToken']}",
                                     "Range": f"bytes={first}-{last}"}).json()
        rebuilt = b""
        for term in answer["terms"]:
            first_chunk, end_chunk = term["range"]["start"], term["range"]["end"]
            (fetch,) = [f for f in answer["fetch_info"][term["hash"]]
                        if f["range"]["start"] <= first_chunk and end_chunk <= f["range"]["end"]]
            raw = httpx2.get(fetch["url"], headers={"Range": f"bytes={fetch['url_range']['start']}-"
                                                             f"{fetch['url_range']['end']}"}).content
            chunks = _decode_chunks(raw)[first_chunk - fetch["range"]["start"]:end_chunk - fetch["range"]["start"]]
            assert sum(map(len, chunks)) == term["unpacked_length"]
            rebuilt += b"".join(chunks)
        start = answer["offset_into_first_range"]
        assert rebuilt[start:start + last - first + 1] == data[first:last + 1]


def test_a_v2_reconstruction_reads_each_xorb_once_for_all_its_ranges(hub_api: HfApi, repo: str,
                                                                     local_hub: LocalHub, tmp_path: Path):
    """hf_xet asks /v2/reconstructions first: one URL per xorb, signed for every byte range of it the file needs,
    read in one multi-range request (a multipart/byteranges answer) or range by range (as hf_xet 1.8 reads them),
    and for nothing else. A file made of another's end then its start needs two disjoint ranges of one xorb."""
    a = weights(6_000_000, 11)
    b = a[4_000_000:] + a[:1_500_000]
    hub_api.upload_file(path_or_fileobj=a, path_in_repo="a.bin", repo_id=repo)
    hub_api.upload_file(path_or_fileobj=b, path_in_repo="b.bin", repo_id=repo)  # dedups against a's xorb
    (info,) = hub_api.get_paths_info(repo, ["b.bin"])
    token = httpx2.get(f"{local_hub.url}/api/models/{repo}/xet-read-token/main",
                       headers={"Authorization": f"Bearer {local_hub.token}"}).json()
    answer = httpx2.get(f"{token['casUrl']}/v2/reconstructions/{info.xet_hash}",
                        headers={"Authorization": f"Bearer {token['accessToken']}"}).json()
    assert "fetch_info" not in answer and max(len(f["ranges"]) for fs in answer["xorbs"].values() for f in fs) >= 2
    chunks: dict[tuple[str, int], bytes] = {}  # (xorb, chunk index): its bytes, from one read per URL
    for xorb, fetches in answer["xorbs"].items():
        for fetch in fetches:
            spec = ",".join(f"{r['bytes']['start']}-{r['bytes']['end']}" for r in fetch["ranges"])
            reply = httpx2.get(fetch["url"], headers={"Range": f"bytes={spec}"})
            assert reply.status_code == 206
            parts = _byteranges(reply) if len(fetch["ranges"]) > 1 else [reply.content]
            for r, raw in zip(fetch["ranges"], parts):
                for n, chunk in enumerate(_decode_chunks(raw), start=r["chunks"]["start"]):
                    chunks[xorb, n] = chunk
            # Signed for those ranges: one of them is read on its own, another Range is refused; a v1 URL takes
            # no multi-range read.
            one = fetch["ranges"][-1]["bytes"]
            alone = httpx2.get(fetch["url"], headers={"Range": f"bytes={one['start']}-{one['end']}"})
            assert alone.status_code == 206 and alone.content == (parts[-1] if len(parts) > 1 else reply.content)
            assert httpx2.get(fetch["url"], headers={"Range": f"bytes={one['start'] + 1}-{one['end']}"}
                              ).status_code == 403
    rebuilt = b"".join(chunks[t["hash"], n] for t in answer["terms"]
                       for n in range(t["range"]["start"], t["range"]["end"]))
    assert rebuilt == b and answer["offset_into_first_range"] == 0
    v1 = httpx2.get(f"{token['casUrl']}/v1/reconstructions/{info.xet_hash}",
                    headers={"Authorization": f"Bearer {token['accessToken']}"}).json()
    url, *_ = (f["url"] for fs in v1["fetch_info"].values() for f in fs)
    assert httpx2.get(url, headers={"Range": "bytes=0-10,20-30"}).status_code == 416

    local_hub.log.clear()  # the client, through v2
    assert Path(hf_hub_download(repo, "b.bin", cache_dir=tmp_path / "dl", token=local_hub.token)).read_bytes() == b
    assert [(r.path, r.status) for r in local_hub.requests("reconstruction")] == [
        (f"/cas/v2/reconstructions/{info.xet_hash}", 200)]
    assert {r.status for r in local_hub.requests("xorb_get")} == {206}


def _byteranges(reply) -> list[bytes]:
    """The parts of a multipart/byteranges answer, in order, each checked against its Content-Range."""
    boundary = reply.headers["content-type"].split("boundary=")[1].encode()
    head, tail = b"--" + boundary + b"\r\n", b"\r\n--" + boundary + b"--\r\n"
    body = reply.content
    assert body.startswith(head) and body.endswith(tail)
    parts = []
    for piece in body[len(head):-len(tail)].split(b"\r\n--" + boundary + b"\r\n"):
        headers, _, data = piece.partition(b"\r\n\r\n")
        first, last = headers.split(b"Content-Range: bytes ")[1].split(b"/")[0].split(b"-")
        assert len(data) == int(last) - int(first) + 1
        parts.append(data)
    return parts


def _decode_chunks(raw: bytes) -> list[bytes]:
    out, pos = [], 0
    while pos < len(raw):
        header = raw[pos:pos + 8]
        size, scheme, unpacked = (int.from_bytes(header[1:4], "little"), header[4],
                                  int.from_bytes(header[5:8], "little"))
        out.append(xet_format.decompress(scheme, raw[pos + 8:pos + 8 + size], unpacked))
        pos += 8 + size
    return out


def test_lfs_only_client_downloads_a_xet_uploaded_file(hub_api: HfApi, repo: str, local_hub: LocalHub,
                                                        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    data = weights(4_000_000, 7)
    (tmp_path / "w.bin").write_bytes(data)
    hub_api.upload_file(path_or_fileobj=tmp_path / "w.bin", path_in_repo="w.bin", repo_id=repo)
    use_transfer_protocol("lfs", local_hub, monkeypatch)
    local_hub.log.clear()
    path = hf_hub_download(repo, "w.bin", cache_dir=tmp_path / "dl", token=local_hub.token)
    assert Path(path).read_bytes() == data
    assert local_hub.requests("reconstruction") == [] and local_hub.requests("xorb_get") == []
    assert [r.method for r in local_hub.requests("resolve")][-1] == "GET"


def test_both_lz4_decoders_rebuild_what_the_client_compressed(hub_api: HfApi, repo: str, local_hub: LocalHub,
                                                              tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import json

    import numpy as np

    files = {  # compressible text and float32 weights: hf_xet picks byte grouping + LZ4 frames for both
        "w.txt": b"".join(b"weight %d = %f\n" % (i, i / 7) for i in range(60_000)),
        "w.bin": np.random.default_rng(0).normal(size=150_000).astype(np.float32).tobytes(),
    }
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
        hub_api.upload_file(path_or_fileobj=tmp_path / name, path_in_repo=name, repo_id=repo)
    schemes = set()
    for table in (local_hub.data_dir / "xet" / "xorbs").glob("*.chunks"):
        schemes |= {row[2] for row in json.loads(table.read_text())}
    # Scheme 2 is an LZ4 frame plus regrouping, so it exercises the whole decoder (scheme 1 is the frame alone).
    assert 2 in schemes, f"the client used schemes {schemes}: the test data must be compressible"
    for decoder in (xet_format._LIBLZ4, None):  # the system's liblz4 (when present), then pure Python
        monkeypatch.setattr(xet_format, "_LIBLZ4", decoder)
        for name, content in files.items():
            assert local_hub.read_file(repo, name) == content


def test_a_shard_naming_a_missing_xorb_or_lying_about_sha256_is_refused(hub_api: HfApi, repo: str,
                                                                        local_hub: LocalHub, tmp_path: Path):
    data = weights(1_000_000, 8)
    (tmp_path / "w.bin").write_bytes(data)
    hub_api.upload_file(path_or_fileobj=tmp_path / "w.bin", path_in_repo="w.bin", repo_id=repo)
    token = httpx2.get(f"{local_hub.url}/api/models/{repo}/xet-write-token/main",
                       headers={"Authorization": f"Bearer {local_hub.token}"}).json()
    auth = {"Authorization": f"Bearer {token['accessToken']}"}
    (info,) = hub_api.get_paths_info(repo, ["w.bin"])
    record = local_hub.cas.store.file(info.xet_hash)
    term = record.terms[0]

    def shard(xorb: str, sha: str) -> bytes:
        entry = xet_format.hash_raw(xorb) + (0).to_bytes(4, "little") + term.unpacked.to_bytes(4, "little")
        entry += term.start.to_bytes(4, "little") + term.end.to_bytes(4, "little")
        head = xet_format.hash_raw("ab" * 32) + (xet_format.FLAG_METADATA_EXT | 0).to_bytes(4, "little")
        head += (1).to_bytes(4, "little") + bytes(8)
        ext = xet_format.hash_raw(sha) + bytes(16)
        book = xet_format.BOOKEND + bytes(16)
        return (xet_format.SHARD_HEADER_TAG + (2).to_bytes(8, "little") + bytes(8) + head + entry + ext + book
                + book)

    missing = httpx2.post(f"{token['casUrl']}/v1/shards", content=shard("cd" * 32, record.sha256), headers=auth)
    assert missing.status_code == 400 and "never uploaded" in missing.json()["error"]
    lying = httpx2.post(f"{token['casUrl']}/v1/shards", content=shard(term.xorb, "ee" * 32), headers=auth)
    assert lying.status_code == 400 and "sha256" in lying.json()["error"]
    garbage = httpx2.post(f"{token['casUrl']}/v1/xorbs/default/{'12' * 32}", content=b"\x07" * 100, headers=auth)
    assert garbage.status_code == 400
    anonymous = httpx2.post(f"{token['casUrl']}/v1/shards", content=b"x")
    assert anonymous.status_code == 401
    # v2: the refusal comes once the progress stream has begun (200), in its last frame; auth is refused at once.
    streamed = httpx2.post(f"{token['casUrl']}/v2/shards", content=shard("cd" * 32, record.sha256), headers=auth)
    frames = [json.loads(line) for line in streamed.text.splitlines()]
    assert streamed.status_code == 200 and streamed.headers["content-type"] == "application/x-ndjson"
    assert frames[-1]["type"] == "error" and frames[-1]["retryable"] is False
    assert "never uploaded" in frames[-1]["message"]
    assert httpx2.post(f"{token['casUrl']}/v2/shards", content=b"x").status_code == 401


def test_a_xorb_grant_is_signed_sized_and_committed_once(hub_api: HfApi, repo: str, local_hub: LocalHub,
                                                         tmp_path: Path):
    """The grant's URL takes no Xet token, only its own signature; it takes the granted length, once; the commit
    stores the xorb (checked chunk by chunk) and cannot be made twice or before the bytes arrived."""
    (tmp_path / "w.bin").write_bytes(weights(300_000, 5))
    hub_api.upload_file(path_or_fileobj=tmp_path / "w.bin", path_in_repo="w.bin", repo_id=repo)
    (stored,) = [p for p in (local_hub.cas.store.root / "xorbs").iterdir() if "." not in p.name]
    body = stored.read_bytes()
    token = httpx2.get(f"{local_hub.url}/api/models/{repo}/xet-write-token/main",
                       headers={"Authorization": f"Bearer {local_hub.token}"}).json()
    cas, auth, xorb = token["casUrl"], {"Authorization": f"Bearer {token['accessToken']}"}, "ab" * 32
    ask = {"length": len(body), "checksum": {"algo": "crc64nvme", "value": "12345"}}
    assert httpx2.post(f"{cas}/v1/xorb-grants/default/{xorb}", json=ask).status_code == 401
    assert httpx2.post(f"{cas}/v1/xorb-grants/default/{stored.name}", json=ask, headers=auth).status_code == 200
    granted = httpx2.post(f"{cas}/v1/xorb-grants/default/{xorb}", json=ask, headers=auth)
    assert granted.status_code == 201
    grant = granted.json()
    commit = f"{cas}/v1/xorb-commits/default/{xorb}/grant/{grant['id']}"
    assert httpx2.post(commit, headers=auth).status_code == 404  # nothing uploaded yet
    assert httpx2.put(grant["url"].replace("sig=", "sig=0"), content=body).status_code == 403
    assert httpx2.put(grant["url"], content=body[:-1]).status_code == 400
    assert httpx2.put(grant["url"], content=body, headers=grant["headers"]).status_code == 200
    assert httpx2.put(grant["url"], content=body).status_code == 412  # stored already
    assert httpx2.post(commit, headers=auth).json() == {"was_inserted": True}
    assert local_hub.cas.store.has_xorb(xorb) and local_hub.cas.store.chunks(xorb)
    assert httpx2.post(commit, headers=auth).status_code == 404  # committed: the grant is gone


def test_an_older_cas_takes_xorbs_and_shards_only_at_v1_and_the_client_falls_back(tmp_path: Path, monkeypatch):
    """`xet_api=1, xet_grants=False`: /v2/shards and the xorb grants answer 404, and hf_xet sends the shard
    to /v1/shards and the xorb to /v1/xorbs instead; /v2/reconstructions answers 404, and it asks v1."""
    data = weights(1_000_000, 3)
    (tmp_path / "w.bin").write_bytes(data)
    monkeypatch.setenv("HF_XET_CACHE", str(tmp_path / "xet-cache"))
    with LocalHub(xet_api=1, xet_grants=False) as hub:
        use_transfer_protocol("xet", hub, monkeypatch)
        api = HfApi(endpoint=hub.url, token=hub.token)
        api.create_repo("tester/older")
        api.upload_file(path_or_fileobj=tmp_path / "w.bin", path_in_repo="w.bin", repo_id="tester/older")
        assert [(r.path, r.status) for r in hub.requests("shard")] == [("/cas/v2/shards", 404),
                                                                        ("/cas/v1/shards", 200)]
        assert [r.status for r in hub.requests("xorb_grant")] == [404]
        assert [(r.method, r.status) for r in hub.requests("xorb")] == [("POST", 200)]
        assert hub.read_file("tester/older", "w.bin") == data
        hub.log.clear()
        assert Path(hf_hub_download("tester/older", "w.bin", cache_dir=tmp_path / "dl", token=hub.token,
                                    endpoint=hub.url)).read_bytes() == data
        assert [(r.path.split("/")[2], r.status) for r in hub.requests("reconstruction")] == [("v2", 404),
                                                                                             ("v1", 200)]


@pytest.mark.parametrize("kind, status", [("xet_token", 403), ("xorb", 400), ("shard", 400), ("xorb", 413)])
def test_upload_faults_on_cas_calls_surface_and_land_nothing(hub_api: HfApi, repo: str, local_hub: LocalHub,
                                                             tmp_path: Path, kind: str, status: int):
    (tmp_path / "w.bin").write_bytes(weights(1_000_000, 9))
    local_hub.add_fault(kind, status, times=None)
    with pytest.raises(Exception) as raised:
        hub_api.upload_file(path_or_fileobj=tmp_path / "w.bin", path_in_repo="w.bin", repo_id=repo)
    assert str(status) in str(raised.value) or str(status) in repr(raised.value.__cause__)
    assert fault_fired(local_hub, kind)
    assert local_hub.requests("commit") == []


@pytest.mark.parametrize("kind, status", [("xet_token", 403), ("reconstruction", 403), ("xorb_get", 404)])
def test_download_faults_on_cas_calls_surface(hub_api: HfApi, repo: str, local_hub: LocalHub, tmp_path: Path,
                                              kind: str, status: int):
    (tmp_path / "w.bin").write_bytes(weights(1_000_000, 10))
    hub_api.upload_file(path_or_fileobj=tmp_path / "w.bin", path_in_repo="w.bin", repo_id=repo)
    local_hub.add_fault(kind, status, times=None)
    with pytest.raises(Exception):
        hf_hub_download(repo, "w.bin", cache_dir=tmp_path / "dl", token=local_hub.token)
    assert fault_fired(local_hub, kind)


def test_transient_5xx_on_xorb_and_a_failing_dedup_query_are_survived(hub_api: HfApi, repo: str,
                                                                       local_hub: LocalHub, tmp_path: Path):
    data = weights(1_000_000, 11)
    (tmp_path / "w.bin").write_bytes(data)
    local_hub.add_fault("xorb", 503, times=1)
    local_hub.add_fault("dedup", 400, times=None)  # (a 5xx would be retried by hf_xet for minutes)
    hub_api.upload_file(path_or_fileobj=tmp_path / "w.bin", path_in_repo="w.bin", repo_id=repo)
    assert [r.status for r in local_hub.requests("xorb")] == [503, 200]
    assert local_hub.read_file(repo, "w.bin") == data


def test_upload_folder_and_snapshot_on_both_protocols(hub_api: HfApi, local_hub: LocalHub, tmp_path: Path,
                                                      transfer_protocol: str):
    folder = tmp_path / "model"
    (folder / "sub").mkdir(parents=True)
    files = {"README.md": b"# hi\n", "w.safetensors": weights(2_000_000, 12), "sub/a.bin": weights(600_000, 13)}
    for name, content in files.items():
        (folder / name).write_bytes(content)
    hub_api.create_repo("tester/both")
    hub_api.upload_folder(folder_path=folder, repo_id="tester/both")
    uploads = {"xet": "xorb", "lfs": "lfs_upload"}
    assert local_hub.requests(uploads[transfer_protocol])
    assert not local_hub.requests(uploads["lfs" if transfer_protocol == "xet" else "xet"])
    snapshot = Path(snapshot_download("tester/both", cache_dir=tmp_path / "snap", token=local_hub.token))
    assert {n: (snapshot / n).read_bytes() for n in files} == files
    assert bool(local_hub.requests("reconstruction")) == (transfer_protocol == "xet")


def test_no_xet_hub_answers_lfs_only(tmp_path: Path):
    with LocalHub(xet=False) as hub:
        env = hub.env(hub.token)
        assert env["HF_HUB_DISABLE_XET"] == "1"
        with pytest.raises(ValueError):
            hub.env(transfer="xet")
        answer = httpx2.get(f"{hub.url}/api/models/tester/x/xet-write-token/main",
                            headers={"Authorization": f"Bearer {hub.token}"})
        assert answer.status_code == 404


def test_env_gives_each_client_its_own_home_and_the_xet_switch():
    with LocalHub() as hub:
        first, second = hub.env(hub.token), hub.env(hub.token)
        assert first["HF_HUB_DISABLE_XET"] == "0" and first["HF_HOME"] != second["HF_HOME"]
        assert hub.env(transfer="lfs")["HF_HUB_DISABLE_XET"] == "1"


def test_hub_serve_speaks_xet_to_a_client_process_that_sets_nothing_else(tmp_path: Path):
    import signal
    import subprocess
    import sys

    from ludwig_hub_export.testing import HubControl

    server = subprocess.Popen([sys.executable, "-m", "ludwig_hub_export", "hub", "serve", "--data",
                               str(tmp_path / "data")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        endpoint = server.stdout.readline().strip().split("=", 1)[1]
        token_path = server.stdout.readline().strip().split("=", 1)[1]
        (tmp_path / "w.bin").write_bytes(weights(500_000, 14))
        client = ("import sys; from huggingface_hub import HfApi, hf_hub_download; api = HfApi();"
                  "api.create_repo('tester/x'); api.upload_file(path_or_fileobj=sys.argv[1], path_in_repo='w.bin',"
                  " repo_id='tester/x'); print(open(hf_hub_download('tester/x', 'w.bin'), 'rb').read() =="
                  " open(sys.argv[1], 'rb').read())")
        env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
        env.update(HF_ENDPOINT=endpoint, HF_TOKEN_PATH=token_path, HF_HOME=str(tmp_path / "home"))
        out = subprocess.run([sys.executable, "-c", client, str(tmp_path / "w.bin")], env=env, capture_output=True,
                             text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == "True"
        requests = HubControl.from_data_dir(endpoint, tmp_path / "data").stats()["requests"]
        assert requests.get("xorb") and requests.get("shard") and requests.get("reconstruction")
        assert "lfs_upload" not in requests
    finally:
        server.send_signal(signal.SIGINT)
        server.communicate(timeout=30)
    assert server.returncode == 0


def test_xet_files_survive_a_restart_with_a_data_directory(tmp_path: Path, local_hub: LocalHub,
                                                           monkeypatch: pytest.MonkeyPatch):
    use_transfer_protocol("xet", local_hub, monkeypatch)
    data = weights(1_500_000, 15)
    (tmp_path / "w.bin").write_bytes(data)
    with LocalHub(data_dir=tmp_path / "hub") as first:
        api = HfApi(endpoint=first.url, token=first.token)
        api.create_repo("tester/kept")
        api.upload_file(path_or_fileobj=tmp_path / "w.bin", path_in_repo="w.bin", repo_id="tester/kept")
        assert first.requests("xorb")
        token = first.token
    with LocalHub(data_dir=tmp_path / "hub", token=token) as second:
        path = hf_hub_download("tester/kept", "w.bin", endpoint=second.url, token=token, cache_dir=tmp_path / "c")
        assert Path(path).read_bytes() == data
        assert second.read_file("tester/kept", "w.bin") == data
        monkeypatch.setenv("HF_XET_CACHE", str(tmp_path / "new-cache"))
        api = HfApi(endpoint=second.url, token=token)
        api.create_repo("tester/again")
        api.upload_file(path_or_fileobj=tmp_path / "w.bin", path_in_repo="w.bin", repo_id="tester/again")
        assert second.requests("xorb") == []  # the dedup index was rebuilt from disk


@pytest.mark.parametrize("flags", [["-BD", "-B4"], ["-BI", "-B4", "-BX"], ["-9", "--content-size"]])
def test_lz4_frames_decode_with_linked_blocks_checksums_and_sizes(flags: list[str], monkeypatch: pytest.MonkeyPatch):
    import shutil
    import subprocess

    if shutil.which("lz4") is None:
        pytest.skip("no lz4 command to make frames with")
    data = b"".join(b"row %d: %s\n" % (i, b"ab" * (i % 17)) for i in range(20_000))
    frame = subprocess.run(["lz4", "-c", *flags], input=data, capture_output=True, check=True).stdout
    assert len(frame) < len(data) // 2
    for decoder in (xet_format._LIBLZ4, None):
        monkeypatch.setattr(xet_format, "_LIBLZ4", decoder)
        assert xet_format.decompress(1, frame, len(data)) == data
    with pytest.raises(xet_format.FormatError):
        xet_format.decompress(1, frame[: len(frame) // 2], len(data))


def test_hf_xet_telemetry_is_taken_at_the_root_of_the_cas_host(local_hub: LocalHub):
    """hf_xet posts its transfer telemetry to `/v1/telemetry` at the root of the CAS URL's host (not under
    `/cas`): taken and dropped, not left as an unknown request."""
    local_hub.log.clear()
    assert httpx2.post(f"{local_hub.url}/v1/telemetry", content=b'{"events": []}').status_code == 200
    assert [(r.kind, r.status) for r in local_hub.requests()] == [("xet_telemetry", 200)]
