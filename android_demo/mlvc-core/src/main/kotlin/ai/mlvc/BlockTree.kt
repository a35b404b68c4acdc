package ai.mlvc

/**
 * The fixed fields of a block-tree inter payload (modes 4 and 5, docs/bitstream.md §4c), as read
 * and checked by [BlockTreeCodec.parseHeader].
 */
class BlockTreeHeader(
    /** 4 = block tree, prediction only; 5 = block tree + residual. */
    val mode: Int,
    /** CDF table index (< T) of every vector-difference component. */
    val mvTable: Int,
    /** Frequency of split = 0 at depth 0, 1, 2 (node sizes 64, 32, 16); each 1..65535. */
    val fSplit: IntArray,
    /** Frequency of merge = 0. */
    val fMerge: Int,
    /** Frequency of merge index = 0. */
    val fMergeIndex: Int,
    /** Frequency of skip = 0 (read in mode 5 only). */
    val fSkip: Int,
    /** Deblocking strength tc, 0 (off) .. 31. */
    val deblock: Int,
    /** Byte length S of the block substream. */
    val blockLength: Int,
) {
    /** Whether a residual payload follows the block substream (mode 5). */
    val hasResidual: Boolean get() = mode == InterCodec.MODE_BLOCK_TREE_RESIDUAL
}

/**
 * One prediction block (PB) of the quadtree: top-left pixel ([y], [x]) in picture coordinates,
 * [size] 64, 32, 16 or 8 (it may extend past the picture's right or bottom edge), vector
 * ([dy], [dx]) in quarter pixels, whether it was merged (and with which candidate) and whether its
 * residual is skipped.
 */
class PredictionBlock(
    val y: Int,
    val x: Int,
    val size: Int,
    val dy: Int,
    val dx: Int,
    val merge: Boolean,
    /** Index into the merge candidates when [merge] (0 or 1), else −1. */
    val mergeIndex: Int,
    /** 1 = prediction only (always in mode 4); 0 = prediction + residual. */
    val skip: Boolean,
) {
    override fun toString() = "PB(y=$y, x=$x, ${size}x$size, mv=($dy, $dx)${if (merge) ", merge $mergeIndex" else ""}${if (skip) ", skip" else ""})"
}

/**
 * The decoded block tree of an H × W picture: its [blocks] in decoding order (CTUs in raster
 * order, each quadtree depth first) and, for every 8 × 8 unit of the grid from the picture's
 * top-left (`ceil(H/8)` rows of `ceil(W/8)`), the index in [blocks] of the PB covering it.
 */
class BlockTree(
    val header: BlockTreeHeader,
    val height: Int,
    val width: Int,
    val blocks: List<PredictionBlock>,
    /** unitRows × unitCols, row-major: index into [blocks]. */
    val unitBlock: IntArray,
    /** Symbols the block substream carried (N of §5). */
    val symbols: Long,
) {
    val unitRows: Int get() = (height + UNIT - 1) / UNIT
    val unitCols: Int get() = (width + UNIT - 1) / UNIT

    /** The PB containing pixel (y, x) of the picture. */
    fun blockAt(y: Int, x: Int): PredictionBlock = blocks[unitBlock[(y / UNIT) * unitCols + x / UNIT]]

    /** The vector field on the 8 × 8 units: unitRows × unitCols × 2, (dy, dx) in quarter pixels. */
    fun unitMotion(): IntArray {
        val out = IntArray(2 * unitBlock.size)
        for (u in unitBlock.indices) {
            val b = blocks[unitBlock[u]]
            out[2 * u] = b.dy
            out[2 * u + 1] = b.dx
        }
        return out
    }

    companion object {
        /** The grid of the unit map and of the deblocking edges. */
        const val UNIT = 8
    }
}

/**
 * Block-tree inter decoding (docs/bitstream.md §4c): the 19-byte header, the quadtree syntax read
 * from one incremental rANS substream ([RansReader]), quarter-pixel 8-tap prediction, the per-PB
 * skip of the residual and the in-loop deblocking filter. [InterCodec] dispatches modes 4 and 5
 * here. Every stream violation is [ErrorKind.CORRUPT_STREAM].
 */
