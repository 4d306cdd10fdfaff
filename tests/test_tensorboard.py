"""The real `tensorboard` command on a finished tiny pre-training run: it starts (the
install pins a setuptools that still has the pkg_resources it imports) and serves our
scalars and the corrupted-example text over its HTTP API."""
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request


def _tensorboard_command():
    here = os.path.join(os.path.dirname(sys.executable), "tensorboard")
    return here if os.path.isfile(here) else shutil.which("tensorboard")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url, timeout=2):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.loads(r.read().decode())


def test_tensorboard_serves_our_scalars_and_text(trained_pretrainer, tmp_path):
    _, model_dir = trained_pretrainer
    command = _tensorboard_command()
    assert command, "the tensorboard command is not installed"
    port = _free_port()
    log = open(tmp_path / "tensorboard.log", "w+")
    proc = subprocess.Popen([command, "--logdir", model_dir, "--host", "127.0.0.1",
                             "--port", str(port), "--load_fast=false"],
                            stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/data/plugin"
    try:
        scalars = None
        deadline = time.time() + 90
        while time.time() < deadline:
            assert proc.poll() is None, "tensorboard exited:\n" + open(log.name).read()[-3000:]
            try:
                scalars = _get(f"{base}/scalars/tags")
                if scalars:  # the run's event file has been read
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(1)
        assert scalars, "tensorboard served no scalars:\n" + open(log.name).read()[-3000:]
        tags = set().union(*(set(run_tags) for run_tags in scalars.values()))
        for tag in ("loss", "mlm_loss", "disc_loss", "disc_auc", "learning_rate",
                    "replaced_fraction"):
            assert tag in tags, (tag, sorted(tags))
        text = _get(f"{base}/text/tags")
        assert any("corrupted_example" in run_tags for run_tags in text.values()), text
        log.seek(0)
        assert "pkg_resources" not in log.read()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
