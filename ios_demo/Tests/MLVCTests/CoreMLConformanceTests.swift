#if canImport(CoreML)
import CoreML
import Foundation
import XCTest
@testable import MLVC

/// For a Mac / iPhone (not compiled on Linux): decodes every conformance stream with the real Core ML
/// networks and checks every picture hash.
///
/// Core ML networks are exported per input size (docs/coreml.md), so set MLVC_COREML_PACKAGE to a
/// directory holding, per padded picture size, a subdirectory `<PW>x<PH>/` with h_s.mlmodelc and
/// g_s.mlmodelc (or .mlpackage), plus res_h_s / res_g_s when package.json says residual_networks;
/// package.json and the tables are read from the golden directory.
/// A directory with the networks directly inside is used for every size. Skipped without networks.
final class CoreMLConformanceTests: XCTestCase {
    func networkDirectory(for s: Golden.StreamEntry, alignment: Int) throws -> URL {
        guard let root = ProcessInfo.processInfo.environment["MLVC_COREML_PACKAGE"] else {
            throw XCTSkip("set MLVC_COREML_PACKAGE to the exported Core ML networks")
        }
        let pw = (s.width + alignment - 1) / alignment * alignment
        let ph = (s.height + alignment - 1) / alignment * alignment
        let sized = URL(fileURLWithPath: root).appendingPathComponent("\(pw)x\(ph)")
        return FileManager.default.fileExists(atPath: sized.path) ? sized : URL(fileURLWithPath: root)
    }

    func testConformanceStreamsOnCPUAreBitExact() throws {
        let package = try Golden.package()
        var decodedStreams = 0
        for s in try Golden.streams() {
            let runner = try CoreMLNetworkRunner(packageDirectory: networkDirectory(for: s, alignment: package.alignment),
                                                 synthesisComputeUnits: .cpuOnly)
            XCTAssertTrue(runner.isExact)
            let frames = try Decoder(data: Golden.data(s.stream), package: package, network: runner).decodeAll()
            XCTAssertEqual(frames.count, s.frames.count, s.name)
            for (f, g) in zip(frames, s.frames) {
                XCTAssertTrue(f.verified, "\(s.name) frame \(f.index)")
                XCTAssertEqual(Hex.encode(f.md5), g.md5, "\(s.name) frame \(f.index)")
            }
            decodedStreams += 1
        }
        XCTAssertGreaterThan(decodedStreams, 0)
    }

    /// The startup probe on this device: the `.cpuOnly` runtime must reproduce the battery exactly
    /// (networks exported for the battery's picture size, `<PW>x<PH>/` or the root directory).
    func testStartupProbeOnCPUIsExact() throws {
        guard let root = ProcessInfo.processInfo.environment["MLVC_COREML_PACKAGE"] else {
            throw XCTSkip("set MLVC_COREML_PACKAGE to the exported Core ML networks")
        }
        let battery = try Golden.probe()
        let sized = URL(fileURLWithPath: root).appendingPathComponent("\(battery.pictureWidth)x\(battery.pictureHeight)")
        let dir = FileManager.default.fileExists(atPath: sized.path) ? sized : URL(fileURLWithPath: root)
        let runner = try CoreMLNetworkRunner(packageDirectory: dir, synthesisComputeUnits: .cpuOnly)
        let r = Probe.run(runner, battery)
        XCTAssertTrue(r.exact, "\(r.details)")
        print("probe on \(runner.environment): \(r.millis) ms, exact: \(r.exact)")
    }

    /// g_s on the Neural Engine / GPU with a `.cpuOnly` reference: every picture verifies.
    func testApproximateSynthesisIsRecoveredThroughTheCPU() throws {
        let package = try Golden.package()
        for s in try Golden.streams() {
            let dir = try networkDirectory(for: s, alignment: package.alignment)
            let decoder = try Decoder(data: Golden.data(s.stream), package: package,
                                      network: try CoreMLNetworkRunner(packageDirectory: dir, synthesisComputeUnits: .all),
                                      reference: try CoreMLNetworkRunner(packageDirectory: dir, synthesisComputeUnits: .cpuOnly))
            let frames = try decoder.decodeAll()
            XCTAssertTrue(frames.allSatisfy(\.verified), s.name)
            print("\(s.name): \(decoder.switches)")
        }
    }

    func testApproximateSynthesisStillParsesEveryFrame() throws {
        // g_s on all compute units (GPU / Neural Engine): pictures may differ (and P-frames carry
        // their reference's error forward), symbols and motion fields may not: neither depends on
        // a picture. onParsed sees every I-frame and every P-frame residual (modes 1, 3).
        let package = try Golden.package()
        for s in try Golden.streams() {
            let runner = try CoreMLNetworkRunner(packageDirectory: networkDirectory(for: s, alignment: package.alignment),
                                                 synthesisComputeUnits: .all)
            XCTAssertFalse(runner.isExact)
            let decoder = try Decoder(data: Golden.data(s.stream), package: package, network: runner)
            var symbolsOK = true
            decoder.onParsed = { i, p in
                if let want = try? Golden.i32("\(s.name).f\(i).y_symbols.i32"), want != p.ySymbols { symbolsOK = false }
            }
            decoder.onParsedInter = { i, m in
                if let want = try? Golden.i32("\(s.name).f\(i).mv.i32"), want != m.motion { symbolsOK = false }
            }
            let frames = try decoder.decodeAll()
            XCTAssertEqual(frames.count, s.frames.count, s.name)
            XCTAssertTrue(symbolsOK, "\(s.name): latent symbols or motion fields differ (h_s must be exact)")
            print("\(s.name): \(frames.filter(\.verified).count)/\(frames.count) pictures bit-exact with g_s on .all")
        }
    }
}
#endif
