package ai.mlvc

/**
 * A minimal JSON reader (RFC 8259) so that the core needs nothing beyond the JDK / Android
 * runtime. Objects → Map<String, Any?>, arrays → List<Any?>, numbers → Long or Double; nesting
 * deeper than [MAX_DEPTH] is an IllegalArgumentException like any other malformed input.
 */
internal class Json private constructor(private val s: String) {
    private var i = 0
    private var depth = 0

    companion object {
        const val MAX_DEPTH = 512
        private val NUMBER = Regex("-?(0|[1-9][0-9]*)(\\.[0-9]+)?([eE][+-]?[0-9]+)?")

        fun parse(text: String): Any? {
            val p = Json(text)
            p.ws()
            val v = p.value()
            p.ws()
            if (p.i != text.length) p.fail("trailing characters")
            return v
        }
    }

    private fun fail(msg: String): Nothing = throw IllegalArgumentException("JSON: $msg at offset $i")

    private fun ws() {
        while (i < s.length && (s[i] == ' ' || s[i] == '\n' || s[i] == '\r' || s[i] == '\t')) i++
    }

    private fun value(): Any? {
        if (i >= s.length) fail("unexpected end")
        return when (s[i]) {
            '{', '[' -> {
                // Hostile input cannot exhaust the stack: nesting deeper than MAX_DEPTH is an error.
                if (++depth > MAX_DEPTH) fail("nested deeper than $MAX_DEPTH")
                (if (s[i] == '{') obj() else arr()).also { depth-- }
            }
            '"' -> str()
            't' -> lit("true", true)
            'f' -> lit("false", false)
            'n' -> lit("null", null)
            else -> num()
        }
    }

    private fun lit(word: String, v: Any?): Any? {
        if (!s.startsWith(word, i)) fail("bad literal")
        i += word.length
        return v
    }

    private fun obj(): Map<String, Any?> {
        val m = LinkedHashMap<String, Any?>()
        i++; ws()
        if (i < s.length && s[i] == '}') { i++; return m }
        while (true) {
            ws()
            if (i >= s.length || s[i] != '"') fail("expected key")
            val k = str()
            ws()
            if (i >= s.length || s[i] != ':') fail("expected ':'")
            i++; ws()
            m[k] = value()
            ws()
            if (i >= s.length) fail("unexpected end")
            when (s[i++]) {
                ',' -> continue
                '}' -> return m
                else -> fail("expected ',' or '}'")
            }
        }
    }

    private fun arr(): List<Any?> {
        val l = ArrayList<Any?>()
        i++; ws()
        if (i < s.length && s[i] == ']') { i++; return l }
        while (true) {
            ws()
            l.add(value())
            ws()
            if (i >= s.length) fail("unexpected end")
            when (s[i++]) {
                ',' -> continue
                ']' -> return l
                else -> fail("expected ',' or ']'")
            }
        }
    }

    private fun str(): String {
        val b = StringBuilder()
        i++
        while (true) {
            if (i >= s.length) fail("unterminated string")
            val ch = s[i++]
            when {
                ch == '"' -> return b.toString()
                ch == '\\' -> {
                    if (i >= s.length) fail("bad escape")
                    when (val e = s[i++]) {
                        '"', '\\', '/' -> b.append(e)
                        'b' -> b.append('\b')
                        'f' -> b.append('\u000C')
                        'n' -> b.append('\n')
                        'r' -> b.append('\r')
                        't' -> b.append('\t')
                        'u' -> {
                            if (i + 4 > s.length || !(i until i + 4).all { s[it] in '0'..'9' || s[it] in 'a'..'f' || s[it] in 'A'..'F' }) fail("bad \\u escape")
                            b.append(s.substring(i, i + 4).toInt(16).toChar()); i += 4
                        }
                        else -> fail("bad escape")
                    }
                }
                ch < ' ' -> fail("control character in string")
                else -> b.append(ch)
            }
        }
    }

    private fun num(): Any {
        val st = i
        if (i < s.length && s[i] == '-') i++
        while (i < s.length && (s[i].isDigit() || s[i] in ".eE+-")) i++
        val t = s.substring(st, i)
        if (t.isEmpty() || t == "-") fail("bad value")
        if (!NUMBER.matches(t)) fail("bad number")   // RFC 8259 (no '+1', '01', '1.', '.5')
        return if (t.any { it in ".eE" }) t.toDoubleOrNull() ?: fail("bad number") else t.toLongOrNull() ?: fail("bad number")
    }
}
