"""Labs are copied into the learner's workspace and updated without losing their work."""

from __future__ import annotations

import datetime as dt

from kubelab import workspace

DAY = dt.date(2026, 11, 25)


def release(tmp_path, text: str, name: str = "lab.ipynb"):
    source = tmp_path / "released"
    (source / "00-intro").mkdir(parents=True, exist_ok=True)
    (source / "00-intro" / name).write_text(text)
    return source


def test_new_labs_are_copied_and_a_second_sync_changes_nothing(tmp_path):
    source, ws = release(tmp_path, "v1"), tmp_path / "ws"
    assert workspace.sync(ws, source, DAY).added == ["00-intro/lab.ipynb"]
    assert (ws / "00-intro" / "lab.ipynb").read_text() == "v1"
    again = workspace.sync(ws, source, DAY)
    assert again.added == again.updated == again.beside == []


def test_an_untouched_lab_is_updated_in_place(tmp_path):
    ws = tmp_path / "ws"
    workspace.sync(ws, release(tmp_path, "v1"), DAY)
    report = workspace.sync(ws, release(tmp_path, "v2"), DAY)
    assert report.updated == ["00-intro/lab.ipynb"]
    assert (ws / "00-intro" / "lab.ipynb").read_text() == "v2"


def test_a_lab_the_learner_changed_is_kept_and_the_new_release_lands_beside_it(tmp_path):
    ws = tmp_path / "ws"
    workspace.sync(ws, release(tmp_path, "v1"), DAY)
    (ws / "00-intro" / "lab.ipynb").write_text("my answers")
    report = workspace.sync(ws, release(tmp_path, "v2"), DAY)
    assert report.beside == ["00-intro/lab.new-20261125.ipynb"]
    assert (ws / "00-intro" / "lab.ipynb").read_text() == "my answers"
    assert (ws / "00-intro" / "lab.new-20261125.ipynb").read_text() == "v2"
    assert workspace.sync(ws, release(tmp_path, "v2"), DAY).beside == []


def test_a_deleted_lab_comes_back(tmp_path):
    ws, source = tmp_path / "ws", release(tmp_path, "v1")
    workspace.sync(ws, source, DAY)
    (ws / "00-intro" / "lab.ipynb").unlink()
    assert workspace.sync(ws, source, DAY).added == ["00-intro/lab.ipynb"]
