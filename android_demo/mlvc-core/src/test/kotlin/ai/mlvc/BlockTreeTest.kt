package ai.mlvc

import java.util.Random
import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNotNull
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Test

/**
 * The block-tree inter payload (docs/bitstream.md §4c, modes 4 and 5) against the literal
 * transcriptions of [BlockTreeSpec]: binary rANS symbols, the 8-tap prediction at all 16 phases
 * and across the picture edges, deblocking, the block syntax (round trips through the test
 * encoder), hostile payloads (each a CORRUPT_STREAM) and whole streams through [Decoder].
 */
class BlockTreeTest {
    private val cdf get() = Golden.pkg.tables
    private val sizes = listOf(1 to 1, 1 to 9, 9 to 1, 2 to 3, 7 to 5, 8 to 8, 9 to 17, 16 to 16, 23 to 41, 64 to 64, 65 to 70, 17 to 130)

    /** A random quadtree over an H × W picture (no syntax): PBs with vectors from [mv]. */
    private fun randomBlocks(h: Int, w: Int, rnd: Random, pSplit: Double = 0.5, skip: () -> Boolean = { true },
                             mv: (Int, Int) -> Pair<Int, Int>): List<PredictionBlock> {
        val out = ArrayList<PredictionBlock>()
        fun node(y0: Int, x0: Int, size: Int) {
            if (y0 >= h || x0 >= w) return
            if (size > 8 && rnd.nextDouble() < pSplit) {
                val s = size / 2
                node(y0, x0, s); node(y0, x0 + s, s); node(y0 + s, x0, s); node(y0 + s, x0 + s, s)
            } else {
                val (dy, dx) = mv(y0, x0)
                out += PredictionBlock(y0, x0, size, dy, dx, false, -1, skip())
            }
        }
        for (cy in 0 until (h + 63) / 64) for (cx in 0 until (w + 63) / 64) node(64 * cy, 64 * cx, 64)
        return out
    }

    private fun treeOf(h: Int, w: Int, blocks: List<PredictionBlock>, tc: Int = 0, mode: Int = 5): BlockTree {
        val uc = (w + 7) / 8
        val ur = (h + 7) / 8
        val unit = IntArray(ur * uc) { u -> blocks.indexOfFirst { b -> BlockTreeSpec.pbAt(listOf(b), (u / uc) * 8, (u % uc) * 8) != null } }
        assertTrue(unit.all { it >= 0 })
        return BlockTree(BlockTreeHeader(mode, 0, intArrayOf(1, 1, 1), 1, 1, 1, tc, 0), h, w, blocks, unit, 0)
    }

    private fun expectCorrupt(what: String, block: () -> Unit) {
        try {
            block(); fail("$what: expected corrupt_stream")
        } catch (e: MlvcException) {
            assertEquals("$what: ${e.message}", ErrorKind.CORRUPT_STREAM, e.kind)
        }
    }

    /** The §4c constants: modes 4 / 5, the 19-byte header, HEVC's filters (each sums to 64), the limits. */
    @Test
    fun constants() {
        assertEquals(4, InterCodec.MODE_BLOCK_TREE)
        assertEquals(5, InterCodec.MODE_BLOCK_TREE_RESIDUAL)
        assertEquals(1 + 1 + 3 * 2 + 2 + 2 + 2 + 1 + 4, BlockTreeCodec.HEAD)
        assertEquals(19, BlockTreeSpec.header(4, 0, intArrayOf(1, 1, 1), 1, 1, 1, 0, 0).size)
        for (ph in 0..3) {
            assertEquals(64, BlockTreeCodec.FILTERS[ph].sum())
            assertEquals(BlockTreeSpec.C[ph].toList(), BlockTreeCodec.FILTERS[ph].map { it.toLong() })
        }
        assertEquals(listOf(-2048, 2047, 31, 64, 8), listOf(BlockTreeCodec.MV_MIN, BlockTreeCodec.MV_MAX, BlockTreeCodec.MAX_DEBLOCK, BlockTreeCodec.CTU, BlockTreeCodec.MIN_BLOCK))
    }

    // --- rANS binary symbols -------------------------------------------------------------------

