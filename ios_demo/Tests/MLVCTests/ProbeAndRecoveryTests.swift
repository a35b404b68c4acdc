import Foundation
import XCTest
@testable import MLVC

/// Moves every value of `roles`' outputs by `delta` (from its `from`-th call of them on).
final class TamperingRunner: NetworkRunner {
    let inner: NetworkRunner
    let roles: Set<NetworkRole>
    let delta: Int8
    let from: Int
    let claimsExact: Bool
    let environment: String
    private(set) var calls = 0
    private var tamperable = 0

    init(_ inner: NetworkRunner, roles: Set<NetworkRole>, delta: Int8 = 64, from: Int = 0, claimsExact: Bool = true,
         environment: String = "tampering") {
        self.inner = inner
        self.roles = roles
        self.delta = delta
        self.from = from
        self.claimsExact = claimsExact
        self.environment = environment
    }

    var isExact: Bool { claimsExact || !(roles.contains(.synthesis) || roles.contains(.residualSynthesis)) }
    func isExact(role: NetworkRole) -> Bool { claimsExact || !roles.contains(role) }

    func run(role: NetworkRole, input: Int8Tensor) throws -> [String: Int8Tensor] {
        calls += 1
        let out = try inner.run(role: role, input: input)
        guard roles.contains(role) else { return out }
        tamperable += 1
        if tamperable <= from { return out }
        return out.mapValues { Int8Tensor(shape: $0.shape, values: $0.values.map { $0 &+ delta }) }
    }
}

/// The startup probe: golden battery (probe/probe.json), verdicts, the per-environment cache.
final class ProbeTests: XCTestCase {
    func reference() throws -> RecordedNetworkRunner {
        RecordedNetworkRunner(try Golden.probe().entries, environment: "reference")
    }

    func testBatteryCoversEveryNetworkOfThePackage() throws {
        let b = try Golden.probe()
        let p = try Golden.package()
        var want: Set<NetworkRole> = [.hyperSynthesis, .synthesis]
        if p.hasResidualNetworks { want.formUnion([.residualHyperSynthesis, .residualSynthesis]) }
        XCTAssertEqual(b.roles, want)
        XCTAssertNotEqual(b.pictureHeight, b.pictureWidth, "a non-square probe picture")
        XCTAssertEqual(b.modelHash, Hex.encode(p.modelHash))
    }

    func testTheReferenceAnswersPass() throws {
        let b = try Golden.probe()
        let r = Probe.run(try reference(), b)
        XCTAssertTrue(r.exact, "\(r)")
        XCTAssertEqual(Set(r.checked), Set(b.roles.map(\.rawValue)))
        XCTAssertLessThan(r.millis, 500)
        let probed = ProbedNetworkRunner(try reference(), probe: r)
        for role in b.roles { XCTAssertTrue(probed.isExact(role: role), role.rawValue) }
        XCTAssertTrue(probed.isExact)
    }

    func testOneDifferingElementFailsItsRole() throws {
        let b = try Golden.probe()
        for role in b.roles {
            let r = Probe.run(TamperingRunner(try reference(), roles: [role], delta: 1), b)
            XCTAssertFalse(r.exact)
            XCTAssertEqual(r.failed, [role.rawValue])
            XCTAssertTrue(r.details.allSatisfy { $0.hasPrefix(role.rawValue) && $0.contains("differ") }, "\(r.details)")
            let probed = ProbedNetworkRunner(try reference(), probe: r)
            XCTAssertFalse(probed.isExact(role: role))
            for other in b.roles.subtracting([role]) { XCTAssertTrue(probed.isExact(role: other)) }
        }
    }

    func testFailingOrMisshapenRunnersFail() throws {
        struct Lost: Error {}
        final class Throwing: NetworkRunner {
            func run(role: NetworkRole, input: Int8Tensor) throws -> [String: Int8Tensor] { throw Lost() }
        }
        final class Misshapen: NetworkRunner {
            let inner: NetworkRunner
            init(_ inner: NetworkRunner) { self.inner = inner }
            func run(role: NetworkRole, input: Int8Tensor) throws -> [String: Int8Tensor] {
                try inner.run(role: role, input: input).mapValues { Int8Tensor(shape: [$0.values.count], values: $0.values) }
            }
        }
        let b = try Golden.probe()
        let all = Set(b.roles.map(\.rawValue))
        XCTAssertEqual(Set(Probe.run(Throwing(), b).failed), all)
        XCTAssertEqual(Set(Probe.run(Misshapen(try reference()), b).failed), all)
    }

