package ai.mlvc

import java.io.File
import java.nio.file.Files
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNotEquals
import org.junit.Assert.assertTrue
import org.junit.Test

/** A runner that moves every byte of [roles]' outputs by [delta] (from its [from]-th call of them on). */
internal class TamperingRunner(private val inner: NetworkRunner, private val roles: Set<String>, private val delta: Int = 64,
                               private val from: Int = 0, private val claimsExact: Boolean = true,
                               override val environment: String = "tampering") : NetworkRunner {
    var calls = 0
    private var tamperable = 0
    override fun run(role: String, input: Int8Tensor): Map<String, Int8Tensor> {
        calls++
        val out = inner.run(role, input)
        if (role !in roles || tamperable++ < from) return out
        return out.mapValues { (_, t) -> Int8Tensor(t.shape, ByteArray(t.size) { (t.data[it] + delta).toByte() }) }
    }
    override fun isExact(role: String) = claimsExact || role !in roles
}

/** The startup probe: golden battery (probe/probe.json), verdicts, the per-environment cache. */
class ProbeTest {
    private val battery get() = Golden.probe
    private fun reference() = RecordedNetworkRunner(Golden.probe.entries, environment = "reference")

    @Test
    fun batteryCoversEveryNetworkOfThePackage() {
        assertEquals(Golden.pkg.networkSets.flatMap { listOf(it.hs, it.gs) }.toSet(), battery.roles)
        assertTrue("a non-square probe picture", battery.pictureHeight != battery.pictureWidth)
        assertTrue(battery.entries.size >= battery.roles.size)
        assertEquals(Golden.pkg.modelHash.joinToString("") { "%02x".format(it) }, battery.modelHash)
    }

    @Test
    fun theReferenceAnswersPass() {
        val r = Probe.run(reference(), battery)
        assertTrue(r.toString(), r.exact)
        assertEquals(battery.roles, r.checkedRoles)
        assertTrue("probe took ${r.millis} ms", r.millis < 500)
        val probed = ProbedNetworkRunner(reference(), r)
        for (role in battery.roles) assertTrue(role, probed.isExact(role))
        assertFalse("a role the probe did not run is not proven", probed.isExact("g_a"))
    }

    @Test
    fun oneDifferingElementFailsItsRole() {
        for (role in battery.roles) {
            val r = Probe.run(TamperingRunner(reference(), setOf(role), delta = 1), battery)
            assertFalse(r.exact)
            assertEquals(setOf(role), r.failedRoles)
            assertTrue(r.details.joinToString(), r.details.all { it.startsWith(role) && it.contains("differ") })
            val probed = ProbedNetworkRunner(reference(), r)
            assertFalse(probed.isExact(role))
            for (other in battery.roles - role) assertTrue(other, probed.isExact(other))
        }
    }

    @Test
    fun failingOrMisshapenRunnersFail() {
        val throwing = object : NetworkRunner {
            override fun run(role: String, input: Int8Tensor): Map<String, Int8Tensor> = throw IllegalStateException("delegate lost")
        }
        val r = Probe.run(throwing, battery)
        assertEquals(battery.roles, r.failedRoles)
        assertTrue(r.details.first(), r.details.first().contains("delegate lost"))
        val misshapen = object : NetworkRunner {
            override fun run(role: String, input: Int8Tensor) = reference().run(role, input)
                .mapValues { (_, t) -> Int8Tensor(intArrayOf(t.size), t.data) }
        }
        assertEquals(battery.roles, Probe.run(misshapen, battery).failedRoles)
        val silent = object : NetworkRunner {
            override fun run(role: String, input: Int8Tensor) = emptyMap<String, Int8Tensor>()
        }
        assertEquals(battery.roles, Probe.run(silent, battery).failedRoles)
    }

