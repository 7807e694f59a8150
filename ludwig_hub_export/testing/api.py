"""The Hub's API as ``huggingface_hub`` uses it: one method per kind of call (the Xet CAS is in `xet_cas.py`).

Each method takes a `Call` (the parsed request) and returns a `Response` or raises `HubError`. Routing,
faults, rate limits and logging live in `server.py`; storage in `storage.py`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass, field
from posixpath import normpath
from typing import Any
from urllib.parse import parse_qs, quote

from ..card_metadata import validate_front_matter
from .accounts import INVALID_CREDENTIALS, Accounts, Token
from .oidc import ACCESS_TOKEN_TYPE, OidcRefused, TrustedPublishing
from .storage import GITATTRIBUTES, LFS_EXTENSIONS, LFS_SIZE_THRESHOLD, BlobMismatch, BlobStore, Commit, FileEntry, Repo, RepoStore, git_blob_sha1, lfs_pointer, new_commit
from .wire import BodyReader, HubError, Response, read_range

TYPE_OF_PLURAL = {"models": "model", "datasets": "dataset", "spaces": "space"}
URL_PREFIX = {"model": "", "dataset": "datasets/", "space": "spaces/"}


@dataclass
class Limits:
    """Server-side limits; None switches one off. Defaults follow the Hub's documented hard limits."""

    max_file_size: int | None = 50 * 1000**3
    max_entries_per_folder: int | None = 10_000
    max_files_per_repo: int | None = 100_000
    max_files_per_commit: int | None = None  # the Hub advises < 100 but does not refuse more


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, list[str]]
    params: dict[str, str]
    headers: Any
    body: BodyReader
    token: Token | None
    endpoint: str
    extra: dict = field(default_factory=dict)

    def flag(self, name: str) -> bool:
        return self.query.get(name, [""])[-1].lower() in ("1", "true")

    @property
    def repo_type(self) -> str:
        return TYPE_OF_PLURAL.get(self.params.get("type") or "models", "model")

    @property
    def repo_id(self) -> str:
        return f"{self.params['ns']}/{self.params['name']}"


def _not_found_repo(repo_id: str) -> HubError:
    return HubError(404, f"Repository Not Found: {repo_id}", "RepoNotFound")


