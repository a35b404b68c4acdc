import Foundation
import XCTest
@testable import MLVC

/// The block-tree inter payload (docs/bitstream.md §4c, modes 4 and 5): binary rANS symbols, the
/// block syntax against an independent writer, the 8-tap interpolation and the deblocking filter
/// against literal transcriptions of the spec's formulas, every new corrupt-stream check, and whole
/// streams of mode-4 / mode-5 frames through the decoder.
final class BlockTreeTests: XCTestCase {
    private func tables() throws -> CdfTables { try Golden.package().tables }

    private func randomPicture(_ w: Int, _ h: Int, smooth: Bool, using rng: inout SplitMix64) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: w * h * 3)
        let base = (0..<3).map { _ in Int.random(in: 40...200, using: &rng) }
        for y in 0..<h {
            for x in 0..<w {
                for ch in 0..<3 {
                    let v = smooth ? base[ch] + (x + 2 * y) % 9 + Int.random(in: -3...3, using: &rng)
                                   : Int.random(in: 0...255, using: &rng)
                    out[(y * w + x) * 3 + ch] = UInt8(min(max(v, 0), 255))
                }
            }
        }
        return out
    }

    // MARK: - binary symbols

    func testBinarySymbolsInterleaveWithTableSymbols() throws {
        let cdf = try tables()
        var rng = SplitMix64(seed: 0xB1_4A5E)
        for trial in 0..<40 {
            let n = [1, 2, 5, 60, 900, 3000][trial % 6]
            var kinds = [(binary: Bool, param: Int, k: Int)]()
            var syms = [CodedSymbol]()
            for _ in 0..<n {
                if Bool.random(using: &rng) {
                    let f = [1, 2, 65535, 65534, 32768, Int.random(in: 1...65535, using: &rng)][Int.random(in: 0..<6, using: &rng)]
                    let k = Int.random(in: 0...1, using: &rng)
                    kinds.append((true, f, k)); syms.append(.binary(k, f))
                } else {
                    let t = Int.random(in: 0..<cdf.numTables, using: &rng)
                    let k = Int.random(in: 0...(2 * Int(cdf.radius[t])), using: &rng)
                    kinds.append((false, t, k)); syms.append(.table(k, t, cdf))
                }
            }
            let lanes = min(n, [1, 3, 256, 1024][trial % 4])
            let sub = ransEncodeSymbols(syms, lanes: lanes)
            var r = try RansReader(sub[...], cdf: cdf)
            for (i, s) in kinds.enumerated() {
                let got = s.binary ? try r.binary(frequency: s.param) : try r.next(table: s.param)
                XCTAssertEqual(got, s.k, "trial \(trial) symbol \(i)")
            }
            XCTAssertNoThrow(try r.finish(), "trial \(trial)")
        }
        // Frequencies outside 1...65535 are refused, not decoded.
        let sub = ransEncodeSymbols([.binary(1, 7)], lanes: 1)
        for f in [0, 65536, -1] {
            var r = try RansReader(sub[...], cdf: cdf)
            assertThrowsKind("corrupt_stream", "frequency \(f)") { try r.binary(frequency: f) }
        }
        var r = try RansReader(sub[...], cdf: cdf)
        XCTAssertEqual(try r.binary(frequency: 7), 1)
        XCTAssertNoThrow(try r.finish())
        assertThrowsKind("corrupt_stream", "past the end") { _ = try r.binary(frequency: 7); try r.finish() }
    }

    // MARK: - interpolation

    func testPredictionMatchesTheLiteralFormulaAtAll16PhasesAndThePictureEdges() throws {
        var rng = SplitMix64(seed: 0x8_7A9)
        let sizes = [(1, 1), (3, 5), (8, 8), (13, 29), (64, 64), (70, 45), (130, 9), (17, 71)]
        var phases = Set<Int>()
        var edgeCases = 0
        for (trial, (w, h)) in (sizes + sizes).enumerated() {
            let ref = randomPicture(w, h, smooth: false, using: &rng)
            let tiling = randomTiling(width: w, height: h, splitChance: trial < sizes.count ? 60 : 20, using: &rng)
            var blocks = [PredictionBlock]()
            for (i, t) in tiling.enumerated() {
                let phase = (i + trial) % 16
                let fy = phase >> 2, fx = phase & 3
                // Whole-pixel parts: small, just past an edge, far outside, and the range's ends.
                func whole(_ extent: Int) -> Int {
                    switch Int.random(in: 0..<5, using: &rng) {
                    case 0: return Int.random(in: -3...3, using: &rng)
                    case 1: return extent + Int.random(in: -4...4, using: &rng)
                    case 2: return -extent + Int.random(in: -4...4, using: &rng)
                    case 3: return Int.random(in: -512...511, using: &rng)
                    default: return Bool.random(using: &rng) ? -512 : 511
                    }
                }
                let dy = whole(h) * 4 + fy, dx = whole(w) * 4 + fx
                let cy = min(max(dy, -2048), 2047), cx = min(max(dx, -2048), 2047)
                phases.insert((cy & 3) << 2 | (cx & 3))
                if abs(cy >> 2) >= h || abs(cx >> 2) >= w { edgeCases += 1 }
                blocks.append(PredictionBlock(y: t.0, x: t.1, size: t.2, dy: cy, dx: cx, merge: false, skip: true))
            }
            let tree = makeBlockTree(width: w, height: h, blocks: blocks)
            let got = BlockPrediction.predict(reference: ref, tree: tree)
            let want = naiveBlockTreePrediction(ref, width: w, height: h, blocks: blocks)
            XCTAssertEqual(got, want, "\(w) x \(h), trial \(trial)")
        }
        XCTAssertEqual(phases.count, 16)
        XCTAssertGreaterThan(edgeCases, 20)
    }

    func testPredictionKnownAnswers() throws {
        // Whole-pixel vectors copy; a half pixel of a step edge is the filter's half-sum.
        let w = 16, h = 8
        var ref = [UInt8](repeating: 0, count: w * h * 3)
        for y in 0..<h { for x in 0..<w { for ch in 0..<3 { ref[(y * w + x) * 3 + ch] = x < 8 ? 0 : 255 } } }
        func pred(_ dy: Int, _ dx: Int) -> [UInt8] {
            let tree = makeBlockTree(width: w, height: h, blocks: [
                PredictionBlock(y: 0, x: 0, size: 64, dy: dy, dx: dx, merge: false, skip: true)])
            return BlockPrediction.predict(reference: ref, tree: tree)
        }
        func px(_ p: [UInt8], _ x: Int) -> Int { Int(p[(2 * w + x) * 3]) }
        XCTAssertEqual(pred(0, 0), ref)
        XCTAssertEqual(px(pred(0, 4), 7), 255)                      // one pixel: x 7 reads x 8
        XCTAssertEqual(px(pred(0, -4), 8), 0)
        // dx = 2 (half pixel) at x = 7: taps x-3..x+4 = 4..11: 0 0 0 0 255 255 255 255 with
        // c[2] = -1 4 -11 40 | 40 -11 4 -1: h = 255 * 32 = 8160; (64 * 8160 + 2048) >> 12 = 128.
        XCTAssertEqual(px(pred(0, 2), 7), 128)
        // dx = 1 at x = 7: 255 * (17 - 5 + 1 + 0) = 3315; (64 * 3315 + 2048) >> 12 = 52.
        XCTAssertEqual(px(pred(0, 1), 7), 52)
        // Overshoot is clamped: dx = 1 at x = 8: 255 * (58 + 17 - 5 + 1) = 18105 -> 283 -> 255; at
        // x = 6 the taps 3..10 give 255 * (1 + 0) ... = 255 * (-5 + 1) = -1020 -> -16 -> 0.
        XCTAssertEqual(px(pred(0, 1), 8), 255)
        XCTAssertEqual(px(pred(0, 1), 6), 0)
        // Vertical phases on a horizontal edge are the same numbers (separable, same filters).
        var refT = [UInt8](repeating: 0, count: w * h * 3)
        for y in 0..<h { for x in 0..<w { for ch in 0..<3 { refT[(y * w + x) * 3 + ch] = y < 4 ? 0 : 255 } } }
        let tree = makeBlockTree(width: w, height: h, blocks: [
            PredictionBlock(y: 0, x: 0, size: 64, dy: 2, dx: 0, merge: false, skip: true)])
        XCTAssertEqual(BlockPrediction.predict(reference: refT, tree: tree)[(3 * w + 5) * 3 + 1], 128)
    }

    // MARK: - deblocking

    func testDeblockingMatchesTheLiteralTwoPasses() throws {
        var rng = SplitMix64(seed: 0xDEB_10C)
        let sizes = [(8, 8), (9, 9), (16, 16), (17, 30), (64, 64), (70, 45), (130, 12), (3, 40), (40, 3)]
        var changedTrials = 0, unchangedLines = 0
        for trial in 0..<(3 * sizes.count) {
            let (w, h) = sizes[trial % sizes.count]
            let rec = randomPicture(w, h, smooth: trial % 3 != 2, using: &rng)
            let tiling = randomTiling(width: w, height: h, splitChance: 65, using: &rng)
            let vectors = [0, 1, 3, 4, -4, 5, -8, 100]
            let blocks = tiling.map { t in
                PredictionBlock(y: t.0, x: t.1, size: t.2, dy: vectors[Int.random(in: 0..<vectors.count, using: &rng)],
                                dx: vectors[Int.random(in: 0..<vectors.count, using: &rng)], merge: false,
                                skip: Int.random(in: 0..<4, using: &rng) == 0)
            }
            let tc = [1, 31, 2, Int.random(in: 1...31, using: &rng)][trial % 4]
            let tree = makeBlockTree(width: w, height: h, blocks: blocks, deblock: tc)
            var got = rec
            Deblocking.apply(&got, tree: tree, tc: tc)
            let want = naiveDeblock(rec, width: w, height: h, blocks: blocks, tc: tc)
            XCTAssertEqual(got, want, "\(w) x \(h), trial \(trial), tc \(tc)")
            if got != rec { changedTrials += 1 }
            if trial % 3 == 2 { unchangedLines += zip(got, rec).filter { $0 == $1 }.count }
            // tc = 0: off.
            var off = rec
            Deblocking.apply(&off, tree: tree, tc: 0)
            XCTAssertEqual(off, rec)
        }
        XCTAssertGreaterThan(changedTrials, sizes.count, "the filter changed too few pictures to test anything")
        XCTAssertGreaterThan(unchangedLines, 0)
    }

    func testDeblockingKnownAnswers() throws {
        // Two 8 x 8 blocks side by side (16 x 8), vectors differing by one pixel: a step of 10 at
        // x = 8 is filtered; same vectors (or 3 quarter pixels apart) and same skip: not an edge.
        let w = 16, h = 8
        var rec = [UInt8](repeating: 100, count: w * h * 3)
        for y in 0..<h { for x in 8..<w { for ch in 0..<3 { rec[(y * w + x) * 3 + ch] = 110 } } }
        func run(_ dx2: Int, skip2: Bool = true, tc: Int) -> [UInt8] {
            let blocks = [PredictionBlock(y: 0, x: 0, size: 8, dy: 0, dx: 0, merge: false, skip: true),
                          PredictionBlock(y: 0, x: 8, size: 8, dy: 0, dx: dx2, merge: false, skip: skip2)]
            var r = rec
            Deblocking.apply(&r, tree: makeBlockTree(width: w, height: h, blocks: blocks), tc: tc)
            return r
        }
        // d = clamp(((110 - 100) * 4 + (100 - 110) + 4) >> 3, -tc, tc) = clamp(34 >> 3 = 4, ...)
        let f = run(4, tc: 10)
        XCTAssertEqual(f[(3 * w + 7) * 3], 104)
        XCTAssertEqual(f[(3 * w + 8) * 3], 106)
        XCTAssertEqual(f[(3 * w + 6) * 3], 100)
        // tc = 3: alpha = 12 > |p0 - q0| = 10, d = 4 clamped to 3.
        XCTAssertEqual(run(4, tc: 3)[(3 * w + 7) * 3], 103)
        XCTAssertEqual(run(4, tc: 3)[(3 * w + 8) * 3], 107)
        // tc = 2: alpha = 8 <= |p0 - q0| = 10: the line is left as it is.
        XCTAssertEqual(run(4, tc: 2), rec)
        XCTAssertEqual(run(3, tc: 10), rec, "vectors 3 quarter pixels apart: no edge")
        XCTAssertEqual(run(3, skip2: false, tc: 10)[(3 * w + 7) * 3], 104, "skip flags differ: an edge")
        // A vertical difference of one pixel is an edge too.
        let blocks = [PredictionBlock(y: 0, x: 0, size: 8, dy: 0, dx: 0, merge: false, skip: true),
                      PredictionBlock(y: 0, x: 8, size: 8, dy: -4, dx: 0, merge: false, skip: true)]
        var r = rec
        Deblocking.apply(&r, tree: makeBlockTree(width: w, height: h, blocks: blocks), tc: 10)
        XCTAssertEqual(r, run(4, tc: 10))
        // The filtered samples are p0, q0 only; p1 (x = 6), q1 (x = 9) keep their values.
        XCTAssertEqual(r[(3 * w + 9) * 3], 110)
    }

    // MARK: - parsing

    func testParserReadsExactlyWhatTheWriterWrote() throws {
        let cdf = try tables()
        let codec = InterCodec(tables: cdf)
        var rng = SplitMix64(seed: 0x9A45_E4)
        let sizes = [(1, 1), (8, 8), (9, 7), (64, 64), (65, 65), (53, 37), (150, 70), (200, 17), (16, 130)]
        var merges = 0, twoCands = 0, skips = 0, sizesSeen = Set<Int>()
        for trial in 0..<(4 * sizes.count) {
            let (w, h) = sizes[trial % sizes.count]
            let mode: UInt8 = trial % 2 == 0 ? 4 : 5
            let table = [0, cdf.numTables - 1, Int.random(in: 0..<cdf.numTables, using: &rng)][trial % 3]
            let wr = randomBlockTree(width: w, height: h, mode: mode, mvTable: table, cdf: cdf,
                                     deblock: Int.random(in: 0...31, using: &rng), diffRadius: 40,
                                     splitChance: [30, 60, 85][trial % 3], using: &rng)
            let residual: [UInt8] = mode == 5 ? [1, 2, 3] : []
            let lanes = [nil, 1, 2, 7][trial % 4]
            let p = wr.payload(lanes: lanes, residual: residual)
            let (parsed, rest) = try codec.parse(payload: p[...], width: w, height: h)
            let tree = try XCTUnwrap(parsed.blockTree)
            XCTAssertEqual(parsed.mode.rawValue, mode)
            XCTAssertEqual(parsed.mvTable, table)
            XCTAssertEqual(tree.blocks, wr.predictionBlocks, "\(w) x \(h) trial \(trial)")
            XCTAssertEqual(tree.parameters.splitFrequencies, Array(wr.freqs[0..<3]))
            XCTAssertEqual([tree.parameters.mergeFrequency, tree.parameters.mergeIndexFrequency,
                            tree.parameters.skipFrequency], Array(wr.freqs[3..<6]))
            XCTAssertEqual(tree.parameters.deblock, wr.deblock)
            XCTAssertEqual(Array(rest), residual)
            XCTAssertEqual([parsed.blocksY, parsed.blocksX], [(h + 7) / 8, (w + 7) / 8])
            // The unit field: each 8 x 8 unit carries its block's vector.
            for i in 0..<parsed.blocksY {
                for j in 0..<parsed.blocksX {
                    let b = try XCTUnwrap(wr.blockAt(8 * i, 8 * j))
                    XCTAssertEqual(parsed.motion[(i * parsed.blocksX + j) * 2], Int32(b.dy))
                    XCTAssertEqual(parsed.motion[(i * parsed.blocksX + j) * 2 + 1], Int32(b.dx))
                }
            }
            for b in wr.blocks {
                if b.merge { merges += 1 }
                if b.skip && mode == 5 { skips += 1 }
                sizesSeen.insert(b.size)
                if wr.candidates(b.y, b.x, b.size).cands.count == 2 { twoCands += 1 }
            }
        }
        XCTAssertEqual(sizesSeen, [8, 16, 32, 64])
        XCTAssertGreaterThan(merges, 50)
        XCTAssertGreaterThan(twoCands, 50)
        XCTAssertGreaterThan(skips, 20)
    }

    func testMergeCandidatesAndMedianPredictor() throws {
        // 32 x 16: the CTU split to 32, the 32 to 16s, the top-left 16 to 8s. Hand-checked:
        // (0,0) 8: no neighbours, mvp (0,0) + (5,-3).
        // (0,8) 8: A = (5,-3), B off the picture: candidates [(5,-3), (0,0)], merge index 1 -> (0,0).
        // (8,0) 8: A off, B = (0,0)'s block (5,-3), D off: median of (0,0), (5,-3), (0,0) = (0,0), + (1,1).
        // (8,8) 8: A = (1,1), B = (0,0), D = (5,-3): median (1, 0), + (0,0).
        // (0,16) 16: A = (0,0) [the (0,8) block], B off: candidates [(0,0)] only, no index read.
        let cdf = try tables()
        let t = cdf.numTables - 1
        let choices: [BlockTreeWriter.PBChoice] = [
            .init(merge: false, mergeIndex: 0, diff: (5, -3), skip: true),
            .init(merge: true, mergeIndex: 1, diff: (0, 0), skip: true),
            .init(merge: false, mergeIndex: 0, diff: (1, 1), skip: true),
            .init(merge: false, mergeIndex: 0, diff: (0, 0), skip: true),
            .init(merge: true, mergeIndex: 1, diff: (0, 0), skip: true),
        ]
        var wr = BlockTreeWriter(width: 32, height: 16, mode: 4, mvTable: t, cdf: cdf,
                                 freqs: [30000, 30000, 30000, 30000, 30000, 30000], deblock: 0)
        var n = 0
        wr.write(split: { y, x, size, _ in size > 16 || (y == 0 && x == 0) },
                 block: { _, _, _, _, _ in defer { n += 1 }; return choices[n] })
        let got = wr.predictionBlocks.map { [$0.y, $0.x, $0.size, $0.dy, $0.dx] }
        XCTAssertEqual(got, [[0, 0, 8, 5, -3], [0, 8, 8, 0, 0], [8, 0, 8, 1, 1], [8, 8, 8, 1, 0], [0, 16, 16, 0, 0]])
        // 3 splits (64, 32, the (0,0) 16) + the (0,16) 16's 0, then per block: merge + 2 / index / skip.
        XCTAssertEqual(wr.symbols.count, 4 + 3 + 2 + 3 + 3 + 1)
        let (parsed, rest) = try InterCodec(tables: cdf).parse(payload: wr.payload()[...], width: 32, height: 16)
        XCTAssertEqual(try XCTUnwrap(parsed.blockTree).blocks, wr.predictionBlocks)
        XCTAssertTrue(rest.isEmpty)
        XCTAssertEqual(parsed.motion, [5, -3, 0, 0, 0, 0, 0, 0,  1, 1, 1, 0, 0, 0, 0, 0])
    }

    // MARK: - hostile payloads

    private func assertCorrupt(_ what: String, containing message: String? = nil, file: StaticString = #filePath,
                               line: UInt = #line, _ body: () throws -> Void) {
        do {
            try body()
            XCTFail("\(what): expected corrupt_stream, nothing thrown", file: file, line: line)
        } catch let e as MLVCError {
            XCTAssertEqual(e.code, "corrupt_stream", "\(what): \(e)", file: file, line: line)
            if let message {
                XCTAssertTrue(e.message.contains(message), "\(what): \(e) lacks \"\(message)\"", file: file, line: line)
            }
        } catch {
            XCTFail("\(what): expected MLVCError, got \(error)", file: file, line: line)
        }
    }

    func testEveryNewCheckIsACorruptStream() throws {
        let cdf = try tables()
        let codec = InterCodec(tables: cdf)
        var rng = SplitMix64(seed: 0x4057_11E)
        let (w, h) = (72, 40)
        for mode: UInt8 in [4, 5] {
            let wr = randomBlockTree(width: w, height: h, mode: mode, mvTable: 7, cdf: cdf, deblock: 9,
                                     diffRadius: 5, using: &rng)
            let residual: [UInt8] = mode == 5 ? [9, 9] : []
            let good = wr.payload(residual: residual)
            func parse(_ p: [UInt8]) throws { _ = try codec.parse(payload: p[...], width: w, height: h) }
            XCTAssertNoThrow(try parse(good))
            // Every frequency 0 (f_skip too in mode 4: checked in both).
            for i in 0..<6 {
                var p = good; p[2 + 2 * i] = 0; p[3 + 2 * i] = 0
                assertCorrupt("mode \(mode): frequency \(i) = 0", containing: "frequency") { try parse(p) }
            }
            for d: UInt8 in [32, 100, 255] {
                var p = good; p[14] = d
                assertCorrupt("mode \(mode): deblock \(d)", containing: "deblocking") { try parse(p) }
            }
            var p31 = good; p31[14] = 31
            XCTAssertNoThrow(try parse(p31))
            for t in [cdf.numTables, 255] {
                var p = good; p[1] = UInt8(t)
                assertCorrupt("mode \(mode): table \(t)", containing: "table") { try parse(p) }
            }
            // S longer than the payload (by one byte, and huge).
            let s = Int(readU32(good, 15))
            for bad in [UInt32(good.count - 19 + 1), UInt32(s + residual.count + 1), 0xFFFF_FFFF] {
                var p = good; p.replaceSubrange(15..<19, with: Golden.le32(bad))
                assertCorrupt("mode \(mode): S = \(bad)", containing: "longer than the payload") { try parse(p) }
            }
            // Every header prefix.
            for n in 0..<19 {
                assertCorrupt("mode \(mode): \(n)-byte payload") { try parse(Array(good.prefix(n))) }
            }
            // The substream ends early: one word less (lengths kept consistent).
            let sub = Array(good[19..<(19 + s)])
            let words = Int(readU32(sub, 2))
            if words > 0 {
                var short = Array(sub.dropLast(2))
                short.replaceSubrange(2..<6, with: Golden.le32(UInt32(words - 1)))
                let p = Array(good[0..<15]) + Golden.le32(UInt32(short.count)) + short + residual
                assertCorrupt("mode \(mode): one word short") { try parse(p) }
            }
            // A substream coding fewer symbols than the syntax reads, or more.
            for cut in [1, 2, 5] where wr.symbols.count > cut {
                let fewer = ransEncodeSymbols(Array(wr.symbols.dropLast(cut)), lanes: 1)
                let p = Array(good[0..<15]) + Golden.le32(UInt32(fewer.count)) + fewer + residual
                assertCorrupt("mode \(mode): \(cut) symbols missing") { try parse(p) }
            }
            let more = ransEncodeSymbols(wr.symbols + [.binary(0, 5), .binary(1, 7)], lanes: 1)
            assertCorrupt("mode \(mode): two symbols too many") {
                try parse(Array(good[0..<15]) + Golden.le32(UInt32(more.count)) + more + residual)
            }
            // An empty substream (no lanes) where the syntax needs symbols.
            assertCorrupt("mode \(mode): empty substream") {
                try parse(Array(good[0..<15]) + Golden.le32(6) + [0, 0, 0, 0, 0, 0] + residual)
            }
        }
        // Bytes after a mode-4 payload; a mode-5 payload keeps them as its residual.
        let wr4 = randomBlockTree(width: w, height: h, mode: 4, mvTable: 3, cdf: cdf, deblock: 0, diffRadius: 3, using: &rng)
        assertCorrupt("mode 4 with a trailing byte", containing: "residual bytes") {
            _ = try codec.parse(payload: wr4.payload(residual: [0])[...], width: w, height: h)
        }
        // Unknown modes beyond 5.
        for m: UInt8 in [6, 7, 8, 128, 255] {
            var p = wr4.payload(); p[0] = m
            assertCorrupt("mode \(m)", containing: "unknown inter mode") {
                _ = try codec.parse(payload: p[...], width: w, height: h)
            }
        }
    }

    func testAVectorOutsideTheRangeIsCorrupt() throws {
        // Differences of +radius on every block of an 8 x 8 grid: the median grows along the
        // diagonal until a component passes 2047 (or, negative, -2048).
        let cdf = try tables()
        let t = cdf.numTables - 1, r = Int(cdf.radius[t])
        for sign in [1, -1] {
            for mode: UInt8 in [4, 5] {
                var wr = BlockTreeWriter(width: 128, height: 128, mode: mode, mvTable: t, cdf: cdf,
                                         freqs: [100, 100, 100, 100, 100, 100], deblock: 0)
                wr.write(split: { _, _, _, _ in true },
                         block: { _, _, _, _, _ in .init(merge: false, mergeIndex: 0, diff: (sign * r, 0), skip: false) })
                XCTAssertTrue(wr.outOfRange, "radius \(r): no vector left the range")
                assertCorrupt("sign \(sign) mode \(mode)", containing: "outside -2048..2047") {
                    _ = try InterCodec(tables: cdf).parse(payload: wr.payload(residual: mode == 5 ? [1] : [])[...],
                                                          width: 128, height: 128)
                }
                // The same tree stopping one difference short of leaving the range parses.
                var ok = BlockTreeWriter(width: 128, height: 128, mode: mode, mvTable: t, cdf: cdf,
                                         freqs: [100, 100, 100, 100, 100, 100], deblock: 0)
                ok.write(split: { _, _, _, _ in true },
                         block: { _, _, _, _, mvp in
                             let lim = sign > 0 ? 2047 : -2048
                             let d = sign > 0 ? min(r, lim - mvp.0) : max(-r, lim - mvp.0)
                             return .init(merge: false, mergeIndex: 0, diff: (d, 0), skip: false)
                         })
                XCTAssertFalse(ok.outOfRange)
                let (parsed, _) = try InterCodec(tables: cdf).parse(payload: ok.payload(residual: mode == 5 ? [1] : [])[...],
                                                                    width: 128, height: 128)
                XCTAssertTrue(try XCTUnwrap(parsed.blockTree).blocks.contains { $0.dy == (sign > 0 ? 2047 : -2048) })
            }
        }
    }

    func testDamagedPayloadsNeverTrap() throws {
        let cdf = try tables()
        let codec = InterCodec(tables: cdf)
        var rng = SplitMix64(seed: 0xF422)
        var failures = 0, trials = 0
        for (w, h) in [(40, 24), (1, 1), (70, 9)] {
            for mode: UInt8 in [4, 5] {
                let wr = randomBlockTree(width: w, height: h, mode: mode, mvTable: cdf.numTables - 1, cdf: cdf,
                                         deblock: 3, diffRadius: 255, using: &rng)
                let good = wr.payload(residual: mode == 5 ? [7] : [])
                for _ in 0..<150 {
                    var p = good
                    for _ in 0..<Int.random(in: 1...3, using: &rng) {
                        p[Int.random(in: 0..<p.count, using: &rng)] ^= UInt8.random(in: 1...255, using: &rng)
                    }
                    trials += 1
                    do { _ = try codec.parse(payload: p[...], width: w, height: h) } catch let e as MLVCError {
                        XCTAssertEqual(e.code, "corrupt_stream", "\(e)")
                        failures += 1
                    }
                }
            }
        }
        XCTAssertGreaterThan(failures, trials / 3)
    }

    // MARK: - whole streams

    /// A stream of the golden I-frame (and the residual payloads) of `name` followed by P-frames
    /// built here, each record's MD5 the picture the literal transcriptions give.
    private struct Built {
        var bytes: [UInt8]
        var pictures: [[UInt8]]
        var trees: [[PredictionBlock]]
    }

    private func build(_ s: Golden.StreamEntry, frames: [Golden.Frame], frameSpecs: [(mode: UInt8, residualOf: Int?, tc: Int)],
                       using rng: inout SplitMix64) throws -> Built {
        let package = try Golden.package()
        let cdf = package.tables
        let golden = try Golden.bytes(s.stream)
        let w = s.width, h = s.height
        var header = Array(golden[0..<s.header_bytes])
        header[5] = 1                                           // bitstream 1.1
        Mutator.put32(&header, 52, UInt32(1 + frameSpecs.count))
        fixHeaderCRC(&header)
        let first = Array(golden[s.header_bytes..<Golden.recordOffset(s, 1)])
        var out = header + first
        // Frame 0's picture: the golden I-frame (image + 128).
        let p0 = try XCTUnwrap(frames[0].payload)
        let pw0 = p0.imageShape[2]
        var picture = [UInt8](repeating: 0, count: w * h * 3)
        for y in 0..<h { for x in 0..<w { for ch in 0..<3 { picture[(y * w + x) * 3 + ch] = UInt8(Int(p0.image[(y * pw0 + x) * 3 + ch]) + 128) } } }
        var pictures = [picture], trees = [[PredictionBlock]]()
        for spec in frameSpecs {
            let wr = randomBlockTree(width: w, height: h, mode: spec.mode, mvTable: Int.random(in: 30..<cdf.numTables, using: &rng),
                                     cdf: cdf, deblock: spec.tc, diffRadius: 24, splitChance: 55, using: &rng)
            var residualBytes = [UInt8](), quality = s.frames[0].quality
            var pred = naiveBlockTreePrediction(picture, width: w, height: h, blocks: wr.predictionBlocks)
            if let k = spec.residualOf {
                let off = Golden.recordOffset(s, k) + Container.recordHeaderSize
                let payload = Array(golden[off..<(off + s.frames[k].payload_bytes)])
                residualBytes = Array(payload[(InterCodec.headerSize + Int(readU32(payload, 2)))...])
                quality = s.frames[k].quality
                let gp = try XCTUnwrap(frames[k].payload)
                let pw = gp.imageShape[2]
                for b in wr.blocks where !b.skip {
                    for y in b.y..<min(b.y + b.size, h) {
                        for x in b.x..<min(b.x + b.size, w) {
                            for ch in 0..<3 {
                                let o = (y * w + x) * 3 + ch
                                pred[o] = UInt8(min(max(Int(pred[o]) + Int(gp.image[(y * pw + x) * 3 + ch]), 0), 255))
                            }
                        }
                    }
                }
            }
            picture = naiveDeblock(pred, width: w, height: h, blocks: wr.predictionBlocks, tc: spec.tc)
            pictures.append(picture)
            trees.append(wr.predictionBlocks)
            let payload = wr.payload(residual: residualBytes)
            var rec: [UInt8] = [0x50, UInt8(quality), 0, 0] + Golden.le32(UInt32(payload.count)) + MD5.hash(picture)
            rec += Golden.le32(CRC32.update(CRC32.checksum(rec[...]), payload[...]))
            out += rec + payload
        }
        return Built(bytes: out, pictures: pictures, trees: trees)
    }

    func testBlockTreeStreamsDecodeToTheLiteralPictures() throws {
        let package = try Golden.package()
        var rng = SplitMix64(seed: 0x5_7EA3)
        var checked = 0, withResidual = 0
        for s in try Golden.streams() {
            let frames = try Golden.frames(of: s, alignment: package.alignment)
            let residualFrames = s.frames.indices.filter { s.frames[$0].type == "P" && s.frames[$0].hasIntraPayload }
            var specs: [(mode: UInt8, residualOf: Int?, tc: Int)] = [(4, nil, 0), (4, nil, 12), (4, nil, 31)]
            for k in residualFrames { specs.insert((5, k, [7, 0, 20][k % 3]), at: 1) }
            let built = try build(s, frames: frames, frameSpecs: specs, using: &rng)
            let decoder = try Decoder(data: Data(built.bytes), package: package, network: LookupNetworkRunner(frames: frames))
            XCTAssertEqual(decoder.header.versionMinor, 1)
            var inter = [Int: ParsedInterFrame]()
            decoder.onParsedInter = { inter[$0] = $1 }
            let decoded = try decoder.decodeAll()
            XCTAssertEqual(decoded.count, specs.count + 1, s.name)
            for (i, f) in decoded.enumerated() {
                XCTAssertTrue(f.verified, "\(s.name) frame \(i)")
                XCTAssertEqual(f.rgb, built.pictures[i], "\(s.name) frame \(i)")
                if i > 0 {
                    let m = try XCTUnwrap(inter[i])
                    XCTAssertEqual(m.mode.rawValue, specs[i - 1].mode)
                    XCTAssertEqual(m.blockTree?.blocks, built.trees[i - 1])
                    XCTAssertEqual(m.blockTree?.parameters.deblock, specs[i - 1].tc)
                    if specs[i - 1].mode == 5 { withResidual += 1 }
                }
                checked += 1
            }
            // Streamed input decodes the same pictures.
            var offset = 0
            let bytes = built.bytes
            let streamed = try Decoder(package: package, network: LookupNetworkRunner(frames: frames)) { n in
                let end = min(offset + n, bytes.count)
                defer { offset = end }
                return Data(bytes[offset..<end])
            }.decodeAll()
            XCTAssertEqual(streamed.map(\.rgb), built.pictures, s.name)
        }
        XCTAssertGreaterThan(checked, 15)
        XCTAssertGreaterThanOrEqual(withResidual, 2, "no golden residual to build mode-5 frames from")
    }

    func testAWrongPictureOrAHostileBlockTreeFailsTheStream() throws {
        let package = try Golden.package()
        var rng = SplitMix64(seed: 0xBAD_7EE)
        let s = try XCTUnwrap(try Golden.streams().first { $0.frames.contains { $0.type == "P" && $0.hasIntraPayload } })
        let frames = try Golden.frames(of: s, alignment: package.alignment)
        let k = try XCTUnwrap(s.frames.firstIndex { $0.type == "P" && $0.hasIntraPayload })
        let built = try build(s, frames: frames, frameSpecs: [(5, k, 9), (4, nil, 4)], using: &rng)
        func decode(_ b: [UInt8], verify: Bool = true) throws -> [DecodedFrame] {
            try Decoder(data: Data(b), options: try DecoderOptions(verifyHashes: verify), package: package,
                        network: LookupNetworkRunner(frames: frames)).decodeAll()
        }
        XCTAssertEqual(try decode(built.bytes).map(\.rgb), built.pictures)
        // Deblocking off (CRC fixed): a different picture, a hash mismatch.
        let p = Golden.recordOffset(s, 1) + Container.recordHeaderSize
        var b = built.bytes
        b[p + 14] = 0
        Mutator.fixCRCs(&b)
        let off = try decode(b, verify: false)
        XCTAssertNotEqual(off[1].rgb, built.pictures[1], "deblocking changed nothing in this picture")
        assertThrowsKind("hash_mismatch", "deblock changed") { try decode(b) }
        // Deblock above 31 / a zero frequency / mode 6: corrupt after one frame.
        for (off, v) in [(14, UInt8(32)), (2, 0), (0, 6)] {
            var c = built.bytes
            c[p + off] = v
            if off == 2 { c[p + 3] = 0 }
            Mutator.fixCRCs(&c)
            let dec = try Decoder(data: Data(c), package: package, network: LookupNetworkRunner(frames: frames))
            XCTAssertNotNil(try dec.next())
            assertThrowsKind("corrupt_stream", "byte \(off) = \(v)") { try dec.next() }
        }
        // Every truncation: corrupt, never a trap.
        for n in stride(from: 0, to: built.bytes.count, by: 5) {
            assertThrowsKind("corrupt_stream", "prefix \(n)") { try decode(Array(built.bytes[0..<n])) }
        }
    }
}
