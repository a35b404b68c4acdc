import Foundation
import XCTest
@testable import MLVC

/// The golden files (`conformance/golden/`, written by `python -m mlvc.conformance.golden`):
/// located from this source file so the tests work wherever the repository is mounted.
/// `MLVC_GOLDEN_DIR` overrides the location.
enum Golden {
    static let dir: URL = {
        if let env = ProcessInfo.processInfo.environment["MLVC_GOLDEN_DIR"], !env.isEmpty {
            return URL(fileURLWithPath: env, isDirectory: true)
        }
        return URL(fileURLWithPath: #filePath)       // ios_demo/Tests/MLVCTests/GoldenSupport.swift
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()             // repository root
            .appendingPathComponent("conformance/golden", isDirectory: true)
    }()

    struct FrameEntry: Decodable {
        let type: String
        let quality: Int
        let md5: String
        let payload_bytes: Int
        /// Intra frames and P-frames with a residual (modes 1, 3): latent / hyper-latent shapes.
        let y_shape: [Int]?
        let z_shape: [Int]?
        /// P-frames only: mode (bit 0: residual, else skip; bit 1: vectors in half pixels, so
        /// 0 / 1 whole-pixel skip / residual, 2 / 3 half-pixel), motion CDF table, motion field
        /// shape [BY, BX, 2].
        let mode: Int?
        let mv_table: Int?
        let mv_shape: [Int]?

        /// Whether the frame carries an intra payload (an I-frame, or a P-frame's residual).
        var hasIntraPayload: Bool { type == "I" || (mode ?? 0) & 1 != 0 }
        /// P-frames: whether the vectors (and `.mv.i32`) are in half pixels (mode bit 1).
        var halfPel: Bool { (mode ?? 0) & 2 != 0 }
    }

    struct StreamEntry: Decodable {
        let name: String
        let stream: String
        let width: Int
        let height: Int
        let header_bytes: Int
        let frames: [FrameEntry]
    }

    static func bytes(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: dir.appendingPathComponent(name)))
    }

    static func data(_ name: String) throws -> Data {
        try Data(contentsOf: dir.appendingPathComponent(name))
    }

    static func i8(_ name: String) throws -> [Int8] {
        try bytes(name).map { Int8(bitPattern: $0) }
    }

    static func i32(_ name: String) throws -> [Int32] {
        let b = try bytes(name)
        precondition(b.count % 4 == 0, "\(name) is not an int32 array")
        return stride(from: 0, to: b.count, by: 4).map {
            Int32(bitPattern: UInt32(b[$0]) | UInt32(b[$0 + 1]) << 8 | UInt32(b[$0 + 2]) << 16 | UInt32(b[$0 + 3]) << 24)
        }
    }

    static func streams() throws -> [StreamEntry] {
        try JSONDecoder().decode([StreamEntry].self, from: data("index.json"))
    }

    /// The official conformance vectors (sdk/mlvc/data/vectors, with the hostile catalogue
    /// `invalid/catalogue.json`): `MLVC_VECTORS_DIR`, else `../../sdk/mlvc/data/vectors` from `dir`.
    static let vectorsDir: URL = {
        if let env = ProcessInfo.processInfo.environment["MLVC_VECTORS_DIR"], !env.isEmpty {
            return URL(fileURLWithPath: env, isDirectory: true)
        }
        return dir.deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("sdk/mlvc/data/vectors", isDirectory: true)
    }()

    /// The vectors and the catalogue, every file checked against the manifest's SHA-256.
    static func vectors() throws -> ConformanceVectors { try ConformanceVectors.load(directory: vectorsDir) }

    struct CallsFile: Decodable {
        let format: String
        let vectors_manifest_sha256: String
        let calls: [RecordedCall.CallJSON]
    }

    /// `calls/calls.json`: every network call of the NumPy decoder on the vectors and the catalogue.
    static func calls() throws -> (manifestSHA256: String, calls: [RecordedCall]) {
        let f = try JSONDecoder().decode(CallsFile.self, from: data("calls/calls.json"))
        let calls = try RecordedCall.parse(f.calls) { try data("calls/\($0)") }
        return (f.vectors_manifest_sha256, calls)
    }

    /// The startup probe's battery (`probe/probe.json`).
    static func probe() throws -> ProbeBattery {
        try ProbeBattery.load(directory: dir.appendingPathComponent("probe", isDirectory: true))
    }

    static func package() throws -> ModelPackage {
        try ModelPackage.load(directory: try packageDir())
    }

    /// The Python package manifest the golden package was exported from: `dir/manifest.json`
    /// when golden.py writes one, else the bundled package's (`sdk/mlvc/data/model/manifest.json`;
    /// golden.py exports the bundled package unless given `--package`).
    static var manifestURL: URL {
        let own = dir.appendingPathComponent("manifest.json")
        if FileManager.default.fileExists(atPath: own.path) { return own }
        return dir.deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("sdk/mlvc/data/model/manifest.json")
    }

    /// The golden package manifest, parsed and verified.
    static func manifest() throws -> PackageManifest { try PackageManifest.read(manifestURL) }

    private static var cachedPackageDir: URL?

    /// A package directory as `ModelPackage.load` wants it: the golden package.json and tables
    /// with `manifestURL`'s manifest.json (copies, in a temporary directory made once), plus links
    /// to the golden Core ML networks if there are any (Apple).
    static func packageDir() throws -> URL {
        if let d = cachedPackageDir { return d }
        let fm = FileManager.default
        let d = fm.temporaryDirectory.appendingPathComponent("mlvc-golden-pkg-\(UUID().uuidString)", isDirectory: true)
        try fm.createDirectory(at: d, withIntermediateDirectories: true)
        for f in ["package.json", "tables.radius.i32", "tables.cdf.u32"] {
            try fm.copyItem(at: dir.appendingPathComponent(f), to: d.appendingPathComponent(f))
        }
        try fm.copyItem(at: manifestURL, to: d.appendingPathComponent("manifest.json"))
        for name in try fm.contentsOfDirectory(atPath: dir.path)
        where name.hasSuffix(".mlmodelc") || name.hasSuffix(".mlpackage") {
            try fm.createSymbolicLink(at: d.appendingPathComponent(name), withDestinationURL: dir.appendingPathComponent(name))
        }
        cachedPackageDir = d
        return d
    }

    /// package.json's network-set keys, read here independently of `ModelPackage`.
    struct PackageFlags: Decodable {
        let residual_networks: Bool?
        let res_z_table_index: [Int32]?
    }

    static func packageFlags() throws -> PackageFlags {
        try JSONDecoder().decode(PackageFlags.self, from: data("package.json"))
    }

    /// The recorded parse-path intermediates and network outputs of one intra payload (an I-frame
    /// or the residual of a mode-1 / mode-3 P-frame): `NAME.fK.{z,hs_mu,hs_sigma_index,y_hat,gs_image}.i8`,
    /// `NAME.fK.{table_index,y_symbols}.i32`.
    struct Payload {
        let name: String
        let index: Int
        /// "I", or "P" for a residual (coded with the residual networks if the package has them).
        let frameType: String
        let z: Int8Tensor
        let mu: [Int8]
        let sigmaIndex: [Int8]
        let tableIndex: [Int32]
        let ySymbols: [Int32]
        let yHat: Int8Tensor
        let yShape: [Int]
        /// g_s output, 1 x PH x PW x 3 int8: `pixel - 128` (I) or the residual (P).
        let image: [Int8]
        let imageShape: [Int]

        var hsOutputs: [String: Int8Tensor] {
            ["mu": Int8Tensor(shape: yShape, values: mu),
             "sigma_index": Int8Tensor(shape: yShape, values: sigmaIndex)]
        }

        var gsOutputs: [String: Int8Tensor] { ["image": Int8Tensor(shape: imageShape, values: image)] }
    }

    /// Everything recorded for frame `index` of stream `name`.
    struct Frame {
        let name: String
        let index: Int
        let entry: FrameEntry
        /// nil for a skip (mode 0 or 2) P-frame.
        let payload: Payload?
        /// P-frames: the decoded motion field `NAME.fK.mv.i32` (BY x BX x 2; in half pixels for
        /// modes 2 / 3); nil for I-frames.
        let motion: [Int32]?

        init(stream: StreamEntry, index: Int, alignment: Int) throws {
            let pre = "\(stream.name).f\(index)"
            let e = stream.frames[index]
            name = stream.name
            self.index = index
            entry = e
            // Block-tree P-frames (modes 4, 5; blocktree.json) record their blocks instead.
            motion = e.type == "P" && (e.mode ?? 0) < 4 ? try Golden.i32("\(pre).mv.i32") : nil
            if e.hasIntraPayload {
                guard let ys = e.y_shape, let zs = e.z_shape else {
                    throw MLVCError.invalidArgument("golden index: \(pre) lacks y_shape / z_shape")
                }
                let ph = (stream.height + alignment - 1) / alignment * alignment
                let pw = (stream.width + alignment - 1) / alignment * alignment
                payload = Payload(name: stream.name, index: index, frameType: e.type,
                                  z: Int8Tensor(shape: zs, values: try Golden.i8("\(pre).z.i8")),
                                  mu: try Golden.i8("\(pre).hs_mu.i8"),
                                  sigmaIndex: try Golden.i8("\(pre).hs_sigma_index.i8"),
                                  tableIndex: try Golden.i32("\(pre).table_index.i32"),
                                  ySymbols: try Golden.i32("\(pre).y_symbols.i32"),
                                  yHat: Int8Tensor(shape: ys, values: try Golden.i8("\(pre).y_hat.i8")),
                                  yShape: ys,
                                  image: try Golden.i8("\(pre).gs_image.i8"),
                                  imageShape: [1, ph, pw, 3])
            } else {
                payload = nil
            }
        }
    }

    static func frames(of stream: StreamEntry, alignment: Int) throws -> [Frame] {
        try (0..<stream.frames.count).map { try Frame(stream: stream, index: $0, alignment: alignment) }
    }

    /// Offset of record `k` in the stream (records are back to back after the header).
    static func recordOffset(_ stream: StreamEntry, _ k: Int) -> Int {
        stream.header_bytes + stream.frames[0..<k].reduce(0) { $0 + Container.recordHeaderSize + $1.payload_bytes }
    }

    /// The stream with the z substream of every intra payload re-encoded (test-only rANS encoder,
    /// same lane count) with per-channel tables `intra` (I-frames) and `residual` (P-frame
    /// residuals); record lengths and CRCs fixed. Same z, y substreams and pictures, so the
    /// recorded network calls and hashes still hold for a decoder that picks those z tables.
    /// `modelHash`: the 16 bytes the header names instead (header CRC recomputed), for packages
    /// whose manifest, and so whose content hash, differs from the golden one.
    static func recodingZ(_ stream: StreamEntry, frames: [Frame], tables: CdfTables, intra: [Int32],
                          residual: [Int32], modelHash: [UInt8]? = nil) throws -> [UInt8] {
        let b = try bytes(stream.stream)
        precondition(recordOffset(stream, stream.frames.count) == b.count, "\(stream.name): trailing bytes")
        var out = Array(b[0..<stream.header_bytes])
        if let h = modelHash {
            precondition(h.count == 16)
            out.replaceSubrange(24..<40, with: h)
            out.replaceSubrange(60..<64, with: le32(CRC32.checksum(out[0..<60])))
        }
        for (k, f) in frames.enumerated() {
            let off = recordOffset(stream, k), start = off + Container.recordHeaderSize
            var payload = Array(b[start..<(start + f.entry.payload_bytes)])
            if let p = f.payload {
                let z0 = f.entry.type == "I" ? 0 : interResidualOffset(payload)
                let zlen = Int(readU32(payload, z0))
                let lanes = Int(readU16(payload, z0 + 4))
                let idx = f.entry.type == "I" ? intra : residual
                let nz = p.z.shape[3]
                let t = (0..<p.z.values.count).map { idx[$0 % nz] }
                let sym = (0..<t.count).map { Int32(p.z.values[$0]) + tables.radius[Int(t[$0])] }
                let sub = ransEncode(sym, tables: t, cdf: tables, lanes: lanes)
                payload = Array(payload[0..<z0]) + le32(UInt32(sub.count)) + sub + Array(payload[(z0 + 4 + zlen)...])
            }
            var rec = Array(b[off..<(off + 24)])
            rec.replaceSubrange(4..<8, with: le32(UInt32(payload.count)))
            out += rec + le32(CRC32.update(CRC32.checksum(rec[...]), payload[...])) + payload
        }
        return out
    }

    static func le32(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: v >> (8 * UInt32($0))) } }
}

