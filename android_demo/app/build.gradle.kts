plugins {
    alias(libs.plugins.android.application)
    alias(libs.plugins.kotlin.android)
}

// Bundled assets, generated at build time (nothing copied into the source tree):
//   conformance/  the golden streams + probe/ (the startup probe's battery)
//                 (from ../conformance/golden)
//   vectors/      the official conformance vectors + hostile catalogue (../sdk/mlvc/data/vectors)
//   model/        the model package the decoder runs (-PmlvcPackage=DIR, default the bundled one):
//                 manifest.json, tables.npz, networks/{h_s,g_s,res_h_s,res_g_s}.tflite (the res_* pair
//                 only exists in packages with residual networks); Bundled.pkg verifies the manifest's
//                 content_hash and these files' SHA-256s (ModelPackage.fromPackageFiles)
val goldenDir = rootProject.file("../conformance/golden")
val vectorsDir = rootProject.file("../sdk/mlvc/data/vectors")
val packageDir = rootProject.file(providers.gradleProperty("mlvcPackage").getOrElse("../sdk/mlvc/data/model"))
val generatedAssets = layout.buildDirectory.dir("generated/mlvcAssets")

val copyMlvcAssets by tasks.registering(Sync::class) {
    into(generatedAssets)
    from(goldenDir) {
        into("conformance")
        include("index.json", "blocktree.json", "*.mlvc", "probe/**")
    }
    from(vectorsDir) {
        into("vectors")
        include("manifest.json", "*.mlvc", "*.md5", "sources.npz", "invalid/**")
    }
    from(packageDir) {
        into("model")
        include("manifest.json", "tables.npz")
        include("networks/h_s.tflite", "networks/g_s.tflite", "networks/res_h_s.tflite", "networks/res_g_s.tflite")
    }
}

android {
    namespace = "ai.mlvc.demo"
    compileSdk = 35

    defaultConfig {
        applicationId = "ai.mlvc.demo"
        minSdk = 26
        targetSdk = 35
        versionCode = 1
        versionName = "0.1"
        testInstrumentationRunner = "androidx.test.runner.AndroidJUnitRunner"
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
    kotlinOptions { jvmTarget = "17" }

    sourceSets["main"].assets.srcDir(generatedAssets)
    // .tflite must stay uncompressed so LiteRT can map them.
    androidResources { noCompress += listOf("tflite", "mlvc") }
}

tasks.named("preBuild") { dependsOn(copyMlvcAssets) }

dependencies {
    implementation(project(":mlvc-core"))
    implementation(libs.litert)
    implementation(libs.androidx.appcompat)

    androidTestImplementation(libs.junit)
    androidTestImplementation(libs.androidx.test.runner)
    androidTestImplementation(libs.androidx.test.ext.junit)
}
