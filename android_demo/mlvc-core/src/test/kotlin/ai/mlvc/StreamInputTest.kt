package ai.mlvc

import java.io.ByteArrayInputStream
import java.io.IOException
import java.io.InputStream
import java.io.UncheckedIOException
import java.lang.management.ManagementFactory
import java.util.zip.CRC32
import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Test
import org.junit.runner.RunWith
import org.junit.runners.Parameterized

/**
 * Serves [data] as a socket would: at most [perRead] bytes per read, only the first [arrived]
 * bytes (reading past them would block: fails the test), and counts what was read.
 */
internal class TestInputStream(private val data: ByteArray, private val perRead: Int = Int.MAX_VALUE) : InputStream() {
    var arrived = data.size
    var pos = 0
        private set

    override fun read(): Int {
        val b = ByteArray(1)
        return if (read(b, 0, 1) < 0) -1 else b[0].toInt() and 0xFF
    }

    override fun read(b: ByteArray, off: Int, len: Int): Int {
        if (len == 0) return 0
        if (pos >= data.size) return -1
        if (pos >= arrived) throw AssertionError("read at byte $pos, past the $arrived bytes that have arrived (would block)")
        val n = minOf(len, perRead, arrived - pos)
        System.arraycopy(data, pos, b, off, n)
        pos += n
        return n
    }
}

/**
 * The golden answers (lenient [GoldenNetworkRunner]) memoised by role and input, as copies:
 * thousands of truncated decodes would otherwise re-read the golden files for every call.
 */
internal object CachedGoldenRunner : NetworkRunner {
    private val golden = GoldenNetworkRunner(null)
    private val cache = HashMap<String, Map<String, Int8Tensor>>()

    override fun run(role: String, input: Int8Tensor): Map<String, Int8Tensor> {
        val key = role + input.shape.contentToString() + md5Hex(input.data)
        val out = cache.getOrPut(key) { golden.run(role, input) }
        return out.mapValues { (_, t) -> Int8Tensor(t.shape, t.data.copyOf()) }
    }
}

/** The outcome of decoding a whole stream: its frames, or the error kind and message. */
private data class Outcome(val frames: List<DecodedFrame>?, val kind: ErrorKind?, val message: String?)

private fun outcome(decode: () -> List<DecodedFrame>): Outcome = try {
    Outcome(decode(), null, null)
} catch (e: MlvcException) {
    Outcome(null, e.kind, e.message)
}

private fun viaBytes(d: ByteArray, runner: NetworkRunner) = outcome { Decoder(d, Golden.pkg, runner).use { it.decodeAll() } }
private fun viaStream(input: InputStream, runner: NetworkRunner) = outcome { Decoder(input, Golden.pkg, runner).use { it.decodeAll() } }

private fun assertSameFrames(where: String, want: List<DecodedFrame>, got: List<DecodedFrame>) {
    assertEquals("$where: frame count", want.size, got.size)
    for ((a, b) in want.zip(got)) {
        val at = "$where frame ${a.index}"
        assertEquals("$at index", a.index, b.index)
        assertEquals("$at type", a.frameType, b.frameType)
        assertEquals("$at quality", a.quality, b.quality)
        assertArrayEquals("$at pixels", a.rgb, b.rgb)
        assertEquals("$at md5", a.md5Hex, b.md5Hex)
        assertEquals("$at expected md5", a.expectedMd5Hex, b.expectedMd5Hex)
        assertEquals("$at verified", a.verified, b.verified)
    }
}

/** [d] with the u32 at [at] set to [v] and the header and first record CRCs recomputed, as hostile.py does. */
internal fun withU32(d: ByteArray, at: Int, v: Long): ByteArray {
    val out = d.copyOf()
    fun put(o: Int, x: Long) { for (i in 0 until 4) out[o + i] = (x ushr (8 * i)).toByte() }
    put(at, v)
    put(60, CRC32().apply { update(out, 0, 60) }.value)
    val rec = StreamHeader.SIZE
    val start = rec + FrameRecord.HEADER_SIZE
    val len = minOf(LE.u32(out, rec + 4), (out.size - start).toLong()).toInt()   // the bytes present
    put(rec + 24, CRC32().apply { update(out, rec, 24); update(out, start, len) }.value)
    return out
}

