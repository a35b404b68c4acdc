package ai.mlvc

import java.io.IOException
import java.io.InputStream
import java.io.UncheckedIOException
import java.util.zip.CRC32

/** Little-endian reads from a byte array (callers check bounds first). */
internal object LE {
    fun u8(b: ByteArray, o: Int): Int = b[o].toInt() and 0xFF
    fun u16(b: ByteArray, o: Int): Int = u8(b, o) or (u8(b, o + 1) shl 8)
    fun u32(b: ByteArray, o: Int): Long =
        (u16(b, o).toLong()) or (u16(b, o + 2).toLong() shl 16)
    fun i32(b: ByteArray, o: Int): Int = u16(b, o) or (u16(b, o + 2) shl 16)
}

internal fun crc32(vararg parts: Triple<ByteArray, Int, Int>): Long {
    val c = CRC32()
    for ((b, off, len) in parts) c.update(b, off, len)
    return c.value
}

/** The 64-byte file header (docs/bitstream.md §1). */
class StreamHeader(
    val versionMajor: Int,
    val versionMinor: Int,
    val modelId: String,
    val modelHash: ByteArray,
    val width: Int,
    val height: Int,
    val fpsNum: Long,
    val fpsDen: Long,
    /** Number of frame records; [UNKNOWN_FRAME_COUNT] = read records to the end. */
    val frameCount: Long,
    val colour: Int,
    val flags: Int,
) {
    val frameCountKnown: Boolean get() = frameCount != UNKNOWN_FRAME_COUNT

    companion object {
        const val SIZE = 64
        const val UNKNOWN_FRAME_COUNT = 0xFFFFFFFFL
        const val MAX_DIMENSION = 16384
        private val MAGIC = byteArrayOf('M'.code.toByte(), 'L'.code.toByte(), 'V'.code.toByte(), 'C'.code.toByte())

        /** Parse and check the header. Check order: magic, major version, CRC, size, fields. */
        fun parse(data: ByteArray): StreamHeader {
            if (data.size < SIZE) corrupt("stream is ${data.size} bytes: shorter than its header")
            if (!(0 until 4).all { data[it] == MAGIC[it] }) corrupt("not an MLVC stream (bad magic)")
            val major = LE.u8(data, 4)
            val minor = LE.u8(data, 5)
            if (major != 1) unsupported("stream format version $major.$minor is not supported (this decoder reads 1.x)")
            if (LE.u32(data, 60) != crc32(Triple(data, 0, 60))) corrupt("stream header checksum mismatch")
            val hsize = LE.u16(data, 6)
            if (hsize != SIZE) corrupt("header size $hsize is not $SIZE")
            val w = LE.u16(data, 40)
            val h = LE.u16(data, 42)
            if (w !in 1..MAX_DIMENSION || h !in 1..MAX_DIMENSION) corrupt("picture size ${w}x$h out of range")
            val fn = LE.u32(data, 44)
            val fd = LE.u32(data, 48)
            if (fn == 0L || fd == 0L) corrupt("frame rate is zero")
            val colour = LE.u8(data, 56)
            if (colour != 0) unsupported("colour format $colour is not supported")
            var idLen = 16
            while (idLen > 0 && data[8 + idLen - 1] == 0.toByte()) idLen--
            for (i in 8 until 8 + idLen) if (data[i] < 0) corrupt("model id is not ASCII")
            val modelId = String(data, 8, idLen, Charsets.US_ASCII)
            return StreamHeader(
                major, minor, modelId, data.copyOfRange(24, 40), w, h, fn, fd,
                LE.u32(data, 52), colour, LE.u8(data, 57),
            )
        }
    }
}

/**
 * One frame record (docs/bitstream.md §2); [payload] is a view into [data]: the whole stream's
 * bytes, or only this record's when the stream is read from an [InputStream].
 */
class FrameRecord(
    val frameType: Char,
    val quality: Int,
    val pictureMd5: ByteArray,
    val data: ByteArray,
    val payloadOffset: Int,
    val payloadLength: Int,
) {
    fun payload(): ByteArray = data.copyOfRange(payloadOffset, payloadOffset + payloadLength)

    companion object {
        const val HEADER_SIZE = 28
        /** Largest payload a record may declare (as the Python container). */
        const val MAX_PAYLOAD = 2L * 16384 * 16384 * 3

        /**
         * Parse the record at [offset]; every length is checked against the bytes present. The
         * one record parser of both inputs: [position] is the record's byte position in the
         * stream, for messages, when [data] holds only this record (the Python `read_record`).
         */
        @JvmOverloads
        fun parse(data: ByteArray, offset: Int, position: Long = offset.toLong()): FrameRecord {
            if (data.size - offset < HEADER_SIZE) corrupt("frame record at byte $position is truncated")
            val code = LE.u8(data, offset)
            val quality = LE.u8(data, offset + 1)
            val reserved = LE.u16(data, offset + 2)
            val length = LE.u32(data, offset + 4)
            val crc = LE.u32(data, offset + 24)
            val type = when (code) {
                0x49 -> 'I'
                0x50 -> 'P'
                else -> corrupt("unknown frame type 0x%02x at byte $position".format(code))
            }
            if (reserved != 0) corrupt("reserved field set in frame record at byte $position")
            val start = offset + HEADER_SIZE
            if (length > MAX_PAYLOAD || length > (data.size - start).toLong()) {
                corrupt("frame at byte $position declares $length payload bytes; ${data.size - start} remain")
            }
            val len = length.toInt()
            if (crc32(Triple(data, offset, 24), Triple(data, start, len)) != crc) {
                corrupt("frame at byte $position: checksum mismatch")
            }
            return FrameRecord(type, quality, data.copyOfRange(offset + 8, offset + 24), data, start, len)
        }
    }
}

