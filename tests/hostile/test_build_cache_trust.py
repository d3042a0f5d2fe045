"""A lane's test code poisoning the Go build cache reaches neither the gate nor a later job (real git, real Docker).

Every sandbox links the image's read-only standard-library cache into a GOCACHE of its own: the
poisoner can replace its own links and entries (and so break its own later builds), but cannot
write through a link, into the image's cache or change its modes, in root and in non-root mode.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import docker
import pytest

from tests.conftest import git
from tests.hostile.conftest import Agentd
from tests.support.lanes import job_lanes

pytestmark = pytest.mark.docker

POISON_TEST_GO = """package %s

import (
\t"bytes"
\t"os"
\t"path/filepath"
\t"strings"
\t"testing"
)

// TestPoisonTheBuildCache is hostile test code: garbage into every Go build cache entry it can reach.
func TestPoisonTheBuildCache(t *testing.T) {
\tthrough, replaced, seed, chmodded := 0, 0, 0, 0
\t_ = filepath.Walk(os.Getenv("GOCACHE"), func(path string, info os.FileInfo, err error) error {
\t\tif err != nil || info.IsDir() {
\t\t\treturn nil
\t\t}
\t\ttarget, err := os.Stat(path)
\t\tif err != nil {
\t\t\treturn nil
\t\t}
\t\t// Garbage of the right size in an output (-d): Go checks only the size before using it.
\t\tgarbage := bytes.Repeat([]byte("x"), int(target.Size()))
\t\tif info.Mode()&os.ModeSymlink != 0 {
\t\t\tif f, err := os.OpenFile(path, os.O_WRONLY, 0); err == nil { // through the link, into the image
\t\t\t\t_, _ = f.Write(garbage)
\t\t\t\t_ = f.Close()
\t\t\t\tthrough++
\t\t\t}
\t\t}
\t\tif strings.HasSuffix(path, "-d") && os.Remove(path) == nil && os.WriteFile(path, garbage, 0o644) == nil {
\t\t\treplaced++
\t\t}
\t\treturn nil
\t})
\t_ = filepath.Walk("/opt/agentd/gocache", func(path string, info os.FileInfo, err error) error {
\t\tif err != nil || info.IsDir() {
\t\t\treturn nil
\t\t}
\t\tif f, err := os.OpenFile(path, os.O_WRONLY, 0); err == nil {
\t\t\t_ = f.Close()
\t\t\tseed++
\t\t}
\t\tif os.Chmod(path, 0o666) == nil {
\t\t\tchmodded++
\t\t}
\t\treturn nil
\t})
\tt.Logf("poisoned: through=%%d replaced=%%d seed=%%d chmod=%%d", through, replaced, seed, chmodded)
}
"""
FINE_TEST_GO = (
    'package main\n\nimport (\n\t"fmt"\n\t"testing"\n)\n\n'
    'func TestFine(t *testing.T) {\n\tif fmt.Sprint(1) != "1" {\n\t\tt.Fatal("fmt")\n\t}\n}\n'
)
SEED_DIGEST = ["sh", "-c", "cd /opt/agentd/gocache && find . -type f | sort | xargs sha256sum | sha256sum"]
COUNTS = re.compile(r"poisoned: through=(\d+) replaced=(\d+) seed=(\d+) chmod=(\d+)")


def poisoned(output: str) -> dict[str, int]:
    """The poisoner's own counts, from `go test -v` output."""
    found = COUNTS.search(output)
    assert found is not None, output
    return dict(zip(("through", "replaced", "seed", "chmod"), map(int, found.groups()), strict=True))


def test_a_poisoned_lane_cache_never_reaches_the_gate_or_a_later_job(
    sample_repo: Path, tmp_path: Path, docker_client: docker.DockerClient, sandbox_image: str
) -> None:
    """agentd's test run of a lane whose test poisons GOCACHE: the lane's own later build breaks, the gate's
    fresh run of that commit and a later job's run pass, and the image's cache is unchanged."""
    with job_lanes(sample_repo, tmp_path / "state", docker_client) as lanes:
        lane = lanes.lane("proposer-1")
        before = lane.sandbox.run(SEED_DIGEST).stdout
        (lane.worktree / "cart" / "poison_test.go").write_text(POISON_TEST_GO % "cart")
        lanes.config.test_command = ["go", "test", "-v", "./..."]
        proof = lane.test()
        assert proof.ok, proof.shown
        counts = poisoned(proof.result.stdout)
        assert counts["replaced"] > 100 and counts["through"] == counts["seed"] == counts["chmod"] == 0, counts
        again = lane.sandbox.run(["go", "test", "-count=1", "./..."], timeout_s=120)
        assert not again.ok  # the poison works where it may: in the lane's own cache
        lanes.config.mirror.stage(lane.worktree)
        sha = lanes.config.mirror.commit(lane.worktree, "poisoner\n", tmp_path / "poison.msg")
        _, gate = lanes.open_gate(sha)
        gated = gate.run(["go", "test", "-count=1", "./..."], timeout_s=120)
        assert gated.ok, gated.stdout + gated.stderr
    git(sample_repo, "commit", "--allow-empty", "-q", "-m", "later")
    with job_lanes(sample_repo, tmp_path / "later", docker_client, request_id="r2") as later:
        main = later.lane("main")
        assert main.sandbox.run(SEED_DIGEST).stdout == before
        tested = main.sandbox.run(["go", "test", "-count=1", "./..."], timeout_s=120)
        assert tested.ok, tested.stdout + tested.stderr


def test_a_sandbox_cannot_change_the_images_build_cache_in_either_mode(agentd: Agentd) -> None:
    """Root and non-root mode alike: no write through a link or into the image's cache, no chmod; a fresh
    sandbox afterwards finds the image's cache byte for byte as before, and builds with it."""
    write_poisoner = ["sh", "-c", f"printf '%s' {shlex.quote(POISON_TEST_GO % 'main')} > poison_test.go"]
    attacked = agentd.play(
        [
            {"op": "run", "argv": SEED_DIGEST},
            {"op": "run", "argv": write_poisoner},
            {"op": "run", "argv": ["go", "test", "-v", "./..."], "timeout_s": 120},
        ]
    )
    before, written, played = attacked.observed
    assert written["exit_code"] == 0, written
    assert played["exit_code"] == 0, played
    counts = poisoned(played["stdout"])
    assert counts["replaced"] > 100 and counts["through"] == counts["seed"] == counts["chmod"] == 0, counts
    fresh = agentd.play(
        [
            {"op": "run", "argv": SEED_DIGEST},
            {"op": "run", "argv": ["sh", "-c", f"printf '%s' {shlex.quote(FINE_TEST_GO)} > fine_test.go"]},
            {"op": "run", "argv": ["go", "test", "-count=1", "./..."], "timeout_s": 120},
        ]
    )
    after, _, tested = fresh.observed
    assert after["stdout"] == before["stdout"]
    assert tested["exit_code"] == 0, tested  # vetted and built with the image's cache entries
