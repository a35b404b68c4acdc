package ai.mlvc.demo

import ai.mlvc.ConformanceVectors
import ai.mlvc.Decoder
import ai.mlvc.DecoderOptions
import ai.mlvc.ErrorKind
import ai.mlvc.MlvcException
import ai.mlvc.ModelPackage
import ai.mlvc.PackageFiles
import ai.mlvc.Probe
import ai.mlvc.ProbeBattery
import ai.mlvc.ProbedNetworkRunner
import ai.mlvc.VerifiedPackage
import java.io.File
import android.content.res.AssetManager
import java.io.IOException
import java.nio.ByteBuffer
import java.nio.ByteOrder

/**
 * What the build bundles under assets/ (see app/build.gradle.kts):
 *   conformance/index.json, blocktree.json, *.mlvc, probe/
 *   vectors/manifest.json, *.mlvc, *.md5, invalid/ (the official vectors and the hostile catalogue)
 *   model/manifest.json, model/tables.npz, model/networks/h_s.tflite, g_s.tflite, and
 *   res_h_s.tflite, res_g_s.tflite for a package with residual networks: the model package
 *   (-PmlvcPackage), verified on load: its content_hash recomputed from the manifest and every
 *   .tflite the decoder runs checked against its SHA-256; a mismatch is an MlvcException(MODEL).
 */
class Bundled(private val assets: AssetManager) {
    fun bytes(path: String): ByteArray = assets.open(path).use { it.readBytes() }

    /** The bundled model package, verified (ModelPackage.fromPackageFiles: MODEL error on any mismatch). */
    val verified: VerifiedPackage by lazy {
        ModelPackage.fromPackageFiles(PackageFiles.DECODER) { rel -> bytes("model/$rel") }   // absent: IOException → MODEL
    }

    val pkg: ModelPackage get() = verified.pkg

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
        val b = verified.networks[role]
            ?: throw MlvcException(ErrorKind.MODEL, "the bundled model package has no $role network")
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
