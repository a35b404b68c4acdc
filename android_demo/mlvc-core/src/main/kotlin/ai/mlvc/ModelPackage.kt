package ai.mlvc

import java.io.File
import java.nio.ByteBuffer
import java.nio.ByteOrder

/**
 * One of a package's two hyperpriors (docs/bitstream.md §4b): the intra networks (h_s, g_s,
 * `z_table_index`), or the residual networks (res_h_s, res_g_s, `res_z_table_index`) that code
 * P-frame residuals in a package that has them. Both have the same parse path; the residual
 * latent may have its own channel count ([ModelPackage.latentChannelsOf]).
 */
enum class NetworkSet(private val prefix: String) {
    INTRA(""),
    RESIDUAL("res_");

    /** Role of the exact hyper-synthesis network (it decides the symbols). */
    val hs: String get() = prefix + "h_s"
    /** Role of the synthesis network (may run approximately). */
    val gs: String get() = prefix + "g_s"
}

/**
 * The constants of a model package that the decoder needs (docs/bitstream.md §4), plus its CDF
 * tables. This is the Kotlin form of the golden `package.json` written by
 * `sdk/mlvc/conformance/golden.py`: the manifest fields flattened, `model_hash` = the 16-byte
 * stream hash (hex).
 *
 * Sources: [loadPackage] / [fromPackageFiles] read a model package as the Python SDK writes it
 * (`manifest.json`, `tables.npz`, `networks/`): the manifest's `content_hash` is recomputed
 * ([PackageManifest]) and every file the port reads is checked against its SHA-256, so a package
 * that is not the one its hash names is refused with [ErrorKind.MODEL] (sdk/mlvc/package/loader.py).
 * [load] reads `package.json` + `tables.radius.i32` + `tables.cdf.u32` from a directory
 * (JVM tests, and the Android app's assets, which bundle the same three files next to the
 * `.tflite` networks: h_s, g_s, plus res_h_s, res_g_s with residual networks); [fromBytes] takes
 * the same three blobs from anywhere (test fixtures). That export carries no manifest (only the
 * 16-byte `model_hash`), so no content hash can be recomputed there: a package to decode with in
 * production goes through [loadPackage] / [fromPackageFiles] (the app does).
 * The tables are checked against `tables_sha256` and every constant is range-checked: any
 * failure is an [ErrorKind.MODEL] error.
 *
 * [resZTableIndex] is non-null exactly when the package has residual networks
 * (`residual_networks` in package.json; absent in older packages, which have none).
 * [resLatentChannels] is the residual networks' latent channel count (`res_latent_channels`;
 * absent or null: [latentChannels]); it may differ from [latentChannels] only with residual networks.
 */
