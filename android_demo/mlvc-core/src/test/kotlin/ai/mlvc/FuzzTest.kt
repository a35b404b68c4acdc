package ai.mlvc

import java.nio.ByteBuffer
import java.util.Random
import java.util.concurrent.ExecutionException
import java.util.concurrent.ExecutorService
import java.util.concurrent.Executors
import java.util.concurrent.TimeUnit
import java.util.concurrent.TimeoutException
import java.util.concurrent.atomic.AtomicInteger
import java.util.zip.CRC32
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Test

/**
 * Seeded mutation fuzz of the whole decoder, the Kotlin twin of sdk/mlvc/conformance/fuzz.py:
 * every golden stream (intra and inter) is mutated ([FuzzMutator]: byte-level mutants, half of
 * them with recomputed CRCs so that the record layout, rANS and parse-path checks behind the
 * checksums are reached, plus re-encoded symbol-level ones), and each mutant is decoded through
 * the public [Decoder] API with [FuzzNetworkRunner] (recorded answers, else seeded noise of the
 * right shapes, so that hostile symbol streams get past the networks). Every mutant must decode
 * cleanly or throw [MlvcException] of a kind a stream can cause, within [TIME_LIMIT_MS]; a
 * symbol-level mutant, valid by construction, must not be refused (hash mismatches aside).
 *
 * Env: MLVC_FUZZ_MUTANTS (default [DEFAULT_MUTANTS]), MLVC_FUZZ_SEED (default [DEFAULT_SEED]) for
 * longer campaigns; a failure names stream, mutant index and mutation, which with the seed
 * reproduce it ([FuzzMutator.mutant]).
 */
class FuzzTest {
    companion object {
        const val DEFAULT_MUTANTS = 1500
        const val DEFAULT_SEED = 20240601L
        /** Per-mutant limit (hang detection); the golden streams decode in milliseconds. */
        const val TIME_LIMIT_MS = 3000L
    }

    /** How one decode ended. */
    private sealed class Outcome {
        object Clean : Outcome()
        class Typed(val e: MlvcException) : Outcome()
        class Crash(val t: Throwable) : Outcome()
        object Hang : Outcome()
    }

    /**
     * Runs decodes on a daemon thread so that a hang is detected instead of blocking the suite.
     * A hung thread cannot be killed safely: it is abandoned (daemon) and a fresh one started.
     */
    private class Worker : AutoCloseable {
        private var pool = newPool()

        private fun newPool(): ExecutorService = Executors.newSingleThreadExecutor { r ->
            Thread(r, "mlvc-fuzz").apply { isDaemon = true }
        }

        fun run(timeoutMs: Long, block: () -> Unit): Outcome {
            val f = pool.submit<Outcome> {
                try {
                    block(); Outcome.Clean
                } catch (e: MlvcException) {
                    Outcome.Typed(e)
                } catch (t: Throwable) {   // OOM, StackOverflow, IndexOutOfBounds, ...: what we look for
                    Outcome.Crash(t)
                }
            }
            return try {
                f.get(timeoutMs, TimeUnit.MILLISECONDS)
            } catch (e: TimeoutException) {
                f.cancel(true)
                pool.shutdownNow()
                pool = newPool()
                Outcome.Hang
            } catch (e: ExecutionException) {
                Outcome.Crash(e.cause ?: e)
            }
        }

        override fun close() { pool.shutdownNow() }
    }