    /** Binary symbols of every frequency mixed with table symbols, on 1..many lanes. */
    @Test
    fun binarySymbolsRoundTrip() {
        val rnd = Random(3)
        for ((n, lanes) in listOf(1 to 1, 2 to 2, 50 to 1, 3000 to 3, 20000 to 19)) {
            val kinds = IntArray(n) { rnd.nextInt(3) }               // 0, 1: binary; 2: table
            val f = IntArray(n) { when (rnd.nextInt(4)) { 0 -> 1; 1 -> 65535; else -> 1 + rnd.nextInt(65535) } }
            val t = IntArray(n) { rnd.nextInt(cdf.numTables) }
            val v = IntArray(n) { i ->
                if (kinds[i] == 2) cdf.findSlot(t[i], rnd.nextInt(CdfTables.TOTAL)) else if (rnd.nextInt(CdfTables.TOTAL) < f[i]) 0 else 1
            }
            val syms = (0 until n).map { i -> if (kinds[i] == 2) RansFreqEncoder.table(cdf, t[i], v[i]) else RansFreqEncoder.binary(f[i], v[i]) }
            val b = RansFreqEncoder.encode(syms, lanes)
            val r = RansReader(b, 0, b.size, cdf)
            val got = IntArray(n) { i -> if (kinds[i] == 2) r.next(t[i]) else r.bit(f[i]) }
            r.finish()
            assertArrayEquals("n=$n lanes=$lanes", v, got)
            assertEquals(n.toLong(), r.count)
        }
    }

    /** The §4c formula by hand on one state: slot < f gives 0 with x = f·(x >> 16) + slot. */
    @Test
    fun binarySymbolFormula() {
        // One lane, state 0x0003_1234, f = 0x2000: slot 0x1234 < f → 0, x = 0x2000·3 + 0x1234 = 0x7234 < 2^16
        // → renormalise with the one word 0xBEEF: x = 0x7234BEEF. The end check then fails (not 2^16).
        val b = byteArrayOf(1, 0, 1, 0, 0, 0, 0x34, 0x12, 3, 0, 0xEF.toByte(), 0xBE.toByte())
        val r = RansReader(b, 0, b.size, cdf)
        assertEquals(0, r.bit(0x2000))
        expectCorrupt("end state") { r.finish() }
        // slot 0x3000 >= f = 0x2000 → 1, x = (65536 − f)·3 + 0x3000 − f = 0x61000 >= 2^16, no word.
        val b2 = byteArrayOf(1, 0, 0, 0, 0, 0, 0x00, 0x30, 3, 0)
        val r2 = RansReader(b2, 0, b2.size, cdf)
        assertEquals(1, r2.bit(0x2000))
        expectCorrupt("end state") { r2.finish() }
        // A symbol that lands exactly in the end state: x = 2^16 encodes 0 with f = 1 from x = 2^16.
        val ok = RansFreqEncoder.encode(listOf(RansFreqEncoder.binary(1, 0)), 1)
        val r3 = RansReader(ok, 0, ok.size, cdf)
        assertEquals(0, r3.bit(1))
        r3.finish()
        for (bad in intArrayOf(0, -1, 65536, 70000)) expectCorrupt("frequency $bad") { RansReader(ok, 0, ok.size, cdf).bit(bad) }
    }

    // --- prediction ------------------------------------------------------------------------------

    /** All 16 phases, integer parts that put the 8 taps across every edge, one vector per picture. */
    @Test
    fun predictionMatchesTheSpecAtAllPhasesAndEdges() {
        val rnd = Random(19)
        for ((h, w) in sizes) {
            if (h * w > 2000) continue
            val ref = ByteArray(h * w * 3).also { rnd.nextBytes(it) }
            val ints = listOf(-h - 5, -4, -1, 0, 2, h + 3).distinct()
            val intsX = listOf(-w - 5, -3, 0, 1, w + 4).distinct()
            for (fy in 0..3) for (fx in 0..3) for (iy in ints) for (ix in intsX) {
                val dy = 4 * iy + fy
                val dx = 4 * ix + fx
                val blocks = randomBlocks(h, w, rnd) { _, _ -> dy to dx }
                assertArrayEquals("${h}x$w mv ($dy, $dx)", BlockTreeSpec.predict(ref, h, w, blocks), BlockTreeCodec.predict(ref, h, w, blocks))
            }
        }
    }

    /** Random trees with random vectors (every phase, PBs past the right / bottom edges). */
    @Test
    fun predictionMatchesTheSpecOnRandomTrees() {
        val rnd = Random(23)
        for ((h, w) in sizes) for (rep in 0 until 3) {
            val ref = ByteArray(h * w * 3).also { rnd.nextBytes(it) }
            val range = listOf(3, 40, 4 * (h + w) + 40)[rep]
            val blocks = randomBlocks(h, w, rnd) { _, _ -> (rnd.nextInt(2 * range + 1) - range) to (rnd.nextInt(2 * range + 1) - range) }
            assertArrayEquals("${h}x$w range $range", BlockTreeSpec.predict(ref, h, w, blocks), BlockTreeCodec.predict(ref, h, w, blocks))
        }
        // The largest vectors of the syntax and, for the API, any Int.
        val h = 20
        val w = 24
        val ref = ByteArray(h * w * 3).also { rnd.nextBytes(it) }
        for ((dy, dx) in listOf(-2048 to 2047, 2047 to -2048, -2045 to 2046, Int.MIN_VALUE to Int.MAX_VALUE, Int.MAX_VALUE - 1 to Int.MIN_VALUE + 3)) {
            val blocks = randomBlocks(h, w, rnd) { _, _ -> dy to dx }
            assertArrayEquals("mv ($dy, $dx)", BlockTreeSpec.predict(ref, h, w, blocks), BlockTreeCodec.predict(ref, h, w, blocks))
        }
    }

