package ai.mlvc.demo

import ai.mlvc.Decoder
import ai.mlvc.DecoderOptions
import ai.mlvc.ModelPackage
import android.content.res.AssetManager
import java.nio.ByteBuffer
import java.nio.ByteOrder

/**
 * What the build bundles under assets/ (see app/build.gradle.kts):
 *   conformance/index.json, package.json, tables.radius.i32, tables.cdf.u32, *.mlvc, invalid/
 *   model/h_s.tflite, model/g_s.tflite
 */
class Bundled(private val assets: AssetManager) {
    fun bytes(path: String): ByteArray = assets.open(path).use { it.readBytes() }

    val pkg: ModelPackage by lazy {
        ModelPackage.fromBytes(
            bytes("conformance/package.json"),
            bytes("conformance/tables.radius.i32"),
            bytes("conformance/tables.cdf.u32"),
        )
    }

    /** Stream names listed in conformance/index.json (one `"stream": "x.mlvc"` per entry). */
    fun streams(): List<String> =
        Regex("\"stream\"\\s*:\\s*\"([^\"]+)\"").findAll(String(bytes("conformance/index.json"))).map { it.groupValues[1] }.toList()

    private fun model(role: String): ByteBuffer {
        val b = bytes("model/$role.tflite")
        return ByteBuffer.allocateDirect(b.size).order(ByteOrder.nativeOrder()).put(b).also { it.rewind() }
    }

    fun runner(numThreads: Int): LiteRtNetworkRunner =
        LiteRtNetworkRunner(mapOf("h_s" to model("h_s"), "g_s" to model("g_s")), numThreads)

    fun decoder(stream: String, runner: LiteRtNetworkRunner, options: DecoderOptions = DecoderOptions.DEFAULT) =
        Decoder(bytes("conformance/$stream"), pkg, runner, options)
}
