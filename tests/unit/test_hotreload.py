"""Hot-reload timing (pure) and change detection on a real folder."""

from __future__ import annotations

from pathlib import Path

from openwork.runtime.hotreload import ReloadScheduler, config_fingerprint


def test_a_burst_of_changes_gives_one_dispose_after_the_debounce() -> None:
    s = ReloadScheduler(debounce=0.7, cooldown=1.5)
    s.changed("ws", {"opencode.json"}, 10.0)
    s.changed("ws", {"opencode.json"}, 10.3)
    s.changed("ws", {".opencode/agent/a.md"}, 10.5)
    assert s.due(11.1) == []  # 0.6 s after the last change
    assert s.due(11.2) == [("ws", {"opencode.json", ".opencode/agent/a.md"})]
    assert s.due(20.0) == []


def test_cooldown_spaces_disposes() -> None:
    s = ReloadScheduler(debounce=0.7, cooldown=1.5)
    s.changed("ws", {"a"}, 0.0)
    assert [w for w, _ in s.due(0.7)] == ["ws"]
    s.changed("ws", {"a"}, 0.8)  # debounce says 1.5, cooldown says 2.2
    assert s.due(1.6) == []
    assert [w for w, _ in s.due(2.2)] == ["ws"]


def test_workspaces_are_independent() -> None:
    s = ReloadScheduler(debounce=0.7, cooldown=1.5)
    s.changed("a", {"x"}, 0.0)
    s.changed("b", {"y"}, 0.5)
    assert [w for w, _ in s.due(0.7)] == ["a"]
    assert [w for w, _ in s.due(1.2)] == ["b"]


def test_fingerprint_sees_config_files_only(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "main.py").write_text("x")
    (tmp_path / ".opencode" / "agent").mkdir(parents=True)
    (tmp_path / ".opencode" / "agent" / "review.md").write_text("agent")
    (tmp_path / "opencode.json").write_text("{}")
    assert set(config_fingerprint(tmp_path)) == {"opencode.json", ".opencode/agent/review.md"}
