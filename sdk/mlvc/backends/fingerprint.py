"""The environment fingerprint: what decides a backend's integer arithmetic on this machine.

A TFLite kernel set picks its microkernels from the runtime build and the CPU's instruction-set
features (XNNPACK has SSE4.1, AVX, AVX2, AVX-512, AVX-VNNI, AVX-512-VNNI and AMX int8 kernels
on x86-64; NEON, dot-product, i8mm, SVE and SME ones on aarch64), and the optimized built-ins
also from the thread count (measured: it changed MEAN).  A fingerprint records exactly these:

    runtime, runtime_version, kernels, arch, x86_64_level (x86-64 only), features, threads
    (only for kernel sets measured to depend on it)

Evidence rows (`evidence.json`) and probe results (`probe.py`) are keyed by it, so a new LiteRT
release or a CPU with other features is not trusted because of a backend's name.

    python -m mlvc.backends.fingerprint RUNTIME KERNELS THREADS   # JSON, e.g. under emulation

CPU features come from CPUID where it can be executed (the values qemu-user emulates for a
`-cpu` model, which /proc/cpuinfo does not show) and otherwise from NumPy's runtime dispatch
table and /proc/cpuinfo.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
from functools import lru_cache

# Kernel sets whose results were measured to depend on the thread count (DETERMINISM.md:
# threads changed optimized MEAN; XNNPACK and the reference kernels did not change).
THREAD_SENSITIVE_KERNELS = frozenset({"builtin"})

# The features that select int8/int32 code paths (lower case, /proc/cpuinfo spelling).
X86_FEATURES = ("sse2", "ssse3", "sse4_1", "sse4_2", "popcnt", "avx", "f16c", "fma", "xop",
                "avx2", "avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl",
                "avx512vnni", "avx512vbmi", "avx512_bf16", "avx512_fp16", "gfni", "avx_vnni",
                "avx_vnni_int8", "amx_tile", "amx_int8")
ARM_FEATURES = ("asimd", "asimdhp", "asimddp", "asimdfhm", "i8mm", "bf16", "sve", "sve2",
                "svei8mm", "sme", "sme2")
# NumPy's names (numpy._core._multiarray_umath.__cpu_features__) -> ours.
_NUMPY_NAMES = {"SSE2": "sse2", "SSSE3": "ssse3", "SSE41": "sse4_1", "SSE42": "sse4_2",
                "POPCNT": "popcnt", "AVX": "avx", "F16C": "f16c", "FMA3": "fma", "XOP": "xop",
                "AVX2": "avx2", "AVX512F": "avx512f", "AVX512CD": "avx512cd",
                "AVX512BW": "avx512bw", "AVX512DQ": "avx512dq", "AVX512VL": "avx512vl",
                "AVX512VNNI": "avx512vnni", "AVX512VBMI": "avx512vbmi",
                "AVX512BF16": "avx512_bf16", "AVX512FP16": "avx512_fp16", "GFNI": "gfni",
                "ASIMD": "asimd", "ASIMDHP": "asimdhp", "ASIMDDP": "asimddp",
                "ASIMDFHM": "asimdfhm", "SVE": "sve"}
_CPUINFO_ALIASES = {"avx512_vnni": "avx512vnni", "avx512_vbmi": "avx512vbmi"}

# Runtime -> distribution name on PyPI.
DISTRIBUTIONS = {"litert": "ai-edge-litert", "tflite_runtime": "tflite-runtime",
                 "numpy": "numpy"}


def arch() -> str:
    m = platform.machine().lower()
    return {"amd64": "x86_64", "arm64": "aarch64"}.get(m, m)


def _numpy_features() -> set[str]:
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as f  # numpy >= 2
    except ImportError:
        try:
            from numpy.core._multiarray_umath import __cpu_features__ as f  # numpy 1.x
        except ImportError:
            return set()
    return {_NUMPY_NAMES[k] for k, v in f.items() if v and k in _NUMPY_NAMES}


def _cpuinfo_flags() -> set[str]:
    """Flags of the first processor in /proc/cpuinfo ('flags' on x86, 'Features' on Arm)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if not line.strip():
                    break                      # the first processor's block is enough
                key, _, value = line.partition(":")
                if key.strip().lower() in ("flags", "features"):
                    return {_CPUINFO_ALIASES.get(w, w) for w in value.split()}
    except OSError:
        pass
    return set()