/// Where a P payload's residual (an intra payload) starts: after the §4b motion substream (modes
/// 0-3: 6-byte header + M) or the §4c block substream (modes 4, 5: 19-byte header + S).
func interResidualOffset(_ payload: [UInt8]) -> Int {
    payload[0] >= 4 ? InterCodec.blockTreeHeaderSize + Int(readU32(payload, 15))
                    : InterCodec.headerSize + Int(readU32(payload, 2))
}

/// The spec's rANS encoder (docs/bitstream.md §5), test-only: symbols in reverse order, emit low
/// 16 bits while x >= f << 16.
func ransEncode(_ k: [Int32], tables t: [Int32], cdf: CdfTables, lanes: Int) -> [UInt8] {
    let n = k.count
    var x = [UInt64](repeating: Rans.stateLow, count: lanes)
    var words = [UInt16]()   // emitted in reverse consumption order
    for i in stride(from: n - 1, through: 0, by: -1) {
        let lane = i % lanes
        let base = cdf.start[Int(t[i])]
        let lo = UInt64(cdf.cdf[base + Int(k[i])]), f = UInt64(cdf.cdf[base + Int(k[i]) + 1]) - lo
        var s = x[lane]
        while s >= f << 16 { words.append(UInt16(s & 0xFFFF)); s >>= 16 }
        x[lane] = ((s / f) << 16) + (s % f) + lo
    }
    words.reverse()
    var out = [UInt8]()
    func put16(_ v: UInt16) { out.append(UInt8(v & 0xFF)); out.append(UInt8(v >> 8)) }
    func put32(_ v: UInt32) { put16(UInt16(v & 0xFFFF)); put16(UInt16(v >> 16)) }
    put16(UInt16(lanes)); put32(UInt32(words.count))
    for v in x { put32(UInt32(v)) }
    for w in words { put16(w) }
    return out
}