    /** High-contrast references drive the sums below 0 and above 255·4096 (the clamp). */
    @Test
    fun predictionClampsOvershoot() {
        val h = 16
        val w = 16
        for (pattern in 0 until 3) {
            val ref = ByteArray(h * w * 3) { i ->
                val p = i / 3
                val y = p / w
                val x = p % w
                val on = when (pattern) { 0 -> (x / 2 + y / 2) % 2 == 0; 1 -> (x % 4 == 1 || x % 4 == 2) && (y % 4 == 1 || y % 4 == 2); else -> x >= 8 }
                if (on) 255.toByte() else 0
            }
            var low = false
            var high = false
            for (fy in 0..3) for (fx in 0..3) {
                val blocks = listOf(PredictionBlock(0, 0, 16, 4 + fy, 4 + fx, false, -1, true))
                assertArrayEquals("pattern $pattern phase ($fy, $fx)", BlockTreeSpec.predict(ref, h, w, blocks), BlockTreeCodec.predict(ref, h, w, blocks))
                for (y in 0 until h) for (x in 0 until w) {
                    val v = BlockTreeSpec.unclamped(ref, h, w, y, x, 4 + fy, 4 + fx, 0)
                    low = low || v < 0
                    high = high || v > 255
                }
            }
            assertTrue("pattern $pattern: sums below 0 ($low) and above 255 ($high)", low && high)
        }
    }

    /** Whole-pixel vectors (fy = fx = 0) copy: the §4b whole-pixel prediction of (dy/4, dx/4). */
    @Test
    fun wholePixelVectorsCopy() {
        val rnd = Random(29)
        for ((h, w) in sizes) {
            val ref = ByteArray(h * w * 3).also { rnd.nextBytes(it) }
            val dy = rnd.nextInt(41) - 20
            val dx = rnd.nextInt(41) - 20
            val blocks = randomBlocks(h, w, rnd) { _, _ -> 4 * dy to 4 * dx }
            val by = (h + 15) / 16
            val bx = (w + 15) / 16
            val mv = IntArray(2 * by * bx) { if (it % 2 == 0) dy else dx }
            assertArrayEquals("${h}x$w", InterCodec.compensate(ref, h, w, mv), BlockTreeCodec.predict(ref, h, w, blocks))
        }
    }

    // --- deblocking -------------------------------------------------------------------------------

    /** A smooth picture with small noise and block offsets, so that most lines pass the thresholds. */
    private fun smooth(h: Int, w: Int, rnd: Random, blocks: List<PredictionBlock>, step: Int): ByteArray {
        val off = blocks.associateWith { rnd.nextInt(2 * step + 1) - step }
        return ByteArray(h * w * 3) { i ->
            val p = i / 3
            val y = p / w
            val x = p % w
            val base = if (rnd.nextInt(50) == 0) rnd.nextInt(256) else 40 + (y + x) % 170 + off.getValue(BlockTreeSpec.pbAt(blocks, y, x)!!)
            (base + rnd.nextInt(5) - 2).coerceIn(0, 255).toByte()
        }
    }

    @Test
    fun deblockingMatchesTheSpec() {
        val rnd = Random(31)
        var changedPictures = 0
        for ((h, w) in sizes + listOf(33 to 9, 9 to 33, 130 to 17, 72 to 72)) for (tc in listOf(1, 2, 3, 7, 17, 31)) {
            val vectors = listOf(0, 1, 3, 4, 5, -4, 8, -9)
            val blocks = randomBlocks(h, w, rnd, skip = { rnd.nextBoolean() }) { _, _ -> vectors[rnd.nextInt(vectors.size)] to vectors[rnd.nextInt(vectors.size)] }
            val rec = smooth(h, w, rnd, blocks, 2 * tc)
            val want = BlockTreeSpec.deblock(rec, h, w, blocks, tc)
            val got = rec.copyOf()
            BlockTreeCodec.deblock(got, treeOf(h, w, blocks, tc))
            assertArrayEquals("${h}x$w tc $tc, ${blocks.size} PBs", want, got)
            if (!got.contentEquals(rec)) changedPictures++
        }
        assertTrue("the filter changed pictures: $changedPictures", changedPictures > 30)
    }