    @Test
    fun mutantsDecodeOrFailTyped() {
        val total = System.getenv("MLVC_FUZZ_MUTANTS")?.toInt() ?: DEFAULT_MUTANTS
        val seed = System.getenv("MLVC_FUZZ_SEED")?.toLong() ?: DEFAULT_SEED
        val pkg = Golden.pkg
        val runner = FuzzNetworkRunner(pkg)
        val mutatorRunner = FuzzNetworkRunner(pkg)   // its calls are not the decoder's
        val unverified = DecoderOptions.Builder().verifyHashes(false).build()
        fun decode(data: ByteArray, o: DecoderOptions = DecoderOptions.DEFAULT): List<DecodedFrame> =
            Decoder(data, pkg, runner, o).use { it.decodeAll() }

        val streams = Golden.streams + Golden.treeStreams.map { it.first }   // grid clips and block-tree clips (§4c)
        val originals = streams.map { it.file.readBytes() }
        val t0 = System.nanoTime()
        val counts = LinkedHashMap<String, Int>()
        val secondCounts = LinkedHashMap<String, Int>()
        val failures = ArrayList<String>()
        var slowestMs = 0.0
        var crcFixed = 0
        var done = 0
        var hung = false   // the abandoned thread of a hang keeps a core busy: stop there
        Worker().use { worker ->
            // Sanity check and JIT / CDF-lookup warm-up: the unmutated streams decode bit-exactly
            // with every network call answered from the recordings.
            for ((s, data) in streams.zip(originals)) {
                val frames = decode(data)
                assertEquals("${s.name}: frames", s.frames.size, frames.size)
                assertTrue("${s.name}: unmutated stream verifies", frames.all { it.verified })
            }
            assertEquals("unmutated streams need no synthetic network answers", 0, runner.synthetic.get())

            /** Decode [m] with [o]; records failures, returns the outcome's name. */
            fun attempt(where: String, m: FuzzMutant, original: ByteArray, o: DecoderOptions): String {
                val start = System.nanoTime()
                val outcome = worker.run(TIME_LIMIT_MS) { decode(m.data, o) }
                val ms = (System.nanoTime() - start) / 1e6
                slowestMs = maxOf(slowestMs, ms)
                return when (outcome) {
                    Outcome.Clean -> "clean"
                    is Outcome.Typed -> {
                        problem(outcome.e, m.data, original)?.let { failures += "$where: $it" }
                        outcome.e.kind.code
                    }
                    is Outcome.Crash -> {
                        failures += "$where: ${outcome.t.javaClass.name}: ${outcome.t.message}\n    at " +
                            outcome.t.stackTrace.take(4).joinToString("\n    at ")
                        "crash"
                    }
                    Outcome.Hang -> { failures += "$where: no result after $TIME_LIMIT_MS ms"; hung = true; "hang" }
                }
            }

            // Typed errors a valid stream must not get (HASH_MISMATCH it may: its pictures changed).
            val refusals = ErrorKind.entries.filter { it != ErrorKind.HASH_MISMATCH }.map { it.code }.toSet()
            val perStream = (total + streams.size - 1) / streams.size
            for ((si, s) in streams.withIndex()) {
                val mutator = FuzzMutator(originals[si], pkg, mutatorRunner)
                for (i in 0 until perStream) {
                    if (done == total || hung) break
                    val m = mutator.mutant(seed, si, i)
                    if (m.crcFixed) crcFixed++
                    done++
                    val where = "${s.name} #$i (${m.what}; ${m.data.size} bytes)"
                    val key = attempt(where, m, originals[si], DecoderOptions.DEFAULT)
                    counts[key] = (counts[key] ?: 0) + 1
                    if (m.valid && key in refusals) failures += "$where: valid stream refused ($key)"
                    // A hash mismatch stops at its frame: decode again without verification so
                    // that the later frames (P-frames predicted from the hostile picture) run too.
                    if (key == ErrorKind.HASH_MISMATCH.code) {
                        val k2 = attempt("$where, verifyHashes off", m, originals[si], unverified)
                        secondCounts[k2] = (secondCounts[k2] ?: 0) + 1
                        if (m.valid && k2 in refusals) {
                            failures += "$where: valid stream refused without verification ($k2)"
                        }
                    }
                }
            }
        }
        fun show(c: Map<String, Int>) = c.entries.sortedByDescending { it.value }.joinToString(", ") { "${it.key}=${it.value}" }
        println("fuzz: $done mutants ($crcFixed with valid CRCs): ${show(counts)}" +
            (if (secondCounts.isEmpty()) "" else "; hash mismatches without verification: ${show(secondCounts)}") +
            "; network answers recorded=${runner.recorded.get()} synthetic=${runner.synthetic.get()}" +
            "; slowest ${"%.0f".format(slowestMs)} ms; ${"%.1f".format((System.nanoTime() - t0) / 1e9)} s (seed $seed)")
        if (failures.isNotEmpty()) {
            fail("${failures.size} failures in $done mutants (seed $seed):\n" + failures.take(20).joinToString("\n"))
        }
    }

