package ai.mlvc

import java.math.BigDecimal
import java.math.MathContext
import java.math.RoundingMode

/**
 * Python's `json.dumps(v, sort_keys=True, separators=(",", ":"))` with its defaults
 * (`ensure_ascii=True`, `allow_nan=True`), byte for byte: the canonical form that a model
 * package's `content_hash` is the SHA-256 of (sdk/mlvc/package/manifest.py `canonical_json`).
 *
 *  - objects: keys sorted by Unicode code point (Python's `str` order, not UTF-16 order);
 *  - strings: `\"` `\\` `\n` `\r` `\t` `\b` `\f`, every other character outside U+0020..U+007E as
 *    `\uxxxx` (lower-case hex; characters above U+FFFF as their UTF-16 surrogate pair);
 *  - integers ([Long], [Int]) in decimal; booleans `true`/`false`; null `null`;
 *  - floats ([Double]) as Python's `repr(float)` ([floatRepr]).
 */
internal object PyJson {
    fun dumps(v: Any?): String = StringBuilder().also { write(it, v) }.toString()

    private fun write(out: StringBuilder, v: Any?) {
        when (v) {
            null -> out.append("null")
            is Boolean -> out.append(if (v) "true" else "false")
            is Long, is Int, is Short, is Byte, is java.math.BigInteger -> out.append(v.toString())
            is Double -> out.append(floatRepr(v))
            is Float -> out.append(floatRepr(v.toDouble()))
            is String -> string(out, v)
            is Map<*, *> -> {
                val keys = v.keys.map { it as? String ?: throw IllegalArgumentException("JSON object key $it is not a string") }
                out.append('{')
                keys.sortedWith(CODE_POINT_ORDER).forEachIndexed { n, k ->
                    if (n > 0) out.append(',')
                    string(out, k)
                    out.append(':')
                    write(out, v[k])
                }
                out.append('}')
            }
            is List<*> -> {
                out.append('[')
                v.forEachIndexed { n, e -> if (n > 0) out.append(','); write(out, e) }
                out.append(']')
            }
            else -> throw IllegalArgumentException("cannot write ${v::class.java.name} as JSON")
        }
    }

    /** Python's `str` comparison: by code point (UTF-16 order differs above U+E000 vs surrogates). */
    val CODE_POINT_ORDER: Comparator<String> = Comparator { a, b ->
        var i = 0
        var j = 0
        while (i < a.length && j < b.length) {
            val ca = a.codePointAt(i)
            val cb = b.codePointAt(j)
            if (ca != cb) return@Comparator ca.compareTo(cb)
            i += Character.charCount(ca)
            j += Character.charCount(cb)
        }
        (a.length - i).compareTo(b.length - j)
    }

    private const val HEX = "0123456789abcdef"

    /** `json.encoder.encode_basestring_ascii`. */
    fun string(out: StringBuilder, s: String) {
        out.append('"')
        for (c in s) {
            when {
                c == '"' -> out.append("\\\"")
                c == '\\' -> out.append("\\\\")
                c == '\n' -> out.append("\\n")
                c == '\r' -> out.append("\\r")
                c == '\t' -> out.append("\\t")
                c == '\b' -> out.append("\\b")
                c == '\u000C' -> out.append("\\f")
                c in ' '..'~' -> out.append(c)
                else -> {
                    val n = c.code
                    out.append("\\u").append(HEX[n shr 12 and 15]).append(HEX[n shr 8 and 15])
                        .append(HEX[n shr 4 and 15]).append(HEX[n and 15])
                }
            }
        }
        out.append('"')
    }

    /**
     * Python's `float.__repr__` (as `json.dumps` writes floats): the shortest decimal that reads
     * back as [x] (the nearest such one), positional when its decimal point position `decpt`
     * (x = 0.d1d2… × 10^decpt) is in -3..16, else `d.ddde±XX` (at least two exponent digits);
     * positional forms always have a fraction (`2.0`). NaN / ±inf as json.dumps: `NaN`, `Infinity`,
     * `-Infinity`. Does not rely on Double.toString (not shortest before JDK 19, nor on Android).
     */
    fun floatRepr(x: Double): String {
        if (x.isNaN()) return "NaN"
        if (x == Double.POSITIVE_INFINITY) return "Infinity"
        if (x == Double.NEGATIVE_INFINITY) return "-Infinity"
        if (x == 0.0) return if (1.0 / x < 0) "-0.0" else "0.0"
        val (digits, decpt) = shortestDigits(Math.abs(x))
        val sb = StringBuilder()
        if (x < 0) sb.append('-')
        if (decpt > -4 && decpt <= 16) {
            when {
                decpt <= 0 -> sb.append("0.").append("0".repeat(-decpt)).append(digits)
                decpt >= digits.length -> sb.append(digits).append("0".repeat(decpt - digits.length)).append(".0")
                else -> sb.append(digits, 0, decpt).append('.').append(digits, decpt, digits.length)
            }
        } else {
            sb.append(digits[0])
            if (digits.length > 1) sb.append('.').append(digits, 1, digits.length)
            val e = decpt - 1
            sb.append('e').append(if (e < 0) '-' else '+')
            val ae = Math.abs(e)
            if (ae < 10) sb.append('0')
            sb.append(ae)
        }
        return sb.toString()
    }

    /** Digits (no trailing zeros) and decimal point position of the shortest round-trip decimal of [a] > 0. */
    private fun shortestDigits(a: Double): Pair<String, Int> {
        val exact = BigDecimal(a)
        for (p in 1..17) {
            val r = exact.round(MathContext(p, RoundingMode.HALF_EVEN))
            // The nearest p-digit decimal, or (at a power of two, where the interval of decimals
            // reading back as [a] is lopsided) a neighbour of it, may be the shortest that reads back.
            val ulp = r.ulp()
            var best: BigDecimal? = null
            for (c in listOf(r, r.subtract(ulp), r.add(ulp))) {
                if (c.signum() <= 0 || c.toString().toDouble() != a) continue
                if (best == null || c.subtract(exact).abs() < best.subtract(exact).abs()) best = c
            }
            if (best != null) {
                val s = best.stripTrailingZeros()
                val digits = s.unscaledValue().toString()
                return digits to (digits.length - s.scale())
            }
        }
        throw IllegalStateException("no 17-digit decimal reads back as $a")   // cannot happen for finite doubles
    }
}
