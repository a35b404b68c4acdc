import Foundation

/// The official conformance vectors (sdk/mlvc/data/vectors, vectors.py): `manifest.json` with every
/// file's SHA-256, a stream and an `.md5` file (one line per frame) per vector, and the hostile-stream
/// catalogue `invalid/catalogue.json` (hostile.py: stream, error kind, frames decoded before the
/// error). Files are read through `read` (a folder: `load(directory:)`; a bundle: a closure).
public struct ConformanceVectors {
    public struct Vector: Decodable, CustomStringConvertible {
        public let name: String
        public let stream: String
        public let md5: String
        public let frames: Int
        public var description: String { name }
    }

    public struct HostileCase: CustomStringConvertible {
        public let name: String
        public let stream: String
        public let base: String
        /// The Python error code every decoder must throw ("corrupt_stream", ...).
        public let error: String
        public let framesBefore: Int
        public var description: String { name }
    }

    struct Manifest: Decodable {
        let format: String
        let vectors: [Vector]
        let sha256: [String: String]
    }

    struct Catalogue: Decodable {
        struct Case: Decodable {
            let name: String
            let stream: String
            let base: String
            let error: String
            let frames_before: Int
        }
        let format: String
        let cases: [Case]
    }

    /// SHA-256 of manifest.json (the golden recorded calls name the manifest they come from).
    public let manifestSHA256: String
    public let vectors: [Vector]
    public let hostile: [HostileCase]
    private let read: (String) throws -> Data

    /// Checks every file against the manifest (a missing or damaged one is `invalidArgument`, as
    /// `mlvc.conformance.vectors.load_manifest`).
    public init(read: @escaping (String) throws -> Data) throws {
        self.read = read
        func file(_ rel: String, _ what: String) throws -> Data {
            do { return try read(rel) } catch { throw MLVCError.invalidArgument("conformance vectors: \(what) \(rel) is missing") }
        }
        let raw = try file("manifest.json", "manifest")
        manifestSHA256 = Hex.encode(SHA256.hash([UInt8](raw)))
        let m: Manifest
        do { m = try JSONDecoder().decode(Manifest.self, from: raw) } catch {
            throw MLVCError.invalidArgument("conformance vectors: manifest.json is not a vector manifest (\(error))")
        }
        guard m.format == "mlvc-conformance-vectors" else {
            throw MLVCError.invalidArgument("conformance vectors: format is '\(m.format)'")
        }
        for (rel, sha) in m.sha256.sorted(by: { $0.key < $1.key }) {
            guard Hex.encode(SHA256.hash([UInt8](try file(rel, "vector file")))) == sha else {
                throw MLVCError.invalidArgument("conformance vectors: vector file \(rel) is damaged")
            }
        }
        vectors = m.vectors
        let c: Catalogue
        do { c = try JSONDecoder().decode(Catalogue.self, from: try file("invalid/catalogue.json", "catalogue")) } catch let e as MLVCError {
            throw e
        } catch {
            throw MLVCError.invalidArgument("hostile catalogue: not a catalogue (\(error))")
        }
        guard c.format == "mlvc-hostile-catalogue" else {
            throw MLVCError.invalidArgument("hostile catalogue: format is '\(c.format)'")
        }
        hostile = c.cases.map { HostileCase(name: $0.name, stream: $0.stream, base: $0.base, error: $0.error,
                                            framesBefore: $0.frames_before) }
    }

    public static func load(directory: URL) throws -> ConformanceVectors {
        try ConformanceVectors { try Data(contentsOf: directory.appendingPathComponent($0)) }
    }

    public func data(_ rel: String) throws -> Data { try read(rel) }

    /// The expected MD5 (hex) of every frame of `v`.
    public func md5s(_ v: Vector) throws -> [String] {
        String(decoding: try read(v.md5), as: UTF8.self).split(separator: "\n")
            .compactMap { $0.split(separator: " ").first.map(String.init) }
    }
}

/// `mlvc conformance` for the port: every vector decodes to its `.md5` lines (verification off, then
/// compared, as the Python runner), every catalogue stream fails with its kind after its
/// `frames_before` frames.
public enum Conformance {
    public struct Result: CustomStringConvertible {
        public let name: String
        public let passed: Bool
        public let frames: Int
        public let detail: String
        public var description: String { "\(name): " + (passed ? "pass" : "FAIL \(detail)") }
    }

    public static func runVector(_ vectors: ConformanceVectors, _ v: ConformanceVectors.Vector, package: ModelPackage,
                                 network: NetworkRunner) -> Result {
        var got = 0
        do {
            let expected = try vectors.md5s(v)
            let dec = try Decoder(data: try vectors.data(v.stream), options: try DecoderOptions(verifyHashes: false),
                                  package: package, network: network)
            while let f = try dec.next() {
                let md5 = Hex.encode(f.md5)
                guard f.index < expected.count, md5 == expected[f.index], f.verified else {
                    return Result(name: v.name, passed: false, frames: got,
                                  detail: "frame \(f.index): md5 \(md5), expected \(f.index < expected.count ? expected[f.index] : "none")")
                }
                got += 1
            }
            let ok = got == expected.count && got == v.frames
            return Result(name: v.name, passed: ok, frames: got, detail: ok ? "" : "\(got) of \(expected.count) frames")
        } catch {
            return Result(name: v.name, passed: false, frames: got, detail: "\(error)")
        }
    }

    /// `c` through `init(data:)`, or through the streamed (`ByteSource`) path when `streamed`.
    public static func runHostile(_ vectors: ConformanceVectors, _ c: ConformanceVectors.HostileCase, package: ModelPackage,
                                  network: NetworkRunner, streamed: Bool = false) -> Result {
        var decoded = 0
        do {
            let data = try vectors.data(c.stream)
            let dec: Decoder
            if streamed {
                var pos = 0
                let bytes = [UInt8](data)
                dec = try Decoder(package: package, network: network) { n in
                    let k = min(n, bytes.count - pos)
                    defer { pos += k }
                    return k == 0 ? nil : Data(bytes[pos..<(pos + k)])
                }
            } else {
                dec = try Decoder(data: data, package: package, network: network)
            }
            while try dec.next() != nil { decoded += 1 }
            return Result(name: c.name, passed: false, frames: decoded, detail: "decoded without error; expected \(c.error)")
        } catch let e as MLVCError {
            if e.code != c.error {
                return Result(name: c.name, passed: false, frames: decoded, detail: "\(e); expected \(c.error)")
            }
            if decoded != c.framesBefore {
                return Result(name: c.name, passed: false, frames: decoded,
                              detail: "failed after \(decoded) frames, expected \(c.framesBefore): \(e)")
            }
            return Result(name: c.name, passed: true, frames: decoded, detail: "\(e)")
        } catch {
            return Result(name: c.name, passed: false, frames: decoded, detail: "not an MLVCError: \(error)")
        }
    }

    /// Every vector and every catalogue case, each with a fresh runner from `network`.
    public static func run(_ vectors: ConformanceVectors, package: ModelPackage,
                           network: () -> NetworkRunner) -> [Result] {
        vectors.vectors.map { runVector(vectors, $0, package: package, network: network()) }
            + vectors.hostile.map { runHostile(vectors, $0, package: package, network: network()) }
    }
}