    @Test
    fun resultIsCachedPerEnvironmentAndBattery() {
        val dir = Files.createTempDirectory("mlvc-probe").toFile()
        try {
            val a = TamperingRunner(reference(), emptySet(), environment = "litert-1.4.0/xnnpack/t2/cortex-a76")
            val first = Probe.cached(a, battery, dir)
            assertTrue(first.exact && !first.fromCache && a.calls == battery.entries.size)
            val file = Probe.cacheFile(dir, a.environment, battery)
            assertTrue(file.isFile)
            val t0 = System.nanoTime()
            val second = Probe.cached(a, battery, dir)
            val ms = (System.nanoTime() - t0) / 1e6
            assertTrue("from the cache", second.fromCache && second.exact)
            assertEquals("no network call for a cached result", battery.entries.size, a.calls)
            assertTrue("cached start took $ms ms", ms < 10 * 10)   // target 10 ms; slack for a loaded CI JVM
            // Another environment (delegate, runtime version, CPU) is probed again, and fails here.
            val b = TamperingRunner(reference(), setOf("g_s"), environment = "litert-1.4.0/gpu/cortex-a76")
            val gpu = Probe.cached(b, battery, dir)
            assertFalse(gpu.fromCache || gpu.exact)
            assertNotEquals(file, Probe.cacheFile(dir, b.environment, battery))
            assertEquals(setOf("g_s"), Probe.cached(b, battery, dir).failedRoles)   // a failure is cached too
            // Another battery (a new model) is probed again.
            val other = ProbeBattery("x", battery.sha256.reversed(), battery.pictureHeight, battery.pictureWidth, battery.entries)
            assertFalse(Probe.cached(a, other, dir).fromCache)
            // A damaged entry is probed again and rewritten.
            file.writeText("{\"format\": \"mlvc-probe-result\", \"environment\": 3")
            val again = Probe.cached(a, battery, dir)
            assertTrue(!again.fromCache && again.exact)
            assertTrue(Probe.cached(a, battery, dir).fromCache)
            // An unwritable cache folder costs a probe, not an error.
            val blocked = File(dir, "blocked").apply { writeText("a file, not a folder") }
            assertTrue(Probe.cached(a, battery, blocked).exact)
        } finally {
            dir.deleteRecursively()
        }
    }

    @Test
    fun malformedBatteryIsAModelError() {
        val d = File(Golden.dir, "probe")
        for (bad in listOf("[]", "{\"format\": \"other\"}", File(d, "probe.json").readText().replace("\"shape\": [", "\"shape\": [2, "))) {
            val e = runCatching { ProbeBattery.fromJson(bad) { File(d, it).readBytes() } }.exceptionOrNull()
            assertTrue("$e", e is MlvcException && e.kind == ErrorKind.MODEL)
        }
    }
}

/**
 * Recovery (issue #18 item 4b): a hash mismatch on a runner not proven exact re-decodes the
 * picture with the reference runner, which decodes the rest; strict raises; preview keeps.
 */
class RecoveryTest {
    /** The vector with P-frames and the most frames, and its expected MD5s. */
    private val v = Golden.vectors.vectors.filter { it.name.contains("gop") }.maxBy { it.frames }
    private val data get() = Golden.vectors.bytes(v.stream)
    private val md5s get() = Golden.vectors.md5s(v)

    /** g_s / res_g_s wrong from frame 1 on, and says so (an NNAPI / GPU delegate). */
    private fun delegate() = TamperingRunner(RecordedNetworkRunner(), setOf("g_s", "res_g_s"), from = 1, claimsExact = false,
        environment = "litert/gpu")

    @Test
    fun mismatchOnAnApproximateRunnerSwitchesToTheReference() {
        val approx = delegate()
        val reference = RecordedNetworkRunner(environment = "litert/cpu-xnnpack")
        val seen = ArrayList<BackendSwitch>()
        val frames = Decoder(data, Golden.pkg, approx, DecoderOptions.DEFAULT, reference).use { dec ->
            assertFalse(dec.exact)
            dec.switchObserver = { seen += it }
            dec.decodeAll().also {
                assertTrue(dec.usingReference)
                assertTrue(dec.exact)
                assertEquals(seen, dec.switches)
            }
        }
        assertEquals(md5s, frames.map { it.md5Hex })
        assertTrue("every picture verifies", frames.all { it.verified })
        assertEquals(listOf(1), frames.filter { it.recovered }.map { it.index })
        assertEquals(1, seen.size)
        assertEquals(1, seen[0].frame)
        assertEquals("litert/gpu", seen[0].from)
        assertEquals("litert/cpu-xnnpack", seen[0].to)
        assertTrue(seen[0].reason, seen[0].reason.contains("hash"))
        // The approximate runner decoded frames 0 and 1 (h_s + g_s each), nothing after the switch.
        assertEquals(4, approx.calls)
        assertEquals(2 * frames.drop(1).count { it.frameType == "I" || hasResidual(it.index) }, reference.total)
    }

    @Test
    fun recoveryWorksOnAStreamToo() {
        val frames = Decoder(java.io.ByteArrayInputStream(data), Golden.pkg, delegate(), DecoderOptions.DEFAULT,
            RecordedNetworkRunner()).use { it.decodeAll() }
        assertEquals(md5s, frames.map { it.md5Hex })
        assertTrue(frames.all { it.verified })
    }

