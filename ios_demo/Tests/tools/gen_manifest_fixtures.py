"""Writes Tests/MLVCTests/ManifestFixtures.swift: manifests and the canonical JSON / content hash
the Python SDK (sdk/mlvc/package/manifest.py) gives them, and Python's repr of many doubles.
Run once from the repository root (the output is committed):

    .venv/bin/python ios_demo/Tests/tools/gen_manifest_fixtures.py
"""
import base64
import json
import random
import struct
from pathlib import Path

from mlvc.package.manifest import Manifest, read_manifest

SHA = "0123456789abcdef" * 4


def net(macs):
    return {"graph": "networks/x.graph.npz", "graph_sha256": SHA, "tflite": "networks/x.tflite",
            "tflite_sha256": SHA[::-1], "macs_per_pixel": macs}


# Written as raw JSON text: int/float spellings, escapes and non-ASCII are the point.
V1 = r'''{
 "format": "mlvc-model-package", "format_version": 1, "model_id": "fixture.v1",
 "description": "Caf\u00e9 \u2615 \"q\" \\ tab\t DEL\u007f \ud83d\ude00 line\nend \u0001",
 "levels": [{"level": 2, "exp": 0}, {"exp": 1.0, "level": 1}],
 "y_exp": -2, "latent_channels": 8, "hyper_channels": 2, "alignment": 64,
 "max_width": 64, "max_height": 48, "z_table_index": [0, 1.0],
 "res_latent_channels": null,
 "networks": {
  "g_a": NET5, "h_a": NET011, "h_s": NET1e5, "g_s": NETBIG
 },
 "tables": {"file": "tables.npz", "sha256": "SHA", "num_tables": 2, "sigma_min": 0.11,
            "tables_per_octave": 8},
 "training": {"\u00e9": 1, "e\u0301": 2, "Z": [1.0, -0.0, 1e16, 1E-4, 123456789012345678901234567890,
              true, false, null, {"b": 1, "a": "x", "B": [], "": {}}],
              "\ud83d\ude00": "astral", "\uff5a": 0.1, "\u0000ctl": "\u001f\u007f\u0080",
              "big": 1.7976931348623157e308, "tiny": 5e-324, "exp": 2.5E+3, "neg": -7, "negz": -0,
              "third": 0.3333333333333333, "sum": 0.30000000000000004, "e15": 1e15, "e16m": 9999999999999998.0,
              "slash": "a\/b", "path": "build/train_lp/ckpt/ckpt-21734", "elapsed_s": 5289.776190042496}
}'''
V1 = (V1.replace("NET5", json.dumps(net(5))).replace("NET011", json.dumps(net(0.11)))
      .replace("NET1e5", json.dumps(net(1e-05)).replace("1e-05", "1e-5"))
      .replace("NETBIG", json.dumps(net(1)).replace(": 1}", ": 12345678901234567890}"))
      .replace('"SHA"', json.dumps(SHA)))

v2 = json.loads(V1)
v2["format_version"] = 2
v2["model_id"] = "fixture.v2"
for r in ("g_a", "h_a", "h_s", "g_s"):
    v2["networks"]["res_" + r] = net(2.0)
v2["res_z_table_index"] = [1, 0]
v2["res_latent_channels"] = 4
V2 = json.dumps(v2, indent=1, ensure_ascii=False)


def fixture(text):
    m = Manifest.model_validate_json(text)
    canon = m.canonical_json()
    h = m.compute_content_hash()
    d = json.loads(text)
    d["content_hash"] = h
    # the same text with content_hash added (kept textually: spellings matter for version 1)
    full = text.rstrip()[:-1].rstrip() + ',\n "content_hash": "%s"\n}' % h
    p = Path("/tmp/_mlvc_fixture_manifest.json")
    p.write_text(full)
    assert read_manifest(p).content_hash == h
    return full, canon.decode("ascii"), h


def swift_str(s):
    """Base64 of the UTF-8 bytes: the texts hold raw control and combining characters."""
    return '"' + base64.b64encode(s.encode()).decode() + '"'


def doubles():
    rng = random.Random(16)
    out = [0.11, 1e-05, 2.0, 0.0001, 1e-4 * 0.99, 1e15, 1e16, 1e17, 9999999999999998.0, 0.1 + 0.2,
           1 / 3, 5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, 123456789.125, 0.5,
           100.0, 1e22, 1e23, 4.35, 0.3, float(2 ** 53), float(2 ** 53 + 2), 1.5e-7, 12345678901234567890.0,
           5289.776190042496, 0.0045, 2e-05, 0.7835429906845093, 7.908418054495989e-06, -1.25, -0.0]
    for _ in range(300):   # random bit patterns (finite)
        while True:
            x = struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))[0]
            if x == x and abs(x) != float("inf"):
                break
        out.append(x)
    for _ in range(200):   # short decimals at all scales
        out.append(float(f"{rng.randint(1, 99999)}e{rng.randint(-30, 30)}"))
    for e in range(-8, 20):
        out.append(10.0 ** e)
        out.append(float(f"1.5e{e}"))
    return [(struct.unpack("<Q", struct.pack("<d", x))[0], repr(x)) for x in out]


v1_full, v1_canon, v1_hash = fixture(V1)
v2_full, v2_canon, v2_hash = fixture(V2)
lines = ["// Generated once by ios_demo/Tests/tools/gen_manifest_fixtures.py with the Python SDK",
         "// (/work/main/.venv/bin/python, sdk/mlvc/package/manifest.py); committed, do not edit.",
         "// Expected values are Python's: Manifest.canonical_json(), compute_content_hash(), repr(float).",
         "// Texts are base64 of their UTF-8 bytes (manifest.json texts; the canonical JSON is ASCII).",
         "enum ManifestFixtures {",
         "    static let v1Manifest = " + swift_str(v1_full),
         "    static let v1Canonical = " + swift_str(v1_canon),
         f'    static let v1Hash = "{v1_hash}"',
         "    static let v2Manifest = " + swift_str(v2_full),
         "    static let v2Canonical = " + swift_str(v2_canon),
         f'    static let v2Hash = "{v2_hash}"',
         "    /// (IEEE-754 bits, Python repr)",
         "    static let doubleReprs: [(UInt64, String)] = ["]
lines += [f'        (0x{b:016x}, "{r}"),' for b, r in doubles()]
lines += ["    ]", "}", ""]
Path("ios_demo/Tests/MLVCTests/ManifestFixtures.swift").write_text("\n".join(lines))
print(v1_hash, v2_hash)
