package ai.mlvc

import java.io.File
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Test

private fun expectKind(kind: ErrorKind, block: () -> Unit) {
    try {
        block()
        fail("expected MlvcException(${kind.code})")
    } catch (e: MlvcException) {
        assertEquals(e.message, kind, e.kind)
    }
}

class DecoderOptionsTest {
    @Test
    fun defaults() {
        val o = DecoderOptions.Builder().build()
        assertTrue(o.verifyHashes)
        assertEquals(3840L * 2160, o.maxPixels)
        assertEquals(null, o.backend)
        assertEquals(0, o.numThreads)
    }

    @Test
    fun rejectsBadValues() {
        expectKind(ErrorKind.INVALID_ARGUMENT) { DecoderOptions.Builder().maxPixels(0).build() }
        expectKind(ErrorKind.INVALID_ARGUMENT) { DecoderOptions.Builder().maxPixels(-5).build() }
        expectKind(ErrorKind.INVALID_ARGUMENT) { DecoderOptions.Builder().maxPixels(Long.MAX_VALUE).build() }
        expectKind(ErrorKind.INVALID_ARGUMENT) { DecoderOptions.Builder().numThreads(-1).build() }
        expectKind(ErrorKind.INVALID_ARGUMENT) { DecoderOptions.Builder().numThreads(1000).build() }
        expectKind(ErrorKind.INVALID_ARGUMENT) { DecoderOptions.Builder().backend("").build() }
        expectKind(ErrorKind.INVALID_ARGUMENT) { DecoderOptions.Builder().backend("GPU delegate!").build() }
    }

    @Test
    fun acceptsGoodValuesAndRoundTrips() {
        val o = DecoderOptions.Builder().backend("cpu").maxPixels(1).numThreads(4).verifyHashes(false).build()
        val p = o.toBuilder().build()
        assertEquals("cpu", p.backend); assertEquals(1L, p.maxPixels); assertEquals(4, p.numThreads); assertFalse(p.verifyHashes)
    }

    @Test
    fun maxPixelsIsEnforced() {
        val s = Golden.streams.first()
        val o = DecoderOptions.Builder().maxPixels(s.width.toLong() * s.height - 1).build()
        expectKind(ErrorKind.UNSUPPORTED) { Decoder(s.file.readBytes(), Golden.pkg, GoldenNetworkRunner(null), o) }
    }

    @Test
    fun errorCodesMatchPython() {
        assertEquals(listOf("invalid_argument", "unsupported", "corrupt_stream", "model", "hash_mismatch", "backend"),
            ErrorKind.entries.map { it.code })
        assertEquals(listOf(2, 3, 4, 5, 6, 7), ErrorKind.entries.map { it.exitStatus })
        assertEquals(ErrorKind.CORRUPT_STREAM, ErrorKind.fromCode("corrupt_stream"))
    }
}

class DecoderBehaviourTest {
    private val s get() = Golden.streams.first()

    /** g_s output with one pixel changed. */
    private class TamperingRunner(private val inner: NetworkRunner, private val exactGs: Boolean) : NetworkRunner {
        override fun run(role: String, input: Int8Tensor): Map<String, Int8Tensor> {
            val out = inner.run(role, input)
            if (role != "g_s") return out
            val img = out.getValue("image")
            val d = img.data.copyOf(); d[0] = (d[0] + 1).toByte()
            return mapOf("image" to Int8Tensor(img.shape, d))
        }
        override fun isExact(role: String) = role != "g_s" || exactGs
    }

    @Test
    fun hashMismatchOnExactBackend() {
        expectKind(ErrorKind.HASH_MISMATCH) {
            Decoder(s.file.readBytes(), Golden.pkg, TamperingRunner(GoldenNetworkRunner(s.networkFrames), true)).decodeAll()
        }
    }

    @Test
    fun approximateBackendReportsUnverified() {
        val frames = Decoder(s.file.readBytes(), Golden.pkg, TamperingRunner(GoldenNetworkRunner(s.networkFrames), false)).decodeAll()
        assertEquals(s.frames.size, frames.size)
        assertTrue(frames.none { it.verified })
    }

