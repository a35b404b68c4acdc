// JDK-only Kotlin core: container, rANS, CDF tables, parse path, MD5, public API.
// No Android dependency, so the same sources are tested on the JVM (test-jvm.sh or `gradle :mlvc-core:test`).
plugins {
    alias(libs.plugins.kotlin.jvm)
    `java-library`
}

kotlin { jvmToolchain(17) }

dependencies {
    testImplementation(libs.junit)
    testImplementation(libs.kotlin.test.junit)
}

tasks.test {
    systemProperty("mlvc.golden", rootProject.file("../conformance/golden").absolutePath)
    // Run RunTests' classes only (RansBenchmark is a main, not a test).
    include("**/*Test.class")
}
