package ai.mlvc.demo

import ai.mlvc.ConformanceVectors
import ai.mlvc.Decoder
import ai.mlvc.DecoderOptions
import ai.mlvc.ErrorKind
import ai.mlvc.MlvcException
import ai.mlvc.ModelPackage
import ai.mlvc.Probe
import ai.mlvc.ProbeBattery
import ai.mlvc.ProbedNetworkRunner
import java.io.File
import android.content.res.AssetManager
import java.io.IOException
import java.nio.ByteBuffer
import java.nio.ByteOrder

/**
 * What the build bundles under assets/ (see app/build.gradle.kts):
 *   conformance/index.json, blocktree.json, package.json, tables.radius.i32, tables.cdf.u32, *.mlvc, probe/
 *   vectors/manifest.json, *.mlvc, *.md5, invalid/ (the official vectors and the hostile catalogue)
 *   model/h_s.tflite, model/g_s.tflite, and model/res_h_s.tflite, model/res_g_s.tflite for a
 *   package with residual networks (package.json `residual_networks`)
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

    /**
     * Stream names listed in conformance/index.json and, when bundled, conformance/blocktree.json
     * (the block-tree clips, modes 4/5; one `"stream": "x.mlvc"` per entry).
     */
    fun streams(): List<String> {
        val lists = listOf(String(bytes("conformance/index.json"))) +
            listOfNotNull(try { String(bytes("conformance/blocktree.json")) } catch (e: IOException) { null })
        return lists.flatMap { text -> Regex("\"stream\"\\s*:\\s*\"([^\"]+)\"").findAll(text).map { it.groupValues[1] }.toList() }
    }

    private fun model(role: String): ByteBuffer {
        val b = try {
            bytes("model/$role.tflite")
        } catch (e: IOException) {
            throw MlvcException(ErrorKind.MODEL, "model/$role.tflite is not bundled (built with another -PmlvcPackage?)", e)
        }
        return ByteBuffer.allocateDirect(b.size).order(ByteOrder.nativeOrder()).put(b).also { it.rewind() }
    }

    /** h_s and g_s, plus res_h_s and res_g_s when the package has residual networks. */
    fun runner(numThreads: Int): LiteRtNetworkRunner =
        LiteRtNetworkRunner(pkg.networkSets.flatMap { listOf(it.hs, it.gs) }.associateWith(::model), numThreads)

    /** The startup probe's battery (conformance/probe/). */
    val battery: ProbeBattery by lazy {
        ProbeBattery.fromJson(String(bytes("conformance/probe/probe.json"))) { bytes("conformance/probe/$it") }
    }

    /** The official conformance vectors and the hostile catalogue (vectors/). */
    val vectors: ConformanceVectors by lazy { ConformanceVectors { bytes("vectors/$it") } }

    /** [runner] with the startup probe's verdict, cached per environment in [cacheDir]. */
    fun probed(runner: LiteRtNetworkRunner, cacheDir: File): ProbedNetworkRunner = Probe.check(runner, battery, cacheDir)

    fun decoder(stream: String, runner: ai.mlvc.NetworkRunner, options: DecoderOptions = DecoderOptions.DEFAULT,
                reference: ai.mlvc.NetworkRunner? = null) =
        Decoder(bytes("conformance/$stream"), pkg, runner, options, reference)
}