    /** Extremes: values at 0 and 255 (the clamps of p0 + d, q0 − d), tc = 31, and tc = 0 (off). */
    @Test
    fun deblockingExtremes() {
        val rnd = Random(37)
        for ((h, w) in listOf(16 to 16, 24 to 40, 10 to 10)) {
            val blocks = randomBlocks(h, w, rnd, pSplit = 1.0, skip = { rnd.nextBoolean() }) { _, _ -> 8 * rnd.nextInt(3) to 0 }
            for (tc in listOf(0, 1, 31)) {
                val rec = ByteArray(h * w * 3) { listOf(0, 1, 2, 30, 60, 253, 254, 255)[rnd.nextInt(8)].toByte() }
                val got = rec.copyOf()
                BlockTreeCodec.deblock(got, treeOf(h, w, blocks, tc))
                assertArrayEquals("${h}x$w tc $tc", BlockTreeSpec.deblock(rec, h, w, blocks, tc), got)
                if (tc == 0) assertArrayEquals(rec, got)
            }
        }
    }

    /** Edge rule: same PB, vectors within 3 quarter pixels and equal skip flags: not filtered. */
    @Test
    fun edgeRule() {
        val a = PredictionBlock(0, 0, 8, 0, 0, false, -1, true)
        fun edge(b: PredictionBlock) = BlockTreeCodec.filteredEdge(treeOf(8, 16, listOf(a, b)), 0, 1)
        assertFalse(edge(PredictionBlock(0, 8, 8, 3, -3, false, -1, true)))
        assertTrue(edge(PredictionBlock(0, 8, 8, 4, 0, false, -1, true)))
        assertTrue(edge(PredictionBlock(0, 8, 8, 0, -4, false, -1, true)))
        assertTrue(edge(PredictionBlock(0, 8, 8, 0, 0, false, -1, false)))
        val big = PredictionBlock(0, 0, 16, 0, 0, false, -1, true)
        assertFalse("one PB", BlockTreeCodec.filteredEdge(treeOf(8, 16, listOf(big)), 0, 1))
    }

    // --- block syntax ----------------------------------------------------------------------------

    private fun decodeTree(payload: ByteArray, h: Int, w: Int): BlockTree {
        val hd = BlockTreeCodec.parseHeader(payload, 0, payload.size, cdf.numTables)
        return BlockTreeCodec.parseBlocks(hd, payload, BlockTreeCodec.HEAD, h, w, cdf)
    }

    private fun assertSameBlocks(what: String, want: List<PredictionBlock>, got: List<PredictionBlock>) {
        assertEquals("$what: PB count", want.size, got.size)
        for ((a, b) in want.zip(got)) assertEquals(what, a.toString() + a.mergeIndex, b.toString() + b.mergeIndex)
    }

    /** The mv table with the largest radius (big vector differences). */
    private val wideTable: Int get() = (0 until cdf.numTables).maxByOrNull { cdf.radius[it] }!!

    @Test
    fun syntaxRoundTrips() {
        val rnd = Random(41)
        val t = wideTable
        for ((h, w) in sizes + listOf(128 to 128, 200 to 17, 100 to 37)) for (mode in 4..5) for (rep in 0 until 4) {
            val ch = BlockTreeSpec.RandomChooser(rnd, pSplit = listOf(0.0, 0.3, 0.7, 1.0)[rep], pMerge = listOf(0.0, 0.5, 0.9, 0.3)[rep],
                maxDelta = minOf(cdf.radius[t], listOf(2, 30, 255, 7)[rep]))
            val fs = IntArray(3) { 1 + rnd.nextInt(65535) }
            val enc = BlockTreeSpec.encode(h, w, mode, t, fs, 1 + rnd.nextInt(65535), 1 + rnd.nextInt(65535), 1 + rnd.nextInt(65535),
                rnd.nextInt(32), cdf, ch)
            val tree = decodeTree(enc.payload, h, w)
            val what = "${h}x$w mode $mode rep $rep"
            assertSameBlocks(what, enc.blocks, tree.blocks)
            assertEquals(what, enc.symbols.toLong(), tree.symbols)
            for (y in 0 until h step 3) for (x in 0 until w step 5) assertEquals(BlockTreeSpec.pbAt(enc.blocks, y, x).toString(), tree.blockAt(y, x).toString())
        }
    }