object BlockTreeCodec {
    /**
     * Header bytes: u8 mode, u8 mv_table, u16 f_split[3], u16 f_merge, u16 f_midx, u16 f_skip,
     * u8 deblock, u32 S (the fields of §4c, in this order).
     */
    const val HEAD = 19
    const val CTU = 64
    const val MIN_BLOCK = 8
    const val MAX_DEBLOCK = 31
    const val MV_MIN = -2048
    const val MV_MAX = 2047

    /** HEVC's quarter-pixel luma filters c[phase][tap] (§4c); each row sums to 64. */
    val FILTERS: Array<IntArray> = arrayOf(
        intArrayOf(0, 0, 0, 64, 0, 0, 0, 0),
        intArrayOf(-1, 4, -10, 58, 17, -5, 1, 0),
        intArrayOf(-1, 4, -11, 40, 40, -11, 4, -1),
        intArrayOf(0, 1, -5, 17, 58, -10, 4, -1),
    )

    /**
     * Read and check the header of the payload data[offset until offset+length] (the mode byte
     * must be 4 or 5; callers dispatch on it): a table ≥ [numTables], a frequency of 0, deblock
     * above 31 or a block substream longer than the payload is corrupt.
     */
    fun parseHeader(data: ByteArray, offset: Int, length: Int, numTables: Int): BlockTreeHeader {
        if (length < HEAD) corrupt("block-tree inter payload truncated ($length of $HEAD header bytes)")
        val mode = LE.u8(data, offset)
        if (mode != InterCodec.MODE_BLOCK_TREE && mode != InterCodec.MODE_BLOCK_TREE_RESIDUAL) corrupt("unknown inter mode $mode")
        val t = LE.u8(data, offset + 1)
        if (t >= numTables) corrupt("motion table $t does not exist ($numTables tables)")
        val fSplit = IntArray(3) { LE.u16(data, offset + 2 + 2 * it) }
        val fMerge = LE.u16(data, offset + 8)
        val fMidx = LE.u16(data, offset + 10)
        val fSkip = LE.u16(data, offset + 12)
        for ((name, f) in listOf("f_split[0]" to fSplit[0], "f_split[1]" to fSplit[1], "f_split[2]" to fSplit[2],
                "f_merge" to fMerge, "f_midx" to fMidx, "f_skip" to fSkip)) {
            if (f == 0) corrupt("block-tree inter payload: frequency $name is 0")
        }
        val tc = LE.u8(data, offset + 14)
        if (tc > MAX_DEBLOCK) corrupt("block-tree inter payload: deblocking strength $tc above $MAX_DEBLOCK")
        val s = LE.u32(data, offset + 15)
        if (s > length - HEAD.toLong()) corrupt("block-tree inter payload: block substream longer than the payload")
        return BlockTreeHeader(mode, t, fSplit, fMerge, fMidx, fSkip, tc, s.toInt())
    }

