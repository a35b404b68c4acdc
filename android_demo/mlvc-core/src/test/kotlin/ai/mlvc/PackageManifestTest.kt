package ai.mlvc

import java.io.File
import java.util.Random
import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNotEquals
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Test

/**
 * Issue #16: the port verifies the hash of the package it loads (sdk/mlvc/package/manifest.py
 * `read_manifest` + loader.py) and refuses a mismatch with [ErrorKind.MODEL].
 *
 * Package location: system property `mlvc.package`, env `MLVC_PACKAGE`, or ../sdk/mlvc/data/model
 * (test-jvm.sh passes the repository's bundled package). The expected strings below were printed
 * once by CPython 3 (`json.dumps(v)` / `json.dumps(obj, sort_keys=True, separators=(",", ":"))`)
 * and committed; the test computes the Kotlin side.
 */
class PackageManifestTest {
    companion object {
        val packageDir: File by lazy {
            val p = System.getProperty("mlvc.package") ?: System.getenv("MLVC_PACKAGE")
            val d = File(p ?: "../sdk/mlvc/data/model")
            require(File(d, "manifest.json").isFile) { "model package not found at ${d.absolutePath} (set -Dmlvc.package)" }
            d
        }

        /** Test data committed next to the tests (test-jvm.sh: -Dmlvc.testdata). */
        val dataDir: File by lazy {
            File(System.getProperty("mlvc.testdata") ?: "mlvc-core/src/test/data").also {
                require(it.isDirectory) { "test data not found at ${it.absolutePath} (set -Dmlvc.testdata)" }
            }
        }

        /** Every file of the bundled package by its path relative to the root, read once. */
        val files: Map<String, ByteArray> by lazy {
            packageDir.walkTopDown().filter { it.isFile }
                .associate { it.relativeTo(packageDir).invariantSeparatorsPath to it.readBytes() }
        }

        val manifestText: String by lazy { String(files.getValue("manifest.json"), Charsets.UTF_8) }

        /** (IEEE bits, Python's json.dumps(float)): the values below were run through CPython once. */
        val FLOATS = listOf(
        0x3fbc28f5c28f5c29uL to "0.11",
        0x3ee4f8b588e368f1uL to "1e-05",
        0x4000000000000000uL to "2.0",
        0x3fb999999999999auL to "0.1",
        0x3fd5555555555555uL to "0.3333333333333333",
        0x3fe5555555555555uL to "0.6666666666666666",
        0x4341c37937e08000uL to "1e+16",
        0x430c6bf526340000uL to "1000000000000000.0",
        0x4341c37937e07fffuL to "9999999999999998.0",
        0x437b69b4ba630f35uL to "1.2345678901234568e+17",
        0x0000000000000001uL to "5e-324",
        0x7fefffffffffffffuL to "1.7976931348623157e+308",
        0x3f1a36e2eb1c432duL to "0.0001",
        0x3f50624dd2f1a9fcuL to "0.001",
        0x3f202e4b6ce5dc68uL to "0.00012345",
        0xc004000000000000uL to "-2.5",
        0x4059000000000000uL to "100.0",
        0x4480f0cf064dd592uL to "1e+22",
        0x44b52d02c7e14af6uL to "1e+23",
        0x438f67ea69ed3795uL to "2.82879384806159e+17",
        0x4340000000000000uL to "9007199254740992.0",
        0x40b4a9c6b4640000uL to "5289.776190042496",
        0x3fe912c8c0000000uL to "0.7835429906845093",
        0x3ee095ccb376a2f0uL to "7.908418054495989e-06",
        0x3ef4f8b588e368f1uL to "2e-05",
        0x3f726e978d4fdf3buL to "0.0045",
        0x3f8a9fbe76c8b439uL to "0.013",
        0x3fbeb851eb851eb8uL to "0.12",
        0x414e600000000000uL to "3981312.0",
        0x8000000000000000uL to "-0.0",
        0x0000000000000000uL to "0.0",
        0x7e41eb2d66005835uL to "1.5e+300",
        0x01a56e1fc2f8f359uL to "1e-300",
        0x3d30000000000000uL to "5.684341886080802e-14",
        0x43b0000000000000uL to "1.152921504606847e+18",
        0x4630000000000000uL to "1.2676506002282294e+30",
        0x0010000000000000uL to "2.2250738585072014e-308",
        0x0000000000000003uL to "1.5e-323",
        0x0010000000000000uL to "2.2250738585072014e-308",
        0x4011666666666666uL to "4.35",
        0x3fd3333333333333uL to "0.3",
        0x444b1ae4d6e2ef50uL to "1e+21",
        0x3e7ad7f29abcaf48uL to "1e-07",
        0x405edd2f1a9fbe77uL to "123.456",
        0x43118b54f22aeb03uL to "1234567890123456.8",
        0x781ef86f5c8cc1abuL to "4.090379740338937e+270",
        0x48f165d57b00c7f4uL to "2.4248978306086347e+43",
        0x3a0562d56abd685auL to "3.374126747608873e-29",
        0x017f9ee6725ed09duL to "1.8444032802454696e-301",
        0xdaa8b2a668d605d4uL to "-5.349920698423876e+128",
        0xb6043106a85f68b6uL to "-1.7269487870198348e-48",
        0x3ce44e27424458b6uL to "2.2543396641198264e-15",
        0x38f12d92a28f17d8uL to "2.067728790178343e-34",
        0x4bedce030297c5e5uL to "5.8464794981852184e+57",
        0xd09e04924d52bc61uL to "-2.2245314699841917e+80",
        0xaaadd6b855c6b62buL to "-4.16324649467015e-103",
        0xf3a160712456de76uL to "-9.719734336903805e+248",
        0x9a23bef7be506564uL to "-9.294179681904062e-183",
        0x05adb3fc4f634127uL to "2.556791904318139e-281",
        0x3868e6d9ca0bc36cuL to "5.854375805700065e-37",
        0x9a508bb1f4c9da65uL to "-6.230277016505176e-182",
        0x05372ef440e5c51euL to "1.55905520512596e-283",
        0x2769e927e4bf1564uL to "8.027345516637255e-119",
        0x9b25f81fcec1496euL to "-6.776844375231501e-178",
        0xa1865506aadbf831uL to "-3.493030150947836e-147",
        0x76f87a640701ad82uL to "1.2332573360309295e+265",
        0x994395a774f0147fuL to "-5.62635468319695e-187",
        0xb41b5669a0729b23uL to "-1.0887807139625113e-57",
        0xfc45228f4bd571b0uL to "-4.119344042951701e+290",
        0xc85bd78d396e0d55uL to "-3.789656481853088e+40",
        0x5c9dc8b64f4e68e5uL to "1.3854840126239567e+138",
        0x6b978d7d421bb123uL to "1.9357869312883673e+210",
        0x1600314ac9aee9cfuL to "1.03292337220142e-202",
        0x7e89f91859082551uL to "3.478790350965273e+301",
        0x844948a86c51ce92uL to "-5.188918469601792e-288",
        0x2c199bd3a49d1ce2uL to "2.997290916982751e-96",
        0x900977a9f2c94386uL to "-2.0504943777173028e-231",
        0x9429523c4b037d52uL to "-1.5043119234720616e-211",
        0x486580790b44045fuL to "5.853359508172347e+40",
        0x156724d0f9507c87uL to "1.4417431434023446e-205",
        0x01952061ca532551uL to "4.9291466303554466e-301",
        0x5f81639e85fbc058uL to "1.1384287956024592e+152",
        0x7d6933b93c1be0d0uL to "1.2876609973844967e+296",
        0x4f126160278deda9uL to "8.118827220523741e+72",
        0xc117e58f55540818uL to "-391523.8333283677",
        0xc0f319b5dbb789d0uL to "-78235.36614183267",
        0xc12a817031d70ff8uL to "-868536.0973439207",
        0x411853a9c3040dd4uL to "398570.44044515234",
        0x411bd153ab4bc310uL to "455764.91728119645",
        0xc12db850e38ab9b2uL to "-973864.4444177656",
        0x4124e67182d0d218uL to "684856.7554994253",
        0xc0d08a09ca2dc160uL to "-16936.152965010493",
        0x41298f359bc9e6ecuL to "837530.8042747653",
        0xc0e85671bc1e4170uL to "-49843.55421364575",
        0x41220ce91f791e00uL to "591476.5614709258",
        0xc0f654b2ca53fd18uL to "-91467.17439650407",
        0x410b9834ffc51358uL to "226054.62488761055",
        0xc097fcca047c4200uL to "-1535.1972827353748",
        0xc12d20f6e759f614uL to "-954491.4518582248",
        0xc125bb4ba49b1bdduL to "-712101.8214958865",
        0xc1205769baaaacb8uL to "-535476.8645833945",
        0xc106e5766d74036cuL to "-187566.8034439342",
        0xc10febf149fe7a9cuL to "-261502.1611299113",
        0x40f32671289cdb80uL to "78439.0724152159",
        0x465e8efa51c287feuL to "9.68437745751047e+30",
        0x433d28e8244c0512uL to "8207751831094546.0",
        0x3e4f1efc3e3731a0uL to "1.4491861883170225e-08",
        0x3edd14eb5f738bd0uL to "6.933621526902586e-06",
        0x40a921bdc3f01ee6uL to "3216.870635513088",
        0x420059b5b184d00auL to "8778069552.601582",
        0x468e94e205b423feuL to "7.753350083364998e+31",
        0x406aa1e876e0f57cuL to "213.05962699830332",
        0x44b8da6d448162e1uL to "1.173660593572504e+23",
        0x4599eb4709e0ab79uL to "2.0053895708433028e+27",
        )
    }

