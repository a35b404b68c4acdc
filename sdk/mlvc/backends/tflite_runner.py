"""Run a `.tflite` with one of TFLite's kernel sets, through ai-edge-litert or tflite-runtime.

Imports nothing but NumPy at module load; the runtime is imported when a runner is created, so a
machine without LiteRT can still import the SDK and use the NumPy backend.
"""
from __future__ import annotations

import numpy as np

from ..errors import BackendError

KERNELS = ("xnnpack", "builtin", "reference")


def interpreter_module(runtime: str):
    """The Interpreter module of `runtime` ('litert' or 'tflite_runtime')."""
    try:
        if runtime == "litert":
            from ai_edge_litert import interpreter as mod
        elif runtime == "tflite_runtime":
            from tflite_runtime import interpreter as mod  # type: ignore
        else:
            raise BackendError(f"unknown runtime {runtime!r}")
    except ImportError as exc:
        pkg = "ai-edge-litert" if runtime == "litert" else "tflite-runtime"
        raise BackendError(f"runtime {runtime!r} is not installed (pip install {pkg})") from exc
    return mod


def available(runtime: str) -> bool:
    try:
        interpreter_module(runtime)
        return True
    except BackendError:
        return False


class TFLiteRunner:
    """One interpreter for one model; resized on demand to the input shapes it is given."""

    def __init__(self, model: bytes, *, runtime: str = "litert", kernels: str = "xnnpack",
                 threads: int = 1):
        if kernels not in KERNELS:
            raise BackendError(f"unknown kernel set {kernels!r}; expected one of {KERNELS}")
        mod = interpreter_module(runtime)
        resolver = {
            "xnnpack": mod.OpResolverType.AUTO,
            "builtin": mod.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
            "reference": mod.OpResolverType.BUILTIN_REF,
        }[kernels]
        self.kernels = kernels
        self._model = bytes(model)
        try:
            self._interp = mod.Interpreter(model_content=self._model, num_threads=threads,
                                           experimental_op_resolver_type=resolver)
        except Exception as exc:  # the runtime raises plain ValueError/RuntimeError
            raise BackendError(f"{runtime}/{kernels} cannot load the model: {exc}") from exc
        self._inputs = self._interp.get_input_details()
        self._outputs = self._interp.get_output_details()
        self._shapes: tuple | None = None

    @property
    def input_names(self) -> list[str]:
        return [d["name"] for d in self._inputs]

    def fully_delegated(self) -> bool:
        """True when delegates run every node: each delegate reads only model inputs and
        constants, and delegates produce every model output.  (An op left to the built-in
        kernels between two delegate partitions would make this False.)"""
        try:
            ops = self._interp._get_ops_details()  # noqa: SLF001 - diagnostic only
        except Exception:
            return False
        delegates = [o for o in ops if o.get("op_name") == "DELEGATE"]
        if not delegates:
            return False
        produced_outside = set()
        for o in ops:
            if o.get("op_name") != "DELEGATE":
                produced_outside.update(int(t) for t in o["outputs"])
        delegate_out = {int(t) for o in delegates for t in o["outputs"]}
        model_in = {d["index"] for d in self._inputs}
        model_out = {d["index"] for d in self._outputs}
        reads_inner = any(int(t) in produced_outside and int(t) not in model_in
                          for o in delegates for t in o["inputs"])
        # Node outputs of replaced nodes are 'produced_outside' too; only delegate inputs that
        # are not constants matter, and constants are never node outputs.
        return model_out <= delegate_out and not reads_inner

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        arrays = []
        for d in self._inputs:
            if d["name"] not in feeds:
                raise BackendError(f"missing input {d['name']!r}")
            arrays.append(np.ascontiguousarray(feeds[d["name"]], dtype=np.int8))
        shapes = tuple(a.shape for a in arrays)
        try:
            if shapes != self._shapes:
                for d, a in zip(self._inputs, arrays):
                    self._interp.resize_tensor_input(d["index"], list(a.shape), strict=False)
                self._interp.allocate_tensors()
                self._shapes = shapes
            for d, a in zip(self._inputs, arrays):
                self._interp.set_tensor(d["index"], a)
            self._interp.invoke()
            return {d["name"]: self._interp.get_tensor(d["index"]).copy() for d in self._outputs}
        except Exception as exc:
            raise BackendError(f"TFLite ({self.kernels}) failed: {exc}") from exc