def _cpuid_x86() -> set[str] | None:
    """Features from CPUID itself (what qemu-user emulates too), or None if it cannot run."""
    try:
        import ctypes
        import mmap
        # cpuid(leaf, subleaf, out[4]): push rbx; mov eax,edi; mov ecx,esi; mov r8,rdx; cpuid;
        # mov [r8],eax; mov [r8+4],ebx; mov [r8+8],ecx; mov [r8+12],edx; pop rbx; ret
        code = bytes([0x53, 0x89, 0xF8, 0x89, 0xF1, 0x49, 0x89, 0xD0, 0x0F, 0xA2,
                      0x41, 0x89, 0x00, 0x41, 0x89, 0x58, 0x04, 0x41, 0x89, 0x48, 0x08,
                      0x41, 0x89, 0x50, 0x0C, 0x5B, 0xC3])
        buf = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE |
                        mmap.PROT_EXEC)
        buf.write(code)
        addr = ctypes.addressof(ctypes.c_char.from_buffer(buf))
        fn = ctypes.CFUNCTYPE(None, ctypes.c_uint32, ctypes.c_uint32,
                              ctypes.POINTER(ctypes.c_uint32))(addr)
        out = (ctypes.c_uint32 * 4)()

        def cpuid(leaf, sub=0):
            fn(leaf, sub, out)
            return tuple(out)
        max_leaf = cpuid(0)[0]
        _, _, c1, d1 = cpuid(1)
        b7 = c7 = d7 = a71 = d71 = 0
        if max_leaf >= 7:
            _, b7, c7, d7 = cpuid(7, 0)
            a71, _, _, d71 = cpuid(7, 1)
        ext = cpuid(0x80000001)[2] if cpuid(0x80000000)[0] >= 0x80000001 else 0
        del fn
        buf.close()
    except Exception:  # W^X policies, non-x86 builds of ctypes...: fall back to cpuinfo
        return None
    bits = {
        "sse2": (d1, 26), "ssse3": (c1, 9), "sse4_1": (c1, 19), "sse4_2": (c1, 20),
        "popcnt": (c1, 23), "avx": (c1, 28), "f16c": (c1, 29), "fma": (c1, 12),
        "xop": (ext, 11), "avx2": (b7, 5), "avx512f": (b7, 16), "avx512dq": (b7, 17),
        "avx512cd": (b7, 28), "avx512bw": (b7, 30), "avx512vl": (b7, 31),
        "avx512vbmi": (c7, 1), "gfni": (c7, 8), "avx512vnni": (c7, 11),
        "avx512_fp16": (d7, 23), "amx_tile": (d7, 24), "amx_int8": (d7, 25),
        "avx_vnni": (a71, 4), "avx512_bf16": (a71, 5), "avx_vnni_int8": (d71, 4),
    }
    return {name for name, (reg, bit) in bits.items() if reg >> bit & 1}


@lru_cache(maxsize=1)
def cpu() -> dict:
    """arch, x86_64_level (x86-64), features (sorted), and where the features came from."""
    a = arch()
    if a == "x86_64":
        feats = _cpuid_x86()
        source = "cpuid"
        if feats is None:
            feats = (_numpy_features() | _cpuinfo_flags()) & set(X86_FEATURES)
            source = "numpy+cpuinfo"
        # A feature the OS does not enable (XSAVE state) is unusable: NumPy checks that for
        # the AVX families, so drop those it reports off (numpy's table is CPUID + XGETBV).
        np_feats = _numpy_features()
        if np_feats:
            for f in ("avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512dq",
                      "avx512vl", "avx512cd", "avx512vnni", "avx512vbmi"):
                if f in feats and f not in np_feats:
                    feats.discard(f)
        feats &= set(X86_FEATURES)
        out = {"arch": a, "x86_64_level": x86_64_level(feats), "features": sorted(feats),
               "features_from": source}
    elif a == "aarch64":
        feats = (_numpy_features() | _cpuinfo_flags()) & set(ARM_FEATURES)
        out = {"arch": a, "features": sorted(feats), "features_from": "numpy+cpuinfo"}
    else:
        out = {"arch": a, "features": sorted(_cpuinfo_flags()), "features_from": "cpuinfo"}
    return out


def x86_64_level(features) -> str:
    f = set(features)
    if not {"sse4_2", "ssse3", "popcnt"} <= f:
        return "v1"
    if not {"avx2", "fma", "f16c", "avx"} <= f:
        return "v2"
    if not {"avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"} <= f:
        return "v3"
    return "v4"


@lru_cache(maxsize=None)
def runtime_version(runtime: str) -> str | None:
    """The installed version of a runtime's distribution, or None when it is not installed.

    The module's own `__version__` first (the runtime is imported to run anyway; importing
    importlib.metadata alone costs ~20 ms), then the package metadata."""
    mod = {"litert": "ai_edge_litert", "tflite_runtime": "tflite_runtime",
           "numpy": "numpy"}.get(runtime)
    if mod:
        try:
            v = getattr(__import__(mod), "__version__", None)
            if v:
                return str(v)
        except ImportError:
            return None
    try:
        from importlib.metadata import PackageNotFoundError, version
        return version(DISTRIBUTIONS.get(runtime, runtime))
    except Exception:  # not installed, or no metadata (a --target install)
        return None


def fingerprint(runtime: str, kernels: str, threads: int) -> dict:
    """The fingerprint of one configuration in this process's environment."""
    c = cpu()
    fp = {"runtime": DISTRIBUTIONS.get(runtime, runtime),
          "runtime_version": runtime_version(runtime), "kernels": kernels, "arch": c["arch"]}
    if "x86_64_level" in c:
        fp["x86_64_level"] = c["x86_64_level"]
    fp["features"] = list(c["features"])
    if kernels in THREAD_SENSITIVE_KERNELS:
        fp["threads"] = int(threads)
    return fp


DECISIVE = ("runtime", "runtime_version", "kernels", "arch", "x86_64_level", "features",
            "threads")


def key(fp: dict) -> str:
    """A short stable name for a fingerprint (the probe cache's file name)."""
    canon = json.dumps({k: fp.get(k) for k in DECISIVE}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canon.encode()).hexdigest()[:16]


def covers(recorded: dict | None, current: dict) -> bool:
    """True when an evidence row recorded in `recorded` speaks for `current`: every field that
    decides the arithmetic is equal (features as a set: the same code paths are available)."""
    if not recorded:
        return False
    for k in DECISIVE:
        a, b = recorded.get(k), current.get(k)
        if k == "features":
            a, b = set(a or ()), set(b or ())
        if a != b:
            return False
    return True


def main(argv: list[str]) -> int:
    runtime, kernels, threads = (argv + ["litert", "xnnpack", "1"])[:3]
    fp = fingerprint(runtime, kernels, int(threads))
    fp["features_from"] = cpu()["features_from"]
    target = os.environ.get("MLVC_EMU_TARGET")
    if target:
        fp["emulation_target"] = target
    print(json.dumps(fp, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
