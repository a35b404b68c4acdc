import Foundation

// Streamed input (Python's `Decoder` over a file object, `container.iter_stream_records`): the
// header, then one record at a time as its bytes arrive, e.g. a live stream from a camera over a
// socket. Same checks and error kinds as the stream in memory (`FrameRecord.read` parses both).

/// A byte source read on demand: called with the most bytes the decoder wants now (at least 1),
/// it returns up to that many, blocking until some arrive; nil or empty Data means the stream
/// has ended (it is not called again). Errors it throws reach the caller of `Decoder.next()`
/// unchanged. Back it with a network connection, a pipe, a file handle...
public typealias ByteSource = (_ maxLength: Int) throws -> Data?

/// Reads a `ByteSource` in bounded chunks, so that a declared length costs memory only for the
/// bytes that really arrive (never the declared length up front).
final class ByteInput {
    /// Largest single request: the most a read can allocate ahead of the bytes it gets.
    static let chunk = 1 << 20

    private let source: ByteSource
    private var ended = false

    init(_ source: @escaping ByteSource) { self.source = source }

    /// Appends up to `n` bytes to `bytes`: fewer only when the source ends.
    func read(upTo n: Int, into bytes: inout [UInt8]) throws {
        var got = 0
        while got < n && !ended {
            let want = min(ByteInput.chunk, n - got)
            guard let part = try source(want), !part.isEmpty else {
                ended = true
                break
            }
            // A source breaking its contract is the app's bug, not a corrupt stream.
            guard part.count <= want else {
                throw MLVCError.invalidArgument("byte source returned \(part.count) bytes, "
                                                + "more than the \(want) asked for")
            }
            bytes.append(contentsOf: part)
            got += part.count
        }
    }

    func read(upTo n: Int) throws -> [UInt8] {
        var bytes = [UInt8]()
        try read(upTo: n, into: &bytes)
        return bytes
    }

    /// An `InputStream` as a byte source; opened here if it is not yet open (the caller owns it
    /// and closes it). A read error is `invalidArgument`, like an unreadable file in `Decoder.open`.
    static func source(_ stream: InputStream) -> ByteSource {
        if stream.streamStatus == .notOpen { stream.open() }
        return { maxLength in
            var buffer = [UInt8](repeating: 0, count: maxLength)
            let n = stream.read(&buffer, maxLength: maxLength)
            guard n >= 0 else {
                let why = stream.streamError.map { "\($0)" } ?? "status \(stream.streamStatus.rawValue)"
                throw MLVCError.invalidArgument("cannot read the input stream: \(why)")
            }
            return Data(buffer.prefix(n))      // 0 bytes: the end of the stream
        }
    }
}

/// Records read one at a time from a byte source positioned after the header.
final class StreamedRecords: RecordSource {
    private let input: ByteInput
    /// The next record's byte position in the stream, for messages.
    private var position = Container.headerSize
    /// The next record's first bytes, read by `hasMore()`.
    private var head: [UInt8]?

    init(_ input: ByteInput) { self.input = input }

    func hasMore() throws -> Bool {
        if head == nil { head = try input.read(upTo: Container.recordHeaderSize) }
        return !(head ?? []).isEmpty
    }

    func read() throws -> FrameRecord {
        var bytes = try head ?? input.read(upTo: Container.recordHeaderSize)
        head = nil
        if bytes.count == Container.recordHeaderSize {
            // An absurd length fails in `FrameRecord.read` before any payload read; otherwise
            // memory follows the bytes that arrive. A short head is already truncated.
            let length = Int(readU32(bytes, 4))
            if length <= Container.maxPayload { try input.read(upTo: length, into: &bytes) }
        }
        // Type, reserved field, length against the bytes read, CRC: the in-memory checks.
        let (record, _) = try FrameRecord.read(bytes, at: 0, position: position)
        position += bytes.count
        return record
    }
}