    /**
     * The block syntax of §4c from the block substream data[offset until offset+header.blockLength]
     * of an H × W picture, with the end checks of §5. A vector component outside −2048..2047, a
     * substream that ends early or does not end in the §5 end state is corrupt.
     */
    fun parseBlocks(header: BlockTreeHeader, data: ByteArray, offset: Int, h: Int, w: Int, cdf: CdfTables): BlockTree {
        val ur = (h + MIN_BLOCK - 1) / MIN_BLOCK
        val uc = (w + MIN_BLOCK - 1) / MIN_BLOCK
        // Per PB at most 4 symbols (merge, two vector components, skip), per node one split flag.
        val bound = 8L * ur * uc + 16
        val rd = RansReader(data, offset, header.blockLength, cdf, bound)
        val unit = IntArray(ur * uc) { -1 }
        val blocks = ArrayList<PredictionBlock>()
        val t = header.mvTable
        val residual = header.hasResidual

        fun unitAt(y: Int, x: Int): Int {
            val b = unit[(y / MIN_BLOCK) * uc + x / MIN_BLOCK]
            check(b >= 0) { "neighbour PB at ($y, $x) not decoded yet" }   // cannot happen (§4c order)
            return b
        }

        fun predictionBlock(y0: Int, x0: Int, size: Int) {
            val a = if (x0 > 0) blocks[unitAt(y0, x0 - 1)] else null
            val b = if (y0 > 0 && x0 + size - 1 < w) blocks[unitAt(y0 - 1, x0 + size - 1)] else null
            val d = if (y0 > 0 && x0 > 0) blocks[unitAt(y0 - 1, x0 - 1)] else null
            // Merge candidates: A, B, (0, 0), the available ones not already listed, first two.
            val cy = IntArray(2)
            val cx = IntArray(2)
            var n = 0
            fun add(vy: Int, vx: Int) {
                if (n == 2) return
                for (i in 0 until n) if (cy[i] == vy && cx[i] == vx) return
                cy[n] = vy; cx[n] = vx; n++
            }
            if (a != null) add(a.dy, a.dx)
            if (b != null) add(b.dy, b.dx)
            add(0, 0)
            val merge = rd.bit(header.fMerge) == 1
            val dy: Int
            val dx: Int
            var idx = -1
            if (merge) {
                idx = if (n == 2) rd.bit(header.fMergeIndex) else 0
                dy = cy[idx]
                dx = cx[idx]
            } else {
                val py = median3(a?.dy ?: 0, b?.dy ?: 0, d?.dy ?: 0)
                val px = median3(a?.dx ?: 0, b?.dx ?: 0, d?.dx ?: 0)
                dy = py + rd.nextSigned(t)
                dx = px + rd.nextSigned(t)
            }
            val skip = if (residual) rd.bit(header.fSkip) == 1 else true
            if (dy !in MV_MIN..MV_MAX || dx !in MV_MIN..MV_MAX) {
                corrupt("block-tree PB at ($y0, $x0): vector ($dy, $dx) outside $MV_MIN..$MV_MAX")
            }
            val id = blocks.size
            blocks += PredictionBlock(y0, x0, size, dy, dx, merge, idx, skip)
            for (uy in y0 / MIN_BLOCK until minOf((y0 + size) / MIN_BLOCK, ur)) {
                for (ux in x0 / MIN_BLOCK until minOf((x0 + size) / MIN_BLOCK, uc)) unit[uy * uc + ux] = id
            }
        }

        fun node(y0: Int, x0: Int, size: Int, depth: Int) {
            if (y0 >= h || x0 >= w) return
            val split = size > MIN_BLOCK && rd.bit(header.fSplit[depth]) == 1
            if (split) {
                val s = size / 2
                node(y0, x0, s, depth + 1); node(y0, x0 + s, s, depth + 1)
                node(y0 + s, x0, s, depth + 1); node(y0 + s, x0 + s, s, depth + 1)
            } else {
                predictionBlock(y0, x0, size)
            }
        }

        for (cy in 0 until (h + CTU - 1) / CTU) for (cx in 0 until (w + CTU - 1) / CTU) node(cy * CTU, cx * CTU, CTU, 0)
        rd.finish()
        return BlockTree(header, h, w, blocks, unit, rd.count)
    }

    /** Component median of three: max(min(a, b), min(max(a, b), c)). */
    fun median3(a: Int, b: Int, c: Int): Int = maxOf(minOf(a, b), minOf(maxOf(a, b), c))

    /**
     * The prediction of §4c: every pixel of every PB inside the picture, from [ref] (H × W × 3,
     * the previous decoded picture), per channel. With iy = dy >> 2, fy = dy & 3 (and ix, fx):
     * h[k] = Σ_j c[fx][j]·R(y+iy+k−3, x+ix+j−3), pred = clamp((Σ_k c[fy][k]·h[k] + 2048) >> 12, 0, 255),
     * R with clamped coordinates. Exact Int arithmetic (|h| < 2^15, |sum| < 2^22); coordinates
     * cannot overflow for any Int vector (|dy >> 2| < 2^29).
     */
    fun predict(ref: ByteArray, h: Int, w: Int, blocks: List<PredictionBlock>): ByteArray {
        require(ref.size == h * w * 3) { "reference picture has ${ref.size} bytes, expected ${h * w * 3}" }
        val out = ByteArray(h * w * 3)
        val scratch = Scratch()
        for (b in blocks) predictBlock(ref, h, w, b.y, b.x, b.size, b.size, b.dy, b.dx, out, scratch)
        return out
    }

