import Foundation

/// The Python SDK's model package manifest (`manifest.json`, sdk/mlvc/package/manifest.py) and its
/// `content_hash`: the SHA-256 of the canonical manifest, recomputed here byte for byte as Python's
///
///     json.dumps(d, sort_keys=True, separators=(",", ":")).encode()
///
/// where `d` is the pydantic `model_dump()` of the manifest without `content_hash`, without
/// `res_z_table_index` / `res_latent_channels` when they are null, and (format version >= 2)
/// without `description` and `training` (`NOT_HASHED`). So: keys in code-point order, no
/// whitespace, non-ASCII and DEL as `\uXXXX` (`ensure_ascii`), integer fields as integers, float
/// fields (`macs_per_pixel`, `sigma_min`, and floats in a version-1 `training`) as Python's
/// `repr` (shortest round trip: `0.11`, `1e-05`, `2.0`). The manifest is parsed with its own JSON
/// reader (`ExactJSON`) because JSONSerialization loses the integer / float distinction.
///
/// Every violation of the Python schema (types, ranges, unknown keys, roles) is a `model` error;
/// where Python would coerce an odd value (a string for an integer, a boolean for a number) this
/// reader refuses the package instead, and duplicate keys are refused too.
public struct PackageManifest: Equatable {
    public static let format = "mlvc-model-package"
    public static let supportedVersions = [1, 2]
    /// Fields that are not part of the model's identity from format version 2.
    public static let notHashed = ["description", "training"]
    public static let roles = ["g_a", "h_a", "h_s", "g_s"]
    public static let residualRoles = roles.map { "res_" + $0 }

    public struct Level: Equatable {
        public var level: Int
        public var exp: Int
    }

    public struct NetworkEntry: Equatable {
        public var graph: String
        public var graphSHA256: String
        public var tflite: String
        public var tfliteSHA256: String
        public var macsPerPixel: Double
    }

    public struct TablesEntry: Equatable {
        public var file: String
        public var sha256: String
        public var numTables: Int
        public var sigmaMin: Double
        public var tablesPerOctave: Int
    }

    public internal(set) var formatVersion: Int
    public internal(set) var modelID: String
    public internal(set) var description: String
    public internal(set) var levels: [Level]
    public internal(set) var yExp: Int
    public internal(set) var latentChannels: Int
    public internal(set) var hyperChannels: Int
    public internal(set) var alignment: Int
    public internal(set) var maxWidth: Int
    public internal(set) var maxHeight: Int
    public internal(set) var zTableIndex: [Int]
    public internal(set) var resZTableIndex: [Int]?
    public internal(set) var resLatentChannels: Int?
    public internal(set) var networks: [String: NetworkEntry]
    public internal(set) var tables: TablesEntry
    /// Training bookkeeping, as parsed (an object); hashed in format version 1 only.
    public internal(set) var training: ExactJSON
    /// The hash the manifest states (64 hex digits, or "" when absent).
    public internal(set) var contentHash: String

    public var hasResidual: Bool { networks[PackageManifest.residualRoles[0]] != nil }

    /// Latent channels of the residual networks: `res_latent_channels`, else `latent_channels`.
    public var residualLatentChannels: Int { resLatentChannels ?? latentChannels }

    /// The first 16 bytes of `contentHash`: what a stream carries to name this package.
    public var streamHash: [UInt8] { Array((Hex.decode(contentHash) ?? []).prefix(16)) }

    // MARK: - Reading

    /// Reads and validates `manifest.json` and checks its `content_hash` (`read_manifest`).
    public static func read(_ url: URL) throws -> PackageManifest {
        let bytes: [UInt8]
        do { bytes = [UInt8](try Data(contentsOf: url)) } catch {
            throw MLVCError.model("cannot read model package manifest \(url.path)")
        }
        return try parse(bytes, path: url.path)
    }

    /// Parses and validates manifest bytes, then checks `content_hash` against the recomputed hash.
    public static func parse(_ bytes: [UInt8], path: String = "manifest.json") throws -> PackageManifest {
        let m = try decode(bytes, path: path)
        guard m.contentHash == m.computeContentHash() else {
            throw MLVCError.model("model package manifest \(path): content hash does not match")
        }
        return m
    }

