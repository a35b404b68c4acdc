import Foundation
import XCTest
@testable import MLVC

/// P-frames (docs/bitstream.md §4b): motion-vector prediction, block compensation with clamped
/// coordinates, residual addition, and every inter corrupt-stream check, on streams derived from
/// the first golden stream that has a mode-1 P-frame (found through `index.json`).
final class InterFrameTests: XCTestCase {
    // MARK: - arithmetic

    func testVectorsFromDeltasUseLeftThenUpperPredictor() {
        // Deltas, BY = 2, BX = 3, (dy, dx) per block.
        let d: [Int32] = [1, 2, 0, 1, -1, 0,
                          2, -1, 1, 1, 0, 0]
        let mv = MotionCompensation.vectors(fromDeltas: d, blocksY: 2, blocksX: 3)
        XCTAssertEqual(mv, [1, 2, 1, 3, 0, 3,
                            3, 1, 4, 2, 4, 2])
        XCTAssertEqual(MotionCompensation.vectors(fromDeltas: [-7, 9], blocksY: 1, blocksX: 1), [-7, 9])
    }

    func testBlockGridRoundsUp() {
        XCTAssertTrue(MotionCompensation.blockGrid(width: 72, height: 40) == (3, 5))
        XCTAssertTrue(MotionCompensation.blockGrid(width: 1, height: 1) == (1, 1))
        XCTAssertTrue(MotionCompensation.blockGrid(width: 32, height: 16) == (1, 2))
    }

    func testCompensationClampsCoordinatesPerBlock() {
        let w = 20, h = 18                      // 2 x 2 blocks, the right / bottom ones partial
        var ref = [UInt8](repeating: 0, count: w * h * 3)
        for y in 0..<h { for x in 0..<w { for c in 0..<3 { ref[(y * w + x) * 3 + c] = UInt8((y * 7 + x * 3 + c * 50) % 256) } } }
        let mv: [Int32] = [-100, -100,   0, 100,      // block (0,0): far up-left; (0,1): far right
                           1, 0,         0, 0]        // block (1,0): one row down; (1,1): still
        let pred = MotionCompensation.compensate(reference: ref, width: w, height: h, motion: mv, blocksX: 2)
        func px(_ a: [UInt8], _ y: Int, _ x: Int, _ c: Int) -> UInt8 { a[(y * w + x) * 3 + c] }
        for y in 0..<h {
            for x in 0..<w {
                for c in 0..<3 {
                    let want: UInt8
                    switch (y / 16, x / 16) {
                    case (0, 0): want = px(ref, 0, 0, c)
                    case (0, 1): want = px(ref, y, w - 1, c)
                    case (1, 0): want = px(ref, min(y + 1, h - 1), x, c)
                    default: want = px(ref, y, x, c)
                    }
                    XCTAssertEqual(px(pred, y, x, c), want, "pixel \(y),\(x),\(c)")
                }
            }
        }
    }

    func testResidualAdditionClamps() {
        XCTAssertEqual(MotionCompensation.addResidual([250, 5, 100, 0, 255], [10, -10, -3, -128, 127]),
                       [255, 0, 97, 0, 255])
    }

    // MARK: - streams

    struct InterCase {
        let package: ModelPackage
        let stream: Golden.StreamEntry
        let frames: [Golden.Frame]
        let bytes: [UInt8]
        /// Index of the first mode-1 P-frame.
        let k: Int
        var payloadStart: Int { Golden.recordOffset(stream, k) + Container.recordHeaderSize }
        var payload: [UInt8] { Array(bytes[payloadStart..<(payloadStart + stream.frames[k].payload_bytes)]) }
        var motionLength: Int { Int(readU32(bytes, payloadStart + 2)) }

        /// The stream with record k's payload replaced (length and record CRC fixed).
        func with(payload p: [UInt8], md5: [UInt8]? = nil) -> [UInt8] {
            let off = Golden.recordOffset(stream, k)
            var rec = Array(bytes[off..<(off + 24)])
            for i in 0..<4 { rec[4 + i] = UInt8(truncatingIfNeeded: UInt32(p.count) >> (8 * UInt32(i))) }
            if let md5 { rec.replaceSubrange(8..<24, with: md5) }
            let crc = CRC32.update(CRC32.checksum(rec[...]), p[...])
            for i in 0..<4 { rec.append(UInt8(truncatingIfNeeded: crc >> (8 * UInt32(i)))) }
            let end = payloadStart + stream.frames[k].payload_bytes
            return Array(bytes[0..<off]) + rec + p + Array(bytes[end...])
        }