    // --- Python's JSON, byte for byte ------------------------------------------------------

    @Test
    fun floatReprMatchesPython() {
        val bad = FLOATS.mapNotNull { (bits, py) ->
            val x = Double.fromBits(bits.toLong())
            val k = PyJson.floatRepr(x)
            if (k != py) "0x${bits.toString(16)}: kotlin $k, python $py" else null
        }
        assertEquals(emptyList<String>(), bad)
        // Each repr reads back as its value (shortest round trip), NaN / infinities as json.dumps.
        for ((bits, _) in FLOATS) {
            val x = Double.fromBits(bits.toLong())
            assertEquals(x.toRawBits(), PyJson.floatRepr(x).toDouble().toRawBits())
        }
        assertEquals("NaN", PyJson.floatRepr(Double.NaN))
        assertEquals("Infinity", PyJson.floatRepr(Double.POSITIVE_INFINITY))
        assertEquals("-Infinity", PyJson.floatRepr(Double.NEGATIVE_INFINITY))
    }

    @Test
    fun randomFloatsReadBackShortest() {
        // Not compared with Python (no Python here): round trip, and no shorter digit string reads back.
        val rnd = Random(16)
        repeat(3000) {
            val x = Double.fromBits(rnd.nextLong())
            if (!x.isFinite()) return@repeat
            val s = PyJson.floatRepr(x)
            assertEquals(s, x.toRawBits(), s.toDouble().toRawBits())
            val mantissa = s.substringBefore('e').removePrefix("-").replace(".", "").trimStart('0').trimEnd('0')
            if (mantissa.length > 1) {
                val shorter = java.math.BigDecimal(x).round(java.math.MathContext(mantissa.length - 1, java.math.RoundingMode.HALF_EVEN))
                assertNotEquals(s, x, shorter.toString().toDouble())
            }
        }
    }

