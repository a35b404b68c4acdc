import Foundation
import XCTest
@testable import MLVC

/// Seeded mutation fuzzing of the whole decoder (the Swift counterpart of
/// `sdk/mlvc/conformance/fuzz.py`). Every mutant of every golden stream must decode cleanly or
/// throw an `MLVCError` of a kind a stream can cause, within `timeLimit`. On a phone a trap
/// (overflow, bad index, failed precondition) kills the app, so here it kills the test process.
final class FuzzTests: XCTestCase {
    static let seed: UInt64 = 0x4D4C_5643_F022_0001
    static let mutantsPerStream = 300
    /// Seconds per mutant before it counts as a hang.
    static let timeLimit = 3.0
    /// What a hostile stream may legitimately cause. `backend` / `invalidArgument` cannot come
    /// from stream bytes with `FuzzNetworkRunner` (it never fails), so they are failures here.
    static let streamErrorKinds: Set<String> = ["corrupt_stream", "unsupported", "model", "hash_mismatch"]

    func testMutantsOfEveryGoldenStreamDecodeOrThrowTypedErrors() throws {
        let package = try Golden.package()
        // The grid clips (index.json) and the block-tree clips (blocktree.json, modes 4/5).
        let streams = try Golden.streams() + BlockTreeGoldenTests.clips().0
        XCTAssertFalse(streams.isEmpty)
        var payloads = [Golden.Payload]()
        for s in streams { payloads += try Golden.frames(of: s, alignment: package.alignment).compactMap(\.payload) }
        let runner = FuzzNetworkRunner(recorded: payloads, package: package)
        // The runner must answer the unmutated streams from the recordings alone.
        for s in streams {
            let frames = try Decoder(data: Golden.data(s.stream), package: package, network: runner).decodeAll()
            XCTAssertEqual(frames.count, s.frames.count, s.name)
        }
        XCTAssertEqual(runner.synthesised, 0, "golden streams needed synthesised network outputs")
        try fuzz(streams, package: package, runner: runner, schedule: Mutator.schedule,
                 perStream: FuzzTests.mutantsPerStream, seed: FuzzTests.seed, title: "FuzzTests")
    }

    /// A legal package whose z tables are the widest ones (radius 255 in the golden family): z
    /// symbols then reach -255...255, outside int8. The decoder must take them modulo 256, as the
    /// Python reference (`astype(np.int8)`) and the Kotlin port (`toByte()`) do, not trap.
    func testRecodedStreamsWithWideZTablesDecodeOrThrowTypedErrors() throws {
        let p = try Golden.package()
        let widest = Int32(p.tables.radius.indices.max { p.tables.radius[$0] < p.tables.radius[$1] }!)
        XCTAssertGreaterThan(p.tables.radius[Int(widest)], 127, "no table wider than int8 to test with")
        let wide = [Int32](repeating: widest, count: p.hyperChannels)
        let package = try ModelPackage(modelID: p.modelID, modelHash: p.modelHash, levels: p.levels, yExp: p.yExp,
                                       alignment: p.alignment, latentChannels: p.latentChannels,
                                       hyperChannels: p.hyperChannels, tablesPerOctave: p.tablesPerOctave,
                                       zTableIndex: wide, residualZTableIndex: p.hasResidualNetworks ? wide : nil,
                                       residualLatentChannels: p.hasResidualNetworks ? p.residualLatentChannels : nil,
                                       maxWidth: p.maxWidth, maxHeight: p.maxHeight, tables: p.tables)
        let runner = FuzzNetworkRunner(recorded: [], package: package)
        try fuzz(try Golden.streams(), package: package, runner: runner, schedule: [.recode], perStream: 12,
                 seed: FuzzTests.seed ^ 0x5A, title: "FuzzTests (wide z tables)")
    }