    /// Parses and validates manifest bytes without checking `content_hash`.
    static func decode(_ bytes: [UInt8], path: String) throws -> PackageManifest {
        func bad(_ what: String) -> MLVCError { .model("invalid model package manifest \(path): \(what)") }
        let root: ExactJSON
        do { root = try ExactJSON.parse(bytes) } catch let e as ExactJSON.ParseError {
            throw bad("not JSON (\(e.message))")
        }
        var o = try Fields(root, "", bad)
        guard try o.string("format") == PackageManifest.format else {
            throw bad("format: not an MLVC model package")
        }
        let version = try o.int("format_version")
        guard supportedVersions.contains(version) else {
            throw bad("format_version: package format version \(version) is not supported (1, 2)")
        }
        let modelID = try o.string("model_id")
        let idChars = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-".unicodeScalars)
        guard (1...16).contains(modelID.unicodeScalars.count), modelID.unicodeScalars.allSatisfy(idChars.contains) else {
            throw bad("model_id: not 1-16 characters of [A-Za-z0-9._-]")
        }
        let description = try o.optional("description").map { v -> String in
            guard case .string(let s) = v else { throw bad("description: not a string") }
            return s
        } ?? ""
        guard case .array(let levelValues) = try o.required("levels"), !levelValues.isEmpty else {
            throw bad("levels: not a non-empty list")
        }
        var levels = [Level]()
        for (i, v) in levelValues.enumerated() {
            var l = try Fields(v, "levels.\(i).", bad)
            let level = Level(level: try l.int("level", 1...32), exp: try l.int("exp", -8...8))
            try l.finish()
            levels.append(level)
        }
        let yExp = try o.int("y_exp", -8...8)
        let latent = try o.int("latent_channels", 1...1024)
        let hyper = try o.int("hyper_channels", 1...1024)
        let alignment = try o.int("alignment", 1...256)
        let maxWidth = try o.int("max_width", 16...16384)
        let maxHeight = try o.int("max_height", 16...16384)
        let zTables = try o.intList("z_table_index")
        // Optional[...] = None: absent or null.
        let resZTables: [Int]? = o.isNull("res_z_table_index") ? nil : try o.intList("res_z_table_index")
        let resLatent: Int? = o.isNull("res_latent_channels") ? nil : try o.int("res_latent_channels", 1...1024)
        guard case .object(let netPairs) = try o.required("networks") else { throw bad("networks: not an object") }
        var networks = [String: NetworkEntry]()
        for (role, v) in netPairs {
            var n = try Fields(v, "networks.\(role).", bad)
            networks[role] = NetworkEntry(graph: try n.string("graph"), graphSHA256: try n.sha("graph_sha256"),
                                          tflite: try n.string("tflite"), tfliteSHA256: try n.sha("tflite_sha256"),
                                          macsPerPixel: try n.float("macs_per_pixel", min: 0, inclusive: true))
            try n.finish()
        }
        let missing = roles.filter { networks[$0] == nil }
        guard missing.isEmpty else { throw bad("networks: networks missing: \(missing)") }
        let res = residualRoles.filter { networks[$0] != nil }
        guard res.isEmpty || res.count == residualRoles.count else {
            throw bad("networks: residual networks incomplete: \(res)")
        }
        let unknown = networks.keys.filter { !roles.contains($0) && !residualRoles.contains($0) }.sorted()
        guard unknown.isEmpty else { throw bad("networks: unknown networks: \(unknown)") }
        var t = try Fields(try o.required("tables"), "tables.", bad)
        let tables = TablesEntry(file: try t.string("file"), sha256: try t.sha("sha256"),
                                 numTables: try t.int("num_tables", 1...256),
                                 sigmaMin: try t.float("sigma_min", min: 0, inclusive: false),
                                 tablesPerOctave: try t.int("tables_per_octave", 1...64))
        try t.finish()
        let training = try o.optional("training") ?? .object([])
        guard case .object = training else { throw bad("training: not an object") }
        let contentHash = try o.optional("content_hash").map { v -> String in
            guard case .string(let s) = v, s.isEmpty || isSHA(s) else { throw bad("content_hash: not 64 hex digits") }
            return s
        } ?? ""
        try o.finish()
        let m = PackageManifest(formatVersion: version, modelID: modelID, description: description, levels: levels,
                                yExp: yExp, latentChannels: latent, hyperChannels: hyper, alignment: alignment,
                                maxWidth: maxWidth, maxHeight: maxHeight, zTableIndex: zTables,
                                resZTableIndex: resZTables, resLatentChannels: resLatent, networks: networks,
                                tables: tables, training: training, contentHash: contentHash)
        guard m.hasResidual == (resZTables != nil) else {
            throw bad("res_z_table_index must be given exactly when the package has residual networks")
        }
        if !m.hasResidual, let r = resLatent, r != latent {
            throw bad("res_latent_channels differs from latent_channels in a package without residual networks")
        }
        return m
    }

