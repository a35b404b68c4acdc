import Foundation
import XCTest
@testable import MLVC

/// A `ByteSource` over bytes in memory that hands out at most `perRead` bytes a call and counts
/// what it was asked for and what it gave, so tests can see what the decoder really read.
final class CountingSource {
    let bytes: [UInt8]
    let perRead: Int
    /// Signal the end with empty Data instead of nil (both are the end of a `ByteSource`).
    let endWithEmpty: Bool
    private(set) var handedOut = 0
    private(set) var largestRequest = 0
    private(set) var callsAfterEnd = 0
    private var ended = false

    init(_ bytes: [UInt8], perRead: Int = .max, endWithEmpty: Bool = false) {
        self.bytes = bytes
        self.perRead = perRead
        self.endWithEmpty = endWithEmpty
    }

    func read(_ maxLength: Int) -> Data? {
        XCTAssertGreaterThan(maxLength, 0, "the decoder asked for nothing")
        largestRequest = max(largestRequest, maxLength)
        if ended { callsAfterEnd += 1 }
        let n = min(maxLength, perRead, bytes.count - handedOut)
        guard n > 0 else {
            ended = true
            return endWithEmpty ? Data() : nil
        }
        defer { handedOut += n }
        return Data(bytes[handedOut..<(handedOut + n)])
    }
}

/// The streaming initializers (`init(options:package:network:read:)`, `init(stream:...)`) against
/// the in-memory one: same frames, same errors, memory only for bytes that arrive.
final class StreamInputTests: XCTestCase {
    /// What a decode ends with: its frames or its error (a non-MLVCError fails the test).
    enum Outcome: Equatable {
        case frames([String])           // picture MD5s, hex
        case error(MLVCError)

        var code: String { if case .error(let e) = self { return e.code } else { return "decoded" } }
    }

    func outcome(_ what: String, file: StaticString = #filePath, line: UInt = #line,
                 _ body: () throws -> [DecodedFrame]) -> Outcome {
        do {
            return .frames(try body().map { Hex.encode($0.md5) })
        } catch let e as MLVCError {
            return .error(e)
        } catch {
            XCTFail("\(what): not an MLVCError: \(error)", file: file, line: line)
            return .error(.backend("\(error)"))
        }
    }

    func streamed(_ source: CountingSource, package: ModelPackage, network: NetworkRunner,
                  options: DecoderOptions = .defaults) throws -> Decoder {
        try Decoder(options: options, package: package, network: network, read: source.read)
    }

    /// Every recorded network call of every golden stream (hostile streams derive from them).
    func allFrames(_ package: ModelPackage) throws -> [Golden.Frame] {
        try Golden.streams().flatMap { try Golden.frames(of: $0, alignment: package.alignment) }
    }

    func testEveryGoldenStreamDecodesThroughEveryInputPathToTheSameFrames() throws {
        let package = try Golden.package()
        let streams = try Golden.streams()
        XCTAssertFalse(streams.isEmpty)
        for s in streams {
            let frames = try Golden.frames(of: s, alignment: package.alignment)
            let bytes = try Golden.bytes(s.stream)
            let reference = try Decoder(data: Data(bytes), package: package,
                                        network: GoldenNetworkRunner(frames: frames))
            let want = try reference.decodeAll()
            XCTAssertEqual(want.map { Hex.encode($0.md5) }, s.frames.map(\.md5), s.name)
            // Sources: whole reads, odd chunks that split records anywhere, an InputStream over
            // memory and one over the file (opened by the decoder), the options path.
            let url = Golden.dir.appendingPathComponent(s.stream)
            let inputStream = try XCTUnwrap(InputStream(url: url))
            defer { inputStream.close() }
            let paths: [(String, () throws -> Decoder)] = [
                ("whole reads", { try self.streamed(CountingSource(bytes), package: package,
                                                    network: GoldenNetworkRunner(frames: frames)) }),
                ("13-byte reads", { try self.streamed(CountingSource(bytes, perRead: 13, endWithEmpty: true),
                                                      package: package, network: GoldenNetworkRunner(frames: frames)) }),
                ("InputStream(data:)", { try Decoder(stream: InputStream(data: Data(bytes)), package: package,
                                                     network: GoldenNetworkRunner(frames: frames)) }),
                ("InputStream(url:)", { try Decoder(stream: inputStream, package: package,
                                                    network: GoldenNetworkRunner(frames: frames)) }),
                ("options path", { try Decoder(options: try DecoderOptions(packageDirectory: try Golden.packageDir()),
                                               network: GoldenNetworkRunner(frames: frames),
                                               read: CountingSource(bytes, perRead: 100).read) }),
            ]
            for (what, make) in paths {
                let decoder = try make()
                XCTAssertEqual(decoder.header, reference.header, "\(s.name) \(what)")
                let got = try decoder.decodeAll()
                XCTAssertEqual(got.count, want.count, "\(s.name) \(what)")
                for (g, w) in zip(got, want) {
                    let at = "\(s.name) \(what) frame \(w.index)"
                    XCTAssertEqual(g.index, w.index, at)
                    XCTAssertEqual(g.frameType, w.frameType, at)
                    XCTAssertEqual(g.quality, w.quality, at)
                    XCTAssertEqual(g.width, w.width, at)
                    XCTAssertEqual(g.height, w.height, at)
                    XCTAssertEqual(g.rgb, w.rgb, at)
                    XCTAssertEqual(g.md5, w.md5, at)
                    XCTAssertEqual(g.expectedMD5, w.expectedMD5, at)
                    XCTAssertTrue(g.verified, at)
                }
                XCTAssertNil(try decoder.next(), "\(s.name) \(what): frames come once")
            }
        }
    }

