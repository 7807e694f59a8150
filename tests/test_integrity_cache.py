"""The hash cache never answers with the digest of bytes a file no longer holds (issue 27, items 1 and 2).

A digest is kept under the stat taken before its read, only when the stat after is the same; and an entry whose
file times are not clearly older than that read is "racy" (git's rule) and read again, which is what saves a
filesystem whose 1-second times cannot see a rewrite within the second (`HashCache(resolution_ns=10**9)` keeps the
times such a filesystem would)."""

from __future__ import annotations

import os
import time

import pytest
from helpers import wait_until_not_racy

from ludwig_hub_export import hashing
from ludwig_hub_export.hashing import HashCache, file_digest, racy
from ludwig_hub_export.workflows.journal import fingerprint

SECOND = 1_000_000_000


@pytest.fixture
def weights(tmp_path):
    path = tmp_path / "model.safetensors"
    path.write_bytes(os.urandom(64 << 10))
    wait_until_not_racy(path)  # an old file: only what each test does to it can make it racy
    return path


def rewrite(path) -> None:
    """New bytes, same size: a second `model.save()`."""
    path.write_bytes(os.urandom(path.stat().st_size))


def test_a_digest_read_by_another_client_is_not_cached_if_the_file_changed_after_the_read_began(weights, tmp_path):
    """hf_xet hashes while it sends; the file is saved again before the push takes the digest back. That digest
    is not the file's: kept under the new stat, every later push would call the Hub's old weights "verified"."""
    cache = HashCache(tmp_path / "hashes.json")
    before = cache.stat(weights)
    sent = file_digest(weights)  # what the client read and sent
    rewrite(weights)
    kept = cache.put(weights, sent, before=before)
    assert not kept and cache.cached(weights) is None
    cache.save()
    again = HashCache(tmp_path / "hashes.json")
    assert again.digest(weights) == file_digest(weights) != sent and again.bytes_read == weights.stat().st_size


def test_a_digest_read_by_another_client_of_an_unchanged_file_is_kept(weights, tmp_path):
    cache = HashCache(tmp_path / "hashes.json")
    before = cache.stat(weights)
    assert cache.put(weights, file_digest(weights), before=before)
    cache.save()
    again = HashCache(tmp_path / "hashes.json")
    assert again.digest(weights) == file_digest(weights) and again.bytes_read == 0


def test_a_file_rewritten_while_it_is_hashed_is_hashed_again(weights, tmp_path, monkeypatch):
    """Our own read: the stat after it differs from the stat before, so that digest is not the file's."""
    real, reads = hashing.file_digest, []

    def read_then_saved_again(path):
        reads.append(path)
        result = real(path)
        if len(reads) == 1:
            rewrite(path)  # the save lands while (here: just after) the weights were read
        return result

    monkeypatch.setattr(hashing, "file_digest", read_then_saved_again)
    cache = HashCache(tmp_path / "hashes.json")
    old = real(weights)
    got = cache.digest(weights)
    new = real(weights)
    assert got == new != old and len(reads) == 2
    wait_until_not_racy(weights)
    assert cache.digest(weights) == new and len(reads) == 3  # the second read was just after a write: racy


def test_a_file_that_keeps_changing_while_it_is_hashed_is_a_clear_error(weights, tmp_path, monkeypatch):
    from ludwig_hub_export.errors import ExportError

    real = hashing.file_digest

    def always_saved_again(path):
        result = real(path)
        rewrite(path)
        return result

    monkeypatch.setattr(hashing, "file_digest", always_saved_again)
    with pytest.raises(ExportError, match="changed while it was read, 3 times") as err:
        HashCache(tmp_path / "hashes.json").digest(weights)
    assert "has finished, then run the same command again" in str(err.value)


def test_same_size_weights_put_back_within_the_second_on_a_1_second_filesystem_are_hashed_again(tmp_path):
    """`cp -p` / `rsync -t` of new weights of the same size within the second of the last push, on a filesystem
    that keeps whole seconds: size, mtime, inode and ctime all match the cached entry. Only the racy rule (the
    file's times are not older than the entry's read) makes the cache read the file again."""
    path = tmp_path / "model.safetensors"
    for _ in range(5):  # the whole scene must fit in one second of the clock (rarely it does not: again)
        time.sleep((SECOND - time.time_ns() % SECOND) / 1e9 + 0.01)  # at the start of a second
        cache = HashCache(tmp_path / "hashes.json", resolution_ns=SECOND)
        path.write_bytes(os.urandom(64 << 10))
        old = cache.digest(path)
        cache.save()
        entry = cache.stat(path)
        whole = path.stat().st_mtime_ns // SECOND * SECOND
        rewrite(path)
        os.utime(path, ns=(whole, whole))  # the mtime put back, as a 1-second filesystem keeps it
        if cache.stat(path).key == entry.key:
            break
    else:
        pytest.skip("could not write twice within one second")
    new = file_digest(path)
    assert new != old  # the stat cannot tell; the digest must
    assert cache.digest(path) == new
    assert HashCache(tmp_path / "hashes.json", resolution_ns=SECOND).digest(path) == new


