package ai.mlvc

import java.io.File
import org.junit.Assert.assertArrayEquals
import org.junit.Assert.fail

/**
 * Access to conformance/golden/ (written by sdk/mlvc/conformance/golden.py). Everything is
 * read from index.json / package.json, so regenerated goldens (new model, new channel counts)
 * need no test changes. Location: system property `mlvc.golden`, env `MLVC_GOLDEN`, or
 * ../conformance/golden relative to the working directory.
 */
object Golden {
    val dir: File by lazy {
        val p = System.getProperty("mlvc.golden") ?: System.getenv("MLVC_GOLDEN")
        val d = File(p ?: "../conformance/golden")
        require(File(d, "index.json").isFile) { "golden files not found at ${d.absolutePath} (set -Dmlvc.golden)" }
        d
    }

    val pkg: ModelPackage by lazy { ModelPackage.load(dir) }

    /**
     * package.json's `residual_networks`, read here and not through [ModelPackage], so that the
     * role checks do not trust the parser they test: P-frame residuals use res_h_s / res_g_s.
     */
    val residualNetworks: Boolean by lazy {
        (Json.parse(File(dir, "package.json").readText()) as Map<*, *>)["residual_networks"] == true
    }

    /**
     * One frame of index.json. [yShape] / [zShape] are null for a frame without a parse path
     * (a skip P-frame); [mode], [mvTable], [mvShape] are null for I-frames.
     */
    class FrameInfo(val stream: String, val index: Int, val type: String, val quality: Int,
                    val md5: String, private val y: IntArray?, private val z: IntArray?,
                    val mode: Int?, val mvTable: Int?, val mvShape: IntArray?) {
        /** Whether the frame ran the parse path and networks (I-frame, or P-frame of mode 1 or 3). */
        val hasParsePath: Boolean get() = y != null
        val yShape: IntArray get() = y ?: throw AssertionError("$stream frame $index has no y_shape")
        val zShape: IntArray get() = z ?: throw AssertionError("$stream frame $index has no z_shape")
        private fun file(kind: String) = File(Golden.dir, "$stream.f$index.$kind")
        fun i8(kind: String): ByteArray = file(kind).readBytes()
        fun i32(kind: String): IntArray {
            val b = file(kind).readBytes()
            return IntArray(b.size / 4).also {
                java.nio.ByteBuffer.wrap(b).order(java.nio.ByteOrder.LITTLE_ENDIAN).asIntBuffer().get(it)
            }
        }
    }

    class StreamInfo(val name: String, val file: File, val width: Int, val height: Int, val frames: List<FrameInfo>) {
        override fun toString() = name
        /** The frames that call h_s and g_s, in order (what a strict [GoldenNetworkRunner] expects). */
        val networkFrames: List<FrameInfo> get() = frames.filter { it.hasParsePath }
    }

    private fun ints(v: Any?): IntArray = (v as List<*>).map { (it as Long).toInt() }.toIntArray()
    private fun intsOrNull(v: Any?): IntArray? = v?.let { ints(it) }

    val streams: List<StreamInfo> by lazy {
        (Json.parse(File(dir, "index.json").readText()) as List<*>).map { e ->
            val m = e as Map<*, *>
            val name = m["name"] as String
            StreamInfo(name, File(dir, m["stream"] as String), (m["width"] as Long).toInt(), (m["height"] as Long).toInt(),
                (m["frames"] as List<*>).mapIndexed { i, f ->
                    val fm = f as Map<*, *>
                    FrameInfo(name, i, fm["type"] as String, (fm["quality"] as Long).toInt(), fm["md5"] as String,
                        intsOrNull(fm["y_shape"]), intsOrNull(fm["z_shape"]),
                        (fm["mode"] as Long?)?.toInt(), (fm["mv_table"] as Long?)?.toInt(), intsOrNull(fm["mv_shape"]))
                })
        }
    }

    /**
     * One P-frame of a block-tree clip (`blocktree.json`, modes 4/5, docs/bitstream.md §4c): the
     * header fields and the decoded PBs (`.pbs.i32`: y0, x0, size, dy, dx, skip, merge, merge
     * index per PB, in coding order); `.pred.u8` and `.prefilter.u8` are the prediction and the
     * picture before deblocking.
     */
    class TreeFrame(val frame: FrameInfo, val fSplit: IntArray, val fMerge: Int, val fMidx: Int, val fSkip: Int,
                    val deblock: Int, val substreamBytes: Int, val pbsShape: IntArray) {
        val pbs: IntArray get() = frame.i32("pbs.i32")
        val pred: ByteArray get() = frame.i8("pred.u8")
        val prefilter: ByteArray get() = frame.i8("prefilter.u8")
    }