    /**
     * Why a typed error is still wrong, or null. Per docs/bitstream.md §8 a stream alone cannot
     * cause INVALID_ARGUMENT or BACKEND (the fuzz runner never fails: BACKEND would be a crash
     * the decoder wrapped), and MODEL only when its model id or hash differs from the package's.
     */
    private fun problem(e: MlvcException, mutant: ByteArray, original: ByteArray): String? = when (e.kind) {
        ErrorKind.INVALID_ARGUMENT, ErrorKind.BACKEND -> "a stream cannot cause ${e.message}"
        ErrorKind.MODEL -> if (mutant.size >= 40 && mutant.copyOfRange(8, 40).contentEquals(original.copyOfRange(8, 40))) {
            "model error with the package's model id and hash: ${e.message}"
        } else null
        else -> null
    }
}

/**
 * One mutant of a golden stream and how it was made; [valid]: a conforming stream by construction
 * (symbol level), which must decode (with hash mismatches) and not be refused.
 */
class FuzzMutant(val data: ByteArray, val what: String, val crcFixed: Boolean, val valid: Boolean = false)

/**
 * Seeded mutations of one stream. Byte level (kinds 0..9): bit flips (one, several), byte
 * overwrites (random, 0x00, 0xFF), truncation, insertion / deletion of 1..16 bytes, a 2- or
 * 4-byte little-endian field set to an extreme value, random tail bytes; half of them get their
 * CRCs recomputed. Half of their offsets are drawn near the stream's structural fields (header
 * fields, record headers, substream headers, states and words), so that short golden payloads
 * do not leave the checks on them to chance.
 *
 * Symbol level (kinds 10, 11): byte mutations almost never survive the rANS end-state check, so
 * these decode one record's substream (motion vectors, or z and y of an intra payload / residual),
 * set symbols to extreme or random values, and re-encode them with valid CRCs, under the tables
 * the decoder will use ([runner] supplies the h_s answer, as during decoding). They reach the
 * synthetic network answers, the entropy-parameter clamping, the y_hat clamp and motion
 * compensation with hostile vectors.
 */
class FuzzMutator(private val original: ByteArray, private val pkg: ModelPackage, private val runner: NetworkRunner) {
    private val points: IntArray = structuralOffsets(original)
    private val tables = pkg.tables
    private val width = LE.u16(original, 40)
    private val height = LE.u16(original, 42)

