"""The local Hub's Collections, as create_collection / get_collection / add_collection_item use them (in memory:
not kept across restarts)."""

from __future__ import annotations

import hashlib
import time

from .api_call import ApiBase, Call
from .wire import HubError, Response


class CollectionApi(ApiBase):
    collections: dict[str, dict]  # slug -> collection (set by HubApi)

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


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
