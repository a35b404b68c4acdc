import Foundation

/// One recorded network call: `role`, its input and the NumPy reference's outputs. The layout of
/// `probe/probe.json` and `calls/calls.json` (sdk/mlvc/conformance/golden.py): `{"role", "input":
/// {"name", "shape", "file"}, "outputs": [...]}`, raw int8 files next to the JSON.
public struct RecordedCall {
    public let role: NetworkRole
    public let inputName: String
    public let input: Int8Tensor
    public let outputs: [String: Int8Tensor]

    struct TensorJSON: Decodable {
        let name: String
        let shape: [Int]
        let file: String
    }

    struct CallJSON: Decodable {
        let role: String
        let input: TensorJSON
        let outputs: [TensorJSON]
    }

    static func tensor(_ t: TensorJSON, read: (String) throws -> Data) throws -> Int8Tensor {
        guard !t.file.contains("/"), !t.file.hasPrefix("."), t.shape.allSatisfy({ $0 >= 0 }) else {
            throw MLVCError.model("recorded tensor \(t.name): bad file name or shape")
        }
        let data = try read(t.file)
        guard t.shape.reduce(1, *) == data.count else {
            throw MLVCError.model("recorded tensor \(t.file): \(data.count) bytes for shape \(t.shape)")
        }
        return Int8Tensor(shape: t.shape, values: data.map { Int8(bitPattern: $0) })
    }

    static func parse(_ calls: [CallJSON], read: (String) throws -> Data) throws -> [RecordedCall] {
        try calls.map { c in
            guard let role = NetworkRole(rawValue: c.role) else { throw MLVCError.model("recorded call: unknown role \(c.role)") }
            var outs = [String: Int8Tensor]()
            for o in c.outputs { outs[o.name] = try tensor(o, read: read) }
            return RecordedCall(role: role, inputName: c.input.name, input: try tensor(c.input, read: read), outputs: outs)
        }
    }
}

/// The startup probe's battery (`conformance/golden/probe/probe.json`, golden.py): a few inputs per
/// network role with the NumPy reference's outputs, for a small picture (`pictureHeight` x
/// `pictureWidth`: export Core ML networks for that size too). `sha256` keys the cache.
public struct ProbeBattery {
    public let modelHash: String
    public let sha256: String
    public let pictureHeight: Int
    public let pictureWidth: Int
    public let entries: [RecordedCall]

    public var roles: Set<NetworkRole> { Set(entries.map(\.role)) }

    struct JSON: Decodable {
        struct Picture: Decodable { let height: Int; let width: Int }
        let format: String
        let model_hash: String
        let picture: Picture
        let battery_sha256: String
        let entries: [RecordedCall.CallJSON]
    }

    public init(modelHash: String, sha256: String, pictureHeight: Int, pictureWidth: Int, entries: [RecordedCall]) {
        self.modelHash = modelHash
        self.sha256 = sha256
        self.pictureHeight = pictureHeight
        self.pictureWidth = pictureWidth
        self.entries = entries
    }

    /// Parses `probe.json` (`json`), reading its tensor files through `read`. `model` error when malformed.
    public init(json: Data, read: (String) throws -> Data) throws {
        let j: JSON
        do { j = try JSONDecoder().decode(JSON.self, from: json) } catch {
            throw MLVCError.model("probe battery: not a battery (\(error))")
        }
        guard j.format == "mlvc-probe-battery", !j.entries.isEmpty else {
            throw MLVCError.model("probe battery: format '\(j.format)', \(j.entries.count) entries")
        }
        self.init(modelHash: j.model_hash, sha256: j.battery_sha256, pictureHeight: j.picture.height,
                  pictureWidth: j.picture.width, entries: try RecordedCall.parse(j.entries, read: read))
    }

    /// Loads `probe.json` and its files from `directory` (the golden `probe/` folder, or a bundle copy).
    public static func load(directory: URL) throws -> ProbeBattery {
        func read(_ name: String) throws -> Data {
            do { return try Data(contentsOf: directory.appendingPathComponent(name)) } catch {
                throw MLVCError.model("probe battery: cannot read \(name)")
            }
        }
        return try ProbeBattery(json: try read("probe.json"), read: read)
    }
}

/// What the probe showed for one runner in one environment: the roles it ran (`checked`) and those
/// whose outputs differed from the reference or failed (`failed`, reasons in `details`).
public struct ProbeResult: Codable, Equatable {
    public var format = "mlvc-probe-result"
    public let environment: String
    public let batterySHA256: String
    public let checked: [String]
    public let failed: [String]
    public let details: [String]
    public let millis: Int
    /// Read from the cache instead of run (not stored).
    public var fromCache = false

    enum CodingKeys: String, CodingKey {
        case format, environment, batterySHA256 = "battery_sha256", checked, failed, details, millis
    }

    /// Every role of the battery ran and matched bit for bit.
    public var exact: Bool { failed.isEmpty && !checked.isEmpty }

    /// Whether the probe ran `role` and it matched.
    public func exact(_ role: NetworkRole) -> Bool { checked.contains(role.rawValue) && !failed.contains(role.rawValue) }
}