/// Stands in for the networks: asserts that the decoder asks h_s about exactly the recorded `z`
/// and g_s about exactly the recorded `y_hat` (frame by frame, in order) and returns the recorded
/// outputs. A wrong input throws `backend`, so it also fails the decode. res_h_s / res_g_s calls
/// are served from the same per-frame files (golden.py writes a residual's files from the
/// residual networks); `calls` records which role each call used, for `assertNetworkSets`.
final class GoldenNetworkRunner: NetworkRunner {
    /// The intra payloads, in stream order (skip P-frames make no network calls).
    let frames: [Golden.Payload]
    let isExact: Bool
    /// h_s or res_h_s calls so far.
    private(set) var hsCalls = 0
    /// g_s or res_g_s calls so far.
    private(set) var gsCalls = 0
    /// Every call in order: the role and the recorded payload it was answered from.
    private(set) var calls = [(role: NetworkRole, payload: Golden.Payload)]()

    init(frames: [Golden.Frame], exact: Bool = true) {
        self.frames = frames.compactMap(\.payload)
        self.isExact = exact
    }

    func run(role: NetworkRole, input: Int8Tensor) throws -> [String: Int8Tensor] {
        let r = role.rawValue
        if role.isHyperSynthesis {
            guard hsCalls < frames.count else { throw MLVCError.backend("golden: unexpected \(r) call \(hsCalls)") }
            let f = frames[hsCalls]
            hsCalls += 1
            calls.append((role: role, payload: f))
            guard input == f.z else {
                throw MLVCError.backend("golden: \(r) input of \(f.name) frame \(f.index) differs from .z.i8 "
                                        + "(shape \(input.shape) vs \(f.z.shape))")
            }
            return f.hsOutputs
        }
        guard gsCalls < frames.count else { throw MLVCError.backend("golden: unexpected \(r) call \(gsCalls)") }
        let f = frames[gsCalls]
        gsCalls += 1
        calls.append((role: role, payload: f))
        guard input == f.yHat else {
            throw MLVCError.backend("golden: \(r) input of \(f.name) frame \(f.index) differs from .y_hat.i8 "
                                    + "(shape \(input.shape) vs \(f.yHat.shape))")
        }
        return f.gsOutputs
    }
}