    /// Decodes `perStream` mutants of each stream (kinds in `schedule` order), asserts each outcome
    /// and prints a one-line summary.
    func fuzz(_ streams: [Golden.StreamEntry], package: ModelPackage, runner: FuzzNetworkRunner,
              schedule: [Mutator.Kind], perStream: Int, seed: UInt64, title: String) throws {
        let started = Date()
        let verifying = try DecoderOptions(), unverified = try DecoderOptions(verifyHashes: false)
        var outcomes = [String: Int]()
        var mutants = 0, unverifiedFrames = 0, slowest = 0.0, recodedMutants = 0, recodedClean = 0
        let synthesisedBefore = runner.synthesised
        let shared = DecodeOutcome()
        for s in streams {
            let original = try Golden.bytes(s.stream)
            // The generator gets its own runner (same deterministic answers): the counts stay the decoder's.
            var mutator = Mutator(stream: s, original: original, package: package,
                                  network: FuzzNetworkRunner(recorded: runner.recorded, latentChannels: runner.latentChannels),
                                  schedule: schedule, rng: SplitMix64(seed: seed ^ UInt64(s.name.hashValueFNV)))
            for i in 0..<perStream {
                let m = try mutator.mutant(i)
                let (mutant, what, verify) = (m.bytes, m.what, m.verify)
                let label = "\(title): \(s.name) mutant \(i) [\(what)\(verify ? "" : ", verification off")]"
                // Decode on another thread so that a hang is reported instead of blocking the suite.
                let done = DispatchSemaphore(value: 0)
                let t0 = Date()
                DispatchQueue.global().async {
                    shared.set(Self.decode(mutant, options: verify ? verifying : unverified,
                                           package: package, runner: runner))
                    done.signal()
                }
                guard done.wait(timeout: .now() + FuzzTests.timeLimit) == .success else {
                    // The decoder is still running on its thread: stop fuzzing, it cannot be cancelled.
                    XCTFail("\(label): no result after \(FuzzTests.timeLimit) s (hang)")
                    return
                }
                slowest = max(slowest, Date().timeIntervalSince(t0))
                mutants += 1
                if m.recoded { recodedMutants += 1 }
                switch shared.value {
                case .decoded(let n, let unverifiedCount):
                    outcomes["clean", default: 0] += 1
                    unverifiedFrames += unverifiedCount
                    if m.recoded {
                        recodedClean += 1
                        XCTAssertEqual(n, s.frames.count, "\(label): frames decoded")
                    }
                case .typed(let e):
                    // A recoded stream without a planted defect is valid: it must decode.
                    XCTAssertFalse(m.mustDecode, "\(label): a valid recoded stream failed: \(e)")
                    outcomes[e.code, default: 0] += 1
                    XCTAssertTrue(FuzzTests.streamErrorKinds.contains(e.code), "\(label): unexpected kind: \(e)")
                case .untyped(let e):
                    outcomes["untyped", default: 0] += 1
                    XCTFail("\(label): threw a non-MLVCError \(type(of: e)): \(e)")
                case nil:
                    XCTFail("\(label): no outcome recorded")
                }
            }
        }
        XCTAssertEqual(mutants, streams.count * perStream)
        // Hostile symbols must get past the networks: some calls were answered with synthesised outputs.
        XCTAssertGreaterThan(runner.synthesised, synthesisedBefore, "\(title): no mutant reached a network")
        XCTAssertGreaterThan(recodedClean, 0, "\(title): no recoded mutant decoded")
        let kinds = outcomes.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        print("\(title): \(mutants) mutants of \(streams.count) streams (seed 0x\(String(seed, radix: 16))): "
              + "\(kinds) (recoded: \(recodedClean) of \(recodedMutants) clean); \(unverifiedFrames) unverified "
              + "frames decoded; network calls: \(runner.recordedAnswers) recorded, \(runner.synthesised) synthesised; "
              + "slowest mutant \(String(format: "%.3f", slowest)) s, total "
              + "\(String(format: "%.1f", Date().timeIntervalSince(started))) s")
    }

