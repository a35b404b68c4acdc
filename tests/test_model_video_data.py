"""`[data] video_dir`: training on frames drawn from a folder of videos (seeded, held-out videos),
with a tiny generated video through a few training steps of tiny.toml."""
import json

import numpy as np
import pytest

from conftest import ROOT

cv2 = pytest.importorskip("cv2")
TINY = ROOT / "converters" / "configs" / "tiny.toml"


def write_video(path, n, seed, size=(80, 64)):
    """n frames of a moving pattern (frame i has brightness offset 3 i: its index is legible)."""
    w, h = size
    fourcc = cv2.VideoWriter_fourcc(*("MJPG" if path.suffix == ".avi" else "mp4v"))
    vw = cv2.VideoWriter(str(path), fourcc, 10.0, (w, h))
    assert vw.isOpened()
    rng = np.random.default_rng(seed)
    tex = rng.integers(0, 120, (h, w + n, 3))
    for i in range(n):
        vw.write(np.clip(tex[:, i:i + w] + 3 * i, 0, 255).astype(np.uint8))
    vw.release()
    return path


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    d = tmp_path_factory.mktemp("videos")
    write_video(d / "a.mp4", 20, 0)
    write_video(d / "b.avi", 12, 1)
    (d / "notes.txt").write_text("not a video")
    return d


def test_frames_are_drawn_deterministically(videos):
    from mlvc_train.data import folder_videos, sample_video_frames
    a = sample_video_frames(str(videos / "a.mp4"), 5, seed=3)
    b = sample_video_frames(str(videos / "a.mp4"), 5, seed=3)
    c = sample_video_frames(str(videos / "a.mp4"), 5, seed=4)
    idx = [i for i, _ in a]
    assert len(a) == 5 and idx == sorted(idx) and len(set(idx)) == 5 and max(idx) < 20
    assert idx == [i for i, _ in b] and all(np.array_equal(x, y) for (_, x), (_, y) in zip(a, b))
    assert idx != [i for i, _ in c]
    assert a[0][1].shape == (64, 80, 3) and a[0][1].dtype == np.uint8
    # fewer frames than asked: all of them, in order
    assert [i for i, _ in sample_video_frames(str(videos / "b.avi"), 50, 3)] == list(range(12))
    train, held = folder_videos(str(videos), heldout=1, frames_per_video=5, seed=3)
    assert len(train) == 5 and len(held) == 1          # a.mp4 trains, b.avi (last) held out
    assert all(np.array_equal(x, y) for x, (_, y) in zip(train, a))
    train, held = folder_videos(str(videos), heldout=0, frames_per_video=4, seed=3)
    assert len(train) == 8 and held == []
    with pytest.raises(SystemExit, match="2 videos"):
        folder_videos(str(videos), heldout=2)


def test_images_only_data_is_unchanged(videos):
    """Adding the video code path leaves the images-only sampler's stream as it was."""
    from mlvc_train.data import TrainData
    a = TrainData(3, 64, images="skimage", heldout=1)
    b = TrainData(3, 64, images="skimage", heldout=1, video_dir=None)
    assert np.array_equal(a.batch(4), b.batch(4))
    c = TrainData(3, 64, images="skimage", heldout=1, video_dir=str(videos), frames_per_video=3)
    assert len(c.color) == len(a.color) + 3 and len(c.held) == len(a.held) + 1


def test_tiny_trains_on_a_video_folder(videos, tmp_path):
    pytest.importorskip("tensorflow")
    from mlvc import model
    cfg = model.load_config(TINY)
    cfg.data.images = None
    cfg.data.video_dir = str(videos)
    cfg.data.frames_per_video = 6
    cfg.schedule.steps = 6
    cfg.schedule.log_every = 2
    model.train(cfg, tmp_path / "run")
    recs = [json.loads(x) for x in (tmp_path / "run" / "train.log").read_text().splitlines()]
    start = next(r for r in recs if r.get("event") == "start")
    assert start["args"]["video_dir"] == str(videos) and start["args"]["images"] is None
    steps = [r for r in recs if "steps_per_s" in r and "event" not in r]
    assert [r["step"] for r in steps] == [2, 4, 6] and all(np.isfinite(r["gnorm"]) for r in steps)
    ev = [r for r in recs if r.get("event") == "eval"]
    assert ev and "L1" in ev[-1]["heldout_qat"]
    assert recs[-1]["event"] == "done" and recs[-1]["step"] == 6


def test_video_dir_errors_are_typed(videos, tmp_path):
    import subprocess
    import sys
    cfg = tmp_path / "v.toml"
    cfg.write_text(TINY.read_text().replace('images = "skimage"',
                                            f'video_dir = "{tmp_path / "none"}"'))
    r = subprocess.run([sys.executable, "-m", "mlvc.cli", "model", "train", "--config", cfg,
                        "--out", tmp_path / "run"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 2 and "data.video_dir" in r.stderr and "not a folder" in r.stderr
    assert "Traceback" not in r.stderr
    one = tmp_path / "one"
    one.mkdir()
    (one / "a.mp4").write_bytes((videos / "a.mp4").read_bytes())
    r = subprocess.run([sys.executable, "-m", "mlvc.cli", "model", "train", "--config", TINY,
                        "--video-dir", one, "--out", tmp_path / "run"],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 2 and "1 videos" in r.stderr and "Traceback" not in r.stderr