    /** Work arrays of [predictBlock], reused across the blocks of a picture. */
    class Scratch {
        internal var tmp = IntArray(0)
        internal var col = IntArray(0)
    }

    /**
     * Predict the bh × bw block at (y0, x0) (its part inside the picture) with vector (dy, dx) in
     * quarter pixels into [out] (H × W × 3).
     *
     * The same integers as the formula, computed separably: h[k] rows first (8 taps along x on
     * the clamped source rows), then 8 taps down. A phase 0 filter is 64·δ, so with fx = 0,
     * `(Σ c[fy][k]·64·R_k + 2048) >> 12 = (Σ c[fy][k]·R_k + 32) >> 6`, and with fy = 0 the
     * result is `(h[3] + 32) >> 6`: those cases skip the identity pass.
     */
    fun predictBlock(ref: ByteArray, h: Int, w: Int, y0: Int, x0: Int, bh: Int, bw: Int, dy: Int, dx: Int, out: ByteArray,
                     scratch: Scratch = Scratch()) {
        val y1 = minOf(y0 + bh, h)
        val x1 = minOf(x0 + bw, w)
        if (y0 >= y1 || x0 >= x1) return
        val nh = y1 - y0
        val nw = x1 - x0
        val iy = dy shr 2
        val ix = dx shr 2
        val fy = dy and 3
        val fx = dx and 3
        val stride = w * 3
        if (fy == 0 && fx == 0) {   // c[0]·c[0] = 64·64 = 4096: the whole-pixel copy
            val xs = x0 + ix
            val direct = xs >= 0 && x1 - 1 + ix <= w - 1
            for (y in y0 until y1) {
                val src = clampi(y + iy, h) * stride
                val d = y * stride + 3 * x0
                if (direct) {
                    System.arraycopy(ref, src + 3 * xs, out, d, 3 * nw)
                } else {
                    var o = d
                    for (x in x0 until x1) {
                        val s = src + 3 * clampi(x + ix, w)
                        out[o] = ref[s]; out[o + 1] = ref[s + 1]; out[o + 2] = ref[s + 2]
                        o += 3
                    }
                }
            }
            return
        }
        val n3 = nw * 3
        // Taps x0+ix−3 .. x1−1+ix+4: read directly when no column clamps, else through col[].
        val xs = x0 + ix - 3
        val direct = xs >= 0 && x1 - 1 + ix + 4 <= w - 1
        if (!direct) {
            if (scratch.col.size < nw + 7) scratch.col = IntArray(nw + 7)
            for (j in 0 until nw + 7) scratch.col[j] = 3 * clampi(xs + j, w)
        }
        val rows = if (fy == 0) nh else nh + 7
        if (scratch.tmp.size < rows * n3) scratch.tmp = IntArray(rows * n3)
        val tmp = scratch.tmp
        val col = scratch.col
        // Rows y0+iy−3 .. y1−1+iy+4 (fy ≠ 0), or y0+iy .. y1−1+iy (fy = 0: only h[3] is needed).
        val r0 = if (fy == 0) y0 + iy else y0 + iy - 3
        for (r in 0 until rows) {
            val src = clampi(r0 + r, h) * stride
            val o = r * n3
            if (fx == 0) {
                if (direct) {
                    val s = src + 3 * (xs + 3)
                    for (i in 0 until n3) tmp[o + i] = ref[s + i].toInt() and 0xFF
                } else {
                    for (x in 0 until nw) {
                        val s = src + col[x + 3]
                        tmp[o + 3 * x] = ref[s].toInt() and 0xFF
                        tmp[o + 3 * x + 1] = ref[s + 1].toInt() and 0xFF
                        tmp[o + 3 * x + 2] = ref[s + 2].toInt() and 0xFF
                    }
                }
            } else {
                horizontal(ref, src, FILTERS[fx], direct, xs, col, nw, tmp, o)
            }
        }
        if (fy == 0) {   // fx ≠ 0: (h[3] + 32) >> 6
            for (y in 0 until nh) {
                val d = (y0 + y) * stride + 3 * x0
                val o = y * n3
                for (i in 0 until n3) out[d + i] = clamp255((tmp[o + i] + 32) shr 6)
            }
            return
        }
        val c = FILTERS[fy]
        val c0 = c[0]; val c1 = c[1]; val c2 = c[2]; val c3 = c[3]; val c4 = c[4]; val c5 = c[5]; val c6 = c[6]; val c7 = c[7]
        val round = if (fx == 0) 32 else 2048
        val shift = if (fx == 0) 6 else 12
        for (y in 0 until nh) {
            val d = (y0 + y) * stride + 3 * x0
            var o = y * n3
            for (i in 0 until n3) {
                val s = c0 * tmp[o] + c1 * tmp[o + n3] + c2 * tmp[o + 2 * n3] + c3 * tmp[o + 3 * n3] +
                    c4 * tmp[o + 4 * n3] + c5 * tmp[o + 5 * n3] + c6 * tmp[o + 6 * n3] + c7 * tmp[o + 7 * n3]
                out[d + i] = clamp255((s + round) shr shift)
                o++
            }
        }
    }

