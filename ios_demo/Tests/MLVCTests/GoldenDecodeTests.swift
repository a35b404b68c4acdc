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
        // The network sets as package.json declares them (read here without ModelPackage).
        let flags = try Golden.packageFlags()
        XCTAssertEqual(p.hasResidualNetworks, flags.residual_networks ?? false)
        XCTAssertEqual(p.residualZTableIndex, flags.res_z_table_index)
        if let r = p.residualZTableIndex { XCTAssertEqual(r.count, p.hyperChannels) }
    }

    func testEveryGoldenStreamDecodesBitExactly() throws {
        let package = try Golden.package()
        let streams = try Golden.streams()
        XCTAssertFalse(streams.isEmpty, "golden index lists no streams")
        var checkedFrames = 0, checkedP = 0, residualCalls = 0
        // Which set P-frame residuals must use: package.json itself, not ModelPackage.
        let residualNetworks = try Golden.packageFlags().residual_networks ?? false
        for s in streams {
            let frames = try Golden.frames(of: s, alignment: package.alignment)
            let runner = GoldenNetworkRunner(frames: frames)
            let decoder = try Decoder(data: Golden.data(s.stream), options: try DecoderOptions(),
                                      package: package, network: runner)
            XCTAssertEqual(decoder.header.width, s.width, s.name)
            XCTAssertEqual(decoder.header.height, s.height, s.name)
            var parsed = [Int: ParsedIntraFrame]()
            var parsedInter = [Int: ParsedInterFrame]()
            decoder.onParsed = { parsed[$0] = $1 }
            decoder.onParsedInter = { parsedInter[$0] = $1 }
            let decoded = try decoder.decodeAll()
            XCTAssertEqual(decoded.count, s.frames.count, s.name)
            let coded = s.frames.filter(\.hasIntraPayload).count
            XCTAssertEqual(runner.hsCalls, coded, "\(s.name): one h_s call per intra payload")
            XCTAssertEqual(runner.gsCalls, coded, "\(s.name): one g_s call per intra payload")
            // The recorded outputs cannot tell the sets apart (same file names): the roles can.
            residualCalls += assertNetworkSets(runner, residualNetworks: residualNetworks, s.name)
            var previous: [UInt8]?
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
                // Motion path (P-frames): mode, table and the decoded field against .mv.i32.
                var prediction: [UInt8]?
                if f.frameType == .inter {
                    let m = try XCTUnwrap(parsedInter[i], "\(what): no motion path")
                    let want = try XCTUnwrap(g.motion, what)
                    XCTAssertEqual(Int(m.mode.rawValue), g.entry.mode, "\(what): mode")
                    XCTAssertEqual(m.mvTable, g.entry.mv_table, "\(what): mv_table")
                    XCTAssertEqual([m.blocksY, m.blocksX, 2], g.entry.mv_shape, "\(what): mv_shape")
                    XCTAssertEqual(m.motion, want, "\(what): motion field differs from .mv.i32")
                    let ref = try XCTUnwrap(previous, what)
                    prediction = naivePrediction(ref, width: s.width, height: s.height, motion: want,
                                                 blocksX: g.entry.mv_shape?[1] ?? 0, halfPel: g.entry.halfPel)
                    checkedP += 1
                } else {
                    XCTAssertNil(parsedInter[i], what)
                }
                // Intra payload (I-frame or residual): parse path against the recorded files.
                if let gp = g.payload {
                    let p = try XCTUnwrap(parsed[i], what)
                    XCTAssertEqual(p.zHat, gp.z, "\(what): z")
                    XCTAssertEqual(p.tableIndex, gp.tableIndex, "\(what): table indices")
                    XCTAssertEqual(p.ySymbols, gp.ySymbols, "\(what): latent symbols")
                    XCTAssertEqual(p.yHat, gp.yHat, "\(what): y_hat")
                } else {
                    XCTAssertNil(parsed[i], "\(what): a skip frame has no residual")
                }
                // Every pixel, recomputed here from the recorded g_s output: I: image + 128;
                // P: clamp(prediction + image, 0, 255) (skip: prediction), the prediction whole- or
                // half-pixel as the mode says.
                let pw = g.payload?.imageShape[2] ?? 0
                var mismatches = 0
                for r in 0..<s.height {
                    for c in 0..<s.width {
                        for ch in 0..<3 {
                            let o = (r * s.width + c) * 3 + ch
                            let coded = g.payload.map { Int($0.image[(r * pw + c) * 3 + ch]) } ?? 0
                            let want = prediction.map { min(max(Int($0[o]) + coded, 0), 255) } ?? coded + 128
                            if Int(f.rgb[o]) != want { mismatches += 1 }
                        }
                    }
                }
                XCTAssertEqual(mismatches, 0, "\(what): pixels differ from the recorded g_s output")
                previous = f.rgb
                checkedFrames += 1
            }
        }
        XCTAssertEqual(checkedFrames, streams.reduce(0) { $0 + $1.frames.count })
        XCTAssertEqual(checkedP, streams.reduce(0) { $0 + $1.frames.filter { $0.type == "P" }.count })
        XCTAssertEqual(residualCalls, 2 * streams.reduce(0) {
            $0 + $1.frames.filter { $0.type == "P" && $0.hasIntraPayload }.count
        }, "one h_s and one g_s call (of the expected set) per P-frame residual")
    }

    func testConvenienceInitLoadsPackageFromOptions() throws {
        let package = try Golden.package()
        let s = try XCTUnwrap(try Golden.streams().first)
        let runner = GoldenNetworkRunner(frames: try Golden.frames(of: s, alignment: package.alignment))
        let decoder = try Decoder(data: Golden.data(s.stream),
                                  options: try DecoderOptions(packageDirectory: try Golden.packageDir()),
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
        let opts = try DecoderOptions(packageDirectory: try Golden.packageDir())
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
        // The golden stream with frame 0's picture hash changed (record CRC recomputed).
        var b = try Golden.bytes(s.stream)
        b[Container.headerSize + 8] ^= 1
        let len = Int(b[Container.headerSize + 4]) | Int(b[Container.headerSize + 5]) << 8
            | Int(b[Container.headerSize + 6]) << 16 | Int(b[Container.headerSize + 7]) << 24
        let body = Container.headerSize + Container.recordHeaderSize
        let crc = CRC32.update(CRC32.checksum(b[Container.headerSize..<(Container.headerSize + 24)]), b[body..<(body + len)])
        for i in 0..<4 { b[Container.headerSize + 24 + i] = UInt8(truncatingIfNeeded: crc >> (8 * UInt32(i))) }
        let bad = Data(b)
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