    /// The whole stream through the public API, as an app would.
    static func decode(_ bytes: [UInt8], options: DecoderOptions, package: ModelPackage,
                       runner: NetworkRunner) -> DecodeOutcome.Value {
        do {
            let frames = try Decoder(data: Data(bytes), options: options, package: package, network: runner).decodeAll()
            return .decoded(frames.count, frames.filter { !$0.verified }.count)
        } catch let e as MLVCError {
            return .typed(e)
        } catch {
            return .untyped(error)
        }
    }

    func testCRCFixingMatchesTheSpec() throws {
        // A fixed-CRC copy of a golden stream is the stream itself (header CRC and every record CRC).
        for s in try Golden.streams() {
            let b = try Golden.bytes(s.stream)
            var c = b
            Mutator.fixCRCs(&c)
            XCTAssertEqual(c, b, s.name)
            var d = b
            d[60] ^= 1
            d[Golden.recordOffset(s, 0) + 24] ^= 1
            Mutator.fixCRCs(&d)
            XCTAssertEqual(d, b, "\(s.name): CRCs recomputed")
        }
    }
}

/// The result of one decode, handed from the decoding thread to the test thread (the semaphore
/// orders the accesses).
final class DecodeOutcome {
    enum Value {
        case decoded(Int, Int)       // frames, of which unverified
        case typed(MLVCError)
        case untyped(Error)
    }
    private(set) var value: Value?
    func set(_ v: Value) { value = v }
}

/// Seeded stream mutations. Byte-level kinds follow fuzz.py; half of those mutants get their CRCs
/// recomputed so that the checks behind them (record layout, rANS, parse path) are reached.
/// Almost no byte mutation survives the rANS end-state checks, so `recode` builds streams that
/// do: the same frame sequence (sometimes another size, level, frame type or frame count) with
/// every substream re-encoded from hostile symbols (table extremes, random values, any lane
/// count, any motion table and mode), the latent coded with the tables the decoder will derive
/// from the (synthesised) h_s output. Those decode through synthesis and inter compensation.
struct Mutator {
    enum Kind: String, CaseIterable {
        case bitFlip, bitFlips, byteRandom, byte00, byteFF, truncate, insert, delete, field16, field32, tail, recode
    }
    /// The default rotation of kinds: every kind once, `recode` twice (it reaches the most code).
    static let schedule = Kind.allCases + [.recode]
    static let extremes: [UInt32] = [0, 1, 0x7FFF, 0xFFFF, 0x7FFF_FFFF, 0xFFFF_FFFF]
    /// Picture sizes for recoded streams: 1-pixel edges, block and alignment boundaries (and, for
    /// 1 in 16 resized streams, 352 x 288).
    static let sizes = [(1, 1), (1, 2), (2, 1), (1, 65), (65, 1), (15, 16), (16, 15), (17, 17), (31, 33),
                        (64, 64), (65, 63), (127, 129), (160, 40), (200, 7)]

    let stream: Golden.StreamEntry
    let original: [UInt8]
    let package: ModelPackage
    /// Answers h_s calls while recoding exactly as the decoder's runner will.
    let network: FuzzNetworkRunner
    /// The rotation of kinds, mutant i gets `schedule[i % count]`.
    let schedule: [Kind]
    var rng: SplitMix64
    /// Offsets of the stream's length / count / size fields (header, records, substreams).
    let fields: [Int]

    init(stream: Golden.StreamEntry, original: [UInt8], package: ModelPackage, network: FuzzNetworkRunner,
         schedule: [Kind] = Mutator.schedule, rng: SplitMix64) {
        self.stream = stream
        self.original = original
        self.package = package
        self.network = network
        self.schedule = schedule
        self.rng = rng
        fields = Mutator.fieldOffsets(stream, original)
    }

    mutating func below(_ n: Int) -> Int { n <= 0 ? 0 : Int(rng.next() % UInt64(n)) }
    mutating func byte() -> UInt8 { UInt8(truncatingIfNeeded: rng.next()) }

    struct Mutant {
        let bytes: [UInt8]
        /// For failure messages.
        let what: String
        /// Decode with hash verification.
        let verify: Bool
        /// Built by `recode` (not a byte-level mutation).
        var recoded = false
        /// A valid stream (a recoded one without planted defects): it must decode.
        var mustDecode = false
    }

