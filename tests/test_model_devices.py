"""schedule.devices: the CPU path is the default one and unchanged; the MirroredStrategy path
(the GPU path) trained on 2 logical CPU devices, its checkpoint converted and verified exact;
mixed_float16 with dynamic loss scaling through the same path."""
import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT

pytest.importorskip("tensorflow")
TINY = ROOT / "converters" / "configs" / "tiny.toml"
STEPS = 8


def steps_of(run):
    recs = [json.loads(x) for x in (run / "train.log").read_text().splitlines()]
    start = next(r for r in recs if r.get("event") == "start")
    return start, [r for r in recs if "steps_per_s" in r and "event" not in r]


def numbers(steps):
    return [(r["step"], r["gnorm"], {k: v for k, v in r.items() if k.startswith("L")})
            for r in steps]


def tiny_cfg(**schedule):
    from mlvc import model
    cfg = model.load_config(TINY)
    cfg.schedule.steps = STEPS
    cfg.schedule.log_every = 1
    for k, v in schedule.items():
        setattr(cfg.schedule, k, v)
    return cfg


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    from mlvc import model
    d = tmp_path_factory.mktemp("devices")
    model.train(tiny_cfg(), d / "auto")
    model.train(tiny_cfg(devices="cpu"), d / "cpu")
    model.train(tiny_cfg(devices="cpu:2"), d / "cpu2")
    return d


def test_default_is_the_cpu_path_step_by_step(runs):
    start_auto, auto = steps_of(runs / "auto")
    start_cpu, cpu = steps_of(runs / "cpu")
    assert start_cpu["devices"] == {"kind": "cpu", "replicas": 1, "mixed_float16": False}
    if start_auto["devices"]["kind"] == "gpu":           # a machine with GPUs: auto takes them
        assert start_auto["devices"]["mixed_float16"]
        return
    assert start_auto["devices"] == start_cpu["devices"]
    assert len(cpu) == STEPS and numbers(auto) == numbers(cpu)     # the very same numbers


def test_two_logical_cpu_devices_train_under_mirrored_strategy(runs, tmp_path):
    start, two = steps_of(runs / "cpu2")
    _, one = steps_of(runs / "cpu")
    dev = start["devices"]
    assert dev["kind"] == "cpu" and dev["replicas"] == 2 and len(dev["devices"]) == 2
    assert len(two) == STEPS and all(np.isfinite(r["gnorm"]) for r in two)
    assert all(np.isfinite(v["loss"]) for r in two for k, v in r.items() if k.startswith("L"))
    # the same global batch, split in two: step 1 computes the single-device gradient up to
    # the rate term's noise (each replica draws its own) and the summation order
    assert two[0]["gnorm"] == pytest.approx(one[0]["gnorm"], rel=0.05)
    for k, v in one[0].items():
        if k.startswith("L"):
            assert two[0][k]["psnr"] == pytest.approx(v["psnr"], abs=0.05)
    from mlvc import model
    model.convert(runs / "cpu2", tmp_path / "pkg")
    r = subprocess.run([sys.executable, "-m", "mlvc.cli", "model", "verify", tmp_path / "pkg",
                        "--run", runs / "cpu2", "--json"], capture_output=True, text=True,
                       cwd=ROOT)
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["exact"] and all(n["differing"] == 0 for n in rep["networks"])
    assert rep["rd"]["tax"]["qat_vs_integer_differing"] == 0


def test_mixed_float16_with_loss_scaling(tmp_path):
    """mixed_float16 (the GPU default) forced on CPU: float16 convolutions, the dynamic loss
    scale starts at 2**15 and only halves on overflow; the steps stay finite."""
    from mlvc import model
    model.train(tiny_cfg(devices="cpu:2", mixed_precision=True, steps=4), tmp_path / "run")
    start, steps = steps_of(tmp_path / "run")
    assert start["devices"]["mixed_float16"] is True
    scales = [r["loss_scale"] for r in steps]
    assert len(steps) == 4 and all(1.0 <= s <= 2.0 ** 15 for s in scales)
    assert all(np.log2(s) == int(np.log2(s)) for s in scales)
    assert all(np.isfinite(r["gnorm"]) for r in steps)


def test_devices_errors_are_typed(tmp_path):
    for dev, msg in (("cpu:3", "does not split"), ("gpu", "'auto', 'cpu', N or 'cpu:N'")):
        r = subprocess.run([sys.executable, "-m", "mlvc.cli", "model", "train", "--config", TINY,
                            "--out", tmp_path / "run", "--devices", dev],
                           capture_output=True, text=True, cwd=ROOT)
        assert r.returncode == 2 and msg in r.stderr and "Traceback" not in r.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text(TINY.read_text().replace("batch = 2", "batch = 2\nfp32 = true\n"
                                            "mixed_precision = true"))
    r = subprocess.run([sys.executable, "-m", "mlvc.cli", "model", "train", "--config", bad,
                        "--out", tmp_path / "run"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 2 and "exclude each other" in r.stderr