/// For hostile streams derived from a golden stream: answers any recorded input, in any order, of
/// either network set.
final class LookupNetworkRunner: NetworkRunner {
    let frames: [Golden.Payload]
    let isExact: Bool

    init(frames: [Golden.Frame], exact: Bool = true) {
        self.frames = frames.compactMap(\.payload)
        self.isExact = exact
    }

    func run(role: NetworkRole, input: Int8Tensor) throws -> [String: Int8Tensor] {
        for f in frames {
            if role.isHyperSynthesis && input == f.z { return f.hsOutputs }
            if !role.isHyperSynthesis && input == f.yHat { return f.gsOutputs }
        }
        throw MLVCError.backend("lookup: no recorded \(role.rawValue) call with this input")
    }
}

/// Stands in for Core ML on the vectors, the catalogue and the probe: answers a call whose role and
/// input (shape and values) golden.py recorded with the recorded outputs, in any order. An
/// unrecorded call throws `backend`, which fails the vector / catalogue case.
final class RecordedNetworkRunner: NetworkRunner {
    private let table: [String: RecordedCall]
    let isExact: Bool
    let environment: String
    private(set) var calls = [NetworkRole: Int]()
    var total: Int { calls.values.reduce(0, +) }

    init(_ recorded: [RecordedCall], exact: Bool = true, environment: String = "recorded") {
        var t = [String: RecordedCall]()
        for c in recorded { t[RecordedNetworkRunner.key(c.role, c.input)] = c }
        table = t
        isExact = exact
        self.environment = environment
    }