class HubApi:
    def __init__(self, accounts: Accounts, repos: RepoStore, blobs: BlobStore, limits: Limits,
                 secret: bytes, tree_page_size: int = 1000) -> None:
        self.accounts = accounts
        self.repos = repos
        self.blobs = blobs
        self.limits = limits
        self.secret = secret
        self.tree_page_size = tree_page_size
        self.collections: dict[str, dict] = {}  # slug -> collection (in memory: not kept across restarts)
        self.cas = None  # the XetCas when the Hub speaks Xet (LocalHub sets it)
        self.trusted = TrustedPublishing()

    # --- access -------------------------------------------------------------------------------------------
    def _repo(self, call: Call, write: bool = False) -> Repo:
        repo = self.repos.get(call.repo_type, call.repo_id)
        # Private repos are invisible (404) to everyone outside their namespace, as on the Hub.
        if repo is None or not self.accounts.can_read(call.token, repo.namespace, repo.private):
            raise _not_found_repo(call.repo_id)
        if write:
            self._require_write(call.token, repo.namespace, f"push to {call.repo_id}")
            self._require_scope(call.token, repo.repo_id)
        return repo

    @staticmethod
    def _require_scope(token: Token | None, repo_id: str) -> None:
        if token is not None and token.scope is not None and token.scope != repo_id:
            raise HubError(403, f"This token is limited to {token.scope}: it cannot write to {repo_id}")

    def _require_write(self, token: Token | None, namespace: str, what: str) -> None:
        if token is None:
            raise HubError(401, f"You must be authenticated to {what}")
        if token.role != "write":
            raise HubError(403, f"You don't have the rights to {what}: this token is read-only")
        if not self.accounts.can_write(token, namespace):
            raise HubError(403, f'You don\'t have the rights to {what}: namespace "{namespace}" is not yours')

    @staticmethod
    def _commit(repo: Repo, revision: str) -> Commit:
        commit = repo.resolve(revision)
        if commit is None:
            raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        return commit

    def _repo_url(self, call: Call, repo: Repo) -> str:
        return f"{call.endpoint}/{URL_PREFIX[repo.repo_type]}{repo.repo_id}"

    # --- account and repos ----------------------------------------------------------------------------------
    def whoami(self, call: Call) -> Response:
        if call.token is None:
            raise HubError(401, INVALID_CREDENTIALS)
        return Response.json(200, self.accounts.whoami(call.token))

    def oidc_token(self, call: Call) -> Response:
        """Trusted publishing (RFC 8693 token exchange): a CI id token in, a short-lived repo-scoped write
        token out. See `oidc.py`."""
        payload = call.body.json() or {}
        try:
            publisher = self.trusted.check(payload if isinstance(payload, dict) else {}, call.endpoint)
        except OidcRefused as e:
            raise HubError(400, str(e), body={"error": "invalid_grant", "error_description": str(e)}) from None
        ttl = self.trusted.token_ttl
        value = self.accounts.add_token(publisher.user, "write", value="hf_oidc_" + secrets.token_urlsafe(24),
                                        name="oidc", expires_at=time.time() + ttl, scope=publisher.repo_id)
        return Response.json(200, {"access_token": value, "token_type": "bearer", "expires_in": ttl,
                                   "issued_token_type": ACCESS_TOKEN_TYPE})

    def create_repo(self, call: Call) -> Response:
        payload = call.body.json() or {}
        name = payload.get("name")
        if not isinstance(name, str) or not name:
            raise HubError(400, "Missing repo name")
        if call.token is None:
            raise HubError(401, "You must be authenticated to create a repo")
        namespace = payload.get("organization") or call.token.user
        repo_type = payload.get("type") or "model"
        if repo_type not in URL_PREFIX:
            raise HubError(400, f"Invalid repo type {repo_type!r}")
        repo_id = f"{namespace}/{name}"
        self._require_write(call.token, namespace, f'create a {repo_type} under the namespace "{namespace}"')
        self._require_scope(call.token, repo_id)
        private = payload.get("visibility") == "private" or payload.get("private") is True
        with self.repos.lock:
            existing = self.repos.get(repo_type, repo_id)
            if existing is not None:
                url = self._repo_url(call, existing)
                raise HubError(409, f"You already created this {repo_type} repo", body={
                    "error": f"You already created this {repo_type} repo", "url": url})
            repo = Repo(repo_type, repo_id, private, time.time())
            blob = self.blobs.put_bytes(GITATTRIBUTES)
            first = new_commit(None, {".gitattributes": FileEntry(len(GITATTRIBUTES), blob)}, "initial commit",
                               "", call.token.user)
            repo.commits[first.oid] = first
            repo.branches["main"] = first.oid
            self.repos.add(repo)
            self.repos.save()
        return Response.json(200, {"url": self._repo_url(call, repo), "name": repo_id, "id": first.oid})

    def delete_repo(self, call: Call) -> Response:
        payload = call.body.json() or {}
        namespace = payload.get("organization") or (call.token.user if call.token else "")
        call.params.update(ns=namespace, name=payload.get("name", ""), type=(payload.get("type") or "model") + "s")
        repo = self._repo(call, write=True)
        with self.repos.lock:
            self.repos.remove(repo.repo_type, repo.repo_id)
            self.repos.save()
        return Response.json(200, {})

    def repo_info(self, call: Call) -> Response:
        repo = self._repo(call)
        commit = self._commit(repo, call.params.get("rev") or "main")
        with_blobs = call.flag("blobs")
        siblings = []
        for path, entry in sorted(commit.files.items()):
            sibling: dict = {"rfilename": path}
            if with_blobs:
                sibling.update(size=entry.size, blobId=entry.blob_id)
                if entry.lfs_oid:
                    api = entry.to_api(path)["lfs"]
                    sibling["lfs"] = {"size": api["size"], "sha256": api["oid"], "pointerSize": api["pointerSize"]}
            siblings.append(sibling)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(commit.date))
        created = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(repo.created_at))
        return Response.json(200, {
            "_id": repo.repo_id, "id": repo.repo_id, "author": repo.namespace, "sha": commit.oid,
            "private": repo.private, "gated": False, "disabled": False, "downloads": 0, "likes": 0,
            "tags": [], "lastModified": stamp, "createdAt": created, "siblings": siblings,
        })

    def refs(self, call: Call) -> Response:
        repo = self._repo(call)
        branches = [{"name": n, "ref": f"refs/heads/{n}", "targetCommit": oid}
                    for n, oid in repo.branches.items() if not n.startswith("refs/")]
        tags = [{"name": n, "ref": f"refs/tags/{n}", "targetCommit": oid} for n, oid in repo.tags.items()]
        out: dict = {"branches": branches, "converts": [], "tags": tags}
        if call.flag("include_prs"):
            out["pullRequests"] = [{"name": n, "ref": n, "targetCommit": oid}
                                   for n, oid in repo.branches.items() if n.startswith("refs/pr/")]
        return Response.json(200, out)

    def create_branch(self, call: Call) -> Response:
        repo = self._repo(call, write=True)
        branch = call.params["branch"]
        start = (call.body.json() or {}).get("startingPoint") or "main"
        with self.repos.lock:
            if branch in repo.branches:
                raise HubError(409, f"Reference already exists: refs/heads/{branch}")
            repo.branches[branch] = self._commit(repo, start).oid
            self.repos.save()
        return Response.json(200, {})

    def create_tag(self, call: Call) -> Response:
        repo = self._repo(call, write=True)
        tag = (call.body.json() or {}).get("tag")
        if not isinstance(tag, str) or not tag or "/" in tag:
            raise HubError(400, f"invalid tag name {tag!r}")
        with self.repos.lock:
            if tag in repo.tags:
                raise HubError(409, f"Reference already exists: refs/tags/{tag}")
            repo.tags[tag] = self._commit(repo, call.params["rev"]).oid
            self.repos.save()
        return Response.json(200, {})

    def commits(self, call: Call) -> Response:
        repo = self._repo(call)
        history = [c.to_api() for c in repo.history(self._commit(repo, call.params["rev"]))]
        return self._paged(call, history, 50)

    # --- collections (what create_collection / get_collection / add_collection_item use) ---------------------
    def create_collection(self, call: Call) -> Response:
        payload = call.body.json() or {}
        title, namespace = payload.get("title"), payload.get("namespace")
        if not isinstance(title, str) or not title.strip() or len(title) > 60:
            raise HubError(400, "A collection needs a title of at most 60 characters")
        if not isinstance(namespace, str) or not namespace:
            raise HubError(400, "Missing namespace")
        self._require_write(call.token, namespace, f'create a collection under the namespace "{namespace}"')
        with self.repos.lock:
            for existing in self.collections.values():
                if existing["owner"]["name"] == namespace and existing["title"] == title:
                    raise HubError(409, "Collection already exists", body={"error": "Collection already exists",
                                                                           "slug": existing["slug"]})
            words = "-".join("".join(c if c.isalnum() else " " for c in title.lower()).split()) or "collection"
            slug = f"{namespace}/{words}-{hashlib.sha1(f'{namespace}/{title}'.encode()).hexdigest()[:24]}"
            self.collections[slug] = {
                "slug": slug, "title": title, "description": payload.get("description"),
                "owner": {"name": namespace, "type": "user"}, "items": [], "lastUpdated": _now(),
                "position": len(self.collections), "private": bool(payload.get("private")), "theme": "indigo",
                "upvotes": 0}
            return Response.json(200, self.collections[slug])

    def _collection(self, call: Call, write: bool = False) -> dict:
        collection = self.collections.get(f"{call.params['ns']}/{call.params['slug']}")
        if collection is None or (collection["private"] and not self.accounts.can_read(
                call.token, collection["owner"]["name"], True)):
            raise HubError(404, "Collection not found")
        if write:
            self._require_write(call.token, collection["owner"]["name"], "edit this collection")
        return collection

    def get_collection(self, call: Call) -> Response:
        return Response.json(200, self._collection(call))

    def add_collection_item(self, call: Call) -> Response:
        payload = call.body.json() or {}
        item = payload.get("item") if isinstance(payload.get("item"), dict) else {}
        item_id, item_type = item.get("id"), item.get("type")
        if item_type not in ("model", "dataset", "space") or not isinstance(item_id, str):
            raise HubError(400, "item must be {id, type} with type model, dataset or space")
        with self.repos.lock:
            collection = self._collection(call, write=True)
            if self.repos.get(item_type, item_id) is None:
                raise HubError(404, f"Repository Not Found: {item_id}", "RepoNotFound")
            if any(i["id"] == item_id and i["type"] == item_type for i in collection["items"]):
                raise HubError(409, "Item already in the collection")
            note = payload.get("note")
            collection["items"].append({
                "_id": hashlib.sha1(f"{collection['slug']}/{item_id}".encode()).hexdigest()[:24], "id": item_id,
                "type": item_type, "position": len(collection["items"]),
                **({"note": {"text": note[:500]}} if isinstance(note, str) else {})})
            collection["lastUpdated"] = _now()
            return Response.json(200, collection)

    # --- reading files --------------------------------------------------------------------------------------
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

    def xet_token(self, call: Call) -> Response:
        """A short-lived CAS token, as headers (read by huggingface_hub) and as JSON (read by hf_xet)."""
        if self.cas is None:
            raise HubError(404, "this Hub does not speak Xet (it was started without it): set HF_HUB_DISABLE_XET=1")
        write = call.params["mode"] == "write"
        repo = self._repo(call, write=write)
        rev = call.params["rev"]
        if not (write and rev == "None") and repo.resolve(rev) is None:
            raise HubError(404, f"Invalid rev id: {rev}", "RevisionNotFound")
        value, expires = self.cas.issue_token(call.token, write)
        cas_url = f"{call.endpoint}/cas"
        headers = {"X-Xet-Cas-Url": cas_url, "X-Xet-Access-Token": value, "X-Xet-Token-Expiration": str(expires)}
        return Response.json(200, {"accessToken": value, "exp": expires, "casUrl": cas_url}, headers)

    # --- uploading ------------------------------------------------------------------------------------------
    def preupload(self, call: Call) -> Response:
        repo = self._repo(call, write=True)
        commit = self._commit(repo, call.params["rev"])
        files = (call.body.json() or {}).get("files")
        if not isinstance(files, list):
            raise HubError(400, 'preupload expects {"files": [...]}')
        out = []
        for f in files:
            path, size = f.get("path"), f.get("size")
            if not isinstance(path, str) or not isinstance(size, int):
                raise HubError(400, "each preupload file needs a path and a size")
            self._check_size(path, size)
            sample = base64.b64decode(f.get("sample") or "")
            mode = "lfs" if _is_lfs(path, size, sample) else "regular"
            remote = commit.files.get(path)
            out.append({"path": path, "uploadMode": mode, "shouldIgnore": False,
                        "oid": remote.etag if remote else None})
        return Response.json(200, {"files": out, "commitOid": commit.oid})

    def lfs_batch(self, call: Call) -> Response:
        repo = self._repo(call, write=True)
        payload = call.body.json() or {}
        if payload.get("operation") != "upload":
            raise HubError(400, "only the upload operation is supported")
        objects = []
        for obj in payload.get("objects", []):
            oid, size = obj.get("oid"), obj.get("size")
            if not (isinstance(oid, str) and len(oid) == 64 and isinstance(size, int)):
                objects.append({"oid": str(oid), "size": int(size or 0),
                                "error": {"code": 422, "message": "invalid oid or size"}})
                continue
            entry: dict = {"oid": oid, "size": size, "authenticated": True}
            if not self.blobs.has("lfs", oid, size):
                entry["actions"] = {
                    "upload": {"href": f"{call.endpoint}/_lfs/{oid}?size={size}&sig={self.sign(oid, size)}"},
                    "verify": {"href": f"{self._repo_url(call, repo)}.git/info/lfs/objects/verify"},
                }
            objects.append(entry)
        return Response.json(200, {"transfer": "basic", "objects": objects, "hash_algo": "sha256"},
                             {"Content-Type": "application/vnd.git-lfs+json"})

    def sign(self, oid: str, size: int) -> str:
        # Upload hrefs are pre-signed like the Hub's storage URLs: the PUT carries no token.
        return hmac.new(self.secret, f"{oid}:{size}".encode(), hashlib.sha256).hexdigest()[:32]

    def lfs_upload(self, call: Call) -> Response:
        oid = call.params["oid"]
        try:
            size = int(call.query.get("size", [""])[0])
        except ValueError:
            raise HubError(400, "missing size") from None
        if not hmac.compare_digest(call.query.get("sig", [""])[0], self.sign(oid, size)):
            raise HubError(403, "upload URL signature does not match")
        if call.body.length is not None and call.body.length != size:
            raise HubError(400, f"Content-Length {call.body.length} does not match the announced size {size}")
        try:
            self.blobs.put_lfs_stream(oid, size, call.body.iter_chunks())
        except BlobMismatch as e:
            raise HubError(400, f"uploaded content does not match oid {oid}: {e}") from None
        return Response(200, {"Content-Length": "0"})

    def lfs_verify(self, call: Call) -> Response:
        self._repo(call, write=True)
        payload = call.body.json() or {}
        if not self.blobs.has("lfs", payload.get("oid", ""), payload.get("size")):
            raise HubError(404, f"object {payload.get('oid')} was not uploaded")
        return Response.json(200, {})

    def validate_yaml(self, call: Call) -> Response:
        payload = call.body.json() or {}
        errors, warnings = validate_front_matter(str(payload.get("content", "")))
        body = {"errors": [{"message": m} for m in errors], "warnings": [{"message": m} for m in warnings]}
        return Response.json(400 if errors else 200, body)

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

    def _check_size(self, path: str, size: int) -> None:
        if self.limits.max_file_size is not None and size > self.limits.max_file_size:
            raise HubError(413, f"{path}: file of {size} bytes exceeds the {self.limits.max_file_size}-byte limit")

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

    # --- paging ---------------------------------------------------------------------------------------------
    def _paged(self, call: Call, items: list, page_size: int) -> Response:
        try:
            cursor = int(call.query.get("cursor", ["0"])[0])
        except ValueError:
            raise HubError(400, "invalid cursor") from None
        page = items[cursor: cursor + page_size]
        headers = {}
        if cursor + page_size < len(items):
            query = {k: v[-1] for k, v in call.query.items() if k != "cursor"}
            query["cursor"] = str(cursor + page_size)
            qs = "&".join(f"{quote(k)}={quote(v)}" for k, v in query.items())
            headers["Link"] = f'<{call.endpoint}{call.path}?{qs}>; rel="next"'
        return Response.json(200, page, headers)


def _is_lfs(path: str, size: int, sample: bytes) -> bool:
    if size == 0:
        return False
    return size >= LFS_SIZE_THRESHOLD or path.endswith(LFS_EXTENSIONS) or b"\0" in sample


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


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
