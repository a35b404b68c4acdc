package ai.mlvc

/** An int8 tensor: NHWC [shape], row-major [data] (channel fastest). */
class Int8Tensor(val shape: IntArray, val data: ByteArray) {
    init {
        require(shape.all { it >= 0 }) { "negative dimension in ${shape.contentToString()}" }
        require(shape.fold(1L) { a, b -> a * b } == data.size.toLong()) {
            "tensor of shape ${shape.contentToString()} needs ${shape.fold(1L) { a, b -> a * b }} " +
                "bytes, got ${data.size}"
        }
    }

    val size: Int get() = data.size

    override fun toString(): String = "Int8Tensor${shape.contentToString()}"
}

/**
 * Runs the decoder's networks. Roles and tensor names (docs/bitstream.md §4):
 *  - `h_s`: input `z` (1 × PH/64 × PW/64 × Nz) → outputs `mu`, `sigma_index` (1 × PH/16 × PW/16 × M)
 *  - `g_s`: input `y_hat` (1 × PH/16 × PW/16 × M) → output `image` (1 × PH × PW × 3)
 *  - `res_h_s`, `res_g_s` (§4b, only for a package with residual networks,
 *    [ModelPackage.residualNetworks]): the same tensors, for P-frame residuals
 *
 * h_s and res_h_s decide symbols: they must run on an exact backend (bit-identical to the NumPy
 * reference), or the stream cannot be parsed. g_s and res_g_s may be approximate: report that
 * through [isExact] (or let [Probe] find out) and the decoder recovers mismatching pictures through
 * its reference runner, or marks them unverified without one, instead of failing.
 *
 * On Android, `LiteRtNetworkRunner` (app module) implements this with LiteRT's CPU/XNNPACK
 * interpreter; the JVM tests use recorded outputs.
 */
interface NetworkRunner : AutoCloseable {
    /** Run network [role] on [input]; returns the named outputs. */
    fun run(role: String, input: Int8Tensor): Map<String, Int8Tensor>

    /** Whether [role] runs bit-identically to the reference (default: yes). */
    fun isExact(role: String): Boolean = true

    /**
     * What decides this runner's arithmetic (runtime and version, delegate, threads, device /
     * CPU): the key of the startup probe's cache ([Probe.cached]). Default: the class name.
     */
    val environment: String get() = javaClass.name

    override fun close() {}
}
