"""The local Hub's commit call: an NDJSON payload of operations, validated whole and applied all or nothing."""

from __future__ import annotations

import base64
import json
from posixpath import normpath

from .api_call import ApiBase, Call
from .storage import FileEntry, git_blob_sha1, lfs_pointer, new_commit
from .wire import HubError, Response


class CommitApi(ApiBase):
    def commit(self, call: Call) -> Response:
        repo = self._repo(call, write=True)
        revision = call.params["rev"]
        create_pr = call.flag("create_pr")
        header, ops = _parse_ndjson_commit(call.body.read())
        if not header.get("summary"):
            raise HubError(400, "commit summary is required")
        if self.limits.max_files_per_commit is not None and len(ops) > self.limits.max_files_per_commit:
            raise HubError(400, f"too many files in one commit ({len(ops)} > {self.limits.max_files_per_commit})")
        # Everything is validated and every blob stored before the branch moves: the commit is all or nothing.
        with self.repos.lock:
            if revision not in repo.branches:
                raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
            head = repo.commits[repo.branches[revision]]
            parent_commit = header.get("parentCommit")
            base = head
            if parent_commit:
                base = repo.resolve(parent_commit)
                if base is None:
                    raise HubError(404, f"parent commit {parent_commit} not found", "RevisionNotFound")
                if not create_pr and base.oid != head.oid:
                    raise HubError(412, "A commit has happened since. Please refresh and try again.")
            files = dict(base.files)
            for key, value in ops:
                self._apply(files, key, value)
            self._check_tree(files)
            commit = new_commit(base, files, header["summary"], header.get("description") or "", call.token.user)
            repo.commits[commit.oid] = commit
            pr_url = None
            if create_pr:
                repo.pr_count += 1
                repo.branches[f"refs/pr/{repo.pr_count}"] = commit.oid
                pr_url = f"{self._repo_url(call, repo)}/discussions/{repo.pr_count}"
            else:
                repo.branches[revision] = commit.oid
            self.repos.save()
        return Response.json(200, {"success": True, "commitOid": commit.oid,
                                   "commitUrl": f"{self._repo_url(call, repo)}/commit/{commit.oid}",
                                   "pullRequestUrl": pr_url})

    def _apply(self, files: dict[str, FileEntry], key: str, value: dict) -> None:
        path = _clean_path(value.get("path"))
        if key == "file":
            if value.get("encoding", "base64") != "base64":
                raise HubError(400, f"{path}: only base64 encoding is supported")
            try:
                data = base64.b64decode(value.get("content", ""), validate=True)
            except ValueError:
                raise HubError(400, f"{path}: content is not valid base64") from None
            self._check_size(path, len(data))
            files[path] = FileEntry(len(data), self.blobs.put_bytes(data))
        elif key == "lfsFile":
            oid, size = value.get("oid"), value.get("size")
            if value.get("algo", "sha256") != "sha256" or not isinstance(oid, str):
                raise HubError(400, f"{path}: lfsFile needs a sha256 oid")
            # The content came through LFS (a blob under its sha256) or through Xet (a shard mapped the sha256
            # to a Xet file); a commit naming neither is refused, as on the Hub.
            xet_hash = self.cas.file_for_sha256(oid, size) if self.cas is not None else None
            if self.blobs.has("lfs", oid, size):
                size = self.blobs.path("lfs", oid).stat().st_size
            elif xet_hash is None:
                raise HubError(422, f"Your push was rejected because an LFS pointer pointed to a file that does "
                                    f"not exist: {path} (oid {oid})")
            files[path] = FileEntry(size, git_blob_sha1(lfs_pointer(oid, size)), oid, xet_hash)
        elif key == "deletedFile":
            if files.pop(path, None) is None:
                raise HubError(404, f"A file with this name doesn't exist: {path}", "EntryNotFound")
        elif key == "deletedFolder":
            gone = [p for p in files if p.startswith(path.rstrip("/") + "/")]
            if not gone:
                raise HubError(404, f"A folder with this name doesn't exist: {path}", "EntryNotFound")
            for p in gone:
                del files[p]
        else:
            raise HubError(400, f"unknown commit operation {key!r}")

    def _check_tree(self, files: dict[str, FileEntry]) -> None:
        if self.limits.max_files_per_repo is not None and len(files) > self.limits.max_files_per_repo:
            raise HubError(400, f"a repo may hold at most {self.limits.max_files_per_repo} files")
        if self.limits.max_entries_per_folder is not None:
            counts: dict[str, set[str]] = {}
            for path in files:
                parts = path.split("/")
                for depth in range(len(parts)):
                    counts.setdefault("/".join(parts[:depth]), set()).add(parts[depth])
            for folder, names in counts.items():
                if len(names) > self.limits.max_entries_per_folder:
                    raise HubError(400, f"folder '{folder or '/'}' would have {len(names)} entries; the limit is "
                                        f"{self.limits.max_entries_per_folder}")


def _clean_path(path: object) -> str:
    if not isinstance(path, str) or not path or path.startswith("/") or "\\" in path:
        raise HubError(400, f"invalid path in repo: {path!r}")
    norm = normpath(path)
    if norm != path.rstrip("/") or norm.startswith("..") or norm == ".git" or norm.startswith(".git/"):
        raise HubError(400, f"invalid path in repo: {path!r}")
    return norm


def _parse_ndjson_commit(raw: bytes) -> tuple[dict, list[tuple[str, dict]]]:
    header = None
    ops: list[tuple[str, dict]] = []
    for n, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            key, value = item["key"], item["value"]
        except (ValueError, KeyError, TypeError):
            raise HubError(400, f"commit payload line {n} is not a {{key, value}} JSON object") from None
        if key == "header":
            header = value
        else:
            ops.append((key, value))
    if not isinstance(header, dict):
        raise HubError(400, "commit payload has no header line")
    return header, ops
