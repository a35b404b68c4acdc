package ai.mlvc

import java.nio.ByteBuffer
import java.nio.ByteOrder
import java.util.zip.CRC32
import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNotEquals
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Assume.assumeTrue
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

/** The first golden stream with a mode-1 P-frame (skips the inter tests when there is none). */
internal object InterGolden {
    val stream: Golden.StreamInfo? by lazy {
        Golden.streams.firstOrNull { s -> s.frames.any { it.type == "P" && it.mode == InterCodec.MODE_RESIDUAL } }
    }
    val pIndex: Int get() = stream!!.frames.indexOfFirst { it.type == "P" && it.mode == InterCodec.MODE_RESIDUAL }

    fun edit(): EditableStream = EditableStream(stream!!.file.readBytes())

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

/** Hostile variants of the golden inter stream's first mode-1 P-frame: each fails with its kind. */
@RunWith(Parameterized::class)
class InterCorruptStreamTest(private val name: String, private val why: String, private val kind: ErrorKind,
                             private val edit: (EditableStream.Rec) -> Boolean) {
    companion object {
        private val T get() = Golden.pkg.tables.numTables

        private fun u32(p: ByteArray, o: Int, v: Long) {
            for (i in 0 until 4) p[o + i] = (v ushr (8 * i)).toByte()
        }
        private fun mvLen(p: ByteArray) = EditableStream.le32(p, 2).toLong() and 0xFFFFFFFFL

        private class Case(val name: String, val why: String, val kind: ErrorKind, val edit: (EditableStream.Rec) -> Boolean)
        private fun case(name: String, why: String, kind: ErrorKind, edit: (EditableStream.Rec) -> Boolean) = Case(name, why, kind, edit)

        /**
         * name, a fragment of the expected message (the check that must fire), kind, and the edit
         * of the P record (returns false when not expressible with this package: skipped).
         */
        private val CASES: List<Case> = listOf(
            case("inter_mode_2", "unknown inter mode", ErrorKind.CORRUPT_STREAM) { r -> r.payload[0] = 2; true },
            case("inter_mode_255", "unknown inter mode", ErrorKind.CORRUPT_STREAM) { r -> r.payload[0] = 0xFF.toByte(); true },
            case("mv_table_T", "motion table", ErrorKind.CORRUPT_STREAM) { r -> (T <= 255).also { if (it) r.payload[1] = T.toByte() } },
            case("mv_table_255", "motion table", ErrorKind.CORRUPT_STREAM) { r -> (T <= 255).also { if (it) r.payload[1] = 0xFF.toByte() } },
            case("mv_length_past_payload", "motion substream longer", ErrorKind.CORRUPT_STREAM) { r -> u32(r.payload, 2, r.payload.size - 6L + 1); true },
            case("mv_length_huge", "motion substream longer", ErrorKind.CORRUPT_STREAM) { r -> u32(r.payload, 2, 0xFFFFFFFFL); true },
            case("mv_length_short", "rANS", ErrorKind.CORRUPT_STREAM) { r -> u32(r.payload, 2, mvLen(r.payload) - 2); true },
            case("mv_rans_state_zero", "rANS initial state", ErrorKind.CORRUPT_STREAM) { r -> u32(r.payload, 6 + 6, 0); true },
            case("skip_frame_with_residual", "skip frame carries", ErrorKind.CORRUPT_STREAM) { r -> r.payload[0] = InterCodec.MODE_SKIP.toByte(); true },
            case("skip_frame_one_extra_byte", "skip frame carries", ErrorKind.CORRUPT_STREAM) { r ->
                r.payload[0] = InterCodec.MODE_SKIP.toByte()
                r.payload = r.payload.copyOf(6 + mvLen(r.payload).toInt() + 1); true
            },
            case("inter_payload_5_bytes", "inter payload truncated", ErrorKind.CORRUPT_STREAM) { r -> r.payload = r.payload.copyOf(5); true },
            case("inter_payload_empty", "inter payload truncated", ErrorKind.CORRUPT_STREAM) { r -> r.payload = ByteArray(0); true },
            case("residual_truncated", "rANS", ErrorKind.CORRUPT_STREAM) { r -> r.payload = r.payload.copyOf(r.payload.size - 1); true },
            case("p_quality_99", "quality level", ErrorKind.CORRUPT_STREAM) { r -> r.quality = 99; true },
            case("p_picture_hash_wrong", "hash", ErrorKind.HASH_MISMATCH) { r -> r.md5[0] = (r.md5[0] + 1).toByte(); true },
        )

        @JvmStatic
        @Parameterized.Parameters(name = "{0}")
        fun cases(): List<Array<Any>> = CASES.map { arrayOf(it.name, it.why, it.kind, it.edit) }
    }

    @Test
    fun failsWithKind() {
        assumeTrue("no golden stream with a mode-1 P-frame", InterGolden.stream != null)
        val es = InterGolden.edit()
        val rec = es.records[InterGolden.pIndex]
        assumeTrue("$name cannot be expressed with this package", edit(rec))
        val data = es.bytes()
        var decoded = 0
        try {
            Decoder(data, Golden.pkg, GoldenNetworkRunner(null)).use { dec -> for (f in dec) decoded++ }
            fail("$name: decoded without error, expected ${kind.code}")
        } catch (e: MlvcException) {
            assertEquals("$name: ${e.message}", kind, e.kind)
            assertTrue("$name: '${e.message}' should mention '$why'", e.message!!.contains(why))
            assertEquals("$name: frames before the edited P-frame decode", InterGolden.pIndex, decoded)
        }
    }
}

class InterDecodingTest {
    @Test
    fun compensateMatchesTheSpecFormula() {
        val rnd = java.util.Random(7)
        for ((h, w) in listOf(1 to 1, 16 to 16, 37 to 53, 17 to 33, 40 to 72, 5 to 100)) {
            val by = (h + 15) / 16
            val bx = (w + 15) / 16
            val ref = ByteArray(h * w * 3).also { rnd.nextBytes(it) }
            for (range in listOf(0, 3, 20, 300, Int.MAX_VALUE / 2)) {
                val mv = IntArray(2 * by * bx) { if (range == 0) 0 else rnd.nextInt(2 * range + 1) - range }
                if (range == Int.MAX_VALUE / 2) { mv[0] = Int.MIN_VALUE; mv[mv.size - 1] = Int.MAX_VALUE }
                assertArrayEquals("${h}x$w range $range", InterGolden.naiveCompensate(ref, h, w, mv),
                    InterCodec.compensate(ref, h, w, mv))
            }
            assertArrayEquals("zero motion copies", ref, InterCodec.compensate(ref, h, w, IntArray(2 * by * bx)))
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

    /** The golden P-frame turned into a skip frame: picture = prediction, no network call. */
    @Test
    fun skipFrameIsThePrediction() {
        val s = InterGolden.stream
        assumeTrue("no golden stream with a mode-1 P-frame", s != null)
        val p = InterGolden.pIndex
        val prev = Decoder(s!!.file.readBytes(), Golden.pkg, GoldenNetworkRunner(s.networkFrames)).decodeAll()[p - 1]
        val g = s.frames[p]
        val pred = InterGolden.naiveCompensate(prev.rgb, s.height, s.width, g.i32("mv.i32"))
        val es = InterGolden.edit().truncate(p + 1)
        val r = es.records[p]
        r.payload[0] = InterCodec.MODE_SKIP.toByte()
        r.payload = r.payload.copyOf(6 + EditableStream.le32(r.payload, 2))
        r.md5 = java.security.MessageDigest.getInstance("MD5").digest(pred)
        val runner = GoldenNetworkRunner(s.networkFrames.filter { it.index < p })
        val traced = HashSet<Int>()
        val frames = Decoder(es.bytes(), Golden.pkg, runner).use { dec ->
            dec.parseObserver = { i, _ -> traced += i }
            dec.decodeAll()
        }
        assertEquals(p + 1, frames.size)
        assertEquals("network calls", 2 * s.networkFrames.count { it.index < p }, runner.calls)
        assertTrue("skip frame has no parse trace", p !in traced)
        assertArrayEquals("skip picture = prediction", pred, frames[p].rgb)
        assertTrue(frames[p].verified)
        assertEquals("P", frames[p].frameType)
    }

    /** Writing into a returned picture must not change the next P-frame's reference. */
    @Test
    fun predictionUsesThePrivateReference() {
        val s = InterGolden.stream
        assumeTrue("no golden stream with a mode-1 P-frame", s != null)
        val p = InterGolden.pIndex
        val iter = Decoder(s!!.file.readBytes(), Golden.pkg, GoldenNetworkRunner(s.networkFrames)).iterator()
        var f = iter.next()
        while (f.index < p - 1) f = iter.next()
        java.util.Arrays.fill(f.rgb, 0)
        val pf = iter.next()
        assertEquals(p, pf.index)
        assertTrue("P-frame verified after the caller overwrote its reference", pf.verified)
    }

    /** A P-frame directly after the first I-frame, and one after another P-frame, both decode. */
    @Test
    fun pAfterPDecodes() {
        val s = Golden.streams.firstOrNull { st -> st.frames.zipWithNext().any { (a, b) -> a.type == "P" && b.type == "P" } }
        assumeTrue("no golden stream with consecutive P-frames", s != null)
        val frames = Decoder(s!!.file.readBytes(), Golden.pkg, GoldenNetworkRunner(s.networkFrames)).decodeAll()
        assertEquals(s.frames.map { it.type }, frames.map { it.frameType })
        assertTrue(frames.all { it.verified })
        assertNotEquals("the stream has P-frames", 0, frames.count { it.frameType == "P" })
    }
}
