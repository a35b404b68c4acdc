package ai.mlvc

/** Everything the parse path decided for one frame (exposed for conformance tests). */
class ParseTrace(
    /** Hyper-latent z (int8, 1 × PH/64 × PW/64 × Nz), the h_s input. */
    val zHat: Int8Tensor,
    /** Per-latent-element table index t (flattened latent grid). */
    val tableIndex: IntArray,
    /** Per-latent-element signed symbol s = k − radius[t]. */
    val ySymbols: IntArray,
    /** Synthesis input y_hat (int8, 1 × PH/16 × PW/16 × M), the g_s input. */
    val yHat: Int8Tensor,
)

/** Result of decoding one intra payload: the cropped H × W × 3 picture plus its parse trace. */
class IntraResult(val rgb: ByteArray, val trace: ParseTrace)

/**
 * Result of decoding one signed picture (§4 steps 1–7 without the +128): the cropped H × W × 3
 * int8 signal (an intra frame's `pixel − 128`, or an inter frame's residual) plus its parse trace.
 */
class SignedResult(val signal: ByteArray, val trace: ParseTrace)

/**
 * Intra frame decoding (docs/bitstream.md §3–4): rANS → z → h_s → parse → y_hat → g_s → crop.
 * Only the two network calls leave this class, through [NetworkRunner].
 *
 * [networks] picks the hyperprior: [NetworkSet.INTRA] (h_s, g_s, `z_table_index`) for intra
 * frames, [NetworkSet.RESIDUAL] (res_h_s, res_g_s, `res_z_table_index`) for P-frame residuals of a
 * package with residual networks (INVALID_ARGUMENT for a package without them).
 */
class IntraCodec(val pkg: ModelPackage, private val runner: NetworkRunner, val networks: NetworkSet = NetworkSet.INTRA) {
    private val tables = pkg.tables
    private val zTableIndex = pkg.zTableIndexOf(networks)

    /** A codec of the same package and runner with the networks of [set] (this one if the same). */
    fun withNetworks(set: NetworkSet): IntraCodec = if (set == networks) this else IntraCodec(pkg, runner, set)

    fun paddedSize(h: Int, w: Int): IntArray {
        val a = pkg.alignment
        return intArrayOf((h + a - 1) / a * a, (w + a - 1) / a * a)
    }

    /** Shape of y_hat (h_s outputs, g_s input) for [networks]: its own latent channel count. */
    fun latentShape(h: Int, w: Int): IntArray {
        val (ph, pw) = paddedSize(h, w).let { it[0] to it[1] }
        return intArrayOf(1, ph / 16, pw / 16, pkg.latentChannelsOf(networks))
    }

    fun hyperShape(h: Int, w: Int): IntArray {
        val (ph, pw) = paddedSize(h, w).let { it[0] to it[1] }
        return intArrayOf(1, ph / 64, pw / 64, pkg.hyperChannels)
    }

    /** Decode an intra frame's payload to its H × W × 3 picture (pixel = image + 128). */
    fun decode(data: ByteArray, offset: Int, length: Int, h: Int, w: Int, quality: Int): IntraResult {
        val r = decodeSigned(data, offset, length, h, w, quality)
        val rgb = r.signal
        for (i in rgb.indices) rgb[i] = (rgb[i].toInt() xor 0x80).toByte() // + 128 mod 256
        return IntraResult(rgb, r.trace)
    }

    /**
     * Decode an intra payload (§3) data[offset until offset+length] to the cropped int8 output of
     * g_s (of this codec's [networks]): for an intra frame `pixel − 128`, for an inter frame's
     * residual (§4b) the residual.
     */
    fun decodeSigned(data: ByteArray, offset: Int, length: Int, h: Int, w: Int, quality: Int): SignedResult {
        val exp = pkg.exponent(quality) ?: invalidArgument("quality $quality not in this package")
        val d = exp - pkg.yExp
        val yShape = latentShape(h, w)
        val zShape = hyperShape(h, w)
        if (length < 4) corrupt("intra payload truncated")
        val zlen = LE.u32(data, offset)
        if (zlen > length - 4L) corrupt("intra payload: z substream longer than the payload")
        val zl = zlen.toInt()

        // Hyper-latent (§4.3).
        val nz = zShape.fold(1) { a, b -> a * b }
        val zt = IntArray(nz) { zTableIndex[it % pkg.hyperChannels] }
        val kz = Rans.decode(data, offset + 4, zl, zt, tables)
        val z = ByteArray(nz) { (kz[it] - tables.radius[zt[it]]).toByte() }
        val zHat = Int8Tensor(zShape, z)

        // h_s on an exact backend (§4.4).
        val hs = call(networks.hs, zHat, listOf("mu", "sigma_index"), yShape)
        val mu = hs.getValue("mu").data
        val sigma = hs.getValue("sigma_index").data

        // Integer mean and table index (§4.5).
        val ny = mu.size
        val kMul = pkg.tablesPerOctave * exp
        val tMax = tables.numTables - 1
        val half = if (d == 0) 0 else 1 shl (d - 1)
        val t = IntArray(ny) { (sigma[it] - kMul).coerceIn(0, tMax) }

        // Latent symbols and synthesis input (§4.6).
        val ky = Rans.decode(data, offset + 4 + zl, length - 4 - zl, t, tables)
        val sy = IntArray(ny) { ky[it] - tables.radius[t[it]] }
        val yHatBytes = ByteArray(ny)
        for (i in 0 until ny) {
            val muL = if (d == 0) mu[i].toInt() else (mu[i] + half) shr d
            yHatBytes[i] = ((muL + sy[i]) shl d).coerceIn(-128, 127).toByte()
        }
        val yHat = Int8Tensor(yShape, yHatBytes)

        // Synthesis and crop (§4.7).
        val (ph, pw) = paddedSize(h, w).let { it[0] to it[1] }
        val img = call(networks.gs, yHat, listOf("image"), intArrayOf(1, ph, pw, 3)).getValue("image").data
        val signal = ByteArray(h * w * 3)
        for (r in 0 until h) System.arraycopy(img, r * pw * 3, signal, r * w * 3, w * 3)
        return SignedResult(signal, ParseTrace(zHat, t, sy, yHat))
    }

    private fun call(role: String, input: Int8Tensor, outputs: List<String>, shape: IntArray): Map<String, Int8Tensor> {
        val out = try {
            runner.run(role, input)
        } catch (e: MlvcException) {
            throw e
        } catch (e: Exception) {
            throw MlvcException(ErrorKind.BACKEND, "network $role failed: ${e.message}", e)
        }
        for (name in outputs) {
            val o = out[name] ?: throw MlvcException(ErrorKind.MODEL, "network $role has no output '$name'")
            if (!o.shape.contentEquals(shape)) {
                throw MlvcException(ErrorKind.MODEL, "network $role output '$name' has shape ${o.shape.contentToString()}, expected ${shape.contentToString()}")
            }
        }
        return out
    }
}
