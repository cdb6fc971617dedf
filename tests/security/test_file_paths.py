"""Property: whatever path string a client sends, a file operation is refused or stays inside the root."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openwork.errors import OpenworkError
from openwork.files import ops
from openwork.files.pathrules import check_path, open_root

SEGMENTS = st.sampled_from(["..", ".", "", "a", "b", "link", "%2e%2e", "..\\", "\x00", "\n", "é", "x" * 300])
PATHS = st.one_of(
    st.text(max_size=60),
    st.lists(SEGMENTS, min_size=1, max_size=6).map("/".join),
    st.lists(SEGMENTS, min_size=1, max_size=6).map(lambda parts: "/" + "/".join(parts)),
)


def _tree() -> tuple[Path, Path]:
    base = Path(tempfile.mkdtemp(prefix="ow-prop-"))
    root, outside = base / "root", base / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "a").mkdir()
    (root / "link").symlink_to(outside)
    (root / "a" / "link").symlink_to(outside)
    return root, outside


ROOT, OUTSIDE = _tree()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(PATHS)
def test_writes_are_refused_or_inside_the_root(raw: str) -> None:
    root_fd = open_root(str(ROOT))
    try:
        parts = check_path(raw)
        result = ops.write_file(root_fd, parts, b"x", if_match=None, force=False)
    except OpenworkError:
        result = None
    except OSError:
        result = None  # e.g. a name too long for the filesystem: refused by the kernel, nothing written
    finally:
        os.close(root_fd)
    assert list(OUTSIDE.iterdir()) == []
    if result is not None:
        written = (ROOT / result.path).resolve()
        assert ROOT.resolve() in written.parents
        assert os.path.realpath(written).startswith(str(ROOT.resolve()) + os.sep)
