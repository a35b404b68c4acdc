package ai.mlvc

import java.io.ByteArrayOutputStream
import java.util.Random

/**
 * Literal transcriptions of docs/bitstream.md §4c, written independently of [BlockTreeCodec]
 * (no unit map, no separable buffers, Long arithmetic and floorDiv / floorMod instead of shifts):
 * the prediction per pixel and the two deblocking passes with a copy of the picture per pass;
 * and a test encoder of the block syntax ([encode]) that derives candidates and predictors from
 * the PB list by its own search.
 */
object BlockTreeSpec {
    val C = arrayOf(
        longArrayOf(0, 0, 0, 64, 0, 0, 0, 0),
        longArrayOf(-1, 4, -10, 58, 17, -5, 1, 0),
        longArrayOf(-1, 4, -11, 40, 40, -11, 4, -1),
        longArrayOf(0, 1, -5, 17, 58, -10, 4, -1),
    )

    /** The PB containing pixel (y, x), by a search of the list (null: none). */
    fun pbAt(blocks: List<PredictionBlock>, y: Int, x: Int): PredictionBlock? =
        blocks.firstOrNull { y >= it.y && y < it.y + it.size && x >= it.x && x < it.x + it.size }

    /** (Σ_k c[fy][k]·h[k] + 2048) >> 12 for pixel (y, x), channel [ch], before the clamp. */
    fun unclamped(ref: ByteArray, h: Int, w: Int, y: Int, x: Int, dy0: Int, dx0: Int, ch: Int): Long {
        fun r(u: Long, v: Long): Long {
            val cu = minOf(maxOf(u, 0L), h - 1L).toInt()
            val cv = minOf(maxOf(v, 0L), w - 1L).toInt()
            return ref[(cu * w + cv) * 3 + ch].toLong() and 0xFF
        }
        val dy = dy0.toLong()
        val dx = dx0.toLong()
        val iy = Math.floorDiv(dy, 4L)
        val fy = Math.floorMod(dy, 4L).toInt()
        val ix = Math.floorDiv(dx, 4L)
        val fx = Math.floorMod(dx, 4L).toInt()
        var sum = 0L
        for (k in 0..7) {
            var hk = 0L
            for (j in 0..7) hk += C[fx][j] * r(y + iy + k - 3, x + ix + j - 3)
            check(Math.abs(hk) < (1L shl 15))
            sum += C[fy][k] * hk
        }
        return Math.floorDiv(sum + 2048, 4096L)
    }

    /** §4c prediction, pixel by pixel, channel by channel. */
    fun predict(ref: ByteArray, h: Int, w: Int, blocks: List<PredictionBlock>): ByteArray {
        val out = ByteArray(h * w * 3)
        for (y in 0 until h) for (x in 0 until w) {
            val b = pbAt(blocks, y, x) ?: error("pixel ($y, $x) in no PB")
            for (ch in 0 until 3) {
                val p = unclamped(ref, h, w, y, x, b.dy, b.dx, ch)
                out[(y * w + x) * 3 + ch] = minOf(maxOf(p, 0L), 255L).toInt().toByte()
            }
        }
        return out
    }

    /** Mode 5 reconstruction: pred where the PB skips, clamp(pred + r) elsewhere. */
    fun reconstruct(pred: ByteArray, residual: ByteArray, h: Int, w: Int, blocks: List<PredictionBlock>): ByteArray {
        val out = pred.copyOf()
        for (y in 0 until h) for (x in 0 until w) {
            if (pbAt(blocks, y, x)!!.skip) continue
            for (ch in 0 until 3) {
                val i = (y * w + x) * 3 + ch
                out[i] = minOf(maxOf((pred[i].toInt() and 0xFF) + residual[i], 0), 255).toByte()
            }
        }
        return out
    }

    private fun filtered(a: PredictionBlock, b: PredictionBlock): Boolean =
        a !== b && (Math.abs(a.dy.toLong() - b.dy) >= 4 || Math.abs(a.dx.toLong() - b.dx) >= 4 || a.skip != b.skip)