    func testATrickleSourceOfOneByteAReadDecodesEveryGoldenStream() throws {
        let package = try Golden.package()
        for s in try Golden.streams() {
            let source = CountingSource(try Golden.bytes(s.stream), perRead: 1)
            let decoder = try streamed(source, package: package,
                                       network: GoldenNetworkRunner(frames: try Golden.frames(of: s, alignment: package.alignment)))
            XCTAssertEqual(try decoder.decodeAll().map { Hex.encode($0.md5) }, s.frames.map(\.md5), s.name)
            XCTAssertEqual(source.handedOut, source.bytes.count, s.name)
            XCTAssertEqual(source.callsAfterEnd, 0, "\(s.name): source read again after its end")
        }
    }

    func testRecordsAreReadOneAtATimeAsNextAsksForThem() throws {
        // A live stream: the header at init, then each record only when its frame is wanted.
        let package = try Golden.package()
        let s = try XCTUnwrap(try Golden.streams().first { $0.frames.count >= 2 })
        let source = CountingSource(try Golden.bytes(s.stream))
        let decoder = try streamed(source, package: package,
                                   network: GoldenNetworkRunner(frames: try Golden.frames(of: s, alignment: package.alignment)))
        XCTAssertEqual(source.handedOut, Container.headerSize)
        for k in 0..<s.frames.count {
            XCTAssertNotNil(try decoder.next())
            XCTAssertEqual(source.handedOut, Golden.recordOffset(s, k + 1), "\(s.name) after frame \(k)")
        }
        XCTAssertNil(try decoder.next())
        XCTAssertEqual(source.handedOut, source.bytes.count)
    }

    /// The records a `RecordIterator` yields (type, quality, hash, payload CRC) and its error.
    func walk(_ records: RecordIterator) -> ([String], MLVCError?) {
        var records = records, seen = [String]()
        do {
            while let r = try records.next() {
                seen.append("\(r.frameType.rawValue) q\(r.quality) \(Hex.encode(r.pictureMD5)) "
                            + "\(r.payload.count) \(CRC32.checksum(r.payload))")
            }
            return (seen, nil)
        } catch {
            return (seen, error as? MLVCError ?? .backend("not an MLVCError: \(error)"))
        }
    }

    func testEveryTruncationOfEveryGoldenStreamGivesTheSameRecordsAndErrorThroughBothRecordSources() throws {
        // Every byte: the record layer alone (no decoding), so every prefix of every stream is
        // cheap. Same records, then the same error, kind and message (the streamed path reports
        // the same byte positions and remaining counts). Read sizes vary with the cut, so the
        // prefix's end falls at every place within a read; the whole stream must walk cleanly.
        var cuts = 0
        for s in try Golden.streams() {
            let bytes = try Golden.bytes(s.stream)
            let header = try StreamHeader.parse(bytes)
            for n in Container.headerSize...bytes.count {
                let prefix = Array(bytes[0..<n])
                let memory = walk(RecordIterator(data: prefix, header: header))
                let source = CountingSource(Array(prefix[Container.headerSize...]), perRead: 1 + n % 97)
                let streamed = walk(RecordIterator(source: StreamedRecords(ByteInput(source.read)), header: header))
                let what = "\(s.name) prefix \(n)"
                XCTAssertEqual(streamed.0, memory.0, what)
                XCTAssertEqual(streamed.1, memory.1, what)
                XCTAssertEqual(memory.1 == nil, n == bytes.count, "\(what): \(String(describing: memory.1))")
                XCTAssertEqual(memory.0.count, (0...s.frames.count).last { Golden.recordOffset(s, $0) <= n }, what)
                XCTAssertEqual(source.handedOut, n - Container.headerSize, "\(what): the stream path stopped early")
                XCTAssertEqual(source.callsAfterEnd, 0, what)
                cuts += 1
            }
        }
        XCTAssertGreaterThan(cuts, 0)
    }