    @Test
    fun dumpsMatchesPython() {
        // Python: json.dumps({"b": [1, -0, 2.0, None, True, False, "é\u00ff\u0100\u20ac\U0001F600\x7f\x00\x1f\"\\/\n\r\t\b\f"],
        //   "a": {"\uffff": 1, "\U0001F600": 2, "Z": 3, "a": 4, "": 5}, "ä": -12345678901234}, sort_keys=True, separators=(",", ":"))
        val obj = linkedMapOf<String, Any?>(
            "b" to listOf(1L, 0L, 2.0, null, true, false, "é\u00ff\u0100\u20ac\uD83D\uDE00\u007f\u0000\u001f\"\\/\n\r\t\b\u000C"),
            "a" to linkedMapOf("\uffff" to 1L, "\uD83D\uDE00" to 2L, "Z" to 3L, "a" to 4L, "" to 5L),
            "ä" to -12345678901234L,
        )
        val python = """{"a":{"":5,"Z":3,"a":4,"\uffff":1,"\ud83d\ude00":2},"b":[1,0,2.0,null,true,false,""" +
            """"\u00e9\u00ff\u0100\u20ac\ud83d\ude00\u007f\u0000\u001f\"\\/\n\r\t\b\f"],"\u00e4":-12345678901234}"""
        assertEquals(python, PyJson.dumps(obj))
        // The same object through the port's JSON reader (escapes decoded) dumps the same.
        assertEquals(python, PyJson.dumps(Json.parse(python)))
    }

