package ai.mlvc

import java.io.File
import java.security.MessageDigest

/**
 * One recorded network call: [role], its input tensor ([inputName] → [input]) and the outputs the
 * NumPy reference gave. The layout of `probe/probe.json` and `calls/calls.json` (written by
 * sdk/mlvc/conformance/golden.py): `{"role", "input": {"name", "shape", "file"}, "outputs": [...]}`
 * with raw little-endian int8 files next to the JSON.
 */
class RecordedCall(val role: String, val inputName: String, val input: Int8Tensor, val outputs: Map<String, Int8Tensor>) {
    companion object {
        /** Parse the entries of a calls / probe JSON list, reading tensor files through [read]. */
        fun parseList(entries: List<*>, read: (String) -> ByteArray): List<RecordedCall> = entries.map { e ->
            val m = e as? Map<*, *> ?: modelError("recorded call: not an object")
            val role = m["role"] as? String ?: modelError("recorded call: no role")
            val (name, input) = tensor(m["input"], read)
            val outs = (m["outputs"] as? List<*> ?: modelError("recorded call $role: no outputs")).associate { tensor(it, read) }
            RecordedCall(role, name, input, outs)
        }

        private fun tensor(v: Any?, read: (String) -> ByteArray): Pair<String, Int8Tensor> {
            val m = v as? Map<*, *> ?: modelError("recorded tensor: not an object")
            val name = m["name"] as? String ?: modelError("recorded tensor: no name")
            val shape = (m["shape"] as? List<*> ?: modelError("recorded tensor $name: no shape"))
                .map { (it as? Long ?: modelError("recorded tensor $name: bad shape")).toInt() }.toIntArray()
            val file = m["file"] as? String ?: modelError("recorded tensor $name: no file")
            if (file.contains('/') || file.contains('\\') || file.startsWith(".")) modelError("recorded tensor $name: bad file name '$file'")
            val data = read(file)
            if (shape.fold(1L) { a, b -> a * b } != data.size.toLong()) {
                modelError("recorded tensor $file: ${data.size} bytes for shape ${shape.contentToString()}")
            }
            return name to Int8Tensor(shape, data)
        }
    }
}

/**
 * The startup probe's battery (`conformance/golden/probe/probe.json`, golden.py): a few inputs per
 * network role with the NumPy reference's outputs, for a small picture ([pictureHeight] ×
 * [pictureWidth]). [sha256] identifies the battery (it keys the cache).
 */
class ProbeBattery(val modelHash: String, val sha256: String, val pictureHeight: Int, val pictureWidth: Int, val entries: List<RecordedCall>) {
    val roles: Set<String> get() = entries.map { it.role }.toSet()

    companion object {
        /** Load `probe.json` and its tensor files from [dir] (the golden `probe/` folder or app assets copied there). */
        fun load(dir: File): ProbeBattery = fromJson(File(dir, "probe.json").readText()) { File(dir, it).readBytes() }

        /** Parse a battery whose files are read through [read] (e.g. Android assets). MODEL error when malformed. */
        fun fromJson(text: String, read: (String) -> ByteArray): ProbeBattery {
            val m = try { Json.parse(text) as? Map<*, *> } catch (e: IllegalArgumentException) { null }
                ?: modelError("probe battery: not a JSON object")
            if (m["format"] != "mlvc-probe-battery") modelError("probe battery: format is '${m["format"]}'")
            val pic = m["picture"] as? Map<*, *> ?: modelError("probe battery: no picture")
            val entries = RecordedCall.parseList(m["entries"] as? List<*> ?: modelError("probe battery: no entries"), read)
            if (entries.isEmpty()) modelError("probe battery: no entries")
            return ProbeBattery(m["model_hash"] as? String ?: "", m["battery_sha256"] as? String ?: modelError("probe battery: no battery_sha256"),
                ((pic["height"] as? Long) ?: 0L).toInt(), ((pic["width"] as? Long) ?: 0L).toInt(), entries)
        }
    }
}

/**
 * What the probe showed for one runner in one environment: the roles it ran ([checkedRoles]) and
 * those whose outputs differed from the reference or failed ([failedRoles], reasons in [details]).
 * [fromCache]: read from the cache instead of run.
 */
class ProbeResult(
    val environment: String,
    val batterySha256: String,
    val checkedRoles: Set<String>,
    val failedRoles: Set<String>,
    val details: List<String>,
    val millis: Long,
    val fromCache: Boolean = false,
) {
    /** Every role of the battery ran and matched the reference bit for bit. */
    val exact: Boolean get() = failedRoles.isEmpty() && checkedRoles.isNotEmpty()

    /** Whether [role] was run by the probe and matched exactly. */
    fun exact(role: String): Boolean = role in checkedRoles && role !in failedRoles

    internal fun toJson(): String {
        fun s(v: String) = "\"" + v.flatMap { c ->
            when {
                c == '"' || c == '\\' -> listOf('\\', c)
                c < ' ' -> "\\u%04x".format(c.code).toList()
                else -> listOf(c)
            }
        }.joinToString("") + "\""
        fun l(v: Collection<String>) = v.sorted().joinToString(", ", "[", "]") { s(it) }
        return "{\"format\": \"mlvc-probe-result\", \"version\": 1, \"environment\": ${s(environment)}, " +
            "\"battery_sha256\": ${s(batterySha256)}, \"checked\": ${l(checkedRoles)}, \"failed\": ${l(failedRoles)}, " +
            "\"details\": ${details.joinToString(", ", "[", "]") { s(it) }}, \"millis\": $millis}\n"
    }

    override fun toString() = "ProbeResult(exact=$exact, checked=$checkedRoles, failed=$failedRoles, ${millis} ms${if (fromCache) ", cached" else ""})"

    internal companion object {
        fun fromJson(text: String): ProbeResult? = try {
            val m = Json.parse(text) as Map<*, *>
            fun strs(k: String) = (m[k] as List<*>).map { it as String }
            if (m["format"] != "mlvc-probe-result") null
            else ProbeResult(m["environment"] as String, m["battery_sha256"] as String, strs("checked").toSet(),
                strs("failed").toSet(), strs("details"), (m["millis"] as Long), fromCache = true)
        } catch (e: Exception) {
            null   // unreadable or damaged cache entry: probe again
        }
    }
}

