"""The local Hub's collections endpoints, driven by huggingface_hub's own collection methods."""

from __future__ import annotations

import pytest
from huggingface_hub import HfApi
from huggingface_hub.errors import HfHubHTTPError


def test_create_get_and_add_items_like_the_hub(local_hub, hub_api: HfApi):
    hub_api.create_repo("tester/a")
    collection = hub_api.create_collection("My sweep", namespace="tester", description="trials", private=True)
    assert collection.slug.startswith("tester/my-sweep-") and collection.private
    again = hub_api.create_collection("My sweep", namespace="tester", exists_ok=True)  # 409 -> the existing one
    assert again.slug == collection.slug
    with pytest.raises(HfHubHTTPError) as err:
        hub_api.create_collection("My sweep", namespace="tester")
    assert err.value.response.status_code == 409
    hub_api.add_collection_item(collection.slug, "tester/a", "model", note="best trial")
    hub_api.add_collection_item(collection.slug, "tester/a", "model", exists_ok=True)
    items = hub_api.get_collection(collection.slug).items
    assert [(i.item_id, i.item_type, i.note) for i in items] == [("tester/a", "model", "best trial")]
    with pytest.raises(HfHubHTTPError) as err:
        hub_api.add_collection_item(collection.slug, "tester/missing", "model")
    assert err.value.response.status_code == 404


def test_a_private_collection_is_invisible_and_read_only_to_others(local_hub, hub_api: HfApi):
    slug = hub_api.create_collection("Private", namespace="tester", private=True).slug
    other = HfApi(endpoint=local_hub.url, token=local_hub.add_user("mallory"))
    with pytest.raises(HfHubHTTPError) as err:
        other.get_collection(slug)
    assert err.value.response.status_code == 404
    with pytest.raises(HfHubHTTPError) as err:
        other.create_collection("Mine", namespace="tester")
    assert err.value.response.status_code == 403