    /** Mutant [index] of stream [streamIndex]: reproducible from these three numbers alone. */
    fun mutant(seed: Long, streamIndex: Int, index: Int): FuzzMutant {
        val rng = Random(mix(seed * 1_000_003L + streamIndex * 65_537L + index))
        val kind = index % KINDS
        if (kind >= BYTE_KINDS) return symbolMutant(rng)
        val fix = (index / KINDS) % 2 == 1      // every byte-level kind half with, half without
        var d = original.copyOf()
        val what: String
        when (kind) {
            0 -> { val p = offset(rng, d.size, 1); val b = rng.nextInt(8); flip(d, p, b); what = "bit flip @$p.$b" }
            1 -> {
                val n = 2 + rng.nextInt(7)
                val at = (0 until n).map { offset(rng, d.size, 1).also { p -> flip(d, p, rng.nextInt(8)) } }
                what = "$n bit flips @$at"
            }
            2, 3, 4 -> {
                val p = offset(rng, d.size, 1)
                val n = minOf(1 + rng.nextInt(4), d.size - p)
                for (k in p until p + n) d[k] = when (kind) { 2 -> rng.nextInt(256); 3 -> 0; else -> 0xFF }.toByte()
                what = "overwrite $n bytes (${listOf("random", "0x00", "0xff")[kind - 2]}) @$p"
            }
            5 -> { val n = offset(rng, d.size, 0).coerceAtMost(d.size - 1); d = d.copyOf(n); what = "truncate to $n" }
            6 -> {
                val p = offset(rng, d.size, 0)   // 0..size: also append
                val n = 1 + rng.nextInt(16)
                d = d.copyOfRange(0, p) + ByteArray(n).also { rng.nextBytes(it) } + d.copyOfRange(p, d.size)
                what = "insert $n bytes @$p"
            }
            7 -> {
                val p = offset(rng, d.size, 1)
                val n = minOf(1 + rng.nextInt(16), d.size - p)
                d = d.copyOfRange(0, p) + d.copyOfRange(p + n, d.size)
                what = "delete $n bytes @$p"
            }
            8 -> {
                val w = if (rng.nextBoolean()) 2 else 4
                val p = offset(rng, d.size, w)
                val v = EXTREMES[rng.nextInt(if (w == 2) 4 else EXTREMES.size)]
                putLE(d, p, v, w)
                what = "u${8 * w} @$p = 0x${v.toString(16)}"
            }
            else -> {
                val n = 1 + rng.nextInt(64)
                d += ByteArray(n).also { rng.nextBytes(it) }
                what = "$n random tail bytes"
            }
        }
        if (fix) fixCrcs(d)
        return FuzzMutant(d, if (fix) "$what, CRCs fixed" else what, fix)
    }

    /** An offset in 0..size-width: half uniform, half just at / after a structural field. */
    private fun offset(rng: Random, size: Int, width: Int): Int {
        val hi = maxOf(0, size - width)
        val p = if (rng.nextBoolean()) points[rng.nextInt(points.size)] + rng.nextInt(4) else rng.nextInt(hi + 1)
        return p.coerceIn(0, hi)
    }

    /**
     * Re-encode one record's motion substream or intra payload with hostile symbols; or (one in
     * four) give the picture a new size, often degenerate (1..130 per side, sometimes the
     * package's maximum), and re-code every record from scratch: the goldens have only a few
     * sizes, all of at least 37 × 37.
     */
    private fun symbolMutant(rng: Random): FuzzMutant {
        val es = EditableStream(original)
        val what: String
        if (rng.nextInt(4) == 0) {
            val w = side(rng, pkg.maxWidth)
            val h = side(rng, pkg.maxHeight)
            putLE(es.header, 40, w.toLong(), 2)
            putLE(es.header, 42, h.toLong(), 2)
            for (rec in es.records) {
                if (rec.type == 'P'.code) {
                    mutateMotion(rec, h, w, rng, fresh = true)
                    if ((rec.payload[0].toInt() and InterCodec.RESIDUAL_BIT) != 0) {
                        mutateIntra(rec, residualOffset(rec.payload), pkg.residualSet, h, w, rng, fresh = true)
                    }
                } else {
                    mutateIntra(rec, 0, NetworkSet.INTRA, h, w, rng, fresh = true)
                }
            }
            what = "resized to ${w}x$h, every record re-coded"
        } else {
            val ri = rng.nextInt(es.records.size)
            val rec = es.records[ri]
            val p = rec.payload
            val isP = rec.type == 'P'.code
            what = if (isP && ((p[0].toInt() and InterCodec.RESIDUAL_BIT) == 0 || rng.nextBoolean())) {
                "frame $ri motion: " + mutateMotion(rec, height, width, rng, fresh = false)
            } else {
                "frame $ri ${if (isP) "residual" else "intra"}: " + mutateIntra(rec,
                    if (isP) residualOffset(p) else 0, if (isP) pkg.residualSet else NetworkSet.INTRA, height, width, rng, fresh = false)
            }
        }
        return FuzzMutant(es.bytes(), "symbols, $what", crcFixed = true, valid = true)
    }