/// The startup probe (issue #18 item 4): run the battery through a runner, compare every output with
/// the recorded reference bit for bit. A runner that fails is approximate in this environment.
///
///     let battery = try ProbeBattery.load(directory: bundle.url(forResource: "probe", withExtension: nil)!)
///     let runner = try Probe.check(CoreMLNetworkRunner(packageDirectory: dir, synthesisComputeUnits: .all), battery)
///     let decoder = try Decoder(data: data, options: options, network: runner, reference: cpuOnlyRunner)
public enum Probe {
    /// Runs every battery entry now (no cache). A role fails on any differing element, a missing
    /// output, a wrong shape or a thrown error.
    public static func run(_ runner: NetworkRunner, _ battery: ProbeBattery) -> ProbeResult {
        let t0 = Date()
        var checked = [String](), failed = [String](), details = [String]()
        for (k, e) in battery.entries.enumerated() {
            if !checked.contains(e.role.rawValue) { checked.append(e.role.rawValue) }
            var why: String?
            do {
                let out = try runner.run(role: e.role, input: e.input)
                for (name, want) in e.outputs.sorted(by: { $0.key < $1.key }) where why == nil {
                    guard let got = out[name] else { why = "no output '\(name)'"; break }
                    if got.shape != want.shape {
                        why = "output '\(name)' has shape \(got.shape), expected \(want.shape)"
                    } else {
                        let diff = zip(got.values, want.values).reduce(0) { $0 + ($1.0 != $1.1 ? 1 : 0) }
                        if diff > 0 { why = "output '\(name)': \(diff) of \(want.values.count) elements differ" }
                    }
                }
            } catch {
                why = "failed: \(error)"
            }
            if let why {
                if !failed.contains(e.role.rawValue) { failed.append(e.role.rawValue) }
                details.append("\(e.role.rawValue) (battery entry \(k)): \(why)")
            }
        }
        return ProbeResult(environment: runner.environment, batterySHA256: battery.sha256, checked: checked,
                           failed: failed, details: details, millis: Int(Date().timeIntervalSince(t0) * 1000))
    }

    /// `MLVC_CACHE`, else the user's caches directory `/mlvc`.
    public static var defaultCacheDirectory: URL? {
        if let env = ProcessInfo.processInfo.environment["MLVC_CACHE"], !env.isEmpty {
            return URL(fileURLWithPath: env, isDirectory: true)
        }
        return FileManager.default.urls(for: .cachesDirectory, in: .userDomainMask).first?
            .appendingPathComponent("mlvc", isDirectory: true)
    }

    /// The cache file of `environment` and `battery` in `directory`.
    public static func cacheFile(_ directory: URL, environment: String, battery: ProbeBattery) -> URL {
        let key = Hex.encode(SHA256.hash(Array("\(environment)\n\(battery.sha256)".utf8)))
        return directory.appendingPathComponent("mlvc-probe-\(key.prefix(24)).json")
    }

    /// The result for `runner` in its environment (`NetworkRunner.environment`): from `cacheDirectory`
    /// when an entry for the same environment and battery is there, else run and written there (best
    /// effort: an unwritable cache costs a probe next time, never an error).
    public static func cached(_ runner: NetworkRunner, _ battery: ProbeBattery,
                              cacheDirectory: URL? = Probe.defaultCacheDirectory) -> ProbeResult {
        let env = runner.environment
        let file = cacheDirectory.map { cacheFile($0, environment: env, battery: battery) }
        if let file, let data = try? Data(contentsOf: file),
           var r = try? JSONDecoder().decode(ProbeResult.self, from: data),
           r.format == "mlvc-probe-result", r.environment == env, r.batterySHA256 == battery.sha256 {
            r.fromCache = true
            return r
        }
        let r = run(runner, battery)
        if let file, let dir = cacheDirectory, let data = try? JSONEncoder().encode(r) {
            try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            try? data.write(to: file, options: .atomic)
        }
        return r
    }

    /// `cached`, then the runner with the probe's verdict.
    public static func check(_ runner: NetworkRunner, _ battery: ProbeBattery,
                             cacheDirectory: URL? = Probe.defaultCacheDirectory) -> ProbedNetworkRunner {
        ProbedNetworkRunner(runner, probe: cached(runner, battery, cacheDirectory: cacheDirectory))
    }
}

/// `inner` with the exactness the probe showed: a role is exact only if the runner claims it and the
/// probe ran it and matched. A runner failing the probe is thereby approximate: its hash mismatches are
/// recovered through the decoder's reference runner (or reported), and one whose h_s fails cannot parse.
public final class ProbedNetworkRunner: NetworkRunner {
    public let inner: NetworkRunner
    public let probe: ProbeResult

    public init(_ inner: NetworkRunner, probe: ProbeResult) {
        self.inner = inner
        self.probe = probe
    }

    public func run(role: NetworkRole, input: Int8Tensor) throws -> [String: Int8Tensor] {
        try inner.run(role: role, input: input)
    }

    public func isExact(role: NetworkRole) -> Bool { inner.isExact(role: role) && probe.exact(role) }

    /// g_s, and res_g_s if the battery has it.
    public var isExact: Bool {
        isExact(role: .synthesis) && (!probe.checked.contains("res_g_s") || isExact(role: .residualSynthesis))
    }

    public var environment: String { inner.environment }
}
