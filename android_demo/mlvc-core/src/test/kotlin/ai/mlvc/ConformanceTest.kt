package ai.mlvc

import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Test
import org.junit.runner.RunWith
import org.junit.runners.Parameterized

/**
 * The official conformance vectors (sdk/mlvc/data/vectors: NAME.mlvc and NAME.md5), as
 * `mlvc conformance` runs them: every frame decodes to its listed MD5 and verifies. The networks
 * answer from golden.py's recorded NumPy calls (calls/), by role and input: the port asks exactly
 * the Python decoder's questions or the test fails.
 */
@RunWith(Parameterized::class)
class VectorConformanceTest(private val v: ConformanceVectors.Vector) {
    companion object {
        @JvmStatic
        @Parameterized.Parameters(name = "{0}")
        fun vectors(): List<Array<Any>> = Golden.vectors.vectors.map { arrayOf<Any>(it) }
    }

    @Test
    fun decodesToItsMd5s() {
        val runner = RecordedNetworkRunner()
        val r = Conformance.runVector(Golden.vectors, v, Golden.pkg, runner)
        assertTrue("${v.name}: ${r.detail}", r.passed)
        assertEquals(v.frames, r.frames)
        // With verification on, through the decoder's own hash check.
        val frames = Decoder(Golden.vectors.bytes(v.stream), Golden.pkg, RecordedNetworkRunner()).use { it.decodeAll() }
        assertEquals(Golden.vectors.md5s(v), frames.map { it.md5Hex })
        assertTrue(frames.all { it.verified && !it.recovered })
    }
}

class VectorSetTest {
    /** The recorded calls come from these vectors (regenerated vectors need regenerated goldens). */
    @Test
    fun callsWereRecordedFromTheseVectors() {
        assertEquals(Golden.vectors.manifestSha256, Golden.callsManifestSha256)
        requireGolden("vectors with P-frames of every mode (0-3: §4b grid, 4, 5: §4c block tree)", (0..5).all { mode ->
            Golden.vectors.vectors.any { v -> pModes(Golden.vectors.bytes(v.stream)).contains(mode) }
        })
    }

    /** The runner over every vector and catalogue case reports them all passed. */
    @Test
    fun conformanceRunPasses() {
        val results = Conformance.run(Golden.vectors, Golden.pkg) { RecordedNetworkRunner() }
        assertEquals(Golden.vectors.vectors.size + Golden.catalogue.size, results.size)
        assertEquals(emptyList<String>(), results.filter { !it.passed }.map { it.toString() })
    }

    /** A damaged vector file is reported as such (INVALID_ARGUMENT), as the Python runner does. */
    @Test
    fun damagedVectorIsReported() {
        val v = Golden.vectors.vectors.first()
        val e = runCatching {
            ConformanceVectors { rel ->
                val b = java.io.File(Golden.vectorsDir, rel).readBytes()
                if (rel == v.stream) b.also { it[it.size / 2] = (it[it.size / 2] + 1).toByte() } else b
            }
        }.exceptionOrNull()
        assertTrue("$e", e is MlvcException && e.kind == ErrorKind.INVALID_ARGUMENT && e.message!!.contains("damaged"))
    }

    private fun pModes(stream: ByteArray): Set<Int> {
        val modes = HashSet<Int>()
        var o = 64
        while (o + 28 <= stream.size) {
            val len = EditableStream.le32(stream, o + 4)
            if (stream[o] == 'P'.code.toByte()) modes += stream[o + 28].toInt() and 0xFF
            o += 28 + len
        }
        return modes
    }
}