    /// Mutant `i`. Per kind the CRC fix and verification alternate so that each kind gets all
    /// four combinations.
    mutating func mutant(_ i: Int) throws -> Mutant {
        let kind = schedule[i % schedule.count]
        let round = i / schedule.count
        if kind == .recode {
            // The picture hashes are unknown: without verification the decode runs to the end.
            let (d, what, valid) = try recode()
            return Mutant(bytes: d, what: "recode: \(what)", verify: false, recoded: true, mustDecode: valid)
        }
        var d = original
        var what: String
        switch kind {
        case .bitFlip, .bitFlips:
            let n = kind == .bitFlip ? 1 : 2 + below(7)
            var at = [Int]()
            for _ in 0..<n {
                let p = below(d.count)
                d[p] ^= 1 << UInt8(below(8))
                at.append(p)
            }
            what = "\(n) bit flip(s) at \(at)"
        case .byteRandom, .byte00, .byteFF:
            let p = below(d.count)
            let v: UInt8 = kind == .byte00 ? 0 : kind == .byteFF ? 0xFF : byte()
            d[p] = v
            what = "byte \(p) = 0x\(String(v, radix: 16))"
        case .truncate:
            let n = below(d.count)
            d.removeSubrange(n...)
            what = "truncated to \(n) bytes"
        case .insert:
            let p = below(d.count + 1), n = 1 + below(16)
            d.insert(contentsOf: (0..<n).map { _ in byte() }, at: p)
            what = "\(n) bytes inserted at \(p)"
        case .delete:
            let p = below(d.count), n = min(1 + below(16), d.count - p)
            d.removeSubrange(p..<(p + n))
            what = "\(n) bytes deleted at \(p)"
        case .field16, .field32:
            let width = kind == .field16 ? 2 : 4
            // Half at a random offset, half on a real field, where extreme values hurt most.
            let real = fields.filter { $0 + width <= d.count }
            let p = below(2) == 0 || real.isEmpty ? below(d.count - width + 1) : real[below(real.count)]
            let v = Mutator.extremes[below(Mutator.extremes.count)]
            for k in 0..<width { d[p + k] = UInt8(truncatingIfNeeded: v >> (8 * UInt32(k))) }
            what = "u\(8 * width) at \(p) = 0x\(String(v & (width == 2 ? 0xFFFF : 0xFFFF_FFFF), radix: 16))"
        case .tail:
            // Trailing garbage after the whole stream half the time, else a random cut first.
            let keep = below(2) == 0 ? d.count : below(d.count + 1), n = 1 + below(64)
            d.removeSubrange(keep...)
            d += (0..<n).map { _ in byte() }
            what = "\(n) random bytes after \(keep)"
        case .recode:
            preconditionFailure("handled above")
        }
        if round % 2 == 1 {
            Mutator.fixCRCs(&d)
            what += ", CRCs fixed"
        }
        return Mutant(bytes: d, what: "\(kind.rawValue): \(what)", verify: round / 2 % 2 == 0)
    }

    /// Table-local indices (0...2r) for symbols with radii `r`: uniform, table extremes only, or
    /// mostly zero with some extremes.
    mutating func symbols(_ radius: [Int32]) -> [Int32] {
        let style = below(3)
        var k = [Int32](repeating: 0, count: radius.count)
        for (i, r) in radius.enumerated() {
            switch style {
            case 0: k[i] = Int32(below(2 * Int(r) + 1))
            case 1: k[i] = below(2) == 0 ? 0 : 2 * r
            default: k[i] = below(16) != 0 ? r : below(2) == 0 ? 0 : 2 * r
            }
        }
        return k
    }

    /// A valid substream of `k` with tables `t`: one lane, the most lanes, or any count between.
    mutating func substream(_ k: [Int32], _ t: [Int32]) -> [UInt8] {
        let most = min(k.count, Rans.maxLanes)
        let lanes = [1, most, 1 + below(most)][below(3)]
        return ransEncode(k, tables: t, cdf: package.tables, lanes: lanes)
    }

