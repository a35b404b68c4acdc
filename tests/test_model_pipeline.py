"""`mlvc model`: train the tiny config from scratch, convert it, verify it exact, code with it on
numpy and tflite (identical streams, hashes verified); fine-tune the bundled run; typed errors
for bad configs, data and packages (exit status, no traceback)."""
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT

pytest.importorskip("tensorflow")
TINY = ROOT / "converters" / "configs" / "tiny.toml"


def cli(*args):
    return subprocess.run([sys.executable, "-m", "mlvc.cli", *map(str, args)],
                          capture_output=True, text=True, cwd=ROOT)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from mlvc import model
    d = tmp_path_factory.mktemp("tiny")
    cfg = model.load_config(TINY)
    cfg.schedule.steps = 200                  # the CI run; the config's 900 take ~30 s more
    model.train(cfg, d / "run")
    model.convert(d / "run", d / "pkg")
    return d


def test_tiny_trains_and_logs_json_lines(tiny):
    recs = [json.loads(x) for x in (tiny / "run" / "train.log").read_text().splitlines()]
    steps = [r for r in recs if "steps_per_s" in r and "event" not in r]
    assert steps and all("L1" in r and "psnr" in r["L1"] and "bpp" in r["L1"] for r in steps)
    assert recs[-1]["event"] == "done" and recs[-1]["step"] == 200


def test_tiny_package_verifies_exact(tiny):
    r = cli("model", "verify", tiny / "pkg", "--json")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["exact"] is True and rep["model_id"] == "mlvc-tiny-v1"
    assert {n["name"] for n in rep["networks"]} == {"g_a", "h_a", "h_s", "g_s"}
    assert all(n["differing"] == 0 for n in rep["networks"])
    assert rep["rd"]["mlvc"] and "jpeg" in rep["rd"]


def test_convert_description_is_not_decoding_content(tiny, tmp_path):
    """The description (like the training record) is bookkeeping: converting the same run
    with another one gives the same content hash and the same networks, byte for byte."""
    from mlvc import model
    r = model.convert(tiny / "run", tmp_path / "pkg", description="talking heads, v1")
    a = json.loads((tmp_path / "pkg" / "manifest.json").read_text())
    b = json.loads((tiny / "pkg" / "manifest.json").read_text())
    assert a["description"] == "talking heads, v1" != b["description"]
    assert r["content_hash"] == a["content_hash"] == b["content_hash"]
    for f in (tiny / "pkg" / "networks").iterdir():
        assert (tmp_path / "pkg" / "networks" / f.name).read_bytes() == f.read_bytes()


def test_verify_measures_the_determinism_tax(tiny):
    """verify --run: the integer networks against the run's float twin on the same pictures;
    the integer rows are the package's own pictures (the PSNR the decoder gives)."""
    r = cli("model", "verify", tiny / "pkg", "--run", tiny / "run", "--json")
    assert r.returncode == 0, r.stderr
    rd = json.loads(r.stdout)["rd"]
    tax = rd["tax"]
    assert isinstance(tax["bd_rate_percent"], float) and np.isfinite(tax["bd_rate_percent"])
    assert [x["level"] for x in tax["float"]] == [x["level"] for x in tax["integer"]] == [1, 2, 3, 4]
    assert tax["checkpoint"] == "ckpt-200" and tax["qat_vs_integer_differing"] == 0
    for i, coded in zip(tax["integer"], rd["mlvc"]):
        assert abs(i["psnr"] - coded["psnr"]) < 0.002          # the decoder's very pictures
        assert 0.5 < i["bpp"] / coded["bpp"] < 1.5             # estimate vs coded bytes
    # the number is the BD-rate of those rows (pchip)
    from mlvc.bench.rd import bd_rate
    f, i = tax["float"], tax["integer"]
    bd = bd_rate([x["bpp"] for x in f], [x["psnr"] for x in f],
                 [x["bpp"] for x in i], [x["psnr"] for x in i])
    assert abs(bd - tax["bd_rate_percent"]) < 1e-3
    r = cli("model", "verify", tiny / "pkg", "--run", tiny / "run")
    assert r.returncode == 0 and "determinism tax: BD-rate" in r.stdout


def test_verify_without_run_has_no_tax_and_no_tensorflow(tiny):
    code = ("import sys, json; from mlvc import model; "
            f"r = model.verify({str(tiny / 'pkg')!r}); "
            "print(json.dumps([r['rd']['tax'], 'tensorflow' in sys.modules]))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.splitlines()[-1]) == [None, False]
    r = cli("model", "verify", tiny / "pkg")
    assert r.returncode == 0 and "determinism tax: not measured (needs --run" in r.stdout


def test_verify_bad_run_is_a_typed_error(tiny, tmp_path):
    r = cli("model", "verify", tiny / "pkg", "--run", tmp_path / "absent")
    assert r.returncode == 2 and "not a folder" in r.stderr and "Traceback" not in r.stderr
    (tmp_path / "empty" / "ckpt").mkdir(parents=True)
    r = cli("model", "verify", tiny / "pkg", "--run", tmp_path / "empty", "--json")
    assert r.returncode == 2 and "no checkpoint" in r.stderr and "Traceback" not in r.stderr
    assert r.stdout == ""
    if (ROOT / "training" / "intra_lp" / "ckpt").is_dir():     # another model's run
        r = cli("model", "verify", tiny / "pkg", "--run", ROOT / "training" / "intra_lp")
        assert r.returncode == 5 and "not its latest checkpoint" in r.stderr
        assert "Traceback" not in r.stderr


def test_tiny_codes_identically_on_numpy_and_tflite(tiny):
    from mlvc.api import Decoder, Encoder
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:64, 0:96]
    frames = [np.clip(np.stack([x * 2 + i, y * 3, (x + y) * 2], -1) + rng.integers(0, 8, (64, 96, 3)),
                      0, 255).astype(np.uint8) for i in range(3)]
    pkg = str(tiny / "pkg")
    streams = {b: Encoder(package=pkg, backend=b, quality=2, gop=1).encode(frames)
               for b in ("numpy", "litert-xnnpack")}
    assert streams["numpy"] == streams["litert-xnnpack"]
    for b in ("numpy", "litert-xnnpack"):
        out = Decoder(streams["numpy"], package=pkg, backend=b).decode_all()
        assert len(out) == 3 and all(f.verified for f in out)


