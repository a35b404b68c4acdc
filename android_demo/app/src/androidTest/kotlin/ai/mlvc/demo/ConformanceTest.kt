package ai.mlvc.demo

import ai.mlvc.Conformance
import ai.mlvc.Probe
import androidx.test.ext.junit.runners.AndroidJUnit4
import androidx.test.platform.app.InstrumentationRegistry
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Test
import org.junit.runner.RunWith

/**
 * On-device conformance: every bundled golden stream decodes through LiteRT CPU/XNNPACK with
 * every picture hash verified (the Decoder throws HASH_MISMATCH otherwise), the official vectors
 * decode to their MD5s, every catalogue stream fails with its kind, and the startup probe passes. Needs the .tflite of the package that produced the
 * goldens (-PmlvcPackage). Run: ./gradlew :app:connectedDebugAndroidTest
 */
@RunWith(AndroidJUnit4::class)
class ConformanceTest {
    private val bundled = Bundled(InstrumentationRegistry.getInstrumentation().targetContext.assets)

    @Test
    fun goldenStreamsVerifyOnCpu() {
        val streams = bundled.streams()
        assertTrue("no bundled streams", streams.isNotEmpty())
        bundled.runner(numThreads = 2).use { runner ->
            for (s in streams) {
                val frames = bundled.decoder(s, runner).use { it.decodeAll() }
                assertTrue("$s: no frames", frames.isNotEmpty())
                for (f in frames) assertTrue("$s frame ${f.index}: ${f.md5Hex} != ${f.expectedMd5Hex}", f.verified)
            }
        }
    }

    /** The official vectors and the hostile catalogue on the device's CPU (the `mlvc conformance` of the port). */
    @Test
    fun vectorsAndHostileCatalogueOnCpu() {
        val results = bundled.runner(numThreads = 2).use { runner ->
            Conformance.run(bundled.vectors, bundled.pkg) { runner }
        }
        assertTrue("no vectors", results.isNotEmpty())
        assertEquals(emptyList<String>(), results.filter { !it.passed }.map { it.toString() })
    }

    /** The startup probe: LiteRT on this device's CPU reproduces the battery exactly. */
    @Test
    fun startupProbeOnCpuIsExact() {
        bundled.runner(numThreads = 2).use { runner ->
            val r = Probe.run(runner, bundled.battery)
            assertTrue("${runner.environment}: ${r.details}", r.exact)
        }
    }
}
