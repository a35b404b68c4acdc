import Foundation
import XCTest
@testable import MLVC

/// Decodes every golden stream with recorded network outputs: checks the network inputs, the
/// symbols and table indices, the cropped pictures and every picture MD5. Data-driven: streams,
/// sizes, channel counts and levels all come from the golden files.
final class GoldenDecodeTests: XCTestCase {
    func testGoldenPackageLoadsAndTablesMatchTheirHash() throws {
        let p = try Golden.package()
        XCTAssertEqual(p.zTableIndex.count, p.hyperChannels)
        XCTAssertFalse(p.levels.isEmpty)
        XCTAssertEqual(p.modelHash.count, 16)
        XCTAssertEqual(p.tables.start.count, p.tables.numTables)
    }

    func testEveryGoldenStreamDecodesBitExactly() throws {
        let package = try Golden.package()
        let streams = try Golden.streams()
        XCTAssertFalse(streams.isEmpty, "golden index lists no streams")
        var checkedFrames = 0
        for s in streams {
            let frames = try Golden.frames(of: s, alignment: package.alignment)
            let runner = GoldenNetworkRunner(frames: frames)
            let decoder = try Decoder(data: Golden.data(s.stream), options: try DecoderOptions(),
                                      package: package, network: runner)
            XCTAssertEqual(decoder.header.width, s.width, s.name)
            XCTAssertEqual(decoder.header.height, s.height, s.name)
            var parsed = [Int: ParsedIntraFrame]()
            decoder.onParsed = { parsed[$0] = $1 }
            let decoded = try decoder.decodeAll()
            XCTAssertEqual(decoded.count, s.frames.count, s.name)
            XCTAssertEqual(runner.hsCalls, s.frames.count, "\(s.name): one h_s call per frame")
            XCTAssertEqual(runner.gsCalls, s.frames.count, "\(s.name): one g_s call per frame")
            for (i, f) in decoded.enumerated() {
                let g = frames[i]
                let what = "\(s.name) frame \(i)"
                XCTAssertEqual(f.index, i, what)
                XCTAssertEqual(f.frameType.rawValue, g.entry.type, what)
                XCTAssertEqual(f.quality, g.entry.quality, what)
                XCTAssertEqual(f.width, s.width, what)
                XCTAssertEqual(f.height, s.height, what)
                XCTAssertEqual(f.rgb.count, s.width * s.height * 3, what)
                XCTAssertTrue(f.verified, "\(what): picture MD5 does not verify")
                XCTAssertEqual(Hex.encode(f.md5), g.entry.md5, what)
                XCTAssertEqual(Hex.encode(f.expectedMD5), g.entry.md5, what)
                let p = try XCTUnwrap(parsed[i], what)
                XCTAssertEqual(p.zHat, g.z, "\(what): z")
                XCTAssertEqual(p.tableIndex, g.tableIndex, "\(what): table indices")
                XCTAssertEqual(p.ySymbols, g.ySymbols, "\(what): latent symbols")
                XCTAssertEqual(p.yHat, g.yHat, "\(what): y_hat")
                // Cropping: pixel (r, c) is image[r, c] + 128.
                let pw = g.imageShape[2]
                for (r, c) in [(0, 0), (s.height - 1, s.width - 1), (s.height / 2, s.width / 3)] {
                    for ch in 0..<3 {
                        let want = UInt8(Int(g.image[(r * pw + c) * 3 + ch]) + 128)
                        XCTAssertEqual(f.rgb[(r * s.width + c) * 3 + ch], want, "\(what): pixel \(r),\(c)")
                    }
                }
                checkedFrames += 1
            }
        }
        XCTAssertEqual(checkedFrames, streams.reduce(0) { $0 + $1.frames.count })
    }

    func testConvenienceInitLoadsPackageFromOptions() throws {
        let package = try Golden.package()
        let s = try XCTUnwrap(try Golden.streams().first)
        let runner = GoldenNetworkRunner(frames: try Golden.frames(of: s, alignment: package.alignment))
        let decoder = try Decoder(data: Golden.data(s.stream),
                                  options: try DecoderOptions(packageDirectory: Golden.dir),
                                  network: runner)
        var n = 0
        while let f = try decoder.next() {
            XCTAssertTrue(f.verified)
            n += 1
        }
        XCTAssertEqual(n, s.frames.count)
        XCTAssertNil(try decoder.next(), "a finished decoder stays finished")
    }

    func testOpenReadsAFileAndRejectsAMissingOne() throws {
        let package = try Golden.package()
        let s = try XCTUnwrap(try Golden.streams().last)
        let runner = GoldenNetworkRunner(frames: try Golden.frames(of: s, alignment: package.alignment))
        let opts = try DecoderOptions(packageDirectory: Golden.dir)
        let frames = try Decoder.open(Golden.dir.appendingPathComponent(s.stream), options: opts,
                                      network: runner).decodeAll()
        XCTAssertEqual(frames.count, s.frames.count)
        assertThrowsKind("invalid_argument", "missing file") {
            try Decoder.open(Golden.dir.appendingPathComponent("no-such-stream.mlvc"), options: opts, network: runner)
        }
    }