def test_resume_continues_a_run_exactly(tmp_path):
    """A run stopped at step 30 and resumed (--resume, its own saved config) ends with the very
    weights of the same run made in one go."""
    import tensorflow as tf
    from mlvc import model
    cfg = model.load_config(TINY)
    cfg.schedule.steps = 60
    model.train(cfg, tmp_path / "once")
    model.train(cfg, tmp_path / "twice", stop_at=30)
    r = cli("model", "train", "--out", tmp_path / "twice", "--resume")
    assert r.returncode == 0, r.stderr
    recs = [json.loads(x) for x in (tmp_path / "twice" / "train.log").read_text().splitlines()]
    assert [x["step"] for x in recs if x.get("event") == "done"] == [30, 60]
    a = tf.train.load_checkpoint(tf.train.latest_checkpoint(str(tmp_path / "once" / "ckpt")))
    b = tf.train.load_checkpoint(tf.train.latest_checkpoint(str(tmp_path / "twice" / "ckpt")))
    names = [n for n in a.get_variable_to_shape_map() if n.startswith("model/")]
    assert names
    diff = [n for n in names if not np.array_equal(a.get_tensor(n), b.get_tensor(n))]
    assert not diff, diff[:5]


@pytest.mark.skipif(not (ROOT / "training" / "intra_lp" / "ckpt").is_dir(),
                    reason="the bundled model's run is only in a source checkout")
def test_fine_tune_the_bundled_model(tmp_path):
    from mlvc import model
    from mlvc.package.loader import bundled_package_path
    cfg = model.load_config(TINY)
    cfg.schedule.steps = 3
    cfg.schedule.log_every = 1
    cfg.schedule.batch = 1
    model.train(cfg, tmp_path / "ft", init=str(bundled_package_path()))
    recs = [json.loads(x) for x in (tmp_path / "ft" / "train.log").read_text().splitlines()]
    start = next(r for r in recs if r.get("event") == "start")
    assert start["args"]["init"].endswith("intra_lp") and start["args"]["linear_path"]
    assert recs[-1]["event"] == "done"


def test_bad_config_is_a_typed_error(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[arch]\nm = 3\n[schedule]\nbatch = 2\n")
    r = cli("model", "train", "--config", bad, "--out", tmp_path / "run")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "arch.m" in r.stderr and "steps or minutes" in r.stderr
    bad.write_text("this is = = not toml")
    r = cli("model", "train", "--config", bad, "--out", tmp_path / "run")
    assert r.returncode == 2 and "not valid TOML" in r.stderr and "Traceback" not in r.stderr
    r = cli("model", "train", "--config", tmp_path / "nope.toml", "--out", tmp_path / "run")
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_missing_data_is_a_typed_error(tmp_path):
    r = cli("model", "train", "--config", TINY, "--out", tmp_path / "run",
            "--data", tmp_path / "no_such_folder")
    assert r.returncode == 2 and "not a folder" in r.stderr and "Traceback" not in r.stderr


def test_bad_packages_are_typed_errors(tiny, tmp_path):
    r = cli("model", "verify", tmp_path / "absent")
    assert r.returncode == 5 and "Traceback" not in r.stderr
    tampered = tmp_path / "tampered"
    shutil.copytree(tiny / "pkg", tampered)
    f = next(tampered.rglob("*.tflite"))
    f.write_bytes(f.read_bytes()[:-1] + bytes([f.read_bytes()[-1] ^ 1]))
    r = cli("model", "verify", tampered)
    assert r.returncode == 5 and "hash" in r.stderr and "Traceback" not in r.stderr
    half = tmp_path / "half"
    shutil.copytree(tiny / "pkg", half)
    next((half / "networks").glob("*.npz")).unlink()
    r = cli("model", "verify", half)
    assert r.returncode == 5 and "missing" in r.stderr and "Traceback" not in r.stderr
    (half / "manifest.json").write_text('{"model_id": "x"')        # cut off mid-write
    r = cli("model", "verify", half)
    assert r.returncode == 5 and "Traceback" not in r.stderr
    r = cli("model", "convert", tmp_path, "-o", tmp_path / "out")
    assert r.returncode == 2 and "no ckpt" in r.stderr


def test_coreml_programs_are_verified(tiny, tmp_path):
    """convert --coreml saves the Core ML programs; verify runs them through the MIL executor."""
    pytest.importorskip("coremltools")
    from mlvc import model
    model.convert(tiny / "run", tmp_path / "pkg", coreml=True, coreml_size=(128, 64))
    rep = model.verify(tmp_path / "pkg")
    cm = [n for n in rep["networks"] if n["backend"] == "coreml-mil"]
    assert {n["name"] for n in cm} == {"g_a", "h_a", "h_s", "g_s"}
    assert rep["exact"] and all(n["differing"] == 0 for n in cm)