    func testResultIsCachedPerEnvironmentAndBattery() throws {
        let b = try Golden.probe()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mlvc-probe-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let a = TamperingRunner(try reference(), roles: [], environment: "coreml/ios18.2/cpuOnly/iPhone16,1")
        let first = Probe.cached(a, b, cacheDirectory: dir)
        XCTAssertTrue(first.exact && !first.fromCache)
        XCTAssertEqual(a.calls, b.entries.count)
        XCTAssertTrue(FileManager.default.fileExists(atPath: Probe.cacheFile(dir, environment: a.environment, battery: b).path))
        let t0 = Date()
        let second = Probe.cached(a, b, cacheDirectory: dir)
        let ms = Date().timeIntervalSince(t0) * 1000
        XCTAssertTrue(second.fromCache && second.exact)
        XCTAssertEqual(a.calls, b.entries.count, "no network call for a cached result")
        XCTAssertLessThan(ms, 100, "cached start (target 10 ms; slack for a debug build)")
        // Another environment (compute units, OS) is probed again, and fails here; failures are cached too.
        let ane = TamperingRunner(try reference(), roles: [.synthesis], environment: "coreml/ios18.2/all/iPhone16,1")
        XCTAssertFalse(Probe.cached(ane, b, cacheDirectory: dir).fromCache)
        XCTAssertEqual(Probe.cached(ane, b, cacheDirectory: dir).failed, ["g_s"])
        // Another battery (a new model) is probed again.
        let other = ProbeBattery(modelHash: "x", sha256: String(b.sha256.reversed()), pictureHeight: b.pictureHeight,
                                 pictureWidth: b.pictureWidth, entries: b.entries)
        XCTAssertFalse(Probe.cached(a, other, cacheDirectory: dir).fromCache)
        // A damaged entry is probed again.
        try Data("{\"format\": 3".utf8).write(to: Probe.cacheFile(dir, environment: a.environment, battery: b))
        XCTAssertFalse(Probe.cached(a, b, cacheDirectory: dir).fromCache)
        XCTAssertTrue(Probe.cached(a, b, cacheDirectory: dir).fromCache)
        // An unwritable cache costs a probe, not an error.
        let blocked = dir.appendingPathComponent("blocked")
        try Data("a file".utf8).write(to: blocked)
        XCTAssertTrue(Probe.cached(a, b, cacheDirectory: blocked).exact)
    }

    func testMalformedBatteryIsAModelError() throws {
        let d = Golden.dir.appendingPathComponent("probe")
        let good = String(decoding: try Data(contentsOf: d.appendingPathComponent("probe.json")), as: UTF8.self)
        for bad in ["[]", "{\"format\": \"other\"}", good.replacingOccurrences(of: "\"shape\": [", with: "\"shape\": [2, ")] {
            assertThrowsKind("model", String(bad.prefix(20))) {
                try ProbeBattery(json: Data(bad.utf8)) { try Data(contentsOf: d.appendingPathComponent($0)) }
            }
        }
    }
}

/// Recovery (issue #18 item 4b): a hash mismatch on a runner not proven exact re-decodes the picture
/// with the reference runner, which decodes the rest; strict throws; preview keeps.
final class RecoveryTests: XCTestCase {
    struct Case {
        let vectors: ConformanceVectors
        let vector: ConformanceVectors.Vector
        let data: Data
        let md5s: [String]
        let package: ModelPackage
    }

    /// The vector with P-frames and the most frames.
    func vectorCase() throws -> Case {
        let vectors = try Golden.vectors()
        let v = try XCTUnwrap(vectors.vectors.filter { $0.name.contains("gop") }.max { $0.frames < $1.frames })
        return Case(vectors: vectors, vector: v, data: try vectors.data(v.stream), md5s: try vectors.md5s(v),
                    package: try Golden.package())
    }

    /// g_s / res_g_s wrong from frame 1 on, and saying so (Core ML on the GPU / Neural Engine).
    func delegate() -> TamperingRunner {
        TamperingRunner(RecordedNetworkRunner(Recorded.calls), roles: [.synthesis, .residualSynthesis], from: 1,
                        claimsExact: false, environment: "coreml/all")
    }

    func testMismatchOnAnApproximateRunnerSwitchesToTheReference() throws {
        let c = try vectorCase()
        let approx = delegate()
        let reference = RecordedNetworkRunner(Recorded.calls, environment: "coreml/cpuOnly")
        let dec = try Decoder(data: c.data, package: c.package, network: approx, reference: reference)
        XCTAssertFalse(dec.isExact)
        var seen = [BackendSwitch]()
        dec.onSwitch = { seen.append($0) }
        let frames = try dec.decodeAll()
        XCTAssertEqual(frames.map { Hex.encode($0.md5) }, c.md5s)
        XCTAssertTrue(frames.allSatisfy(\.verified))
        XCTAssertEqual(frames.filter(\.recovered).map(\.index), [1])
        XCTAssertEqual(seen, dec.switches)
        XCTAssertEqual(seen.map(\.frame), [1])
        XCTAssertEqual(seen.first?.from, "coreml/all")
        XCTAssertEqual(seen.first?.to, "coreml/cpuOnly")
        XCTAssertTrue(dec.usingReference && dec.isExact)
        XCTAssertEqual(approx.calls, 4, "frames 0 and 1 (h_s + g_s each), nothing after the switch")
        XCTAssertGreaterThan(reference.total, 0)
    }

