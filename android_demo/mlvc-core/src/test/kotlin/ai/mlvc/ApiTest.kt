package ai.mlvc

import java.io.File
import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Test

internal fun expectKind(kind: ErrorKind, block: () -> Unit) {
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

    /** g_s (and res_g_s) output with one pixel changed. */
    private class TamperingRunner(private val inner: NetworkRunner, private val exactGs: Boolean) : NetworkRunner {
        override fun run(role: String, input: Int8Tensor): Map<String, Int8Tensor> {
            val out = inner.run(role, input)
            if (role != "g_s" && role != "res_g_s") return out
            val img = out.getValue("image")
            val d = img.data.copyOf(); d[0] = (d[0] + 1).toByte()
            return mapOf("image" to Int8Tensor(img.shape, d))
        }
        override fun isExact(role: String) = (role != "g_s" && role != "res_g_s") || exactGs
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

    /** JSON text of a parsed value (what Json.parse returns, plus Int / IntArray). */
    private fun jsonText(v: Any?): String = when (v) {
        null -> "null"
        is Boolean, is Long, is Int, is Double -> v.toString()
        is String -> "\"" + v.replace("\\", "\\\\").replace("\"", "\\\"") + "\""
        is IntArray -> jsonText(v.toList())
        is List<*> -> v.joinToString(",", "[", "]") { jsonText(it) }
        is Map<*, *> -> v.entries.joinToString(",", "{", "}") { (k, x) -> jsonText(k as String) + ":" + jsonText(x) }
        else -> throw IllegalArgumentException("cannot write $v")
    }

    /** [json] without its residual keys, plus [keys] (a null value is written as JSON null). */
    private fun withResidualKeys(json: ByteArray, vararg keys: Pair<String, Any?>): ByteArray {
        val m = LinkedHashMap<Any?, Any?>(Json.parse(String(json)) as Map<*, *>)
        m.remove("residual_networks")
        m.remove("res_z_table_index")
        m.remove("res_latent_channels")
        for ((k, v) in keys) m[k] = v
        return jsonText(m).toByteArray()
    }

    @Test
    fun loadsGoldenPackage() {
        val p = Golden.pkg
        assertEquals(p.hyperChannels, p.zTableIndex.size)
        assertTrue(p.levels.isNotEmpty())
        assertEquals(p.numTables, p.tables.radius.size)
        assertEquals("residual_networks", Golden.residualNetworks, p.residualNetworks)
        if (p.residualNetworks) assertEquals(p.hyperChannels, p.resZTableIndex!!.size) else assertNull(p.resZTableIndex)
        // res_latent_channels: package.json's value (read directly), absent or null = latent_channels.
        val raw = (Json.parse(File(Golden.dir, "package.json").readText()) as Map<*, *>)
        val latent = (raw["latent_channels"] as Long).toInt()
        val resLatent = (raw["res_latent_channels"] as Long?)?.toInt() ?: latent
        assertEquals(latent, p.latentChannels)
        assertEquals(resLatent, p.resLatentChannels)
        assertEquals(latent, p.latentChannelsOf(NetworkSet.INTRA))
        assertEquals(resLatent, p.latentChannelsOf(NetworkSet.RESIDUAL))
    }

    /**
     * `res_latent_channels`: absent / null = latent_channels; an integer 1..1024; a value other
     * than latent_channels needs residual networks (golden.py writes latent_channels for a
     * package without them, which loads).
     */
    @Test
    fun residualLatentChannels() {
        val (json, radius, cdf) = files()
        val g = Golden.pkg
        val m = g.latentChannels
        val other = if (m > 1) m / 2 else 2   // some count other than the intra one
        val res = arrayOf<Pair<String, Any?>>("residual_networks" to true, "res_z_table_index" to g.zTableIndex)
        fun load(vararg keys: Pair<String, Any?>) = ModelPackage.fromBytes(withResidualKeys(json, *keys), radius, cdf)
        fun check(p: ModelPackage, resLatent: Int) {
            assertEquals(m, p.latentChannels)
            assertEquals(resLatent, p.resLatentChannels)
            assertEquals(m, p.latentChannelsOf(NetworkSet.INTRA))
            assertEquals(resLatent, p.latentChannelsOf(NetworkSet.RESIDUAL))
        }
        // Absent, null or equal: the intra count, with or without residual networks.
        check(load(*res), m)
        check(load(*res, "res_latent_channels" to null), m)
        check(load(*res, "res_latent_channels" to m.toLong()), m)
        check(load(), m)
        check(load("res_latent_channels" to null), m)
        check(load("residual_networks" to false, "res_z_table_index" to null, "res_latent_channels" to m.toLong()), m)
        // Its own count with residual networks; the bounds.
        check(load(*res, "res_latent_channels" to other.toLong()), other)
        check(load(*res, "res_latent_channels" to 1L), 1)
        check(load(*res, "res_latent_channels" to 1024L), 1024)
        // A different count without residual networks; out of range; not an integer.
        expectKind(ErrorKind.MODEL) { load("res_latent_channels" to other.toLong()) }
        expectKind(ErrorKind.MODEL) { load("residual_networks" to false, "res_latent_channels" to other.toLong()) }
        for (bad in listOf<Any>(0L, 1025L, -1L, 1L shl 40, other + 0.5, "$other", true, listOf(other.toLong()))) {
            expectKind(ErrorKind.MODEL) { load(*res, "res_latent_channels" to bad) }
        }
        // The constructor checks the same.
        check(g.withResZTableIndex(g.zTableIndex, other), other)
        expectKind(ErrorKind.MODEL) { g.withResZTableIndex(null, other) }
        expectKind(ErrorKind.MODEL) { g.withResZTableIndex(g.zTableIndex, 0) }
        expectKind(ErrorKind.MODEL) { g.withResZTableIndex(g.zTableIndex, 1025) }
    }

    /** `residual_networks` and `res_z_table_index`: both or neither, checked like z_table_index. */
    @Test
    fun residualNetworkKeys() {
        val (json, radius, cdf) = files()
        val nz = Golden.pkg.hyperChannels
        val zeros = List(nz) { 0L }
        fun load(vararg keys: Pair<String, Any?>) = ModelPackage.fromBytes(withResidualKeys(json, *keys), radius, cdf)
        // Older packages (neither key) and explicit "none": residuals use the intra networks.
        for (p in listOf(load(), load("residual_networks" to false), load("residual_networks" to false, "res_z_table_index" to null))) {
            assertFalse(p.residualNetworks)
            assertNull(p.resZTableIndex)
            assertEquals(NetworkSet.INTRA, p.residualSet)
            assertEquals(listOf(NetworkSet.INTRA), p.networkSets)
            expectKind(ErrorKind.INVALID_ARGUMENT) { p.zTableIndexOf(NetworkSet.RESIDUAL) }
        }
        // Its own list (all table 0 here), not a copy of z_table_index.
        val r = load("residual_networks" to true, "res_z_table_index" to zeros)
        assertTrue(r.residualNetworks)
        assertEquals(NetworkSet.RESIDUAL, r.residualSet)
        assertEquals(listOf(NetworkSet.INTRA, NetworkSet.RESIDUAL), r.networkSets)
        assertArrayEquals(IntArray(nz), r.resZTableIndex)
        assertArrayEquals(IntArray(nz), r.zTableIndexOf(NetworkSet.RESIDUAL))
        assertArrayEquals(Golden.pkg.zTableIndex, r.zTableIndexOf(NetworkSet.INTRA))
        // All or none; a boolean; one valid table per hyper channel.
        expectKind(ErrorKind.MODEL) { load("residual_networks" to true) }
        expectKind(ErrorKind.MODEL) { load("residual_networks" to true, "res_z_table_index" to null) }
        expectKind(ErrorKind.MODEL) { load("res_z_table_index" to zeros) }
        expectKind(ErrorKind.MODEL) { load("residual_networks" to false, "res_z_table_index" to zeros) }
        expectKind(ErrorKind.MODEL) { load("residual_networks" to 1L, "res_z_table_index" to zeros) }
        expectKind(ErrorKind.MODEL) { load("residual_networks" to "true", "res_z_table_index" to zeros) }
        expectKind(ErrorKind.MODEL) { load("residual_networks" to true, "res_z_table_index" to zeros.drop(1)) }
        expectKind(ErrorKind.MODEL) { load("residual_networks" to true, "res_z_table_index" to zeros + 0L) }
        expectKind(ErrorKind.MODEL) { load("residual_networks" to true, "res_z_table_index" to List(nz) { Golden.pkg.numTables.toLong() }) }
        expectKind(ErrorKind.MODEL) { load("residual_networks" to true, "res_z_table_index" to List(nz) { -1L }) }
        expectKind(ErrorKind.MODEL) { load("residual_networks" to true, "res_z_table_index" to List(nz) { 1L shl 40 }) }
        expectKind(ErrorKind.MODEL) { load("residual_networks" to true, "res_z_table_index" to List(nz) { "0" }) }
        expectKind(ErrorKind.MODEL) { load("residual_networks" to true, "res_z_table_index" to "0") }
        // The constructor checks the same.
        expectKind(ErrorKind.MODEL) { Golden.pkg.withResZTableIndex(IntArray(nz + 1)) }
        expectKind(ErrorKind.MODEL) { Golden.pkg.withResZTableIndex(IntArray(nz) { Golden.pkg.numTables }) }
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