    @Test
    fun jsonReaderIsStrict() {
        // What Python's json / pydantic refuse, the port's reader refuses (IllegalArgumentException).
        for (bad in listOf("+1", "01", "1.", ".5", "-", "1e", "\"\\u+06d\"", "\"\\u00g0\"", "[1,]", "{\"a\":1,}", "NaN",
                "[".repeat(Json.MAX_DEPTH + 1) + "]".repeat(Json.MAX_DEPTH + 1))) {
            try {
                Json.parse(bad)
                fail("accepted $bad")
            } catch (e: IllegalArgumentException) {
            }
        }
        assertEquals(listOf(0L, -0.0, 1.5e-7, 10L, "m"), Json.parse("[0,-0.0,1.5E-7,10,\"\\u006d\"]"))
        assertEquals(1, (Json.parse("[".repeat(Json.MAX_DEPTH) + "]".repeat(Json.MAX_DEPTH)) as List<*>).size.coerceAtMost(1))
    }

    // --- the bundled package verifies ------------------------------------------------------

    @Test
    fun bundledPackageVerifies() {
        val vp = ModelPackage.loadPackage(packageDir)
        val raw = Json.parse(manifestText) as Map<*, *>
        val declared = raw["content_hash"] as String
        assertEquals(declared, vp.manifest.contentHash)
        assertEquals(declared, vp.manifest.computeContentHash())
        assertEquals(declared, PackageManifest.sha256Hex(vp.manifest.canonicalJson()))
        assertEquals(raw["format_version"], vp.manifest.formatVersion.toLong())
        assertEquals(vp.manifest.roles.toSet(), vp.networks.keys)
        // The hash every conformance vector and golden stream names (header bytes 24..39).
        val streams = Golden.vectors.vectors.map { it.stream to Golden.vectors.bytes(it.stream) } +
            Golden.streams.map { it.name to it.file.readBytes() }
        assertTrue(streams.isNotEmpty())
        for ((name, bytes) in streams) {
            val h = StreamHeader.parse(bytes)
            assertEquals(name, hex(vp.manifest.streamHash), hex(h.modelHash))
            assertEquals(name, vp.manifest.modelId, h.modelId)
        }
        // The same decoder constants as the golden package.json (golden.py writes it from this package).
        val g = Golden.pkg
        val p = vp.pkg
        assertEquals(hex(g.modelHash), hex(p.modelHash))
        assertEquals(declared.substring(0, 32), hex(p.modelHash))
        assertEquals(g.modelId, p.modelId)
        assertEquals(g.levels, p.levels)
        assertEquals(listOf(g.yExp, g.alignment, g.latentChannels, g.hyperChannels, g.tablesPerOctave, g.maxWidth, g.maxHeight, g.resLatentChannels),
            listOf(p.yExp, p.alignment, p.latentChannels, p.hyperChannels, p.tablesPerOctave, p.maxWidth, p.maxHeight, p.resLatentChannels))
        assertArrayEquals(g.zTableIndex, p.zTableIndex)
        assertEquals(g.resZTableIndex?.toList(), p.resZTableIndex?.toList())
        assertEquals(g.tables.sha256Hex(), p.tables.sha256Hex())
        assertArrayEquals(g.tables.cdf, p.tables.cdf)
        // The decoder's subset reads only the manifest, the tables and the decoder's .tflite files.
        val read = ArrayList<String>()
        val dec = ModelPackage.fromPackageFiles { read.add(it); files[it] }
        assertEquals(vp.manifest.decoderRoles.toSet(), dec.networks.keys)
        assertEquals(setOf("manifest.json", vp.manifest.tables.file) + vp.manifest.decoderRoles.map { vp.manifest.networks.getValue(it).tflite },
            read.toSet())
        for (role in dec.networks.keys) assertArrayEquals(files.getValue(vp.manifest.networks.getValue(role).tflite), dec.networks[role])
    }

