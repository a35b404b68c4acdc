package ai.mlvc

/**
 * What an inter frame's payload decided (docs/bitstream.md §4b), exposed for conformance tests:
 * the mode, the motion-vector table and the decoded motion field.
 */
class MotionTrace(
    /** [InterCodec.MODE_SKIP] or [InterCodec.MODE_RESIDUAL]. */
    val mode: Int,
    /** CDF table index of every motion-vector symbol. */
    val mvTable: Int,
    /** Block rows, ceil(H / 16). */
    val blocksY: Int,
    /** Block columns, ceil(W / 16). */
    val blocksX: Int,
    /** Decoded vectors (not deltas), BY × BX × 2, row-major, (dy, dx) per block. */
    val motion: IntArray,
)

/** Result of decoding one inter payload: the H × W × 3 picture, its motion, its residual's trace. */
class InterResult(
    val rgb: ByteArray,
    val motionTrace: MotionTrace,
    /** Parse trace of the residual (mode 1); null for a skip frame. */
    val residualTrace: ParseTrace?,
)

/**
 * Inter (P) frame decoding (docs/bitstream.md §4b): motion substream → vectors → block-wise
 * compensation from the previous decoded picture (integer copy with clamped coordinates), plus,
 * in mode 1, a residual coded as an intra payload (decoded by [intra] without the +128).
 */
class InterCodec(private val intra: IntraCodec) {
    private val tables = intra.pkg.tables

    /**
     * Decode the P payload data[offset until offset+length] of an H × W picture predicted from
     * [ref] (the previous decoded picture, H × W × 3, not modified).
     */
    fun decode(data: ByteArray, offset: Int, length: Int, ref: ByteArray, h: Int, w: Int, quality: Int): InterResult {
        require(ref.size == h * w * 3) { "reference picture has ${ref.size} bytes, expected ${h * w * 3}" }
        if (length < HEAD) corrupt("inter payload truncated")
        val mode = LE.u8(data, offset)
        val t = LE.u8(data, offset + 1)
        val mvLen = LE.u32(data, offset + 2)
        if (mode != MODE_SKIP && mode != MODE_RESIDUAL) corrupt("unknown inter mode $mode")
        if (t >= tables.numTables) corrupt("motion table $t does not exist (${tables.numTables} tables)")
        if (mvLen > length - HEAD.toLong()) corrupt("inter payload: motion substream longer than the payload")
        val ml = mvLen.toInt()

        // Motion-vector deltas, all with table t, block-row-major, (dy, dx) per block.
        val by = (h + BLOCK - 1) / BLOCK
        val bx = (w + BLOCK - 1) / BLOCK
        val k = Rans.decode(data, offset + HEAD, ml, IntArray(2 * by * bx) { t }, tables)
        val mv = motionFromDeltas(k, tables.radius[t], by, bx)
        val trace = MotionTrace(mode, t, by, bx, mv)

        val pred = compensate(ref, h, w, mv)
        val restOffset = offset + HEAD + ml
        val restLength = length - HEAD - ml
        if (mode == MODE_SKIP) {
            if (restLength != 0) corrupt("skip frame carries $restLength residual bytes")
            return InterResult(pred, trace, null)
        }
        val res = intra.decodeSigned(data, restOffset, restLength, h, w, quality)
        val r = res.signal
        for (i in pred.indices) {
            pred[i] = ((pred[i].toInt() and 0xFF) + r[i]).coerceIn(0, 255).toByte()
        }
        return InterResult(pred, trace, res.trace)
    }

    companion object {
        /** Block size of the motion field. */
        const val BLOCK = 16
        /** Prediction only. */
        const val MODE_SKIP = 0
        /** Prediction + coded residual. */
        const val MODE_RESIDUAL = 1
        /** u8 mode, u8 mv_table, u32 motion substream length. */
        private const val HEAD = 6

        /**
         * Vectors from table-local indices [k] (2·BY·BX, block-row-major, (dy, dx)): delta =
         * k − radius; mv = delta + pred, pred = left neighbour, or the block above for the first
         * column, or (0, 0) for the first block.
         */
        fun motionFromDeltas(k: IntArray, radius: Int, by: Int, bx: Int): IntArray {
            require(k.size == 2 * by * bx) { "need ${2 * by * bx} motion symbols, got ${k.size}" }
            val mv = IntArray(k.size)
            for (i in 0 until by) {
                for (j in 0 until bx) {
                    val o = 2 * (i * bx + j)
                    val p = when {
                        j > 0 -> o - 2
                        i > 0 -> o - 2 * bx
                        else -> -1
                    }
                    for (c in 0..1) mv[o + c] = (k[o + c] - radius) + (if (p < 0) 0 else mv[p + c])
                }
            }
            return mv
        }

        /**
         * Block-wise prediction: pred[y, x] = ref[clamp(y + dy, 0, H−1), clamp(x + dx, 0, W−1)]
         * (R, G, B), (dy, dx) the vector of the 16 × 16 block holding (y, x). [mv] is BY × BX × 2.
         */
        fun compensate(ref: ByteArray, h: Int, w: Int, mv: IntArray): ByteArray {
            val by = (h + BLOCK - 1) / BLOCK
            val bx = (w + BLOCK - 1) / BLOCK
            require(ref.size == h * w * 3 && mv.size == 2 * by * bx) { "compensate: inconsistent sizes" }
            val out = ByteArray(h * w * 3)
            for (i in 0 until by) {
                for (j in 0 until bx) {
                    // Long sums: vectors of a hostile stream cannot overflow the coordinates.
                    val dy = mv[2 * (i * bx + j)].toLong()
                    val dx = mv[2 * (i * bx + j) + 1].toLong()
                    val x0 = j * BLOCK
                    val x1 = minOf(x0 + BLOCK, w)
                    for (y in i * BLOCK until minOf((i + 1) * BLOCK, h)) {
                        val sy = (y + dy).coerceIn(0L, h - 1L).toInt()
                        val srcRow = sy * w * 3
                        val dstRow = y * w * 3
                        for (x in x0 until x1) {
                            val sx = (x + dx).coerceIn(0L, w - 1L).toInt()
                            val s = srcRow + 3 * sx
                            val d = dstRow + 3 * x
                            out[d] = ref[s]
                            out[d + 1] = ref[s + 1]
                            out[d + 2] = ref[s + 2]
                        }
                    }
                }
            }
            return out
        }
    }
}
