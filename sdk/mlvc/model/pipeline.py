"""train / convert / verify: a codec from a config to a checked package.

TensorFlow is needed only by train and convert, which run the `mlvc_train` tools (the `train`
extra) in a child process; nothing here imports it.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from pydantic import ValidationError

from ..errors import InvalidArgumentError, ModelError, UnsupportedError
from .config import VIDEO_SUFFIXES, Config, ConfigError, load_config

CONFIG_NAME = "config.json"


def _repo_root() -> Path:
    return Path(__file__).resolve().parents[3]


def _resolve_init(src: str) -> Path:
    """A run directory to start from: a run (ckpt/), "bundled", or the bundled package."""
    from ..package.loader import bundled_package_path
    p = Path(src)
    bundled_run = _repo_root() / "training" / "intra_lp"
    if src == "bundled" or (p.is_dir() and p.resolve() == bundled_package_path().resolve()):
        if not (bundled_run / "ckpt").is_dir():
            raise ModelError("the bundled model's training checkpoint (training/intra_lp) is "
                             "only in a source checkout of mlvc")
        return bundled_run
    if (p / "ckpt").is_dir():
        return p
    if (p / "manifest.json").is_file():
        raise ModelError(f"{p} is a package (integer networks only); fine-tuning starts from "
                         "the training run it was converted from")
    raise InvalidArgumentError(f"--init {src}: neither a run directory (with ckpt/) nor a package")


def _trainer_args(cfg: Config, out: Path, resume: bool) -> list[str]:
    s, a, d = cfg.schedule, cfg.arch, cfg.data
    args = ["--out", str(out), "--seed", str(cfg.seed), "--batch", str(s.batch),
            "--crop", str(d.crop), "--lr", str(s.lr), "--lr-min", str(s.lr_min),
            "--warmup", str(s.warmup), "--float-frac", str(s.float_frac),
            "--freeze-frac", str(s.freeze_frac), "--ckpt-minutes", str(s.ckpt_minutes),
            "--log-every", str(s.log_every), "--threads", str(s.threads),
            "--klt-batches", str(s.klt_batches),
            "--minutes", str(s.minutes if s.minutes is not None else 1e7)]
    if s.steps is not None:
        args += ["--steps", str(s.steps)]
    if s.lambdas:
        args += ["--lambdas", ",".join(str(v) for v in s.lambdas)]
    if s.xla:
        args.append("--xla")
    if s.fp32:
        args.append("--fp32")
    if str(s.devices) != "auto":
        args += ["--devices", str(s.devices)]
    if s.mixed_precision is not None:
        args += ["--mixed-precision", "on" if s.mixed_precision else "off"]
    if d.images:
        args += ["--images", d.images]
    if d.video_dir:
        args += ["--video-dir", d.video_dir, "--frames-per-video", str(d.frames_per_video)]
    if d.images or d.video_dir:
        args += ["--heldout", str(d.heldout)]
    if resume:
        return args + ["--resume"]
    if cfg.init.source:
        args += ["--init", str(_resolve_init(cfg.init.source))]
        if cfg.init.revive_hyperprior:
            args.append("--revive-hyperprior")
    else:
        args += ["--ga-width", str(a.ga_width), "--m", str(a.m)]
        if a.linear_path:
            args.append("--linear-path")
    return args


def _check_data(cfg: Config) -> None:
    d = cfg.data
    if d.images and d.images != "skimage":
        p = Path(d.images)
        exts = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".ppm")
        if not p.is_dir():
            raise InvalidArgumentError(f"data.images: {p} is not a folder")
        n = sum(1 for f in p.iterdir() if f.suffix.lower() in exts)
        if n <= d.heldout:
            raise InvalidArgumentError(f"data.images: {p} has {n} pictures, needs more than "
                                       f"data.heldout = {d.heldout}")
    if d.video_dir:
        p = Path(d.video_dir)
        if not p.is_dir():
            raise InvalidArgumentError(f"data.video_dir: {p} is not a folder")
        n = sum(1 for f in p.iterdir() if f.suffix.lower() in VIDEO_SUFFIXES)
        if n <= d.heldout:
            raise InvalidArgumentError(f"data.video_dir: {p} has {n} videos "
                                       f"({' '.join(VIDEO_SUFFIXES)}), needs more than "
                                       f"data.heldout = {d.heldout}")
    if not d.images and not d.video_dir:
        v = Path(d.videos or os.environ.get("MLVC_DATA", ""))
        if not d.videos and not os.environ.get("MLVC_DATA"):
            raise InvalidArgumentError("no training data: set data.images, data.video_dir, "
                                       "data.videos, --data DIR or MLVC_DATA")
        for clip in ("bikes.mp4", "carphone_pristine.mp4"):
            if not (v / clip).is_file():
                raise InvalidArgumentError(f"data.videos: {v} has no {clip}")


def _progress(line: str, out) -> None:
    try:
        r = json.loads(line)
    except ValueError:
        print(line, file=out, flush=True)
        return
    if "steps_per_s" in r and "step" in r and "event" not in r:
        lv = [f"L{k[1]} {v['psnr']:.2f} dB {v['bpp']:.3f} bpp" for k, v in sorted(r.items())
              if k.startswith("L") and isinstance(v, dict)]
        print(f"step {r['step']:>7}  {r['steps_per_s']:6.2f} steps/s  lr {r['lr']:.2e}  "
              + "  ".join(lv), file=out, flush=True)
    elif r.get("event") in ("start", "eval", "done", "plan", "freeze", "klt_init",
                            "calib_init"):
        keep = {k: r[k] for k in ("event", "step", "tag", "steps_per_s", "total_steps",
                                  "elapsed", "heldout_qat", "heldout_float") if k in r}
        print(json.dumps(keep), file=out, flush=True)


def train(config: str | Path | Config, out: str | Path, *, resume: bool = False,
          init: str | None = None, data: str | None = None, video_dir: str | None = None,
          devices: str | int | None = None, stream=None, stop_at: int | None = None) -> Path:
    """Train (or fine-tune, `init`) the codec of `config` into run directory `out`; returns it.
    The run's JSON-lines log is OUT/train.log; progress lines go to `stream` (stderr).
    `data` / `video_dir` override data.images / data.video_dir, `devices` schedule.devices
    ("auto", "cpu", N GPUs, "cpu:N" logical CPU devices; also on `resume`).
    `stop_at`: save and stop at this step as an interrupted run would (`resume` continues it).
    """
    stream = stream or sys.stderr
    out = Path(out)
    if resume:
        saved = out / CONFIG_NAME
        if not saved.is_file():
            raise InvalidArgumentError(f"--resume: {out} is not a run directory "
                                       f"(no {CONFIG_NAME})")
        cfg = Config.model_validate_json(saved.read_text())
    else:
        cfg = config if isinstance(config, Config) else load_config(config)
        if init:
            cfg.init.source = init
        if data:
            cfg.data.images = str(Path(data).resolve()) if data != "skimage" else data
        if video_dir:
            cfg.data.video_dir = str(Path(video_dir).resolve())
    if devices is not None:
        try:
            cfg = Config.model_validate({**cfg.model_dump(), "schedule": {
                **cfg.schedule.model_dump(), "devices": devices}})
        except ValidationError as exc:
            raise ConfigError(f"--devices {devices}: "
                              + "; ".join(e["msg"] for e in exc.errors())) from None
    _check_data(cfg)
    args = _trainer_args(cfg, out, resume)
    if stop_at is not None:
        args += ["--stop-at", str(stop_at)]
    try:
        import mlvc_train  # noqa: F401
    except ImportError:
        raise UnsupportedError("training needs the train extra: pip install 'mlvc[train]'") \
            from None
    out.mkdir(parents=True, exist_ok=True)
    if not resume:
        (out / CONFIG_NAME).write_text(cfg.model_dump_json(indent=1) + "\n")
    env = dict(os.environ)
    if cfg.data.videos:
        env["MLVC_DATA"] = cfg.data.videos
    if cfg.data.photos:
        env["MLVC_PHOTOS"] = cfg.data.photos
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    proc = subprocess.Popen([sys.executable, "-u", "-m", "mlvc_train.train_intra", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    tail = []
    for line in proc.stdout:
        line = line.rstrip("\n")
        tail = (tail + [line])[-20:]
        if line.startswith("{"):
            _progress(line, stream)
    if proc.wait() != 0:
        raise ModelError(f"training failed (status {proc.returncode}):\n" + "\n".join(tail))
    return out


def convert(run: str | Path, out: str | Path, *, coreml: bool = False,
            coreml_size: tuple[int, int] = (1280, 720),
            residual: str | Path | None = None, model_id: str | None = None,
            fit_z_tables: str | Path | None = None, description: str | None = None) -> dict:
    """Integer export of run directory `run` (its latest checkpoint) into package `out`:
    networks (IR + TFLite), frozen CDF tables, manifest with file hashes; `coreml` adds the
    Core ML programs.  Returns {"model_id", "content_hash", "seconds"}."""
    t0 = time.time()
    run, out = Path(run), Path(out)
    if not (run / "ckpt").is_dir():
        raise InvalidArgumentError(f"{run} is not a training run (no ckpt/)")
    cfg_path = run / CONFIG_NAME
    cfg = Config.model_validate_json(cfg_path.read_text()) if cfg_path.is_file() else None
    model_id = model_id or (cfg.package.model_id if cfg else "mlvc-custom-v1")
    desc = description or (cfg.package.description if cfg else "MLVC codec")
    fit = fit_z_tables or (cfg.package.fit_z_tables if cfg else None)
    try:
        from mlvc_convert.package_builder import build_package, load_export
    except ImportError:
        raise UnsupportedError("conversion needs the train extra: pip install 'mlvc[train]'") \
            from None
    work = out.parent / (out.name + ".export.tmp")
    shutil.rmtree(work, ignore_errors=True)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    for src, dst in [(run, work / "intra")] + ([(Path(residual), work / "res")] if residual
                                               else []):
        extra = ["--fit-z-tables", str(fit)] if fit and dst.name == "intra" else []
        r = subprocess.run([sys.executable, "-m", "mlvc_train.export_intra", "--ckpt", str(src),
                            "--out", str(dst), *extra], capture_output=True, text=True, env=env)
        if r.returncode != 0:
            raise ModelError(f"export of {src} failed:\n{r.stdout[-2000:]}{r.stderr[-2000:]}")
    graphs, codec = load_export(work / "intra")
    res = load_export(work / "res") if residual else None
    # written next to `out` and renamed at the end: a half-written package never has `out`'s name
    tmp = out.parent / (out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    m = build_package(graphs, codec, tmp, model_id, desc, residual=res)
    if coreml:
        from ..cli import main as cli_main
        if cli_main(["export", str(tmp), "--format", "coreml", "-o", str(tmp / "coreml"),
                     "--width", str(coreml_size[0]), "--height", str(coreml_size[1])]):
            raise ModelError("Core ML export failed")
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    shutil.rmtree(work, ignore_errors=True)
    return {"model_id": m.model_id, "content_hash": m.content_hash,
            "seconds": round(time.time() - t0, 1)}


def _network_feeds(role: str, graph, rng) -> dict:
    # picture-domain networks get a picture of 64x64, the others a 4x4 latent
    base = role.removeprefix("res_")
    side = {"g_a": 64, "h_a": 4, "h_s": 2, "g_s": 4}.get(base, 4)
    return {n: rng.integers(-128, 128, size=(1, side, side, graph.channels[n])).astype(np.int8)
            for n in graph.inputs}


def verify(package: str | Path, *, images: str | Path | None = None,
           run: str | Path | None = None) -> dict:
    """Every network of `package` against the NumPy reference on every installed exact-class
    backend (differing elements), the Core ML programs through the MIL executor when saved, and
    RD on `images` (or a generated picture) against OpenCV JPEG.  {"exact", "networks", "rd"}.
    `run`: the training run the package was converted from; rd["tax"] is then the determinism
    tax, the BD-rate of the integer networks against the run's float twin on the same pictures
    (needs TensorFlow and mlvc_train, the train extra); without it rd["tax"] is None."""
    from ..backends.registry import SPECS
    from ..package.loader import ModelPackage
    t0 = time.time()
    pkg = ModelPackage.load(package)          # ModelError: missing, tampered, half written
    pics = _pictures(images)
    if run is not None:
        _check_run(run)                       # before the slow part: a bad --run fails at once
    rng = np.random.default_rng(0)
    nets, exact = [], True
    backends = [s for s in SPECS.values() if s.name != "numpy" and not s.approximate_by_design
                and s.available()]
    for role, g in pkg.graphs.items():
        feeds = _network_feeds(role, g, rng)
        ref = SPECS["numpy"].load(g).run(feeds)
        for spec in backends:
            got = spec.load(g, pkg.tflite[role]).run(feeds)
            diff = int(sum(np.count_nonzero(np.asarray(got[k]) != np.asarray(ref[k]))
                           for k in ref))
            nets.append({"name": role, "backend": spec.name, "differing": diff,
                         "elements": int(sum(np.asarray(v).size for v in ref.values()))})
            exact &= diff == 0
    nets_cm, exact_cm = _verify_coreml(pkg, Path(package), rng)
    nets += nets_cm
    exact &= exact_cm
    rd = _rd(pkg, Path(package), pics)
    if run is not None:
        t1 = time.time()
        rd["tax"] = _tax(pkg, Path(run), pics)
        rd["tax"]["seconds"] = round(time.time() - t1, 1)
    return {"model_id": pkg.model_id, "content_hash": pkg.manifest.content_hash,
            "exact": bool(exact), "networks": nets, "rd": rd,
            "seconds": round(time.time() - t0, 1)}


def _verify_coreml(pkg, path: Path, rng):
    """The saved Core ML programs (PKG/coreml, from convert --coreml) through the MIL executor
    (mlvc_convert.coreml_exec, exactness-checked fp32) against the NumPy reference."""
    index = path / "coreml" / "index.json"
    if not index.is_file():
        return [], True
    try:
        from mlvc_convert.coreml_exec import run_saved
    except ImportError:
        return [], True            # coremltools absent: the programs are not checked here
    meta = json.loads(index.read_text())
    if meta.get("content_hash") != pkg.manifest.content_hash:
        raise ModelError(f"{path}/coreml was exported from another package "
                         f"({meta.get('content_hash', '?')[:16]})")
    out, exact = [], True
    from ..backends.registry import SPECS
    for role, e in meta["networks"].items():
        g = pkg.graphs[role]
        h, w = e["input_hw"]
        feeds = {n: rng.integers(-128, 128, size=(1, h, w, g.channels[n])).astype(np.int8)
                 for n in g.inputs}
        ref = SPECS["numpy"].load(g).run(feeds)
        got = run_saved(path / "coreml" / e["file"], feeds)
        diff = int(sum(np.count_nonzero(got[k] != ref[k]) for k in ref))
        out.append({"name": role, "backend": "coreml-mil", "differing": diff,
                    "elements": int(sum(v.size for v in ref.values()))})
        exact &= diff == 0
    return out, exact


def _pictures(images):
    if images is None:
        y, x = np.mgrid[0:96, 0:128]
        pic = np.stack([(x * 2) % 256, (y * 3) % 256, ((x + y) * 5) % 256], -1)
        return [("generated", pic.astype(np.uint8))]
    import cv2
    p = Path(images)
    if not p.is_dir():
        raise InvalidArgumentError(f"--images: {p} is not a folder")
    out = []
    for f in sorted(p.iterdir()):
        a = cv2.imread(str(f), cv2.IMREAD_COLOR)
        if a is not None:
            out.append((f.name, cv2.cvtColor(a, cv2.COLOR_BGR2RGB)))
    if not out:
        raise InvalidArgumentError(f"--images: no pictures in {p}")
    return out


def _check_run(run) -> Path:
    run = Path(run)
    if not run.is_dir():
        raise InvalidArgumentError(f"--run: {run} is not a folder")
    ck = run / "ckpt"
    if not ck.is_dir() or not any(f.name.endswith(".index") for f in ck.iterdir()):
        raise InvalidArgumentError(f"--run: {run} is not a training run (no checkpoint in "
                                   f"{ck})")
    return run


def _tax(pkg, run: Path, pics) -> dict:
    """The determinism tax of package `pkg` against the float twin of run `run` (its latest
    checkpoint evaluated in TensorFlow without fake quantisation) on `pics`, at every level:
    mlvc_train.export_intra.determinism_tax(), the code of `export_intra --check`, with the
    package's own integer networks and z tables on the NumPy reference executor.  Both curves
    are rated by the same entropy estimate, so the number is the cost of the integer profile
    alone (no container or arithmetic-coder overhead; rd["mlvc"] has the coded rates)."""
    run = _check_run(run)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        from mlvc_train import export_intra, intra_model as im
    except ImportError as exc:
        raise UnsupportedError("the determinism tax (--run) needs TensorFlow and mlvc_train: "
                               f"pip install 'mlvc[train]' ({exc})") from None
    try:
        model, ckpt, _ = export_intra.load_model(str(run))
        own = export_intra.build_graphs(model)
    except Exception as exc:            # a checkpoint of another architecture, a broken file
        raise ModelError(f"--run {run}: cannot restore its checkpoint as an intra codec "
                         f"({type(exc).__name__}: {str(exc).splitlines()[0][:200]})") from None
    intra = ("g_a", "h_a", "h_s", "g_s")
    other = [r for r in intra if own[r].to_bytes() != pkg.graphs[r].to_bytes()]
    if other:
        raise ModelError(f"--run {run}: the package's networks are not its latest checkpoint's "
                         f"({Path(ckpt).name}: {', '.join(other)} differ); pass the run the "
                         "package was converted from")
    exps = {lv.level: lv.exp for lv in pkg.manifest.levels}
    if any(exps.get(L) != e for L, e in zip((1, 2, 3, 4), im.LEVEL_EXPS)):
        raise ModelError(f"{pkg.root}: levels {exps} are not the trainer's {im.LEVEL_EXPS}")
    items = [(f"pic{i}", pic) for i, (_, pic) in enumerate(pics)]
    tax, _, exact = export_intra.determinism_tax(model, {r: pkg.graphs[r] for r in intra}, items,
                                                 levels=tuple(pkg.levels),
                                                 z_tables=pkg.manifest.z_table_index)
    tax["checkpoint"] = Path(ckpt).name
    tax["qat_vs_integer_differing"] = int(sum(v["differing"] for v in exact.values()))
    return tax


def _rd(pkg, path: Path, pics) -> dict:
    from ..api import Decoder, Encoder
    rows = []
    for level in pkg.levels:
        bits = px = 0
        se = 0.0
        for _, pic in pics:
            data = Encoder(package=str(path), quality=level, backend="numpy", gop=1).encode([pic])
            out = Decoder(data, package=str(path), backend="numpy").decode_all()[0]
            if not out.verified:
                raise ModelError(f"{path}: decoded picture fails its hash")
            rec = out.rgb
            bits += 8 * len(data)
            px += pic.shape[0] * pic.shape[1]
            se += float(np.sum((rec.astype(np.float64) - pic) ** 2))
        rows.append({"level": level, "bpp": round(bits / px, 4),
                     "psnr": round(10 * np.log10(255.0 ** 2 / (se / (px * 3))), 3)})
    jpeg = []
    try:
        import cv2
        for q in (30, 50, 70, 90):
            bits = px = 0
            se = 0.0
            for _, pic in pics:
                ok, buf = cv2.imencode(".jpg", cv2.cvtColor(pic, cv2.COLOR_RGB2BGR),
                                       [cv2.IMWRITE_JPEG_QUALITY, q])
                rec = cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
                bits += 8 * len(buf)
                px += pic.shape[0] * pic.shape[1]
                se += float(np.sum((rec.astype(np.float64) - pic) ** 2))
            jpeg.append({"quality": q, "bpp": round(bits / px, 4),
                         "psnr": round(10 * np.log10(255.0 ** 2 / (se / (px * 3))), 3)})
    except ImportError:
        jpeg = None
    return {"pictures": len(pics), "mlvc": rows, "jpeg": jpeg,
            "tax": None}   # the determinism tax: verify(run=...) measures it
