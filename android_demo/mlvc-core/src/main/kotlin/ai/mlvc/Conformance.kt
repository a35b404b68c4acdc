package ai.mlvc

import java.io.File
import java.security.MessageDigest

/**
 * The official conformance vectors (sdk/mlvc/data/vectors, written by
 * sdk/mlvc/conformance/vectors.py): `manifest.json` with every file's SHA-256, a stream and an
 * `.md5` file (one line per frame) per vector, and the hostile-stream catalogue
 * `invalid/catalogue.json` (hostile.py: stream, error kind, frames decoded before the error).
 * Files are read through [read] (a folder: [load]; Android assets: a lambda).
 */
class ConformanceVectors(private val read: (String) -> ByteArray) {
    class Vector(val name: String, val stream: String, val md5File: String, val frames: Int) {
        override fun toString() = name
    }

    class HostileCase(val name: String, val stream: String, val base: String, val kind: ErrorKind, val framesBefore: Int) {
        override fun toString() = name
    }

    /** SHA-256 of manifest.json (the golden recorded calls name the manifest they were made from). */
    val manifestSha256: String
    val vectors: List<Vector>
    val hostile: List<HostileCase>

    init {
        val raw = try { read("manifest.json") } catch (e: Exception) { invalidArgument("conformance vectors: no readable manifest.json (${e.message})") }
        manifestSha256 = hex(MessageDigest.getInstance("SHA-256").digest(raw))
        val m = try { Json.parse(String(raw, Charsets.UTF_8)) as Map<*, *> } catch (e: Exception) { invalidArgument("conformance vectors: manifest.json is not a JSON object") }
        if (m["format"] != "mlvc-conformance-vectors") invalidArgument("conformance vectors: format is '${m["format"]}'")
        // As mlvc.conformance.vectors.load_manifest: a missing or damaged file is reported as such.
        for ((rel, sha) in (m["sha256"] as? Map<*, *> ?: emptyMap<String, String>())) {
            val data = try { read(rel as String) } catch (e: Exception) { invalidArgument("conformance vectors: vector file $rel is missing") }
            if (hex(MessageDigest.getInstance("SHA-256").digest(data)) != sha) invalidArgument("conformance vectors: vector file $rel is damaged")
        }
        vectors = (m["vectors"] as List<*>).map {
            val e = it as Map<*, *>
            Vector(e["name"] as String, e["stream"] as String, e["md5"] as String, (e["frames"] as Long).toInt())
        }
        val cat = Json.parse(String(read("invalid/catalogue.json"), Charsets.UTF_8)) as Map<*, *>
        if (cat["format"] != "mlvc-hostile-catalogue") invalidArgument("hostile catalogue: format is '${cat["format"]}'")
        hostile = (cat["cases"] as List<*>).map {
            val e = it as Map<*, *>
            HostileCase(e["name"] as String, e["stream"] as String, e["base"] as String,
                ErrorKind.fromCode(e["error"] as String), (e["frames_before"] as Long).toInt())
        }
    }

    fun bytes(rel: String): ByteArray = read(rel)

    /** The expected MD5 (hex) of every frame of [v]. */
    fun md5s(v: Vector): List<String> =
        String(read(v.md5File), Charsets.UTF_8).lines().filter { it.isNotBlank() }.map { it.trim().split(Regex("\\s+"))[0] }

    companion object {
        fun load(dir: File): ConformanceVectors = ConformanceVectors { File(dir, it).readBytes() }
    }
}

/**
 * `mlvc conformance` for the port: every vector must decode to its `.md5` lines (decoded with
 * verification off and compared, as the Python runner), every catalogue stream must fail with its
 * kind after its `frames_before` frames. [runner] gets a fresh decoder per stream.
 */
object Conformance {
    class Result(val name: String, val passed: Boolean, val frames: Int, val detail: String) {
        override fun toString() = "$name: ${if (passed) "pass" else "FAIL $detail"}"
    }

    fun runVector(vectors: ConformanceVectors, v: ConformanceVectors.Vector, pkg: ModelPackage, runner: NetworkRunner,
                  options: DecoderOptions = DecoderOptions.Builder().verifyHashes(false).build()): Result {
        val expected = vectors.md5s(v)
        var got = 0
        try {
            Decoder(vectors.bytes(v.stream), pkg, runner, options).use { dec ->
                for (f in dec) {
                    if (f.index >= expected.size || f.md5Hex != expected[f.index] || !f.verified) {
                        return Result(v.name, false, got, "frame ${f.index}: md5 ${f.md5Hex}, expected ${expected.getOrNull(f.index)}")
                    }
                    got++
                }
            }
        } catch (e: MlvcException) {
            return Result(v.name, false, got, e.message ?: e.kind.code)
        }
        return if (got == expected.size && got == v.frames) Result(v.name, true, got, "")
        else Result(v.name, false, got, "$got of ${expected.size} frames")
    }

    /** [c] through the whole-stream path, or through an InputStream when [streamed]. */
    fun runHostile(vectors: ConformanceVectors, c: ConformanceVectors.HostileCase, pkg: ModelPackage, runner: NetworkRunner,
                   streamed: Boolean = false): Result {
        var decoded = 0
        val data = vectors.bytes(c.stream)
        try {
            val dec = if (streamed) Decoder(java.io.ByteArrayInputStream(data), pkg, runner) else Decoder(data, pkg, runner)
            dec.use { for (f in it) decoded++ }
        } catch (e: MlvcException) {
            return when {
                e.kind != c.kind -> Result(c.name, false, decoded, "${e.message}; expected ${c.kind.code}")
                decoded != c.framesBefore -> Result(c.name, false, decoded, "failed after $decoded frames, expected ${c.framesBefore}: ${e.message}")
                else -> Result(c.name, true, decoded, e.message ?: "")
            }
        }
        return Result(c.name, false, decoded, "decoded without error; expected ${c.kind.code}")
    }

    fun run(vectors: ConformanceVectors, pkg: ModelPackage, runner: () -> NetworkRunner): List<Result> =
        vectors.vectors.map { runVector(vectors, it, pkg, runner()) } + vectors.hostile.map { runHostile(vectors, it, pkg, runner()) }
}
