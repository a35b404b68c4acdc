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
) {
    fun toBuilder(): Builder = Builder().backend(backend).verifyHashes(verifyHashes).maxPixels(maxPixels).numThreads(numThreads)

    class Builder {
        private var backend: String? = null
        private var verifyHashes = true
        private var maxPixels = DEFAULT_MAX_PIXELS
        private var numThreads = 0

        fun backend(v: String?) = apply { backend = v }
        fun verifyHashes(v: Boolean) = apply { verifyHashes = v }
        fun maxPixels(v: Long) = apply { maxPixels = v }
        fun numThreads(v: Int) = apply { numThreads = v }

        /** Throws [MlvcException] of kind [ErrorKind.INVALID_ARGUMENT] for a bad value. */
        fun build(): DecoderOptions {
            backend?.let {
                if (!it.matches(Regex("[a-z0-9_-]{1,32}"))) invalidArgument("DecoderOptions.backend: '$it' is not a backend name")
            }
            if (maxPixels < 1) invalidArgument("DecoderOptions.maxPixels: must be >= 1, got $maxPixels")
            if (maxPixels > MAX_PIXELS_LIMIT) invalidArgument("DecoderOptions.maxPixels: must be <= $MAX_PIXELS_LIMIT, got $maxPixels")
            if (numThreads !in 0..64) invalidArgument("DecoderOptions.numThreads: must be 0..64, got $numThreads")
            return DecoderOptions(backend, verifyHashes, maxPixels, numThreads)
        }
    }

    companion object {
        const val DEFAULT_MAX_PIXELS = 3840L * 2160
        const val MAX_PIXELS_LIMIT = 16384L * 16384
        val DEFAULT: DecoderOptions = Builder().build()
    }
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
) {
    val md5Hex: String get() = hex(md5)
    val expectedMd5Hex: String get() = hex(expectedMd5)

    override fun toString(): String =
        "DecodedFrame(index=$index, type=$frameType, q=$quality, ${width}x$height, md5=$md5Hex, verified=$verified)"
}

internal fun hex(b: ByteArray): String = b.joinToString("") { "%02x".format(it) }

/** MD5 of an H × W × 3 picture (docs/bitstream.md §6). */
fun pictureMd5(rgb: ByteArray): ByteArray = MessageDigest.getInstance("MD5").digest(rgb)

/**
 * Decodes an MLVC stream (I-frames, §4, and P-frames, §4b) and checks every picture against
 * the hash it carries.
 *
 *     Decoder(bytes, pkg, runner).use { dec -> for (f in dec) show(f.rgb) }
 *     Decoder(socket.getInputStream(), pkg, runner).use { dec -> for (f in dec) show(f.rgb) }
 *
 * The constructor checks the header (corrupt / unsupported), the size limits (unsupported) and
 * that the stream was made with [pkg] (model). Frames are decoded lazily while iterating; an
 * error in frame k surfaces when frame k is reached. The [runner] is not closed by [close].
 */
class Decoder private constructor(
    source: StreamSource,
    val pkg: ModelPackage,
    private val runner: NetworkRunner,
    val options: DecoderOptions,
) : Iterable<DecodedFrame>, AutoCloseable {
    /** Decode [data], the whole stream in memory; its frames can be iterated any number of times. */
    constructor(
        data: ByteArray,
        pkg: ModelPackage,
        runner: NetworkRunner,
        options: DecoderOptions = DecoderOptions.DEFAULT,
    ) : this(StreamSource.Bytes(data), pkg, runner, options)

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
    ) : this(StreamSource.Stream(input), pkg, runner, options)

    /** null once closed. */
    private var source: StreamSource? = source
    val header: StreamHeader = source.header
    private val codec = IntraCodec(pkg, runner)
    private val inter = InterCodec(codec)

    /**
     * Called with each frame's parse trace before its picture is checked (tests, tooling): the
     * intra payload of an I-frame, the residual of a P-frame with one (mode 1 or 3; a skip frame,
     * mode 0 or 2, has none).
     */
    var parseObserver: ((Int, ParseTrace) -> Unit)? = null

    /**
     * Called with each P-frame's mode (0..3, [InterCodec.RESIDUAL_BIT] / [InterCodec.HALF_PEL_BIT]),
     * motion table and decoded motion field (tests, tooling).
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
    }

    val width: Int get() = header.width
    val height: Int get() = header.height

    /**
     * Whether every synthesis network of the package runs exactly (g_s, and res_g_s when it has
     * residual networks), so that hash mismatches are errors (when verifying). One approximate
     * set is enough to make them warnings: any later frame may predict from its pictures.
     */
    val exact: Boolean get() = pkg.networkSets.all { runner.isExact(it.gs) }

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

    private fun decodeRecord(i: Int, rec: FrameRecord, previous: ByteArray?): DecodedFrame {
        if (rec.frameType == 'P' && previous == null) corrupt("frame $i: P-frame without a previous picture")
        if (pkg.exponent(rec.quality) == null) {
            corrupt("frame $i: quality level ${rec.quality} is not in the package (${pkg.levels.keys.sorted()})")
        }
        val h = header.height
        val w = header.width
        val rgb: ByteArray
        if (rec.frameType == 'I') {
            val res = codec.decode(rec.data, rec.payloadOffset, rec.payloadLength, h, w, rec.quality)
            parseObserver?.invoke(i, res.trace)
            rgb = res.rgb
        } else {
            val res = inter.decode(rec.data, rec.payloadOffset, rec.payloadLength, previous!!, h, w, rec.quality)
            motionObserver?.invoke(i, res.motionTrace)
            res.residualTrace?.let { t -> parseObserver?.invoke(i, t) }
            rgb = res.rgb
        }
        val md5 = pictureMd5(rgb)
        val ok = md5.contentEquals(rec.pictureMd5)
        if (options.verifyHashes && !ok && exact) {
            throw MlvcException(ErrorKind.HASH_MISMATCH, "frame $i: decoded picture hash ${hex(md5)} differs from the stream's ${hex(rec.pictureMd5)}")
        }
        return DecodedFrame(i, rec.frameType.toString(), rec.quality, w, h, rgb, md5, rec.pictureMd5, ok)
    }

    override fun close() {
        source = null
    }
}