    /** A picture side for a resized mutant: a block / alignment edge, random 1..130, or [max]. */
    private fun side(rng: Random, max: Int): Int = when (val v = SIZES[rng.nextInt(SIZES.size)]) {
        0 -> 1 + rng.nextInt(130)
        -1 -> max
        else -> v
    }

    /**
     * Motion deltas of an h × w picture set to extremes / random values, maybe under another table
     * or the other pel mode; [fresh]: from zero deltas instead of the record's (its size changed).
     * A block-tree record (modes 4/5), and one grid record in four, is re-coded as a random block
     * tree instead ([mutateTree]).
     */
    private fun mutateMotion(rec: EditableStream.Rec, h: Int, w: Int, rng: Random, fresh: Boolean): String {
        val p = rec.payload
        val mode = p[0].toInt() and 0xFF
        if (mode >= InterCodec.MODE_BLOCK_TREE || rng.nextInt(4) == 0) return mutateTree(rec, h, w, rng)
        val t = p[1].toInt() and 0xFF
        val ml = LE.u32(p, 2).toInt()
        val n = 2 * ((h + InterCodec.BLOCK - 1) / InterCodec.BLOCK) * ((w + InterCodec.BLOCK - 1) / InterCodec.BLOCK)
        val r = tables.radius[t]
        val k = if (fresh) IntArray(n) { r } else Rans.decode(p, 6, ml, IntArray(n) { t }, tables)
        val t2 = if (rng.nextBoolean()) rng.nextInt(tables.numTables) else t
        val mode2 = if (rng.nextInt(3) == 0) mode xor InterCodec.HALF_PEL_BIT else mode
        val r2 = tables.radius[t2]
        val tabs = IntArray(n) { t2 }
        val k2 = IntArray(n) { (k[it] - r).coerceIn(-r2, r2) + r2 }   // keep the deltas the new table allows
        val how = mutateSymbols(k2, tabs, rng)
        val enc = encode(k2, tabs, rng)
        rec.payload = byteArrayOf(mode2.toByte(), t2.toByte()) + le32(enc.size) + enc + p.copyOfRange(6 + ml, p.size)
        return "mode $mode2, table $t2, $how"
    }

    /**
     * [rec] re-coded as a random block tree of an h × w picture (docs/bitstream.md §4c), valid by
     * construction: random splits, merges (either candidate), skips, vector differences up to the
     * table's radius (kept inside −2048..2047), frequencies (often 1 or 65535), deblocking strength
     * and lane count; mode 5 keeping the record's residual payload when it has one, else mode 4.
     */
    private fun mutateTree(rec: EditableStream.Rec, h: Int, w: Int, rng: Random): String {
        val p = rec.payload
        val residual = (p[0].toInt() and InterCodec.RESIDUAL_BIT) != 0
        val rest = if (residual) p.copyOfRange(residualOffset(p), p.size) else ByteArray(0)
        val mode = if (residual) InterCodec.MODE_BLOCK_TREE_RESIDUAL else InterCodec.MODE_BLOCK_TREE
        val t = rng.nextInt(tables.numTables)
        fun f() = when (rng.nextInt(4)) { 0 -> 1; 1 -> 65535; else -> 1 + rng.nextInt(65535) }
        val tc = if (rng.nextBoolean()) rng.nextInt(32) else 31
        val chooser = BlockTreeSpec.RandomChooser(rng, pSplit = rng.nextDouble(), pMerge = rng.nextDouble(),
            maxDelta = if (rng.nextBoolean()) tables.radius[t] else minOf(tables.radius[t], 1 + rng.nextInt(8)), pSkip = rng.nextDouble())
        val enc = BlockTreeSpec.encode(h, w, mode, t, IntArray(3) { f() }, f(), f(), f(), tc, tables, chooser, rest)
        val lanes = if (rng.nextBoolean()) null else 1 + rng.nextInt(minOf(enc.symbols, Rans.MAX_LANES))
        rec.payload = if (lanes == null) enc.payload else {
            val sub = RansFreqEncoder.encode(enc.syms, lanes)
            enc.payload.copyOf(BlockTreeCodec.HEAD).also { for (k in 0..3) it[15 + k] = (sub.size ushr (8 * k)).toByte() } + sub + rest
        }
        return "block tree mode $mode, table $t, tc $tc, ${enc.blocks.size} PBs"
    }

