package ai.mlvc.demo

import ai.mlvc.ErrorKind
import ai.mlvc.MlvcException
import androidx.test.ext.junit.runners.AndroidJUnit4
import androidx.test.platform.app.InstrumentationRegistry
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Test
import org.junit.runner.RunWith

/**
 * On-device conformance: every bundled golden stream decodes through LiteRT CPU/XNNPACK with
 * every picture hash verified (the Decoder throws HASH_MISMATCH otherwise), and every hostile
 * stream fails with its listed error kind. Needs the .tflite of the package that produced the
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

    @Test
    fun hostileStreamsFailWithListedKind() {
        val index = String(bundled.bytes("conformance/invalid/index.json"))
        val cases = Regex("\"file\"\\s*:\\s*\"([^\"]+)\"\\s*,\\s*\"error\"\\s*:\\s*\"([^\"]+)\"").findAll(index)
            .map { it.groupValues[1] to ErrorKind.fromCode(it.groupValues[2]) }.toList()
        assertTrue("no hostile streams", cases.isNotEmpty())
        bundled.runner(numThreads = 2).use { runner ->
            for ((file, kind) in cases) {
                try {
                    bundled.decoder("invalid/$file", runner).use { it.decodeAll() }
                    fail("$file decoded, expected ${kind.code}")
                } catch (e: MlvcException) {
                    assertEquals("$file: ${e.message}", kind, e.kind)
                }
            }
        }
    }
}
