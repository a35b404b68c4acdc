package ai.mlvc

import java.nio.ByteBuffer
import java.nio.ByteOrder
import java.util.zip.CRC32
import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNotEquals
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Test
import org.junit.runner.RunWith
import org.junit.runners.Parameterized

/**
 * A stream split into its records, edited, and written back with valid CRCs, so that hostile
 * variants reach the inter payload checks behind the checksums (as sdk/mlvc/conformance/hostile.py).
 */
class EditableStream(bytes: ByteArray) {
    class Rec(var type: Int, var quality: Int, var md5: ByteArray, var payload: ByteArray)

    val header: ByteArray = bytes.copyOf(64)
    val records = ArrayList<Rec>()

    init {
        var o = 64
        while (o < bytes.size) {
            val len = le32(bytes, o + 4)
            records += Rec(bytes[o].toInt() and 0xFF, bytes[o + 1].toInt() and 0xFF,
                bytes.copyOfRange(o + 8, o + 24), bytes.copyOfRange(o + 28, o + 28 + len))
            o += 28 + len
        }
    }

    /** Keep the first [n] records and declare n frames in the header. */
    fun truncate(n: Int) = apply {
        while (records.size > n) records.removeAt(records.size - 1)
        ByteBuffer.wrap(header).order(ByteOrder.LITTLE_ENDIAN).putInt(52, n)
    }

    fun bytes(): ByteArray {
        val out = java.io.ByteArrayOutputStream()
        val h = header.copyOf()
        ByteBuffer.wrap(h).order(ByteOrder.LITTLE_ENDIAN).putInt(60, CRC32().apply { update(h, 0, 60) }.value.toInt())
        out.write(h)
        for (r in records) {
            val head = ByteBuffer.allocate(24).order(ByteOrder.LITTLE_ENDIAN)
                .put(r.type.toByte()).put(r.quality.toByte()).putShort(0).putInt(r.payload.size).put(r.md5).array()
            val crc = CRC32().apply { update(head); update(r.payload) }.value
            out.write(head)
            out.write(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(crc.toInt()).array())
            out.write(r.payload)
        }
        return out.toByteArray()
    }

    companion object {
        fun le32(b: ByteArray, o: Int): Int = ByteBuffer.wrap(b, o, 4).order(ByteOrder.LITTLE_ENDIAN).int
    }
}

/**
 * The golden P-frames the inter tests edit: the first P-frame of [mode] in the first golden stream
 * that has one (skips a test when there is none). [WHOLE_PEL] (mode 1) and [HALF_PEL] (mode 3).
 */
internal class InterGolden private constructor(val mode: Int) {
    val stream: Golden.StreamInfo? by lazy {
        Golden.streams.firstOrNull { s -> s.frames.any { it.type == "P" && it.mode == mode } }
    }
    val pIndex: Int get() = stream!!.frames.indexOfFirst { it.type == "P" && it.mode == mode }
    val halfPel: Boolean get() = (mode and InterCodec.HALF_PEL_BIT) != 0
    val missing: String get() = "no golden stream with a mode-$mode P-frame"

    fun edit(): EditableStream = EditableStream(stream!!.file.readBytes())

    override fun toString() = "mode $mode"

