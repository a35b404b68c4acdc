package ai.mlvc

/**
 * rANS decode throughput (symbols/s); a main, not a timed test:
 * `MLVC_BENCH=1 ./test-jvm.sh`, or `java ... ai.mlvc.RansBenchmark [symbols...]`.
 * Measures (a) synthetic substreams of the given sizes (default 65536 and 2^20) coded with the
 * golden tables, a random table per symbol (worst case for the slot lookup's cache) and the
 * reference encoder's lane count, and (b) the golden streams' first-frame y substreams.
 * Best of 5 batches after JIT warm-up.
 */
object RansBenchmark {
    @JvmStatic
    fun main(args: Array<String>) {
        val cdf = Golden.pkg.tables
        cdf.slotLookup()
        val sizes = if (args.isEmpty()) listOf(65536, 1 shl 20) else args.map { it.toInt() }
        val rt = RansTest()
        for (n in sizes) {
            val (k, t) = rt.sample(n, 42)
            val b = RansEncoder.encode(k, t, cdf)
            report("synthetic n=$n lanes=${RansEncoder.chooseLanes(n)} ${b.size} B", n) {
                Rans.decode(b, 0, b.size, t, cdf)
            }
        }
        for (s in Golden.streams) {
            val data = s.file.readBytes()
            val hdr = StreamHeader.parse(data)
            var off = StreamHeader.SIZE
            val rec = FrameRecord.parse(data, off)
            val zl = LE.u32(data, rec.payloadOffset).toInt()
            val t = s.frames[0].i32("table_index.i32")
            val yo = rec.payloadOffset + 4 + zl
            val yl = rec.payloadLength - 4 - zl
            report("golden ${s.name} f0 y (${hdr.width}x${hdr.height})", t.size) { Rans.decode(data, yo, yl, t, cdf) }
        }
    }

    private fun report(what: String, n: Int, block: () -> IntArray) {
        val minRepeats = 5
        val target = 2_000_000L * 1 // symbols per timing batch
        val reps = maxOf(1, (target / n).toInt())
        repeat(3) { repeat(reps) { block() } }              // JIT warm-up
        var best = Double.MAX_VALUE
        repeat(minRepeats) {
            val t0 = System.nanoTime()
            repeat(reps) { block() }
            best = minOf(best, (System.nanoTime() - t0) / 1e9 / reps)
        }
        println("rANS decode %-48s %9d symbols  %8.3f ms  %7.1f M symbols/s".format(what, n, best * 1e3, n / best / 1e6))
    }
}
