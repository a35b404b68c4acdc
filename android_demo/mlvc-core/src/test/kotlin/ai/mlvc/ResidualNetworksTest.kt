package ai.mlvc

import java.nio.ByteBuffer
import java.nio.ByteOrder
import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertSame
import org.junit.Assert.assertTrue
import org.junit.Test

/**
 * P-frame residuals and the package's residual networks (docs/bitstream.md §4b): res_h_s,
 * res_g_s and `res_z_table_index` when the package has them, else the intra networks. Which set
 * the golden P-frames use is checked by [GoldenStreamTest] (roles per frame).
 */
class ResidualNetworksTest {
    /** Golden streams with at least one residual P-frame (mode 1 or 3). */
    private val residualStreams get() = Golden.streams.filter { s -> s.frames.any { it.type == "P" && it.hasParsePath } }

    /** The golden package without residual networks (same hash: the golden streams name it). */
    private val intraOnly get() = Golden.pkg.withResZTableIndex(null)

    /** The golden package with residual networks whatever package.json says (intra z tables). */
    private val withResidual get() = Golden.pkg.withResZTableIndex(Golden.pkg.zTableIndex.copyOf())

    /**
     * [s] as an encoder with [pkg] (no residual networks) writes it: each residual's z substream
     * re-coded with `z_table_index` (golden.py used `res_z_table_index` if the golden package has
     * residual networks); the symbols, so the network inputs, are unchanged. Null when a z value
     * does not fit the intra tables.
     */
    private fun intraCoded(s: Golden.StreamInfo, pkg: ModelPackage): ByteArray? {
        val es = EditableStream(s.file.readBytes())
        val tables = pkg.tables
        for (g in s.frames) {
            if (g.type != "P" || !g.hasParsePath) continue
            val r = es.records[g.index]
            val p = r.payload
            val rest = 6 + EditableStream.le32(p, 2)
            val zl = EditableStream.le32(p, rest)
            val z = g.i8("z.i8")
            val zt = IntArray(z.size) { pkg.zTableIndex[it % pkg.hyperChannels] }
            val k = IntArray(z.size) { z[it] + tables.radius[zt[it]] }
            if (k.indices.any { k[it] !in 0..2 * tables.radius[zt[it]] }) return null
            val zs = RansEncoder.encode(k, zt, tables)
            val len = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(zs.size).array()
            r.payload = p.copyOfRange(0, rest) + len + zs + p.copyOfRange(rest + 4 + zl, p.size)
        }
        return es.bytes()
    }

    /** A package without residual networks decodes residuals with h_s, g_s and z_table_index. */
    @Test
    fun intraOnlyPackageDecodesResidualsWithTheIntraNetworks() {
        val streams = residualStreams
        requireGolden("no golden residual P-frames", streams.isNotEmpty())
        val pkg = intraOnly
        for (s in streams) {
            val data = intraCoded(s, pkg)
            requireGolden("${s.name}: a residual z value outside the intra tables", data != null)
            val runner = GoldenNetworkRunner(s.networkFrames)
            val traces = HashMap<Int, ParseTrace>()
            val frames = Decoder(data!!, pkg, runner).use { dec ->
                dec.parseObserver = { i, t -> traces[i] = t }
                dec.decodeAll()
            }
            assertEquals("${s.name}: networks per frame", GoldenNetworkRunner.expectedRoles(s.networkFrames, residual = false), runner.roles())
            assertEquals(s.frames.size, frames.size)
            for ((f, g) in frames.zip(s.frames)) {
                val where = "${s.name} frame ${g.index}"
                if (g.hasParsePath) {
                    val t = traces.getValue(g.index)
                    assertArrayEquals("$where z", g.i8("z.i8"), t.zHat.data)
                    assertArrayEquals("$where y symbols", g.i32("y_symbols.i32"), t.ySymbols)
                }
                assertEquals("$where md5", g.md5, f.md5Hex)
                assertTrue("$where verified", f.verified)
            }
        }
    }

