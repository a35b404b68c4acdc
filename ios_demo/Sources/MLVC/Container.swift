// The MLVC container (docs/bitstream.md §1-2): a 64-byte file header, then frame records.
// Bytes only: every length is checked against the bytes present before anything is allocated.

public enum Container {
    public static let magic: [UInt8] = Array("MLVC".utf8)
    public static let versionMajor: UInt8 = 1
    public static let headerSize = 64
    public static let recordHeaderSize = 28
    public static let unknownFrameCount: UInt32 = 0xFFFF_FFFF
    public static let colourRGB444: UInt8 = 0
    public static let maxDimension = 16384
    /// Largest payload a record may declare (an 8-bit picture of the largest size, twice over).
    public static let maxPayload = 2 * 16384 * 16384 * 3
}

public enum FrameType: String, Equatable {
    case intra = "I"
    case inter = "P"
}

/// The 64-byte file header (§1).
public struct StreamHeader: Equatable {
    public let versionMajor: UInt8
    public let versionMinor: UInt8
    public let modelID: String
    public let modelHash: [UInt8]          // 16 bytes
    public let width: Int
    public let height: Int
    public let fpsNumerator: UInt32
    public let fpsDenominator: UInt32
    /// Number of frame records; `Container.unknownFrameCount` = read records to the end.
    public let frameCount: UInt32
    public let colourFormat: UInt8
    public let flags: UInt8

    /// Parses and checks the header in the spec's order: magic, major version, CRC, header size,
    /// sizes, frame rate, colour format.
    public static func parse(_ data: [UInt8]) throws -> StreamHeader {
        guard data.count >= Container.headerSize else {
            throw MLVCError.corruptStream("stream is \(data.count) bytes: shorter than its header")
        }
        guard Array(data[0..<4]) == Container.magic else {
            throw MLVCError.corruptStream("not an MLVC stream (bad magic)")
        }
        let major = data[4], minor = data[5]
        guard major == Container.versionMajor else {
            throw MLVCError.unsupported("stream format version \(major).\(minor) is not supported "
                                        + "(this decoder reads \(Container.versionMajor).x)")
        }
        guard CRC32.checksum(data[0..<60]) == readU32(data, 60) else {
            throw MLVCError.corruptStream("stream header checksum mismatch")
        }
        let hsize = Int(readU16(data, 6))
        guard hsize == Container.headerSize else {
            throw MLVCError.corruptStream("header size \(hsize) is not \(Container.headerSize)")
        }
        let w = Int(readU16(data, 40)), h = Int(readU16(data, 42))
        guard (1...Container.maxDimension).contains(w), (1...Container.maxDimension).contains(h) else {
            throw MLVCError.corruptStream("picture size \(w)x\(h) out of range")
        }
        let fn = readU32(data, 44), fd = readU32(data, 48)
        guard fn != 0, fd != 0 else { throw MLVCError.corruptStream("frame rate is zero") }
        let colour = data[56]
        guard colour == Container.colourRGB444 else {
            throw MLVCError.unsupported("colour format \(colour) is not supported")
        }
        var idBytes = Array(data[8..<24])
        while let last = idBytes.last, last == 0 { idBytes.removeLast() }
        guard idBytes.allSatisfy({ $0 < 0x80 }) else {
            throw MLVCError.corruptStream("model id is not ASCII")
        }
        return StreamHeader(versionMajor: major, versionMinor: minor,
                            modelID: String(decoding: idBytes, as: UTF8.self),
                            modelHash: Array(data[24..<40]), width: w, height: h,
                            fpsNumerator: fn, fpsDenominator: fd, frameCount: readU32(data, 52),
                            colourFormat: colour, flags: data[57])
    }
}

/// One frame record (§2). `payload` is a slice of the stream (no copy).
public struct FrameRecord {
    public let frameType: FrameType
    public let quality: Int
    public let pictureMD5: [UInt8]
    public let payload: ArraySlice<UInt8>

    /// Parses the record at `offset`; returns it and the offset after it. The one record parser
    /// of both input paths: `position` is the record's byte position in the stream, for messages,
    /// when `data` holds only the record (streamed input); nil: `offset`.
    public static func read(_ data: [UInt8], at offset: Int, position: Int? = nil) throws -> (FrameRecord, Int) {
        let at = position ?? offset
        guard offset >= 0, data.count - offset >= Container.recordHeaderSize else {
            throw MLVCError.corruptStream("frame record at byte \(at) is truncated")
        }
        let code = data[offset]
        let type: FrameType
        switch code {
        case 0x49: type = .intra
        case 0x50: type = .inter
        default:
            throw MLVCError.corruptStream("unknown frame type 0x\(String(code, radix: 16)) at byte \(at)")
        }
        guard readU16(data, offset + 2) == 0 else {
            throw MLVCError.corruptStream("reserved field set in frame record at byte \(at)")
        }
        let length = Int(readU32(data, offset + 4))
        let start = offset + Container.recordHeaderSize
        guard length <= Container.maxPayload, length <= data.count - start else {
            throw MLVCError.corruptStream("frame at byte \(at) declares \(length) payload bytes; "
                                          + "\(data.count - start) remain")
        }
        let payload = data[start..<(start + length)]
        let crc = CRC32.update(CRC32.checksum(data[offset..<(offset + 24)]), payload)
        guard crc == readU32(data, offset + 24) else {
            throw MLVCError.corruptStream("frame at byte \(at): checksum mismatch")
        }
        return (FrameRecord(frameType: type, quality: Int(data[offset + 1]),
                            pictureMD5: Array(data[(offset + 8)..<(offset + 24)]), payload: payload),
                start + length)
    }
}

/// Where the records after the header come from: the stream in memory or a byte source read on
/// demand (`StreamedRecords`). Both hand whole records to `FrameRecord.read`, so the two input
/// paths share every record check; `RecordIterator` adds the frame-count rules on top.
protocol RecordSource {
    /// Whether another record follows (a streamed source reads its first bytes to know).
    mutating func hasMore() throws -> Bool
    /// Parses the next record; called after `hasMore()` returned true.
    mutating func read() throws -> FrameRecord
}

/// The whole stream in memory: records are slices of it.
struct MemoryRecords: RecordSource {
    let data: [UInt8]
    var offset = Container.headerSize

    func hasMore() -> Bool { offset < data.count }

    mutating func read() throws -> FrameRecord {
        let (rec, next) = try FrameRecord.read(data, at: offset)
        offset = next
        return rec
    }
}

/// Walks the records after the header, enforcing the declared frame count.
public struct RecordIterator {
    private var source: any RecordSource
    private let frameCount: UInt32
    private var count = 0           // Int: a live stream of unknown count may pass UInt32.max
    private var done = false

    public init(data: [UInt8], header: StreamHeader) {
        self.init(source: MemoryRecords(data: data), header: header)
    }

    init(source: any RecordSource, header: StreamHeader) {
        self.source = source
        self.frameCount = header.frameCount
    }

    /// The next record, nil at the end of the stream; throws `corruptStream` on any violation.
    public mutating func next() throws -> FrameRecord? {
        if done { return nil }
        let known = frameCount != Container.unknownFrameCount
        do {
            if try source.hasMore() {
                if known && count >= Int(frameCount) {
                    throw MLVCError.corruptStream("more frame records than the \(frameCount) declared")
                }
                let rec = try source.read()
                count += 1
                return rec
            }
            done = true
            if known && count != Int(frameCount) {
                throw MLVCError.corruptStream("stream ends after \(count) of \(frameCount) frames")
            }
            return nil
        } catch {
            done = true
            throw error
        }
    }
}
