package ai.mlvc

import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Test
import org.junit.runner.RunWith
import org.junit.runners.Parameterized

/**
 * The one hostile-stream catalogue (sdk/mlvc/data/vectors/invalid/catalogue.json, written by
 * sdk/mlvc/conformance/hostile.py and run by the Python and Swift suites too): every stream fails
 * with its kind after exactly `frames_before` frames, through the ByteArray and the InputStream
 * paths, with every network call answered from the recorded NumPy calls (an unrecorded call fails).
 */
@RunWith(Parameterized::class)
class HostileCatalogueTest(private val c: ConformanceVectors.HostileCase) {
    companion object {
        @JvmStatic
        @Parameterized.Parameters(name = "{0}")
        fun cases(): List<Array<Any>> = Golden.catalogue.map { arrayOf<Any>(it) }
    }

    @Test
    fun failsWithItsKindAfterItsFrames() {
        val a = Conformance.runHostile(Golden.vectors, c, Golden.pkg, RecordedNetworkRunner())
        assertTrue("${c.name} (from ${c.base}): ${a.detail}", a.passed)
        val b = Conformance.runHostile(Golden.vectors, c, Golden.pkg, RecordedNetworkRunner(), streamed = true)
        assertTrue("${c.name} through an InputStream: ${b.detail}", b.passed)
        assertEquals("${c.name}: both paths stop at the same frame", a.frames, b.frames)
    }
}

/** The catalogue itself: both P-frame kinds, every error kind a stream can cause. */
class HostileCatalogueShapeTest {
    @Test
    fun coversThePFrameKindsAndErrorKinds() {
        val cases = Golden.catalogue
        assertTrue("at least 60 cases, got ${cases.size}", cases.size >= 60)
        requireGolden("catalogue has whole-pixel P-frame cases", cases.any { it.name.startsWith("p1_") })
        requireGolden("catalogue has half-pixel P-frame cases", cases.any { it.name.startsWith("p3_") })
        assertEquals(setOf(ErrorKind.CORRUPT_STREAM, ErrorKind.UNSUPPORTED, ErrorKind.MODEL, ErrorKind.HASH_MISMATCH),
            cases.map { it.kind }.toSet())
        assertEquals("names are unique", cases.size, cases.map { it.name }.toSet().size)
    }
}