    /** InterCodec's residual codec follows the package; the residual set needs residual networks. */
    @Test
    fun residualCodecFollowsThePackage() {
        val runner = GoldenNetworkRunner(null)
        val intra = IntraCodec(intraOnly, runner)
        assertEquals(NetworkSet.INTRA, intra.networks)
        assertSame("no residual networks: the intra codec", intra, InterCodec(intra).residual)
        expectKind(ErrorKind.INVALID_ARGUMENT) { IntraCodec(intraOnly, runner, NetworkSet.RESIDUAL) }
        val withRes = IntraCodec(withResidual, runner)
        assertEquals(NetworkSet.INTRA, withRes.networks)
        assertEquals(NetworkSet.RESIDUAL, InterCodec(withRes).residual.networks)
        assertEquals(listOf("h_s", "g_s", "res_h_s", "res_g_s"), NetworkSet.entries.flatMap { listOf(it.hs, it.gs) })
    }

    /** An approximate res_g_s makes mismatches warnings only for a package that uses it. */
    @Test
    fun exactnessCoversResGsWithResidualNetworks() {
        val data = Golden.streams.first().file.readBytes()
        fun approx(vararg roles: String) = object : NetworkRunner {
            override fun run(role: String, input: Int8Tensor): Map<String, Int8Tensor> = throw AssertionError("not called")
            override fun isExact(role: String) = role !in roles
        }
        assertFalse(Decoder(data, withResidual, approx("res_g_s")).exact)
        assertTrue(Decoder(data, intraOnly, approx("res_g_s")).exact)
        assertFalse(Decoder(data, withResidual, approx("g_s")).exact)
        assertFalse(Decoder(data, intraOnly, approx("g_s")).exact)
        assertTrue(Decoder(data, withResidual, approx()).exact)
        assertEquals(!Golden.pkg.residualNetworks, Decoder(data, Golden.pkg, approx("res_g_s")).exact)
    }

    /** Every byte of res_g_s's output moved by 64 (so clamping cannot hide it). */
    private class ResGsTampering(private val inner: NetworkRunner, private val exact: Boolean) : NetworkRunner {
        override fun run(role: String, input: Int8Tensor): Map<String, Int8Tensor> {
            val out = inner.run(role, input)
            if (role != "res_g_s") return out
            val img = out.getValue("image")
            return mapOf("image" to Int8Tensor(img.shape, ByteArray(img.data.size) { (img.data[it] + 64).toByte() }))
        }
        override fun isExact(role: String) = role != "res_g_s" || exact
    }

    /** The golden residuals go through res_g_s: tampering it fails them (exact) or marks them (approximate). */
    @Test
    fun goldenResidualsDependOnResGs() {
        requireGolden("golden package without residual networks", Golden.pkg.residualNetworks)
        val s = residualStreams.firstOrNull()
        requireGolden("no golden residual P-frames", s != null)
        val first = s!!.frames.first { it.type == "P" && it.hasParsePath }.index
        var decoded = 0
        try {
            Decoder(s.file.readBytes(), Golden.pkg, ResGsTampering(GoldenNetworkRunner(s.networkFrames), true)).use { dec -> for (f in dec) decoded++ }
            throw AssertionError("${s.name}: tampered res_g_s decoded without error")
        } catch (e: MlvcException) {
            assertEquals(e.message, ErrorKind.HASH_MISMATCH, e.kind)
            assertEquals("frames before the first residual decode", first, decoded)
        }
        val frames = Decoder(s.file.readBytes(), Golden.pkg, ResGsTampering(GoldenNetworkRunner(s.networkFrames), false)).decodeAll()
        assertEquals(s.frames.size, frames.size)
        for ((f, g) in frames.zip(s.frames)) {
            val where = "${s.name} frame ${g.index}"
            when {
                g.type == "I" || g.index < first -> assertTrue("$where verified (no res_g_s)", f.verified)
                g.hasParsePath -> assertFalse("$where: tampered residual verified", f.verified)
            }
        }
    }
}
