package ai.mlvc

import java.io.ByteArrayInputStream
import java.io.File
import java.io.IOException
import java.nio.ByteBuffer
import java.nio.ByteOrder
import java.security.MessageDigest
import java.util.zip.ZipInputStream

/**
 * A model package's `manifest.json`, read as sdk/mlvc/package/manifest.py reads it
 * (`read_manifest`): validated like the pydantic `Manifest` (the same fields, bounds, role rules,
 * unknown keys refused, the same lax coercions: `2.0`/`true`/`"2"` for an integer, an integer for
 * a float), then its `content_hash` recomputed and compared. Any failure is an [ErrorKind.MODEL]
 * error.
 *
 * `content_hash` = SHA-256 of [canonicalJson]: Python's `json.dumps(d, sort_keys=True,
 * separators=(",", ":"))` ([PyJson]) of the manifest as pydantic dumps it (defaults filled in:
 * `description` "", `training` {}; integers coerced; floats as floats) without `content_hash`,
 * without `res_z_table_index` / `res_latent_channels` when null, and from format version 2 without
 * `description` and `training` (NOT_HASHED). The manifest holds every file's SHA-256, so the hash
 * names the whole package; streams carry its first 16 bytes ([streamHash]).
 */
class PackageManifest private constructor(
    /** The validated manifest as pydantic's `model_dump()` (content_hash included). */
    private val dump: Map<String, Any?>,
) {
    class NetworkEntry(val graph: String, val graphSha256: String, val tflite: String, val tfliteSha256: String,
                       val macsPerPixel: Double)

    class TablesEntry(val file: String, val sha256: String, val numTables: Int, val sigmaMin: Double, val tablesPerOctave: Int)

    val formatVersion: Int = (dump["format_version"] as Long).toInt()
    val modelId: String = dump["model_id"] as String
    val description: String = dump["description"] as String
    /** quality level → exponent, in manifest order. */
    val levels: Map<Int, Int> = (dump["levels"] as List<*>).associate {
        val m = it as Map<*, *>
        (m["level"] as Long).toInt() to (m["exp"] as Long).toInt()
    }
    val yExp: Int = int("y_exp")
    val latentChannels: Int = int("latent_channels")
    val hyperChannels: Int = int("hyper_channels")
    val alignment: Int = int("alignment")
    val maxWidth: Int = int("max_width")
    val maxHeight: Int = int("max_height")
    val zTableIndex: IntArray = ints(dump["z_table_index"])!!
    val resZTableIndex: IntArray? = ints(dump["res_z_table_index"])
    val resLatentChannels: Int? = (dump["res_latent_channels"] as Long?)?.toInt()
    val networks: Map<String, NetworkEntry> = (dump["networks"] as Map<*, *>).entries.associate { (k, v) ->
        val e = v as Map<*, *>
        k as String to NetworkEntry(e["graph"] as String, e["graph_sha256"] as String, e["tflite"] as String,
            e["tflite_sha256"] as String, e["macs_per_pixel"] as Double)
    }
    val tables: TablesEntry = (dump["tables"] as Map<*, *>).let {
        TablesEntry(it["file"] as String, it["sha256"] as String, (it["num_tables"] as Long).toInt(),
            it["sigma_min"] as Double, (it["tables_per_octave"] as Long).toInt())
    }
    /** The manifest's `content_hash` (64 hex digits; equal to [computeContentHash] once parsed). */
    val contentHash: String = dump["content_hash"] as String

    private fun int(k: String) = (dump[k] as Long).toInt()
    private fun ints(v: Any?): IntArray? = (v as List<*>?)?.map { (it as Long).toInt() }?.toIntArray()

    /** Whether the package has the P-frame residual networks (res_g_a … res_g_s). */
    val hasResidual: Boolean get() = RESIDUAL_ROLES[0] in networks

    /** ROLES, plus RESIDUAL_ROLES with residual networks (`Manifest.roles`). */
    val roles: List<String> get() = ROLES + if (hasResidual) RESIDUAL_ROLES else emptyList()

    /** The roles a decoder runs: h_s, g_s, plus res_h_s, res_g_s with residual networks. */
    val decoderRoles: List<String> get() = listOf("h_s", "g_s") + if (hasResidual) listOf("res_h_s", "res_g_s") else emptyList()

    /** `Manifest.canonical_json()`: the bytes [contentHash] is the SHA-256 of. */
    fun canonicalJson(): ByteArray = canonicalJson(dump)

    fun computeContentHash(): String = sha256Hex(canonicalJson())

    /** The 16 bytes a stream carries to name this package (first half of [contentHash]). */
    val streamHash: ByteArray get() = ByteArray(16) { contentHash.substring(2 * it, 2 * it + 2).toInt(16).toByte() }

    companion object {
        const val FORMAT = "mlvc-model-package"
        val SUPPORTED_VERSIONS = listOf(1, 2)
        /** Manifest fields outside the model's identity from format version 2. */
        val NOT_HASHED = listOf("description", "training")
        val ROLES = listOf("g_a", "h_a", "h_s", "g_s")
        val RESIDUAL_ROLES = ROLES.map { "res_$it" }

        /**
         * `read_manifest`: parse and validate [bytes] (UTF-8 JSON), and check that its
         * `content_hash` is the hash of its canonical form. MODEL error otherwise.
         */
        fun parse(bytes: ByteArray): PackageManifest {
            val m = parseUnchecked(bytes)
            if (m.contentHash != m.computeContentHash()) modelError("model package manifest: content hash does not match")
            return m
        }

        /** Parse and validate without comparing the content hash (tests; tools that rewrite a manifest). */
        internal fun parseUnchecked(bytes: ByteArray): PackageManifest {
            val text = try {   // strict UTF-8, as Python's read_text() (no silent U+FFFD in unhashed text)
                Charsets.UTF_8.newDecoder().onMalformedInput(java.nio.charset.CodingErrorAction.REPORT)
                    .onUnmappableCharacter(java.nio.charset.CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(bytes)).toString()
            } catch (e: java.nio.charset.CharacterCodingException) {
                throw MlvcException(ErrorKind.MODEL, "model package manifest is not UTF-8 text", e)
            }
            val root = try {
                Json.parse(text)
            } catch (e: IllegalArgumentException) {
                throw MlvcException(ErrorKind.MODEL, "model package manifest: ${e.message}", e)
            }
            return PackageManifest(validate(root))
        }

        internal fun canonicalJson(dump: Map<String, Any?>): ByteArray {
            val d = LinkedHashMap(dump)
            d.remove("content_hash")
            for (k in listOf("res_z_table_index", "res_latent_channels")) if (d[k] == null) d.remove(k)
            if ((d["format_version"] as Long) >= 2) for (k in NOT_HASHED) d.remove(k)
            return PyJson.dumps(d).toByteArray(Charsets.US_ASCII)
        }

        internal fun sha256Hex(b: ByteArray): String =
            MessageDigest.getInstance("SHA-256").digest(b).joinToString("") { "%02x".format(it) }

        private fun bad(where: String, msg: String): Nothing = modelError("invalid model package manifest: $where: $msg")

        private val HEX64 = Regex("[0-9a-f]{64}")
        private val MODEL_ID = Regex("[A-Za-z0-9._-]+")
        // pydantic's str -> int / float (checked against pydantic 2.14): surrounding whitespace,
        // a sign, '_' between digits; "2.0" is an integer; floats also take ".5", "1e-3", "inf".
        private val INT_TEXT = Regex("\\s*[-+]?[0-9]+(_[0-9]+)*(\\.0*)?\\s*")
        private val FLOAT_TEXT = Regex("[-+]?(([0-9]+(_[0-9]+)*)(\\.([0-9]+(_[0-9]+)*)?)?|\\.[0-9]+(_[0-9]+)*)([eE][-+]?[0-9]+)?")
        private val INF_TEXT = Regex("[-+]?(inf|infinity)", RegexOption.IGNORE_CASE)

        /** pydantic lax `int` (JSON input): integers, integral floats, booleans, integer strings. */
        private fun pyInt(where: String, v: Any?, lo: Long? = null, hi: Long? = null): Long {
            val n = when (v) {
                is Long -> v
                is Boolean -> if (v) 1L else 0L
                is Double -> if (v.isFinite() && v == Math.rint(v) && Math.abs(v) < 9.0e18) v.toLong()
                             else bad(where, "not a valid integer")
                is String -> if (INT_TEXT.matches(v)) v.trim().replace("_", "").substringBefore('.').toLongOrNull() ?: bad(where, "integer out of range")
                             else bad(where, "not a valid integer")
                else -> bad(where, "not a valid integer")
            }
            if (lo != null && n < lo) bad(where, "must be >= $lo")
            if (hi != null && n > hi) bad(where, "must be <= $hi")
            return n
        }

        /** pydantic lax `float`: floats, integers, booleans, numeric strings. */
        private fun pyFloat(where: String, v: Any?): Double = when (v) {
            is Double -> v
            is Long -> v.toDouble()
            is Boolean -> if (v) 1.0 else 0.0
            is String -> v.trim().let { t ->
                when {
                    INF_TEXT.matches(t) -> if (t.startsWith("-")) Double.NEGATIVE_INFINITY else Double.POSITIVE_INFINITY
                    FLOAT_TEXT.matches(t) -> t.replace("_", "").toDouble()
                    else -> bad(where, "not a valid number")
                }
            }
            else -> bad(where, "not a valid number")
        }

        private fun pyStr(where: String, v: Any?): String = v as? String ?: bad(where, "not a valid string")

        private fun obj(where: String, v: Any?, fields: Set<String>): Map<*, *> {
            val m = v as? Map<*, *> ?: bad(where, "not an object")
            val extra = m.keys.filter { it !in fields }
            if (extra.isNotEmpty()) bad("$where${if (where.isEmpty()) "" else "."}${extra.first()}", "extra inputs are not permitted")
            return m
        }

        private fun req(m: Map<*, *>, k: String, where: String): Any? =
            if (m.containsKey(k)) m[k] else bad(where, "field required")

        private fun intList(where: String, v: Any?): List<Long> =
            (v as? List<*> ?: bad(where, "not a valid list")).mapIndexed { i, e -> pyInt("$where.$i", e) }

        private val TOP = setOf("format", "format_version", "model_id", "description", "levels", "y_exp", "latent_channels",
            "hyper_channels", "alignment", "max_width", "max_height", "z_table_index", "res_z_table_index",
            "res_latent_channels", "networks", "tables", "training", "content_hash")

        /** The pydantic `Manifest` validation; returns its `model_dump()`. */
        private fun validate(root: Any?): Map<String, Any?> {
            val m = obj("", root, TOP)
            val d = LinkedHashMap<String, Any?>()
            d["format"] = pyStr("format", req(m, "format", "format")).also {
                if (it != FORMAT) bad("format", "not an MLVC model package (format '$it')")
            }
            d["format_version"] = pyInt("format_version", req(m, "format_version", "format_version")).also {
                if (it !in SUPPORTED_VERSIONS.map(Int::toLong)) bad("format_version", "package format version $it is not supported")
            }
            d["model_id"] = pyStr("model_id", req(m, "model_id", "model_id")).also {
                if (it.isEmpty() || it.length > 16 || !MODEL_ID.matches(it)) bad("model_id", "must be 1-16 characters of [A-Za-z0-9._-]")
            }
            d["description"] = if (m.containsKey("description")) pyStr("description", m["description"]) else ""
            val levels = req(m, "levels", "levels") as? List<*> ?: bad("levels", "not a valid list")
            if (levels.isEmpty()) bad("levels", "must have at least 1 item")
            d["levels"] = levels.mapIndexed { i, e ->
                val lv = obj("levels.$i", e, setOf("level", "exp"))
                linkedMapOf<String, Any?>(
                    "level" to pyInt("levels.$i.level", req(lv, "level", "levels.$i.level"), 1, 32),
                    "exp" to pyInt("levels.$i.exp", req(lv, "exp", "levels.$i.exp"), -8, 8),
                )
            }
            if ((d["levels"] as List<*>).map { (it as Map<*, *>)["level"] }.toSet().size != levels.size) {
                bad("levels", "a quality level is listed twice")   // the port refuses what Python would shadow
            }
            d["y_exp"] = pyInt("y_exp", req(m, "y_exp", "y_exp"), -8, 8)
            for (k in listOf("latent_channels", "hyper_channels")) d[k] = pyInt(k, req(m, k, k), 1, 1024)
            d["alignment"] = pyInt("alignment", req(m, "alignment", "alignment"), 1, 256)
            for (k in listOf("max_width", "max_height")) d[k] = pyInt(k, req(m, k, k), 16, 16384)
            d["z_table_index"] = intList("z_table_index", req(m, "z_table_index", "z_table_index"))
            d["res_z_table_index"] = m["res_z_table_index"]?.let { intList("res_z_table_index", it) }
            d["res_latent_channels"] = m["res_latent_channels"]?.let { pyInt("res_latent_channels", it, 1, 1024) }
            val nets = req(m, "networks", "networks") as? Map<*, *> ?: bad("networks", "not a valid dictionary")
            d["networks"] = LinkedHashMap<String, Any?>().also { out ->
                for ((role, v) in nets) {
                    val w = "networks.$role"
                    val e = obj(w, v, setOf("graph", "graph_sha256", "tflite", "tflite_sha256", "macs_per_pixel"))
                    val entry = LinkedHashMap<String, Any?>()
                    for (k in listOf("graph", "graph_sha256", "tflite", "tflite_sha256")) entry[k] = pyStr("$w.$k", req(e, k, "$w.$k"))
                    for (k in listOf("graph_sha256", "tflite_sha256")) if (!HEX64.matches(entry[k] as String)) bad("$w.$k", "not 64 lower-case hex digits")
                    entry["macs_per_pixel"] = pyFloat("$w.macs_per_pixel", req(e, "macs_per_pixel", "$w.macs_per_pixel")).also {
                        if (!(it >= 0.0)) bad("$w.macs_per_pixel", "must be >= 0")
                    }
                    out[role as String] = entry
                }
                val missing = ROLES.filter { it !in out }
                if (missing.isNotEmpty()) bad("networks", "networks missing: $missing")
                val res = RESIDUAL_ROLES.filter { it in out }
                if (res.isNotEmpty() && res.size != RESIDUAL_ROLES.size) bad("networks", "residual networks incomplete: $res")
                val unknown = out.keys.filter { it !in ROLES && it !in RESIDUAL_ROLES }.sorted()
                if (unknown.isNotEmpty()) bad("networks", "unknown networks: $unknown")
            }
            val t = obj("tables", req(m, "tables", "tables"), setOf("file", "sha256", "num_tables", "sigma_min", "tables_per_octave"))
            d["tables"] = linkedMapOf<String, Any?>(
                "file" to pyStr("tables.file", req(t, "file", "tables.file")),
                "sha256" to pyStr("tables.sha256", req(t, "sha256", "tables.sha256")).also {
                    if (!HEX64.matches(it)) bad("tables.sha256", "not 64 lower-case hex digits")
                },
                "num_tables" to pyInt("tables.num_tables", req(t, "num_tables", "tables.num_tables"), 1, 256),
                "sigma_min" to pyFloat("tables.sigma_min", req(t, "sigma_min", "tables.sigma_min")).also {
                    if (!(it > 0.0)) bad("tables.sigma_min", "must be > 0")
                },
                "tables_per_octave" to pyInt("tables.tables_per_octave", req(t, "tables_per_octave", "tables.tables_per_octave"), 1, 64),
            )
            d["training"] = if (m.containsKey("training")) (m["training"] as? Map<*, *> ?: bad("training", "not a valid dictionary")) else emptyMap<String, Any?>()
            d["content_hash"] = if (m.containsKey("content_hash")) pyStr("content_hash", m["content_hash"]).also {
                if (it.isNotEmpty() && !HEX64.matches(it)) bad("content_hash", "not 64 lower-case hex digits")
            } else ""
            // Manifest._residual_tables
            val hasResidual = RESIDUAL_ROLES[0] in (d["networks"] as Map<*, *>)
            if (hasResidual != (d["res_z_table_index"] != null)) {
                bad("", "res_z_table_index must be given exactly when the package has residual networks")
            }
            val rlc = d["res_latent_channels"] as Long?
            if (!hasResidual && rlc != null && rlc != d["latent_channels"]) {
                bad("", "res_latent_channels differs from latent_channels in a package without residual networks")
            }
            return d
        }
    }
}

