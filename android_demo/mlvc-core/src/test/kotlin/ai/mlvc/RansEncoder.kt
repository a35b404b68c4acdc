package ai.mlvc

import java.io.ByteArrayOutputStream

/** Reference rANS encoder of docs/bitstream.md §5 (tests and the benchmark only). */
object RansEncoder {
    fun chooseLanes(n: Int): Int = if (n <= 0) 0 else minOf(256, maxOf(1, n / 1024))

    /** Encode table-local indices [index] with tables [tables] on [lanes] lanes. */
    fun encode(index: IntArray, tables: IntArray, cdf: CdfTables, lanes: Int = chooseLanes(index.size)): ByteArray {
        val n = index.size
        val out = ByteArrayOutputStream()
        fun u16(v: Int) { out.write(v and 0xFF); out.write((v ushr 8) and 0xFF) }
        fun u32(v: Long) { u16((v and 0xFFFF).toInt()); u16(((v ushr 16) and 0xFFFF).toInt()) }
        if (n == 0) { u16(0); u32(0); return out.toByteArray() }
        require(lanes in 1..minOf(n, 1024))
        val x = LongArray(lanes) { Rans.STATE_LOW }
        val words = IntArray(2 * n + 16)
        var nw = 0
        for (i in n - 1 downTo 0) {
            val l = i % lanes
            val t = tables[i]
            val g = cdf.start[t] + index[i]
            val lo = cdf.cdf[g].toLong()
            val f = cdf.cdf[g + 1] - lo
            var s = x[l]
            if (s >= (f shl 16)) { words[nw++] = (s and 0xFFFF).toInt(); s = s ushr 16 }
            x[l] = ((s / f) shl 16) + (s % f) + lo
        }
        u16(lanes); u32(nw.toLong())
        for (v in x) u32(v)
        for (j in nw - 1 downTo 0) u16(words[j])   // decoder consumes them in reverse emission order
        return out.toByteArray()
    }
}

/**
 * The §5 encoder over explicit (cdf low, frequency) pairs, for syntax mixing table symbols and the
 * binary symbols of §4c (`cdf = [0, f, 65536]`: symbol 0 is (0, f), symbol 1 is (f, 65536 − f)).
 */
object RansFreqEncoder {
    class Sym(val lo: Int, val freq: Int)

    fun binary(f: Int, bit: Int): Sym = if (bit == 0) Sym(0, f) else Sym(f, CdfTables.TOTAL - f)

    fun table(cdf: CdfTables, t: Int, k: Int): Sym {
        val g = cdf.start[t] + k
        return Sym(cdf.cdf[g], cdf.cdf[g + 1] - cdf.cdf[g])
    }

    fun encode(syms: List<Sym>, lanes: Int = RansEncoder.chooseLanes(syms.size)): ByteArray {
        val n = syms.size
        val out = ByteArrayOutputStream()
        fun u16(v: Int) { out.write(v and 0xFF); out.write((v ushr 8) and 0xFF) }
        fun u32(v: Long) { u16((v and 0xFFFF).toInt()); u16(((v ushr 16) and 0xFFFF).toInt()) }
        if (n == 0) { u16(0); u32(0); return out.toByteArray() }
        require(lanes in 1..minOf(n, 1024))
        val x = LongArray(lanes) { Rans.STATE_LOW }
        val words = IntArray(2 * n + 16)
        var nw = 0
        for (i in n - 1 downTo 0) {
            val l = i % lanes
            val lo = syms[i].lo.toLong()
            val f = syms[i].freq.toLong()
            var s = x[l]
            if (s >= (f shl 16)) { words[nw++] = (s and 0xFFFF).toInt(); s = s ushr 16 }
            x[l] = ((s / f) shl 16) + (s % f) + lo
        }
        u16(lanes); u32(nw.toLong())
        for (v in x) u32(v)
        for (j in nw - 1 downTo 0) u16(words[j])
        return out.toByteArray()
    }
}
