"""Rate-distortion of the bundled intra codec against OpenCV JPEG, on held-out pictures.

    python benchmarks/bench_rd.py --clip bikes.mp4:200:250:5 --clip carphone.mp4:100:120:2 \
        [--coffee] [--refine N] [--json out.json] [--x26x-json rd_x26x.json]

Merges its sets into docs/results.json (--results PATH elsewhere, --no-results not at all); the
README's numbers are rendered from that file by tools/render_readme.py.

CLIP:FIRST:END:STEP picks frames (held out from training: bikes 200-249, carphone 100-119).
Rates are real stream bytes (the whole record, header included) per pixel; PSNR is on RGB over
all pictures (MSE pooled).  BD-rate uses the Bjontegaard method (log-rate against PSNR
averaged over the overlapping PSNR range), with piecewise-cubic (pchip, the default) and with
polynomial interpolation (mlvc.bench.rd.bd_rate).  --refine N adds the curve of the encoder
with N latent-refinement iterations (EncoderOptions.refine; the same decoder) and its BD-rates
against JPEG and against the default encoder.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "sdk"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import results_file  # noqa: E402  (benchmarks/results_file.py)

from mlvc.bench.rd import curve_bd_rate  # noqa: E402


def load_pictures(spec: str) -> list[np.ndarray]:
    from mlvc.io.video import read_capture
    path, first, end, step = spec.split(":")
    frames = list(read_capture(path, int(end)))
    return frames[int(first):int(end):int(step)]


def psnr(mse: float) -> float:
    return 10 * np.log10(255.0 ** 2 / max(mse, 1e-12))


def load_folder(folder: str) -> list[np.ndarray]:
    """Every picture of a folder (sorted by name), RGB."""
    import cv2
    out = []
    for f in sorted(Path(folder).iterdir()):
        a = cv2.imread(str(f), cv2.IMREAD_COLOR)
        if a is not None:
            out.append(cv2.cvtColor(a, cv2.COLOR_BGR2RGB))
    if not out:
        raise SystemExit(f"no pictures in {folder}")
    return out


def mlvc_measure(pictures, backend=None, refine=0, package=None) -> list[tuple]:
    """[(quality, [(stream bytes, squared error) per picture])]: one stream per picture."""
    import mlvc
    out = []
    for q in mlvc.Encoder(backend=backend, package=package).package.levels:
        enc = mlvc.Encoder(quality=q, backend=backend, refine=refine, package=package)
        per = []
        for p in pictures:                      # one stream per picture: sizes may differ
            stream = enc.encode([p])
            f = mlvc.Decoder(stream, backend=backend, package=package).decode_all()[0]
            # the file header is per file, not per picture
            per.append((len(stream) - 64, float(np.sum((f.rgb.astype(np.float64) - p) ** 2))))
        out.append((q, per))
    return out


def jpeg_measure(pictures, qualities=(10, 20, 30, 45, 60, 75, 85, 92, 96)) -> list[tuple]:
    """[(quality, [(JPEG bytes, squared error) per picture])] with OpenCV's encoder."""
    import cv2
    out = []
    for q in qualities:
        per = []
        for p in pictures:
            ok, buf = cv2.imencode(".jpg", cv2.cvtColor(p, cv2.COLOR_RGB2BGR),
                                   [cv2.IMWRITE_JPEG_QUALITY, q])
            dec = cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
            per.append((len(buf), float(np.sum((dec.astype(np.float64) - p) ** 2))))
        out.append((q, per))
    return out