    @Test
    fun strictRaisesTheHashError() {
        var decoded = 0
        val e = runCatching {
            Decoder(data, Golden.pkg, delegate(), DecoderOptions.Builder().strict(true).build(), RecordedNetworkRunner())
                .use { for (f in it) decoded++ }
        }.exceptionOrNull()
        assertTrue("$e", e is MlvcException && e.kind == ErrorKind.HASH_MISMATCH && e.message!!.contains("strict"))
        assertEquals(1, decoded)
    }

    @Test
    fun previewOrNoReferenceKeepsTheApproximatePictures() {
        for ((opts, ref) in listOf(DecoderOptions.Builder().preview(true).build() to RecordedNetworkRunner(),
                                   DecoderOptions.DEFAULT to null)) {
            Decoder(data, Golden.pkg, delegate(), opts, ref).use { dec ->
                val frames = dec.decodeAll()
                assertTrue(frames[0].verified)
                assertFalse(frames[1].verified)
                assertTrue(frames.none { it.recovered })
                assertTrue(dec.switches.isEmpty())
                assertFalse(dec.usingReference)
            }
        }
        assertTrue(runCatching { DecoderOptions.Builder().strict(true).preview(true).build() }.exceptionOrNull()
            .let { it is MlvcException && it.kind == ErrorKind.INVALID_ARGUMENT })
    }

    /** A runner that claims exactness but fails the probe is approximate: recovered, not an error. */
    @Test
    fun aRunnerFailingTheProbeIsRecovered() {
        fun wrong() = TamperingRunner(RecordedNetworkRunner(Golden.calls + Golden.probe.entries), setOf("g_s", "res_g_s"))
        val probe = Probe.run(wrong(), Golden.probe)
        assertFalse(probe.exact)
        // Trusted by name, its first picture is a hash error and the stream is lost...
        val e = runCatching { Decoder(data, Golden.pkg, wrong(), DecoderOptions.DEFAULT, RecordedNetworkRunner()).use { it.decodeAll() } }
            .exceptionOrNull()
        assertTrue("$e", e is MlvcException && e.kind == ErrorKind.HASH_MISMATCH)
        // ...with the probe's verdict, it is recovered at frame 0.
        Decoder(data, Golden.pkg, ProbedNetworkRunner(wrong(), probe), DecoderOptions.DEFAULT, RecordedNetworkRunner()).use { dec ->
            val frames = dec.decodeAll()
            assertEquals(md5s, frames.map { it.md5Hex })
            assertEquals(listOf(0), frames.filter { it.recovered }.map { it.index })
            assertEquals(0, dec.switches.single().frame)
        }
    }

    /** h_s decides symbols: not exact, the reference decodes from the start; no reference, MODEL. */
    @Test
    fun aParseNetworkThatIsNotExactNeedsTheReference() {
        val bad = TamperingRunner(RecordedNetworkRunner(Golden.calls + Golden.probe.entries), setOf("h_s", "res_h_s"))
        val probed = ProbedNetworkRunner(bad, Probe.run(bad, Golden.probe))
        assertFalse(probed.isExact("h_s"))
        val callsBefore = bad.calls
        Decoder(data, Golden.pkg, probed, DecoderOptions.DEFAULT, RecordedNetworkRunner()).use { dec ->
            assertTrue(dec.usingReference)
            assertTrue(dec.switches.single().reason.contains("h_s"))
            assertEquals(md5s, dec.decodeAll().map { it.md5Hex })
        }
        assertEquals("the failing runner is never asked", callsBefore, bad.calls)
        for ((opts, ref) in listOf(DecoderOptions.DEFAULT to null, DecoderOptions.Builder().strict(true).build() to RecordedNetworkRunner())) {
            val e = runCatching { Decoder(data, Golden.pkg, probed, opts, ref) }.exceptionOrNull()
            assertTrue("$e", e is MlvcException && e.kind == ErrorKind.MODEL && e.message!!.contains("h_s"))
        }
    }

    /** An exact reference that still mismatches: the stream is wrong, a HASH_MISMATCH. */
    @Test
    fun mismatchOnTheReferenceToo() {
        val ref = TamperingRunner(RecordedNetworkRunner(), setOf("g_s", "res_g_s"), environment = "cpu")
        val e = runCatching { Decoder(data, Golden.pkg, delegate(), DecoderOptions.DEFAULT, ref).use { it.decodeAll() } }.exceptionOrNull()
        assertTrue("$e", e is MlvcException && e.kind == ErrorKind.HASH_MISMATCH && e.message!!.contains("reference"))
    }

    private fun hasResidual(index: Int): Boolean {
        var o = 64
        for (i in 0 until index) o += 28 + EditableStream.le32(data, o + 4)
        return data[o] != 'P'.code.toByte() || (data[o + 28].toInt() and 1) == 1
    }
}
