"""The local Hub's repos and their refs: create, delete, info, branches, tags and a branch's history."""

from __future__ import annotations

import time

from .api_call import URL_PREFIX, ApiBase, Call
from .storage import GITATTRIBUTES, FileEntry, Repo, new_commit
from .wire import HubError, Response


class RepoApi(ApiBase):
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