    /// An intra payload (§3) of hostile symbols that the decoder's parse path accepts.
    mutating func intraPayload(width: Int, height: Int, exp: Int, set: NetworkSet) throws -> [UInt8] {
        let p = package, radius = p.tables.radius
        let a = p.alignment
        let ph = (height + a - 1) / a * a, pw = (width + a - 1) / a * a
        let zShape = [1, ph / 64, pw / 64, p.hyperChannels]
        let ztab = set == .residual ? p.residualZTableIndex ?? p.zTableIndex : p.zTableIndex
        let zt = (0..<zShape.reduce(1, *)).map { ztab[$0 % p.hyperChannels] }
        let kz = symbols(zt.map { radius[Int($0)] })
        // truncatingIfNeeded: the generator must not trap even where the decoder might.
        let z = (0..<zt.count).map { Int8(truncatingIfNeeded: kz[$0] - radius[Int(zt[$0])]) }
        let hs = try network.run(role: set.hyperSynthesis, input: Int8Tensor(shape: zShape, values: z))
        let sigma = hs["sigma_index"]?.values ?? []
        let t = sigma.map {
            ParsePath.tableIndex($0, exp: exp, tablesPerOctave: p.tablesPerOctave, numTables: p.tables.numTables)
        }
        let ky = symbols(t.map { radius[Int($0)] })
        let zb = substream(kz, zt)
        return Golden.le32(UInt32(zb.count)) + zb + substream(ky, t)
    }

    /// A P payload (§4b, §4c): any mode, any motion table, hostile deltas (§4c: any tree, any
    /// frequencies and deblocking strength, vector differences up to the table's radius, kept
    /// within -2048...2047 so the stream stays valid), and a residual for modes 1, 3, 5.
    mutating func interPayload(width: Int, height: Int, exp: Int) throws -> [UInt8] {
        let nt = package.tables.numTables
        let mode = UInt8(below(6))
        let table = [below(nt), nt - 1, 0][below(3)]     // the last tables have the largest radius
        if mode >= 4 {
            let cdf = package.tables
            let freqs = (0..<6).map { _ in [1, 65535, 1 + below(65535)][below(3)] }
            var wr = BlockTreeWriter(width: width, height: height, mode: mode, mvTable: table, cdf: cdf,
                                     freqs: freqs, deblock: below(32))
            let r = Int(cdf.radius[table]), splitChance = below(101)
            var g = SplitMix64(seed: rng.next())
            wr.write(split: { _, _, _, _ in Int.random(in: 0..<100, using: &g) < splitChance },
                     block: { _, _, _, cands, mvp in
                         func diff(_ p: Int) -> Int {
                             let d = Bool.random(using: &g) ? Int.random(in: -r...r, using: &g) : (Bool.random(using: &g) ? r : -r)
                             return min(max(d, -2048 - p), 2047 - p)
                         }
                         return .init(merge: Bool.random(using: &g), mergeIndex: Int.random(in: 0..<cands.count, using: &g),
                                      diff: (diff(mvp.0), diff(mvp.1)), skip: Bool.random(using: &g))
                     })
            let n = wr.symbols.count
            let lanes = [1, min(n, Rans.maxLanes), 1 + below(min(n, Rans.maxLanes))][below(3)]
            let residual = mode == 5 ? try intraPayload(width: width, height: height, exp: exp,
                                                        set: package.hasResidualNetworks ? .residual : .intra) : []
            return wr.payload(lanes: lanes, residual: residual)
        }
        let (by, bx) = MotionCompensation.blockGrid(width: width, height: height)
        let t = [Int32](repeating: Int32(table), count: by * bx * 2)
        let mv = substream(symbols(t.map { package.tables.radius[Int($0)] }), t)
        var out = [mode, UInt8(table)] + Golden.le32(UInt32(mv.count)) + mv
        if mode & 1 != 0 {
            out += try intraPayload(width: width, height: height, exp: exp,
                                    set: package.hasResidualNetworks ? .residual : .intra)
        }
        return out
    }

