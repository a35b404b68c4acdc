package ai.mlvc

import java.util.Random
import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.fail
import org.junit.Test

class RansTest {
    private val cdf get() = Golden.pkg.tables

    /** Random symbols drawn roughly from each table's distribution. */
    fun sample(n: Int, seed: Long): Pair<IntArray, IntArray> {
        val rnd = Random(seed)
        val t = IntArray(n) { rnd.nextInt(cdf.numTables) }
        val k = IntArray(n) { cdf.findSlot(t[it], rnd.nextInt(CdfTables.TOTAL)) }
        return k to t
    }

    private fun decode(b: ByteArray, t: IntArray) = Rans.decode(b, 0, b.size, t, cdf)

    private fun expectCorrupt(b: ByteArray, t: IntArray) {
        try {
            decode(b, t); fail("expected corrupt_stream")
        } catch (e: MlvcException) {
            assertEquals(e.message, ErrorKind.CORRUPT_STREAM, e.kind)
        }
    }

    @Test
    fun roundTripsAcrossLaneCounts() {
        for ((n, lanes) in listOf(1 to 1, 7 to 3, 1000 to 1, 5000 to 4, 70000 to 68, 3000 to 1024.coerceAtMost(3000))) {
            val (k, t) = sample(n, n.toLong())
            assertArrayEquals("n=$n lanes=$lanes", k, decode(RansEncoder.encode(k, t, cdf, lanes), t))
        }
    }

    @Test
    fun lookupAndBinarySearchAgree() {
        val lut = cdf.slotLookup()
        val rnd = Random(1)
        repeat(100000) {
            val t = rnd.nextInt(cdf.numTables); val s = rnd.nextInt(CdfTables.TOTAL)
            assertEquals(cdf.findSlot(t, s), lut[(t shl 16) + s].toInt())
        }
    }

    @Test
    fun emptySubstream() {
        assertEquals(0, decode(RansEncoder.encode(IntArray(0), IntArray(0), cdf), IntArray(0)).size)
        expectCorrupt(byteArrayOf(1, 0, 0, 0, 0, 0, 0, 0, 1, 0), IntArray(0))
    }

    @Test
    fun detectsCorruption() {
        val (k, t) = sample(4000, 7)
        val good = RansEncoder.encode(k, t, cdf, 3)
        expectCorrupt(good.copyOf(good.size - 2), t)                  // truncated
        expectCorrupt(good + byteArrayOf(0, 0), t)                       // trailing bytes
        expectCorrupt(good.copyOf(5), t)                                  // header truncated
        expectCorrupt(good, t.copyOf(t.size - 1))                        // fewer symbols: end state wrong
        expectCorrupt(good.copyOf().also { it[0] = 0; it[1] = 0 }, t)    // zero lanes
        expectCorrupt(good.copyOf().also { it[6] = 0; it[7] = 0; it[8] = 0; it[9] = 0 }, t) // state 0
        expectCorrupt(good.copyOf().also { it[2] = 0xFF.toByte(); it[3] = 0xFF.toByte(); it[4] = 0xFF.toByte(); it[5] = 0x7F }, t) // huge W
        // Flipped word bits: end-state check.
        var caught = 0
        for (pos in listOf(good.size - 1, good.size / 2, 6 + 4 * 3 + 1)) {
            val b = good.copyOf(); b[pos] = (b[pos].toInt() xor 0x20).toByte()
            try { decode(b, t) } catch (e: MlvcException) { assertEquals(ErrorKind.CORRUPT_STREAM, e.kind); caught++ }
        }
        assertEquals(3, caught)
    }

    @Test
    fun hostileStatesDoNotOverflow() {
        // Maximal states with the widest frequencies: x stays within Long, and the end check fails.
        val n = 64
        val t = IntArray(n) { 0 }
        val b = ByteArray(6 + 4 + 2 * n)
        b[0] = 1; b[2] = n.toByte()
        for (i in 6 until b.size) b[i] = 0xFF.toByte()
        expectCorrupt(b, t)
    }

    private fun readAll(b: ByteArray, t: IntArray, max: Long = Long.MAX_VALUE): IntArray {
        val r = RansReader(b, 0, b.size, cdf, max)
        val out = IntArray(t.size) { r.next(t[it]) }
        r.finish()
        return out
    }

    private fun expectCorruptReader(b: ByteArray, t: IntArray, max: Long = Long.MAX_VALUE) {
        try {
            readAll(b, t, max); fail("expected corrupt_stream")
        } catch (e: MlvcException) {
            assertEquals(e.message, ErrorKind.CORRUPT_STREAM, e.kind)
        }
    }

    /** The incremental reader returns what Rans.decode returns, and refuses what it refuses. */
    @Test
    fun incrementalReaderAgreesWithDecode() {
        for ((n, lanes) in listOf(1 to 1, 7 to 3, 1000 to 1, 5000 to 4, 3000 to 1024)) {
            val (k, t) = sample(n, 100L + n)
            val b = RansEncoder.encode(k, t, cdf, lanes)
            assertArrayEquals("n=$n lanes=$lanes", decode(b, t), readAll(b, t))
            val r = RansReader(b, 0, b.size, cdf)
            assertEquals(lanes, r.lanes)
        }
        assertEquals(0, readAll(RansEncoder.encode(IntArray(0), IntArray(0), cdf), IntArray(0)).size)
        expectCorruptReader(byteArrayOf(1, 0, 0, 0, 0, 0, 0, 0, 1, 0), IntArray(0))
        expectCorruptReader(byteArrayOf(0, 0, 0, 0, 0, 0), IntArray(1))          // a symbol from an empty substream
        val (k, t) = sample(4000, 7)
        val good = RansEncoder.encode(k, t, cdf, 3)
        expectCorruptReader(good.copyOf(good.size - 2), t)
        expectCorruptReader(good + byteArrayOf(0, 0), t)
        expectCorruptReader(good.copyOf(5), t)
        expectCorruptReader(good, t.copyOf(t.size - 1))
        expectCorruptReader(good, t, max = t.size - 1L)                           // the syntax's bound
        expectCorruptReader(good, t + intArrayOf(0))                              // one symbol too many
        expectCorruptReader(good, t.copyOf().also { it[5] = cdf.numTables })      // no such table
        expectCorruptReader(good.copyOf().also { it[6] = 0; it[7] = 0; it[8] = 0; it[9] = 0 }, t)
        // lanes > symbols
        val (k2, t2) = sample(5, 9)
        val five = RansEncoder.encode(k2, t2, cdf, 5)
        expectCorruptReader(five, t2.copyOf(3))
    }
}
