"""A new repo's push, finished without the Hub client: once the head start (`head_start`) has sent the large
files, they, the generated files and the manifest go in one commit made with the standard library, and a read of
the revision after it is the verification.

Loading huggingface_hub's API (~0.2 s, all of it holding the GIL) is then no part of a new repo's push. The commit
is the client's own request (`_commit_api._send_commit`: an NDJSON header, a `file` line per regular file with its
bytes, an `lfsFile` line per LFS/Xet object already sent). Like the head start, this never retries, explains or
prints a failure: short of a commit verified by that read, the client path goes on from a fresh read of the
revision. So a commit that landed though its answer was lost is not made twice, and what the Hub refused is
refused again there, under the one retry policy, with its remedy. The read also tells such a commit: every file
there as planned.

It applies to the one commit the client path would make here: every file on disk or in memory (none from object
storage), all within the files-per-commit limit, none that the Hub ignores, and every small one stored as a
regular file (an LFS object made from bytes in memory is the client's to send).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass

from . import auth, progress
from .first_look import read_revision
from .head_start import HeadStart
from .limits import human_size
from .plan import MANIFEST, ExportPlan, PlannedFile, add_manifest, manifest_stand_in
from .progress import Console
from .settings import ExportSettings

NDJSON = "application/x-ndjson"


@dataclass
class HeadCommit:
    """A verified commit of every planned file, the manifest last."""

    oid: str
    files: list[PlannedFile]
    bytes_sent: int  # what the head start sent (after dedup) and the regular files' bytes in the commit


def commit_head_start(head: HeadStart, plan: ExportPlan, settings: ExportSettings,
                      console: Console) -> tuple[HeadCommit | None, bool]:
    """(the commit, whether one was tried). (None, False): nothing was asked of the Hub beyond the head start's
    requests, and the client path can take the first look's snapshot; (None, True): a commit was posted, which may
    have landed, so the client path must read the revision again."""
    ready = plan.ready()
    if any(f.fetch is not None or f.remote is not None for f in ready):
        return None, False  # from object storage: staged and sent by the client path
    if len(plan.files) + 1 > settings.limits.files_per_commit:
        return None, False  # more than one commit: the client path's batches
    generated = plan.generate()  # while the head start's sends run
    if not head.repo_created():
        return None, False
    in_memory = [f for f in ready if f.data is not None] + generated  # the head start asked of files on disk only
    stand_in = manifest_stand_in(plan)
    modes = head.ask_modes(in_memory + [PlannedFile(MANIFEST, "manifest", len(stand_in), data=stand_in)])
    sent = head.files()  # waits for the sends
    if modes is None or not _take_digests(plan, [f for f in ready if f.data is None], sent):
        return None, False
    if any((a := modes.get(path)) is None or a.upload_mode != "regular" or a.should_ignore
           for path in [f.path for f in in_memory] + [MANIFEST]):
        return None, False
    manifest = add_manifest(plan)
    if manifest.size != len(stand_in):  # its upload mode was asked for another size
        _drop_manifest(plan)
        return None, False
    files = list(plan.files)
    progress.extend(sum(f.size for f in generated) + manifest.size)
    lfs = {f.path for f in files if (a := sent.get(f.path)) is not None and a.upload_mode == "lfs"}
    regular = [f for f in files if f.path not in lfs]
    # What the client path says before its commit.
    console.once(f"authenticated as {auth.identity_from_whoami(head.look.whoami).user} with the {head.look.token}")
    console.once(f"created {'public' if settings.public else 'private'} repo {settings.repo_id}")
    console.say(f"committing {len(files)} file(s), {human_size(sum(f.size for f in files))}")
    answer = head.post(f"{head.endpoint}/api/models/{head.repo_path}/commit/main",
                        _payload(settings.commit_summary(plan.kind), settings.commit_description, files, lfs), NDJSON)
    oid = answer[2].get("commitOid") if answer is not None and answer[0] == 200 and isinstance(answer[2], dict) \
        else None
    seen = read_revision(head.endpoint, settings.repo_id, "main", head.look.token.value, head.timeout, head.tls)
    if seen is None or seen.commit is None or any(not f.matches_remote(seen.files.get(f.path)) for f in files):
        _drop_manifest(plan)
        return None, True
    progress.advance(sum(f.size for f in regular))  # they travelled inside the commit
    progress.close()
    if not isinstance(oid, str):
        lost = f"HTTP {answer[0]}" if answer is not None else "no answer"
        console.say(f"the answer to the commit was lost ({lost}), but it landed: {seen.commit}")
        oid = seen.commit
    return HeadCommit(oid, files, sum(sent[p].bytes_sent for p in lfs) + sum(f.size for f in regular)), True


def _drop_manifest(plan: ExportPlan) -> None:
    """The plan as the client path expects it: the manifest is added (again) once its files are sent."""
    plan.files = [f for f in plan.files if f.path != MANIFEST]


def _take_digests(plan: ExportPlan, on_disk: list[PlannedFile], sent: dict) -> bool:
    """Each file the head start sent gets the digest it was sent with (kept for the next push); a regular one is
    hashed here if the plan did not. False when a file was not answered for, is ignored, or was not sent."""
    for f in on_disk:
        answer = sent.get(f.path)
        if answer is None or answer.should_ignore or answer.upload_mode == "lfs" and answer.digest is None:
            return False
    for f in on_disk:
        answer = sent[f.path]
        if f.digest is None:
            f.digest = answer.digest or plan.cache.digest(f.source)
            plan.cache.put(f.source, f.digest)
    plan.cache.save()
    return True


def _payload(summary: str, description: str | None, files: list[PlannedFile], lfs: set[str]) -> bytes:
    """The commit's NDJSON, as the client writes it (`_commit_api._prepare_commit_payload`)."""
    lines = [{"key": "header", "value": {"summary": summary, "description": description or ""}}]
    for f in files:
        if f.path in lfs:
            lines.append({"key": "lfsFile", "value": {"path": f.path, "algo": "sha256", "oid": f.digest.sha256,
                                                      "size": f.size}})
        else:
            content = f.data if f.data is not None else f.source.read_bytes()
            lines.append({"key": "file", "value": {"content": base64.b64encode(content).decode("ascii"),
                                                   "path": f.path, "encoding": "base64"}})
    return b"".join(json.dumps(line).encode() + b"\n" for line in lines)
