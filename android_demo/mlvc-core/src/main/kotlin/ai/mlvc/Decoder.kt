package ai.mlvc

import java.io.InputStream
import java.security.MessageDigest

/** Decoder settings (the Python `DecoderOptions`). Build with [Builder]; `build()` validates. */
class DecoderOptions private constructor(
    /** Backend name for the app's runner (`null`: the fastest exact one, e.g. "cpu"). */
    val backend: String?,
    /** Check every picture against the stream's MD5 (failing on exact backends). */
    val verifyHashes: Boolean,
    /** Refuse pictures with more pixels than this (unsupported error). */
    val maxPixels: Long,
    /** Threads for the network runner (LiteRT `setNumThreads`); 0 = runtime default. */
    val numThreads: Int,
    /**
     * Python's `verify_hashes="strict"`: a hash mismatch is a HASH_MISMATCH error also on a
     * runner not proven exact (no recovery), and a runner whose h_s is not exact is a MODEL error
     * even when a reference runner is there.
     */
    val strict: Boolean = false,
    /**
     * Keep the approximate pictures of a runner not proven exact (reported `verified = false`)
     * instead of re-decoding them with the reference runner.
     */
    val preview: Boolean = false,
) {
    fun toBuilder(): Builder = Builder().backend(backend).verifyHashes(verifyHashes).maxPixels(maxPixels).numThreads(numThreads)
        .strict(strict).preview(preview)

    class Builder {
        private var backend: String? = null
        private var verifyHashes = true
        private var maxPixels = DEFAULT_MAX_PIXELS
        private var numThreads = 0
        private var strict = false
        private var preview = false

        fun backend(v: String?) = apply { backend = v }
        fun verifyHashes(v: Boolean) = apply { verifyHashes = v }
        fun maxPixels(v: Long) = apply { maxPixels = v }
        fun numThreads(v: Int) = apply { numThreads = v }
        fun strict(v: Boolean) = apply { strict = v }
        fun preview(v: Boolean) = apply { preview = v }

        /** Throws [MlvcException] of kind [ErrorKind.INVALID_ARGUMENT] for a bad value. */
        fun build(): DecoderOptions {
            backend?.let {
                if (!it.matches(Regex("[a-z0-9_-]{1,32}"))) invalidArgument("DecoderOptions.backend: '$it' is not a backend name")
            }
            if (maxPixels < 1) invalidArgument("DecoderOptions.maxPixels: must be >= 1, got $maxPixels")
            if (maxPixels > MAX_PIXELS_LIMIT) invalidArgument("DecoderOptions.maxPixels: must be <= $MAX_PIXELS_LIMIT, got $maxPixels")
            if (numThreads !in 0..64) invalidArgument("DecoderOptions.numThreads: must be 0..64, got $numThreads")
            if (strict && preview) invalidArgument("DecoderOptions: strict and preview exclude each other")
            if (strict && !verifyHashes) invalidArgument("DecoderOptions: strict needs verifyHashes")
            return DecoderOptions(backend, verifyHashes, maxPixels, numThreads, strict, preview)
        }
    }

    companion object {
        const val DEFAULT_MAX_PIXELS = 3840L * 2160
        const val MAX_PIXELS_LIMIT = 16384L * 16384
        val DEFAULT: DecoderOptions = Builder().build()
    }
}

/**
 * The decoder left its runner for the reference runner at frame [frame] (see [Decoder]):
 * [reason] says why (a picture hash mismatch on a runner not proven exact, or an h_s that is not
 * exact). Every frame from [frame] on is decoded by the reference runner.
 */
class BackendSwitch(val frame: Int, val reason: String, val from: String, val to: String) {
    override fun toString() = "BackendSwitch(frame=$frame, $from -> $to: $reason)"
}

/** One decoded picture (the Python `DecodedFrame`). [rgb] is H × W × 3 bytes, row-major. */
class DecodedFrame(
    val index: Int,
    /** "I" or "P". */
    val frameType: String,
    val quality: Int,
    val width: Int,
    val height: Int,
    val rgb: ByteArray,
    /** MD5 of [rgb]. */
    val md5: ByteArray,
    /** MD5 carried in the stream. */
    val expectedMd5: ByteArray,
    /** md5 == expectedMd5. */
    val verified: Boolean,
    /** Re-decoded by the reference runner after a hash mismatch on the decoder's runner. */
    val recovered: Boolean = false,
) {
    val md5Hex: String get() = hex(md5)
    val expectedMd5Hex: String get() = hex(expectedMd5)

    override fun toString(): String =
        "DecodedFrame(index=$index, type=$frameType, q=$quality, ${width}x$height, md5=$md5Hex, verified=$verified${if (recovered) ", recovered" else ""})"
}

internal fun hex(b: ByteArray): String = b.joinToString("") { "%02x".format(it) }

