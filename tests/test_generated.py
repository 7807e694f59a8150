"""`generated`: the card, config.yaml and the installed versions, made again whenever what they are made from
changes (inputs, the code that makes them, installed packages), and otherwise kept."""

from __future__ import annotations

import os
import sys

import pytest

from ludwig_hub_export import generated


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LUDWIG_HUB_EXPORT_CACHE", str(tmp_path / "cache"))


def test_installed_versions_are_read_again_once_a_package_is_installed_or_removed(tmp_path, monkeypatch):
    site = tmp_path / "site-packages"
    site.mkdir()
    monkeypatch.setattr(sys, "path", [*sys.path, str(site)])
    reads = []

    def read() -> dict[str, str]:
        reads.append(1)
        return {"peft": f"0.{len(reads)}"}

    assert generated.kept_versions(read) == {"peft": "0.1"}
    assert generated.kept_versions(read) == {"peft": "0.1"} and len(reads) == 1  # kept: nothing installed since
    (site / "peft-0.2.dist-info").mkdir()  # what an installer does
    assert generated.kept_versions(read) == {"peft": "0.2"} and len(reads) == 2
    (site / "peft-0.2.dist-info").rmdir()
    assert generated.kept_versions(read) == {"peft": "0.3"} and len(reads) == 3


def test_a_kept_file_is_made_again_when_its_inputs_or_its_code_change(tmp_path):
    code = tmp_path / "maker.py"
    code.write_text("# the module that makes it\n")
    made = []

    def make(text: str):
        def run() -> str:
            made.append(text)
            return text
        return run

    assert generated.kept("card", {"a": 1, "b": 2}, make("one"), str(code)) == "one"
    assert generated.kept("card", {"a": 1, "b": 2}, make("two"), str(code)) == "one" and made == ["one"]
    assert generated.kept("card", {"b": 2, "a": 1}, make("three"), str(code)) == "three"  # order is content
    assert generated.kept("config.yaml", {"a": 1, "b": 2}, make("four"), str(code)) == "four"  # another file
    stat = code.stat()
    os.utime(code, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))  # the code changed
    assert generated.kept("card", {"a": 1, "b": 2}, make("five"), str(code)) == "five"
    assert made == ["one", "three", "four", "five"]


def test_a_damaged_cache_file_only_costs_making_the_files_again(tmp_path):
    code = tmp_path / "maker.py"
    code.write_text("\n")
    generated.kept("card", {"a": 1}, lambda: "text", str(code))
    (tmp_path / "cache" / "generated.json").write_text("{not json")
    generated._store = None  # a new process
    assert generated.kept("card", {"a": 1}, lambda: "made again", str(code)) == "made again"