/** Each golden stream through `Decoder(InputStream)`: same frames, same failures as through `Decoder(ByteArray)`. */
@RunWith(Parameterized::class)
class StreamInputTest(private val s: Golden.StreamInfo) {
    companion object {
        @JvmStatic
        @Parameterized.Parameters(name = "{0}")
        fun streams(): List<Array<Any>> = (Golden.streams + Golden.treeStreams.map { it.first }).map { arrayOf<Any>(it) }   // grid and block-tree (§4c) clips
    }

    private val data = s.file.readBytes()
    private fun runner() = GoldenNetworkRunner(s.networkFrames)

    @Test
    fun decodesLikeBytes() {
        val want = viaBytes(data, runner()).frames ?: throw AssertionError("${s.name} does not decode from bytes")
        assertEquals(s.frames.map { it.md5 }, want.map { it.md5Hex })
        val input = TestInputStream(data)
        val got = viaStream(input, runner())
        assertSameFrames(s.name, want, got.frames ?: throw AssertionError("${s.name} via InputStream: ${got.message}"))
        assertEquals("bytes read", data.size, input.pos)
    }

    /** A slow trickle (1 byte per read) decodes too: records are assembled from many reads. */
    @Test
    fun trickleDecodesLikeBytes() {
        val want = viaBytes(data, runner()).frames!!
        for (perRead in listOf(1, 7, 29)) {
            val got = viaStream(TestInputStream(data, perRead), runner())
            assertSameFrames("${s.name}, $perRead bytes per read", want, got.frames ?: throw AssertionError(got.message))
        }
    }

    /** Every prefix fails through both paths with the same kind and message (the same checks). */
    @Test
    fun everyTruncationFailsLikeBytes() {
        for (cut in 0 until data.size) {
            val prefix = data.copyOf(cut)
            val a = viaBytes(prefix, CachedGoldenRunner)
            val b = viaStream(TestInputStream(prefix), CachedGoldenRunner)
            val where = "${s.name} cut at $cut of ${data.size}"
            assertTrue("$where: decoded from bytes", a.kind != null)
            assertEquals("$where: kind", a.kind, b.kind)
            assertEquals("$where: message", a.message, b.message)
        }
    }

    /**
     * A live stream (frame count unknown): each frame comes out as soon as its record has
     * arrived, without reading further (TestInputStream fails a read past what has arrived).
     */
    @Test
    fun liveStreamYieldsEachFrameAsItsRecordArrives() {
        val live = withU32(data, 52, StreamHeader.UNKNOWN_FRAME_COUNT)
        val want = viaBytes(live, runner()).frames!!
        val input = TestInputStream(live, perRead = 5)
        input.arrived = StreamHeader.SIZE
        Decoder(input, Golden.pkg, runner()).use { dec ->
            assertEquals(StreamHeader.UNKNOWN_FRAME_COUNT, dec.header.frameCount)
            val frames = dec.iterator()
            var end = StreamHeader.SIZE
            for (k in want.indices) {
                end += FrameRecord.HEADER_SIZE + LE.u32(live, end + 4).toInt()
                input.arrived = end           // record k is in
                assertTrue(frames.hasNext())
                assertSameFrames("${s.name} live", listOf(want[k]), listOf(frames.next()))
                assertEquals("frame $k: read exactly its record", end, input.pos)
            }
            input.arrived = live.size
            assertTrue("end of stream", !frames.hasNext())
            expectKind(ErrorKind.INVALID_ARGUMENT) { dec.iterator() }   // a stream is read once
        }
    }
}

/** Declared lengths cost nothing before their bytes arrive; I/O errors and reuse. */
class StreamInputLimitsTest {
    private val s get() = Golden.streams.first()