/** MD5 of an H × W × 3 picture (docs/bitstream.md §6). */
fun pictureMd5(rgb: ByteArray): ByteArray = MessageDigest.getInstance("MD5").digest(rgb)

/**
 * Decodes an MLVC stream (I-frames, §4, and P-frames, §4b and the block tree of §4c; bitstream
 * 1.0 and 1.1) and checks every picture against
 * the hash it carries.
 *
 *     Decoder(bytes, pkg, runner).use { dec -> for (f in dec) show(f.rgb) }
 *     Decoder(socket.getInputStream(), pkg, runner).use { dec -> for (f in dec) show(f.rgb) }
 *
 * The constructor checks the header (corrupt / unsupported), the size limits (unsupported) and
 * that the stream was made with [pkg] (model). Frames are decoded lazily while iterating; an
 * error in frame k surfaces when frame k is reached. The runners are not closed by [close].
 *
 * **Recovery** (the Python decoder's, issue #18): [reference] is the exact path of the device
 * (LiteRT on the CPU with XNNPACK). When a picture's hash fails on a [runner] that is not proven
 * exact (its [NetworkRunner.isExact] is false for g_s / res_g_s: an NNAPI or GPU delegate, or a
 * runner that failed the startup probe, [ProbedNetworkRunner]), that picture is decoded again by
 * [reference], every later frame is decoded by it, and the switch is reported ([switches],
 * [switchObserver]; the frame has `recovered = true`). A runner whose h_s is not exact cannot
 * parse the stream: with a reference the decoder uses the reference from the first frame,
 * without one it is a MODEL error. `strict` raises the HASH_MISMATCH / MODEL error instead of
 * recovering; `preview` (or no reference) keeps the approximate pictures, `verified = false`.
 */