    @Test
    fun verifiedPackageDecodesTheSmallestVector() {
        val vp = ModelPackage.loadPackage(packageDir, PackageFiles.DECODER)
        val v = Golden.vectors.vectors.minByOrNull { Golden.vectors.bytes(it.stream).size }!!
        val r = Conformance.runVector(Golden.vectors, v, vp.pkg, RecordedNetworkRunner())
        assertTrue("${v.name}: ${r.detail}", r.passed)
    }

    /** The first bundled model (format version 1: description and training hashed), from git history. */
    @Test
    fun formatVersion1ManifestVerifies() {
        val bytes = File(dataDir, "manifest_v1.json").readBytes()
        val m = PackageManifest.parse(bytes)
        assertEquals(1, m.formatVersion)
        // Python: read_manifest(...).content_hash, also the file's own content_hash.
        assertEquals("ca6607a269da55157b815b720c1691156b110c49755477422f0535df1f47b1d7", m.computeContentHash())
        assertEquals("mlvc-intra-v1", m.modelId)
        // Version 1 hashes training: changing a float there is a mismatch.
        val text = String(bytes, Charsets.UTF_8)
        val i = Regex("\"elapsed_s\": ([0-9.]+)").find(text)!!
        expectKind(ErrorKind.MODEL) { PackageManifest.parse(text.replaceRange(i.groups[1]!!.range, "1.5").toByteArray()) }
        expectKind(ErrorKind.MODEL) { PackageManifest.parse(text.replace("\"description\": \"", "\"description\": \"x").toByteArray()) }
    }

    // --- tampered packages: the model error --------------------------------------------------

    /** [text] with its content_hash recomputed, so that only the change under test differs. */
    private fun rehash(text: String): String {
        val h = PackageManifest.parseUnchecked(text.toByteArray()).computeContentHash()
        return text.replace(Regex("\"content_hash\"\\s*:\\s*\"[0-9a-f]*\""), "\"content_hash\": \"$h\"")
    }

    private fun load(overrides: Map<String, ByteArray?>, which: PackageFiles = PackageFiles.ALL): VerifiedPackage =
        ModelPackage.fromPackageFiles(which) { if (overrides.containsKey(it)) overrides[it] else files[it] }

    private fun manifestWith(text: String) = mapOf("manifest.json" to text.toByteArray())