    static func isSHA(_ s: String) -> Bool {
        s.utf8.count == 64 && s.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }

    /// The fields of one JSON object, taken one by one; `finish` refuses what is left (extra="forbid").
    private struct Fields {
        var pairs: [String: ExactJSON]
        let prefix: String
        let bad: (String) -> MLVCError

        init(_ v: ExactJSON, _ prefix: String, _ bad: @escaping (String) -> MLVCError) throws {
            guard case .object(let p) = v else { throw bad("\(prefix.isEmpty ? "manifest" : String(prefix.dropLast())): not an object") }
            // (The parser has refused duplicate keys; these objects' keys are ASCII names.)
            pairs = Dictionary(p.map { ($0.key, $0.value) }, uniquingKeysWith: { _, last in last })
            self.prefix = prefix
            self.bad = bad
        }

        /// Absent or null (then removed).
        mutating func isNull(_ k: String) -> Bool {
            guard let v = pairs[k], v != .null else { pairs[k] = nil; return true }
            return false
        }
        mutating func optional(_ k: String) throws -> ExactJSON? { pairs.removeValue(forKey: k) }
        mutating func required(_ k: String) throws -> ExactJSON {
            guard let v = pairs.removeValue(forKey: k) else { throw bad("\(prefix)\(k): field required") }
            return v
        }
        mutating func string(_ k: String) throws -> String {
            guard case .string(let s) = try required(k) else { throw bad("\(prefix)\(k): not a string") }
            return s
        }
        mutating func sha(_ k: String) throws -> String {
            let s = try string(k)
            guard PackageManifest.isSHA(s) else { throw bad("\(prefix)\(k): not 64 lowercase hex digits") }
            return s
        }
        static func integer(_ v: ExactJSON) -> Int? {
            switch v {
            case .int(let s): return Int(s)
            case .float(let d):       // pydantic's lax mode: a float with no fractional part
                return d.rounded() == d && abs(d) < 9.0e18 ? Int(d) : nil
            default: return nil
            }
        }
        mutating func int(_ k: String, _ range: ClosedRange<Int>? = nil) throws -> Int {
            guard let i = Fields.integer(try required(k)) else { throw bad("\(prefix)\(k): not an integer") }
            if let r = range, !r.contains(i) { throw bad("\(prefix)\(k): \(i) not in \(r.lowerBound)...\(r.upperBound)") }
            return i
        }
        mutating func intList(_ k: String) throws -> [Int] {
            guard case .array(let a) = try required(k) else { throw bad("\(prefix)\(k): not a list") }
            return try a.enumerated().map { i, v in
                guard let n = Fields.integer(v) else { throw bad("\(prefix)\(k).\(i): not an integer") }
                return n
            }
        }
        mutating func float(_ k: String, min: Double, inclusive: Bool) throws -> Double {
            let d: Double
            switch try required(k) {
            case .int(let s): d = Double(s) ?? .nan
            case .float(let f): d = f
            default: throw bad("\(prefix)\(k): not a number")
            }
            guard d.isFinite, inclusive ? d >= min : d > min else { throw bad("\(prefix)\(k): \(d) out of range") }
            return d
        }
        func finish() throws {
            if let k = pairs.keys.sorted().first { throw bad("\(prefix)\(k): extra inputs are not permitted") }
        }
    }

    // MARK: - Canonical form and hash

