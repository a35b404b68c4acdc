package ai.mlvc

/**
 * What an inter frame's payload decided (docs/bitstream.md §4b, §4c), exposed for conformance
 * tests: the mode, the motion-vector table and the decoded motion field.
 */
class MotionTrace(
    /**
     * The mode byte, 0..5. Modes 0..3 (§4b): bit 0 ([InterCodec.RESIDUAL_BIT]) residual present,
     * else skip; bit 1 ([InterCodec.HALF_PEL_BIT]) vectors in half pixels, else whole pixels.
     * Modes 4, 5 (§4c): the block tree, prediction only / with a residual.
     */
    val mode: Int,
    /** CDF table index of every motion-vector symbol (of every vector-difference component in modes 4, 5). */
    val mvTable: Int,
    /** Block rows: ceil(H / 16) in modes 0..3; in modes 4, 5 the rows of 8 × 8 units, ceil(H / 8). */
    val blocksY: Int,
    /** Block columns: ceil(W / 16) in modes 0..3; in modes 4, 5 ceil(W / 8). */
    val blocksX: Int,
    /**
     * Decoded vectors (not deltas), BY × BX × 2, row-major, (dy, dx) per block; in half pixels
     * when [halfPel], in quarter pixels when [isBlockTree] (the vector of the PB covering each
     * 8 × 8 unit), else in whole pixels.
     */
    val motion: IntArray,
    /** Modes 4, 5: the decoded quadtree (header, PBs with merge and skip flags); null in modes 0..3. */
    val blockTree: BlockTree? = null,
) {
    /** Whether a coded residual followed the motion substream (mode bit 0; modes 1, 3, 5). */
    val hasResidual: Boolean get() = (mode and InterCodec.RESIDUAL_BIT) != 0
    /** Whether [motion] is in half pixels (mode bit 1; modes 2, 3). */
    val halfPel: Boolean get() = mode < InterCodec.MODE_BLOCK_TREE && (mode and InterCodec.HALF_PEL_BIT) != 0
    /** Whether the frame uses the block tree of §4c (modes 4, 5; [motion] in quarter pixels). */
    val isBlockTree: Boolean get() = mode == InterCodec.MODE_BLOCK_TREE || mode == InterCodec.MODE_BLOCK_TREE_RESIDUAL
}

/** Result of decoding one inter payload: the H × W × 3 picture, its motion, its residual's trace. */
class InterResult(
    val rgb: ByteArray,
    val motionTrace: MotionTrace,
    /** Parse trace of the residual (modes 1, 3, 5); null for a frame without one (modes 0, 2, 4). */
    val residualTrace: ParseTrace?,
)

/**
 * Inter (P) frame decoding (docs/bitstream.md §4b): motion substream → vectors → block-wise
 * compensation from the previous decoded picture, plus, when the mode's [RESIDUAL_BIT] is set, a
 * residual coded as an intra payload (decoded by [residual] without the +128). By default
 * [residual] uses the package's residual networks when it has them, else the intra ones.
 *
 * The mode byte is a bit field: bit 0 ([RESIDUAL_BIT]) residual present, else skip (prediction
 * only, nothing may follow the motion substream); bit 1 ([HALF_PEL_BIT]) vectors in half pixels
 * (integer bilinear average of the four clamped neighbours), else whole pixels (integer copy with
 * clamped coordinates). Modes 4 ([MODE_BLOCK_TREE]) and 5 ([MODE_BLOCK_TREE_RESIDUAL]) are the
 * block tree of §4c ([BlockTreeCodec]: quadtree of prediction blocks, quarter-pixel 8-tap
 * prediction, merge, per-block skip, deblocking). Modes 0..5 are valid; any other value is a
 * corrupt stream.
 */
