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

    /**
     * A package without residual networks decodes residuals with h_s, g_s and z_table_index. When
     * the golden residual latent has its own channel count, the recorded residual answers cannot
     * fit the intra shape: the first residual then fails (MODEL, wrong h_s output shape).
     */
    @Test
    fun intraOnlyPackageDecodesResidualsWithTheIntraNetworks() {
        val streams = residualStreams
        requireGolden("no golden residual P-frames", streams.isNotEmpty())
        val pkg = intraOnly
        if (Golden.pkg.resLatentChannels != Golden.pkg.latentChannels) {
            for (s in streams) {
                val data = intraCoded(s, pkg) ?: continue
                val first = s.frames.first { it.type == "P" && it.hasParsePath }.index
                var decoded = 0
                try {
                    Decoder(data, pkg, GoldenNetworkRunner(s.networkFrames)).use { dec -> for (f in dec) decoded++ }
                    throw AssertionError("${s.name}: residuals of another channel count decoded with the intra shape")
                } catch (e: MlvcException) {
                    assertEquals(e.message, ErrorKind.MODEL, e.kind)
                    assertEquals("${s.name}: frames before the first residual", first, decoded)
                }
            }
            return
        }
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

    /** The golden frames' y shapes are the latent shapes of their codec's set (its own channel count). */
    @Test
    fun goldenLatentShapesFollowTheSet() {
        val g = Golden.pkg
        val runner = GoldenNetworkRunner(null)
        var residuals = 0
        for (s in Golden.streams) for (f in s.networkFrames) {
            val set = if (f.type == "P") g.residualSet else NetworkSet.INTRA
            if (f.type == "P") residuals++
            val codec = IntraCodec(g, runner, set)
            assertArrayEquals("${s.name} frame ${f.index} y shape", f.yShape, codec.latentShape(s.height, s.width))
            assertArrayEquals("${s.name} frame ${f.index} z shape", f.zShape, codec.hyperShape(s.height, s.width))
            assertEquals(g.latentChannelsOf(set), f.yShape[3])
        }
        requireGolden("no golden residual P-frames", residuals > 0)
    }

    /** A residual payload of zero symbols for an h × w picture at [quality] (h_s answers sigma_index 0). */
    private fun zeroResidual(pkg: ModelPackage, h: Int, w: Int, quality: Int): ByteArray {
        val codec = IntraCodec(pkg, GoldenNetworkRunner(null), NetworkSet.RESIDUAL)
        val tables = pkg.tables
        val zTab = pkg.zTableIndexOf(NetworkSet.RESIDUAL)
        val zt = IntArray(codec.hyperShape(h, w).reduce(Int::times)) { zTab[it % pkg.hyperChannels] }
        val zs = RansEncoder.encode(IntArray(zt.size) { tables.radius[zt[it]] }, zt, tables)
        val t = (-pkg.tablesPerOctave * pkg.exponent(quality)!!).coerceIn(0, pkg.numTables - 1)
        val yt = IntArray(codec.latentShape(h, w).reduce(Int::times)) { t }
        val ys = RansEncoder.encode(IntArray(yt.size) { tables.radius[t] }, yt, tables)
        return ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(zs.size).array() + zs + ys
    }

    /**
     * Answers h_s / g_s from the golden I-frames (strict) and res_h_s / res_g_s with zeros of the
     * shapes a residual network with [resChannels] latent channels gives; logs res inputs' shapes.
     */
    private class ResidualShapeRunner(private val intra: NetworkRunner, private val resChannels: Int) : NetworkRunner {
        val resInputs = ArrayList<Pair<String, IntArray>>()
        override fun run(role: String, input: Int8Tensor): Map<String, Int8Tensor> {
            val s = input.shape
            fun zeros(vararg shape: Int) = Int8Tensor(shape, ByteArray(shape.reduce(Int::times)))
            return when (role) {
                "res_h_s" -> { resInputs += role to s.copyOf(); mapOf("mu" to zeros(1, 4 * s[1], 4 * s[2], resChannels), "sigma_index" to zeros(1, 4 * s[1], 4 * s[2], resChannels)) }
                "res_g_s" -> { resInputs += role to s.copyOf(); mapOf("image" to zeros(1, 16 * s[1], 16 * s[2], 3)) }
                else -> intra.run(role, input)
            }
        }
    }

    /**
     * A package whose residual networks have another latent channel count than the intra ones:
     * intra frames keep the intra shape, residuals get the residual networks' shape (res_h_s
     * outputs, the res_g_s input), and res_h_s answering in the intra shape is a MODEL error.
     */
    @Test
    fun residualLatentChannelsOfTheirOwn() {
        val g = Golden.pkg
        val m = g.latentChannels
        val resC = if (m > 1) m / 2 else 2   // differs from the intra count
        val pkg = g.withResZTableIndex(g.resZTableIndex ?: g.zTableIndex.copyOf(), resC)
        assertEquals(resC, pkg.latentChannelsOf(NetworkSet.RESIDUAL))
        assertEquals(m, pkg.latentChannelsOf(NetworkSet.INTRA))
        val s = residualStreams.firstOrNull()
        requireGolden("no golden residual P-frames", s != null)
        val (h, w) = s!!.height to s.width
        val a = pkg.alignment
        val (ph, pw) = (h + a - 1) / a * a to (w + a - 1) / a * a
        val runner0 = GoldenNetworkRunner(null)
        assertArrayEquals(intArrayOf(1, ph / 16, pw / 16, resC), IntraCodec(pkg, runner0, NetworkSet.RESIDUAL).latentShape(h, w))
        assertArrayEquals(intArrayOf(1, ph / 16, pw / 16, m), IntraCodec(pkg, runner0, NetworkSet.INTRA).latentShape(h, w))
        assertArrayEquals(IntraCodec(pkg, runner0).hyperShape(h, w), IntraCodec(pkg, runner0, NetworkSet.RESIDUAL).hyperShape(h, w))
        assertEquals(resC, InterCodec(IntraCodec(pkg, runner0)).residual.latentShape(h, w)[3])

        // Every residual replaced by zero symbols coded for the residual shape.
        val es = EditableStream(s.file.readBytes())
        val residualFrames = s.frames.filter { it.type == "P" && it.hasParsePath }.map { it.index }
        for (i in residualFrames) {
            val r = es.records[i]
            val rest = 6 + EditableStream.le32(r.payload, 2)
            r.payload = r.payload.copyOfRange(0, rest) + zeroResidual(pkg, h, w, r.quality)
        }
        val data = es.bytes()
        val unverified = DecoderOptions.Builder().verifyHashes(false).build()
        val runner = ResidualShapeRunner(GoldenNetworkRunner(s.networkFrames.filter { it.type == "I" }), resC)
        val traces = HashMap<Int, ParseTrace>()
        val frames = Decoder(data, pkg, runner, unverified).use { dec ->
            dec.parseObserver = { i, t -> traces[i] = t }
            dec.decodeAll()
        }
        assertEquals(s.frames.size, frames.size)
        val zShape = IntraCodec(pkg, runner0).hyperShape(h, w)
        assertEquals(residualFrames.flatMap { listOf("res_h_s" to zShape.toList(), "res_g_s" to listOf(1, ph / 16, pw / 16, resC)) },
            runner.resInputs.map { (role, shape) -> role to shape.toList() })
        for (f in s.networkFrames) {
            val want = if (f.type == "P") resC else m
            assertEquals("${s.name} frame ${f.index} y_hat channels", want, traces.getValue(f.index).yHat.shape[3])
        }
        for (i in residualFrames) assertTrue("zero residual", traces.getValue(i).ySymbols.all { it == 0 })

        // res_h_s answering in the intra shape: MODEL at the first residual.
        var decoded = 0
        try {
            Decoder(data, pkg, ResidualShapeRunner(GoldenNetworkRunner(s.networkFrames.filter { it.type == "I" }), m), unverified)
                .use { dec -> for (f in dec) decoded++ }
            throw AssertionError("res_h_s outputs of the intra shape accepted")
        } catch (e: MlvcException) {
            assertEquals(e.message, ErrorKind.MODEL, e.kind)
            assertEquals(residualFrames.first(), decoded)
        }
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