    /** Merge candidates and the median predictor by hand on a 16 × 16 picture of four 8 × 8 PBs. */
    @Test
    fun mergeAndMedianWorkedExample() {
        val decisions = ArrayDeque(listOf(
            BlockTreeSpec.Decision(false, ddy = 4, ddx = -8),   // PB0 (0, 0): no neighbours, mvp (0, 0) → (4, −8)
            BlockTreeSpec.Decision(true, 1),                    // PB1 (0, 8): cands [A (4, −8), (0, 0)] → (0, 0)
            BlockTreeSpec.Decision(true, 0),                    // PB2 (8, 0): cands [B (4, −8), (0, 0)] → (4, −8)
            BlockTreeSpec.Decision(false, ddy = 1, ddx = 2),    // PB3 (8, 8): median(A (4,−8), B (0,0), D (4,−8)) = (4, −8) → (5, −6)
        ))
        val seen = ArrayList<String>()
        val ch = object : BlockTreeSpec.Chooser {
            override fun split(y0: Int, x0: Int, size: Int, depth: Int) = true
            override fun block(y0: Int, x0: Int, size: Int, cands: List<Pair<Int, Int>>, mvp: Pair<Int, Int>): BlockTreeSpec.Decision {
                seen += "$cands $mvp"; return decisions.removeFirst()
            }
        }
        val enc = BlockTreeSpec.encode(16, 16, 4, wideTable, intArrayOf(100, 200, 300), 30000, 30000, 30000, 0, cdf, ch)
        assertEquals(listOf("[(0, 0)] (0, 0)", "[(4, -8), (0, 0)] (0, 0)", "[(4, -8), (0, 0)] (0, 0)", "[(4, -8), (0, 0)] (4, -8)"), seen)
        val tree = decodeTree(enc.payload, 16, 16)
        assertEquals(listOf(4 to -8, 0 to 0, 4 to -8, 5 to -6), tree.blocks.map { it.dy to it.dx })
        assertEquals(listOf(-1, 1, 0, -1), tree.blocks.map { it.mergeIndex })
        assertEquals(listOf(8, 8, 8, 8), tree.blocks.map { it.size })
        // Split flags of the 64, 32 and 16 nodes (the 64 and 32 nodes have one child inside this
        // 16 × 16 picture), then PB0: merge + 2 differences, PB1, PB2: merge + index, PB3: merge + 2.
        assertEquals(3L + 3 + 2 + 2 + 3, tree.symbols)
    }

    /** B is unavailable past the right edge; A left of the picture; D needs both. */
    @Test
    fun neighboursAtThePictureEdges() {
        // Thin pictures (one unit row or column), and pictures one pixel into the next CTU.
        val rnd = Random(43)
        for ((h, w) in listOf(8 to 20, 20 to 8, 72 to 70, 9 to 65)) {
            val enc = BlockTreeSpec.encode(h, w, 5, wideTable, intArrayOf(20000, 20000, 20000), 20000, 20000, 20000, 5, cdf,
                BlockTreeSpec.RandomChooser(rnd, pSplit = 0.8, pMerge = 0.5, maxDelta = 9))
            assertSameBlocks("${h}x$w", enc.blocks, decodeTree(enc.payload, h, w).blocks)
        }
    }

    // --- whole payloads through InterCodec --------------------------------------------------------

    private val inter: InterCodec by lazy { InterCodec(IntraCodec(Golden.pkg, FuzzNetworkRunner(Golden.pkg))) }

    @Test
    fun mode4PayloadMatchesTheSpec() {
        val rnd = Random(47)
        for ((h, w) in sizes + listOf(72 to 136)) for (tc in listOf(0, 4, 31)) {
            val ref = ByteArray(h * w * 3).also { rnd.nextBytes(it) }
            val enc = BlockTreeSpec.encode(h, w, 4, wideTable, intArrayOf(30000, 30000, 30000), 25000, 30000, 1, tc, cdf,
                BlockTreeSpec.RandomChooser(rnd, maxDelta = minOf(cdf.radius[wideTable], 4 * (h + w))))
            val r = inter.decode(enc.payload, 0, enc.payload.size, ref, h, w, Golden.pkg.levels.keys.first())
            val want = BlockTreeSpec.deblock(BlockTreeSpec.predict(ref, h, w, enc.blocks), h, w, enc.blocks, tc)
            assertArrayEquals("${h}x$w tc $tc", want, r.rgb)
            val m = r.motionTrace
            assertEquals(4, m.mode)
            assertTrue(m.isBlockTree)
            assertFalse(m.hasResidual)
            assertFalse(m.halfPel)
            assertEquals((h + 7) / 8, m.blocksY)
            assertEquals((w + 7) / 8, m.blocksX)
            assertNotNull(m.blockTree)
            assertEquals(tc, m.blockTree!!.header.deblock)
            for (y in 0 until h) for (x in 0 until w) {
                val u = (y / 8) * m.blocksX + x / 8
                val b = BlockTreeSpec.pbAt(enc.blocks, y, x)!!
                assertEquals(b.dy to b.dx, m.motion[2 * u] to m.motion[2 * u + 1])
            }
            assertEquals(null, r.residualTrace)
        }
    }

    // --- hostile payloads -----------------------------------------------------------------------

    private fun validMode4(h: Int, w: Int, seed: Long = 53): BlockTreeSpec.Encoded =
        BlockTreeSpec.encode(h, w, 4, wideTable, intArrayOf(30000, 30000, 30000), 30000, 30000, 30000, 3, cdf,
            BlockTreeSpec.RandomChooser(Random(seed), pSplit = 0.8, maxDelta = 9))