    @Test
    fun verificationOffDoesNotThrow() {
        val o = DecoderOptions.Builder().verifyHashes(false).build()
        val frames = Decoder(s.file.readBytes(), Golden.pkg, TamperingRunner(GoldenNetworkRunner(s.networkFrames), true), o).decodeAll()
        assertTrue(frames.none { it.verified })
    }

    @Test
    fun runnerFailureIsBackendError() {
        val broken = object : NetworkRunner {
            override fun run(role: String, input: Int8Tensor): Map<String, Int8Tensor> = throw IllegalStateException("boom")
        }
        expectKind(ErrorKind.BACKEND) { Decoder(s.file.readBytes(), Golden.pkg, broken).decodeAll() }
    }

    @Test
    fun wrongOutputShapeIsModelError() {
        val wrong = object : NetworkRunner {
            override fun run(role: String, input: Int8Tensor) =
                mapOf("mu" to Int8Tensor(intArrayOf(1, 1, 1, 1), ByteArray(1)), "sigma_index" to Int8Tensor(intArrayOf(1, 1, 1, 1), ByteArray(1)))
        }
        expectKind(ErrorKind.MODEL) { Decoder(s.file.readBytes(), Golden.pkg, wrong).decodeAll() }
    }

    @Test
    fun unknownFrameCountReadsToTheEnd() {
        val d = s.file.readBytes()
        for (i in 52 until 56) d[i] = 0xFF.toByte()
        val crc = java.util.zip.CRC32().apply { update(d, 0, 60) }.value
        for (i in 0 until 4) d[60 + i] = (crc ushr (8 * i)).toByte()
        val frames = Decoder(d, Golden.pkg, GoldenNetworkRunner(s.networkFrames)).decodeAll()
        assertEquals(s.frames.size, frames.size)
    }
}

class ModelPackageTest {
    private fun files() = listOf("package.json", "tables.radius.i32", "tables.cdf.u32").map { File(Golden.dir, it).readBytes() }

    @Test
    fun loadsGoldenPackage() {
        val p = Golden.pkg
        assertEquals(p.hyperChannels, p.zTableIndex.size)
        assertTrue(p.levels.isNotEmpty())
        assertEquals(p.numTables, p.tables.radius.size)
    }

    @Test
    fun tamperedTablesAreModelErrors() {
        val (json, radius, cdf) = files()
        // Still a valid CDF set? Swap nothing but the hash check must fail: flip a middle CDF value by one.
        val c = cdf.copyOf()
        // cdf entry 1 of table 0 (> 0 and < next): decrement its low byte when that keeps it >= 1.
        val v = java.nio.ByteBuffer.wrap(c).order(java.nio.ByteOrder.LITTLE_ENDIAN)
        v.putInt(4, v.getInt(4) + (if (v.getInt(8) - v.getInt(4) > 1) 1 else -1))
        expectKind(ErrorKind.MODEL) { ModelPackage.fromBytes(json, radius, c) }
        // Non-monotone table.
        val bad = cdf.copyOf(); java.nio.ByteBuffer.wrap(bad).order(java.nio.ByteOrder.LITTLE_ENDIAN).putInt(4, 0)
        expectKind(ErrorKind.MODEL) { ModelPackage.fromBytes(json, radius, bad) }
        // Length mismatch.
        expectKind(ErrorKind.MODEL) { ModelPackage.fromBytes(json, radius, cdf.copyOf(cdf.size - 4)) }
        expectKind(ErrorKind.MODEL) { ModelPackage.fromBytes(json, radius.copyOf(radius.size - 1), cdf) }
    }

    @Test
    fun badManifestsAreModelErrors() {
        val (json, radius, cdf) = files()
        val text = String(json)
        expectKind(ErrorKind.MODEL) { ModelPackage.fromBytes("{".toByteArray(), radius, cdf) }
        expectKind(ErrorKind.MODEL) { ModelPackage.fromBytes(text.replace("\"tables_sha256\"", "\"x\"").toByteArray(), radius, cdf) }
        expectKind(ErrorKind.MODEL) { ModelPackage.fromBytes(text.replace(Regex("\"z_table_index\": \\[[^\\]]*]"), "\"z_table_index\": [9999]").toByteArray(), radius, cdf) }
        expectKind(ErrorKind.MODEL) { ModelPackage.load(File(Golden.dir, "no-such-dir")) }
    }
}