class Decoder private constructor(
    source: StreamSource,
    val pkg: ModelPackage,
    private val runner: NetworkRunner,
    val options: DecoderOptions,
    private val reference: NetworkRunner?,
) : Iterable<DecodedFrame>, AutoCloseable {
    /** Decode [data], the whole stream in memory; its frames can be iterated any number of times. */
    constructor(
        data: ByteArray,
        pkg: ModelPackage,
        runner: NetworkRunner,
        options: DecoderOptions = DecoderOptions.DEFAULT,
        reference: NetworkRunner? = null,
    ) : this(StreamSource.Bytes(data), pkg, runner, options, reference)

    /**
     * Decode a stream read from [input] as it arrives (a live stream over a socket): the
     * constructor reads the 64-byte header, iterating reads one record per frame, so frame k
     * comes out once its record is in and `hasNext()` waits for the next one. The checks and
     * error kinds are those of the ByteArray constructor; memory grows with the bytes that
     * arrive, not with the lengths a record declares. Its frames can be iterated once. Nothing
     * is read past the stream's last record; [input] is not closed by [close], and its I/O
     * errors are thrown as [java.io.UncheckedIOException].
     */
    constructor(
        input: InputStream,
        pkg: ModelPackage,
        runner: NetworkRunner,
        options: DecoderOptions = DecoderOptions.DEFAULT,
        reference: NetworkRunner? = null,
    ) : this(StreamSource.Stream(input), pkg, runner, options, reference)

    /** null once closed. */
    private var source: StreamSource? = source
    val header: StreamHeader = source.header

    /** The runner decoding now: [runner], or [reference] after a switch. */
    private var active: NetworkRunner = runner
    private var codec = IntraCodec(pkg, runner)
    private var inter = InterCodec(codec)
    private val switchList = ArrayList<BackendSwitch>()

    /** The switches to the reference runner so far (at most one). */
    val switches: List<BackendSwitch> get() = switchList

    /** Called when the decoder switches to the reference runner (log it, tell the user). */
    var switchObserver: ((BackendSwitch) -> Unit)? = null

    /** Whether the reference runner decodes now. */
    val usingReference: Boolean get() = reference != null && active === reference

    /**
     * Called with each frame's parse trace before its picture is checked (tests, tooling): the
     * intra payload of an I-frame, the residual of a P-frame with one (mode 1, 3 or 5; a frame
     * without one, mode 0, 2 or 4, has none).
     */
    var parseObserver: ((Int, ParseTrace) -> Unit)? = null

    /**
     * Called with each P-frame's mode (0..3, [InterCodec.RESIDUAL_BIT] / [InterCodec.HALF_PEL_BIT];
     * 4, 5: the block tree, [MotionTrace.blockTree]), motion table and decoded motion field (tests, tooling).
     */
    var motionObserver: ((Int, MotionTrace) -> Unit)? = null

    init {
        if (header.width.toLong() * header.height > options.maxPixels) {
            unsupported("picture size ${header.width}x${header.height} exceeds maxPixels=${options.maxPixels}")
        }
        if (header.modelId != pkg.modelId || !header.modelHash.contentEquals(pkg.modelHash)) {
            modelError("stream needs model '${header.modelId}' (${hex(header.modelHash)}), package is '${pkg.modelId}' (${hex(pkg.modelHash)})")
        }
        if (header.width > pkg.maxWidth || header.height > pkg.maxHeight) {
            unsupported("picture size ${header.width}x${header.height} exceeds the package's ${pkg.maxWidth}x${pkg.maxHeight}")
        }
        val badParse = pkg.networkSets.map { it.hs }.filterNot { runner.isExact(it) }
        if (badParse.isNotEmpty()) {
            val why = "${badParse.joinToString()} not exact on ${runner.environment}: symbols cannot be parsed with it"
            if (reference == null || options.strict) modelError(why + if (reference == null) " (no reference runner)" else " (strict)")
            switchTo(0, why)
        }
    }

    private fun switchTo(frame: Int, reason: String) {
        val ref = reference!!
        val sw = BackendSwitch(frame, reason, active.environment, ref.environment)
        active = ref
        codec = IntraCodec(pkg, ref)
        inter = InterCodec(codec)
        switchList += sw
        switchObserver?.invoke(sw)
    }

    private fun exactRunner(r: NetworkRunner): Boolean = pkg.networkSets.all { r.isExact(it.gs) }

    val width: Int get() = header.width
    val height: Int get() = header.height

    /**
     * Whether every synthesis network of the package runs exactly (g_s, and res_g_s when it has
     * residual networks), so that hash mismatches are errors (when verifying). One approximate
     * set is enough to make them warnings: any later frame may predict from its pictures.
     */
    val exact: Boolean get() = exactRunner(active)

    override fun iterator(): Iterator<DecodedFrame> {
        val records = (source ?: invalidArgument("decoder is closed")).records()
        return object : Iterator<DecodedFrame> {
            var index = 0
            /** The previous decoded picture (H × W × 3): the reference of the next P-frame. */
            var ref: ByteArray? = null
            override fun hasNext(): Boolean = records.hasNext()
            override fun next(): DecodedFrame {
                val f = decodeRecord(index++, records.next(), ref)
                // Predict from this picture (verified or not, as the Python decoder), from a
                // private copy so that a caller writing into frame.rgb cannot change it.
                ref = f.rgb.copyOf()
                return f
            }
        }
    }

    /** Decode every frame. */
    fun decodeAll(): List<DecodedFrame> = iterator().asSequence().toList()

    private class Decoded(val rgb: ByteArray, val trace: ParseTrace?, val motion: MotionTrace?)

    private fun decodeWith(rec: FrameRecord, previous: ByteArray?): Decoded {
        val h = header.height
        val w = header.width
        return if (rec.frameType == 'I') {
            val res = codec.decode(rec.data, rec.payloadOffset, rec.payloadLength, h, w, rec.quality)
            Decoded(res.rgb, res.trace, null)
        } else {
            val res = inter.decode(rec.data, rec.payloadOffset, rec.payloadLength, previous!!, h, w, rec.quality)
            Decoded(res.rgb, res.residualTrace, res.motionTrace)
        }
    }

    private fun decodeRecord(i: Int, rec: FrameRecord, previous: ByteArray?): DecodedFrame {
        if (rec.frameType == 'P' && previous == null) corrupt("frame $i: P-frame without a previous picture")
        if (pkg.exponent(rec.quality) == null) {
            corrupt("frame $i: quality level ${rec.quality} is not in the package (${pkg.levels.keys.sorted()})")
        }
        var d = decodeWith(rec, previous)
        var md5 = pictureMd5(d.rgb)
        var ok = md5.contentEquals(rec.pictureMd5)
        var recovered = false
        var observed = false
        fun observe() {   // once per frame, with the pictures' traces, before an error is thrown
            if (observed) return
            observed = true
            d.motion?.let { m -> motionObserver?.invoke(i, m) }
            d.trace?.let { t -> parseObserver?.invoke(i, t) }
        }
        if (options.verifyHashes && !ok) {
            fun mismatch(note: String): Nothing {
                observe()
                throw MlvcException(ErrorKind.HASH_MISMATCH,
                    "frame $i: decoded picture hash ${hex(md5)} differs from the stream's ${hex(rec.pictureMd5)}$note")
            }
            if (exactRunner(active)) mismatch("")
            if (options.strict) mismatch(" on ${active.environment}, not proven exact (strict)")
            if (reference != null && !options.preview && active !== reference) {
                switchTo(i, "picture hash mismatch on ${active.environment}, not proven exact")
                d = decodeWith(rec, previous)
                md5 = pictureMd5(d.rgb)
                ok = md5.contentEquals(rec.pictureMd5)
                recovered = true
                if (!ok && exactRunner(active)) mismatch(" (also on the reference runner)")
            }
        }
        observe()
        return DecodedFrame(i, rec.frameType.toString(), rec.quality, header.width, header.height, d.rgb, md5, rec.pictureMd5, ok, recovered)
    }

    override fun close() {
        source = null
    }
}