    /**
     * The intra payload at [base] of [rec] (an I-frame's, or a P-frame's residual) of an h × w
     * picture: y symbols changed, or z symbols changed (h_s then gets an unrecorded input) and y
     * re-coded from zeros under the resulting tables; sometimes at another quality level.
     * [fresh]: z and y from zeros instead of the record's (the picture size changed).
     */
    private fun mutateIntra(rec: EditableStream.Rec, base: Int, set: NetworkSet, h: Int, w: Int, rng: Random, fresh: Boolean): String {
        val p = rec.payload
        val codec = IntraCodec(pkg, runner, set)
        val zShape = codec.hyperShape(h, w)
        val yShape = codec.latentShape(h, w)
        val zTab = pkg.zTableIndexOf(set)
        val zl = LE.u32(p, base).toInt()
        val zt = IntArray(zShape.fold(1) { a, b -> a * b }) { zTab[it % pkg.hyperChannels] }
        val kz = if (fresh) IntArray(zt.size) { tables.radius[zt[it]] } else Rans.decode(p, base + 4, zl, zt, tables)
        val parts = ArrayList<String>()
        val newZ = fresh || rng.nextBoolean()
        if (newZ) parts += "z " + mutateSymbols(kz, zt, rng)
        val requantised = rng.nextInt(3) == 0
        if (requantised) {
            rec.quality = pkg.levels.keys.sorted()[rng.nextInt(pkg.levels.size)]
            parts += "quality ${rec.quality}"
        }
        val exp = pkg.exponent(rec.quality)!!
        val z = ByteArray(zt.size) { (kz[it] - tables.radius[zt[it]]).toByte() }
        val sigma = runner.run(set.hs, Int8Tensor(zShape, z)).getValue("sigma_index").data
        val ty = IntArray(sigma.size) { (sigma[it] - pkg.tablesPerOctave * exp).coerceIn(0, tables.numTables - 1) }
        check(ty.size == yShape.fold(1) { a, b -> a * b })
        // The golden y symbols fit only the golden tables; otherwise start from all-zero symbols.
        val ky = if (!newZ && !requantised) Rans.decode(p, base + 4 + zl, p.size - base - 4 - zl, ty, tables)
        else IntArray(ty.size) { tables.radius[ty[it]] }
        parts += "y " + mutateSymbols(ky, ty, rng)
        val ez = encode(kz, zt, rng)
        val ey = encode(ky, ty, rng)
        rec.payload = p.copyOfRange(0, base) + le32(ez.size) + ez + ey
        return parts.joinToString(", ")
    }

    /** Set a fraction of [k] (indices into tables [tabs]) to 0, to 0 or 2r, or to random values. */
    private fun mutateSymbols(k: IntArray, tabs: IntArray, rng: Random): String {
        val fraction = FRACTIONS[rng.nextInt(FRACTIONS.size)]
        val style = rng.nextInt(3)
        for (i in k.indices) {
            if (rng.nextDouble() >= fraction) continue
            val r = tables.radius[tabs[i]]
            k[i] = when (style) { 0 -> 0; 1 -> if (rng.nextBoolean()) 0 else 2 * r; else -> rng.nextInt(2 * r + 1) }
        }
        return "${listOf("min", "extreme", "random")[style]} symbols (p=$fraction)"
    }

    /** rANS-encode with the reference lane count or any valid one. */
    private fun encode(k: IntArray, tabs: IntArray, rng: Random): ByteArray {
        val lanes = if (k.isEmpty() || rng.nextBoolean()) RansEncoder.chooseLanes(k.size) else 1 + rng.nextInt(minOf(k.size, Rans.MAX_LANES))
        return RansEncoder.encode(k, tabs, tables, lanes)
    }