    private fun decode(p: ByteArray, h: Int, w: Int) {
        inter.decode(p, 0, p.size, ByteArray(h * w * 3), h, w, Golden.pkg.levels.keys.first())
    }

    @Test
    fun hostileHeaders() {
        val h = 40
        val w = 72
        val good = validMode4(h, w).payload
        decode(good, h, w)
        fun edited(f: (ByteArray) -> Unit) = good.copyOf().also(f)
        for ((i, name) in listOf(2 to "f_split[0]", 4 to "f_split[1]", 6 to "f_split[2]", 8 to "f_merge", 10 to "f_midx", 12 to "f_skip")) {
            expectCorrupt("$name = 0") { decode(edited { it[i] = 0; it[i + 1] = 0 }, h, w) }
        }
        for (tc in listOf(32, 100, 255)) expectCorrupt("deblock $tc") { decode(edited { it[14] = tc.toByte() }, h, w) }
        for (t in listOf(cdf.numTables, 255)) expectCorrupt("mv_table $t") { decode(edited { it[1] = t.toByte() }, h, w) }
        fun withS(s: Long) = edited { for (k in 0..3) it[15 + k] = (s ushr (8 * k)).toByte() }
        val s = good.size - BlockTreeCodec.HEAD
        expectCorrupt("S past the payload") { decode(withS(s + 1L), h, w) }
        expectCorrupt("S = 2^32 - 1") { decode(withS(0xFFFFFFFFL), h, w) }
        expectCorrupt("S = 2^31") { decode(withS(0x80000000L), h, w) }
        expectCorrupt("S short: substream trailing check") { decode(withS(s - 2L), h, w) }
        expectCorrupt("mode 4 with a trailing byte") { decode(good + byteArrayOf(0), h, w) }
        expectCorrupt("mode 4 with S − 1 and a byte after") { decode(withS(s - 1L), h, w) }
        for (n in listOf(0, 1, 2, 14, 18)) expectCorrupt("truncated to $n") { decode(good.copyOf(n), h, w) }
        expectCorrupt("truncated block substream") { decode(withS(s - 2L).copyOf(good.size - 2), h, w) }
        for (m in listOf(6, 7, 8, 128, 255)) expectCorrupt("mode $m") { decode(edited { it[0] = m.toByte() }, h, w) }
        // Frequencies 1 and 65535 are valid (a valid stream may hold them).
        val edge = BlockTreeSpec.encode(h, w, 4, wideTable, intArrayOf(1, 65535, 1), 65535, 1, 65535, 31, cdf,
            BlockTreeSpec.RandomChooser(Random(1), maxDelta = 3))
        decode(edge.payload, h, w)
    }

    @Test
    fun hostileBlockSubstreams() {
        val h = 40
        val w = 72
        val enc = validMode4(h, w)
        val head = enc.payload.copyOf(BlockTreeCodec.HEAD)
        val sub = enc.blockSubstream
        fun with(sub2: ByteArray) = head.copyOf().also { for (k in 0..3) it[15 + k] = (sub2.size ushr (8 * k)).toByte() } + sub2
        decode(with(sub), h, w)
        // A word short, a word dropped from the middle, bit flips in states and words.
        val lanes = LE.u16(sub, 0)
        val words = LE.u32(sub, 2).toInt()
        assertTrue("words $words lanes $lanes symbols ${enc.symbols} PBs ${enc.blocks.size}", words > 2)
        val shorter = sub.copyOf(sub.size - 2).also { val nw = words - 1; it[2] = nw.toByte(); it[3] = (nw ushr 8).toByte() }
        expectCorrupt("one word fewer") { decode(with(shorter), h, w) }
        expectCorrupt("no words") { decode(with(sub.copyOf(6 + 4 * lanes).also { it[2] = 0; it[3] = 0; it[4] = 0; it[5] = 0 }), h, w) }
        var caught = 0
        for (pos in listOf(6, 7, 8, sub.size - 1, sub.size - 2, 6 + 4 * lanes + 3)) {
            val b = sub.copyOf().also { it[pos] = (it[pos].toInt() xor 0x11).toByte() }
            try { decode(with(b), h, w) } catch (e: MlvcException) { assertEquals(ErrorKind.CORRUPT_STREAM, e.kind); caught++ }
        }
        assertTrue("flips caught: $caught", caught >= 5)
        // Empty substream (zero lanes) where the syntax needs symbols; a state below 2^16.
        expectCorrupt("empty substream") { decode(with(byteArrayOf(0, 0, 0, 0, 0, 0)), h, w) }
        expectCorrupt("state 0") { decode(with(sub.copyOf().also { it[6] = 0; it[7] = 0; it[8] = 0; it[9] = 0 }), h, w) }
        // Symbols missing at the end, one symbol too many, more lanes than symbols read.
        for (drop in 1..3) expectCorrupt("$drop symbols short") { decode(with(RansFreqEncoder.encode(enc.syms.dropLast(drop))), h, w) }
        val extra = enc.syms + RansFreqEncoder.binary(30000, 1)
        expectCorrupt("a symbol too many") { decode(with(RansFreqEncoder.encode(extra)), h, w) }
        expectCorrupt("a symbol too many, on its own lane") { decode(with(RansFreqEncoder.encode(extra, enc.symbols + 1)), h, w) }
        decode(with(RansFreqEncoder.encode(enc.syms, enc.symbols)), h, w)   // L = N is valid
        decode(with(RansFreqEncoder.encode(enc.syms, 1)), h, w)
    }