        /// The stream with bytes of record k's payload overwritten.
        func editing(_ edit: (inout [UInt8]) -> Void) -> [UInt8] {
            var p = payload
            edit(&p)
            return with(payload: p)
        }

        func decode(_ b: [UInt8], verify: Bool = true) throws -> [DecodedFrame] {
            try Decoder(data: Data(b), options: try DecoderOptions(verifyHashes: verify), package: package,
                        network: LookupNetworkRunner(frames: frames)).decodeAll()
        }
    }

    func interCase() throws -> InterCase {
        let package = try Golden.package()
        for s in try Golden.streams() {
            if let k = s.frames.firstIndex(where: { $0.type == "P" && $0.mode == 1 }) {
                return InterCase(package: package, stream: s,
                                 frames: try Golden.frames(of: s, alignment: package.alignment),
                                 bytes: try Golden.bytes(s.stream), k: k)
            }
        }
        throw XCTSkip("no golden stream with a mode-1 P-frame")
    }

    func testTheHelperRebuildsTheStreamUnchanged() throws {
        let c = try interCase()
        XCTAssertEqual(c.with(payload: c.payload), c.bytes)
        XCTAssertEqual(try c.decode(c.bytes).count, c.stream.frames.count)
    }

    func testUnknownInterModeIsCorrupt() throws {
        let c = try interCase()
        for mode: UInt8 in [2, 0x80, 0xFF] {
            assertThrowsKind("corrupt_stream", "mode \(mode)") { try c.decode(c.editing { $0[0] = mode }) }
        }
    }

    func testMotionTableOutOfRangeIsCorrupt() throws {
        let c = try interCase()
        let t = c.package.tables.numTables
        for table in [t, 255] where table <= 255 {
            assertThrowsKind("corrupt_stream", "mv_table \(table)") {
                try c.decode(c.editing { $0[1] = UInt8(table) })
            }
        }
        // The last table is legal (the stream then fails later, still as a typed error).
        do { _ = try c.decode(c.editing { $0[1] = UInt8(t - 1) }) } catch let e as MLVCError {
            XCTAssertTrue(["corrupt_stream", "hash_mismatch"].contains(e.code), "\(e)")
        }
    }

    func testMotionSubstreamLongerThanThePayloadIsCorrupt() throws {
        let c = try interCase()
        let room = c.payload.count - InterCodec.headerSize
        for m in [UInt32(room + 1), 0x7FFF_FFFF, 0xFFFF_FFFF] {
            assertThrowsKind("corrupt_stream", "M = \(m)") {
                try c.decode(c.editing { for i in 0..<4 { $0[2 + i] = UInt8(truncatingIfNeeded: m >> (8 * UInt32(i))) } })
            }
        }
        // One byte short: the motion substream's own size checks fail.
        let short = UInt32(c.motionLength - 1)
        assertThrowsKind("corrupt_stream", "M - 1") {
            try c.decode(c.editing { for i in 0..<4 { $0[2 + i] = UInt8(truncatingIfNeeded: short >> (8 * UInt32(i))) } })
        }
    }

    func testTruncatedInterPayloadIsCorrupt() throws {
        let c = try interCase()
        for n in [0, 1, 5, InterCodec.headerSize, InterCodec.headerSize + c.motionLength - 1] {
            assertThrowsKind("corrupt_stream", "payload of \(n) bytes") {
                try c.decode(c.with(payload: Array(c.payload[0..<n])))
            }
        }
        // Motion substream intact, residual cut short.
        assertThrowsKind("corrupt_stream", "residual cut") {
            try c.decode(c.with(payload: Array(c.payload.dropLast(3))))
        }
    }

    func testBytesAfterASkipFrameAreCorrupt() throws {
        let c = try interCase()
        // Mode 1 -> 0 leaves the residual after the motion substream.
        assertThrowsKind("corrupt_stream", "skip with residual") { try c.decode(c.editing { $0[0] = 0 }) }
        var p = Array(c.payload[0..<(InterCodec.headerSize + c.motionLength)])
        p[0] = 0
        p.append(0)
        assertThrowsKind("corrupt_stream", "skip + 1 byte") { try c.decode(c.with(payload: p)) }
    }