/**
 * A model package loaded as sdk/mlvc/package/loader.py loads one, for the port: the verified
 * [manifest], the decoder's [pkg] built from it, and the `.tflite` bytes of the [networks] that
 * were read (role → bytes), each checked against its SHA-256.
 */
class VerifiedPackage(val manifest: PackageManifest, val pkg: ModelPackage, val networks: Map<String, ByteArray>)

/** Which of the files a manifest lists a loader reads and checks. */
enum class PackageFiles {
    /** Every role's graph and `.tflite` (Python's loader; a package directory on a JVM). */
    ALL,
    /** The `.tflite` of the roles a decoder runs (h_s, g_s, res_h_s, res_g_s): what the app bundles. */
    DECODER,
}

internal object PackageLoader {
    /** Largest file a package may hold (a network or the tables); larger is a MODEL error. */
    private const val MAX_FILE = 256L shl 20

    fun load(dir: File, files: PackageFiles): VerifiedPackage {
        if (!dir.isDirectory) modelError("model package $dir is not a directory")
        return fromFiles(files) { rel ->
            val f = File(dir, rel)
            if (!f.isFile) null else {
                if (f.length() > MAX_FILE) modelError("model package file $rel is too large")
                f.readBytes()
            }
        }
    }

    /**
     * [read] gives a file's bytes by its path relative to the package root (`manifest.json`,
     * `tables.npz`, `networks/g_s.tflite`), or null / IOException when it is absent.
     */
    fun fromFiles(files: PackageFiles, read: (String) -> ByteArray?): VerifiedPackage {
        fun get(rel: String): ByteArray {
            val clean = normalize(rel)
            val data = try { read(clean) } catch (e: IOException) { null }
            return data ?: modelError("model package file missing: $clean")
        }
        val manifest = PackageManifest.parse(get("manifest.json"))
        fun checked(rel: String, sha: String): ByteArray {
            val data = get(rel)
            if (PackageManifest.sha256Hex(data) != sha) modelError("model package file $rel does not match its hash")
            return data
        }
        val networks = LinkedHashMap<String, ByteArray>()
        val roles = if (files == PackageFiles.ALL) manifest.roles else manifest.decoderRoles
        for (role in roles) {
            val e = manifest.networks.getValue(role)
            if (files == PackageFiles.ALL) checked(e.graph, e.graphSha256)
            networks[role] = checked(e.tflite, e.tfliteSha256)
        }
        val (radius, cdf) = readTables(get(manifest.tables.file))
        for (v in cdf) if (v < 0) modelError("CDF value out of range")
        val tables = CdfTables(radius, cdf)
        if (tables.sha256Hex() != manifest.tables.sha256) modelError("CDF tables do not match the manifest's hash")
        if (tables.numTables != manifest.tables.numTables) modelError("CDF table count does not match the manifest")
        val pkg = ModelPackage(
            modelId = manifest.modelId,
            modelHash = manifest.streamHash,
            yExp = manifest.yExp,
            levels = manifest.levels,
            alignment = manifest.alignment,
            latentChannels = manifest.latentChannels,
            hyperChannels = manifest.hyperChannels,
            tablesPerOctave = manifest.tables.tablesPerOctave,
            zTableIndex = manifest.zTableIndex,
            maxWidth = manifest.maxWidth,
            maxHeight = manifest.maxHeight,
            tables = tables,
            resZTableIndex = manifest.resZTableIndex,
            resLatentChannels = manifest.resLatentChannels ?: manifest.latentChannels,
        )
        return VerifiedPackage(manifest, pkg, networks)
    }