/**
 * The startup probe (issue #18 item 4, the Python decoder's probe for the ports): run the battery
 * through a [NetworkRunner] and compare every output with the recorded reference bit for bit. A
 * runner that fails it is approximate in this environment ([ProbedNetworkRunner]).
 *
 *     val battery = ProbeBattery.load(File(filesDir, "probe"))
 *     val probed = Probe.check(runner, battery, cacheDir)          // cached per environment
 *     Decoder(bytes, pkg, probed, options, reference = cpuRunner)  // recovers if g_s is not exact
 */
object Probe {
    /** Run every battery entry now (no cache). A role fails on any differing element, a missing output or an exception. */
    fun run(runner: NetworkRunner, battery: ProbeBattery): ProbeResult {
        val t0 = System.nanoTime()
        val checked = LinkedHashSet<String>()
        val failed = LinkedHashSet<String>()
        val details = ArrayList<String>()
        for ((k, e) in battery.entries.withIndex()) {
            checked += e.role
            val why = try {
                val out = runner.run(e.role, Int8Tensor(e.input.shape.copyOf(), e.input.data.copyOf()))
                e.outputs.entries.firstNotNullOfOrNull { (name, want) ->
                    val got = out[name]
                    when {
                        got == null -> "no output '$name'"
                        !got.shape.contentEquals(want.shape) -> "output '$name' has shape ${got.shape.contentToString()}, expected ${want.shape.contentToString()}"
                        else -> {
                            val diff = want.data.indices.count { got.data[it] != want.data[it] }
                            if (diff > 0) "output '$name': $diff of ${want.size} elements differ" else null
                        }
                    }
                }
            } catch (ex: Exception) {
                "failed: ${ex.message}"
            }
            if (why != null) {
                failed += e.role
                details += "${e.role} (battery entry $k): $why"
            }
        }
        return ProbeResult(runner.environment, battery.sha256, checked, failed, details, (System.nanoTime() - t0) / 1_000_000)
    }

    /** Cache file of [runner]'s environment and [battery] in [cacheDir]. */
    fun cacheFile(cacheDir: File, environment: String, battery: ProbeBattery): File {
        val key = MessageDigest.getInstance("SHA-256").digest("$environment\n${battery.sha256}".toByteArray())
        return File(cacheDir, "mlvc-probe-${hex(key).take(24)}.json")
    }

    /**
     * The probe result for [runner] in its environment ([NetworkRunner.environment]): read from
     * [cacheDir] when an entry for the same environment and battery is there, else run and
     * written there (best effort: an unwritable cache only costs a probe next time). [cacheDir]
     * null: the `MLVC_CACHE` environment variable, else no cache.
     */
    fun cached(runner: NetworkRunner, battery: ProbeBattery, cacheDir: File? = defaultCacheDir()): ProbeResult {
        val env = runner.environment
        val f = cacheDir?.let { cacheFile(it, env, battery) }
        if (f != null && f.isFile) {
            val r = ProbeResult.fromJson(runCatching { f.readText() }.getOrDefault(""))
            if (r != null && r.environment == env && r.batterySha256 == battery.sha256) return r
        }
        val r = run(runner, battery)
        if (f != null) {
            runCatching {
                f.parentFile?.mkdirs()
                val tmp = File(f.parentFile, f.name + ".tmp")
                tmp.writeText(r.toJson())
                if (!tmp.renameTo(f)) tmp.delete()
            }
        }
        return r
    }

    /** [cached], then the runner with the probe's verdict: see [ProbedNetworkRunner]. */
    fun check(runner: NetworkRunner, battery: ProbeBattery, cacheDir: File? = defaultCacheDir()): ProbedNetworkRunner =
        ProbedNetworkRunner(runner, cached(runner, battery, cacheDir))

    /** `MLVC_CACHE` (a folder), or null. */
    fun defaultCacheDir(): File? = System.getenv("MLVC_CACHE")?.takeIf { it.isNotEmpty() }?.let { File(it) }
}

/**
 * [inner] with the exactness the probe showed: a role is exact only if the runner claims it
 * ([NetworkRunner.isExact]) and the probe ran it and matched. A delegate that fails the probe is
 * thereby approximate: its hash mismatches are recovered through the decoder's reference runner
 * (or reported), and a runner whose h_s fails cannot parse (see [Decoder]).
 */
class ProbedNetworkRunner(val inner: NetworkRunner, val probe: ProbeResult) : NetworkRunner {
    override fun run(role: String, input: Int8Tensor): Map<String, Int8Tensor> = inner.run(role, input)
    override fun isExact(role: String): Boolean = inner.isExact(role) && probe.exact(role)
    override val environment: String get() = inner.environment
    override fun close() = inner.close()
}