class ModelPackage(
    val modelId: String,
    /** The 16 bytes a stream header must carry (first half of the package's content hash). */
    val modelHash: ByteArray,
    val yExp: Int,
    /** quality level → exponent. */
    val levels: Map<Int, Int>,
    val alignment: Int,
    val latentChannels: Int,
    val hyperChannels: Int,
    val tablesPerOctave: Int,
    val zTableIndex: IntArray,
    val maxWidth: Int,
    val maxHeight: Int,
    val tables: CdfTables,
    /** z table per hyper channel for the residual networks; null: the package has none. */
    val resZTableIndex: IntArray? = null,
    /** Latent channels of the residual networks (y_hat of res_h_s / res_g_s); [latentChannels] unless given. */
    val resLatentChannels: Int = latentChannels,
) {
    val numTables: Int get() = tables.numTables

    /** Whether P-frame residuals use res_h_s / res_g_s / [resZTableIndex] (else the intra set). */
    val residualNetworks: Boolean get() = resZTableIndex != null

    /** The set that decodes P-frame residuals. */
    val residualSet: NetworkSet get() = if (residualNetworks) NetworkSet.RESIDUAL else NetworkSet.INTRA

    /** The sets this package's streams use: intra, plus residual when the package has it. */
    val networkSets: List<NetworkSet> get() = listOf(NetworkSet.INTRA, residualSet).distinct()

    init {
        if (modelId.isEmpty() || modelId.length > 16 || !modelId.all { it.isLetterOrDigit() && it.code < 128 || it in "._-" }) {
            modelError("model id '$modelId' is not 1-16 characters of [A-Za-z0-9._-]")
        }
        if (modelHash.size != 16) modelError("model hash must be 16 bytes")
        if (levels.isEmpty()) modelError("package has no quality levels")
        for ((lv, exp) in levels) {
            if (lv !in 1..255) modelError("quality level $lv out of range")
            if (exp < yExp || exp - yExp > 16) modelError("level $lv: exp $exp below y_exp $yExp or too far above")
        }
        if (alignment < 64 || alignment % 64 != 0) modelError("alignment $alignment must be a multiple of 64")
        if (latentChannels !in 1..1024 || hyperChannels !in 1..1024) modelError("channel counts out of range")
        if (tablesPerOctave !in 1..64) modelError("tables_per_octave out of range")
        if (zTableIndex.size != hyperChannels || zTableIndex.any { it !in 0 until tables.numTables }) {
            modelError("z_table_index must name one valid table per hyper channel")
        }
        if (resZTableIndex != null && (resZTableIndex.size != hyperChannels || resZTableIndex.any { it !in 0 until tables.numTables })) {
            modelError("res_z_table_index must name one valid table per hyper channel")
        }
        if (resLatentChannels !in 1..1024) modelError("res_latent_channels $resLatentChannels out of range 1..1024")
        if (resZTableIndex == null && resLatentChannels != latentChannels) {
            modelError("res_latent_channels $resLatentChannels differs from latent_channels $latentChannels without residual networks")
        }
        if (maxWidth !in 1..16384 || maxHeight !in 1..16384) modelError("max picture size out of range")
    }

    /** Latent channels (M of y_hat, the h_s outputs and the g_s input) of [set]'s networks. */
    fun latentChannelsOf(set: NetworkSet): Int = when (set) {
        NetworkSet.INTRA -> latentChannels
        NetworkSet.RESIDUAL -> resLatentChannels
    }

    /** The exponent of quality [level], or null if the package has no such level. */
    fun exponent(level: Int): Int? = levels[level]

    /** The z table per hyper channel of [set]; INVALID_ARGUMENT for a set the package lacks. */
    fun zTableIndexOf(set: NetworkSet): IntArray = when (set) {
        NetworkSet.INTRA -> zTableIndex
        NetworkSet.RESIDUAL -> resZTableIndex ?: invalidArgument("this model package has no residual networks")
    }

    companion object {
        /**
         * A model package directory (`manifest.json`, `tables.npz`, `networks/`) verified as
         * Python's `ModelPackage.load`: the manifest's content hash, and with [PackageFiles.ALL] every
         * role's graph and `.tflite` file against its SHA-256 (with [PackageFiles.DECODER] only the
         * decoder's `.tflite` files). Any mismatch, missing or unreadable file: [ErrorKind.MODEL].
         */
        fun loadPackage(dir: File, files: PackageFiles = PackageFiles.ALL): VerifiedPackage = PackageLoader.load(dir, files)

        /**
         * As [loadPackage] from anywhere (e.g. Android assets): [read] gives a file by its path
         * relative to the package root (`manifest.json`, `tables.npz`, `networks/h_s.tflite`), or
         * null (or throws IOException) when it is absent. By default only the `.tflite` files a
         * decoder runs are read and checked.
         */
        fun fromPackageFiles(files: PackageFiles = PackageFiles.DECODER, read: (String) -> ByteArray?): VerifiedPackage =
            PackageLoader.fromFiles(files, read)

        /** Load `package.json`, `tables.radius.i32`, `tables.cdf.u32` from [dir]. */
        fun load(dir: File): ModelPackage {
            fun read(name: String): ByteArray = try {
                File(dir, name).readBytes()
            } catch (e: java.io.IOException) {
                throw MlvcException(ErrorKind.MODEL, "model package file missing: ${File(dir, name)}", e)
            }
            return fromBytes(read("package.json"), read("tables.radius.i32"), read("tables.cdf.u32"))
        }

        /** Build a package from the three files' bytes (JSON constants, int32 LE radii, uint32 LE CDFs). */
        fun fromBytes(packageJson: ByteArray, radiusI32: ByteArray, cdfU32: ByteArray): ModelPackage {
            if (radiusI32.size % 4 != 0 || cdfU32.size % 4 != 0) modelError("table files are not whole 32-bit arrays")
            val radius = IntArray(radiusI32.size / 4).also {
                ByteBuffer.wrap(radiusI32).order(ByteOrder.LITTLE_ENDIAN).asIntBuffer().get(it)
            }
            val cdf = IntArray(cdfU32.size / 4).also {
                ByteBuffer.wrap(cdfU32).order(ByteOrder.LITTLE_ENDIAN).asIntBuffer().get(it)
            }
            for (v in cdf) if (v < 0) modelError("CDF value out of range")
            val tables = CdfTables(radius, cdf)
            val root = try {
                Json.parse(String(packageJson, Charsets.UTF_8)) as? Map<*, *> ?: modelError("package.json is not an object")
            } catch (e: IllegalArgumentException) {
                throw MlvcException(ErrorKind.MODEL, "package.json: ${e.message}", e)
            }
            fun field(name: String): Any = root[name] ?: modelError("package.json: '$name' missing")
            fun int(name: String, v: Any? = field(name)): Int {
                val l = v as? Long ?: modelError("package.json: '$name' is not an integer")
                if (l < Int.MIN_VALUE || l > Int.MAX_VALUE) modelError("package.json: '$name' out of range")
                return l.toInt()
            }
            fun str(name: String): String = field(name) as? String ?: modelError("package.json: '$name' is not a string")
            fun list(name: String): List<*> = field(name) as? List<*> ?: modelError("package.json: '$name' is not a list")

            val sha = str("tables_sha256")
            if (tables.sha256Hex() != sha.lowercase()) modelError("CDF tables do not match the package's tables_sha256")
            val numTables = int("num_tables")
            if (numTables != tables.numTables) modelError("CDF table count ${tables.numTables} does not match num_tables $numTables")
            val levels = LinkedHashMap<Int, Int>()
            for (e in list("levels")) {
                val m = e as? Map<*, *> ?: modelError("package.json: levels entry is not an object")
                val lv = int("levels.level", m["level"])
                if (levels.put(lv, int("levels.exp", m["exp"])) != null) modelError("quality level $lv listed twice")
            }
            // Residual networks: both keys or neither (null = absent; older packages lack both).
            val residual = when (val v = root["residual_networks"]) {
                null -> false
                is Boolean -> v
                else -> modelError("package.json: 'residual_networks' is not a boolean")
            }
            val resZ = root["res_z_table_index"]?.let { v ->
                (v as? List<*> ?: modelError("package.json: 'res_z_table_index' is not a list"))
                    .map { int("res_z_table_index", it) }.toIntArray()
            }
            if (residual && resZ == null) modelError("package.json: residual_networks needs res_z_table_index")
            if (!residual && resZ != null) modelError("package.json: res_z_table_index given without residual_networks")
            // Residual latent channels: absent / null = latent_channels. golden.py writes the key for
            // every package (latent_channels without residual networks), so only a value that
            // differs from latent_channels needs residual networks.
            val latentChannels = int("latent_channels")
            val resLatent = root["res_latent_channels"]?.let { v ->
                val c = int("res_latent_channels", v)
                if (c !in 1..1024) modelError("package.json: 'res_latent_channels' $c out of range 1..1024")
                if (!residual && c != latentChannels) modelError("package.json: res_latent_channels given without residual_networks")
                c
            } ?: latentChannels
            val hashHex = str("model_hash")
            if (!hashHex.matches(Regex("[0-9a-fA-F]{32}"))) modelError("package.json: model_hash must be 32 hex digits")
            return ModelPackage(
                modelId = str("model_id"),
                modelHash = ByteArray(16) { hashHex.substring(2 * it, 2 * it + 2).toInt(16).toByte() },
                yExp = int("y_exp"),
                levels = levels,
                alignment = int("alignment"),
                latentChannels = latentChannels,
                hyperChannels = int("hyper_channels"),
                tablesPerOctave = int("tables_per_octave"),
                zTableIndex = list("z_table_index").map { int("z_table_index", it) }.toIntArray(),
                maxWidth = int("max_width"),
                maxHeight = int("max_height"),
                tables = tables,
                resZTableIndex = resZ,
                resLatentChannels = resLatent,
            )
        }
    }
}