    /** A relative path inside the package ('.' and '..' resolved); one that leaves it is a MODEL error. */
    fun normalize(rel: String): String {
        if (rel.isEmpty() || rel.startsWith("/") || rel.contains('\\') || rel.contains('\u0000') || Regex("^[A-Za-z]:").containsMatchIn(rel)) {
            modelError("model package file '$rel' escapes the package directory")
        }
        val parts = ArrayList<String>()
        for (p in rel.split('/')) {
            when (p) {
                "", "." -> {}
                ".." -> if (parts.isEmpty()) modelError("model package file '$rel' escapes the package directory") else parts.removeAt(parts.size - 1)
                else -> parts.add(p)
            }
        }
        if (parts.isEmpty()) modelError("model package file '$rel' is not a file")
        return parts.joinToString("/")
    }

    /** `radius` (int32) and `cdf` (uint32) from the package's tables.npz (np.savez: a zip of .npy). */
    fun readTables(npz: ByteArray): Pair<IntArray, IntArray> {
        val arrays = HashMap<String, IntArray>()
        try {
            ZipInputStream(ByteArrayInputStream(npz)).use { zip ->
                while (true) {
                    val e = zip.nextEntry ?: break
                    val name = e.name.removeSuffix(".npy")
                    if (name !in setOf("radius", "cdf") || e.isDirectory) continue
                    val out = java.io.ByteArrayOutputStream()
                    val buf = ByteArray(65536)
                    while (true) {
                        val n = zip.read(buf)
                        if (n < 0) break
                        out.write(buf, 0, n)
                        if (out.size() > MAX_FILE) modelError("tables: $name.npy is too large")
                    }
                    if (arrays.put(name, npy(name, out.toByteArray())) != null) modelError("tables: $name.npy listed twice")
                }
            }
        } catch (e: IOException) {
            throw MlvcException(ErrorKind.MODEL, "cannot read CDF tables: ${e.message}", e)
        } catch (e: IllegalArgumentException) {
            throw MlvcException(ErrorKind.MODEL, "cannot read CDF tables: ${e.message}", e)
        }
        val radius = arrays["radius"] ?: modelError("cannot read CDF tables: no radius array")
        val cdf = arrays["cdf"] ?: modelError("cannot read CDF tables: no cdf array")
        return radius to cdf
    }