    /// `model_dump()` as a JSON value, with the keys `canonical_json` drops left out.
    func canonicalValue() -> ExactJSON {
        func int(_ i: Int) -> ExactJSON { .int(String(i)) }
        var d: [(String, ExactJSON)] = [
            ("format", .string(PackageManifest.format)), ("format_version", int(formatVersion)),
            ("model_id", .string(modelID)),
            ("levels", .array(levels.map { .object([("level", int($0.level)), ("exp", int($0.exp))]) })),
            ("y_exp", int(yExp)), ("latent_channels", int(latentChannels)), ("hyper_channels", int(hyperChannels)),
            ("alignment", int(alignment)), ("max_width", int(maxWidth)), ("max_height", int(maxHeight)),
            ("z_table_index", .array(zTableIndex.map(int))),
            ("networks", .object(networks.map { role, n in
                (role, .object([("graph", .string(n.graph)), ("graph_sha256", .string(n.graphSHA256)),
                                ("tflite", .string(n.tflite)), ("tflite_sha256", .string(n.tfliteSHA256)),
                                ("macs_per_pixel", .float(n.macsPerPixel))]))
            })),
            ("tables", .object([("file", .string(tables.file)), ("sha256", .string(tables.sha256)),
                                ("num_tables", int(tables.numTables)), ("sigma_min", .float(tables.sigmaMin)),
                                ("tables_per_octave", int(tables.tablesPerOctave))])),
        ]
        if let r = resZTableIndex { d.append(("res_z_table_index", .array(r.map(int)))) }
        if let r = resLatentChannels { d.append(("res_latent_channels", int(r))) }
        if formatVersion < 2 {
            d.append(("description", .string(description)))
            d.append(("training", training))
        }
        return .object(d)
    }

    /// The bytes `Manifest.canonical_json()` returns.
    public func canonicalJSON() -> [UInt8] { canonicalValue().canonicalBytes() }

    /// `Manifest.compute_content_hash()`: lowercase hex SHA-256 of `canonicalJSON()`.
    public func computeContentHash() -> String { Hex.encode(SHA256.hash(canonicalJSON())) }

    /// A manifest.json for this manifest with `content_hash` recomputed (the canonical form plus
    /// that key; from format version 2, without `description` and `training`).
    func jsonWithContentHash() -> [UInt8] {
        guard case .object(var d) = canonicalValue() else { return [] }
        d.append(("content_hash", .string(computeContentHash())))
        return ExactJSON.object(d).canonicalBytes()
    }
}

