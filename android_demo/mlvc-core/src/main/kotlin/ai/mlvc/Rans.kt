package ai.mlvc

/**
 * The rANS substream decoder of docs/bitstream.md §5, in the scalar form of the Python SDK's
 * `rans.decode_scalar`: 32-bit states held in Longs (corrupt input cannot overflow), 16-bit
 * words, 16-bit frequencies, symbol i on lane i mod L.
 */
object Rans {
    const val STATE_LOW = 1L shl 16
    const val MAX_LANES = 1024

    /** Total byte size of the substream at [offset], validated against the [length] bytes present. */
    fun substreamSize(data: ByteArray, offset: Int, length: Int): Long {
        if (length < 6) corrupt("rANS substream header truncated")
        val lanes = LE.u16(data, offset)
        val words = LE.u32(data, offset + 2)
        val size = 6L + 4L * lanes + 2L * words
        if (size > length) corrupt("rANS substream truncated")
        return size
    }

    /**
     * Decode `tables.size` table-local symbol indices from the complete substream
     * data[offset until offset+length]; symbol i uses table tables[i].
     */
    fun decode(data: ByteArray, offset: Int, length: Int, tables: IntArray, cdf: CdfTables): IntArray {
        val n = tables.size
        val size = substreamSize(data, offset, length)
        if (size != length.toLong()) corrupt("rANS substream has trailing bytes")
        val lanes = LE.u16(data, offset)
        val nwords = LE.u32(data, offset + 2)
        if (n == 0) {
            if (lanes != 0 || nwords != 0L) corrupt("rANS substream not empty for zero symbols")
            return IntArray(0)
        }
        if (lanes < 1 || lanes > minOf(n, MAX_LANES)) corrupt("rANS lane count $lanes invalid for $n symbols")
        if (nwords > n) corrupt("rANS substream declares more words than symbols")
        val x = LongArray(lanes) { LE.u32(data, offset + 6 + 4 * it) }
        for (v in x) if (v < STATE_LOW) corrupt("rANS initial state out of range")
        val w = nwords.toInt()
        var wp = offset + 6 + 4 * lanes       // byte position of the next word
        val wend = wp + 2 * w
        val lut = cdf.slotLookup()
        val c = cdf.cdf
        val start = cdf.start
        val out = IntArray(n)
        var lane = 0
        for (i in 0 until n) {
            val t = tables[i]
            var s = x[lane]
            val slot = (s and 0xFFFF).toInt()
            val k = lut[(t shl 16) + slot].toInt()
            val g = start[t] + k
            val lo = c[g]
            s = (c[g + 1] - lo).toLong() * (s ushr 16) + slot - lo
            if (s < STATE_LOW) {
                if (wp >= wend) corrupt("rANS substream ran out of words")
                s = (s shl 16) or ((data[wp].toLong() and 0xFF) or ((data[wp + 1].toLong() and 0xFF) shl 8))
                wp += 2
            }
            x[lane] = s
            out[i] = k
            if (++lane == lanes) lane = 0
        }
        if (wp != wend || x.any { it != STATE_LOW }) corrupt("rANS substream did not end in the initial state")
        return out
    }

    /** Validate every table id (callers with untrusted ids use this before [decode]). */
    internal fun checkTables(tables: IntArray, cdf: CdfTables) {
        for (t in tables) if (t < 0 || t >= cdf.numTables) modelError("table index $t outside 0..${cdf.numTables - 1}")
    }
}
