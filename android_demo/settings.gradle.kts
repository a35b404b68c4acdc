// MLVC Android demo. Not built in CI (no Android SDK there): test-jvm.sh tests :mlvc-core with
// kotlinc + JUnit4 and links app/ resources with aapt2; build the app with Android Studio or
// `./gradlew :app:assembleDebug :app:connectedDebugAndroidTest` (see README.md).
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}
dependencyResolutionManagement {
    repositoriesMode.set(RepositoriesMode.FAIL_ON_PROJECT_REPOS)
    repositories {
        google()
        mavenCentral()
    }
}
rootProject.name = "mlvc-android-demo"
include(":mlvc-core", ":app")