    companion object {
        /** Whole-pixel vectors with a residual (mode 1). */
        val WHOLE_PEL = InterGolden(InterCodec.MODE_RESIDUAL)
        /** Half-pixel vectors with a residual (mode 3). */
        val HALF_PEL = InterGolden(InterCodec.MODE_HALF_PEL_RESIDUAL)
        val RESIDUAL_MODES = listOf(WHOLE_PEL, HALF_PEL)

        /** The spec's per-pixel prediction (§4b), written independently of [InterCodec.compensate]. */
        fun naiveCompensate(ref: ByteArray, h: Int, w: Int, mv: IntArray): ByteArray {
            val bx = (w + 15) / 16
            val out = ByteArray(h * w * 3)
            for (y in 0 until h) for (x in 0 until w) {
                val b = (y / 16) * bx + x / 16
                val sy = minOf(maxOf(y.toLong() + mv[2 * b], 0L), h - 1L).toInt()
                val sx = minOf(maxOf(x.toLong() + mv[2 * b + 1], 0L), w - 1L).toInt()
                for (c in 0 until 3) out[(y * w + x) * 3 + c] = ref[(sy * w + sx) * 3 + c]
            }
            return out
        }

        /**
         * The spec's per-pixel half-pixel prediction (§4b, mode bit 1), written independently of
         * [InterCodec.compensate]: iy = floor(dy / 2), fy = dy − 2·iy ∈ {0, 1}, the four clamped
         * neighbours A, B, C, D and (A(2−fy)(2−fx) + B(2−fy)fx + C fy(2−fx) + D fy fx + 2) >> 2.
         */
        fun naiveCompensateHalfPel(ref: ByteArray, h: Int, w: Int, mv: IntArray): ByteArray {
            val bx = (w + 15) / 16
            val out = ByteArray(h * w * 3)
            fun px(yy: Long, xx: Long, c: Int): Long {
                val sy = minOf(maxOf(yy, 0L), h - 1L).toInt()
                val sx = minOf(maxOf(xx, 0L), w - 1L).toInt()
                return (ref[(sy * w + sx) * 3 + c].toLong() and 0xFF)
            }
            for (y in 0 until h) for (x in 0 until w) {
                val b = (y / 16) * bx + x / 16
                val dy = mv[2 * b].toLong()
                val dx = mv[2 * b + 1].toLong()
                val iy = Math.floorDiv(dy, 2L)
                val ix = Math.floorDiv(dx, 2L)
                val fy = dy - 2 * iy
                val fx = dx - 2 * ix
                check(fy in 0L..1L && fx in 0L..1L)
                for (c in 0 until 3) {
                    val a = px(y + iy, x + ix, c)
                    val bb = px(y + iy, x + ix + 1, c)
                    val cc = px(y + iy + 1, x + ix, c)
                    val d = px(y + iy + 1, x + ix + 1, c)
                    val sum = a * (2 - fy) * (2 - fx) + bb * (2 - fy) * fx + cc * fy * (2 - fx) + d * fy * fx + 2
                    out[(y * w + x) * 3 + c] = (sum / 4).toByte()   // sum >= 2: / 4 is >> 2
                }
            }
            return out
        }

        fun naivePrediction(ref: ByteArray, h: Int, w: Int, mv: IntArray, mode: Int): ByteArray =
            if ((mode and InterCodec.HALF_PEL_BIT) != 0) naiveCompensateHalfPel(ref, h, w, mv) else naiveCompensate(ref, h, w, mv)

        /** The Python `mv_from_deltas`: cumulative sum down column 0, then along each row. */
        fun naiveFromDeltas(d: IntArray, by: Int, bx: Int): IntArray {
            val mv = IntArray(d.size)
            for (c in 0..1) {
                var acc = 0
                for (i in 0 until by) {
                    acc += d[2 * (i * bx) + c]
                    var row = acc
                    mv[2 * (i * bx) + c] = row
                    for (j in 1 until bx) { row += d[2 * (i * bx + j) + c]; mv[2 * (i * bx + j) + c] = row }
                }
            }
            return mv
        }
    }
}

class InterDecodingTest {
    private val sizes = listOf(1 to 1, 1 to 40, 40 to 1, 2 to 2, 16 to 16, 37 to 53, 17 to 33, 40 to 72, 5 to 100)

    @Test
    fun compensateMatchesTheSpecFormula() {
        val rnd = java.util.Random(7)
        for ((h, w) in sizes) {
            val by = (h + 15) / 16
            val bx = (w + 15) / 16
            val ref = ByteArray(h * w * 3).also { rnd.nextBytes(it) }
            for (range in listOf(0, 3, 20, 300, Int.MAX_VALUE / 2)) {
                val mv = IntArray(2 * by * bx) { if (range == 0) 0 else rnd.nextInt(2 * range + 1) - range }
                if (range == Int.MAX_VALUE / 2) { mv[0] = Int.MIN_VALUE; mv[mv.size - 1] = Int.MAX_VALUE }
                assertArrayEquals("${h}x$w range $range", InterGolden.naiveCompensate(ref, h, w, mv),
                    InterCodec.compensate(ref, h, w, mv))
                assertArrayEquals("${h}x$w range $range: halfPel = false is the default",
                    InterCodec.compensate(ref, h, w, mv), InterCodec.compensate(ref, h, w, mv, halfPel = false))
            }
            assertArrayEquals("zero motion copies", ref, InterCodec.compensate(ref, h, w, IntArray(2 * by * bx)))
            assertArrayEquals("zero half-pel motion copies", ref, InterCodec.compensate(ref, h, w, IntArray(2 * by * bx), halfPel = true))
        }
    }