    /** Mode 5 reads a skip flag per PB: a mode-4 substream under a mode-5 header fails, and back. */
    @Test
    fun modeDecidesTheSkipFlags() {
        val h = 24
        val w = 40
        val e4 = validMode4(h, w)
        val as5 = e4.payload.copyOf().also { it[0] = 5 }
        expectCorrupt("mode-4 symbols read as mode 5") { decodeTree(as5, h, w) }
        val e5 = BlockTreeSpec.encode(h, w, 5, wideTable, intArrayOf(30000, 30000, 30000), 30000, 30000, 30000, 3, cdf,
            BlockTreeSpec.RandomChooser(Random(71), maxDelta = 9))
        expectCorrupt("mode-5 symbols read as mode 4") { decodeTree(e5.payload.copyOf().also { it[0] = 4 }, h, w) }
    }

    /** Vector differences that drive the vectors out of −2048..2047 (the median grows along the diagonal). */
    @Test
    fun outOfRangeVectors() {
        val t = wideTable
        val r = cdf.radius[t]
        for (sign in listOf(1, -1)) {
            val h = 8 * (2048 / r + 3)
            val w = h
            val ch = object : BlockTreeSpec.Chooser {
                override fun split(y0: Int, x0: Int, size: Int, depth: Int) = true
                override fun block(y0: Int, x0: Int, size: Int, cands: List<Pair<Int, Int>>, mvp: Pair<Int, Int>) =
                    BlockTreeSpec.Decision(false, ddy = sign * r, ddx = 0)
            }
            val enc = BlockTreeSpec.encode(h, w, 4, t, intArrayOf(30000, 30000, 30000), 30000, 30000, 30000, 0, cdf, ch)
            assertTrue("the encoder's vectors leave the range", enc.blocks.any { it.dy !in -2048..2047 })
            expectCorrupt("vectors ${sign * r} per PB") { decode(enc.payload, h, w) }
            // The same picture with vectors kept in range decodes.
            val okCh = object : BlockTreeSpec.Chooser {
                override fun split(y0: Int, x0: Int, size: Int, depth: Int) = true
                override fun block(y0: Int, x0: Int, size: Int, cands: List<Pair<Int, Int>>, mvp: Pair<Int, Int>) =
                    BlockTreeSpec.Decision(false, ddy = ((if (sign > 0) 2047 else -2048) - mvp.first).coerceIn(-r, r), ddx = 0)
            }
            val ok = BlockTreeSpec.encode(h, w, 4, t, intArrayOf(30000, 30000, 30000), 30000, 30000, 30000, 0, cdf, okCh)
            assertTrue(ok.blocks.any { it.dy == if (sign > 0) 2047 else -2048 })
            decode(ok.payload, h, w)
        }
    }

    // --- whole streams through Decoder ----------------------------------------------------------

    /** The first golden stream with a residual P-frame (mode 1 or 3), and that frame. */
    private fun goldenResidualFrame(): Pair<Golden.StreamInfo, Int> {
        val s = Golden.streams.firstOrNull { st -> st.frames.any { it.type == "P" && it.hasParsePath } }
        requireGolden("no golden stream with a residual P-frame", s != null)
        return s!! to s.frames.indexOfFirst { it.type == "P" && it.hasParsePath }
    }