    func testSkipFrameIsThePrediction() throws {
        let c = try interCase()
        var p = Array(c.payload[0..<(InterCodec.headerSize + c.motionLength)])
        p[0] = 0
        let previous = try c.decode(c.bytes)[c.k - 1].rgb
        let mv = try XCTUnwrap(c.frames[c.k].motion)
        let bx = try XCTUnwrap(c.stream.frames[c.k].mv_shape)[1]
        let want = naivePrediction(previous, width: c.stream.width,
                                                           height: c.stream.height, motion: mv, blocksX: bx)
        // With the record's MD5 set to the prediction's, the skip frame verifies.
        let skip = c.with(payload: p, md5: MD5.hash(want))
        let decoder = try Decoder(data: Data(skip), package: c.package, network: LookupNetworkRunner(frames: c.frames))
        var inter: ParsedInterFrame?
        decoder.onParsedInter = { if $0 == c.k { inter = $1 } }
        var residualParsed = false
        decoder.onParsed = { i, _ in if i == c.k { residualParsed = true } }
        for _ in 0..<c.k { XCTAssertNotNil(try decoder.next()) }
        let f = try XCTUnwrap(try decoder.next())
        XCTAssertEqual(f.frameType, .inter)
        XCTAssertTrue(f.verified)
        XCTAssertEqual(f.rgb, want)
        XCTAssertEqual(inter?.mode, .skip)
        XCTAssertEqual(inter?.motion, mv)
        XCTAssertFalse(residualParsed, "a skip frame has no residual")
        // The record's original MD5 (of the coded picture) no longer matches: hash_mismatch when
        // verifying on an exact runner; reported with verification off, and the later frames still
        // decode (from the skip frame's picture as their reference).
        let wrongHash = c.with(payload: p)
        assertThrowsKind("hash_mismatch", "skip frame, original MD5") { try c.decode(wrongHash) }
        let off = try c.decode(wrongHash, verify: false)
        XCTAssertEqual(off.count, c.stream.frames.count)
        XCTAssertFalse(off[c.k].verified)
        XCTAssertEqual(off[c.k].rgb, want)
    }

    func testPFrameReferenceIsThePreviousDecodedPictureEvenWhenItFailsItsHash() throws {
        // A wrong MD5 on the frame before the P-frame: with verification off every picture is still
        // the one the encoder made (the reference is the decoded picture, not the hash).
        let c = try interCase()
        var b = c.bytes
        let prev = Golden.recordOffset(c.stream, c.k - 1)
        b[prev + 8] ^= 0xFF
        let len = Int(readU32(b, prev + 4))
        let crc = CRC32.update(CRC32.checksum(b[prev..<(prev + 24)]), b[(prev + 28)..<(prev + 28 + len)])
        for i in 0..<4 { b[prev + 24 + i] = UInt8(truncatingIfNeeded: crc >> (8 * UInt32(i))) }
        let frames = try c.decode(b, verify: false)
        XCTAssertFalse(frames[c.k - 1].verified)
        for (i, f) in frames.enumerated() where i != c.k - 1 {
            XCTAssertTrue(f.verified, "frame \(i)")
        }
        assertThrowsKind("hash_mismatch", "verify on") { try c.decode(b) }
    }

    func testEveryTruncationOfAnInterStreamFailsCleanly() throws {
        let c = try interCase()
        for n in stride(from: 0, to: c.bytes.count, by: 7) {
            do {
                _ = try c.decode(Array(c.bytes[0..<n]))
                XCTFail("prefix \(n) decoded")
            } catch let e as MLVCError {
                XCTAssertEqual(e.code, "corrupt_stream", "prefix \(n): \(e)")
            }
        }
    }

    func testIntraFrameTurnedIntoPFrameFailsAsCorrupt() throws {
        // An I-frame record relabelled P (second frame of a two-intra stream): its bytes are not a
        // valid inter payload; whatever check trips first, it is a typed error, never a crash.
        let package = try Golden.package()
        guard let s = try Golden.streams().first(where: { $0.frames.count >= 2 && $0.frames[1].type == "I" }) else {
            throw XCTSkip("no golden stream with an I-frame second")
        }
        var b = try Golden.bytes(s.stream)
        let second = Golden.recordOffset(s, 1)
        b[second] = 0x50
        let len = Int(readU32(b, second + 4))
        let crc = CRC32.update(CRC32.checksum(b[second..<(second + 24)]), b[(second + 28)..<(second + 28 + len)])
        for i in 0..<4 { b[second + 24 + i] = UInt8(truncatingIfNeeded: crc >> (8 * UInt32(i))) }
        let frames = try Golden.frames(of: s, alignment: package.alignment)
        do {
            _ = try Decoder(data: Data(b), package: package, network: LookupNetworkRunner(frames: frames)).decodeAll()
            XCTFail("relabelled frame decoded")
        } catch let e as MLVCError {
            XCTAssertTrue(["corrupt_stream", "hash_mismatch", "backend"].contains(e.code), "\(e)")
        }
    }
}