    /** §4c deblocking: pass 1 (vertical edges) then pass 2 (horizontal), each reading a copy. */
    fun deblock(rec: ByteArray, h: Int, w: Int, blocks: List<PredictionBlock>, tc: Int): ByteArray {
        if (tc == 0) return rec.copyOf()
        val alpha = 4 * tc
        val beta = 2 * tc
        fun line(src: ByteArray, dst: ByteArray, ip1: Int, ip0: Int, iq0: Int, iq1: Int) {
            val p1 = src[ip1].toInt() and 0xFF
            val p0 = src[ip0].toInt() and 0xFF
            val q0 = src[iq0].toInt() and 0xFF
            val q1 = src[iq1].toInt() and 0xFF
            if (Math.abs(p0 - q0) < alpha && Math.abs(p1 - p0) < beta && Math.abs(q1 - q0) < beta) {
                val d = minOf(maxOf(Math.floorDiv((q0 - p0) * 4 + (p1 - q1) + 4, 8), -tc), tc)
                dst[ip0] = minOf(maxOf(p0 + d, 0), 255).toByte()
                dst[iq0] = minOf(maxOf(q0 - d, 0), 255).toByte()
            }
        }
        fun idx(y: Int, x: Int, ch: Int) = (y * w + x) * 3 + ch
        val before1 = rec.copyOf()
        val pass1 = rec.copyOf()
        var x = 8
        while (x < w) {
            for (y in 0 until h) {
                if (!filtered(pbAt(blocks, y, x - 1)!!, pbAt(blocks, y, x)!!)) continue
                for (ch in 0 until 3) line(before1, pass1, idx(y, x - 2, ch), idx(y, x - 1, ch), idx(y, x, ch), idx(y, minOf(x + 1, w - 1), ch))
            }
            x += 8
        }
        val before2 = pass1.copyOf()
        val pass2 = pass1.copyOf()
        var y = 8
        while (y < h) {
            for (xx in 0 until w) {
                if (!filtered(pbAt(blocks, y - 1, xx)!!, pbAt(blocks, y, xx)!!)) continue
                for (ch in 0 until 3) line(before2, pass2, idx(y - 2, xx, ch), idx(y - 1, xx, ch), idx(y, xx, ch), idx(minOf(y + 1, h - 1), xx, ch))
            }
            y += 8
        }
        return pass2
    }

    /** Where the test encoder's decisions come from. */
    interface Chooser {
        fun split(y0: Int, x0: Int, size: Int, depth: Int): Boolean
        /**
         * The decision for a PB: merge with candidate [Decision.mergeIndex] of [cands] (1 or 2 of
         * them), or a vector difference (ddy, ddx) from the predictor [mvp]; and skip (mode 5).
         */
        fun block(y0: Int, x0: Int, size: Int, cands: List<Pair<Int, Int>>, mvp: Pair<Int, Int>): Decision
    }

    class Decision(val merge: Boolean, val mergeIndex: Int = 0, val ddy: Int = 0, val ddx: Int = 0, val skip: Boolean = true)

    class Encoded(val payload: ByteArray, val blocks: List<PredictionBlock>, val syms: List<RansFreqEncoder.Sym>, val blockSubstream: ByteArray) {
        val symbols: Int get() = syms.size
    }