    @Test
    fun tamperedManifestValueIsModelError() {
        val t = manifestText
        val raw = Json.parse(t) as Map<*, *>
        val tampered = listOf(
            t.replace("\"y_exp\": ${raw["y_exp"]}", "\"y_exp\": ${(raw["y_exp"] as Long) + 1}"),
            t.replace("\"max_width\": ${raw["max_width"]}", "\"max_width\": ${(raw["max_width"] as Long) - 16}"),
            t.replace(Regex("\"sigma_min\": ([0-9.e-]+)")) { "\"sigma_min\": ${it.groupValues[1].toDouble() * 2}" },
            t.replace(Regex("\"macs_per_pixel\": ([0-9.e-]+)")) { "\"macs_per_pixel\": ${it.groupValues[1].toDouble() + 1}" },
            Regex("\"tflite_sha256\": \"([0-9a-f])").find(t)!!.groups[1]!!.range.let { r -> t.replaceRange(r, if (t[r.first] == '0') "1" else "0") },
            t.replace("\"model_id\": \"${raw["model_id"]}\"", "\"model_id\": \"${raw["model_id"]}x\""),
            t.replace("\"content_hash\": \"${raw["content_hash"]}\"", "\"content_hash\": \"${(raw["content_hash"] as String).reversed()}\""),
            t.replace(Regex(",\\s*\"content_hash\": \"[0-9a-f]+\""), ""),
            t.replaceFirst("{", "{\"unknown\": 1, "),
            t.replace("\"format_version\": 2", "\"format_version\": 3"),
            t.replace("\"format\": \"mlvc-model-package\"", "\"format\": \"zip\""),
            t.substring(0, t.length / 2),
            "",
            "[]",
            // not JSON to Python either: a leading zero, a plus sign, a short \u escape, deep nesting
            t.replace("\"alignment\": ${raw["alignment"]}", "\"alignment\": 0${raw["alignment"]}"),
            t.replace("\"max_width\": ${raw["max_width"]}", "\"max_width\": +${raw["max_width"]}"),
            (raw["model_id"] as String).let { id -> t.replace("\"model_id\": \"$id\"", "\"model_id\": \"\\u+${"%03x".format(id[0].code)}${id.substring(1)}\"") },
            "[".repeat(100_000) + "]".repeat(100_000),
            t.replaceFirst("\"training\": {", "\"training\": {\"deep\": " + "[".repeat(100_000) + "]".repeat(100_000) + ", "),
        )
        for ((n, s) in tampered.withIndex()) {
            assertNotEquals("tamper $n did not change the manifest", t, s)
            expectKind(ErrorKind.MODEL) { PackageManifest.parse(s.toByteArray()) }
            expectKind(ErrorKind.MODEL) { load(manifestWith(s)) }
        }
        expectKind(ErrorKind.MODEL) { PackageManifest.parse(byteArrayOf(0x7b, 0xff.toByte(), 0x7d)) }   // not UTF-8
        // Format version 2: description and training are not the model's identity.
        if (raw["format_version"] == 2L) {
            val doc = t.replace(Regex("\"description\": \"[^\"]*\""), "\"description\": \"re-documented \\\\u00e9\"")
                .replace("\"training\": {", "\"training\": {\"note\": [1.5, null], ")
            assertNotEquals(t, doc)
            assertEquals(raw["content_hash"], load(manifestWith(doc)).manifest.contentHash)
        }
        // A rehashed manifest is a different package: verifies, but names another hash than the streams.
        val other = rehash(t.replace("\"max_width\": ${raw["max_width"]}", "\"max_width\": ${(raw["max_width"] as Long) - 16}"))
        val vp = load(manifestWith(other))
        assertNotEquals(raw["content_hash"], vp.manifest.contentHash)
        val v = Golden.vectors.vectors.first()
        expectKind(ErrorKind.MODEL) { Decoder(Golden.vectors.bytes(v.stream), vp.pkg, RecordedNetworkRunner()).use { it.decodeAll() } }
        // Schema rules under a valid hash are still refused.
        for (s in listOf(
            t.replace(Regex("\"res_z_table_index\": \\[[^\\]]*\\],?"), ""),
            t.replace("\"y_exp\": ${raw["y_exp"]}", "\"y_exp\": 99"),
            t.replace("\"tables\": {", "\"tables\": {\"extra\": 0, "),
            t.replace(Regex("\"graph_sha256\": \"[0-9a-f]+\""), "\"graph_sha256\": \"ABC\""),
            t.replace("\"networks/g_s.tflite\"", "\"../../g_s.tflite\""),
        )) {
            assertNotEquals(t, s)
            expectKind(ErrorKind.MODEL) { load(manifestWith(rehash(s))) }
        }
    }