class InterCodec(
    intra: IntraCodec,
    /** Decodes the residual payloads: the package's [ModelPackage.residualSet]. */
    val residual: IntraCodec = intra.withNetworks(intra.pkg.residualSet),
) {
    private val tables = intra.pkg.tables

    /**
     * Decode the P payload data[offset until offset+length] of an H × W picture predicted from
     * [ref] (the previous decoded picture, H × W × 3, not modified). Throws
     * [ErrorKind.CORRUPT_STREAM] for a mode other than 0..5, a motion table that does not exist,
     * a bad motion substream, a skip frame (mode 0, 2 or 4) with bytes after the motion / block
     * substream, a bad residual payload, and in modes 4, 5 for a frequency of 0, a deblocking
     * strength above 31, a vector component outside −2048..2047 or a bad block substream.
     */
    fun decode(data: ByteArray, offset: Int, length: Int, ref: ByteArray, h: Int, w: Int, quality: Int): InterResult {
        require(ref.size == h * w * 3) { "reference picture has ${ref.size} bytes, expected ${h * w * 3}" }
        if (length < 1) corrupt("inter payload truncated")
        val mode = LE.u8(data, offset)
        if (mode == MODE_BLOCK_TREE || mode == MODE_BLOCK_TREE_RESIDUAL) return decodeBlockTree(data, offset, length, ref, h, w, quality)
        if (length < HEAD) corrupt("inter payload truncated")
        val t = LE.u8(data, offset + 1)
        val mvLen = LE.u32(data, offset + 2)
        if ((mode and MODE_BITS.inv()) != 0) corrupt("unknown inter mode $mode")
        if (t >= tables.numTables) corrupt("motion table $t does not exist (${tables.numTables} tables)")
        if (mvLen > length - HEAD.toLong()) corrupt("inter payload: motion substream longer than the payload")
        val ml = mvLen.toInt()

        // Motion-vector deltas, all with table t, block-row-major, (dy, dx) per block.
        val by = (h + BLOCK - 1) / BLOCK
        val bx = (w + BLOCK - 1) / BLOCK
        val k = Rans.decode(data, offset + HEAD, ml, IntArray(2 * by * bx) { t }, tables)
        val mv = motionFromDeltas(k, tables.radius[t], by, bx)
        val trace = MotionTrace(mode, t, by, bx, mv)

        val pred = compensate(ref, h, w, mv, halfPel = (mode and HALF_PEL_BIT) != 0)
        val restOffset = offset + HEAD + ml
        val restLength = length - HEAD - ml
        if ((mode and RESIDUAL_BIT) == 0) {
            if (restLength != 0) corrupt("skip frame carries $restLength residual bytes")
            return InterResult(pred, trace, null)
        }
        val res = residual.decodeSigned(data, restOffset, restLength, h, w, quality)
        val r = res.signal
        for (i in pred.indices) {
            pred[i] = ((pred[i].toInt() and 0xFF) + r[i]).coerceIn(0, 255).toByte()
        }
        return InterResult(pred, trace, res.trace)
    }

    /** Modes 4 and 5 (docs/bitstream.md §4c). */
    private fun decodeBlockTree(data: ByteArray, offset: Int, length: Int, ref: ByteArray, h: Int, w: Int, quality: Int): InterResult {
        val hd = BlockTreeCodec.parseHeader(data, offset, length, tables.numTables)
        val restOffset = offset + BlockTreeCodec.HEAD + hd.blockLength
        val restLength = length - BlockTreeCodec.HEAD - hd.blockLength
        if (!hd.hasResidual && restLength != 0) corrupt("block-tree skip frame (mode 4) carries $restLength bytes after the block substream")
        val tree = BlockTreeCodec.parseBlocks(hd, data, offset + BlockTreeCodec.HEAD, h, w, tables)
        val trace = MotionTrace(hd.mode, hd.mvTable, tree.unitRows, tree.unitCols, tree.unitMotion(), tree)
        val rec = BlockTreeCodec.predict(ref, h, w, tree.blocks)
        var resTrace: ParseTrace? = null
        if (hd.hasResidual) {
            val res = residual.decodeSigned(data, restOffset, restLength, h, w, quality)
            BlockTreeCodec.addResidual(rec, res.signal, tree)
            resTrace = res.trace
        }
        BlockTreeCodec.deblock(rec, tree)
        return InterResult(rec, trace, resTrace)
    }

    companion object {
        /** Block size of the motion field. */
        const val BLOCK = 16
        /** Mode bit 0: a coded residual follows the motion substream (else skip). */
        const val RESIDUAL_BIT = 1
        /** Mode bit 1: vectors are in half pixels (bilinear interpolation), else whole pixels. */
        const val HALF_PEL_BIT = 2
        /** Every bit a valid mode may have set: modes 0..3. */
        private const val MODE_BITS = RESIDUAL_BIT or HALF_PEL_BIT
        /** Prediction only, whole pixels (mode 0). */
        const val MODE_SKIP = 0
        /** Prediction + coded residual, whole pixels (mode 1). */
        const val MODE_RESIDUAL = RESIDUAL_BIT
        /** Prediction only, half pixels (mode 2). */
        const val MODE_HALF_PEL_SKIP = HALF_PEL_BIT
        /** Prediction + coded residual, half pixels (mode 3). */
        const val MODE_HALF_PEL_RESIDUAL = HALF_PEL_BIT or RESIDUAL_BIT
        /** Block tree, prediction only (mode 4, §4c). */
        const val MODE_BLOCK_TREE = 4
        /** Block tree + coded residual in the PBs without skip (mode 5, §4c). */
        const val MODE_BLOCK_TREE_RESIDUAL = 5
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
         * Block-wise prediction of an H × W × 3 picture from [ref], (dy, dx) the vector of the
         * 16 × 16 block holding (y, x); [mv] is BY × BX × 2.
         *
         * Whole pixels ([halfPel] false): pred[y, x] = ref[clamp(y + dy, 0, H−1), clamp(x + dx, 0, W−1)].
         *
         * Half pixels ([halfPel] true): with iy = dy >> 1, fy = dy & 1, ix = dx >> 1, fx = dx & 1
         * (floor and fy, fx ∈ {0, 1} also for negative vectors), A = ref[y+iy, x+ix],
         * B = ref[y+iy, x+ix+1], C = ref[y+iy+1, x+ix], D = ref[y+iy+1, x+ix+1] (coordinates
         * clamped as above), pred = (A(2−fy)(2−fx) + B(2−fy)fx + C·fy(2−fx) + D·fy·fx + 2) >> 2.
         * Even vectors give exactly the whole-pixel copy of (dy/2, dx/2).
         *
         * Per channel R, G, B. Coordinates are computed in Long, so the vectors of a hostile stream
         * (any Int) cannot overflow them.
         */
        fun compensate(ref: ByteArray, h: Int, w: Int, mv: IntArray, halfPel: Boolean = false): ByteArray {
            val by = (h + BLOCK - 1) / BLOCK
            val bx = (w + BLOCK - 1) / BLOCK
            require(ref.size == h * w * 3 && mv.size == 2 * by * bx) { "compensate: inconsistent sizes" }
            val out = ByteArray(h * w * 3)
            // Byte offsets (3·clamped column) of A/C and of B/D for the block's columns (half-pel).
            val colA = IntArray(BLOCK)
            val colB = IntArray(BLOCK)
            for (i in 0 until by) {
                for (j in 0 until bx) {
                    val vy = mv[2 * (i * bx + j)]
                    val vx = mv[2 * (i * bx + j) + 1]
                    if (!halfPel) {
                        copyBlock(ref, out, h, w, i, j, vy.toLong(), vx.toLong())
                        continue
                    }
                    val iy = (vy shr 1).toLong()
                    val ix = (vx shr 1).toLong()
                    val fy = vy and 1
                    val fx = vx and 1
                    if (fy == 0 && fx == 0) {
                        copyBlock(ref, out, h, w, i, j, iy, ix)
                        continue
                    }
                    val wA = (2 - fy) * (2 - fx)
                    val wB = (2 - fy) * fx
                    val wC = fy * (2 - fx)
                    val wD = fy * fx
                    val x0 = j * BLOCK
                    val x1 = minOf(x0 + BLOCK, w)
                    for (x in x0 until x1) {
                        colA[x - x0] = 3 * (x + ix).coerceIn(0L, w - 1L).toInt()
                        colB[x - x0] = 3 * (x + ix + 1).coerceIn(0L, w - 1L).toInt()
                    }
                    for (y in i * BLOCK until minOf((i + 1) * BLOCK, h)) {
                        val rowA = (y + iy).coerceIn(0L, h - 1L).toInt() * w * 3
                        val rowC = (y + iy + 1).coerceIn(0L, h - 1L).toInt() * w * 3
                        var d = (y * w + x0) * 3
                        for (k in 0 until x1 - x0) {
                            val a = rowA + colA[k]
                            val b = rowA + colB!![k]
                            val c = rowC + colA[k]
                            val e = rowC + colB[k]
                            for (ch in 0..2) {
                                out[d + ch] = ((wA * (ref[a + ch].toInt() and 0xFF) + wB * (ref[b + ch].toInt() and 0xFF) +
                                    wC * (ref[c + ch].toInt() and 0xFF) + wD * (ref[e + ch].toInt() and 0xFF) + 2) shr 2).toByte()
                            }
                            d += 3
                        }
                    }
                }
            }
            return out
        }

        /** Whole-pixel copy of block (i, j) displaced by (dy, dx), coordinates clamped. */
        private fun copyBlock(ref: ByteArray, out: ByteArray, h: Int, w: Int, i: Int, j: Int, dy: Long, dx: Long) {
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
}
