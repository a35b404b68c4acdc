package ai.mlvc

import org.junit.runner.Description
import org.junit.runner.JUnitCore
import org.junit.runner.Request
import org.junit.runner.notification.Failure
import org.junit.runner.notification.RunListener
import kotlin.system.exitProcess

/**
 * Runs the JUnit4 test classes and prints one line per test plus `junit: N passed, N failed`
 * (test-jvm.sh folds that into its summary); tests whose assumptions the goldens do not meet
 * print SKIP and are counted (`junit: N skipped`). With `MLVC_REQUIRE_GOLDEN=1` (test-jvm.sh's
 * default) a skip is a failure: a missing golden input cannot pass CI. Exit status 1 on any failure.
 */
object RunTests {
    val CLASSES = listOf(
        GoldenStreamTest::class.java, HostileCatalogueTest::class.java, HostileCatalogueShapeTest::class.java,
        VectorConformanceTest::class.java, VectorSetTest::class.java, ProbeTest::class.java, RecoveryTest::class.java,
        DecoderOptionsTest::class.java,
        DecoderBehaviourTest::class.java, ModelPackageTest::class.java, RansTest::class.java,
        InterDecodingTest::class.java, BlockTreeTest::class.java, BlockTreeGoldenTest::class.java, ResidualNetworksTest::class.java,
        FuzzTest::class.java, StreamInputTest::class.java,
        StreamInputLimitsTest::class.java, PackageManifestTest::class.java,
    )

    @JvmStatic
    fun main(args: Array<String>) {
        var passed = 0
        var failed = 0
        var skippedCount = 0
        val requireGolden = System.getenv("MLVC_REQUIRE_GOLDEN") == "1"
        val core = JUnitCore()
        core.addListener(object : RunListener() {
            private var current: Description? = null
            private var bad = false
            private var skipped = false
            override fun testStarted(d: Description) { current = d; bad = false; skipped = false }
            override fun testAssumptionFailure(f: Failure) {   // not applicable to these goldens
                skipped = true
                println("SKIP ${f.description.displayName}: ${f.message}")
            }
            override fun testFailure(f: Failure) {
                bad = true
                println("FAIL ${f.description.displayName}: ${f.message}")
                if (f.description.methodName == null || System.getenv("MLVC_TRACE") != null) println(f.trace)
                if (f.description.methodName == null) failed++   // class-level failure (e.g. parameters)
            }
            override fun testFinished(d: Description) {
                if (bad) failed++
                else if (skipped && requireGolden) { failed++; println("FAIL ${d.displayName}: skipped, but MLVC_REQUIRE_GOLDEN=1") }
                else if (skipped) skippedCount++
                else { passed++; println("PASS ${d.displayName}") }
            }
        })
        core.run(Request.classes(*CLASSES.toTypedArray()))
        println("junit: $skippedCount skipped" + if (skippedCount > 0) " (assumptions not met by these goldens)" else "")
        println("junit: $passed passed, $failed failed")
        exitProcess(if (failed == 0 && passed > 0) 0 else 1)
    }
}
