"""How large files reach the local Hub: preupload's choice of upload mode, the LFS batch API with its pre-signed
uploads, and the short-lived Xet tokens for the CAS (`xet_cas.py`)."""

from __future__ import annotations

import base64
import hashlib
import hmac

from .api_call import ApiBase, Call
from .storage import LFS_EXTENSIONS, LFS_SIZE_THRESHOLD, BlobMismatch
from .wire import HubError, Response


class LargeFileApi(ApiBase):
    secret: bytes  # signs the upload URLs (set by HubApi)

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


def _is_lfs(path: str, size: int, sample: bytes) -> bool:
    if size == 0:
        return False
    return size >= LFS_SIZE_THRESHOLD or path.endswith(LFS_EXTENSIONS) or b"\0" in sample