    @Test
    fun tamperedFileByteIsModelError() {
        val m = PackageManifest.parse(files.getValue("manifest.json"))
        val listed = m.roles.flatMap { listOf(m.networks.getValue(it).graph, m.networks.getValue(it).tflite) }
        assertEquals(listed.size, listed.toSet().size)
        val rnd = Random(16)
        for (rel in listed) {
            val b = files.getValue(rel).copyOf()
            b[rnd.nextInt(b.size)] = (b[rnd.nextInt(b.size)].toInt() xor (1 + rnd.nextInt(255))).toByte()
            val pos = rnd.nextInt(b.size)
            b[pos] = (files.getValue(rel)[pos].toInt() xor 0x40).toByte()
            expectKind(ErrorKind.MODEL) { load(mapOf(rel to b)) }
            expectKind(ErrorKind.MODEL) { load(mapOf(rel to b.copyOf(b.size - 1))) }
        }
        // The decoder's subset checks the .tflite files it reads.
        for (role in m.decoderRoles) {
            val rel = m.networks.getValue(role).tflite
            val b = files.getValue(rel).copyOf().also { it[it.size / 2] = (it[it.size / 2].toInt() xor 1).toByte() }
            expectKind(ErrorKind.MODEL) { load(mapOf(rel to b), PackageFiles.DECODER) }
        }
        // tables.npz: a changed CDF entry, a changed byte anywhere, a truncated file, not a zip.
        val npz = files.getValue(m.tables.file)
        val (radius, cdf) = PackageLoader.readTables(npz)
        assertEquals(m.tables.sha256, CdfTables(radius, cdf).sha256Hex())
        val last = npz.size - 200   // inside cdf.npy's data (the last entry) in an uncompressed np.savez
        for (b in listOf(
            npz.copyOf().also { it[last] = (it[last].toInt() xor 1).toByte() },
            npz.copyOf(npz.size / 2),
            npz.copyOf(10),
            ByteArray(0),
            "not a zip".toByteArray(),
        )) expectKind(ErrorKind.MODEL) { load(mapOf(m.tables.file to b)) }
        var tried = 0
        for (pos in npz.indices step maxOf(1, npz.size / 400)) {
            val b = npz.copyOf().also { it[pos] = (it[pos].toInt() xor 0x10).toByte() }
            tried++
            try {
                val vp = load(mapOf(m.tables.file to b), PackageFiles.DECODER)
                // Only bytes the tables do not depend on (zip metadata ZipInputStream does not read) may change.
                assertEquals(m.tables.sha256, vp.pkg.tables.sha256Hex())
            } catch (e: MlvcException) {
                assertEquals(e.message, ErrorKind.MODEL, e.kind)
            }
        }
        assertTrue(tried > 100)
    }

    @Test
    fun missingFileIsModelError() {
        val m = PackageManifest.parse(files.getValue("manifest.json"))
        val listed = listOf("manifest.json", m.tables.file) + m.roles.flatMap { listOf(m.networks.getValue(it).graph, m.networks.getValue(it).tflite) }
        for (rel in listed) {
            expectKind(ErrorKind.MODEL) { load(mapOf(rel to null)) }
            expectKind(ErrorKind.MODEL) { ModelPackage.fromPackageFiles(PackageFiles.ALL) { if (it == rel) throw java.io.FileNotFoundException(it) else files[it] } }
        }
        // The decoder's subset needs only its own files.
        val decoderFiles = setOf("manifest.json", m.tables.file) + m.decoderRoles.map { m.networks.getValue(it).tflite }
        for (rel in listed) {
            if (rel in decoderFiles) expectKind(ErrorKind.MODEL) { load(mapOf(rel to null), PackageFiles.DECODER) }
            else assertEquals(m.contentHash, load(mapOf(rel to null), PackageFiles.DECODER).manifest.contentHash)
        }
        // A directory without the package, or not a directory.
        val tmp = File.createTempFile("mlvc-pkg", "")
        try {
            expectKind(ErrorKind.MODEL) { ModelPackage.loadPackage(tmp) }
            tmp.delete(); tmp.mkdirs()
            expectKind(ErrorKind.MODEL) { ModelPackage.loadPackage(tmp) }
            File(tmp, "manifest.json").writeBytes(files.getValue("manifest.json"))
            expectKind(ErrorKind.MODEL) { ModelPackage.loadPackage(tmp) }
        } finally {
            tmp.deleteRecursively()
        }
    }

    @Test
    fun pathsStayInsideThePackage() {
        assertEquals("networks/g_s.tflite", PackageLoader.normalize("./networks/../networks//g_s.tflite"))
        for (p in listOf("../g_s.tflite", "networks/../../x", "/etc/passwd", "", ".", "a\\b", "C:x"))
            expectKind(ErrorKind.MODEL) { PackageLoader.normalize(p) }
    }