    /** h = Σ_j c[j]·R(row, x + j) for the nw × 3 samples of one source row, into tmp[o ..]. */
    private fun horizontal(ref: ByteArray, src: Int, c: IntArray, direct: Boolean, xs: Int, col: IntArray, nw: Int, tmp: IntArray, o: Int) {
        val c0 = c[0]; val c1 = c[1]; val c2 = c[2]; val c3 = c[3]; val c4 = c[4]; val c5 = c[5]; val c6 = c[6]; val c7 = c[7]
        if (direct) {   // sample i of the row (3·x + ch) has its taps at +0, +3, …, +21
            var s = src + 3 * xs
            for (i in 0 until 3 * nw) {
                tmp[o + i] = c0 * (ref[s].toInt() and 0xFF) + c1 * (ref[s + 3].toInt() and 0xFF) +
                    c2 * (ref[s + 6].toInt() and 0xFF) + c3 * (ref[s + 9].toInt() and 0xFF) +
                    c4 * (ref[s + 12].toInt() and 0xFF) + c5 * (ref[s + 15].toInt() and 0xFF) +
                    c6 * (ref[s + 18].toInt() and 0xFF) + c7 * (ref[s + 21].toInt() and 0xFF)
                s++
            }
            return
        }
        for (x in 0 until nw) {
            for (ch in 0..2) {
                val b = src + ch
                tmp[o + 3 * x + ch] = c0 * (ref[b + col[x]].toInt() and 0xFF) + c1 * (ref[b + col[x + 1]].toInt() and 0xFF) +
                    c2 * (ref[b + col[x + 2]].toInt() and 0xFF) + c3 * (ref[b + col[x + 3]].toInt() and 0xFF) +
                    c4 * (ref[b + col[x + 4]].toInt() and 0xFF) + c5 * (ref[b + col[x + 5]].toInt() and 0xFF) +
                    c6 * (ref[b + col[x + 6]].toInt() and 0xFF) + c7 * (ref[b + col[x + 7]].toInt() and 0xFF)
            }
        }
    }

    private fun clamp255(v: Int): Byte = (if (v < 0) 0 else if (v > 255) 255 else v).toByte()

    private fun clampi(v: Int, n: Int): Int = if (v < 0) 0 else if (v >= n) n - 1 else v

    /**
     * Mode 5's reconstruction in place: `pred = clamp(pred + r, 0, 255)` in the PBs with skip = 0
     * ([residual]: the int8 H × W × 3 residual); PBs with skip = 1 keep the prediction.
     */
    fun addResidual(pred: ByteArray, residual: ByteArray, tree: BlockTree) {
        val h = tree.height
        val w = tree.width
        require(pred.size == h * w * 3 && residual.size == pred.size) { "addResidual: inconsistent sizes" }
        for (b in tree.blocks) {
            if (b.skip) continue
            for (y in b.y until minOf(b.y + b.size, h)) {
                val from = (y * w + b.x) * 3
                val to = (y * w + minOf(b.x + b.size, w)) * 3
                for (i in from until to) pred[i] = ((pred[i].toInt() and 0xFF) + residual[i]).coerceIn(0, 255).toByte()
            }
        }
    }

