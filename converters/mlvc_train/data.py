"""Training / held-out data for the intra codec (offline: two clips + scikit-image stills).

Held out (never trained on): bikes frames 200-249, carphone frames 100-119, skimage `coffee`.
"""
from __future__ import annotations

import os

import cv2
import numpy as np
from mlvc.model.config import VIDEO_SUFFIXES      # .mp4 .mkv .avi .mov .y4m

# Folder with the development clips (bikes.mp4, carphone_pristine.mp4): no default, since it
# is wherever the user keeps them
DATA_DIR = os.environ.get("MLVC_DATA", "")
# Optional folder of extra photographs (training/fetch_photos.sh writes Debian's nature wallpapers)
PHOTOS_DIR = os.environ.get("MLVC_PHOTOS", "")
COLOR_STILLS = ["astronaut", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry",
                "retina", "colorwheel", "logo"]
GRAY_STILLS = ["camera", "coins", "brick", "grass", "gravel", "page", "moon", "text", "clock"]


def read_video(path, first=0, last=None):
    if not DATA_DIR and not os.path.isabs(path) and not os.path.exists(path):
        raise SystemExit("set MLVC_DATA to the folder with bikes.mp4 and carphone_pristine.mp4")
    cap = cv2.VideoCapture(path)
    frames, i = [], 0
    while True:
        ok, f = cap.read()
        if not ok:
            break
        if i >= first and (last is None or i <= last):
            frames.append(cv2.cvtColor(f, cv2.COLOR_BGR2RGB))
        i += 1
    cap.release()
    if not frames:
        raise RuntimeError(f"no frames read from {path}")
    return frames


def load_stills():
    import skimage.data as skd
    out = []
    for name in COLOR_STILLS + GRAY_STILLS:
        try:
            a = getattr(skd, name)()
        except Exception:
            continue
        if a.dtype == bool:
            a = a.astype(np.uint8) * 255
        if a.ndim == 2:
            a = np.repeat(a[:, :, None], 3, axis=2)
        if a.shape[2] == 4:  # RGBA on white
            al = a[:, :, 3:4].astype(np.float32) / 255.0
            a = (a[:, :, :3] * al + 255.0 * (1 - al)).round().astype(np.uint8)
        out.append((name, np.ascontiguousarray(a.astype(np.uint8)), name in GRAY_STILLS))
    return out


def load_photos(folder, textures=None):
    """RGB pictures (sorted by name) from a folder; [] when it is unset or empty.
    textures: None for all, True / False for only those whose file name says "textures" (what
    training/fetch_data.py calls the game textures) or only the others (photographs)."""
    if not folder or not os.path.isdir(folder):
        return []
    out = []
    for name in sorted(os.listdir(folder)):
        if textures is not None and ("textures" in name) != textures:
            continue
        a = cv2.imread(os.path.join(folder, name), cv2.IMREAD_COLOR)
        if a is not None:
            out.append(cv2.cvtColor(a, cv2.COLOR_BGR2RGB))
    return out


def folder_pictures(images, heldout=0):
    """(train, held_out) RGB pictures of a folder; images == "skimage": scikit-image's bundled
    stills (no download).  The last `heldout` pictures (sorted by name) are held out."""
    if images == "skimage":
        pics = [a for _, a, _ in load_stills()]
    else:
        if not os.path.isdir(images):
            raise SystemExit(f"data folder {images} does not exist")
        pics = load_photos(images)
    if len(pics) <= heldout:
        raise SystemExit(f"{images}: {len(pics)} pictures, need more than {heldout} (held out)")
    return (pics[:len(pics) - heldout] if heldout else pics), pics[len(pics) - heldout:]




def video_files(folder):
    """The videos of a folder (VIDEO_SUFFIXES), sorted by name."""
    if not os.path.isdir(folder):
        raise SystemExit(f"video folder {folder} does not exist")
    return sorted(os.path.join(folder, n) for n in os.listdir(folder)
                  if os.path.splitext(n)[1].lower() in VIDEO_SUFFIXES)


