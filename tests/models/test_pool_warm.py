"""A claimed job warms the model pool: the SDK is imported in the background, never while the daemon idles."""

from __future__ import annotations

import subprocess
import sys
import textwrap

PROGRAM = textwrap.dedent(
    """
    import sys, time
    from agentd.models.config import ModelConfig
    from agentd.models.pool import ModelPool

    config = ModelConfig(provider="scripted", model="scripted-demo", script="demo")
    pool = ModelPool({"default": config}, {})
    print("built", "openai" in sys.modules)
    started = time.monotonic()
    pool.warm()
    print("returned_at_once", time.monotonic() - started < 0.5)
    deadline = time.monotonic() + 60
    while "openai" not in sys.modules and time.monotonic() < deadline:
        time.sleep(0.01)
    print("imported", "openai" in sys.modules)
    pool.close()
    """
)


def test_warm_imports_the_sdk_in_the_background_and_building_the_pool_does_not() -> None:
    """Building the pool leaves the SDK unimported (idle daemon); warm() returns at once and imports it behind."""
    done = subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["built", "False", "returned_at_once", "True", "imported", "True"]
