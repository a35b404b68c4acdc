"""`mlvc` command line: encode, decode, info, selftest, conformance, demo, export.

Every failure the SDK anticipates prints one line `mlvc: error (<kind>): <message>` to stderr
and exits with the error kind's status; no tracebacks for bad input.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from .errors import InvalidArgumentError, MLVCError
from .io.output import AtomicFile, check_output


class _Progress:
    """A one-line progress report on stderr for long work (silent when not a terminal)."""

    def __init__(self, total: int | None, label: str, enabled: bool):
        self.total, self.label, self.enabled = total, label, enabled
        self.t0 = time.perf_counter()
        self.bytes = 0

    def __call__(self, done: int, nbytes: int = 0) -> None:
        self.bytes += nbytes
        if not self.enabled:
            return
        rate = done / max(time.perf_counter() - self.t0, 1e-9)
        of = f"/{self.total}" if self.total else ""
        bar = ""
        if self.total:
            k = int(30 * done / self.total)
            bar = "[" + "#" * k + "." * (30 - k) + "] "
        sys.stderr.write(f"\r{self.label} {bar}{done}{of} frames, {rate:.1f} fps")
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")


class _QuietNativeLog:
    """Drops the runtimes' informational lines from file descriptor 2 (LiteRT's C++ runtime
    prints "INFO: Created TensorFlow Lite XNNPACK delegate for CPU." once per process, to fd 2,
    and offers no switch: TF_CPP_MIN_LOG_LEVEL does not reach it).  fd 2 becomes a pipe that a
    thread copies to the real stderr, line by line, leaving out those lines; everything else
    (Python's own messages, progress, other native output) passes unchanged and in order.
    `mlvc -v` keeps fd 2 as it is."""

    NOISE = (b"INFO: Created TensorFlow Lite XNNPACK delegate",
             b"INFO: Initialized TensorFlow Lite runtime")

    def __enter__(self):
        import os
        import threading
        self._os = os
        try:
            sys.stderr.flush()
            self._saved = os.dup(2)
        except (OSError, ValueError):
            self._saved = None
            return self
        r, w = os.pipe()
        os.dup2(w, 2)
        os.close(w)
        self._thread = threading.Thread(target=self._copy, args=(r,), daemon=True)
        self._thread.start()
        import faulthandler
        if faulthandler.is_enabled():     # a crash report must not wait for the thread
            faulthandler.enable(file=self._saved)
        return self

    def _is_noise(self, line: bytes) -> bool:
        return line.lstrip(b"\r").startswith(self.NOISE)

    def _maybe_noise(self, part: bytes) -> bool:
        part = part.lstrip(b"\r")
        return any(n.startswith(part) or part.startswith(n) for n in self.NOISE)

    def _copy(self, r: int) -> None:
        os, out, pending = self._os, self._saved, b""
        try:
            while True:
                chunk = os.read(r, 65536)
                if not chunk:
                    break
                pending += chunk
                *lines, pending = pending.split(b"\n")
                keep = b"".join(x + b"\n" for x in lines if not self._is_noise(x))
                if pending and not self._maybe_noise(pending):
                    keep, pending = keep + pending, b""     # a progress line: show it now
                if keep:
                    os.write(out, keep)
            if pending and not self._is_noise(pending):
                os.write(out, pending)
        except OSError:
            pass
        finally:
            os.close(r)

    def __exit__(self, *exc) -> bool:
        if self._saved is None:
            return False
        try:
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        self._os.dup2(self._saved, 2)        # closes the pipe's write end: the thread ends
        self._thread.join(timeout=5)
        import faulthandler
        if faulthandler.is_enabled():
            faulthandler.enable(file=2)
        self._os.close(self._saved)
        return False


class _StopOnSignal:
    """Ctrl-C or SIGTERM during `encode` ends the input after the frame in flight, so the stream
    is closed properly (its frame count patched): how a live camera capture is meant to stop,
    and no half-written file for a video.  A second Ctrl-C interrupts at once."""

    def __init__(self, frames):
        self.frames = frames
        self.stopped = False
        self._saved = {}

    def __iter__(self):
        it = iter(self.frames)
        while not self.stopped:
            try:
                frame = next(it)
            except StopIteration:
                return
            yield frame

    def _handle(self, signum, _frame):
        if self.stopped:
            raise KeyboardInterrupt
        self.stopped = True

    def __enter__(self):
        import signal
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._saved[sig] = signal.signal(sig, self._handle)
            except ValueError:       # not the main thread (mlvc.cli.main called from a thread)
                pass
        return self

    def __exit__(self, *exc):
        import signal
        for sig, handler in self._saved.items():
            signal.signal(sig, handler)
        return False


def cmd_encode(args) -> int:
    from .api import Encoder, EncoderOptions, _options
    from .io.video import open_source
    if args.camera is None and not args.input:
        raise _usage("encode needs INPUT or --camera N")
    if args.frames is not None and args.frames < 1:
        raise _usage(f"--frames {args.frames}: give at least 1 (or leave it out for all)")
    to_pipe = args.output == "-"        # the stream on stdout: the report goes to stderr
    if not to_pipe:
        check_output(args.output)       # before any work: a missing folder, a folder
    frames = open_source(args.input, camera=args.camera, max_frames=args.frames)
    # the stream carries the source's frame rate unless --fps-num/--fps-den override it
    fps_num, fps_den = frames.fps or (30, 1)
    if args.fps_num is not None or args.fps_den is not None:
        fps_num = fps_num if args.fps_num is None else args.fps_num
        fps_den = 1 if args.fps_den is None else args.fps_den
    # _options: an out-of-range option is a typed InvalidArgumentError (exit code), not a trace
    opts = _options(EncoderOptions, dict(
        quality=args.quality, backend=args.backend, package=args.package, fps_num=fps_num,
        fps_den=fps_den, gop=args.gop, inter_rd_levels=args.rd_levels,
        refine=args.refine, intra_level_offset=args.intra_level_offset,
        p_level_cascade=args.p_level_cascade,
        # a live camera gets the camera-speed preset unless --preset says otherwise
        preset=args.preset or ("fast" if args.camera is not None else "medium"),
        inter_tools=args.inter_tools))
    enc = Encoder(opts)
    prog = _Progress(args.frames, "encode", sys.stderr.isatty() and not args.quiet)
    t0 = time.perf_counter()
    # a file is written under a temporary name and renamed when the stream is complete (also
    # when a signal stopped it: that stream is closed properly); any failure removes it
    try:
        with (AtomicFile(args.output) if not to_pipe else
              _CountingWriter(sys.stdout.buffer)) as fh, _StopOnSignal(frames) as source:
            records = enc.encode_frames(source, fh, progress=prog)
            size = fh.tell()
    except MLVCError as exc:
        if not to_pipe:
            exc.args = (f"{exc}; nothing written to {args.output}",)
        raise
    finally:
        prog.close()
    dt = time.perf_counter() - t0
    stopped = " (stopped by signal)" if source.stopped else ""
    print(f"encoded {len(records)} frames{stopped} -> {args.output} ({size} bytes, backend "
          f"{enc.backend.name}, quality {opts.quality}, {len(records) / dt:.2f} fps)",
          file=sys.stderr if to_pipe else sys.stdout)
    # a camera is stopped by a signal; a file that did not reach its end was interrupted
    return 130 if source.stopped and args.camera is None else 0


class _CountingWriter:
    """stdout for a stream: counts the bytes (a pipe has no tell()) and is not seekable, so the
    frame count of a live stream stays 'unknown' in its header."""

    def __init__(self, fh):
        self._fh, self._n = fh, 0

    def write(self, b: bytes) -> int:
        self._n += len(b)
        return self._fh.write(b)

    def tell(self) -> int:
        return self._n

    def seekable(self) -> bool:
        return False

    def flush(self) -> None:
        self._fh.flush()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.flush()


def cmd_decode(args) -> int:
    from .api import Decoder
    from .io.video import FrameSink
    import warnings

    from .backends.registry import ApproximateBackendWarning
    # hash options: a failure on a backend not exact here re-decodes with an exact one (default),
    # --strict stops, --preview keeps the approximate pictures, --no-verify checks nothing
    opts = dict(backend=args.backend, package=args.package, preview=args.preview,
                verify_hashes=False if args.no_verify else "strict" if args.strict else True)
    warnings.simplefilter("ignore", ApproximateBackendWarning)   # reported below, one line each
    if args.output and args.output != "-":      # before any work: a missing folder, a folder
        check_output(args.output, folder=Path(args.output).suffix == "")
    # "-": read the stream from stdin as it arrives (a live capture over a pipe or socket)
    dec = (Decoder(sys.stdin.buffer, **opts) if args.input == "-" else
           Decoder.open(args.input, **opts))
    h = dec.header
    sink = FrameSink(args.output, h.width, h.height, (h.fps_num, h.fps_den)) if args.output \
        else None
    total = None if h.frame_count == 0xFFFFFFFF else h.frame_count
    prog = _Progress(total, "decode", sys.stderr.isatty() and not args.quiet)
    verified = n = 0
    t0 = time.perf_counter()
    try:
        for f in dec.frames():
            n += 1
            verified += f.verified
            if sink:
                sink.write(f.rgb)
            prog(n)
    except MLVCError as exc:
        # A corrupt frame or a hash mismatch mid-stream: the pictures before it are exact, so
        # they are kept (under the output's name) and the message says how many; with none
        # written there is no output file at all.
        prog.close()
        exc.args = (f"{exc}; {_stopped_after(n, sink, args.output)}",)
        raise
    except BaseException:
        prog.close()
        if sink:
            sink.abort()                # interrupted or failed writing: no partial output
        raise
    prog.close()
    if sink:
        sink.close()
    dt = time.perf_counter() - t0
    exact = "exact" if dec.exact else "approximate"
    report = sys.stderr if args.output == "-" else sys.stdout
    for sw in dec.switches:
        at = "at open" if sw["frame"] is None else f"from frame {sw['frame']}"
        print(f"backend switch {at}: {sw['reason']}; decoded with {sw['to']} (exact)",
              file=report)
    print(f"decoded {n} frames ({h.width}x{h.height}) with {dec.backend.name} ({exact}): "
          f"{verified}/{n} picture hashes verified, {n / dt:.2f} fps", file=report)
    return 0 if verified == n or not dec.exact else 6


def _stopped_after(n: int, sink, output: str | None) -> str:
    """Closes or removes the partial output of a decode that stopped at frame n; says which."""
    where = "stdout" if output == "-" else output
    if sink is None:
        return f"decoding stopped after {n} frame{'s' * (n != 1)}"
    if sink.index == 0 and output != "-":
        sink.abort()
        return f"decoding stopped at the first frame: nothing written to {where}"
    try:
        sink.close()
    except MLVCError as exc:
        sink.abort()
        return f"decoding stopped after {n} frames; writing them failed too ({exc}): removed"
    return (f"decoding stopped: {sink.index} frame{'s' * (sink.index != 1)} "
            f"(0-{sink.index - 1}) written to {where} and kept")


def cmd_info(args) -> int:
    from .bitstream.container import UNKNOWN_FRAME_COUNT, StreamHeader, iter_records
    try:
        data = sys.stdin.buffer.read() if args.input == "-" else Path(args.input).read_bytes()
    except OSError as exc:
        from .errors import InvalidArgumentError
        raise InvalidArgumentError(f"cannot read {args.input}: {exc}") from exc
    h = StreamHeader.unpack(data)
    frames = [{"index": i, "type": r.frame_type, "quality": r.quality,
               "bytes": len(r.payload), "hash": r.picture_md5.hex()}
              for i, r in enumerate(iter_records(data, h))]
    info = {"model_id": h.model_id, "model_hash": h.model_hash.hex(), "width": h.width,
            "height": h.height, "fps": f"{h.fps_num}/{h.fps_den}",
            "frame_count": None if h.frame_count == UNKNOWN_FRAME_COUNT else h.frame_count,
            "colour": "RGB 8-bit 4:4:4", "bytes": len(data), "frames": frames}
    if frames:
        info["bits_per_pixel"] = round(8 * sum(f["bytes"] for f in frames)
                                       / (len(frames) * h.width * h.height), 4)
    if args.json:
        print(json.dumps(info, indent=1))
        return 0
    print(f"model {h.model_id} ({h.model_hash.hex()}), {h.width}x{h.height} @ {info['fps']} fps, "
          f"{len(frames)} frames, {len(data)} bytes, {info.get('bits_per_pixel', 0)} bpp")
    for f in frames:
        print(f"  frame {f['index']:5d}  {f['type']}  q{f['quality']}  {f['bytes']:8d} bytes  "
              f"{f['hash']}")
    return 0


def cmd_selftest(args) -> int:
    from .conformance.selftest import format_table, record, run_matrix
    rows = args.rows.split(",") if args.rows else None
    summary = run_matrix(emulated=args.emulated, include_large=not args.quick, rows=rows)
    if args.record:
        path = record(summary)
        print(f"evidence written to {path}", file=sys.stderr)
    print(json.dumps(summary, indent=1) if args.json else format_table(summary))
    return 0 if summary["all_exact"] else 1


def cmd_conformance(args) -> int:
    from .backends.registry import resolve
    from .conformance.vectors import format_results, results_json, run_conformance
    backends = args.backend or [resolve(None).name]
    results = run_conformance(args.vectors, backends, args.package, encode=args.encode)
    print(json.dumps(results_json(results), indent=1) if args.json else format_results(results))
    return 0 if all(r.passed for r in results) else 1


def cmd_demo(args) -> int:
    """The main job: encode and decode the bundled sample, then run the conformance vectors."""
    import io as _io
    from importlib import resources

    from .api import Decoder, Encoder
    from .backends.registry import resolve
    from .conformance.vectors import format_results, run_conformance
    from .io.video import open_source
    sample = Path(str(resources.files("mlvc").joinpath("data", "sample.npz")))
    frames = list(open_source(str(sample)))
    backend = resolve(None)
    print(f"sample: {sample.name}, {len(frames)} frames {frames[0].shape[1]}x"
          f"{frames[0].shape[0]}; default backend: {backend.name} "
          f"({'exact' if backend.exact else 'approximate'})")
    for q in (1, args.quality):
        enc = Encoder(quality=q)
        t0 = time.perf_counter()
        buf = _io.BytesIO()
        enc.encode_frames(frames, buf, frame_count=len(frames))
        t_enc = time.perf_counter() - t0
        stream = buf.getvalue()
        t0 = time.perf_counter()
        decoded = Decoder(stream).decode_all()
        t_dec = time.perf_counter() - t0
        import numpy as np
        mse = np.mean([(f.rgb.astype(float) - x) ** 2 for f, x in zip(decoded, frames)])
        psnr = 10 * np.log10(255 ** 2 / max(mse, 1e-9))
        bpp = 8 * (len(stream) - 64) / (len(frames) * frames[0].shape[0] * frames[0].shape[1])
        ok = sum(f.verified for f in decoded)
        print(f"quality {q}: {len(stream)} bytes, {bpp:.3f} bpp, PSNR-RGB {psnr:.2f} dB, "
              f"{ok}/{len(decoded)} picture hashes verified, encode {len(frames) / t_enc:.1f} "
              f"fps, decode {len(frames) / t_dec:.1f} fps")
        if args.output and q == args.quality:
            Path(args.output).write_bytes(stream)
    results = run_conformance(None, [backend.name])
    print("conformance (bundled vectors):")
    print(format_results(results))
    return 0 if all(r.passed for r in results) else 1


def cmd_bench_rd(args) -> int:
    from .bench.rd import format_results, run
    results = run(args.clips, args.frames, args.gop, args.json, args.plot, args.backend,
                  args.package, args.start, args.refine)
    print(format_results(results))
    return 0


def cmd_backends(args) -> int:
    import warnings

    from .backends.registry import ApproximateBackendWarning, describe, resolve
    warnings.simplefilter("ignore", ApproximateBackendWarning)   # the table says it
    rows = describe(probe=not args.no_probe)
    default = resolve(None).name if not args.no_probe else None
    if args.json:
        print(json.dumps({"default": default, "backends": rows}, indent=1))
        return 0
    for b in rows:
        mark = "*" if b["name"] == default else " "
        print(f"{mark} {b['name']:20} {'exact' if b['exact'] else 'approximate':12} "
              f"{b['verified_by']:7} {'installed' if b['available'] else 'missing':10} "
              f"{b['detail']}")
    return 0


def cmd_export(args) -> int:
    from .package.loader import load_package
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    pkg = load_package(args.package)
    index = {"model_id": pkg.model_id, "content_hash": pkg.manifest.content_hash,
             "format": args.format, "networks": {}}
    if args.format == "tflite":
        for role, data in pkg.tflite.items():
            (out / f"{role}.tflite").write_bytes(data)
            index["networks"][role] = {"file": f"{role}.tflite",
                                       "inputs": pkg.graphs[role].inputs,
                                       "outputs": pkg.graphs[role].outputs}
    else:
        try:
            from mlvc_convert.coreml import export_graph
        except ImportError as exc:
            from .errors import UnsupportedError
            raise UnsupportedError("Core ML export needs the converters and coremltools "
                                   "(pip install 'mlvc[train]')") from exc
        # Core ML programs here have fixed shapes: one set per picture size.
        a = pkg.manifest.alignment
        ph, pw = -(-args.height // a) * a, -(-args.width // a) * a
        grid = {"g_a": 1, "h_a": 16, "g_s": 16, "h_s": 64}
        for role, g in pkg.graphs.items():
            h, w = ph // grid[role.removeprefix("res_")], pw // grid[role.removeprefix("res_")]
            export_graph(g, out / f"{role}.mlpackage", height=h, width=w)
            index["networks"][role] = {"file": f"{role}.mlpackage", "inputs": g.inputs,
                                       "outputs": g.outputs, "input_hw": [h, w],
                                       "layout": "NCHW fp32 holding int8 values"}
        index["picture_size"] = [args.width, args.height]
    (out / "index.json").write_text(json.dumps(index, indent=1) + "\n")
    print(f"exported {len(index['networks'])} networks ({args.format}) to {out}")
    return 0


def cmd_model(args) -> int:
    from . import model
    if args.model_cmd == "train":
        if not args.resume and not args.config:
            raise _usage("mlvc model train: --config CONFIG.toml (or --resume)")
        run = model.train(args.config, args.out, resume=args.resume, init=args.init,
                          data=args.data, video_dir=args.video_dir,
                          devices=(int(args.devices) if (args.devices or "").isdigit()
                                   else args.devices))
        print(f"trained: {run} (log {run / 'train.log'}); next: mlvc model convert {run} -o PKG")
        return 0
    if args.model_cmd == "convert":
        r = model.convert(args.run, args.output, coreml=args.coreml, residual=args.residual,
                          model_id=args.model_id, fit_z_tables=args.fit_z_tables,
                          coreml_size=(args.width, args.height), description=args.description)
        print(f"package {r['model_id']} content_hash {r['content_hash']} in {args.output} "
              f"({r['seconds']} s)")
        return 0
    r = model.verify(args.package, images=args.images, run=args.run)
    if args.json:
        print(json.dumps(r))
    else:
        bad = [n for n in r["networks"] if n["differing"]]
        print(f"{r['model_id']} {r['content_hash'][:16]}: "
              f"{'exact' if r['exact'] else 'NOT EXACT'} "
              f"({len(r['networks'])} network/backend pairs, {len(bad)} differ; {r['seconds']} s)")
        for n in bad:
            print(f"  {n['name']} on {n['backend']}: {n['differing']} of {n['elements']} differ")
        for row in r["rd"]["mlvc"]:
            print(f"  level {row['level']}: {row['bpp']:.3f} bpp {row['psnr']:.2f} dB")
        for row in r["rd"]["jpeg"] or []:
            print(f"  jpeg q{row['quality']}: {row['bpp']:.3f} bpp {row['psnr']:.2f} dB")
        tax = r["rd"]["tax"]
        if tax is None:
            print("  determinism tax: not measured (needs --run RUN_DIR, the training run the "
                  "package was converted from, and TensorFlow)")
        else:
            bd = tax["bd_rate_percent"]
            print(f"  determinism tax: BD-rate {'n/a (no PSNR overlap)' if bd is None else f'{bd:+.2f} %'}"
                  f" of the integer networks against the float twin of {args.run} "
                  f"({tax['checkpoint']}; {tax['seconds']} s)")
            for f, i in zip(tax["float"], tax["integer"]):
                print(f"    level {f['level']}: float {f['bpp']:.3f} bpp {f['psnr']:.2f} dB, "
                      f"integer {i['bpp']:.3f} bpp {i['psnr']:.2f} dB")
    return 0 if r["exact"] else 1


def _usage(msg: str):
    from .errors import InvalidArgumentError
    return InvalidArgumentError(msg)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mlvc", description="Deterministic learned video codec")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="also show the runtimes' own log lines (LiteRT's delegate INFO line)")
    sub = p.add_subparsers(dest="command", required=True)
    # -v after the command too (mlvc decode x.mlvc -v); SUPPRESS keeps a -v given before it
    verbose = argparse.ArgumentParser(add_help=False)
    verbose.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                         help="also show the runtimes' own log lines")

    e = sub.add_parser("encode", help="encode a video, image folder or camera", parents=[verbose])
    e.add_argument("input", nargs="?",
                   help="mp4/avi/y4m/npz file, a folder of images, or - (Y4M on stdin)")
    e.add_argument("-o", "--output", required=True, help="stream file, or - for stdout")
    e.add_argument("--camera", type=int, default=None, help="capture from camera N")
    e.add_argument("--quality", type=int, default=3, help="1 (smallest) .. highest level")
    e.add_argument("--frames", type=int, default=None, help="encode at most N frames")
    e.add_argument("--gop", type=int, default=16,
                   help="an I-frame every N frames, P-frames between (1: all intra)")
    e.add_argument("--rd-levels", type=int, default=None,
                   help="P-frames: residual levels tried, the requested and coarser ones, chosen "
                        "by rate-distortion cost (1: always --quality; default: the preset's, "
                        "fast 1, medium and slow 2)")
    e.add_argument("--intra-level-offset", type=int, default=1, metavar="N",
                   help="with --gop > 1: I-frames coded N levels above --quality (at most the "
                        "top level), better references for the P-frames; 0: at --quality")
    e.add_argument("--p-level-cascade", type=int, default=4, metavar="N",
                   help="P-frames not a multiple of N frames after their I-frame are coded one "
                        "level below --quality (0 or 1: every P-frame at --quality)")
    e.add_argument("--refine", type=int, default=0, metavar="N",
                   help="refine each picture's latent for N iterations (16: +0.8-1.4 dB "
                        "at about the same rate, ~0.75 s per iteration at 640x272; 0: off)")
    e.add_argument("--preset", default=None, help=(
        "P-frame encoder speed: fast | medium | slow (default: medium; fast with --camera)"))
    e.add_argument("--inter-tools", default="tree", help=(
        "P-frame tools: tree (block tree, quarter pixels, merge, skip, deblocking; bitstream "
        "1.1) or grid (the 16x16 half-pixel modes of bitstream 1.0)"))
    e.add_argument("--backend", default=None)
    e.add_argument("--package", default=None, help="model package directory")
    e.add_argument("--fps-num", type=int, default=None,
                   help="frame rate numerator (default: the source's rate, else 30)")
    e.add_argument("--fps-den", type=int, default=None, help="frame rate denominator (1)")
    e.add_argument("-q", "--quiet", action="store_true")
    e.set_defaults(func=cmd_encode)

    d = sub.add_parser("decode", parents=[verbose],
                       help="decode a stream to .y4m, .mp4 or a folder of PNGs")
    d.add_argument("input", help="stream file, or - (stdin, decoded as it arrives)")
    d.add_argument("-o", "--output", default=None,
                   help=".y4m, .mp4/.mkv/.avi, a folder (PNGs), or - (Y4M on stdout)")
    d.add_argument("--backend", default=None)
    d.add_argument("--package", action="append", default=None,
                   help="model package directory (repeatable: the one the stream names is "
                        "used; $MLVC_MODEL_PATH and the bundled package are searched too)")
    d.add_argument("--no-verify", action="store_true",
                   help="check no picture hash; the named backend runs as it is")
    d.add_argument("--strict", action="store_true",
                   help="stop at any picture hash mismatch, also on a backend not exact here "
                        "(default: re-decode it with the fastest exact backend and go on)")
    d.add_argument("--preview", action="store_true",
                   help="keep an approximate backend's pictures (they may drift)")
    d.add_argument("-q", "--quiet", action="store_true")
    d.set_defaults(func=cmd_decode)

    i = sub.add_parser("info", help="print a stream's header and frames", parents=[verbose])
    i.add_argument("input")
    i.add_argument("--json", action="store_true")
    i.set_defaults(func=cmd_info)

    s = sub.add_parser("selftest", parents=[verbose],
                       help="conformance matrix of the integer profile")
    s.add_argument("--json", action="store_true")
    s.add_argument("--emulated", action="store_true",
                   help="add the qemu and tflite-runtime 2.14 rows (tools/emulation)")
    s.add_argument("--rows", default=None, help="comma-separated configuration names")
    s.add_argument("--quick", action="store_true", help="skip the 256x256 codec-shaped case")
    s.add_argument("--record", action="store_true",
                   help="write the backend registry's evidence.json from this run")
    s.set_defaults(func=cmd_selftest)

    c = sub.add_parser("conformance", parents=[verbose],
                       help="decode conformance vectors on backends")
    c.add_argument("--backend", action="append", default=None)
    c.add_argument("--vectors", type=Path, default=None)
    c.add_argument("--package", default=None)
    c.add_argument("--json", action="store_true")
    c.add_argument("--encode", action="store_true",
                   help="also re-encode each vector's sources and require identical bytes")
    c.set_defaults(func=cmd_conformance)

    m = sub.add_parser("demo", parents=[verbose],
                       help="encode+decode the bundled sample and run conformance")
    m.add_argument("--quality", type=int, default=3)
    m.add_argument("-o", "--output", default=None, help="also save the stream here")
    m.set_defaults(func=cmd_demo)

    bench = sub.add_parser("bench", help="benchmarks").add_subparsers(dest="bench", required=True)
    rd = bench.add_parser("rd", parents=[verbose],
                          help="rate-distortion against x264 and x265 (ffmpeg)")
    rd.add_argument("clips", nargs="+", help="video files; PATH@N starts at frame N")
    rd.add_argument("--start", type=int, default=0, help="first frame (default for all clips)")
    rd.add_argument("--frames", type=int, default=30)
    rd.add_argument("--gop", type=int, default=16)
    rd.add_argument("--json", type=Path, default=None)
    rd.add_argument("--plot", type=Path, default=None)
    rd.add_argument("--backend", default=None)
    rd.add_argument("--package", default=None)
    rd.add_argument("--refine", type=int, default=0, metavar="N",
                    help="also measure the encoder with N latent-refinement iterations")
    rd.set_defaults(func=cmd_bench_rd)

    b = sub.add_parser("backends", help="list backends and their exactness on this machine")
    b.add_argument("--json", action="store_true",
                   help="every backend with exact, verified_by and its environment fingerprint")
    b.add_argument("--no-probe", action="store_true",
                   help="run no startup probe (unprobed backends show verified_by none)")
    b.set_defaults(func=cmd_backends)

    x = sub.add_parser("export", parents=[verbose],
                       help="write the package's networks as .tflite or .mlpackage")
    x.add_argument("package", nargs="?", default=None)
    x.add_argument("--format", choices=("tflite", "coreml"), default="tflite")
    x.add_argument("-o", "--output", required=True)
    x.add_argument("--width", type=int, default=1280, help="Core ML: picture width")
    x.add_argument("--height", type=int, default=720, help="Core ML: picture height")
    x.set_defaults(func=cmd_export)

    mo = sub.add_parser("model", help="train, convert and verify a codec (mlvc.model)")
    ms = mo.add_subparsers(dest="model_cmd", required=True)
    mt = ms.add_parser("train", parents=[verbose], help="train or fine-tune from a TOML config")
    mt.add_argument("--config", help="CONFIG.toml (converters/configs/*.toml)")
    mt.add_argument("--out", required=True, help="run directory")
    mt.add_argument("--resume", action="store_true", help="continue the run in --out")
    mt.add_argument("--init", help="start from a run directory, 'bundled' or the bundled package")
    mt.add_argument("--data", help="folder of training pictures (overrides data.images)")
    mt.add_argument("--video-dir", help="folder of training videos (overrides data.video_dir)")
    mt.add_argument("--devices", help="auto, cpu, N (GPUs) or cpu:N (overrides "
                    "schedule.devices)")
    mt.set_defaults(func=cmd_model)
    mc = ms.add_parser("convert", parents=[verbose], help="a run's integer export as a package")
    mc.add_argument("run")
    mc.add_argument("-o", "--output", required=True)
    mc.add_argument("--coreml", action="store_true", help="add the Core ML programs (PKG/coreml)")
    mc.add_argument("--width", type=int, default=1280, help="Core ML: picture width")
    mc.add_argument("--height", type=int, default=720, help="Core ML: picture height")
    mc.add_argument("--residual", help="run directory of the P-frame residual networks")
    mc.add_argument("--model-id", help="family and version, e.g. mlvc-lp-v3")
    mc.add_argument("--fit-z-tables", metavar="DIR",
                    help="choose the z tables on crops of these (training) pictures")
    mc.add_argument("--description", help="the manifest's description (default: the config's)")
    mc.set_defaults(func=cmd_model)
    mv = ms.add_parser("verify", parents=[verbose], help="exactness and RD of a package")
    mv.add_argument("package")
    mv.add_argument("--images", help="folder of pictures for the RD check")
    mv.add_argument("--run", metavar="RUN_DIR",
                    help="the training run the package came from: measure the determinism tax "
                         "(BD-rate against its float twin; needs TensorFlow)")
    mv.add_argument("--json", action="store_true")
    mv.set_defaults(func=cmd_model)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "verbose", False):
        return _run(args)
    with _QuietNativeLog():
        return _run(args)


def _run(args) -> int:
    try:
        return args.func(args)
    except MLVCError as exc:
        print(f"mlvc: error ({exc.code}): {exc}", file=sys.stderr)
        return exc.exit_status
    except KeyboardInterrupt:
        print("mlvc: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except OSError as exc:
        # a path or device problem no check above foresaw (a full disk, a vanished folder):
        # still one line and the status of an invalid argument, never a traceback
        err = InvalidArgumentError(f"{exc.filename + ': ' if exc.filename else ''}"
                                   f"{exc.strerror or exc}")
        print(f"mlvc: error ({err.code}): {err}", file=sys.stderr)
        return err.exit_status


if __name__ == "__main__":
    sys.exit(main())