    /** Random byte damage to manifest.json: always the model error, or (unhashed text only) the same package. */
    @Test
    fun damagedManifestsNeverCrash() {
        val base = files.getValue("manifest.json")
        val declared = (Json.parse(manifestText) as Map<*, *>)["content_hash"]
        val rnd = Random(1616)
        var accepted = 0
        repeat(400) {
            val b = when (rnd.nextInt(3)) {
                0 -> base.copyOf().also { val p = rnd.nextInt(it.size); it[p] = (it[p].toInt() xor (1 shl rnd.nextInt(8))).toByte() }
                1 -> base.copyOf(rnd.nextInt(base.size))
                else -> { val p = rnd.nextInt(base.size); base.copyOfRange(0, p) + byteArrayOf(rnd.nextInt(256).toByte()) + base.copyOfRange(p, base.size) }
            }
            try {
                val m = PackageManifest.parse(b)
                assertEquals(declared, m.contentHash)
                accepted++
            } catch (e: MlvcException) {
                assertEquals(e.message, ErrorKind.MODEL, e.kind)
            }
        }
        assertTrue("too many damaged manifests accepted: $accepted", accepted < 200)
    }

    /**
     * The hash is of the canonical form, not of the file's text: the same manifest written
     * otherwise keeps it (each variant was checked once with Python's read_manifest: same hash).
     */
    @Test
    fun reformattedManifestKeepsItsHash() {
        val t = manifestText
        val raw = Json.parse(t) as Map<*, *>
        val sigma = Regex("\"sigma_min\": ([0-9.e-]+)").find(t)!!.groups[1]!!
        val macs = Regex("\"macs_per_pixel\": ([0-9]+)\\.0\\b").find(t)!!.groups[1]!!
        val id = raw["model_id"] as String
        val variants = listOf(
            // 0.11 -> 1.10e-1 (Python: "sigma_min": 1.10e-1)
            t.replaceRange(sigma.range, java.math.BigDecimal(sigma.value).movePointRight(1).toPlainString() + "0e-1"),
            // compact, keys in reverse order (Python: json.dumps(dict(reversed(d.items())), separators=(",", ":")))
            raw.entries.reversed().joinToString(",", "{", "}") { (k, v) -> PyJson.dumps(k) + ":" + PyJson.dumps(v) },
            // an escaped character in the model id (Python: "\u006dlvc-lp-v2")
            t.replace("\"model_id\": \"$id\"", "\"model_id\": \"\\u${"%04x".format(id[0].code)}${id.substring(1)}\""),
            // a float written as an integer (Python: "macs_per_pixel": 3981312)
            t.replaceRange(macs.range.first, macs.range.last + 3, macs.value),
        )
        for ((n, v) in variants.withIndex()) {
            assertNotEquals("variant $n", t, v)
            assertEquals("variant $n", raw["content_hash"], load(manifestWith(v)).manifest.contentHash)
        }
    }

    @Test
    fun laxCoercionsAsPydantic() {
        // pydantic (lax, JSON): 2.0 / true / "2" are integers, an integer is a float; 2.5 is not an integer.
        val t = manifestText
        val raw = Json.parse(t) as Map<*, *>
        val y = raw["y_exp"] as Long
        for (form in listOf("$y.0", "\"$y\"", "\" $y \"", "\"$y.0\"")) {
            assertEquals(raw["content_hash"], load(manifestWith(t.replace("\"y_exp\": $y", "\"y_exp\": $form"))).manifest.contentHash)
        }
        expectKind(ErrorKind.MODEL) { load(manifestWith(rehash(t.replace("\"y_exp\": $y", "\"y_exp\": $y.5")))) }
        val intSigma = rehash(t.replace(Regex("\"sigma_min\": [0-9.e-]+"), "\"sigma_min\": 1"))
        assertTrue(String(PackageManifest.parseUnchecked(intSigma.toByteArray()).canonicalJson()).contains("\"sigma_min\":1.0"))
        // pydantic (checked once): "1_0.5" -> 10.5, ".5" -> 0.5, "inf" -> inf (json.dumps: Infinity); "1e0" is no integer.
        for ((form, dumped) in listOf("\"1_0.5\"" to "10.5", "\".5\"" to "0.5", "\"inf\"" to "Infinity", "\"1e-3\"" to "0.001")) {
            val v = rehash(t.replace(Regex("\"sigma_min\": [0-9.e-]+"), "\"sigma_min\": $form"))
            assertTrue(form, String(load(manifestWith(v)).manifest.canonicalJson()).contains("\"sigma_min\":$dumped"))
        }
        expectKind(ErrorKind.MODEL) { load(manifestWith(rehash(t.replace("\"y_exp\": $y", "\"y_exp\": \"1e0\"")))) }
    }
}
