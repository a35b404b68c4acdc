"""Print (or splice into docs/training.md) the held-out table from an export's codec.json.

    python research/results_table.py build/intra_export/codec.json [--fill docs/training.md]
"""
import json
import sys


def table(codec):
    tr = codec["train"]
    h = tr["heldout"]
    r = h["results"]
    out = [f"### Final checkpoint (step {tr['step']}, `{tr['checkpoint']}`)", "",
           "| level | float twin bpp / dB | QAT sim bpp / dB | exact int bpp / dB | tax (int − float) |",
           "|---|---|---|---|---|"]
    for lv in codec["levels"]:
        k = f"L{lv['level']}"
        f, q, i = r["float"][k], r["qat"][k], r["int"][k]
        out.append(f"| {lv['level']} (e={lv['exp']}) | {f['bpp']:.3f} / {f['psnr']:.2f} | "
                   f"{q['bpp']:.3f} / {q['psnr']:.2f} | {i['bpp']:.3f} / {i['psnr']:.2f} | "
                   f"{100 * (i['bpp'] / f['bpp'] - 1):+.1f} % bits, {i['psnr'] - f['psnr']:+.2f} dB |")
    out += ["", "Exact integer pipeline per source (bpp / dB):", "",
            "| source | L1 | L2 | L3 | L4 |", "|---|---|---|---|---|"]
    for src, v in r.get("int_per_source", {}).items():
        out.append(f"| {src} | " + " | ".join(f"{v[f'L{L}']['bpp']:.3f} / {v[f'L{L}']['psnr']:.2f}"
                                             for L in (1, 2, 3, 4)) + " |")
    out += ["", "Exactness (differing int8 outputs / total, TF QAT vs integer executor): " +
            ", ".join(f"{n} {e['differing']} / {e['total']}"
                      for n, e in h["exactness_tf_qat_vs_int"].items()) + "."]
    return "\n".join(out)


if __name__ == "__main__":
    t = table(json.load(open(sys.argv[1])))
    if len(sys.argv) > 3 and sys.argv[2] == "--fill":
        doc = open(sys.argv[3]).read()
        open(sys.argv[3], "w").write(doc.replace("FINAL_PLACEHOLDER", t))
    print(t)