    /** The block-tree clips of `blocktree.json` (empty when the goldens have none) and their P-frames by index. */
    val treeStreams: List<Pair<StreamInfo, Map<Int, TreeFrame>>> by lazy {
        val f = File(dir, "blocktree.json")
        if (!f.isFile) return@lazy emptyList()
        (Json.parse(f.readText()) as List<*>).map { e ->
            val m = e as Map<*, *>
            val name = m["name"] as String
            val trees = HashMap<Int, TreeFrame>()
            val frames = (m["frames"] as List<*>).mapIndexed { i, fr ->
                val fm = fr as Map<*, *>
                val info = FrameInfo(name, i, fm["type"] as String, (fm["quality"] as Long).toInt(), fm["md5"] as String,
                    intsOrNull(fm["y_shape"]), intsOrNull(fm["z_shape"]),
                    (fm["mode"] as Long?)?.toInt(), (fm["mv_table"] as Long?)?.toInt(), null)
                if (info.type == "P") {
                    trees[i] = TreeFrame(info, ints(fm["f_split"]), (fm["f_merge"] as Long).toInt(), (fm["f_midx"] as Long).toInt(),
                        (fm["f_skip"] as Long).toInt(), (fm["deblock"] as Long).toInt(), (fm["substream_bytes"] as Long).toInt(),
                        ints(fm["pbs_shape"]))
                }
                info
            }
            StreamInfo(name, File(dir, m["stream"] as String), (m["width"] as Long).toInt(), (m["height"] as Long).toInt(), frames) to trees
        }
    }

    /**
     * The official conformance vectors (sdk/mlvc/data/vectors): system property `mlvc.vectors`,
     * env `MLVC_VECTORS`, or `../../sdk/mlvc/data/vectors` relative to the golden folder.
     */
    val vectorsDir: File by lazy {
        val p = System.getProperty("mlvc.vectors") ?: System.getenv("MLVC_VECTORS")
        val d = if (p != null) File(p) else File(dir.absoluteFile, "../../sdk/mlvc/data/vectors").normalize()
        require(File(d, "manifest.json").isFile) { "conformance vectors not found at ${d.absolutePath} (set -Dmlvc.vectors)" }
        d
    }

    /** The vectors and the hostile-stream catalogue (checked against the manifest's SHA-256s). */
    val vectors: ConformanceVectors by lazy { ConformanceVectors.load(vectorsDir) }

    /** The catalogue's cases (`invalid/catalogue.json`, written by sdk/mlvc/conformance/hostile.py). */
    val catalogue: List<ConformanceVectors.HostileCase> get() = vectors.hostile

    /** `calls/calls.json`: every network call of the NumPy decoder on the vectors and the catalogue. */
    val calls: List<RecordedCall> by lazy {
        val d = File(dir, "calls")
        RecordedCall.parseList((Json.parse(File(d, "calls.json").readText()) as Map<*, *>)["calls"] as List<*>) { File(d, it).readBytes() }
    }

    /** The manifest SHA-256 the calls were recorded from (must equal [ConformanceVectors.manifestSha256]). */
    val callsManifestSha256: String by lazy {
        (Json.parse(File(dir, "calls/calls.json").readText()) as Map<*, *>)["vectors_manifest_sha256"] as String
    }

    /** The startup probe's battery (`probe/probe.json`). */
    val probe: ProbeBattery by lazy { ProbeBattery.load(File(dir, "probe")) }

    val allFrames: List<FrameInfo> get() = streams.flatMap { it.frames }
}

/**
 * Stands in for LiteRT: checks that the port asks h_s about exactly the recorded `z` and g_s
 * about exactly the recorded `y_hat`, then answers with the recorded outputs. res_h_s / res_g_s
 * (P-frame residuals of a package with residual networks) are served from the same per-frame
 * files, as golden.py records them; [log] says which role each call used.
 *
 * Strict mode ([expected] given): frames must come in that order (only frames with a parse path:
 * [Golden.StreamInfo.networkFrames]). Lenient mode (null): the
 * answer is looked up by input among all golden frames (hostile streams derived from a golden
 * one); an unknown input gets zeros of the right shape.
 */
class GoldenNetworkRunner(private val expected: List<Golden.FrameInfo>?) : NetworkRunner {
    /** One network call: its role and the golden frame that answered (null: none, lenient mode). */
    class Call(val role: String, val frame: Golden.FrameInfo?)

    private var hsCalls = 0
    private var gsCalls = 0
    private val callLog = ArrayList<Call>()
    val calls: Int get() = hsCalls + gsCalls
    val log: List<Call> get() = callLog

