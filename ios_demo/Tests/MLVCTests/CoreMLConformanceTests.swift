#if canImport(CoreML)
import CoreML
import Foundation
import XCTest
@testable import MLVC

/// Runs on a Mac / iPhone (not Linux): decodes every conformance stream with the real Core ML
/// networks and checks every picture hash. Needs a package directory with h_s.mlmodelc /
/// g_s.mlmodelc (or .mlpackage) beside package.json and the tables: set MLVC_COREML_PACKAGE,
/// else `conformance/golden/` itself is tried. Skipped when no Core ML model is present.
final class CoreMLConformanceTests: XCTestCase {
    func packageDirectory() throws -> URL {
        let env = ProcessInfo.processInfo.environment["MLVC_COREML_PACKAGE"].map { URL(fileURLWithPath: $0) }
        let dir = env ?? Golden.dir
        let fm = FileManager.default
        let has = ["h_s.mlmodelc", "h_s.mlpackage", "h_s.mlmodel"].contains {
            fm.fileExists(atPath: dir.appendingPathComponent($0).path)
        }
        if !has { throw XCTSkip("no Core ML networks in \(dir.path) (set MLVC_COREML_PACKAGE)") }
        return dir
    }

    func testConformanceStreamsOnCPUAreBitExact() throws {
        let dir = try packageDirectory()
        let runner = try CoreMLNetworkRunner(packageDirectory: dir, synthesisComputeUnits: .cpuOnly)
        XCTAssertTrue(runner.isExact)
        let options = try DecoderOptions(packageDirectory: dir)
        for s in try Golden.streams() {
            let frames = try Decoder(data: Golden.data(s.stream), options: options, network: runner).decodeAll()
            XCTAssertEqual(frames.count, s.frames.count, s.name)
            for (f, g) in zip(frames, s.frames) {
                XCTAssertTrue(f.verified, "\(s.name) frame \(f.index)")
                XCTAssertEqual(Hex.encode(f.md5), g.md5, "\(s.name) frame \(f.index)")
            }
        }
    }

    func testApproximateSynthesisStillParsesEveryFrame() throws {
        // g_s on all compute units (GPU / Neural Engine): pictures may differ, symbols may not.
        let dir = try packageDirectory()
        let runner = try CoreMLNetworkRunner(packageDirectory: dir, synthesisComputeUnits: .all)
        let options = try DecoderOptions(packageDirectory: dir)
        for s in try Golden.streams() {
            let package = try ModelPackage.load(directory: dir)
            let decoder = try Decoder(data: Golden.data(s.stream), options: options, package: package, network: runner)
            var ok = true
            decoder.onParsed = { i, p in
                if let want = try? Golden.i32("\(s.name).f\(i).y_symbols.i32"), want != p.ySymbols { ok = false }
            }
            let frames = try decoder.decodeAll()
            XCTAssertEqual(frames.count, s.frames.count, s.name)
            XCTAssertTrue(ok, "\(s.name): latent symbols differ (h_s must be exact)")
            print("\(s.name): \(frames.filter(\.verified).count)/\(frames.count) pictures bit-exact with g_s on .all")
        }
    }
}
#endif