@pytest.mark.parametrize("times, at, is_racy", [
    ((5 * SECOND, 5 * SECOND), 7 * SECOND, True),  # whole seconds: a coarse filesystem, 2 s of doubt
    ((5 * SECOND, 5 * SECOND), 7 * SECOND + 1, False),
    ((5 * SECOND + 123, 5 * SECOND + 456), 5 * SECOND + 456 + 99_000_000, True),  # sub-second: 0.1 s of doubt
    ((5 * SECOND + 123, 5 * SECOND + 456), 5 * SECOND + 456 + 100_000_001, False),
    ((5 * SECOND, 6 * SECOND + 1), 6 * SECOND + 50_000_000, True),  # the newer of mtime and ctime counts
    ((None, None), 9 * SECOND, True),  # nothing tells a change
])
def test_racy_allows_for_the_granularity_each_file_s_times_show(times, at, is_racy):
    assert racy(times, at) is is_racy


def test_a_sweep_trial_written_a_moment_ago_is_never_taken_as_published(weights):
    """The journal's fingerprint is a stat too: a trial file written within the racy margin of the fingerprint
    could change unseen, so such a fingerprint matches no later one (the trial is pushed again; the push itself
    finds what the Hub has)."""
    assert fingerprint({"w": weights}) == fingerprint({"w": weights})  # old enough: the stat vouches for it
    rewrite(weights)
    assert fingerprint({"w": weights}) != fingerprint({"w": weights})
    wait_until_not_racy(weights)
    assert fingerprint({"w": weights}) == fingerprint({"w": weights})


def test_weights_saved_again_while_a_push_sends_them_are_sent_again_by_the_next_push(
        tmp_path, local_hub, transfer_protocol, env_token, monkeypatch):
    """The issue's case: the client hashes the weights while it sends them; a second `model.save()` lands before
    the push takes that digest back. Whatever the first push says, the next one must send the new bytes: the Hub
    ends with them, and the manifest's sha256 is theirs (not "nothing to upload, verified" over the old ones)."""
    import hashlib
    import json
    import threading

    import torch
    from safetensors.torch import load_file, save_file
    from test_push import _big_sharded_model, settings

    from ludwig_hub_export.hashing import GIT_SHA1_MAX

    from ludwig_hub_export.errors import ExportError
    from ludwig_hub_export.artifact.plan import MANIFEST
    from ludwig_hub_export.workflows.push import push

    monkeypatch.setenv("LUDWIG_HUB_EXPORT_CACHE", str(tmp_path / "cache"))
    source, _ = _big_sharded_model(tmp_path)
    shard = "model-00001-of-00003.safetensors"
    weights = source / "model_weights" / shard
    tensors = load_file(weights)  # larger than a git blob may be (GIT_SHA1_MAX): hashed by hf_xet alone on Xet
    save_file({k: torch.cat([v] * 2) for k, v in tensors.items()}, str(weights), metadata={"format": "pt"})
    assert weights.stat().st_size > GIT_SHA1_MAX
    push(source, settings("tester/resaved"))  # the repo exists: the client path sends

    def save_again() -> None:
        data = bytearray(weights.read_bytes())
        data[-4096:] = os.urandom(4096)  # new weights, same size, header as it was
        weights.write_bytes(bytes(data))

    # New weights of another size: the push cannot tell them from the Hub's by size, so it does not hash them
    # itself; hf_xet does, as it sends them.
    save_file({k: torch.cat([v] * 3) for k, v in tensors.items()}, str(weights), metadata={"format": "pt"})
    wait_until_not_racy(weights)
    # On Xet, the shard comes once hf_xet has read every byte (and computed the sha256): the save lands after the
    # read and before the push takes that digest back. Answered late: time for the save.
    wire = "shard" if transfer_protocol == "xet" else "lfs_upload"
    local_hub.add_fault(wire, delay=1.0, when="after", times=None)

    def save_again_once_sent() -> None:
        deadline = time.monotonic() + 60
        while not local_hub.stats.requests[wire] and time.monotonic() < deadline:  # counted as it arrives
            time.sleep(0.01)
        save_again()

    saver = threading.Thread(target=save_again_once_sent)
    local_hub.stats.requests.clear()
    saver.start()
    try:
        push(source, settings("tester/resaved"))
    except ExportError:
        pass  # saying the file changed while it was sent is fine; claiming the old bytes are verified is not
    finally:
        saver.join()
    local_hub.faults.clear()
    report = push(source, settings("tester/resaved"))
    assert report.verified
    now = hashlib.sha256(weights.read_bytes()).hexdigest()
    assert local_hub.files("tester/resaved")[shard].lfs_oid == now
    manifest = json.loads(local_hub.read_file("tester/resaved", MANIFEST))
    assert {f["path"]: f["sha256"] for f in manifest["files"]}[shard] == now
