import os

import cache


def test_key_changes_with_content_and_mode_but_not_location(tmp_path):
    a = tmp_path / "a"
    a.mkdir()
    (a / "f").write_text("one")
    b = tmp_path / "b"
    b.mkdir()
    (b / "f").write_text("one")
    assert cache.content_key([a], base=a) == cache.content_key([b], base=b)
    (b / "f").write_text("two")
    assert cache.content_key([a], base=a) != cache.content_key([b], base=b)
    (b / "f").write_text("one")
    os.chmod(b / "f", 0o755)
    assert cache.content_key([a], base=a) != cache.content_key([b], base=b)


def test_key_depends_on_extra_strings(tmp_path):
    (tmp_path / "f").write_text("x")
    assert cache.content_key([tmp_path], extra=["bookworm"], base=tmp_path) != cache.content_key(
        [tmp_path], extra=["trixie"], base=tmp_path)


def test_cache_dir_override(tmp_path, monkeypatch):
    monkeypatch.setenv("OOMGS_CACHE_DIR", str(tmp_path / "c"))
    assert cache.cache_dir() == tmp_path / "c"
    assert (tmp_path / "c").is_dir()