    /// The original header and frame sequence with every payload rebuilt (see the type's comment).
    /// Returns the stream, a description and whether it is valid (no P-frame first, no unknown level).
    mutating func recode() throws -> ([UInt8], String, Bool) {
        var (w, h) = (stream.width, stream.height)
        if below(2) == 0 { (w, h) = below(16) == 0 ? (352, 288) : Mutator.sizes[below(Mutator.sizes.count)] }
        var header = Array(original[0..<Container.headerSize])
        header[40] = UInt8(w & 0xFF); header[41] = UInt8(w >> 8)
        header[42] = UInt8(h & 0xFF); header[43] = UInt8(h >> 8)
        let unknownCount = below(8) == 0
        Mutator.put32(&header, 52, unknownCount ? Container.unknownFrameCount : UInt32(stream.frames.count))
        var out = header
        var notes = ["\(w)x\(h)"]
        var valid = true
        if unknownCount { notes.append("frame count unknown") }
        let levels = package.sortedLevels
        for (k, f) in stream.frames.enumerated() {
            var type = f.type
            if below(16) == 0 { type = type == "I" ? "P" : "I"; notes.append("frame \(k) is \(type)") }
            if k == 0 && type == "P" { valid = false }
            let level = levels[below(levels.count)]
            var quality = level
            if below(16) == 0 {
                quality = [0, 255, levels.last! + 1][below(3)]
                notes.append("frame \(k) level \(quality)")
                valid = false
            }
            let exp = package.levels[level]!
            let payload = type == "I" ? try intraPayload(width: w, height: h, exp: exp, set: .intra)
                                      : try interPayload(width: w, height: h, exp: exp)
            if type == "P" { notes.append("frame \(k) mode \(payload[0]) table \(payload[1])") }
            var rec = [UInt8(ascii: type == "I" ? "I" : "P"), UInt8(quality), 0, 0] + Golden.le32(UInt32(payload.count))
            rec += (0..<16).map { _ in byte() }                  // picture MD5: unknown
            out += rec + Golden.le32(CRC32.update(CRC32.checksum(rec), payload)) + payload
        }
        Mutator.fixCRCs(&out)
        return (out, notes.joined(separator: ", "), valid)
    }

    /// Recomputes the header CRC and the CRC of every record that fits (as hostile.py's
    /// fix_header_crc / fix_record_crc, walked as fuzz.py's `_fix_crcs`).
    static func fixCRCs(_ d: inout [UInt8]) {
        guard d.count >= Container.headerSize else { return }
        put32(&d, Container.headerSize - 4, CRC32.checksum(d[0..<(Container.headerSize - 4)]))
        var off = Container.headerSize
        while d.count - off >= Container.recordHeaderSize {
            let start = off + Container.recordHeaderSize, len = Int(readU32(d, off + 4))
            guard len <= d.count - start else { break }
            put32(&d, off + 24, CRC32.update(CRC32.checksum(d[off..<(off + 24)]), d[start..<(start + len)]))
            off = start + len
        }
    }

    static func put32(_ d: inout [UInt8], _ o: Int, _ v: UInt32) {
        for k in 0..<4 { d[o + k] = UInt8(truncatingIfNeeded: v >> (8 * UInt32(k))) }
    }