    /** Half-pixel compensation vs the per-pixel §4b formula: odd, negative and far-outside vectors. */
    @Test
    fun halfPelCompensateMatchesTheSpecFormula() {
        val rnd = java.util.Random(13)
        val special = intArrayOf(-1, 1, -3, 3, -2, 2, 0, -31, 31, -33, 33, -201, 199,
            Int.MIN_VALUE, Int.MIN_VALUE + 1, Int.MAX_VALUE, Int.MAX_VALUE - 1, -1_000_000_001, 1_000_000_001)
        for ((h, w) in sizes) {
            val by = (h + 15) / 16
            val bx = (w + 15) / 16
            val ref = ByteArray(h * w * 3).also { rnd.nextBytes(it) }
            for (range in listOf(1, 3, 20, 300, Int.MAX_VALUE / 2, -1)) {
                repeat(3) { rep ->
                    val mv = IntArray(2 * by * bx) {
                        when (range) {
                            -1 -> special[rnd.nextInt(special.size)]
                            else -> rnd.nextInt(2 * range + 1) - range
                        }
                    }
                    // Negative odd vectors in both components, and the extremes, always present.
                    mv[0] = -(2 * rnd.nextInt(range.coerceIn(1, 1000)) + 1)
                    mv[1] = -(2 * rnd.nextInt(range.coerceIn(1, 1000)) + 1)
                    if (range == Int.MAX_VALUE / 2) { mv[mv.size - 2] = Int.MIN_VALUE + 1; mv[mv.size - 1] = Int.MAX_VALUE }
                    assertArrayEquals("${h}x$w range $range #$rep", InterGolden.naiveCompensateHalfPel(ref, h, w, mv),
                        InterCodec.compensate(ref, h, w, mv, halfPel = true))
                }
            }
            // Every block with the same vector, each of the 4 sub-pixel phases, across the edges.
            for (dy in -5..5) for (dx in listOf(-2 * w - 1, -5, -4, -1, 0, 1, 2, 5, 2 * w + 1)) {
                val mv = IntArray(2 * by * bx) { if (it % 2 == 0) dy else dx }
                assertArrayEquals("${h}x$w ($dy, $dx)", InterGolden.naiveCompensateHalfPel(ref, h, w, mv),
                    InterCodec.compensate(ref, h, w, mv, halfPel = true))
            }
        }
    }

    /** The formula by hand on a 2 × 2 picture: rounding, the floor of negative vectors, clamping. */
    @Test
    fun halfPelWorkedExample() {
        // R = G = B; rows (0, 1) / (2, 4).
        val ref = byteArrayOf(0, 0, 0, 1, 1, 1, 2, 2, 2, 4, 4, 4)
        fun pred(dy: Int, dx: Int) = InterCodec.compensate(ref, 2, 2, intArrayOf(dy, dx), halfPel = true)
            .filterIndexed { i, _ -> i % 3 == 0 }.map { it.toInt() }
        assertEquals(listOf(0, 1, 2, 4), pred(0, 0))
        // (1, 1): the average of the 2 × 2 neighbourhood, clamped at the bottom / right edge.
        assertEquals(listOf((0 + 1 + 2 + 4 + 2) / 4, (1 + 1 + 4 + 4 + 2) / 4, (2 + 4 + 2 + 4 + 2) / 4, 4), pred(1, 1))
        // (−1, −1): iy = ix = −1, fy = fx = 1: the neighbourhood up and left, clamped at the top / left.
        assertEquals(listOf(0, (0 + 1 + 0 + 1 + 2) / 4, (0 + 0 + 2 + 2 + 2) / 4, (0 + 1 + 2 + 4 + 2) / 4), pred(-1, -1))
        // (0, 1): horizontal half pixel, (2A + 2B + 2) >> 2.
        assertEquals(listOf((2 * 0 + 2 * 1 + 2) / 4, 1, (2 * 2 + 2 * 4 + 2) / 4, 4), pred(0, 1))
        // (−1, 0): vertical half pixel upwards.
        assertEquals(listOf(0, 1, (2 * 0 + 2 * 2 + 2) / 4, (2 * 1 + 2 * 4 + 2) / 4), pred(-1, 0))
        // (2, −2): even, the whole-pixel copy of (1, −1).
        assertEquals(listOf(2, 2, 2, 2), pred(2, -2))
    }

