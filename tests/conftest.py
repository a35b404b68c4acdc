import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
for p in (ROOT / "sdk", ROOT / "converters"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))


@pytest.fixture(scope="session")
def small_package(tmp_path_factory):
    """A small random-weight package (same architecture as the shipped one), built once."""
    from mlvc_convert.package_builder import build_package
    from mlvc_convert.random_model import random_codec
    out = tmp_path_factory.mktemp("pkg")
    graphs, codec = random_codec(n=8, m=16, nz=8, seed=3)
    build_package(graphs, codec, out, "test-random")
    return str(out)


def litert_available() -> bool:
    try:
        import ai_edge_litert.interpreter  # noqa: F401
        return True
    except ImportError:
        return False
