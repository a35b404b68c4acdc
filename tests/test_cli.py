"""The command line: encode/decode/info round trip, JSON output, clean errors and exit codes."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, litert_available
from mlvc.cli import main
from mlvc.conformance.golden import synthetic_frames


def run_cli(*args):
    env = {"PYTHONPATH": f"{ROOT / 'sdk'}:{ROOT / 'converters'}", "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-m", "mlvc.cli", *args], capture_output=True,
                          text=True, env=env, timeout=300)


def test_encode_info_decode(tmp_path, small_package, capsys):
    src = tmp_path / "in.npz"
    np.savez(src, frames=np.stack(synthetic_frames(70, 50, 3, 0)))
    out = tmp_path / "a.mlvc"
    assert main(["encode", str(src), "-o", str(out), "--quality", "2", "--package",
                 small_package, "--backend", "numpy", "--frames", "2", "--gop", "1"]) == 0
    assert main(["info", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out.split("\n", 1)[1])
    assert [f["type"] for f in info["frames"]] == ["I", "I"]
    out_p = tmp_path / "p.mlvc"
    assert main(["encode", str(src), "-o", str(out_p), "--package", small_package]) == 0
    assert main(["info", str(out_p), "--json"]) == 0
    info = json.loads(capsys.readouterr().out.split("\n", 1)[1])
    assert [f["type"] for f in info["frames"]] == ["I", "P", "P"]
    assert all(len(f["hash"]) == 32 and f["bytes"] > 0 for f in info["frames"])
    y4m = tmp_path / "out.y4m"
    assert main(["decode", str(out), "-o", str(y4m), "--package", small_package]) == 0
    assert y4m.read_bytes().startswith(b"YUV4MPEG2 W70 H50")
    from mlvc.io.video import read_y4m
    frames = list(read_y4m(y4m))
    assert len(frames) == 2 and frames[0].shape == (50, 70, 3)


@pytest.mark.parametrize("args,status,needle", [
    (["decode", "/nonexistent.mlvc"], 2, "cannot read"),
    (["info", "__garbage__"], 4, "corrupt_stream"),
    (["encode", "/nonexistent.mp4", "-o", "/tmp/x.mlvc"], 2, "does not exist"),
])
def test_errors_are_one_line_without_traceback(tmp_path, args, status, needle):
    if args[1] == "__garbage__":
        (tmp_path / "g.mlvc").write_bytes(b"\x00" * 100)
        args = [args[0], str(tmp_path / "g.mlvc")]
    r = run_cli(*args)
    assert r.returncode == status, r.stderr
    assert needle in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_quality_out_of_range_is_rejected(tmp_path, small_package):
    src = tmp_path / "in.npz"
    np.savez(src, frames=np.stack(synthetic_frames(16, 16, 1, 0)))
    r = run_cli("encode", str(src), "-o", str(tmp_path / "x.mlvc"), "--quality", "7",
                "--package", small_package)
    assert r.returncode == 2 and "quality" in r.stderr


@pytest.mark.parametrize("flag,value", [("--gop", "0"), ("--rd-levels", "0"), ("--fps-num", "0"),
                                        ("--refine", "-1")])
def test_out_of_range_encoder_options_are_typed_errors(tmp_path, small_package, flag, value):
    src = tmp_path / "in.npz"
    np.savez(src, frames=np.stack(synthetic_frames(16, 16, 1, 0)))
    r = run_cli("encode", str(src), "-o", str(tmp_path / "x.mlvc"), flag, value,
                "--package", small_package)
    assert r.returncode == 2, r.stderr
    assert "invalid_argument" in r.stderr and "Traceback" not in r.stderr


def test_import_does_not_pull_tensorflow_or_runtime():
    code = ("import sys, mlvc; bad=[m for m in ('tensorflow','ai_edge_litert','cv2') "
            "if m in sys.modules]; print(bad)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env={"PYTHONPATH": str(ROOT / "sdk")})
    assert r.stdout.strip() == "[]", r.stderr


def test_export_tflite_writes_every_network(tmp_path):
    assert main(["export", "--format", "tflite", "-o", str(tmp_path / "out")]) == 0
    index = json.loads((tmp_path / "out" / "index.json").read_text())
    roles = {"g_a", "h_a", "h_s", "g_s"}
    assert set(index["networks"]) == roles | {f"res_{r}" for r in roles}   # bundled: both sets
    for entry in index["networks"].values():
        assert (tmp_path / "out" / entry["file"]).read_bytes()[4:8] == b"TFL3"


def test_encode_with_refinement_decodes_verified(tmp_path):
    """--refine on the bundled package: a valid stream whose hashes every decoder verifies."""
    src = tmp_path / "in.npz"
    np.savez(src, frames=np.stack(synthetic_frames(48, 32, 2, 1)))
    out = tmp_path / "r.mlvc"
    assert main(["encode", str(src), "-o", str(out), "--refine", "2", "-q"]) == 0
    assert main(["decode", str(out), "-o", str(tmp_path / "png"), "-q"]) == 0
    assert len(list((tmp_path / "png").glob("*.png"))) == 2


def test_stream_takes_the_source_frame_rate(tmp_path, small_package, capsys):
    from mlvc.io.video import Y4MWriter
    src = tmp_path / "in.y4m"
    w = Y4MWriter(src, 40, 24, (30000, 1001))
    for f in synthetic_frames(40, 24, 2, 0):
        w.write(f)
    w.close()
    rates = []
    for extra in ([], ["--fps-num", "50"]):
        out = tmp_path / "a.mlvc"
        assert main(["encode", str(src), "-o", str(out), "--package", small_package,
                     "--backend", "numpy", *extra]) == 0
        assert main(["info", str(out), "--json"]) == 0
        rates.append(json.loads(capsys.readouterr().out.split("\n", 1)[1])["fps"])
    assert rates == ["30000/1001", "50/1"]


def test_signal_stops_encoding_with_a_valid_stream(tmp_path, small_package):
    """SIGTERM (or Ctrl-C) mid-encode: the frame in flight is finished and the stream closed with
    its frame count patched, so what was written decodes; a file input then exits 130."""
    import signal
    import time
    from mlvc.api import Decoder
    src = tmp_path / "long.npz"
    np.savez(src, frames=np.stack(synthetic_frames(96, 64, 400, 0)))
    out = tmp_path / "part.mlvc"
    env = {"PYTHONPATH": f"{ROOT / 'sdk'}:{ROOT / 'converters'}", "PATH": "/usr/bin:/bin"}
    proc = subprocess.Popen([sys.executable, "-m", "mlvc.cli", "encode", str(src), "-o", str(out),
                             "--package", small_package, "--backend", "numpy", "--gop", "4"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.time() + 120

    def written():              # the stream grows under a temporary name until it is complete
        parts = list(tmp_path.glob(".part.*.part.mlvc"))
        return parts[0].stat().st_size if parts else 0
    while time.time() < deadline and written() < 3000:
        time.sleep(0.05)
    assert not out.exists()
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "stopped by signal" in stdout and "Traceback" not in stderr
    assert not list(tmp_path.glob("*.part*"))          # renamed to its name, nothing left over
    dec = Decoder(out.read_bytes(), package=small_package, backend="numpy")
    n = dec.header.frame_count
    assert 0 < n < 400
    assert len(dec.decode_all()) == n


def test_pipes_encode_to_stdout_and_decode_from_stdin(tmp_path, small_package):
    """y4m on stdin -> `encode - -o -` -> `decode - -o -` -> y4m on stdout: the pictures of the
    live (unknown-length) stream equal a file decode, with every hash verified."""
    import io
    from mlvc.api import Decoder
    from mlvc.io.video import Y4MWriter, read_y4m
    src = tmp_path / "in.y4m"
    w = Y4MWriter(src, 40, 24, (25, 1))
    for f in synthetic_frames(40, 24, 5, 2):
        w.write(f)
    w.close()
    env = {"PYTHONPATH": f"{ROOT / 'sdk'}:{ROOT / 'converters'}", "PATH": "/usr/bin:/bin"}
    cli = [sys.executable, "-m", "mlvc.cli"]
    common = ["--package", small_package, "--backend", "numpy"]
    enc = subprocess.run(cli + ["encode", "-", "-o", "-", "--gop", "3", *common],
                         input=src.read_bytes(), capture_output=True, env=env, timeout=300)
    assert enc.returncode == 0, enc.stderr
    stream = enc.stdout
    assert b"encoded 5 frames" in enc.stderr and stream[:4] == b"MLVC"
    dec = subprocess.run(cli + ["decode", "-", "-o", "-", *common], input=stream,
                         capture_output=True, env=env, timeout=300)
    assert dec.returncode == 0, dec.stderr
    assert b"5/5 picture hashes verified" in dec.stderr
    piped = list(read_y4m(io.BytesIO(dec.stdout)))
    direct = Decoder(stream, package=small_package, backend="numpy")
    assert direct.header.frame_count == 0xFFFFFFFF         # a pipe cannot patch the count
    frames = direct.decode_all()
    assert [f.frame_type for f in frames] == ["I", "P", "P", "I", "P"]
    ref = io.BytesIO()
    sink = Y4MWriter(ref, 40, 24, (25, 1))
    for f in frames:
        sink.write(f.rgb)
    assert dec.stdout == ref.getvalue() and len(piped) == 5


# ---- bad paths and bad input: a typed one-line error, its exit status, no file left behind ----
def _inputs(tmp_path, package):
    """in.npz (3 frames), in.y4m, a truncated Y4M, an empty folder and a valid stream."""
    from mlvc.io.video import Y4MWriter
    frames = synthetic_frames(40, 24, 3, 4)
    np.savez(tmp_path / "in.npz", frames=np.stack(frames))
    w = Y4MWriter(tmp_path / "in.y4m", 40, 24, (25, 1))
    for f in frames:
        w.write(f)
    w.close()
    y4m = (tmp_path / "in.y4m").read_bytes()
    (tmp_path / "trunc.y4m").write_bytes(y4m[:-500])
    (tmp_path / "empty").mkdir()
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder.y4m").mkdir()
    assert main(["encode", str(tmp_path / "in.npz"), "-o", str(tmp_path / "ok.mlvc"), "-q",
                 "--package", package, "--backend", "numpy", "--gop", "2"]) == 0
    return sorted(p.name for p in tmp_path.iterdir())


def _one_line_error(r, status, needle):
    assert r.returncode == status, r.stderr
    assert "Traceback" not in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert f"mlvc: error (" in r.stderr and needle in r.stderr, r.stderr


@pytest.mark.parametrize("args,needle", [
    (["encode", "in.npz", "-o", "missing/x.mlvc"], "folder"),
    (["encode", "in.npz", "-o", "folder"], "is a folder"),
    (["encode", "in.npz", "-o", "ok.mlvc/x.mlvc"], "not a folder"),
    (["decode", "ok.mlvc", "-o", "missing/x.y4m"], "does not exist"),
    (["decode", "ok.mlvc", "-o", "missing/pngs"], "does not exist"),
    (["decode", "ok.mlvc", "-o", "folder.y4m"], "is a folder"),
    (["decode", "ok.mlvc", "-o", "ok.mlvc"], "use .y4m"),
    (["decode", "folder", "-o", "x.y4m"], "cannot read"),
    (["encode", "missing.y4m", "-o", "x.mlvc"], "does not exist"),
])
def test_path_problems_are_typed_errors_and_write_nothing(tmp_path, small_package, args, needle):
    before = _inputs(tmp_path, small_package)
    ok = (tmp_path / "ok.mlvc").read_bytes()
    args = [str(tmp_path / a) if i and not a.startswith("-") and a not in ("encode", "decode")
            else a for i, a in enumerate(args)]
    r = run_cli(*args, "--package", small_package, "--backend", "numpy")
    _one_line_error(r, 2, needle)
    assert sorted(p.name for p in tmp_path.iterdir()) == before       # nothing new, no .part
    assert (tmp_path / "ok.mlvc").read_bytes() == ok


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files without read permission")
@pytest.mark.parametrize("command", ["encode", "decode"])
def test_unreadable_input_is_a_typed_error(tmp_path, small_package, command):
    _inputs(tmp_path, small_package)
    src = tmp_path / ("in.y4m" if command == "encode" else "ok.mlvc")
    src.chmod(0)
    try:
        r = run_cli(command, str(src), "-o", str(tmp_path / ("x.mlvc" if command == "encode"
                                                              else "x.y4m")),
                    "--package", small_package, "--backend", "numpy")
    finally:
        src.chmod(0o644)
    _one_line_error(r, 2, "cannot read")
    assert not list(tmp_path.glob("x.*")) and not list(tmp_path.glob(".*part*"))


@pytest.mark.parametrize("src,extra,needle", [
    ("empty", [], "no images"),
    ("in.npz", ["--frames", "0"], "--frames 0"),
    ("trunc.y4m", [], "truncated"),
])
def test_failed_encode_leaves_no_file(tmp_path, small_package, src, extra, needle):
    _inputs(tmp_path, small_package)
    out = tmp_path / "out.mlvc"
    r = run_cli("encode", str(tmp_path / src), "-o", str(out), *extra,
                "--package", small_package, "--backend", "numpy")
    _one_line_error(r, 2, needle)
    assert not out.exists() and not list(tmp_path.glob(".*part*"))
    # an existing output stays as it was: only a complete stream replaces it
    out.write_bytes(b"previous")
    r = run_cli("encode", str(tmp_path / src), "-o", str(out), *extra,
                "--package", small_package, "--backend", "numpy")
    assert r.returncode == 2 and out.read_bytes() == b"previous"
    assert not list(tmp_path.glob(".*part*"))


def _corrupt(stream: bytes, frame: int) -> bytes:
    """The stream with one byte in the middle of frame `frame`'s payload flipped (that record's
    checksum then fails: a corrupt frame)."""
    from mlvc.bitstream.container import StreamHeader, iter_records
    payload = list(iter_records(stream, StreamHeader.unpack(stream)))[frame].payload
    at = stream.index(payload) + len(payload) // 2
    return stream[:at] + bytes([stream[at] ^ 0xFF]) + stream[at + 1:]


@pytest.mark.parametrize("output", ["out.y4m", "pngs"])
def test_decode_stopped_by_a_corrupt_frame_keeps_the_frames_before_it(tmp_path, small_package,
                                                                       output):
    """Frames 0-1 decode (exact, verified), frame 2 is corrupt: the output keeps exactly those two
    pictures under its own name, the message says so, and the status is corrupt_stream's."""
    from mlvc.api import Decoder
    from mlvc.io.video import read_y4m
    _inputs(tmp_path, small_package)
    stream = (tmp_path / "ok.mlvc").read_bytes()
    (tmp_path / "bad.mlvc").write_bytes(_corrupt(stream, 2))
    out = tmp_path / output
    r = run_cli("decode", str(tmp_path / "bad.mlvc"), "-o", str(out),
                "--package", small_package, "--backend", "numpy")
    _one_line_error(r, 4, "corrupt_stream")
    assert f"2 frames (0-1) written to {out} and kept" in r.stderr
    want = [f.rgb for f in Decoder(stream, package=small_package, backend="numpy").frames()][:2]
    if output == "pngs":
        import cv2
        got = [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB)
               for p in sorted(out.glob("*.png"))]
        assert all(np.array_equal(g, w) for g, w in zip(got, want))
    else:
        ref = tmp_path / "ref.y4m"
        assert main(["decode", str(tmp_path / "ok.mlvc"), "-o", str(ref), "-q",
                     "--package", small_package, "--backend", "numpy"]) == 0
        got = list(read_y4m(out))
        assert out.read_bytes() == ref.read_bytes()[:out.stat().st_size]
    assert len(got) == 2
    assert not list(tmp_path.glob(".*part*"))