    /** Bytes this thread allocates while [block] runs (HotSpot), or null where not measurable. */
    private fun allocatedBy(block: () -> Unit): Long? {
        val mx = ManagementFactory.getThreadMXBean() as? com.sun.management.ThreadMXBean
        if (mx == null || !mx.isThreadAllocatedMemorySupported) { block(); return null }
        mx.isThreadAllocatedMemoryEnabled = true
        val id = Thread.currentThread().id
        val before = mx.getThreadAllocatedBytes(id)
        block()
        return mx.getThreadAllocatedBytes(id) - before
    }

    private fun failsWithin(what: String, d: ByteArray, maxBytes: Long): TestInputStream {
        Golden.pkg   // loaded outside the measurement
        val input = TestInputStream(d)
        val allocated = allocatedBy {
            expectKind(ErrorKind.CORRUPT_STREAM) { Decoder(input, Golden.pkg, GoldenNetworkRunner(null)).use { it.decodeAll() } }
        }
        if (allocated != null) assertTrue("$what: allocated $allocated bytes", allocated < maxBytes)
        expectKind(ErrorKind.CORRUPT_STREAM) { Decoder(d, Golden.pkg, GoldenNetworkRunner(null)).decodeAll() }
        return input
    }

    /** A length above MAX_PAYLOAD fails before anything after the record header is read. */
    @Test
    fun absurdLengthFailsBeforeAnyRead() {
        for (length in listOf(0x7FFFFFFFL, 0xFFFFFFFFL, FrameRecord.MAX_PAYLOAD + 1)) {
            val d = withU32(s.file.readBytes(), StreamHeader.SIZE + 4, length)
            val input = failsWithin("length $length", d, 4L shl 20)
            assertEquals("length $length: bytes read", StreamHeader.SIZE + FrameRecord.HEADER_SIZE, input.pos)
        }
    }

    /** A length within MAX_PAYLOAD (1.6 GB) with a few bytes behind it: memory follows those bytes. */
    @Test
    fun largeLengthAllocatesOnlyWhatArrives() {
        val d = withU32(s.file.readBytes(), StreamHeader.SIZE + 4, FrameRecord.MAX_PAYLOAD)
        val input = failsWithin("length MAX_PAYLOAD", d, 16L shl 20)
        assertEquals("bytes read", d.size, input.pos)
    }

    @Test
    fun ioErrorsAreUnchecked() {
        val d = s.file.readBytes()
        val failing = object : InputStream() {
            var pos = 0
            override fun read(): Int = if (pos < 100) d[pos++].toInt() and 0xFF else throw IOException("connection reset")
        }
        val dec = Decoder(failing, Golden.pkg, GoldenNetworkRunner(s.networkFrames))
        try {
            dec.decodeAll()
            fail("decoded past an I/O error")
        } catch (e: UncheckedIOException) {
            assertEquals("connection reset", e.cause?.message)
        }
    }

    @Test
    fun headerChecksComeFirst() {
        val d = s.file.readBytes()
        expectKind(ErrorKind.CORRUPT_STREAM) { Decoder(ByteArrayInputStream(ByteArray(0)), Golden.pkg, GoldenNetworkRunner(null)) }
        val small = DecoderOptions.Builder().maxPixels(s.width.toLong() * s.height - 1).build()
        val input = TestInputStream(d)
        expectKind(ErrorKind.UNSUPPORTED) { Decoder(input, Golden.pkg, GoldenNetworkRunner(null), small) }
        assertEquals("the constructor reads the header only", StreamHeader.SIZE, input.pos)
    }

    @Test
    fun closedDecoderRefusesToIterate() {
        val dec = Decoder(TestInputStream(s.file.readBytes()), Golden.pkg, GoldenNetworkRunner(s.networkFrames))
        dec.close()
        expectKind(ErrorKind.INVALID_ARGUMENT) { dec.iterator() }
    }
}
