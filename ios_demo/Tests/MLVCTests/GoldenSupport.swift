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

    struct InvalidEntry: Decodable {
        let file: String
        let error: String
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

    static func invalid() throws -> [InvalidEntry] {
        try JSONDecoder().decode([InvalidEntry].self, from: data("invalid/index.json"))
    }

    static func package() throws -> ModelPackage {
        try ModelPackage.load(directory: dir)
    }

    /// The recorded parse-path intermediates and network outputs of one intra payload (an I-frame
    /// or the residual of a mode-1 / mode-3 P-frame): `NAME.fK.{z,hs_mu,hs_sigma_index,y_hat,gs_image}.i8`,
    /// `NAME.fK.{table_index,y_symbols}.i32`.
    struct Payload {
        let name: String
        let index: Int
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
            motion = e.type == "P" ? try Golden.i32("\(pre).mv.i32") : nil
            if e.hasIntraPayload {
                guard let ys = e.y_shape, let zs = e.z_shape else {
                    throw MLVCError.invalidArgument("golden index: \(pre) lacks y_shape / z_shape")
                }
                let ph = (stream.height + alignment - 1) / alignment * alignment
                let pw = (stream.width + alignment - 1) / alignment * alignment
                payload = Payload(name: stream.name, index: index,
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
}

/// Stands in for the networks: asserts that the decoder asks h_s about exactly the recorded `z`
/// and g_s about exactly the recorded `y_hat` (frame by frame, in order) and returns the recorded
/// outputs. A wrong input throws `backend`, so it also fails the decode.
final class GoldenNetworkRunner: NetworkRunner {
    /// The intra payloads, in stream order (skip P-frames make no network calls).
    let frames: [Golden.Payload]
    let isExact: Bool
    private(set) var hsCalls = 0
    private(set) var gsCalls = 0

    init(frames: [Golden.Frame], exact: Bool = true) {
        self.frames = frames.compactMap(\.payload)
        self.isExact = exact
    }

    func run(role: NetworkRole, input: Int8Tensor) throws -> [String: Int8Tensor] {
        switch role {
        case .hyperSynthesis:
            guard hsCalls < frames.count else { throw MLVCError.backend("golden: unexpected h_s call \(hsCalls)") }
            let f = frames[hsCalls]
            hsCalls += 1
            guard input == f.z else {
                throw MLVCError.backend("golden: h_s input of \(f.name) frame \(f.index) differs from .z.i8 "
                                        + "(shape \(input.shape) vs \(f.z.shape))")
            }
            return f.hsOutputs
        case .synthesis:
            guard gsCalls < frames.count else { throw MLVCError.backend("golden: unexpected g_s call \(gsCalls)") }
            let f = frames[gsCalls]
            gsCalls += 1
            guard input == f.yHat else {
                throw MLVCError.backend("golden: g_s input of \(f.name) frame \(f.index) differs from .y_hat.i8 "
                                        + "(shape \(input.shape) vs \(f.yHat.shape))")
            }
            return f.gsOutputs
        }
    }
}

/// For hostile streams derived from a golden stream: answers any recorded input, in any order.
final class LookupNetworkRunner: NetworkRunner {
    let frames: [Golden.Payload]
    let isExact: Bool

    init(frames: [Golden.Frame], exact: Bool = true) {
        self.frames = frames.compactMap(\.payload)
        self.isExact = exact
    }

    func run(role: NetworkRole, input: Int8Tensor) throws -> [String: Int8Tensor] {
        for f in frames {
            if role == .hyperSynthesis && input == f.z { return f.hsOutputs }
            if role == .synthesis && input == f.yHat { return f.gsOutputs }
        }
        throw MLVCError.backend("lookup: no recorded \(role.rawValue) call with this input")
    }
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