def test_decode_corrupt_first_frame_writes_nothing(tmp_path, small_package):
    _inputs(tmp_path, small_package)
    (tmp_path / "bad.mlvc").write_bytes(_corrupt((tmp_path / "ok.mlvc").read_bytes(), 0))
    out = tmp_path / "out.y4m"
    r = run_cli("decode", str(tmp_path / "bad.mlvc"), "-o", str(out),
                "--package", small_package, "--backend", "numpy")
    _one_line_error(r, 4, "nothing written")
    assert not out.exists() and not list(tmp_path.glob(".*part*"))


def test_successful_outputs_get_their_names_and_normal_permissions(tmp_path, small_package):
    _inputs(tmp_path, small_package)
    mask = os.umask(0o022)
    os.umask(mask)
    for out in ("a.y4m", "pngs"):
        assert main(["decode", str(tmp_path / "ok.mlvc"), "-o", str(tmp_path / out), "-q",
                     "--package", small_package, "--backend", "numpy"]) == 0
    assert (tmp_path / "a.y4m").stat().st_mode & 0o777 == 0o666 & ~mask
    assert (tmp_path / "pngs").stat().st_mode & 0o777 == 0o777 & ~mask
    assert len(list((tmp_path / "pngs").glob("frame_*.png"))) == 3
    assert (tmp_path / "ok.mlvc").stat().st_mode & 0o777 == 0o666 & ~mask
    assert not list(tmp_path.glob(".*part*"))


@pytest.mark.skipif(not litert_available(), reason="ai-edge-litert not installed")
def test_litert_info_line_only_with_verbose(tmp_path, small_package):
    """LiteRT's C++ runtime prints 'INFO: Created TensorFlow Lite XNNPACK delegate for CPU.' to
    fd 2: off by default, shown by -v (before or after the command)."""
    _inputs(tmp_path, small_package)
    common = ["--package", small_package, "--backend", "litert-xnnpack"]
    quiet = run_cli("decode", str(tmp_path / "ok.mlvc"), *common)
    assert quiet.returncode == 0, quiet.stderr
    assert "decoded 3 frames" in quiet.stdout and quiet.stderr == ""
    for verbose in (["-v", "decode", str(tmp_path / "ok.mlvc")],
                    ["decode", str(tmp_path / "ok.mlvc"), "-v"]):
        r = run_cli(*verbose, *common)
        assert r.returncode == 0 and "Created TensorFlow Lite XNNPACK delegate" in r.stderr
    # other stderr output still comes through, in order, with the line filtered
    r = run_cli("encode", str(tmp_path / "trunc.y4m"), "-o", str(tmp_path / "x.mlvc"), *common)
    _one_line_error(r, 2, "truncated")
