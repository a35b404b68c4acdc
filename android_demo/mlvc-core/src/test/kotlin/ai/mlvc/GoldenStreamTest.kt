package ai.mlvc

import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Test
import org.junit.runner.RunWith
import org.junit.runners.Parameterized

/** Every golden stream decodes with the recorded networks to the golden symbols and pictures. */
@RunWith(Parameterized::class)
class GoldenStreamTest(private val s: Golden.StreamInfo) {
    companion object {
        @JvmStatic
        @Parameterized.Parameters(name = "{0}")
        fun streams(): List<Array<Any>> = Golden.streams.map { arrayOf<Any>(it) }
    }

    @Test
    fun decodesBitExactly() {
        val runner = GoldenNetworkRunner(s.networkFrames)
        val traces = HashMap<Int, ParseTrace>()
        val motions = HashMap<Int, MotionTrace>()
        val frames = Decoder(s.file.readBytes(), Golden.pkg, runner).use { dec ->
            assertEquals(s.width, dec.width)
            assertEquals(s.height, dec.height)
            dec.parseObserver = { i, t -> assertNull("frame $i traced twice", traces.put(i, t)) }
            dec.motionObserver = { i, m -> assertNull("frame $i motion traced twice", motions.put(i, m)) }
            dec.decodeAll()
        }
        assertEquals("frame count", s.frames.size, frames.size)
        assertEquals("network calls", 2 * s.networkFrames.size, runner.calls)
        // The golden outputs cannot tell the two network sets apart (same files): the roles can.
        assertEquals("networks per frame (residual_networks = ${Golden.residualNetworks})",
            GoldenNetworkRunner.expectedRoles(s.networkFrames, Golden.residualNetworks), runner.roles())
        for ((f, g) in frames.zip(s.frames)) {
            val where = "${s.name} frame ${g.index}"
            assertEquals("$where type", g.type, f.frameType)
            if (g.type == "P") {
                val m = motions[f.index] ?: throw AssertionError("$where: P-frame without a motion trace")
                assertEquals("$where mode", g.mode, m.mode)
                assertEquals("$where mv_table", g.mvTable, m.mvTable)
                assertArrayEquals("$where mv_shape", g.mvShape, intArrayOf(m.blocksY, m.blocksX, 2))
                assertArrayEquals("$where motion field", g.i32("mv.i32"), m.motion)
                assertEquals("$where: a residual iff mode bit 0", m.hasResidual, g.hasParsePath)
            } else {
                assertFalse("$where: I-frame with a motion trace", motions.containsKey(f.index))
            }
            if (g.hasParsePath) {
                // I-frame, or the residual of a P-frame with one (mode 1 or 3).
                val t = traces[f.index] ?: throw AssertionError("$where: no parse trace")
                assertArrayEquals("$where z", g.i8("z.i8"), t.zHat.data)
                assertArrayEquals("$where table index", g.i32("table_index.i32"), t.tableIndex)
                assertArrayEquals("$where y symbols", g.i32("y_symbols.i32"), t.ySymbols)
                assertArrayEquals("$where y_hat", g.i8("y_hat.i8"), t.yHat.data)
            } else {
                assertFalse("$where: skip frame with a parse trace", traces.containsKey(f.index))
            }
            assertEquals("$where quality", g.quality, f.quality)
            assertEquals("$where size", s.width * s.height * 3, f.rgb.size)
            assertEquals("$where md5", g.md5, f.md5Hex)
            assertEquals("$where md5 of the picture", g.md5, md5Hex(f.rgb))
            assertEquals("$where expected md5", g.md5, f.expectedMd5Hex)
            assertTrue("$where verified", f.verified)
        }
    }

    @Test
    fun iteratesLazilyAndCloses() {
        val dec = Decoder(s.file.readBytes(), Golden.pkg, GoldenNetworkRunner(s.networkFrames))
        var n = 0
        for (f in dec) {
            assertEquals(n++, f.index)
            assertTrue(f.verified)
        }
        assertEquals(s.frames.size, n)
        dec.close()
        val e = runCatching { dec.iterator() }.exceptionOrNull()
        assertTrue("iterating a closed decoder fails", e is MlvcException && e.kind == ErrorKind.INVALID_ARGUMENT)
    }
}

internal fun md5Hex(b: ByteArray): String =
    java.security.MessageDigest.getInstance("MD5").digest(b).joinToString("") { "%02x".format(it) }
