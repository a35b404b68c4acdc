"""Copy a run's latest checkpoint without its Adam moments (the form kept under training/).

    python research/slim_checkpoint.py --src build/train_enc --out training/intra

Weights, exponents, counters and the noise state stay; the moments (two thirds of the file) are
dropped, and train_intra.py --resume restarts them from zero.  Also copies state.json.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil



def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--src", required=True, help="training directory (train_intra.py --out)")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    from mlvc_train.train_intra import restore, save_slim, training_state

    st = json.load(open(os.path.join(a.src, "state.json")))
    ts = training_state(st["args"]["seed"], a.src)
    restore(ts, ts.mgr.latest_checkpoint)
    os.makedirs(a.out, exist_ok=True)
    shutil.rmtree(os.path.join(a.out, "ckpt"), ignore_errors=True)
    shutil.copy(os.path.join(a.src, "state.json"), os.path.join(a.out, "state.json"))
    print(save_slim(ts, a.out))


if __name__ == "__main__":
    main()