def curve(measure, pictures, which=None) -> list[dict]:
    """RD points of a measurement pooled over the pictures `which` (indices; None: all)."""
    which = range(len(pictures)) if which is None else which
    pixels = sum(pictures[i].shape[0] * pictures[i].shape[1] for i in which)
    pts = []
    for q, per in measure:
        nbytes = sum(per[i][0] for i in which)
        se = sum(per[i][1] for i in which)
        pts.append({"quality": q, "bpp": 8 * nbytes / pixels, "psnr": psnr(se / (3 * pixels))})
    return pts


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clip", action="append", default=[])
    ap.add_argument("--coffee", action="store_true", help="add scikit-image's coffee (held out)")
    ap.add_argument("--photos", action="append", default=[], metavar="DIR",
                    help="a folder of held-out pictures (e.g. training/fetch_data.py eval DIR)")
    ap.add_argument("--package", default=None, help="model package directory (default: bundled)")
    ap.add_argument("--backend", default=None)
    ap.add_argument("--json", default=None)
    ap.add_argument("--refine", type=int, default=0, metavar="N",
                    help="also measure the encoder with N refinement iterations")
    ap.add_argument("--results", default=str(results_file.DEFAULT),
                    help="results file to merge the sets into (docs/results.json, section "
                         "intra_rd; the README is rendered from it by tools/render_readme.py)")
    ap.add_argument("--no-results", action="store_true", help="do not write the results file")
    ap.add_argument("--per-picture", action="store_true",
                    help="also the BD-rate of every picture on its own (mean, min, max)")
    ap.add_argument("--x26x-json", action="append", default=[], metavar="FILE",
                    help="also merge the JSON of `mlvc bench rd ... --json FILE` (video RD "
                         "against x264/x265) into the results file's video_rd section")
    a = ap.parse_args()
    if a.x26x_json and not a.no_results:
        merge_x26x(a.results, a.x26x_json, a.backend)
    sets = {Path(c.split(":")[0]).stem: load_pictures(c) for c in a.clip}
    if a.coffee:
        from skimage import data
        sets["coffee"] = [data.coffee()]
    for folder in a.photos:
        sets[Path(folder).name] = load_folder(folder)
    report = {}
    for name, pics in sets.items():
        m_ours, m_jpeg = mlvc_measure(pics, a.backend, package=a.package), jpeg_measure(pics)
        ours, jpeg = curve(m_ours, pics), curve(m_jpeg, pics)
        # compare only where JPEG's curve overlaps ours
        bd = curve_bd_rate(jpeg, ours, "psnr")
        bd_poly = curve_bd_rate(jpeg, ours, "psnr", "poly")
        report[name] = {"pictures": len(pics), "size": f"{pics[0].shape[1]}x{pics[0].shape[0]}",
                        "mlvc": ours, "jpeg": jpeg, "bd_rate_vs_jpeg_percent": bd,
                        "bd_rate_vs_jpeg_percent_poly": bd_poly}
        print(f"{name} ({len(pics)} pictures, {pics[0].shape[1]}x{pics[0].shape[0]}):")
        for p in ours:
            print(f"  mlvc q{p['quality']}: {p['bpp']:.3f} bpp  {p['psnr']:.2f} dB")
        print("  jpeg: " + ", ".join(f"{p['bpp']:.2f}/{p['psnr']:.1f}" for p in jpeg))
        print(f"  BD-rate vs OpenCV JPEG: {bd:+.1f}% (pchip), {bd_poly:+.1f}% (polynomial fit)")
        if a.per_picture and len(pics) > 1:
            each = [curve_bd_rate(curve(m_jpeg, pics, [i]), curve(m_ours, pics, [i]), "psnr")
                    for i in range(len(pics))]
            each = [v for v in each if v == v]          # NaN: the curves do not overlap
            report[name]["bd_rate_vs_jpeg_per_picture_percent"] = {
                "mean": float(np.mean(each)), "min": float(np.min(each)),
                "max": float(np.max(each)), "pictures": len(each)}
            print(f"  per picture: mean {np.mean(each):+.1f}%, {np.min(each):+.1f}% .. "
                  f"{np.max(each):+.1f}% ({len(each)} pictures)")
        if a.refine:
            ref = curve(mlvc_measure(pics, a.backend, a.refine, package=a.package), pics)
            r = report[name]
            r["refine_iterations"] = a.refine
            r["mlvc_refined"] = ref
            r["refined_bd_rate_vs_jpeg_percent"] = curve_bd_rate(jpeg, ref, "psnr")
            r["refined_bd_rate_vs_jpeg_percent_poly"] = curve_bd_rate(jpeg, ref, "psnr", "poly")
            r["refined_bd_rate_vs_default_percent"] = curve_bd_rate(ours, ref, "psnr")
            for p in ref:
                print(f"  mlvc q{p['quality']} --refine {a.refine}: {p['bpp']:.3f} bpp  "
                      f"{p['psnr']:.2f} dB")
            print(f"  refined BD-rate vs JPEG: {r['refined_bd_rate_vs_jpeg_percent']:+.1f}% "
                  f"(pchip), {r['refined_bd_rate_vs_jpeg_percent_poly']:+.1f}% (polynomial); "
                  f"vs the default encoder {r['refined_bd_rate_vs_default_percent']:+.1f}%")
        if a.json:
            Path(a.json).write_text(json.dumps(report, indent=1))
    if a.json:
        Path(a.json).write_text(json.dumps(report, indent=1))
    if report and not a.no_results:
        merge_intra(a.results, report, a.backend, a.package)


def _provenance(backend, package=None) -> dict:
    import mlvc
    pkg = mlvc.Encoder(backend=backend, package=package).package
    return {"model_id": pkg.model_id, "date": results_file.today(),
            "machine": results_file.machine()}


def merge_intra(path, report: dict, backend=None, package=None) -> None:
    """Each picture set of this run replaces its entry in the results file's intra_rd section
    (sets not measured now stay as they were)."""
    prov = _provenance(backend, package)
    results_file.merge_section(path, "intra_rd", {k: {**v, **prov} for k, v in report.items()},
                               description="benchmarks/bench_rd.py: intra RD against OpenCV "
                               "JPEG on held-out pictures (RGB PSNR, real stream bytes); "
                               "BD-rate pchip, polynomial fit as *_poly")
    print(f"results: {path} [intra_rd] {', '.join(report)}")


def merge_x26x(path, files: list[str], backend=None) -> None:
    """`mlvc bench rd` JSON (a list of clips) into the results file's video_rd section."""
    prov = _provenance(backend)
    items = {}
    for f in files:
        for clip in json.loads(Path(f).read_text()):
            items[Path(clip["clip"]).stem] = {**clip, **prov}
    results_file.merge_section(path, "video_rd", items,
                               description="mlvc bench rd (sdk/mlvc/bench/rd.py), merged by "
                               "benchmarks/bench_rd.py --x26x-json: video RD against x264/x265 "
                               "medium, no B-frames, PSNR-YUV; BD-rate pchip")
    print(f"results: {path} [video_rd] {', '.join(items)}")


if __name__ == "__main__":
    main()