/// A JSON value that keeps what Python's `json` keeps: integers (as their digits, any size) apart
/// from floats, object members in order (a duplicate key is refused: Python would keep the last
/// one), and strings as Unicode scalars. `canonicalBytes` writes Python's
/// `json.dumps(v, sort_keys=True, separators=(",", ":"))`.
public indirect enum ExactJSON: Equatable {
    case null
    case bool(Bool)
    /// An integer's decimal digits, normalised (no "-0").
    case int(String)
    case float(Double)
    case string(String)
    case array([ExactJSON])
    case object([(key: String, value: ExactJSON)])

    public static func == (a: ExactJSON, b: ExactJSON) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case let (.bool(x), .bool(y)): return x == y
        case let (.int(x), .int(y)): return x == y
        case let (.float(x), .float(y)): return x.bitPattern == y.bitPattern
        case let (.string(x), .string(y)): return x.unicodeScalars.elementsEqual(y.unicodeScalars)
        case let (.array(x), .array(y)): return x == y
        case let (.object(x), .object(y)):
            return x.count == y.count && zip(x, y).allSatisfy {
                $0.key.unicodeScalars.elementsEqual($1.key.unicodeScalars) && $0.value == $1.value
            }
        default: return false
        }
    }

    public struct ParseError: Error { public let message: String }

    // MARK: Parsing (RFC 8259, strict UTF-8, no NaN / Infinity, no trailing data)

    public static func parse(_ bytes: [UInt8]) throws -> ExactJSON {
        var scalars = [Unicode.Scalar]()
        scalars.reserveCapacity(bytes.count)
        var it = bytes.makeIterator()
        var utf8 = UTF8()
        decoding: while true {
            switch utf8.decode(&it) {
            case .scalarValue(let s): scalars.append(s)
            case .emptyInput: break decoding
            case .error: throw ParseError(message: "not UTF-8")
            }
        }
        var p = Parser(s: scalars)
        p.skipSpace()
        let v = try p.value(depth: 0)
        p.skipSpace()
        guard p.i == scalars.count else { throw ParseError(message: "extra data at offset \(p.i)") }
        return v
    }

    private struct Parser {
        let s: [Unicode.Scalar]
        var i = 0

        func fail(_ m: String) -> ParseError { ParseError(message: "\(m) at character \(i)") }
        var peek: Unicode.Scalar? { i < s.count ? s[i] : nil }

        mutating func skipSpace() {
            while let c = peek, c == " " || c == "\t" || c == "\n" || c == "\r" { i += 1 }
        }
        mutating func expect(_ word: String) throws {
            for c in word.unicodeScalars {
                guard peek == c else { throw fail("invalid literal") }
                i += 1
            }
        }
        mutating func value(depth: Int) throws -> ExactJSON {
            guard depth < 512 else { throw fail("nested too deeply") }
            guard let c = peek else { throw fail("value expected") }
            switch c {
            case "{":
                i += 1
                var members = [(key: String, value: ExactJSON)]()
                var seen = Set<[UInt32]>()      // keys by code points, as Python compares them
                skipSpace()
                if peek == "}" { i += 1; return .object(members) }
                while true {
                    skipSpace()
                    guard peek == "\"" else { throw fail("object key expected") }
                    let k = try string()
                    guard seen.insert(k.unicodeScalars.map(\.value)).inserted else { throw fail("duplicate key") }
                    skipSpace()
                    guard peek == ":" else { throw fail("':' expected") }
                    i += 1
                    skipSpace()
                    members.append((k, try value(depth: depth + 1)))
                    skipSpace()
                    if peek == "," { i += 1; continue }
                    if peek == "}" { i += 1; return .object(members) }
                    throw fail("',' or '}' expected")
                }
            case "[":
                i += 1
                var items = [ExactJSON]()
                skipSpace()
                if peek == "]" { i += 1; return .array(items) }
                while true {
                    skipSpace()
                    items.append(try value(depth: depth + 1))
                    skipSpace()
                    if peek == "," { i += 1; continue }
                    if peek == "]" { i += 1; return .array(items) }
                    throw fail("',' or ']' expected")
                }
            case "\"": return .string(try string())
            case "t": try expect("true"); return .bool(true)
            case "f": try expect("false"); return .bool(false)
            case "n": try expect("null"); return .null
            default: return try number()
            }
        }
        mutating func digits() -> Int {
            let start = i
            while let c = peek, ("0"..."9").contains(c) { i += 1 }
            return i - start
        }
        mutating func number() throws -> ExactJSON {
            let start = i
            if peek == "-" { i += 1 }
            guard let first = peek, ("0"..."9").contains(first) else { throw fail("invalid value") }
            if first == "0" { i += 1 } else { _ = digits() }
            var isFloat = false
            if peek == "." {
                i += 1
                isFloat = true
                guard digits() > 0 else { throw fail("digits expected after '.'") }
            }
            if peek == "e" || peek == "E" {
                i += 1
                isFloat = true
                if peek == "+" || peek == "-" { i += 1 }
                guard digits() > 0 else { throw fail("digits expected in exponent") }
            }
            var text = String(String.UnicodeScalarView(s[start..<i]))
            if isFloat {
                guard let d = Double(text), d.isFinite else { throw fail("number out of range") }
                return .float(d)
            }
            if text == "-0" { text = "0" }
            return .int(text)
        }
        mutating func hex4() throws -> UInt32 {
            var v: UInt32 = 0
            for _ in 0..<4 {
                guard let c = peek, let d = Int(String(c), radix: 16) else { throw fail("bad \\u escape") }
                v = v << 4 | UInt32(d)
                i += 1
            }
            return v
        }
        mutating func string() throws -> String {
            i += 1   // opening quote
            var out = String.UnicodeScalarView()
            while true {
                guard let c = peek else { throw fail("unterminated string") }
                i += 1
                switch c {
                case "\"": return String(out)
                case "\\":
                    guard let e = peek else { throw fail("unterminated string") }
                    i += 1
                    switch e {
                    case "\"": out.append("\"")
                    case "\\": out.append("\\")
                    case "/": out.append("/")
                    case "b": out.append("\u{8}")
                    case "f": out.append("\u{C}")
                    case "n": out.append("\n")
                    case "r": out.append("\r")
                    case "t": out.append("\t")
                    case "u":
                        var v = try hex4()
                        if (0xD800...0xDBFF).contains(v) {
                            guard peek == "\\", i + 1 < s.count, s[i + 1] == "u" else { throw fail("lone surrogate") }
                            i += 2
                            let lo = try hex4()
                            guard (0xDC00...0xDFFF).contains(lo) else { throw fail("lone surrogate") }
                            v = 0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00)
                        }
                        guard let u = Unicode.Scalar(v) else { throw fail("lone surrogate") }
                        out.append(u)
                    default: throw fail("bad escape")
                    }
                default:
                    guard c.value >= 0x20 else { throw fail("control character in string") }
                    out.append(c)
                }
            }
        }
    }

    // MARK: Writing (Python's json.dumps with sort_keys, compact separators, ensure_ascii)

    public func canonicalBytes() -> [UInt8] {
        var out = [UInt8]()
        write(&out)
        return out
    }

    private func write(_ out: inout [UInt8]) {
        switch self {
        case .null: out += Array("null".utf8)
        case .bool(let b): out += Array((b ? "true" : "false").utf8)
        case .int(let s): out += Array(s.utf8)
        case .float(let d): out += Array(ExactJSON.pythonRepr(d).utf8)
        case .string(let s): ExactJSON.writeString(s, &out)
        case .array(let a):
            out.append(UInt8(ascii: "["))
            for (k, v) in a.enumerated() {
                if k > 0 { out.append(UInt8(ascii: ",")) }
                v.write(&out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            // sort_keys: Python compares str by code points (not Swift's String order).
            let sorted = members.sorted {
                $0.key.unicodeScalars.lexicographicallyPrecedes($1.key.unicodeScalars) { $0.value < $1.value }
            }
            out.append(UInt8(ascii: "{"))
            for (k, m) in sorted.enumerated() {
                if k > 0 { out.append(UInt8(ascii: ",")) }
                ExactJSON.writeString(m.key, &out)
                out.append(UInt8(ascii: ":"))
                m.value.write(&out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    private static func writeString(_ s: String, _ out: inout [UInt8]) {
        func u(_ v: UInt32) {
            out += [UInt8(ascii: "\\"), UInt8(ascii: "u")]
            for shift in stride(from: 12, through: 0, by: -4) { out.append(hexDigits[Int(v >> UInt32(shift) & 0xF)]) }
        }
        out.append(UInt8(ascii: "\""))
        for c in s.unicodeScalars {
            switch c.value {
            case 0x22: out += [UInt8(ascii: "\\"), UInt8(ascii: "\"")]
            case 0x5C: out += [UInt8(ascii: "\\"), UInt8(ascii: "\\")]
            case 0x0A: out += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
            case 0x0D: out += [UInt8(ascii: "\\"), UInt8(ascii: "r")]
            case 0x09: out += [UInt8(ascii: "\\"), UInt8(ascii: "t")]
            case 0x08: out += [UInt8(ascii: "\\"), UInt8(ascii: "b")]
            case 0x0C: out += [UInt8(ascii: "\\"), UInt8(ascii: "f")]
            case 0x20...0x7E: out.append(UInt8(c.value))
            case 0x10000...:
                let v = c.value - 0x10000
                u(0xD800 + (v >> 10))
                u(0xDC00 + (v & 0x3FF))
            default: u(c.value)     // other controls, DEL and the rest of the BMP
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    /// Python's `repr(float)` of a finite double: the shortest digits that round-trip (Swift's
    /// `description` gives the same digits), laid out as Python does: scientific when the
    /// decimal exponent is below -4 or at least 16 (`1e-05`, `1e+16`), else positional with at
    /// least one digit after the point (`2.0`, `0.0001`).
    public static func pythonRepr(_ x: Double) -> String {
        guard x.isFinite else { return x.isNaN ? "NaN" : (x < 0 ? "-Infinity" : "Infinity") }
        let sign = x.sign == .minus ? "-" : ""
        if x == 0 { return sign + "0.0" }
        var text = Substring(abs(x).description)
        var exp10 = 0
        if let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            exp10 = Int(text[text.index(after: e)...].replacingOccurrences(of: "+", with: "")) ?? 0
            text = text[..<e]
        }
        let intPart = text.split(separator: ".", omittingEmptySubsequences: false)[0]
        var digits = Array(text.filter { $0 != "." })
        var decpt = intPart.count + exp10       // value = 0.DIGITS x 10^decpt
        while digits.first == "0" { digits.removeFirst(); decpt -= 1 }
        while digits.last == "0" { digits.removeLast() }
        let d = String(digits), n = digits.count
        if decpt <= -4 || decpt > 16 {
            let e = decpt - 1
            let mantissa = n > 1 ? "\(digits[0]).\(String(digits[1...]))" : d
            let ee = abs(e) < 10 ? "0\(abs(e))" : "\(abs(e))"
            return "\(sign)\(mantissa)e\(e < 0 ? "-" : "+")\(ee)"
        }
        if decpt <= 0 { return sign + "0." + String(repeating: "0", count: -decpt) + d }
        if decpt >= n { return sign + d + String(repeating: "0", count: decpt - n) + ".0" }
        return sign + String(digits[..<decpt]) + "." + String(digits[decpt...])
    }
}