    /**
     * Whether the edge between 8 × 8 units [u] and [v] (indices of [BlockTree.unitBlock]) is
     * filtered: different PBs whose vectors differ by 4 (one pixel) or more in a component, or
     * whose skip flags differ.
     */
    fun filteredEdge(tree: BlockTree, u: Int, v: Int): Boolean {
        val i = tree.unitBlock[u]
        val j = tree.unitBlock[v]
        if (i == j) return false
        val a = tree.blocks[i]
        val b = tree.blocks[j]
        return Math.abs(a.dy - b.dy) >= 4 || Math.abs(a.dx - b.dx) >= 4 || a.skip != b.skip
    }

    /**
     * The in-loop deblocking of §4c on [rec] (H × W × 3) in place, with strength [tc] (0: none):
     * pass 1 the vertical edges x = 8, 16, … < W, pass 2 the horizontal ones on pass 1's result,
     * per channel. Filtering in place is the same as reading the picture as it was before each
     * pass: the lines of a pass write p0, q0 and read p1..q1, and no line reads another's writes.
     */
    fun deblock(rec: ByteArray, tree: BlockTree, tc: Int = tree.header.deblock) {
        if (tc == 0) return
        val h = tree.height
        val w = tree.width
        require(rec.size == h * w * 3) { "deblock: picture has ${rec.size} bytes, expected ${h * w * 3}" }
        val uc = tree.unitCols
        val ur = tree.unitRows
        val alpha = 4 * tc
        val beta = 2 * tc
        val stride = w * 3
        val unit = tree.unitBlock
        val n = tree.blocks.size
        val vy = IntArray(n) { tree.blocks[it].dy }
        val vx = IntArray(n) { tree.blocks[it].dx }
        val sk = BooleanArray(n) { tree.blocks[it].skip }
        fun filtered(u: Int, v: Int): Boolean {
            val i = unit[u]
            val j = unit[v]
            return i != j && (Math.abs(vy[i] - vy[j]) >= 4 || Math.abs(vx[i] - vx[j]) >= 4 || sk[i] != sk[j])
        }
        // Pass 1: vertical edges; p1, p0 | q0, q1 along a row.
        for (ux in 1 until uc) {
            val x = ux * BlockTree.UNIT
            val xq1 = minOf(x + 1, w - 1)
            for (uy in 0 until ur) {
                if (!filtered(uy * uc + ux - 1, uy * uc + ux)) continue
                for (y in uy * BlockTree.UNIT until minOf((uy + 1) * BlockTree.UNIT, h)) {
                    val row = y * stride
                    for (ch in 0..2) filterLine(rec, row + 3 * (x - 2) + ch, row + 3 * (x - 1) + ch, row + 3 * x + ch, row + 3 * xq1 + ch, tc, alpha, beta)
                }
            }
        }
        // Pass 2: horizontal edges on pass 1's result; p1, p0 | q0, q1 down a column.
        for (uy in 1 until ur) {
            val y = uy * BlockTree.UNIT
            val yq1 = minOf(y + 1, h - 1)
            for (ux in 0 until uc) {
                if (!filtered((uy - 1) * uc + ux, uy * uc + ux)) continue
                for (x in ux * BlockTree.UNIT until minOf((ux + 1) * BlockTree.UNIT, w)) {
                    for (ch in 0..2) {
                        val c = 3 * x + ch
                        filterLine(rec, (y - 2) * stride + c, (y - 1) * stride + c, y * stride + c, yq1 * stride + c, tc, alpha, beta)
                    }
                }
            }
        }
    }

    private fun filterLine(rec: ByteArray, ip1: Int, ip0: Int, iq0: Int, iq1: Int, tc: Int, alpha: Int, beta: Int) {
        val p1 = rec[ip1].toInt() and 0xFF
        val p0 = rec[ip0].toInt() and 0xFF
        val q0 = rec[iq0].toInt() and 0xFF
        val q1 = rec[iq1].toInt() and 0xFF
        if (Math.abs(p0 - q0) >= alpha || Math.abs(p1 - p0) >= beta || Math.abs(q1 - q0) >= beta) return
        val d = (((q0 - p0) * 4 + (p1 - q1) + 4) shr 3).coerceIn(-tc, tc)
        rec[ip0] = (p0 + d).coerceIn(0, 255).toByte()
        rec[iq0] = (q0 - d).coerceIn(0, 255).toByte()
    }
}
