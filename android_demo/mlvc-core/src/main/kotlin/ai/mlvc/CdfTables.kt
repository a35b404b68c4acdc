package ai.mlvc

import java.security.MessageDigest

/**
 * Frozen integer CDF tables (docs/bitstream.md §7): table t covers the symbols
 * −radius[t] .. radius[t] and has 2·radius[t] + 2 cumulative frequencies
 * 0 = c[0] < c[1] < ... < c[n] = 65536. Loaded from the model package and validated here;
 * never rebuilt from floating point.
 */
class CdfTables(radius: IntArray, cdf: IntArray) {
    /** radius[t], 1..255. */
    val radius: IntArray = radius.copyOf()
    /** All tables' cumulative frequencies, concatenated. */
    val cdf: IntArray = cdf.copyOf()
    /** Index in [cdf] of c[0] of table t. */
    val start: IntArray = IntArray(radius.size)

    val numTables: Int get() = radius.size

    init {
        if (radius.isEmpty()) modelError("CDF tables: no tables")
        var total = 0L
        for (t in radius.indices) {
            val r = radius[t]
            if (r !in 1..255) modelError("CDF tables: radius[$t] = $r, must be 1..255")
            start[t] = total.toInt()
            total += 2L * r + 2
        }
        if (total != cdf.size.toLong()) modelError("CDF tables: array length ${cdf.size} does not match the radii ($total)")
        for (t in radius.indices) {
            val s = start[t]
            val n = 2 * radius[t] + 1
            if (cdf[s] != 0 || cdf[s + n] != TOTAL) modelError("CDF table $t is not a valid $PRECISION-bit CDF")
            for (k in 0 until n) if (cdf[s + k + 1] - cdf[s + k] < 1) modelError("CDF table $t is not a valid $PRECISION-bit CDF")
        }
    }

    /** SHA-256 (hex) of radius as int32 LE followed by cdf as uint32 LE, as `tables.sha256`. */
    fun sha256Hex(): String {
        val md = MessageDigest.getInstance("SHA-256")
        md.update(leBytes(radius))
        md.update(leBytes(cdf))
        return md.digest().joinToString("") { "%02x".format(it) }
    }

    @Volatile private var lut: ShortArray? = null

    /**
     * slot → table-local symbol index for every table, flattened as `t * 65536 + slot`
     * (2 bytes per slot per table, built once from the integers on first use).
     */
    fun slotLookup(): ShortArray {
        lut?.let { return it }
        synchronized(this) {
            lut?.let { return it }
            val out = ShortArray(numTables * TOTAL)
            for (t in 0 until numTables) {
                val s = start[t]
                val base = t * TOTAL
                for (k in 0..2 * radius[t]) {
                    java.util.Arrays.fill(out, base + cdf[s + k], base + cdf[s + k + 1], k.toShort())
                }
            }
            lut = out
            return out
        }
    }

    /** Table-local index k with c[k] <= slot < c[k+1], by binary search (no lookup table). */
    fun findSlot(t: Int, slot: Int): Int {
        var lo = 0
        var hi = 2 * radius[t] + 1 // c[lo] <= slot < c[hi]
        val s = start[t]
        while (hi - lo > 1) {
            val mid = (lo + hi) ushr 1
            if (cdf[s + mid] <= slot) lo = mid else hi = mid
        }
        return lo
    }

    companion object {
        const val PRECISION = 16
        const val TOTAL = 1 shl PRECISION

        internal fun leBytes(a: IntArray): ByteArray {
            val b = java.nio.ByteBuffer.allocate(a.size * 4).order(java.nio.ByteOrder.LITTLE_ENDIAN)
            b.asIntBuffer().put(a)
            return b.array()
        }
    }
}
