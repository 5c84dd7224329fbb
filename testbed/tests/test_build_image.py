import pytest

import build_image


def test_each_release_has_its_own_image(tmp_path, monkeypatch):
    monkeypatch.setenv("OOMGS_CACHE_DIR", str(tmp_path))
    bookworm, trixie = build_image.image_dir("12"), build_image.image_dir("13")
    assert bookworm.name.startswith("debian12-amd64-")
    assert trixie.name.startswith("debian13-amd64-")
    assert build_image.image_key("12") != build_image.image_key("13")
    assert build_image.image_dir() == bookworm


def test_unknown_release_is_refused():
    with pytest.raises(SystemExit, match="unknown Debian release '11'"):
        build_image.image_key("11")
