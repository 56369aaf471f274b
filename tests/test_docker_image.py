"""The Docker image, built and answering: `make image`'s script builds docker/Dockerfile from a
Debian base made here with debootstrap (podman, chroot isolation: nothing is pulled), and the
image's own user runs qabot inside it (buildah run, chroot: the host's network, so a server
started inside answers on 127.0.0.1).

Needs root, podman, buildah and debootstrap (`.ci/run` installs them) and a package index
reachable from the build; outside CI the test skips without them. The first build takes a few
minutes; a rebuild after a code change reuses every layer but qabot's own.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request

import pytest

from tests.conftest import ROOT, skip_unless_ci
from tests.net import free_port
from tests.waiting import wait_until

pytestmark = pytest.mark.slow

IMAGE = "localhost/qabot:test"
SIZE_BUDGET = 2_000_000_000  # bytes; measured 1.81 GB (BENCHMARKS.md section 16)
WHEELS = "/opt/wheels"  # this machine's wheelhouse: torch's CPU build (see pip config list)
REFUND = "When can annual payments be refunded?"  # the README's question


def _tools_missing() -> str | None:
    missing = [t for t in ("podman", "buildah", "debootstrap") if shutil.which(t) is None]
    if missing:
        return f"{', '.join(missing)} not found (apt-get install podman buildah debootstrap)"
    if os.geteuid() != 0:
        return "building from a debootstrap base needs root"
    return None


@pytest.fixture(scope="module")
def image():
    """The image, built by docker/build.sh from the local Debian base."""
    if (why := _tools_missing()) is not None:
        skip_unless_ci(why)
    env = {**os.environ, "BASE": "local", "IMAGE": IMAGE, "CONTAINER_TOOL": "podman"}
    if any(p.startswith("torch-2.13.0+cpu") for p in os.listdir(WHEELS)
           if os.path.isdir(WHEELS)):
        env["TORCH_WHEELS"] = WHEELS  # the official CPU index is not reachable here
    started = time.monotonic()
    built = subprocess.run([str(ROOT / "docker" / "build.sh")], env=env, capture_output=True,
                           text=True, timeout=1800)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    print(f"\n{built.stdout.splitlines()[-1]} (this run: {time.monotonic() - started:.0f} s)")
    return IMAGE


@pytest.fixture(scope="module")
def container(image):
    """A working container of the image (buildah), removed afterwards."""
    name = subprocess.run(["buildah", "from", image], capture_output=True, text=True,
                          check=True).stdout.strip()
    yield name
    subprocess.run(["buildah", "rm", name], capture_output=True)


def inside(container: str, *command: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``command`` in the container as the image's user, with its environment."""
    return subprocess.run(["buildah", "run", "--isolation", "chroot", container, "--",
                           *command], capture_output=True, text=True, timeout=timeout)


def test_the_image_runs_qabot_as_its_own_user_and_indexes_the_knowledge_base(container):
    who = inside(container, "id", "-un")
    assert who.returncode == 0 and who.stdout.strip() == "qabot"
    version = inside(container, "qabot", "--version")
    assert version.returncode == 0 and version.stdout.startswith("qabot ")
    unhealthy = inside(container, "qabot", "health")  # no index yet: says so, exit 1
    assert unhealthy.returncode == 1 and "no index at /data/index" in unhealthy.stderr
    built = inside(container, "qabot-index", "build", "/kb", "--no-progress")
    assert built.returncode == 0, built.stderr[-2000:]
    assert "33 files" in built.stdout or "added" in built.stdout
    health = inside(container, "qabot", "health", "--json")
    assert health.returncode == 0, health.stderr[-2000:]
    report = json.loads(health.stdout)
    assert report["ok"] and report["index"] == "/data/index" and report["passages"] > 100


def test_qabot_web_inside_the_image_answers_the_readme_question(container):
    if inside(container, "test", "-f", "/data/index/manifest.json").returncode != 0:
        assert inside(container, "qabot-index", "build", "/kb", "--no-progress").returncode == 0
    port = free_port()
    server = subprocess.Popen(
        ["buildah", "run", "--isolation", "chroot", container, "--", "qabot", "web",
         "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        def answered() -> dict | None:
            assert server.poll() is None, server.stdout.read()[-3000:]
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/api/v1/chat",
                data=json.dumps({"user": "docker-test", "text": REFUND}).encode(),
                headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=120) as response:
                    return json.loads(response.read())["reply"]
            except OSError:
                return None

        reply = wait_until(answered, 180, interval=0.5,
                           message="qabot web in the image never answered")
        assert reply["kind"] in ("answer", "faq") and "30 days" in reply["text"]
        assert reply["sources"] and reply["sources"][0]["location"]  # cited: the FAQ or the page
    finally:
        os.killpg(server.pid, signal.SIGINT)  # buildah run and qabot web inside it
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(30)


def test_the_image_holds_no_cuda_no_tests_and_fits_its_size_budget(image, container):
    cuda = inside(container, "sh", "-c", "find / -xdev \\( -name 'libcudart*' -o -name "
                                         "'libcublas*' -o -name 'libnccl*' -o -name "
                                         "'libcudnn*' \\) -print; pip list 2>/dev/null | "
                                         "grep -i '^nvidia-' || true")
    assert cuda.returncode == 0 and cuda.stdout.strip() == ""
    torch = inside(container, "python3", "-c", "import torch; print(torch.__version__, "
                                               "torch.cuda.is_available())")
    assert torch.stdout.split() == ["2.13.0+cpu", "False"]
    packages = "/opt/qabot/lib/python3.11/site-packages"
    ours = inside(container, "sh", "-c", f"ls -d /src /app /tests /benchmarks "
                                         f"{packages}/tests {packages}/benchmarks 2>/dev/null; "
                                         f"find {packages}/qabot {packages}/indexer "
                                         "-name 'test_*.py' -o -name 'bench_*.py' | head -3")
    assert ours.stdout.strip() == ""  # none of our tests, benchmarks or build folder
    trainer = inside(container, "python3", "-c", "import datasets")
    assert trainer.returncode != 0  # the training extras stay out of the image
    size = int(subprocess.run(["podman", "image", "inspect", "--format", "{{.Size}}", image],
                              capture_output=True, text=True, check=True).stdout)
    print(f"\nimage size {size / 1e9:.2f} GB (budget {SIZE_BUDGET / 1e9:.2f} GB)")
    assert size < SIZE_BUDGET
    history = subprocess.run(["podman", "image", "inspect", "--format", "{{json .Config}}",
                              image], capture_output=True, text=True, check=True).stdout
    config = json.loads(history)
    assert config["User"] == "qabot" and config["Cmd"] == ["qabot", "telegram"]
    assert "/data" in (config.get("Volumes") or {})
    assert "PIP_CERT" not in json.dumps(config)  # the build's CA bundle is not baked in
    healthcheck = subprocess.run(["podman", "image", "inspect", "--format",
                                  "{{json .HealthCheck}}", image], capture_output=True,
                                 text=True, check=True).stdout
    assert json.loads(healthcheck)["Test"] == ["CMD", "qabot", "health"]