    static func key(_ role: NetworkRole, _ t: Int8Tensor) -> String {
        role.rawValue + "\(t.shape)" + Hex.encode(SHA256.hash(t.values.map { UInt8(bitPattern: $0) }))
    }

    func run(role: NetworkRole, input: Int8Tensor) throws -> [String: Int8Tensor] {
        calls[role, default: 0] += 1
        guard let c = table[RecordedNetworkRunner.key(role, input)] else {
            throw MLVCError.backend("recorded: no \(role.rawValue) call with this input (shape \(input.shape))")
        }
        return c.outputs
    }
}

/// Loaded once: the recorded calls are a few MB.
enum Recorded {
    static let all: (manifestSHA256: String, calls: [RecordedCall]) = {
        do { return try Golden.calls() } catch { fatalError("golden calls/calls.json: \(error)") }
    }()
    static var calls: [RecordedCall] { all.calls }
}

/// A test input the golden files must provide: the test is skipped without it, and fails when
/// `MLVC_REQUIRE_GOLDEN=1` (test-linux.sh sets it), so CI cannot pass on skipped tests.
struct RequiredGoldenMissing: Error, CustomStringConvertible {
    let message: String
    var description: String { "required golden input missing (MLVC_REQUIRE_GOLDEN=1): \(message)" }
}

func goldenMissing(_ message: String) -> Error {
    if ProcessInfo.processInfo.environment["MLVC_REQUIRE_GOLDEN"] == "1" { return RequiredGoldenMissing(message: message) }
    return XCTSkip(message)
}

/// Asserts that every call `runner` served used the expected set: h_s / g_s for I-frames, and for
/// P-frame residuals res_h_s / res_g_s if `residualNetworks`, else h_s / g_s (§4b). Returns the
/// number of P-frame residual calls checked.
@discardableResult
func assertNetworkSets(_ runner: GoldenNetworkRunner, residualNetworks: Bool, _ what: String,
                       file: StaticString = #filePath, line: UInt = #line) -> Int {
    var residualCalls = 0
    for (role, p) in runner.calls {
        // Spelled out by name, not through NetworkSet: a wrong mapping there must fail here.
        let residual = p.frameType == "P" && residualNetworks
        let want = (residual ? "res_" : "") + (role.rawValue.hasSuffix("h_s") ? "h_s" : "g_s")
        XCTAssertEqual(role.rawValue, want, "\(what): \(p.name) frame \(p.index) (\(p.frameType))",
                       file: file, line: line)
        if p.frameType == "P" { residualCalls += 1 }
    }
    return residualCalls
}