    /// The prefix lengths decoded in full: every byte up to the end of the first record (no
    /// frame is decoded before it) and from 4 before to 32 after every later record boundary
    /// (where the error changes: frame count, record header, length), every 31st byte elsewhere.
    /// Each later cut decodes the frames before it; every byte of every stream would take ~90 s.
    func cuts(_ s: Golden.StreamEntry) -> [Int] {
        let total = Golden.recordOffset(s, s.frames.count)
        let boundaries = (1...s.frames.count).map { Golden.recordOffset(s, $0) }
        return (0..<total).filter { n in
            n <= boundaries[0] || n % 31 == 0 || boundaries.contains { ($0 - 4)...($0 + 32) ~= n }
        }
    }

    func testTruncationsOfEveryGoldenStreamFailThroughTheStreamDecoderLikeData() throws {
        // The whole decoder, both ways: the same error, kind and message.
        let package = try Golden.package()
        var cuts = 0
        for s in try Golden.streams() {
            let runner = LookupNetworkRunner(frames: try Golden.frames(of: s, alignment: package.alignment))
            let bytes = try Golden.bytes(s.stream)
            XCTAssertEqual(Golden.recordOffset(s, s.frames.count), bytes.count, "\(s.name): trailing bytes")
            for n in self.cuts(s) {
                let prefix = Array(bytes[0..<n])
                let what = "\(s.name) prefix \(n)"
                let memory = outcome(what) { try Decoder(data: Data(prefix), package: package, network: runner).decodeAll() }
                let source = CountingSource(prefix, perRead: 1 + n % 97)
                let stream = outcome(what) { try self.streamed(source, package: package, network: runner).decodeAll() }
                XCTAssertEqual(memory.code, "corrupt_stream", what)
                XCTAssertEqual(stream, memory, what)
                XCTAssertEqual(source.handedOut, n, "\(what): the stream path stopped early")
                XCTAssertEqual(source.callsAfterEnd, 0, what)
                cuts += 1
            }
        }
        XCTAssertGreaterThan(cuts, 0)
    }

    func testEveryHostileStreamFailsThroughTheStreamWithItsErrorKind() throws {
        let package = try Golden.package()
        let runner = RecordedNetworkRunner(Recorded.calls)
        let vectors = try Golden.vectors()
        let cases = vectors.hostile.map { (file: $0.name, error: $0.error, stream: $0.stream) }
        XCTAssertFalse(cases.isEmpty)
        for c in cases {
            let bytes = [UInt8](try vectors.data(c.stream))
            let memory = outcome(c.file) { try Decoder(data: Data(bytes), package: package, network: runner).decodeAll() }
            XCTAssertEqual(memory.code, c.error, "\(c.file) (data)")
            for perRead in [Int.max, 7, 1] {
                let got = outcome(c.file) {
                    try self.streamed(CountingSource(bytes, perRead: perRead), package: package, network: runner).decodeAll()
                }
                XCTAssertEqual(got.code, c.error, "\(c.file) (stream, \(perRead)-byte reads)")
            }
            let viaInputStream = outcome(c.file) {
                try Decoder(stream: InputStream(data: Data(bytes)), package: package, network: runner).decodeAll()
            }
            XCTAssertEqual(viaInputStream.code, c.error, "\(c.file) (InputStream)")
            let viaOptions = outcome(c.file) {
                try Decoder(options: try DecoderOptions(packageDirectory: try Golden.packageDir()), network: runner,
                            read: CountingSource(bytes, perRead: 64).read).decodeAll()
            }
            XCTAssertEqual(viaOptions.code, c.error, "\(c.file) (stream, options path)")
        }
    }

    /// The first golden stream with its first record's length set to `length`, CRC fixed as the
    /// hostile cases do (over the payload bytes present, up to the declared length).
    func withFirstLength(_ length: UInt32) throws -> [UInt8] {
        var b = try Golden.bytes(try XCTUnwrap(try Golden.streams().first).stream)
        let off = Container.headerSize, start = off + Container.recordHeaderSize
        b.replaceSubrange((off + 4)..<(off + 8), with: Golden.le32(length))
        let end = start + min(Int(length), b.count - start)
        b.replaceSubrange((off + 24)..<(off + 28),
                          with: Golden.le32(CRC32.update(CRC32.checksum(b[off..<(off + 24)]), b[start..<end])))
        return b
    }