    /**
     * Encode the §4c block syntax of an H × W picture as [chooser] decides, with the header
     * fields given; [rest] follows the block substream (mode 5: a residual payload). Vectors are
     * not range-checked (hostile tests want the out-of-range ones); vector differences are
     * written as table indices d + radius (must be in 0..2·radius).
     */
    fun encode(h: Int, w: Int, mode: Int, mvTable: Int, fSplit: IntArray, fMerge: Int, fMidx: Int, fSkip: Int,
               deblock: Int, cdf: CdfTables, chooser: Chooser, rest: ByteArray = ByteArray(0), lanes: Int? = null): Encoded {
        val syms = ArrayList<RansFreqEncoder.Sym>()
        val blocks = ArrayList<PredictionBlock>()
        val radius = cdf.radius[mvTable]
        // Which PB covers each 8 × 8 unit (so that large fuzz pictures encode quickly).
        val uc = (w + 7) / 8
        val owner = IntArray(((h + 7) / 8) * uc) { -1 }
        fun avail(y: Int, x: Int): PredictionBlock? = if (y in 0 until h && x in 0 until w) blocks[owner[(y / 8) * uc + x / 8]] else null
        fun pb(y0: Int, x0: Int, size: Int) {
            val a = avail(y0, x0 - 1)
            val b = avail(y0 - 1, x0 + size - 1)
            val d = avail(y0 - 1, x0 - 1)
            val cands = ArrayList<Pair<Int, Int>>()
            for (c in listOfNotNull(a, b).map { it.dy to it.dx } + listOf(0 to 0)) if (c !in cands && cands.size < 2) cands += c
            fun med(u: Int, v: Int, s: Int) = listOf(u, v, s).sorted()[1]
            val mvp = med(a?.dy ?: 0, b?.dy ?: 0, d?.dy ?: 0) to med(a?.dx ?: 0, b?.dx ?: 0, d?.dx ?: 0)
            val dec = chooser.block(y0, x0, size, cands, mvp)
            syms += RansFreqEncoder.binary(fMerge, if (dec.merge) 1 else 0)
            val mv: Pair<Int, Int>
            if (dec.merge) {
                if (cands.size == 2) syms += RansFreqEncoder.binary(fMidx, dec.mergeIndex)
                mv = cands[if (cands.size == 2) dec.mergeIndex else 0]
            } else {
                require(dec.ddy in -radius..radius && dec.ddx in -radius..radius)
                syms += RansFreqEncoder.table(cdf, mvTable, dec.ddy + radius)
                syms += RansFreqEncoder.table(cdf, mvTable, dec.ddx + radius)
                mv = (mvp.first + dec.ddy) to (mvp.second + dec.ddx)
            }
            val skip = if (mode == 5) dec.skip.also { syms += RansFreqEncoder.binary(fSkip, if (it) 1 else 0) } else true
            for (y in y0 until minOf(y0 + size, h) step 8) for (x in x0 until minOf(x0 + size, w) step 8) owner[(y / 8) * uc + x / 8] = blocks.size
            blocks += PredictionBlock(y0, x0, size, mv.first, mv.second, dec.merge,
                if (dec.merge) (if (cands.size == 2) dec.mergeIndex else 0) else -1, skip)
        }
        fun node(y0: Int, x0: Int, size: Int, depth: Int) {
            if (y0 >= h || x0 >= w) return
            var split = false
            if (size > 8) {
                split = chooser.split(y0, x0, size, depth)
                syms += RansFreqEncoder.binary(fSplit[depth], if (split) 1 else 0)
            }
            if (split) {
                val s = size / 2
                node(y0, x0, s, depth + 1); node(y0, x0 + s, s, depth + 1)
                node(y0 + s, x0, s, depth + 1); node(y0 + s, x0 + s, s, depth + 1)
            } else pb(y0, x0, size)
        }
        for (cy in 0 until (h + 63) / 64) for (cx in 0 until (w + 63) / 64) node(64 * cy, 64 * cx, 64, 0)
        val sub = RansFreqEncoder.encode(syms, lanes ?: RansEncoder.chooseLanes(syms.size))
        return Encoded(header(mode, mvTable, fSplit, fMerge, fMidx, fSkip, deblock, sub.size) + sub + rest, blocks, syms, sub)
    }

    /** The 19 header bytes of §4c. */
    fun header(mode: Int, mvTable: Int, fSplit: IntArray, fMerge: Int, fMidx: Int, fSkip: Int, deblock: Int, s: Int): ByteArray {
        val o = ByteArrayOutputStream()
        fun u16(v: Int) { o.write(v and 0xFF); o.write((v ushr 8) and 0xFF) }
        o.write(mode); o.write(mvTable)
        for (f in fSplit) u16(f)
        u16(fMerge); u16(fMidx); u16(fSkip)
        o.write(deblock)
        u16(s and 0xFFFF); u16(s ushr 16)
        return o.toByteArray()
    }

    /**
     * Random decisions: split with probability [pSplit], merge with [pMerge], vector differences
     * up to [maxDelta] (kept so that vectors stay in −2048..2047 unless [hostile]), skip with [pSkip].
     */
    class RandomChooser(private val rnd: Random, private val pSplit: Double = 0.5, private val pMerge: Double = 0.4,
                        private val maxDelta: Int = 40, private val pSkip: Double = 0.5,
                        private val hostile: Boolean = false) : Chooser {
        override fun split(y0: Int, x0: Int, size: Int, depth: Int) = rnd.nextDouble() < pSplit
        override fun block(y0: Int, x0: Int, size: Int, cands: List<Pair<Int, Int>>, mvp: Pair<Int, Int>): Decision {
            val skip = rnd.nextDouble() < pSkip
            if (rnd.nextDouble() < pMerge) return Decision(true, rnd.nextInt(cands.size), skip = skip)
            fun delta(p: Int): Int {
                if (hostile) return maxDelta
                val lo = maxOf(-maxDelta, -2048 - p)
                val hi = minOf(maxDelta, 2047 - p)
                return lo + rnd.nextInt(hi - lo + 1)
            }
            return Decision(false, ddy = delta(mvp.first), ddx = delta(mvp.second), skip = skip)
        }
    }
}