/**
 * Iterates the records after the header, enforcing the declared frame count (the Python
 * `_counted`); subclasses only say where the bytes come from, [FrameRecord.parse] checks them.
 */
internal abstract class RecordIterator(private val header: StreamHeader) : Iterator<FrameRecord> {
    private var count = 0L

    /** Whether no byte of another record is left (on an [InputStream]: waits for one). */
    protected abstract fun atEnd(): Boolean

    /** The next record, through [FrameRecord.parse]. */
    protected abstract fun read(): FrameRecord

    override fun hasNext(): Boolean {
        if (!atEnd()) return true
        if (header.frameCountKnown && count != header.frameCount) {
            corrupt("stream ends after $count of ${header.frameCount} frames")
        }
        return false
    }

    override fun next(): FrameRecord {
        if (!hasNext()) throw NoSuchElementException()
        if (header.frameCountKnown && count >= header.frameCount) {
            corrupt("more frame records than the ${header.frameCount} declared")
        }
        val rec = read()
        count++
        return rec
    }
}

/** The records of a stream held in memory. */
internal class ByteArrayRecords(private val data: ByteArray, header: StreamHeader) : RecordIterator(header) {
    private var offset = StreamHeader.SIZE

    override fun atEnd(): Boolean = offset >= data.size

    override fun read(): FrameRecord =
        FrameRecord.parse(data, offset).also { offset = it.payloadOffset + it.payloadLength }
}

/**
 * The records of a stream read from [input] (positioned after the header) one at a time, as
 * they arrive (the Python `iter_stream_records`). Never reads past the record it parses.
 */
internal class InputStreamRecords(private val input: InputStream, header: StreamHeader) : RecordIterator(header) {
    private var position = StreamHeader.SIZE.toLong()
    /** The next record's header bytes (up to 28; empty: end of stream), read ahead by [atEnd]. */
    private var head: ByteArray? = null

    private fun head(): ByteArray = head ?: readUpTo(input, FrameRecord.HEADER_SIZE).also { head = it }

    override fun atEnd(): Boolean = head().isEmpty()

    override fun read(): FrameRecord {
        val h = head()
        head = null
        val length = if (h.size >= 8) LE.u32(h, 4) else 0L
        // An absurd length fails in parse before any read; otherwise memory follows the bytes read.
        val bytes = if (length > FrameRecord.MAX_PAYLOAD) h else readUpTo(input, length.toInt(), h)
        return FrameRecord.parse(bytes, 0, position).also { position += FrameRecord.HEADER_SIZE + length }
    }
}

/** First buffer for a read; it doubles as bytes arrive, so memory stays within twice what came. */
private const val READ_CHUNK = 1 shl 20

/**
 * [prefix] followed by up to [n] bytes of [input] (fewer only at its end), the Python
 * `read_exactly`. The buffer grows with the bytes that really arrive (1 MiB, then doubling), so
 * a declared length allocates nothing up front. I/O errors become [UncheckedIOException]: they
 * surface from the decoder's constructor and iterator, which cannot declare IOException.
 */
internal fun readUpTo(input: InputStream, n: Int, prefix: ByteArray = ByteArray(0)): ByteArray {
    val total = prefix.size + n
    var buf = prefix.copyOf(minOf(total, prefix.size + READ_CHUNK))
    var got = prefix.size
    try {
        while (got < total) {
            if (got == buf.size) buf = buf.copyOf(minOf(total.toLong(), 2L * buf.size).toInt())
            val r = input.read(buf, got, buf.size - got)
            if (r < 0) break
            got += r
        }
    } catch (e: IOException) {
        throw UncheckedIOException(e)
    }
    return if (got == buf.size) buf else buf.copyOf(got)
}

/** A stream's bytes for [Decoder]: all of them in memory, or an [InputStream] read as they arrive. */
internal sealed class StreamSource {
    abstract val header: StreamHeader

    /** The frame records after the header. */
    abstract fun records(): RecordIterator

    class Bytes(private val data: ByteArray) : StreamSource() {
        override val header = StreamHeader.parse(data)
        override fun records(): RecordIterator = ByteArrayRecords(data, header)
    }

    /** Reads the header now and the records while iterating, so they can be iterated once. */
    class Stream(private val input: InputStream) : StreamSource() {
        override val header = StreamHeader.parse(readUpTo(input, StreamHeader.SIZE))
        private var started = false

        override fun records(): RecordIterator {
            if (started) invalidArgument("the frames of a decoder reading an InputStream can be iterated once")
            started = true
            return InputStreamRecords(input, header)
        }
    }
}