    /**
     * The golden stream up to its first residual P-frame p, that frame replaced by a mode-5 frame
     * (block tree + the golden residual payload) and followed by a mode-4 frame predicting from
     * the deblocked picture: pictures equal the spec's, hashes verify, one residual decode.
     */
    @Test
    fun blockTreeFramesThroughTheDecoder() {
        val (s, p) = goldenResidualFrame()
        val h = s.height
        val w = s.width
        val rnd = Random(61)
        val prev = Decoder(s.file.readBytes(), Golden.pkg, GoldenNetworkRunner(s.networkFrames)).decodeAll()[p - 1].rgb
        val es = EditableStream(s.file.readBytes()).truncate(p + 1)
        val rec = es.records[p]
        val old = rec.payload
        val residualPayload = old.copyOfRange(6 + EditableStream.le32(old, 2), old.size)
        val e5 = BlockTreeSpec.encode(h, w, 5, wideTable, intArrayOf(20000, 30000, 40000), 30000, 30000, 30000, 6, cdf,
            BlockTreeSpec.RandomChooser(rnd, maxDelta = 20), rest = residualPayload)
        assertTrue("some PBs skip, some code the residual", e5.blocks.any { it.skip } && e5.blocks.any { !it.skip })
        val g = s.frames[p]
        val pw = g.yShape[2] * 16
        val img = g.i8("gs_image.i8")
        val r = ByteArray(h * w * 3) { i -> val px = i / 3; img[((px / w) * pw + px % w) * 3 + i % 3] }
        val pic5 = BlockTreeSpec.deblock(BlockTreeSpec.reconstruct(BlockTreeSpec.predict(prev, h, w, e5.blocks), r, h, w, e5.blocks), h, w, e5.blocks, 6)
        rec.payload = e5.payload
        rec.md5 = pictureMd5(pic5)
        val e4 = BlockTreeSpec.encode(h, w, 4, wideTable, intArrayOf(20000, 30000, 40000), 30000, 30000, 30000, 31, cdf,
            BlockTreeSpec.RandomChooser(rnd, maxDelta = 20))
        val pic4 = BlockTreeSpec.deblock(BlockTreeSpec.predict(pic5, h, w, e4.blocks), h, w, e4.blocks, 31)
        es.records += EditableStream.Rec('P'.code, rec.quality, pictureMd5(pic4), e4.payload)
        es.header[5] = 1   // bitstream 1.1
        val bytes = es.truncate(p + 2).bytes()
        val motions = HashMap<Int, MotionTrace>()
        val traced = HashSet<Int>()
        val runner = GoldenNetworkRunner(s.networkFrames.filter { it.index <= p })
        val frames = Decoder(bytes, Golden.pkg, runner).use { dec ->
            assertEquals(1, dec.header.versionMinor)
            dec.motionObserver = { i, m -> motions[i] = m }
            dec.parseObserver = { i, _ -> traced += i }
            dec.decodeAll()
        }
        assertEquals(p + 2, frames.size)
        assertArrayEquals("mode 5 picture", pic5, frames[p].rgb)
        assertArrayEquals("mode 4 picture (predicted from the deblocked mode-5 picture)", pic4, frames[p + 1].rgb)
        assertTrue(frames.all { it.verified })
        assertEquals(5, motions.getValue(p).mode)
        assertTrue(motions.getValue(p).hasResidual)
        assertEquals(4, motions.getValue(p + 1).mode)
        assertTrue(p in traced)
        assertFalse("mode 4 has no residual", (p + 1) in traced)
        assertSameBlocks("mode 5 PBs", e5.blocks, motions.getValue(p).blockTree!!.blocks)
        assertEquals(2 * s.networkFrames.count { it.index <= p }, runner.calls)
        // The same stream read from an InputStream.
        val streamed = Decoder(java.io.ByteArrayInputStream(bytes), Golden.pkg, GoldenNetworkRunner(s.networkFrames.filter { it.index <= p })).use { it.decodeAll() }
        assertEquals(frames.map { it.md5Hex }, streamed.map { it.md5Hex })
        // A hostile P-frame in the stream: the frames before it decode, then CORRUPT_STREAM.
        val bad = EditableStream(bytes)
        bad.records[p + 1].payload = bad.records[p + 1].payload.copyOf().also { it[14] = 32 }
        var decoded = 0
        expectCorrupt("deblock 32 in the stream") {
            Decoder(bad.bytes(), Golden.pkg, GoldenNetworkRunner(s.networkFrames.filter { it.index <= p })).use { for (f in it) decoded++ }
        }
        assertEquals(p + 1, decoded)
    }

    /** Any header minor version decodes as before (the file header check ignores it). */
    @Test
    fun anyMinorVersionDecodes() {
        val s = Golden.streams.first()
        val want = Decoder(s.file.readBytes(), Golden.pkg, GoldenNetworkRunner(s.networkFrames)).use { d -> d.decodeAll().map { it.md5Hex } }
        for (minor in listOf(0, 1, 2, 255)) {
            val es = EditableStream(s.file.readBytes())
            es.header[5] = minor.toByte()
            val frames = Decoder(es.bytes(), Golden.pkg, GoldenNetworkRunner(s.networkFrames)).use { d ->
                assertEquals(minor, d.header.versionMinor); d.decodeAll()
            }
            assertEquals("minor $minor", want, frames.map { it.md5Hex })
            assertTrue(frames.all { it.verified })
        }
    }
}
