import Foundation
import XCTest
@testable import MLVC

/// The block-tree golden clips (`conformance/golden/blocktree.json`, golden.py TREE_CLIPS: modes 4
/// and 5 of docs/bitstream.md §4c) decoded with the recorded network outputs: per P-frame the
/// header fields, every decoded block (`.pbs.i32`), the prediction (`.pred.u8`), the picture
/// before deblocking (`.prefilter.u8`), the deblocked picture and its MD5, each checked both
/// against the decoder and against the literal transcriptions of the formulas.
final class BlockTreeGoldenTests: XCTestCase {
    struct TreeFrameEntry: Decodable {
        let type: String
        let mode: Int?
        let mv_table: Int?
        let f_split: [Int]?
        let f_merge: Int?
        let f_midx: Int?
        let f_skip: Int?
        let deblock: Int?
        let substream_bytes: Int?
        let pbs_shape: [Int]?
    }

    struct TreeStreamEntry: Decodable {
        let name: String
        let frames: [TreeFrameEntry]
    }

    static func clips() throws -> ([Golden.StreamEntry], [TreeStreamEntry]) {
        let url = Golden.dir.appendingPathComponent("blocktree.json")
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw goldenMissing("conformance/golden/blocktree.json (the block-tree clips)")
        }
        let d = try Data(contentsOf: url)
        return (try JSONDecoder().decode([Golden.StreamEntry].self, from: d),
                try JSONDecoder().decode([TreeStreamEntry].self, from: d))
    }

    func testEveryBlockTreeClipDecodesBitExactly() throws {
        let package = try Golden.package()
        let (streams, trees) = try BlockTreeGoldenTests.clips()
        XCTAssertFalse(streams.isEmpty)
        var modes = Set<Int>(), sizes = Set<Int>(), phases = Set<Int>()
        var merges = Set<Int>(), skipMixed = 0, deblocked = 0, checkedP = 0
        for (s, t) in zip(streams, trees) {
            let frames = try Golden.frames(of: s, alignment: package.alignment)
            let runner = GoldenNetworkRunner(frames: frames)
            let decoder = try Decoder(data: Golden.data(s.stream), package: package, network: runner)
            var parsed = [Int: ParsedIntraFrame]()
            var inter = [Int: ParsedInterFrame]()
            decoder.onParsed = { parsed[$0] = $1 }
            decoder.onParsedInter = { inter[$0] = $1 }
            let decoded = try decoder.decodeAll()
            XCTAssertEqual(decoded.count, s.frames.count, s.name)
            let coded = s.frames.filter(\.hasIntraPayload).count
            XCTAssertEqual(runner.hsCalls, coded, s.name)
            XCTAssertEqual(runner.gsCalls, coded, s.name)
            let bytes = try Golden.bytes(s.stream)
            let w = s.width, h = s.height
            var previous: [UInt8]?
            for (i, f) in decoded.enumerated() {
                let what = "\(s.name) frame \(i)"
                let g = frames[i], te = t.frames[i]
                XCTAssertTrue(f.verified, what)
                XCTAssertEqual(Hex.encode(f.md5), g.entry.md5, what)
                if let gp = g.payload {
                    let p = try XCTUnwrap(parsed[i], what)
                    XCTAssertEqual(p.zHat, gp.z, "\(what): z")
                    XCTAssertEqual(p.tableIndex, gp.tableIndex, "\(what): table indices")
                    XCTAssertEqual(p.ySymbols, gp.ySymbols, "\(what): latent symbols")
                    XCTAssertEqual(p.yHat, gp.yHat, "\(what): y_hat")
                } else {
                    XCTAssertNil(parsed[i], what)
                }
                defer { previous = f.rgb }
                guard f.frameType == .inter else { continue }
                let m = try XCTUnwrap(inter[i], what)
                let tree = try XCTUnwrap(m.blockTree, "\(what): not a block tree")
                XCTAssertEqual(Int(m.mode.rawValue), te.mode, "\(what): mode")
                modes.insert(Int(m.mode.rawValue))
                XCTAssertEqual(m.mvTable, te.mv_table, "\(what): mv_table")
                XCTAssertEqual(tree.parameters.splitFrequencies, te.f_split, what)
                XCTAssertEqual(tree.parameters.mergeFrequency, te.f_merge, what)
                XCTAssertEqual(tree.parameters.mergeIndexFrequency, te.f_midx, what)
                XCTAssertEqual(tree.parameters.skipFrequency, te.f_skip, what)
                XCTAssertEqual(tree.parameters.deblock, te.deblock, what)
                let off = Golden.recordOffset(s, i) + Container.recordHeaderSize
                XCTAssertEqual(Int(readU32(bytes, off + 15)), te.substream_bytes, "\(what): S")
                // Blocks: y0, x0, size, dy, dx, skip, merge, merge index per row.
                let rows = try Golden.i32("\(s.name).f\(i).pbs.i32").map(Int.init)
                XCTAssertEqual(te.pbs_shape, [tree.blocks.count, 8], what)
                let got = tree.blocks.flatMap { [$0.y, $0.x, $0.size, $0.dy, $0.dx, $0.skip ? 1 : 0, $0.merge ? 1 : 0, $0.mergeIndex] }
                XCTAssertEqual(got, rows, "\(what): blocks differ from .pbs.i32")
                for b in tree.blocks {
                    sizes.insert(b.size)
                    phases.insert((b.dy & 3) << 2 | (b.dx & 3))
                    if b.merge { merges.insert(b.mergeIndex) }
                }
                if Set(tree.blocks.map(\.skip)).count == 2 { skipMixed += 1 }
                // Prediction: the decoder's and the literal formula's, against .pred.u8.
                let ref = try XCTUnwrap(previous, what)
                let pred = try Golden.bytes("\(s.name).f\(i).pred.u8")
                XCTAssertEqual(BlockPrediction.predict(reference: ref, tree: tree), pred, "\(what): prediction")
                XCTAssertEqual(naiveBlockTreePrediction(ref, width: w, height: h, blocks: tree.blocks), pred,
                               "\(what): literal prediction")
                // Before deblocking: the prediction, + the recorded residual in blocks without skip.
                var prefilter = pred
                if let gp = g.payload {
                    let pw = gp.imageShape[2]
                    for b in tree.blocks where !b.skip {
                        for y in b.y..<min(b.y + b.size, h) {
                            for x in b.x..<min(b.x + b.size, w) {
                                for ch in 0..<3 {
                                    let o = (y * w + x) * 3 + ch
                                    prefilter[o] = UInt8(min(max(Int(pred[o]) + Int(gp.image[(y * pw + x) * 3 + ch]), 0), 255))
                                }
                            }
                        }
                    }
                }
                XCTAssertEqual(prefilter, try Golden.bytes("\(s.name).f\(i).prefilter.u8"), "\(what): before deblocking")
                // Deblocking: the decoder's picture is the literal two passes on the prefilter picture.
                XCTAssertEqual(f.rgb, naiveDeblock(prefilter, width: w, height: h, blocks: tree.blocks,
                                                   tc: tree.parameters.deblock), "\(what): deblocked picture")
                if tree.parameters.deblock > 0 && f.rgb != prefilter { deblocked += 1 }
                checkedP += 1
            }
        }
        XCTAssertGreaterThan(checkedP, 0)
        XCTAssertEqual(modes, [4, 5], "the clips should have both block-tree modes")
        print("BlockTreeGoldenTests: \(checkedP) P-frames; block sizes \(sizes.sorted()), \(phases.count) of 16 phases, "
              + "merge indices \(merges.sorted()), \(skipMixed) frames with mixed skip, \(deblocked) changed by deblocking")
    }
}