/// An independent, naive §4b prediction (per pixel, per channel), to check the decoder's:
/// `ref[clamp(y + dy, 0, H-1), clamp(x + dx, 0, W-1)]` with the vector of 16 x 16 block (y/16, x/16);
/// with `halfPel`, `naiveHalfPelPrediction`.
func naivePrediction(_ ref: [UInt8], width w: Int, height h: Int, motion: [Int32], blocksX bx: Int,
                     halfPel: Bool = false) -> [UInt8] {
    if halfPel { return naiveHalfPelPrediction(ref, width: w, height: h, motion: motion, blocksX: bx) }
    var out = [UInt8](repeating: 0, count: ref.count)
    for y in 0..<h {
        for x in 0..<w {
            let b = ((y / 16) * bx + x / 16) * 2
            let sy = min(max(y + Int(motion[b]), 0), h - 1)
            let sx = min(max(x + Int(motion[b + 1]), 0), w - 1)
            for ch in 0..<3 { out[(y * w + x) * 3 + ch] = ref[(sy * w + sx) * 3 + ch] }
        }
    }
    return out
}

/// The §4b half-pixel formula, written out per pixel and channel straight from the spec (no
/// vector clamping, 64-bit Int arithmetic): `iy = dy >> 1`, `fy = dy & 1` (and x), the four
/// clamped neighbours A, B, C, D and `(A(2-fy)(2-fx) + B(2-fy)fx + C fy(2-fx) + D fy fx + 2) >> 2`.
func naiveHalfPelPrediction(_ ref: [UInt8], width w: Int, height h: Int, motion: [Int32],
                            blocksX bx: Int) -> [UInt8] {
    func clamp(_ v: Int, _ hi: Int) -> Int { min(max(v, 0), hi) }
    func px(_ y: Int, _ x: Int, _ ch: Int) -> Int { Int(ref[(clamp(y, h - 1) * w + clamp(x, w - 1)) * 3 + ch]) }
    var out = [UInt8](repeating: 0, count: ref.count)
    for y in 0..<h {
        for x in 0..<w {
            let b = ((y / 16) * bx + x / 16) * 2
            let dy = Int(motion[b]), dx = Int(motion[b + 1])
            let iy = dy >> 1, fy = dy & 1, ix = dx >> 1, fx = dx & 1
            for ch in 0..<3 {
                let a = px(y + iy, x + ix, ch), bb = px(y + iy, x + ix + 1, ch)
                let c = px(y + iy + 1, x + ix, ch), d = px(y + iy + 1, x + ix + 1, ch)
                let v = (a * (2 - fy) * (2 - fx) + bb * (2 - fy) * fx + c * fy * (2 - fx) + d * fy * fx + 2) >> 2
                out[(y * w + x) * 3 + ch] = UInt8(v)
            }
        }
    }
    return out
}

/// Deterministic pseudo-random numbers (SplitMix64) for reproducible randomised tests.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension MLVCError {
    /// Compare error kinds, ignoring messages.
    func sameKind(_ code: String) -> Bool { self.code == code }
}

/// Asserts that `body` throws an `MLVCError` with Python code `code`.
func assertThrowsKind<T>(_ code: String, _ what: String, file: StaticString = #filePath, line: UInt = #line,
                         _ body: () throws -> T) {
    do {
        _ = try body()
        XCTFail("\(what): expected \(code), nothing thrown", file: file, line: line)
    } catch let e as MLVCError {
        XCTAssertEqual(e.code, code, "\(what): \(e)", file: file, line: line)
    } catch {
        XCTFail("\(what): expected MLVCError.\(code), got \(error)", file: file, line: line)
    }
}