    override fun run(role: String, input: Int8Tensor): Map<String, Int8Tensor> = when (role) {
        "h_s", "res_h_s" -> {
            val f = pick(hsCalls++, "z.i8", input)
            callLog += Call(role, f)
            val set = if (role == "res_h_s") NetworkSet.RESIDUAL else NetworkSet.INTRA
            val shape = f?.yShape ?: intArrayOf(1, input.shape[1] * 4, input.shape[2] * 4, Golden.pkg.latentChannelsOf(set))
            mapOf(
                "mu" to Int8Tensor(shape, f?.i8("hs_mu.i8") ?: ByteArray(shape.reduce(Int::times))),
                "sigma_index" to Int8Tensor(shape, f?.i8("hs_sigma_index.i8") ?: ByteArray(shape.reduce(Int::times))),
            )
        }
        "g_s", "res_g_s" -> {
            val f = pick(gsCalls++, "y_hat.i8", input)
            callLog += Call(role, f)
            val shape = intArrayOf(1, input.shape[1] * 16, input.shape[2] * 16, 3)
            mapOf("image" to Int8Tensor(shape, f?.i8("gs_image.i8") ?: ByteArray(shape.reduce(Int::times))))
        }
        else -> throw AssertionError("unexpected network role $role")
    }

    companion object {
        /**
         * The (frame index, role) calls a decode of [frames] (networkFrames) must make, in order:
         * h_s then g_s per frame; res_h_s, res_g_s for P-frames when [residual] (the package
         * has residual networks).
         */
        fun expectedRoles(frames: List<Golden.FrameInfo>, residual: Boolean): List<Pair<Int, String>> = frames.flatMap { f ->
            val p = if (f.type == "P" && residual) "res_" else ""
            listOf(f.index to "${p}h_s", f.index to "${p}g_s")
        }
    }

    /** [log] as (frame index, role) pairs, to compare with [expectedRoles]. */
    fun roles(): List<Pair<Int, String>> = log.map { (it.frame?.index ?: -1) to it.role }

    private fun pick(call: Int, kind: String, input: Int8Tensor): Golden.FrameInfo? {
        if (expected != null) {
            if (call >= expected.size) fail("more network calls than golden frames")
            val f = expected[call]
            val want = if (kind == "z.i8") f.zShape else f.yShape
            assertArrayEquals("${f.stream} frame ${f.index}: $kind shape", want, input.shape)
            assertArrayEquals("${f.stream} frame ${f.index}: $kind contents", f.i8(kind), input.data)
            return f
        }
        return Golden.allFrames.firstOrNull { it.hasParsePath && it.i8(kind).contentEquals(input.data) }
    }
}

/**
 * Stands in for LiteRT on the vectors, the catalogue and the probe: answers a call whose role and
 * input (shape and bytes) were recorded by golden.py with the recorded outputs, in any order. An
 * unrecorded call is a test failure (AssertionError, not turned into a BACKEND error), so a port
 * asking other questions than the Python decoder cannot pass. [calls] counts the calls per role.
 */
class RecordedNetworkRunner(recorded: List<RecordedCall> = Golden.calls, private val exact: Boolean = true,
                            override val environment: String = "recorded") : NetworkRunner {
    private val table: Map<String, RecordedCall> = recorded.associateBy { key(it.role, it.input) }
    val calls = HashMap<String, Int>()
    val total: Int get() = calls.values.sum()

    override fun run(role: String, input: Int8Tensor): Map<String, Int8Tensor> {
        calls.merge(role, 1, Int::plus)
        val c = table[key(role, input)] ?: throw AssertionError("unrecorded $role call on ${input.shape.contentToString()}")
        return c.outputs.mapValues { (_, t) -> Int8Tensor(t.shape.copyOf(), t.data.copyOf()) }
    }

    override fun isExact(role: String) = exact

    companion object {
        fun key(role: String, t: Int8Tensor): String =
            role + t.shape.contentToString() + hex(java.security.MessageDigest.getInstance("SHA-256").digest(t.data))
    }
}

/**
 * A required golden input: a failure when `MLVC_REQUIRE_GOLDEN=1` (test-jvm.sh sets it, so CI
 * cannot pass on skipped tests), else an assumption (the test is skipped and counted as such).
 */
fun requireGolden(message: String, condition: Boolean) {
    if (System.getenv("MLVC_REQUIRE_GOLDEN") == "1") {
        if (!condition) throw AssertionError("required golden input missing (MLVC_REQUIRE_GOLDEN=1): $message")
    } else {
        org.junit.Assume.assumeTrue(message, condition)
    }
}

/**
 * This package with [resZTableIndex] (null: without residual networks) and [resLatentChannels]
 * (default: this package's, or latent_channels without residual networks); same id and hash.
 */
internal fun ModelPackage.withResZTableIndex(
    resZTableIndex: IntArray?,
    resLatentChannels: Int = if (resZTableIndex == null) latentChannels else this.resLatentChannels,
): ModelPackage = ModelPackage(
    modelId, modelHash, yExp, levels, alignment, latentChannels, hyperChannels, tablesPerOctave,
    zTableIndex, maxWidth, maxHeight, tables, resZTableIndex, resLatentChannels,
)