    companion object {
        const val BYTE_KINDS = 10
        const val KINDS = 12
        /** Extreme field values (the first four also fit 16 bits). */
        val EXTREMES = longArrayOf(0, 1, 0x7FFF, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFFL)
        private val FRACTIONS = doubleArrayOf(1.0 / 64, 1.0 / 8, 1.0)
        /** Picture sides for resized mutants: block / alignment edges; 0: random 1..130; −1: the package's maximum. */
        private val SIZES = intArrayOf(1, 2, 15, 16, 17, 63, 64, 65, 0, 0, 0, -1)

        /** splitmix64 finaliser: adjacent seeds give unrelated java.util.Random sequences. */
        private fun mix(v: Long): Long {
            var z = v + -0x61c8864680b583ebL
            z = (z xor (z ushr 30)) * -0x40a7b892e31b1a47L
            z = (z xor (z ushr 27)) * -0x6b2fb644ecceee15L
            return z xor (z ushr 31)
        }

        private fun flip(d: ByteArray, p: Int, bit: Int) { d[p] = (d[p].toInt() xor (1 shl bit)).toByte() }

        private fun putLE(d: ByteArray, o: Int, v: Long, width: Int) {
            for (k in 0 until width) d[o + k] = (v ushr (8 * k)).toByte()
        }

        private fun le32(v: Int): ByteArray = ByteArray(4).also { putLE(it, 0, v.toLong(), 4) }

        private fun crc(d: ByteArray, vararg ranges: IntRange): Long =
            CRC32().apply { for (r in ranges) update(d, r.first, r.last - r.first + 1) }.value

        /**
         * Recompute the header CRC and the CRC of every record that fits, as
         * sdk/mlvc/conformance/fuzz.py's _fix_crcs (hostile.py's fix_header_crc / fix_record_crc).
         */
        fun fixCrcs(d: ByteArray) {
            if (d.size >= StreamHeader.SIZE) putLE(d, 60, crc(d, 0 until 60), 4)
            var off = StreamHeader.SIZE
            while (off + FrameRecord.HEADER_SIZE <= d.size) {
                val len = LE.u32(d, off + 4)
                val start = off + FrameRecord.HEADER_SIZE
                if (start + len > d.size) break
                putLE(d, off + 24, crc(d, off until off + 24, start until start + len.toInt()), 4)
                off = start + len.toInt()
            }
        }

        /** Byte offset of a P payload's residual: after the motion substream (§4b) or the block substream (§4c). */
        fun residualOffset(p: ByteArray): Int =
            if ((p[0].toInt() and 0xFF) >= InterCodec.MODE_BLOCK_TREE) BlockTreeCodec.HEAD + LE.u32(p, 15).toInt()
            else 6 + LE.u32(p, 2).toInt()

        /** Offsets of the fields of a valid stream (docs/bitstream.md §1–5). */
        fun structuralOffsets(d: ByteArray): IntArray {
            val pts = mutableListOf(0, 4, 5, 6, 8, 24, 40, 42, 44, 48, 52, 56, 57, 58, 60)
            fun rans(p: Int): Int {   // returns the end of the substream
                val lanes = LE.u16(d, p)
                val words = LE.u32(d, p + 2).toInt()
                val wordsAt = p + 6 + 4 * lanes
                val end = wordsAt + 2 * words
                pts += listOf(p, p + 2, p + 6, wordsAt - 4, wordsAt, end - 2)
                return end
            }
            fun intra(p: Int) { pts += p; rans(p + 4 + LE.u32(d, p).toInt()); rans(p + 4) }
            var off = StreamHeader.SIZE
            while (off + FrameRecord.HEADER_SIZE <= d.size) {
                pts += listOf(off, off + 1, off + 2, off + 4, off + 8, off + 24)
                val p = off + FrameRecord.HEADER_SIZE
                if (d[off] == 'I'.code.toByte()) intra(p) else if ((d[p].toInt() and 0xFF) >= InterCodec.MODE_BLOCK_TREE) {
                    pts += listOf(p, p + 1, p + 2, p + 4, p + 6, p + 8, p + 10, p + 12, p + 14, p + 15)   // §4c header fields
                    val end = rans(p + BlockTreeCodec.HEAD)
                    if ((d[p].toInt() and InterCodec.RESIDUAL_BIT) != 0) intra(end)
                } else {
                    pts += listOf(p, p + 1, p + 2)
                    val end = rans(p + 6)
                    if ((d[p].toInt() and InterCodec.RESIDUAL_BIT) != 0) intra(end)
                }
                off = p + LE.u32(d, off + 4).toInt()
            }
            pts += d.size - 1
            return pts.filter { it in d.indices }.distinct().sorted().toIntArray()
        }
    }
}