    /** Even half-pixel vectors give exactly the whole-pixel compensation of mv / 2. */
    @Test
    fun evenHalfPelVectorsAreWholePixelCopies() {
        val rnd = java.util.Random(17)
        for ((h, w) in sizes) {
            val by = (h + 15) / 16
            val bx = (w + 15) / 16
            val ref = ByteArray(h * w * 3).also { rnd.nextBytes(it) }
            for (range in listOf(0, 1, 3, 20, 300, Int.MAX_VALUE / 2 - 1)) {
                val whole = IntArray(2 * by * bx) { if (range == 0) 0 else rnd.nextInt(2 * range + 1) - range }
                if (range > 1000) { whole[0] = Int.MIN_VALUE / 2; whole[whole.size - 1] = Int.MAX_VALUE / 2 }
                val half = IntArray(whole.size) { 2 * whole[it] }
                assertArrayEquals("${h}x$w range $range", InterCodec.compensate(ref, h, w, whole),
                    InterCodec.compensate(ref, h, w, half, halfPel = true))
            }
        }
    }

    @Test
    fun motionFromDeltasMatchesReference() {
        val rnd = java.util.Random(11)
        for ((by, bx) in listOf(1 to 1, 1 to 5, 4 to 1, 3 to 5, 7 to 9)) {
            val radius = 20
            val k = IntArray(2 * by * bx) { rnd.nextInt(2 * radius + 1) }
            val d = IntArray(k.size) { k[it] - radius }
            assertArrayEquals("${by}x$bx", InterGolden.naiveFromDeltas(d, by, bx), InterCodec.motionFromDeltas(k, radius, by, bx))
        }
    }

    /**
     * Every golden P-frame, recomputed from the decoded previous picture with the per-pixel §4b
     * formulas of its mode (whole or half pixels) plus the recorded g_s residual (cropped), has
     * the golden picture MD5.
     */
    @Test
    fun goldenPFramesFollowTheSpecFormulas() {
        var checked = 0
        for (s in Golden.streams) {
            if (s.frames.none { it.type == "P" }) continue
            val frames = Decoder(s.file.readBytes(), Golden.pkg, GoldenNetworkRunner(s.networkFrames)).decodeAll()
            for (g in s.frames) {
                if (g.type != "P") continue
                val h = s.height
                val w = s.width
                val mode = g.mode!!
                assertTrue("${s.name} frame ${g.index}: mode $mode in 0..3", mode in 0..3)
                val pic = InterGolden.naivePrediction(frames[g.index - 1].rgb, h, w, g.i32("mv.i32"), mode)
                assertEquals("${s.name} frame ${g.index}: parse path iff residual bit", (mode and InterCodec.RESIDUAL_BIT) != 0, g.hasParsePath)
                if (g.hasParsePath) {
                    val pw = g.yShape[2] * 16
                    val img = g.i8("gs_image.i8")
                    for (y in 0 until h) for (x in 0 until w) for (c in 0 until 3) {
                        val i = (y * w + x) * 3 + c
                        pic[i] = ((pic[i].toInt() and 0xFF) + img[(y * pw + x) * 3 + c]).coerceIn(0, 255).toByte()
                    }
                }
                assertEquals("${s.name} frame ${g.index} (mode $mode) md5", g.md5, md5Hex(pic))
                checked++
            }
        }
        requireGolden("no golden P-frames", checked > 0)
    }

    /** The golden half-pixel frames really interpolate: some vector component is odd. */
    @Test
    fun goldenHalfPelFramesHaveOddVectors() {
        val hp = Golden.allFrames.filter { it.type == "P" && ((it.mode ?: 0) and InterCodec.HALF_PEL_BIT) != 0 }
        requireGolden("no golden half-pixel P-frames", hp.isNotEmpty())
        assertTrue("an odd half-pixel vector component in ${hp.map { "${it.stream} f${it.index}" }}",
            hp.any { f -> f.i32("mv.i32").any { (it and 1) != 0 } })
    }