    func testAsyncFrames() async throws {
        let package = try Golden.package()
        for s in try Golden.streams() {
            let runner = GoldenNetworkRunner(frames: try Golden.frames(of: s, alignment: package.alignment))
            let decoder = try Decoder(data: Golden.data(s.stream), package: package, network: runner)
            var md5s = [String]()
            for try await frame in decoder.frames { md5s.append(Hex.encode(frame.md5)) }
            XCTAssertEqual(md5s, s.frames.map(\.md5), s.name)
        }
    }

    func testUnknownFrameCountReadsToTheEnd() throws {
        let package = try Golden.package()
        let s = try XCTUnwrap(try Golden.streams().first)
        var bytes = try Golden.bytes(s.stream)
        for i in 0..<4 { bytes[52 + i] = 0xFF }
        fixHeaderCRC(&bytes)
        let runner = GoldenNetworkRunner(frames: try Golden.frames(of: s, alignment: package.alignment))
        let decoder = try Decoder(data: Data(bytes), package: package, network: runner)
        XCTAssertEqual(decoder.header.frameCount, Container.unknownFrameCount)
        XCTAssertEqual(try decoder.decodeAll().count, s.frames.count)
    }

    func testWrongHashWithVerificationOffOrApproximateRunnerIsReportedNotThrown() throws {
        let package = try Golden.package()
        let s = try XCTUnwrap(try Golden.streams().first)
        let frames = try Golden.frames(of: s, alignment: package.alignment)
        let bad = try Golden.data("invalid/picture_hash_wrong.mlvc")
        // Exact runner, verification on: hash_mismatch (covered by InvalidStreamTests too).
        assertThrowsKind("hash_mismatch", "exact, verify on") {
            try Decoder(data: bad, package: package, network: LookupNetworkRunner(frames: frames)).decodeAll()
        }
        // Verification off: frames come back with verified == false.
        let off = try Decoder(data: bad, options: try DecoderOptions(verifyHashes: false), package: package,
                              network: LookupNetworkRunner(frames: frames)).decodeAll()
        XCTAssertEqual(off.count, s.frames.count)
        XCTAssertFalse(off[0].verified)
        XCTAssertEqual(Hex.encode(off[0].md5), s.frames[0].md5, "the picture itself is still right")
        // Approximate runner (e.g. Core ML on the GPU / Neural Engine): reported, not thrown.
        let approx = try Decoder(data: bad, package: package,
                                 network: LookupNetworkRunner(frames: frames, exact: false))
        XCTAssertFalse(approx.isExact)
        XCTAssertFalse(try approx.decodeAll()[0].verified)
    }

    func testPFrameAfterAnIFrameIsUnsupportedInThisPort() throws {
        // Frame 1 of a two-frame golden stream turned into a P frame (record CRC fixed).
        let package = try Golden.package()
        guard let s = try Golden.streams().first(where: { $0.frames.count >= 2 }) else {
            throw XCTSkip("no golden stream with two frames")
        }
        var b = try Golden.bytes(s.stream)
        let second = Container.headerSize + Container.recordHeaderSize + s.frames[0].payload_bytes
        XCTAssertEqual(b[second], 0x49)
        b[second] = 0x50
        let len = Int(readU32(b, second + 4))
        let crc = CRC32.update(CRC32.checksum(b[second..<(second + 24)]),
                               b[(second + 28)..<(second + 28 + len)])
        for i in 0..<4 { b[second + 24 + i] = UInt8(truncatingIfNeeded: crc >> (8 * UInt32(i))) }
        let decoder = try Decoder(data: Data(b), package: package,
                                  network: GoldenNetworkRunner(frames: try Golden.frames(of: s, alignment: package.alignment)))
        XCTAssertNotNil(try decoder.next())
        assertThrowsKind("unsupported", "P frame after I") { try decoder.next() }
    }

    func testWrongNetworkOutputShapeIsABackendError() throws {
        final class BadRunner: NetworkRunner {
            func run(role: NetworkRole, input: Int8Tensor) throws -> [String: Int8Tensor] {
                ["mu": Int8Tensor(shape: [1], values: [0]), "sigma_index": Int8Tensor(shape: [1], values: [0])]
            }
        }
        let package = try Golden.package()
        let s = try XCTUnwrap(try Golden.streams().first)
        assertThrowsKind("backend", "short h_s output") {
            try Decoder(data: Golden.data(s.stream), package: package, network: BadRunner()).decodeAll()
        }
    }

    func testForeignRunnerErrorsBecomeBackendErrors() throws {
        struct Boom: Error {}
        final class FailingRunner: NetworkRunner {
            func run(role: NetworkRole, input: Int8Tensor) throws -> [String: Int8Tensor] { throw Boom() }
        }
        let package = try Golden.package()
        let s = try XCTUnwrap(try Golden.streams().first)
        assertThrowsKind("backend", "runner throws") {
            try Decoder(data: Golden.data(s.stream), package: package, network: FailingRunner()).decodeAll()
        }
    }
}

func fixHeaderCRC(_ b: inout [UInt8]) {
    let crc = CRC32.checksum(b[0..<60])
    for i in 0..<4 { b[60 + i] = UInt8(truncatingIfNeeded: crc >> (8 * UInt32(i))) }
}
