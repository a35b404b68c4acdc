package ai.mlvc

/**
 * Incremental form of [Rans.decode] (docs/bitstream.md §5) for syntax whose symbol count and
 * tables depend on symbols already read (the quadtree inter payload, §4c): one symbol at a time,
 * each with its own table, every read bounds-checked, the end checks in [finish]. Every violation
 * is [ErrorKind.CORRUPT_STREAM]. Same arithmetic as [Rans.decode] (states in Longs), so on a
 * substream both accept they return the same symbols; the checks that need the symbol count
 * (lanes ≤ N, W ≤ N) are made in [finish], once N is known.
 *
 * [maxSymbols]: the most symbols the syntax can need (a bound from the picture size); reading
 * more is corrupt, so a hostile stream cannot make the caller loop or allocate without bound.
 */
class RansReader(private val data: ByteArray, offset: Int, length: Int, private val cdf: CdfTables,
                 private val maxSymbols: Long = Long.MAX_VALUE) {
    val lanes: Int
    val words: Long
    private val x: LongArray
    private var wp: Int
    private val wend: Int
    private val lut = cdf.slotLookup()
    private var lane = 0

    /** Symbols read so far. */
    var count = 0L
        private set

    init {
        val size = Rans.substreamSize(data, offset, length)
        if (size != length.toLong()) corrupt("rANS substream has trailing bytes")
        lanes = LE.u16(data, offset)
        words = LE.u32(data, offset + 2)
        if (lanes > Rans.MAX_LANES) corrupt("rANS lane count $lanes above ${Rans.MAX_LANES}")
        if (lanes == 0 && words != 0L) corrupt("rANS substream not empty for zero symbols")
        x = LongArray(lanes) { LE.u32(data, offset + 6 + 4 * it) }
        for (v in x) if (v < Rans.STATE_LOW) corrupt("rANS initial state out of range")
        wp = offset + 6 + 4 * lanes
        wend = wp + 2 * words.toInt()
    }

    /** The next symbol's table-local index k (0..2·radius[t]), decoded with table [t]. */
    fun next(t: Int): Int {
        if (lanes == 0) corrupt("rANS substream has no lanes for a symbol")
        if (count >= maxSymbols) corrupt("rANS: more symbols than the syntax allows")
        if (t < 0 || t >= cdf.numTables) corrupt("rANS: table $t does not exist")
        var s = x[lane]
        val slot = (s and 0xFFFF).toInt()
        val k = lut[(t shl 16) + slot].toInt()
        val g = cdf.start[t] + k
        val lo = cdf.cdf[g]
        s = (cdf.cdf[g + 1] - lo).toLong() * (s ushr 16) + slot - lo
        if (s < Rans.STATE_LOW) {
            if (wp >= wend) corrupt("rANS substream ran out of words")
            s = (s shl 16) or ((data[wp].toLong() and 0xFF) or ((data[wp + 1].toLong() and 0xFF) shl 8))
            wp += 2
        }
        x[lane] = s
        count++
        if (++lane == lanes) lane = 0
        return k
    }

    /**
     * The next binary symbol (0 or 1) of the table `cdf = [0, f, 65536]` (docs/bitstream.md §4c):
     * `slot = x & 0xFFFF`, k = 0 if slot < f else 1, `x = f_k · (x >> 16) + slot − lo_k` with
     * (lo_0, f_0) = (0, f) and (lo_1, f_1) = (f, 65536 − f), then the renormalisation of [next].
     * [f] must be in 1..65535 (callers check the stream's frequencies; anything else is corrupt).
     */
    fun bit(f: Int): Int {
        if (lanes == 0) corrupt("rANS substream has no lanes for a symbol")
        if (count >= maxSymbols) corrupt("rANS: more symbols than the syntax allows")
        if (f < 1 || f >= CdfTables.TOTAL) corrupt("rANS: binary frequency $f outside 1..${CdfTables.TOTAL - 1}")
        var s = x[lane]
        val slot = (s and 0xFFFF).toInt()
        val k: Int
        if (slot < f) {
            k = 0
            s = f.toLong() * (s ushr 16) + slot
        } else {
            k = 1
            s = (CdfTables.TOTAL - f).toLong() * (s ushr 16) + slot - f
        }
        if (s < Rans.STATE_LOW) {
            if (wp >= wend) corrupt("rANS substream ran out of words")
            s = (s shl 16) or ((data[wp].toLong() and 0xFF) or ((data[wp + 1].toLong() and 0xFF) shl 8))
            wp += 2
        }
        x[lane] = s
        count++
        if (++lane == lanes) lane = 0
        return k
    }

    /** The next symbol's signed value k − radius[t]. */
    fun nextSigned(t: Int): Int = next(t) - cdf.radius[t]

    /**
     * The end checks of §5 once every symbol is read: zero symbols iff an empty substream,
     * 1 ≤ L ≤ N, W ≤ N, every word consumed and every state back at 2^16.
     */
    fun finish() {
        if (count == 0L) {
            if (lanes != 0 || words != 0L) corrupt("rANS substream not empty for zero symbols")
            return
        }
        if (lanes < 1 || lanes > minOf(count, Rans.MAX_LANES.toLong())) corrupt("rANS lane count $lanes invalid for $count symbols")
        if (words > count) corrupt("rANS substream declares more words than symbols")
        if (wp != wend || x.any { it != Rans.STATE_LOW }) corrupt("rANS substream did not end in the initial state")
    }
}
