"""Reading a local Hub repo: its tree, the info of given paths, and file downloads (ranged, or from the Xet CAS)."""

from __future__ import annotations

import hashlib
import json
from urllib.parse import parse_qs

from .api_call import ApiBase, Call
from .storage import FileEntry
from .wire import HubError, Response, read_range


class FileApi(ApiBase):
    def tree(self, call: Call) -> Response:
        repo = self._repo(call)
        commit = self._commit(repo, call.params["rev"])
        base = (call.params.get("path") or "").strip("/")
        entries = _tree_entries(commit.files, base, recursive=call.flag("recursive"))
        if base and not entries and base not in _directories(commit.files):
            raise HubError(404, f"Entry not found: {base}", "EntryNotFound")
        size = 50 if call.flag("expand") else self.tree_page_size
        return self._paged(call, entries, size)

    def paths_info(self, call: Call) -> Response:
        repo = self._repo(call)
        commit = self._commit(repo, call.params["rev"])
        form = parse_qs(call.body.read().decode(), keep_blank_values=True)
        dirs = _directories(commit.files)
        out = []
        for path in form.get("paths", []):
            path = path.strip("/")
            if path in commit.files:
                out.append(commit.files[path].to_api(path))
            elif path in dirs:
                out.append({"type": "directory", "path": path, "oid": _dir_oid(commit.files, path)})
        return Response.json(200, out)

    def resolve(self, call: Call) -> Response:
        repo = self._repo(call)
        commit = self._commit(repo, call.params["rev"])
        path = call.params["path"]
        entry = commit.files.get(path)
        if entry is None:
            raise HubError(404, f"Entry not found: {path}", "EntryNotFound",
                           headers={"X-Repo-Commit": commit.oid})
        kind = "lfs" if entry.lfs_oid else "git"
        headers = {
            "X-Repo-Commit": commit.oid,
            "ETag": f'"{entry.etag}"',
            "Accept-Ranges": "bytes",
            "Content-Type": "application/octet-stream",
            "Content-Disposition": f'inline; filename="{path.rsplit("/", 1)[-1]}"',
        }
        if entry.lfs_oid:
            headers["X-Linked-Size"] = str(entry.size)
            headers["X-Linked-ETag"] = f'"{entry.lfs_oid}"'
        if entry.xet_hash and self.cas is not None:
            # These switch a Xet-capable client to the CAS; the GET below still serves the bytes to others.
            headers["X-Xet-Hash"] = entry.xet_hash
            refresh = f"{call.endpoint}/api/{repo.repo_type}s/{repo.repo_id}/xet-read-token/{commit.oid}"
            headers["Link"] = f'<{refresh}>; rel="xet-auth"'
        start, end, status = 0, entry.size - 1, 200
        range_header = call.headers.get("Range")
        if range_header and entry.size:
            start, end = _parse_range(range_header, entry.size)
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end}/{entry.size}"
        length = max(0, end - start + 1)
        headers["Content-Length"] = str(length)
        if call.method == "HEAD":
            return Response(status, headers)
        if kind == "lfs" and not self.blobs.has("lfs", entry.lfs_oid) and entry.xet_hash and self.cas is not None:
            return Response(status, headers, stream=self.cas.iter_file(entry.xet_hash, start, length))
        return Response(status, headers, stream=read_range(self.blobs.path(kind, entry.etag), start, length))


def _directories(files: dict[str, FileEntry]) -> set[str]:
    dirs = set()
    for path in files:
        parts = path.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            dirs.add("/".join(parts[:i]))
    return dirs


def _dir_oid(files: dict[str, FileEntry], directory: str) -> str:
    prefix = directory + "/"
    listing = sorted((p, f.blob_id) for p, f in files.items() if p.startswith(prefix))
    return hashlib.sha1(json.dumps(listing).encode()).hexdigest()


def _tree_entries(files: dict[str, FileEntry], base: str, recursive: bool) -> list[dict]:
    prefix = base + "/" if base else ""
    out: list[dict] = []
    for directory in sorted(_directories(files)):
        if directory.startswith(prefix) and (recursive or "/" not in directory[len(prefix):]):
            out.append({"type": "directory", "path": directory, "oid": _dir_oid(files, directory)})
    for path in sorted(files):
        if path.startswith(prefix) and (recursive or "/" not in path[len(prefix):]):
            out.append(files[path].to_api(path))
    return out


def _parse_range(value: str, size: int) -> tuple[int, int]:
    unit, _, spec = value.partition("=")
    first = spec.split(",")[0].strip()
    try:
        start_s, _, end_s = first.partition("-")
        if unit.strip() != "bytes":
            raise ValueError
        if start_s == "":
            start, end = max(0, size - int(end_s)), size - 1
        else:
            start = int(start_s)
            end = min(int(end_s), size - 1) if end_s else size - 1
    except ValueError:
        raise HubError(416, f"invalid Range header {value!r}", headers={"Content-Range": f"bytes */{size}"}) from None
    if start >= size or start > end:
        raise HubError(416, f"Range {value!r} is outside the file", headers={"Content-Range": f"bytes */{size}"})
    return start, end