    /// Header fields (header size, width, height, fps, frame count, colour), every record's type /
    /// reserved / length, and per payload the inter header (mode, table, motion length) and each
    /// rANS substream's lane count, word count and first state, and the z length.
    static func fieldOffsets(_ s: Golden.StreamEntry, _ b: [UInt8]) -> [Int] {
        var o = [6, 40, 42, 44, 48, 52, 56]
        for (k, f) in s.frames.enumerated() {
            let r = Golden.recordOffset(s, k), p = r + Container.recordHeaderSize
            o += [r, r + 2, r + 4]
            var intra = p
            if f.type == "P" && b[p] >= 4 {
                // §4c: mode, table, the six frequencies, deblock, S, the block substream's header.
                o += [p, p + 1, p + 2, p + 4, p + 6, p + 8, p + 10, p + 12, p + 14, p + 15, p + 19, p + 21, p + 25]
                intra = p + InterCodec.blockTreeHeaderSize + Int(readU32(b, p + 15))
            } else if f.type == "P" {
                o += [p, p + 2, p + 6, p + 8, p + 12]
                intra = p + InterCodec.headerSize + Int(readU32(b, p + 2))
            }
            guard f.hasIntraPayload else { continue }
            let y = intra + 4 + Int(readU32(b, intra))
            o += [intra, intra + 4, intra + 6, intra + 10, y, y + 2, y + 6]
        }
        return o
    }
}

/// Answers a network call from the golden recordings when its input is a recorded one (any
/// stream, frame, or network set); otherwise returns outputs of the shapes the real networks give
/// for that input (h_s: 1 x 4h x 4w x M `mu` and `sigma_index` for a 1 x h x w x Nz `z`, M the
/// latent channels of the role's set, so a recording of the other set's shape is not served; g_s:
/// 1 x 16h x 16w x 3 `image` for a 1 x h x w x M `y_hat`), filled with int8 noise seeded by the
/// input, so the same mutant always decodes the same way. Hostile symbols thus reach the
/// entropy-parameter clamps, the latent rANS decode, synthesis and inter compensation.
final class FuzzNetworkRunner: NetworkRunner {
    let recorded: [Golden.Payload]
    /// Latent channels per set (intra, residual).
    let latentChannels: [NetworkSet: Int]
    private(set) var recordedAnswers = 0
    private(set) var synthesised = 0

    init(recorded: [Golden.Payload], latentChannels: [NetworkSet: Int]) {
        self.recorded = recorded
        self.latentChannels = latentChannels
    }

    convenience init(recorded: [Golden.Payload], package: ModelPackage) {
        self.init(recorded: recorded, latentChannels: [.intra: package.latentChannels(of: .intra),
                                                       .residual: package.latentChannels(of: .residual)])
    }

    func run(role: NetworkRole, input: Int8Tensor) throws -> [String: Int8Tensor] {
        let m = latentChannels[role.networkSet]!
        for p in recorded {
            if role.isHyperSynthesis ? input == p.z && p.yShape.last == m : input == p.yHat {
                recordedAnswers += 1
                return role.isHyperSynthesis ? p.hsOutputs : p.gsOutputs
            }
        }
        guard input.shape.count == 4 else {
            throw MLVCError.backend("fuzz runner: \(role.rawValue) input of shape \(input.shape)")
        }
        synthesised += 1
        // FNV-1a of the role and the input values: the seed of this call's noise.
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for b in Array(role.rawValue.utf8) + input.values.map({ UInt8(bitPattern: $0) }) {
            h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3
        }
        var rng = SplitMix64(seed: h)
        let n = input.shape[0], ih = input.shape[1], iw = input.shape[2]
        if role.isHyperSynthesis {
            let shape = [n, 4 * ih, 4 * iw, m]
            return ["mu": noise(shape, &rng), "sigma_index": noise(shape, &rng)]
        }
        return ["image": noise([n, 16 * ih, 16 * iw, 3], &rng)]
    }

    private func noise(_ shape: [Int], _ rng: inout SplitMix64) -> Int8Tensor {
        let count = shape.reduce(1, *)
        var v = [Int8](repeating: 0, count: count)
        var i = 0
        while i < count {
            var r = rng.next()
            for _ in 0..<8 where i < count {
                v[i] = Int8(truncatingIfNeeded: r)
                r >>= 8
                i += 1
            }
        }
        return Int8Tensor(shape: shape, values: v)
    }
}

extension String {
    /// A hash that is stable across runs (Swift's `hashValue` is seeded per process).
    var hashValueFNV: UInt32 {
        var h: UInt32 = 0x811C_9DC5
        for b in utf8 { h = (h ^ UInt32(b)) &* 0x0100_0193 }
        return h
    }
}