    func testRecoveryWorksOnAStreamToo() throws {
        let c = try vectorCase()
        let frames = try Decoder(stream: InputStream(data: c.data), package: c.package, network: delegate(),
                                 reference: RecordedNetworkRunner(Recorded.calls)).decodeAll()
        XCTAssertEqual(frames.map { Hex.encode($0.md5) }, c.md5s)
        XCTAssertTrue(frames.allSatisfy(\.verified))
    }

    func testStrictThrowsTheHashError() throws {
        let c = try vectorCase()
        let dec = try Decoder(data: c.data, options: try DecoderOptions(strict: true), package: c.package,
                              network: delegate(), reference: RecordedNetworkRunner(Recorded.calls))
        XCTAssertNotNil(try dec.next())
        do {
            _ = try dec.next()
            XCTFail("strict: no error")
        } catch let e as MLVCError {
            XCTAssertEqual(e.code, "hash_mismatch")
            XCTAssertTrue(e.message.contains("strict"), "\(e)")
        }
        assertThrowsKind("invalid_argument", "strict + preview") { try DecoderOptions(strict: true, preview: true) }
        assertThrowsKind("invalid_argument", "strict without verification") { try DecoderOptions(verifyHashes: false, strict: true) }
    }

    func testPreviewOrNoReferenceKeepsTheApproximatePictures() throws {
        let c = try vectorCase()
        for (opts, ref) in [(try DecoderOptions(preview: true), RecordedNetworkRunner(Recorded.calls) as NetworkRunner?),
                            (DecoderOptions.defaults, nil)] {
            let dec = try Decoder(data: c.data, options: opts, package: c.package, network: delegate(), reference: ref)
            let frames = try dec.decodeAll()
            XCTAssertTrue(frames[0].verified)
            XCTAssertFalse(frames[1].verified)
            XCTAssertFalse(frames.contains(where: \.recovered))
            XCTAssertTrue(dec.switches.isEmpty)
            XCTAssertFalse(dec.usingReference)
        }
    }

    /// Trusted by name, a wrong runner loses the stream; with the probe's verdict it is recovered.
    func testARunnerFailingTheProbeIsRecovered() throws {
        let c = try vectorCase()
        let battery = try Golden.probe()
        func wrong() -> TamperingRunner {
            TamperingRunner(RecordedNetworkRunner(Recorded.calls + battery.entries), roles: [.synthesis, .residualSynthesis])
        }
        let probe = Probe.run(wrong(), battery)
        XCTAssertFalse(probe.exact)
        assertThrowsKind("hash_mismatch", "trusted by name") {
            try Decoder(data: c.data, package: c.package, network: wrong(), reference: RecordedNetworkRunner(Recorded.calls)).decodeAll()
        }
        let dec = try Decoder(data: c.data, package: c.package, network: ProbedNetworkRunner(wrong(), probe: probe),
                              reference: RecordedNetworkRunner(Recorded.calls))
        let frames = try dec.decodeAll()
        XCTAssertEqual(frames.map { Hex.encode($0.md5) }, c.md5s)
        XCTAssertEqual(frames.filter(\.recovered).map(\.index), [0])
        XCTAssertEqual(dec.switches.map(\.frame), [0])
    }

    /// h_s decides symbols: not exact, the reference decodes from the start; no reference (or strict), `model`.
    func testAParseNetworkThatIsNotExactNeedsTheReference() throws {
        let c = try vectorCase()
        let battery = try Golden.probe()
        let bad = TamperingRunner(RecordedNetworkRunner(Recorded.calls + battery.entries),
                                  roles: [.hyperSynthesis, .residualHyperSynthesis])
        let probed = ProbedNetworkRunner(bad, probe: Probe.run(bad, battery))
        XCTAssertFalse(probed.isExact(role: .hyperSynthesis))
        let before = bad.calls
        let dec = try Decoder(data: c.data, package: c.package, network: probed, reference: RecordedNetworkRunner(Recorded.calls))
        XCTAssertTrue(dec.usingReference)
        XCTAssertTrue(dec.switches.first?.reason.contains("h_s") ?? false)
        XCTAssertEqual(try dec.decodeAll().map { Hex.encode($0.md5) }, c.md5s)
        XCTAssertEqual(bad.calls, before, "the failing runner is never asked")
        assertThrowsKind("model", "no reference") { try Decoder(data: c.data, package: c.package, network: probed) }
        assertThrowsKind("model", "strict") {
            try Decoder(data: c.data, options: try DecoderOptions(strict: true), package: c.package, network: probed,
                        reference: RecordedNetworkRunner(Recorded.calls))
        }
    }

    /// An exact reference that still mismatches: the stream is wrong, `hashMismatch`.
    func testMismatchOnTheReferenceToo() throws {
        let c = try vectorCase()
        let ref = TamperingRunner(RecordedNetworkRunner(Recorded.calls), roles: [.synthesis, .residualSynthesis],
                                  environment: "cpu")
        do {
            _ = try Decoder(data: c.data, package: c.package, network: delegate(), reference: ref).decodeAll()
            XCTFail("no error")
        } catch let e as MLVCError {
            XCTAssertEqual(e.code, "hash_mismatch")
            XCTAssertTrue(e.message.contains("reference"), "\(e)")
        }
    }
}