    func testAHugeDeclaredPayloadFailsHavingReadOnlyTheRecordHeader() throws {
        let package = try Golden.package()
        let runner = LookupNetworkRunner(frames: try allFrames(package))
        let built = try withFirstLength(0x7FFF_FFFF)
        let shipped = [UInt8](try Golden.vectors().data("invalid/payload_length_huge.mlvc"))
        XCTAssertEqual(readU32(shipped, Container.headerSize + 4), 0x7FFF_FFFF)
        for (what, bytes) in [("built", built), ("payload_length_huge.mlvc", shipped)] {
            let source = CountingSource(bytes)
            let got = outcome(what) { try self.streamed(source, package: package, network: runner).decodeAll() }
            XCTAssertEqual(got.code, "corrupt_stream", what)
            // The header and the record header, nothing of the declared payload, no big request.
            XCTAssertEqual(source.handedOut, Container.headerSize + Container.recordHeaderSize, what)
            XCTAssertLessThanOrEqual(source.largestRequest, Container.headerSize, what)
            let memory = outcome(what) { try Decoder(data: Data(bytes), package: package, network: runner).decodeAll() }
            XCTAssertEqual(memory.code, "corrupt_stream", what)
        }
    }

    func testALargestLegalDeclaredPayloadIsReadInChunksAsBytesArrive() throws {
        // Length == maxPayload (1.5 GiB) passes the limit, so the payload is read: in requests
        // of at most one chunk, until the source ends (here the file plus 3 MiB of zeros).
        let package = try Golden.package()
        let runner = LookupNetworkRunner(frames: try allFrames(package))
        let bytes = try withFirstLength(UInt32(Container.maxPayload))
        let source = CountingSource(bytes + [UInt8](repeating: 0, count: 3 << 20))
        let got = outcome("maxPayload") { try self.streamed(source, package: package, network: runner).decodeAll() }
        guard case .error(let e) = got else { return XCTFail("decoded") }
        XCTAssertEqual(e.code, "corrupt_stream")
        let remain = source.bytes.count - Container.headerSize - Container.recordHeaderSize
        XCTAssertTrue(e.message.hasSuffix("declares \(Container.maxPayload) payload bytes; \(remain) remain"), "\(e)")
        XCTAssertEqual(source.handedOut, source.bytes.count)
        XCTAssertLessThanOrEqual(source.largestRequest, ByteInput.chunk)
        XCTAssertEqual(source.callsAfterEnd, 0)
    }

    func testUnknownFrameCountReadsTheStreamToItsEnd() throws {
        let package = try Golden.package()
        let s = try XCTUnwrap(try Golden.streams().first)
        var bytes = try Golden.bytes(s.stream)
        bytes.replaceSubrange(52..<56, with: Golden.le32(Container.unknownFrameCount))
        bytes.replaceSubrange(60..<64, with: Golden.le32(CRC32.checksum(bytes[0..<60])))
        let decoder = try streamed(CountingSource(bytes, perRead: 5), package: package,
                                   network: GoldenNetworkRunner(frames: try Golden.frames(of: s, alignment: package.alignment)))
        XCTAssertEqual(decoder.header.frameCount, Container.unknownFrameCount)
        XCTAssertEqual(try decoder.decodeAll().map { Hex.encode($0.md5) }, s.frames.map(\.md5))
    }

    struct ConnectionLost: Error, Equatable {}

    func testSourceErrorsReachTheCallerAndFinishTheDecoder() throws {
        let package = try Golden.package()
        let s = try XCTUnwrap(try Golden.streams().first)
        let bytes = try Golden.bytes(s.stream)
        let runner = GoldenNetworkRunner(frames: try Golden.frames(of: s, alignment: package.alignment))
        // The app's own error, unchanged, once the header has arrived.
        var calls = 0
        let decoder = try Decoder(package: package, network: runner) { maxLength in
            calls += 1
            guard calls == 1 else { throw ConnectionLost() }
            return Data(bytes.prefix(min(maxLength, Container.headerSize)))
        }
        XCTAssertThrowsError(try decoder.next()) { XCTAssertEqual($0 as? ConnectionLost, ConnectionLost()) }
        XCTAssertNil(try decoder.next(), "a failed decoder is finished")
        // A source handing out more than asked breaks its contract: invalidArgument.
        assertThrowsKind("invalid_argument", "oversized read") {
            try Decoder(package: package, network: runner) { _ in Data(bytes) }
        }
        // An InputStream that cannot be read (no such file): invalidArgument, as Decoder.open.
        let missing = try XCTUnwrap(InputStream(url: URL(fileURLWithPath: "/nonexistent/mlvc-\(UUID().uuidString)")))
        assertThrowsKind("invalid_argument", "unreadable InputStream") {
            try Decoder(stream: missing, package: package, network: runner)
        }
    }
}