    /** The golden P-frame turned into a skip frame: picture = prediction, no network call. */
    private fun skipFrameIsThePrediction(target: InterGolden) {
        val s = target.stream
        requireGolden(target.missing, s != null)
        val p = target.pIndex
        val prev = Decoder(s!!.file.readBytes(), Golden.pkg, GoldenNetworkRunner(s.networkFrames)).decodeAll()[p - 1]
        val g = s.frames[p]
        val skipMode = target.mode and InterCodec.RESIDUAL_BIT.inv()
        val pred = InterGolden.naivePrediction(prev.rgb, s.height, s.width, g.i32("mv.i32"), skipMode)
        val es = target.edit().truncate(p + 1)
        val r = es.records[p]
        assertEquals(target.mode, r.payload[0].toInt() and 0xFF)
        r.payload[0] = skipMode.toByte()
        r.payload = r.payload.copyOf(6 + EditableStream.le32(r.payload, 2))
        r.md5 = java.security.MessageDigest.getInstance("MD5").digest(pred)
        val runner = GoldenNetworkRunner(s.networkFrames.filter { it.index < p })
        val traced = HashSet<Int>()
        val motions = HashMap<Int, MotionTrace>()
        val frames = Decoder(es.bytes(), Golden.pkg, runner).use { dec ->
            dec.parseObserver = { i, _ -> traced += i }
            dec.motionObserver = { i, m -> motions[i] = m }
            dec.decodeAll()
        }
        assertEquals(p + 1, frames.size)
        assertEquals("network calls", 2 * s.networkFrames.count { it.index < p }, runner.calls)
        assertTrue("skip frame has no parse trace", p !in traced)
        val m = motions.getValue(p)
        assertEquals(skipMode, m.mode)
        assertFalse(m.hasResidual)
        assertEquals(target.halfPel, m.halfPel)
        assertArrayEquals(g.i32("mv.i32"), m.motion)
        assertArrayEquals("skip picture = prediction", pred, frames[p].rgb)
        assertTrue(frames[p].verified)
        assertEquals("P", frames[p].frameType)
    }

    /** Mode 1 → mode 0 (whole-pixel skip). */
    @Test
    fun skipFrameIsThePrediction() = skipFrameIsThePrediction(InterGolden.WHOLE_PEL)

    /** Mode 3 → mode 2 (half-pixel skip): the interpolated prediction. */
    @Test
    fun halfPelSkipFrameIsThePrediction() = skipFrameIsThePrediction(InterGolden.HALF_PEL)

    /** Writing into a returned picture must not change the next P-frame's reference. */
    private fun predictionUsesThePrivateReference(target: InterGolden) {
        val s = target.stream
        requireGolden(target.missing, s != null)
        val p = target.pIndex
        val iter = Decoder(s!!.file.readBytes(), Golden.pkg, GoldenNetworkRunner(s.networkFrames)).iterator()
        var f = iter.next()
        while (f.index < p - 1) f = iter.next()
        java.util.Arrays.fill(f.rgb, 0)
        val pf = iter.next()
        assertEquals(p, pf.index)
        assertTrue("P-frame verified after the caller overwrote its reference", pf.verified)
    }

    @Test
    fun predictionUsesThePrivateReference() = predictionUsesThePrivateReference(InterGolden.WHOLE_PEL)

    @Test
    fun halfPelPredictionUsesThePrivateReference() = predictionUsesThePrivateReference(InterGolden.HALF_PEL)

    /** A P-frame directly after the first I-frame, and one after another P-frame, both decode. */
    @Test
    fun pAfterPDecodes() {
        val s = Golden.streams.firstOrNull { st -> st.frames.zipWithNext().any { (a, b) -> a.type == "P" && b.type == "P" } }
        requireGolden("no golden stream with consecutive P-frames", s != null)
        val frames = Decoder(s!!.file.readBytes(), Golden.pkg, GoldenNetworkRunner(s.networkFrames)).decodeAll()
        assertEquals(s.frames.map { it.type }, frames.map { it.frameType })
        assertTrue(frames.all { it.verified })
        assertNotEquals("the stream has P-frames", 0, frames.count { it.frameType == "P" })
    }

    /** The mode byte's bits and the compatibility names. */
    @Test
    fun modeConstants() {
        assertEquals(1, InterCodec.RESIDUAL_BIT)
        assertEquals(2, InterCodec.HALF_PEL_BIT)
        assertEquals(0, InterCodec.MODE_SKIP)
        assertEquals(1, InterCodec.MODE_RESIDUAL)
        assertEquals(2, InterCodec.MODE_HALF_PEL_SKIP)
        assertEquals(3, InterCodec.MODE_HALF_PEL_RESIDUAL)
    }
}
