package ai.mlvc

import org.junit.Assert.assertEquals
import org.junit.Assert.fail
import org.junit.Test
import org.junit.runner.RunWith
import org.junit.runners.Parameterized

/** Every hostile stream in invalid/index.json fails with the listed error kind. */
@RunWith(Parameterized::class)
class InvalidStreamTest(private val c: Golden.InvalidCase) {
    companion object {
        @JvmStatic
        @Parameterized.Parameters(name = "{0}")
        fun cases(): List<Array<Any>> = Golden.invalid.map { arrayOf<Any>(it) }
    }

    @Test
    fun failsWithListedKind() {
        try {
            Decoder(c.file.readBytes(), Golden.pkg, GoldenNetworkRunner(null)).use { it.decodeAll() }
            fail("${c.file.name}: decoded without error, expected ${c.kind.code}")
        } catch (e: MlvcException) {
            assertEquals("${c.file.name}: ${e.message}", c.kind, e.kind)
        }
    }
}