    private val DESCR = Regex("'descr'\\s*:\\s*'([<>|=]?[iu]4)'")
    private val FORTRAN = Regex("'fortran_order'\\s*:\\s*(True|False)")
    private val SHAPE = Regex("'shape'\\s*:\\s*\\(\\s*([0-9]+)\\s*,?\\s*\\)")

    /** A 1-D little-endian 4-byte integer .npy array (int32 or uint32 bits). */
    private fun npy(name: String, b: ByteArray): IntArray {
        fun no(msg: String): Nothing = modelError("cannot read CDF tables: $name.npy $msg")
        if (b.size < 10 || b[0] != 0x93.toByte() || String(b, 1, 5, Charsets.US_ASCII) != "NUMPY") no("is not a .npy array")
        val major = b[6].toInt()
        val bb = ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN)
        val (hlen, hstart) = when (major) {
            1 -> (bb.getShort(8).toInt() and 0xFFFF).toLong() to 10
            2, 3 -> (if (b.size < 12) no("is truncated") else bb.getInt(8).toLong() and 0xFFFFFFFFL) to 12
            else -> no("has format version $major")
        }
        if (hstart + hlen > b.size) no("is truncated")
        val header = String(b, hstart, hlen.toInt(), Charsets.ISO_8859_1)
        val descr = DESCR.find(header)?.groupValues?.get(1) ?: no("is not an int32/uint32 array")
        if (descr.startsWith(">")) no("is big-endian")
        if (FORTRAN.find(header)?.groupValues?.get(1) == null) no("has no fortran_order")
        val n = SHAPE.find(header)?.groupValues?.get(1)?.toLongOrNull() ?: no("is not one-dimensional")
        val data = hstart + hlen.toInt()
        if (n * 4 != (b.size - data).toLong()) no("has ${b.size - data} data bytes for $n elements")
        return IntArray(n.toInt()).also { ByteBuffer.wrap(b, data, b.size - data).order(ByteOrder.LITTLE_ENDIAN).asIntBuffer().get(it) }
    }
}
