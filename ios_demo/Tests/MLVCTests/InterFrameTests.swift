import Foundation
import XCTest
@testable import MLVC

/// P-frames (docs/bitstream.md §4b): motion-vector prediction, block compensation with clamped
/// coordinates (whole and half pixels), residual addition, and every inter corrupt-stream check, on
/// streams derived from the first golden P-frame with a whole-pixel residual (mode 1) and the first
/// with a half-pixel residual (mode 3), found through `index.json`.
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

    func testInterModesAreTheFourBitFieldModesAndTheTwoBlockTreeModes() throws {
        for v in 0...255 {
            let m = InterMode(rawValue: UInt8(v))
            if v < 4 {
                let mode = try XCTUnwrap(m, "mode \(v)")
                XCTAssertEqual(mode.hasResidual, v & 1 != 0, "mode \(v)")
                XCTAssertEqual(mode.halfPel, v & 2 != 0, "mode \(v)")
                XCTAssertFalse(mode.isBlockTree, "mode \(v)")
            } else if v < 6 {
                let mode = try XCTUnwrap(m, "mode \(v)")
                XCTAssertTrue(mode.isBlockTree, "mode \(v)")
                XCTAssertEqual(mode.hasResidual, v == 5, "mode \(v)")
                XCTAssertFalse(mode.halfPel, "mode \(v)")
            } else {
                XCTAssertNil(m, "mode \(v) must not exist")
            }
        }
        XCTAssertEqual([InterMode.skip, .residual, .skipHalfPel, .residualHalfPel, .blockTree, .blockTreeResidual]
                        .map(\.rawValue), [0, 1, 2, 3, 4, 5])
    }

    func testHalfPelCompensationKnownAnswers() {
        // 2 x 2 picture, one block. R: 10 20 / 31 45; G: 255 everywhere (the largest sum, 4 * 255 + 2,
        // still gives 255); B: 0 1 / 0 0 (rounding: +2 before >> 2).
        let ref: [UInt8] = [10, 255, 0, 20, 255, 1,
                            31, 255, 0, 45, 255, 0]
        func pred(_ dy: Int32, _ dx: Int32) -> [UInt8] {
            MotionCompensation.compensate(reference: ref, width: 2, height: 2, motion: [dy, dx], blocksX: 1,
                                          halfPel: true)
        }
        func channel(_ p: [UInt8], _ c: Int) -> [UInt8] { stride(from: c, to: p.count, by: 3).map { p[$0] } }
        // (1, 1): iy = ix = 0, fy = fx = 1, the average of the four (clamped) neighbours.
        XCTAssertEqual(channel(pred(1, 1), 0), [27, 33, 38, 45])   // (sum + 2) >> 2: 108, 132, 154, 182
        XCTAssertEqual(channel(pred(1, 1), 1), [255, 255, 255, 255])
        XCTAssertEqual(channel(pred(1, 1), 2), [0, 1, 0, 0])       // (1 + 2) >> 2, (1 + 1 + 2) >> 2
        // (-1, -1): iy = ix = -1 (floor), fy = fx = 1.
        XCTAssertEqual(channel(pred(-1, -1), 0), [10, 15, 21, 27])
        // (0, 1): horizontal half pixel only, weights 2 / 2: (2A + 2B + 2) >> 2.
        XCTAssertEqual(channel(pred(0, 1), 0), [15, 20, 38, 45])
        XCTAssertEqual(channel(pred(0, 1), 2), [1, 1, 0, 0])
        // (-1, 0): vertical only, rows y - 1 and y.
        XCTAssertEqual(channel(pred(-1, 0), 0), [10, 20, 21, 33])
        // Even vectors are whole-pixel copies: (2, -2) = whole (1, -1).
        XCTAssertEqual(pred(2, -2), MotionCompensation.compensate(reference: ref, width: 2, height: 2,
                                                                   motion: [1, -1], blocksX: 1))
        XCTAssertEqual(channel(pred(2, -2), 0), [31, 31, 31, 31])
    }

    /// Random vectors: small ones (negative odd ones included), ones far outside the picture, and
    /// the Int32 extremes.
    private func randomVectors(count: Int, width w: Int, height h: Int, even: Bool,
                               using rng: inout SplitMix64) -> [Int32] {
        let edge = 2 * (max(w, h) + 2)
        let special: [Int32] = [-1, -3, 1, 3, -5, Int32.min, Int32.max, Int32.min + 1, Int32.max - 1,
                                Int32(edge), Int32(-edge), Int32(edge + 1), Int32(-edge - 1), Int32(edge - 1),
                                Int32(-edge + 1), 1 << 30, -(1 << 30), 0x7FFF_0000, -0x7FFF_0001]
        return (0..<count).map { _ -> Int32 in
            var v: Int32
            switch Int.random(in: 0..<10, using: &rng) {
            case 0..<5: v = Int32.random(in: -9...9, using: &rng)
            case 5..<7: v = Int32.random(in: Int32(-edge - 8)...Int32(edge + 8), using: &rng)
            case 7: v = Int32.random(in: Int32.min...Int32.max, using: &rng)
            default: v = special[Int.random(in: 0..<special.count, using: &rng)]
            }
            if even { v &= ~1 }
            return v
        }
    }

    private func randomPicture(width w: Int, height h: Int, using rng: inout SplitMix64) -> [UInt8] {
        (0..<(w * h * 3)).map { _ in
            // Mostly full range, sometimes the extremes (largest / smallest sums).
            switch Int.random(in: 0..<8, using: &rng) {
            case 0: return 0
            case 1: return 255
            default: return UInt8.random(in: 0...255, using: &rng)
            }
        }
    }

    private let testSizes = [(1, 1), (2, 3), (3, 2), (16, 16), (17, 16), (20, 18), (33, 17), (5, 37), (72, 40)]

    func testHalfPelCompensationMatchesTheSpecFormula() {
        var rng = SplitMix64(seed: 0x4D4C_5643_4850_454C)
        var odd = 0, negativeOdd = 0, outside = 0
        for (w, h) in testSizes {
            let (by, bx) = MotionCompensation.blockGrid(width: w, height: h)
            for trial in 0..<6 {
                let ref = randomPicture(width: w, height: h, using: &rng)
                var mv = randomVectors(count: by * bx * 2, width: w, height: h, even: false, using: &rng)
                if trial == 0 { mv[0] = -1; mv[1] = -3 }          // negative odd in both components
                for v in mv {
                    if v & 1 != 0 { odd += 1; if v < 0 { negativeOdd += 1 } }
                    if Int(v).magnitude > 2 * UInt(max(w, h)) { outside += 1 }
                }
                let got = MotionCompensation.compensate(reference: ref, width: w, height: h, motion: mv,
                                                        blocksX: bx, halfPel: true)
                let want = naiveHalfPelPrediction(ref, width: w, height: h, motion: mv, blocksX: bx)
                XCTAssertEqual(got, want, "\(w) x \(h), trial \(trial), motion \(mv)")
                // The whole-pixel path takes the same hostile vectors without trapping, too.
                let whole = MotionCompensation.compensate(reference: ref, width: w, height: h, motion: mv,
                                                          blocksX: bx)
                XCTAssertEqual(whole, naivePrediction(ref, width: w, height: h, motion: mv, blocksX: bx),
                               "whole pixels: \(w) x \(h), trial \(trial), motion \(mv)")
            }
        }
        XCTAssertGreaterThan(negativeOdd, 20)
        XCTAssertGreaterThan(odd, negativeOdd)
        XCTAssertGreaterThan(outside, 20)
    }

    func testEvenHalfPelVectorsAreTheWholePixelCompensationOfHalfTheVector() {
        var rng = SplitMix64(seed: 0x4556_454E)
        for (w, h) in testSizes {
            let (by, bx) = MotionCompensation.blockGrid(width: w, height: h)
            for trial in 0..<4 {
                let ref = randomPicture(width: w, height: h, using: &rng)
                var mv = randomVectors(count: by * bx * 2, width: w, height: h, even: true, using: &rng)
                if trial == 0 { mv[0] = Int32.min; mv[1] = Int32.max - 1 }
                let half = mv.map { $0 / 2 }                     // exact: every value is even
                let got = MotionCompensation.compensate(reference: ref, width: w, height: h, motion: mv,
                                                        blocksX: bx, halfPel: true)
                let whole = MotionCompensation.compensate(reference: ref, width: w, height: h, motion: half,
                                                          blocksX: bx)
                XCTAssertEqual(got, whole, "\(w) x \(h), trial \(trial), motion \(mv)")
                XCTAssertEqual(whole, naivePrediction(ref, width: w, height: h, motion: half, blocksX: bx))
            }
        }
    }

    // MARK: - streams

    struct InterCase {
        let package: ModelPackage
        let stream: Golden.StreamEntry
        let frames: [Golden.Frame]
        let bytes: [UInt8]
        /// Index of the P-frame the hostile streams edit (the first of its mode).
        let k: Int
        /// Its mode (1: whole-pixel residual, 3: half-pixel residual).
        var mode: Int { stream.frames[k].mode ?? -1 }
        var halfPel: Bool { stream.frames[k].halfPel }
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

    /// The first golden P-frame of `mode` (1 or 3, a frame with a residual), nil if none.
    func interCase(mode: Int) throws -> InterCase? {
        let package = try Golden.package()
        for s in try Golden.streams() {
            if let k = s.frames.firstIndex(where: { $0.type == "P" && $0.mode == mode }) {
                return InterCase(package: package, stream: s,
                                 frames: try Golden.frames(of: s, alignment: package.alignment),
                                 bytes: try Golden.bytes(s.stream), k: k)
            }
        }
        return nil
    }

    /// The first golden P-frame with a half-pixel residual (mode 3).
    func halfPelCase() throws -> InterCase {
        guard let c = try interCase(mode: 3) else { throw goldenMissing("no golden stream with a mode-3 P-frame") }
        return c
    }

    /// The first golden mode-1 and the first mode-3 P-frame (those that exist; skips when neither does).
    func interCases() throws -> [InterCase] {
        let cases = try [interCase(mode: 1), interCase(mode: 3)].compactMap { $0 }
        if cases.isEmpty { throw goldenMissing("no golden stream with a mode-1 or mode-3 P-frame") }
        return cases
    }

    /// Asserts a corrupt_stream error whose message contains `message` (the check that must trip).
    func assertCorrupt(_ what: String, containing message: String, file: StaticString = #filePath,
                       line: UInt = #line, _ body: () throws -> Void) {
        do {
            try body()
            XCTFail("\(what): expected corrupt_stream, nothing thrown", file: file, line: line)
        } catch let e as MLVCError {
            XCTAssertEqual(e.code, "corrupt_stream", "\(what): \(e)", file: file, line: line)
            XCTAssertTrue(e.message.contains(message), "\(what): \(e) lacks \"\(message)\"", file: file, line: line)
        } catch {
            XCTFail("\(what): expected MLVCError, got \(error)", file: file, line: line)
        }
    }

    func testTheHelperRebuildsTheStreamUnchanged() throws {
        for c in try interCases() {
            XCTAssertEqual(c.with(payload: c.payload), c.bytes, c.stream.name)
            XCTAssertEqual(try c.decode(c.bytes).count, c.stream.frames.count, c.stream.name)
        }
    }

    func testGoldenStreamsHaveWholeAndHalfPelResidualFrames() throws {
        // The edited-stream tests below run on both kinds; the golden generator writes both.
        let whole = try XCTUnwrap(try interCase(mode: 1), "no mode-1 P-frame in the golden files")
        let half = try XCTUnwrap(try interCase(mode: 3), "no mode-3 P-frame in the golden files")
        XCTAssertFalse(whole.halfPel)
        XCTAssertTrue(half.halfPel)
        // The half-pixel field really has odd (and negative odd) components.
        let mv = try XCTUnwrap(half.frames[half.k].motion)
        XCTAssertTrue(mv.contains { $0 & 1 != 0 && $0 < 0 }, "\(half.stream.name) frame \(half.k): \(mv)")
    }

    func testSkipFrameIsThePrediction() throws {
        // A mode-1 frame made a whole-pixel skip (0), a mode-3 frame a half-pixel skip (2).
        for c in try interCases() { try checkSkipFrameIsThePrediction(c) }
    }

    private func checkSkipFrameIsThePrediction(_ c: InterCase) throws {
        let skipMode = try XCTUnwrap(InterMode(rawValue: UInt8(c.mode & ~1)))
        XCTAssertFalse(skipMode.hasResidual)
        XCTAssertEqual(skipMode.halfPel, c.halfPel)
        var p = Array(c.payload[0..<(InterCodec.headerSize + c.motionLength)])
        p[0] = skipMode.rawValue
        let previous = try c.decode(c.bytes)[c.k - 1].rgb
        let mv = try XCTUnwrap(c.frames[c.k].motion)
        let bx = try XCTUnwrap(c.stream.frames[c.k].mv_shape)[1]
        let want = naivePrediction(previous, width: c.stream.width, height: c.stream.height, motion: mv,
                                   blocksX: bx, halfPel: c.halfPel)
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
        XCTAssertEqual(inter?.mode, skipMode)
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

    func testHalfPelBitSelectsThePrediction() throws {
        // Toggling mode bit 1 (1 <-> 3) keeps the payload valid but reinterprets the vectors: the
        // picture is then clamp(other prediction + the same residual, 0, 255), and fails its hash.
        for c in try interCases() {
            let toggled = UInt8(c.mode ^ 2)
            let b = c.editing { $0[0] = toggled }
            let previous = try c.decode(c.bytes)[c.k - 1].rgb
            let mv = try XCTUnwrap(c.frames[c.k].motion)
            let bx = try XCTUnwrap(c.stream.frames[c.k].mv_shape)[1]
            let w = c.stream.width, h = c.stream.height
            let pred = naivePrediction(previous, width: w, height: h, motion: mv, blocksX: bx, halfPel: !c.halfPel)
            let payload = try XCTUnwrap(c.frames[c.k].payload)
            let pw = payload.imageShape[2]
            var residual = [Int8](repeating: 0, count: w * h * 3)
            for y in 0..<h { for x in 0..<w { for ch in 0..<3 { residual[(y * w + x) * 3 + ch] = payload.image[(y * pw + x) * 3 + ch] } } }
            let want = MotionCompensation.addResidual(pred, residual)
            let decoder = try Decoder(data: Data(b), options: try DecoderOptions(verifyHashes: false),
                                      package: c.package, network: LookupNetworkRunner(frames: c.frames))
            var inter: ParsedInterFrame?
            decoder.onParsedInter = { if $0 == c.k { inter = $1 } }
            let frames = try decoder.decodeAll()
            XCTAssertEqual(inter.map { Int($0.mode.rawValue) }, Int(toggled), c.stream.name)
            XCTAssertEqual(frames[c.k].rgb, want, "\(c.stream.name): mode \(c.mode) -> \(toggled)")
            if want != (try c.decode(c.bytes))[c.k].rgb {
                XCTAssertFalse(frames[c.k].verified)
                assertThrowsKind("hash_mismatch", "\(c.stream.name): mode \(c.mode) -> \(toggled)") { try c.decode(b) }
            }
        }
    }

    func testPFrameReferenceIsThePreviousDecodedPictureEvenWhenItFailsItsHash() throws {
        for c in try interCases() { try checkReferenceIsThePreviousDecodedPicture(c) }
    }

    private func checkReferenceIsThePreviousDecodedPicture(_ c: InterCase) throws {
        // A wrong MD5 on the frame before the P-frame: with verification off every picture is still
        // the one the encoder made (the reference is the decoded picture, not the hash).
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
        for c in try interCases() {
            for n in stride(from: 0, to: c.bytes.count, by: 7) {
                do {
                    _ = try c.decode(Array(c.bytes[0..<n]))
                    XCTFail("\(c.stream.name): prefix \(n) decoded")
                } catch let e as MLVCError {
                    XCTAssertEqual(e.code, "corrupt_stream", "\(c.stream.name): prefix \(n): \(e)")
                }
            }
        }
    }

    func testIntraFrameTurnedIntoPFrameFailsAsCorrupt() throws {
        // An I-frame record relabelled P (second frame of a two-intra stream): its bytes are not a
        // valid inter payload; whatever check trips first, it is a typed error, never a crash.
        let package = try Golden.package()
        guard let s = try Golden.streams().first(where: { $0.frames.count >= 2 && $0.frames[1].type == "I" }) else {
            throw goldenMissing("no golden stream with an I-frame second")
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