def sample_video_frames(path, k, seed):
    """k frames of the video at `path` (all of them when it has fewer), drawn uniformly without
    replacement in one pass (reservoir sampling: at most k frames in memory), in time order.
    The draw depends only on (seed, the file's name, its frames): adding a video to the folder
    does not change the frames of the others.  Returns [(frame index, RGB uint8)]."""
    import zlib
    from mlvc.errors import MLVCError
    from mlvc.io.video import open_source
    rng = np.random.default_rng([seed, zlib.crc32(os.path.basename(path).encode())])
    keep = []
    try:
        for i, f in enumerate(open_source(path)):
            if i < k:
                keep.append((i, f))
            else:
                j = int(rng.integers(0, i + 1))
                if j < k:
                    keep[j] = (i, f)
    except MLVCError as exc:
        raise SystemExit(f"cannot read video {path}: {exc}") from None
    if not keep:
        raise SystemExit(f"no frames read from video {path}")
    return sorted(keep, key=lambda t: t[0])


def folder_videos(folder, heldout=0, frames_per_video=32, seed=1):
    """(train, held_out) RGB frames of a folder of videos: frames_per_video frames drawn from
    each (sample_video_frames); the last `heldout` videos (sorted by name) are held out, each
    represented by the middle one of its drawn frames."""
    files = video_files(folder)
    if len(files) <= heldout:
        raise SystemExit(f"{folder}: {len(files)} videos ({', '.join(VIDEO_SUFFIXES)}), need "
                         f"more than {heldout} (held out)")
    train, held = [], []
    for n, path in enumerate(files):
        frames = [f for _, f in sample_video_frames(path, frames_per_video, seed)]
        if n < len(files) - heldout:
            train += frames
        else:
            held.append(frames[len(frames) // 2])
    return train, held


class TrainData:
    """Random crops (with random down-scaling and flips) from clips and stills, or (images=DIR
    and / or video_dir=DIR) from the pictures of one folder and the frames drawn from the videos
    of another, each crop from one of them chosen uniformly."""

    def __init__(self, seed, crop=128, images=None, heldout=0, video_dir=None,
                 frames_per_video=32):
        self.crop = crop
        self.rng = np.random.default_rng(seed)
        if images or video_dir:
            self.color, self.held = folder_pictures(images, heldout) if images else ([], [])
            if video_dir:
                vt, vh = folder_videos(video_dir, heldout, frames_per_video, seed)
                self.color, self.held = self.color + vt, self.held + vh
            self.groups = [(self.color, 1.0)]
            return
        self.bikes = read_video(os.path.join(DATA_DIR, "bikes.mp4"), 0, 199)
        self.carphone = read_video(os.path.join(DATA_DIR, "carphone_pristine.mp4"), 0, 99)
        stills = load_stills()
        self.color = [a for n, a, g in stills if not g]
        self.gray = [a for n, a, g in stills if g]
        self.names = [n for n, a, g in stills]
        self.photos = load_photos(PHOTOS_DIR, textures=False)
        self.textures = load_photos(PHOTOS_DIR, textures=True)
        # source group probabilities
        if self.photos and self.textures:
            # training/fetch_data.py's set: photographs, textures, the clips, the stills
            self.groups = [(self.bikes, 0.15), (self.carphone, 0.05), (self.color, 0.10),
                           (self.photos, 0.35), (self.textures, 0.25), (self.gray, 0.10)]
        elif self.photos:
            self.groups = [(self.bikes, 0.25), (self.carphone, 0.10), (self.color, 0.25),
                           (self.photos, 0.30), (self.gray, 0.10)]
        else:
            self.groups = [(self.bikes, 0.30), (self.carphone, 0.10), (self.color, 0.45),
                           (self.gray, 0.15)]

    def sample(self, img):
        r, S = self.rng, self.crop
        h, w = img.shape[:2]
        smin = max(S / min(h, w), 0.25)
        s = 1.0
        if smin < 1.0 and r.random() < 0.6:
            s = float(np.exp(r.uniform(np.log(smin), 0.0)))
        c = min(int(round(S / s)), h, w)
        y0 = int(r.integers(0, h - c + 1))
        x0 = int(r.integers(0, w - c + 1))
        p = img[y0:y0 + c, x0:x0 + c]
        if c != S:
            p = cv2.resize(p, (S, S), interpolation=cv2.INTER_AREA)
        if r.random() < 0.5:
            p = p[:, ::-1]
        return p

    def batch(self, b):
        probs = np.array([g[1] for g in self.groups])
        out = np.empty((b, self.crop, self.crop, 3), np.uint8)
        for i in range(b):
            g = self.groups[int(self.rng.choice(len(probs), p=probs / probs.sum()))][0]
            out[i] = self.sample(g[int(self.rng.integers(len(g)))])
        return out

    def get_state(self):
        return self.rng.bit_generator.state

    def set_state(self, st):
        self.rng.bit_generator.state = st


def heldout(full=True):
    """[(name, uint8 HxWx3)]; full=False gives a small subset for in-training evaluation."""
    import skimage.data as skd
    bikes = read_video(os.path.join(DATA_DIR, "bikes.mp4"), 200, 249)
    car = read_video(os.path.join(DATA_DIR, "carphone_pristine.mp4"), 100, 119)
    coffee = skd.coffee()
    if full:
        items = [(f"bikes{200 + i}", f) for i, f in enumerate(bikes) if i % 10 == 0]
        items += [(f"carphone{100 + i}", f) for i, f in enumerate(car) if i % 10 == 0]
        items += [("coffee", coffee)]
    else:
        items = [("bikes220", bikes[20][8:264, 192:448]), ("carphone110", car[10][8:136, 24:152]),
                 ("coffee", coffee[72:328, 172:428])]
    return [(n, np.ascontiguousarray(a)) for n, a in items]


def pad_to(img, mult):
    h, w = img.shape[:2]
    H, W = -(-h // mult) * mult, -(-w // mult) * mult
    if (H, W) == (h, w):
        return img
    return np.pad(img, ((0, H - h), (0, W - w), (0, 0)), mode="edge")


class ResidualData:
    """Random crops of P-frame residuals, clip(current - prediction, -128, 127) + 128 as uint8
    (the codec's int8 residual plus the intra input offset, so Codec.forward() sees the integer
    input the residual networks get), from the pairs inter_data.py writes; horizontal flips."""

    GROUPS = (("bikes", 0.40), ("carphone", 0.15), ("synthetic", 0.45))

    def __init__(self, seed, crop, path):
        self.crop = crop
        self.rng = np.random.default_rng(seed)
        with np.load(path) as z:
            self.pairs = {n: residual_pixels(z[f"{n}_cur"], z[f"{n}_pred"])
                          for n, _ in self.GROUPS}
            self.heldout_groups = [
                [(f"{n}{i}", residual_pixels(c, p))
                 for i, (c, p) in enumerate(zip(z[f"{n}_cur"], z[f"{n}_pred"]))]
                for n in ("heldout_bikes", "heldout_carphone")]

    def batch(self, b):
        S, r = self.crop, self.rng
        probs = np.array([p for _, p in self.GROUPS])
        out = np.empty((b, S, S, 3), np.uint8)
        for i in range(b):
            g = self.pairs[self.GROUPS[int(r.choice(len(probs), p=probs / probs.sum()))][0]]
            a = g[int(r.integers(len(g)))]
            y0 = int(r.integers(0, a.shape[0] - S + 1))
            x0 = int(r.integers(0, a.shape[1] - S + 1))
            p = a[y0:y0 + S, x0:x0 + S]
            out[i] = p[:, ::-1] if r.random() < 0.5 else p
        return out

    def heldout(self, full=True):
        """Residual pictures of held-out frames; full=False: one bikes and one carphone pair."""
        if full:
            return [item for g in self.heldout_groups for item in g]
        return [g[0] for g in self.heldout_groups]

    def get_state(self):
        return self.rng.bit_generator.state

    def set_state(self, st):
        self.rng.bit_generator.state = st


def residual_pixels(cur, pred):
    return (np.clip(cur.astype(np.int16) - pred, -128, 127) + 128).astype(np.uint8)
