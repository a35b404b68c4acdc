package ai.mlvc.demo

import ai.mlvc.ErrorKind
import ai.mlvc.Int8Tensor
import ai.mlvc.MlvcException
import ai.mlvc.NetworkRunner
import ai.mlvc.NetworkSet
import java.nio.ByteBuffer
import java.nio.ByteOrder
import org.tensorflow.lite.Interpreter

/**
 * [NetworkRunner] on LiteRT (`com.google.ai.edge.litert:litert`, `org.tensorflow.lite` API).
 *
 * Backends (docs/bitstream.md §4 and the conformance matrix):
 *  - CPU with XNNPACK (the default here): **exact**, the integer networks give the NumPy
 *    reference's bytes, so every picture hash verifies.
 *  - NNAPI / GPU delegates: **approximate**. Not wired in here; if a caller adds one for g_s
 *    (or res_g_s), set [gsExact] = false: the parse path (h_s / res_h_s, each on its own CPU
 *    interpreter) still decodes every symbol exactly, but pixels may drift; pass a CPU runner as
 *    the decoder's `reference` and a mismatching picture is decoded again on the CPU, which
 *    decodes the rest (`Decoder.switches`), or frames are reported `verified = false` without one.
 *    h_s and res_h_s must never run on an approximate delegate.
 *  - Exactness is claimed by name only until the startup probe ran in this environment
 *    ([environment]: LiteRT version, threads, device build, SoC, ABI): `Bundled.probed`.
 *
 * [models] maps roles to .tflite buffers: h_s, g_s, plus res_h_s, res_g_s for a package with
 * residual networks (P-frame residuals). One interpreter per role, resized when the picture size changes. Tensors are int8 NHWC;
 * outputs are returned by their tensor names (`mu`, `sigma_index`, `image`).
 */
class LiteRtNetworkRunner(
    models: Map<String, ByteBuffer>,
    numThreads: Int,
    private val gsExact: Boolean = true,
) : NetworkRunner {
    private val interpreters: Map<String, Interpreter> = models.mapValues { (role, model) ->
        val options = Interpreter.Options().apply {
            if (numThreads > 0) setNumThreads(numThreads)
            setUseXNNPACK(true)
        }
        try {
            Interpreter(model, options)
        } catch (e: Exception) {
            throw MlvcException(ErrorKind.BACKEND, "LiteRT cannot load $role: ${e.message}", e)
        }
    }
    private val shapes = HashMap<String, IntArray>()

    /** The startup probe's cache key: what decides this runner's arithmetic on this device. */
    override val environment: String = listOf(
        "litert-" + runCatching { org.tensorflow.lite.TensorFlowLite.runtimeVersion() }.getOrDefault("?"),
        if (gsExact) "cpu-xnnpack" else "gs-delegate",
        "threads=$numThreads",
        android.os.Build.FINGERPRINT,
        if (android.os.Build.VERSION.SDK_INT >= 31) android.os.Build.SOC_MODEL else android.os.Build.HARDWARE,
        android.os.Build.SUPPORTED_ABIS.firstOrNull() ?: "?",
    ).joinToString("/")

    override fun run(role: String, input: Int8Tensor): Map<String, Int8Tensor> {
        val interp = interpreters[role] ?: throw MlvcException(ErrorKind.MODEL, "no network for role $role")
        synchronized(interp) {
            if (!input.shape.contentEquals(shapes[role])) {
                interp.resizeInput(0, input.shape, /* strict = */ false)
                interp.allocateTensors()
                shapes[role] = input.shape.copyOf()
            }
            val inBuf = ByteBuffer.allocateDirect(input.size).order(ByteOrder.nativeOrder())
            inBuf.put(input.data).rewind()
            val outBufs = HashMap<Int, Any>()
            for (i in 0 until interp.outputTensorCount) {
                outBufs[i] = ByteBuffer.allocateDirect(interp.getOutputTensor(i).numBytes()).order(ByteOrder.nativeOrder())
            }
            interp.runForMultipleInputsOutputs(arrayOf<Any>(inBuf), outBufs)
            return (0 until interp.outputTensorCount).associate { i ->
                val t = interp.getOutputTensor(i)
                val buf = outBufs.getValue(i) as ByteBuffer
                buf.rewind()
                val bytes = ByteArray(buf.remaining()).also { buf.get(it) }
                t.name() to Int8Tensor(t.shape(), bytes)
            }
        }
    }

    /** [gsExact] covers both synthesis networks (g_s, res_g_s); the h_s roles are always exact. */
    override fun isExact(role: String): Boolean = role !in SYNTHESIS_ROLES || gsExact

    override fun close() {
        interpreters.values.forEach { it.close() }
    }

    private companion object {
        val SYNTHESIS_ROLES = NetworkSet.entries.map { it.gs }.toSet()
    }
}