/**
 * The fuzz test's [NetworkRunner]: an input equal (shape and contents) to a recorded golden one
 * gets the recorded outputs; any other input gets deterministic int8 noise (seeded by the input)
 * in the shapes the real networks give: h_s, res_h_s: z 1×h×w×Nz → mu, sigma_index
 * 1×4h×4w×M (M: the latent channels of the role's set, [ModelPackage.latentChannelsOf]; a
 * recording of the other set's shape is not served); g_s, res_g_s: y_hat 1×h×w×M → image
 * 1×16h×16w×3 (docs/bitstream.md §4). Outputs are fresh arrays, so a decoder writing into them
 * cannot leak into later mutants.
 */
class FuzzNetworkRunner(private val pkg: ModelPackage) : NetworkRunner {
    private class Recording(val inputShape: IntArray, val outputs: Map<String, Int8Tensor>)

    private val hs = HashMap<ByteBuffer, Recording>()   // ByteBuffer: content equality and hash
    private val gs = HashMap<ByteBuffer, Recording>()
    val recorded = AtomicInteger()
    val synthetic = AtomicInteger()

    init {
        for (f in Golden.allFrames + Golden.treeStreams.flatMap { it.first.frames }) {
            if (!f.hasParsePath) continue
            val y = f.yShape
            hs[ByteBuffer.wrap(f.i8("z.i8"))] = Recording(f.zShape, mapOf(
                "mu" to Int8Tensor(y, f.i8("hs_mu.i8")), "sigma_index" to Int8Tensor(y, f.i8("hs_sigma_index.i8"))))
            gs[ByteBuffer.wrap(f.i8("y_hat.i8"))] = Recording(y, mapOf(
                "image" to Int8Tensor(intArrayOf(1, y[1] * 16, y[2] * 16, 3), f.i8("gs_image.i8"))))
        }
    }

    override fun run(role: String, input: Int8Tensor): Map<String, Int8Tensor> {
        val s = input.shape
        check(s.size == 4 && s[0] == 1) { "$role: input shape ${s.contentToString()} is not 1×H×W×C" }
        val (book, outputs) = when (role) {
            "h_s", "res_h_s" -> {
                val m = pkg.latentChannelsOf(if (role == "res_h_s") NetworkSet.RESIDUAL else NetworkSet.INTRA)
                hs to mapOf("mu" to intArrayOf(1, 4 * s[1], 4 * s[2], m), "sigma_index" to intArrayOf(1, 4 * s[1], 4 * s[2], m))
            }
            "g_s", "res_g_s" -> gs to mapOf("image" to intArrayOf(1, 16 * s[1], 16 * s[2], 3))
            else -> throw AssertionError("unexpected network role $role")
        }
        val rec = book[ByteBuffer.wrap(input.data)]
        if (rec != null && rec.inputShape.contentEquals(s) && rec.outputs.all { (k, t) -> outputs[k]?.contentEquals(t.shape) == true }) {
            recorded.incrementAndGet()
            return rec.outputs.mapValues { (_, t) -> Int8Tensor(t.shape, t.data.copyOf()) }
        }
        synthetic.incrementAndGet()
        val rng = Random(input.data.contentHashCode() * 31L + role.hashCode())
        return outputs.mapValues { (_, shape) ->
            Int8Tensor(shape, ByteArray(shape.fold(1) { a, b -> a * b }).also { rng.nextBytes(it) })
        }
    }
}
