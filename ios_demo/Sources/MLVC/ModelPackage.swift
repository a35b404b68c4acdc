import Foundation

/// The constants and CDF tables a decoder needs from a model package (docs/bitstream.md §4, §7).
///
/// On disk (what `load(directory:)` reads; the layout `conformance/golden/` uses, plus the
/// Python package's manifest):
///
///     manifest.json       the Python model package's manifest (sdk/mlvc/package/manifest.py),
///                         copied unchanged: its `content_hash` is recomputed (`PackageManifest`)
///                         and must match, package.json's model_hash must be its first 16 bytes,
///                         every constant below must equal the manifest's, and the tables must
///                         have the manifest's `tables.sha256`. Any mismatch is a `model` error.
///     package.json        model_id, model_hash (hex, 16 bytes), y_exp, levels [{level, exp}],
///                         alignment, latent_channels, hyper_channels, num_tables,
///                         tables_per_octave, z_table_index, tables_sha256, max_width, max_height,
///                         residual_networks (optional, default false), res_z_table_index
///                         (given exactly when residual_networks is true, else null or absent),
///                         res_latent_channels (optional; absent or null: latent_channels; another
///                         value, 1...1024, only with residual networks)
///     tables.radius.i32   radius[T], int32 little-endian
///     tables.cdf.u32      concatenated CDFs, uint32 little-endian
///     h_s.mlmodelc, g_s.mlmodelc   (Apple only) the networks, read by `CoreMLNetworkRunner`
///     res_h_s.mlmodelc, res_g_s.mlmodelc   (Apple only) the residual networks, if the package has them
public struct ModelPackage {
    public let modelID: String
    /// The 16 bytes streams carry to name this package.
    public let modelHash: [UInt8]
    /// Quality level -> exponent of the coded latent's step.
    public let levels: [Int: Int]
    public let yExp: Int
    public let alignment: Int
    public let latentChannels: Int
    public let hyperChannels: Int
    public let tablesPerOctave: Int
    public let zTableIndex: [Int32]
    /// z tables of the residual networks (§4b); nil: the package has none, and P-frame residuals
    /// are decoded with the intra networks and `zTableIndex`.
    public let residualZTableIndex: [Int32]?
    /// Latent channels of the residual networks (y_hat of res_h_s / res_g_s); `latentChannels`
    /// unless the package gives its own (only with residual networks).
    public let residualLatentChannels: Int
    public let maxWidth: Int
    public let maxHeight: Int
    public let tables: CdfTables
    /// Where the package was loaded from (nil when built in memory).
    public let directory: URL?
    /// The verified manifest's `content_hash` (64 hex digits; `modelHash` is its first 16
    /// bytes) when loaded by `load(directory:)`; nil when built in memory.
    public private(set) var contentHash: String? = nil

    public var sortedLevels: [Int] { levels.keys.sorted() }

    /// Whether P-frame residuals use res_h_s, res_g_s and `residualZTableIndex` (§4b).
    public var hasResidualNetworks: Bool { residualZTableIndex != nil }

    /// Latent channels (M of y_hat, the h_s outputs and the g_s input) of `set`'s networks.
    public func latentChannels(of set: NetworkSet) -> Int {
        set == .intra ? latentChannels : residualLatentChannels
    }

    /// Checks every constant; a violation is a `model` error.
    public init(modelID: String, modelHash: [UInt8], levels: [Int: Int], yExp: Int, alignment: Int,
                latentChannels: Int, hyperChannels: Int, tablesPerOctave: Int, zTableIndex: [Int32],
                residualZTableIndex: [Int32]? = nil, residualLatentChannels: Int? = nil, maxWidth: Int, maxHeight: Int, tables: CdfTables, directory: URL? = nil) throws {
        let idChars = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")
        guard (1...16).contains(modelID.utf8.count), modelID.allSatisfy({ idChars.contains($0) }) else {
            throw MLVCError.model("model id \(modelID.debugDescription) is not 1-16 chars of [A-Za-z0-9._-]")
        }
        guard modelHash.count == 16 else { throw MLVCError.model("model hash must be 16 bytes") }
        guard !levels.isEmpty else { throw MLVCError.model("package has no quality levels") }
        for (level, exp) in levels {
            guard (1...32).contains(level), (0...16).contains(exp - yExp) else {
                throw MLVCError.model("level \(level): exp \(exp) with y_exp \(yExp) is out of range")
            }
        }
        guard alignment >= 64, alignment % 64 == 0, alignment <= 256 else {
            throw MLVCError.model("alignment \(alignment) is not a multiple of 64 (64..256)")
        }
        guard (1...1024).contains(latentChannels), (1...1024).contains(hyperChannels) else {
            throw MLVCError.model("channel counts out of range")
        }
        guard (1...64).contains(tablesPerOctave) else { throw MLVCError.model("tables_per_octave out of range") }
        guard zTableIndex.count == hyperChannels,
              zTableIndex.allSatisfy({ $0 >= 0 && Int($0) < tables.numTables }) else {
            throw MLVCError.model("z_table_index must name one valid table per hyper channel")
        }
        if let r = residualZTableIndex {
            guard r.count == hyperChannels, r.allSatisfy({ $0 >= 0 && Int($0) < tables.numTables }) else {
                throw MLVCError.model("res_z_table_index must name one valid table per hyper channel")
            }
        }
        let resLatent = residualLatentChannels ?? latentChannels
        guard (1...1024).contains(resLatent) else {
            throw MLVCError.model("res_latent_channels \(resLatent) out of range 1...1024")
        }
        guard residualZTableIndex != nil || resLatent == latentChannels else {
            throw MLVCError.model("res_latent_channels \(resLatent) differs from latent_channels \(latentChannels) "
                                  + "without residual networks")
        }
        guard (16...16384).contains(maxWidth), (16...16384).contains(maxHeight) else {
            throw MLVCError.model("max picture size out of range")
        }
        self.modelID = modelID
        self.modelHash = modelHash
        self.levels = levels
        self.yExp = yExp
        self.alignment = alignment
        self.latentChannels = latentChannels
        self.hyperChannels = hyperChannels
        self.tablesPerOctave = tablesPerOctave
        self.zTableIndex = zTableIndex
        self.residualZTableIndex = residualZTableIndex
        self.residualLatentChannels = resLatent
        self.maxWidth = maxWidth
        self.maxHeight = maxHeight
        self.tables = tables
        self.directory = directory
    }

    private struct Manifest: Decodable {
        struct Level: Decodable { let level: Int; let exp: Int }
        let model_id: String
        let model_hash: String
        let y_exp: Int
        let levels: [Level]
        let alignment: Int
        let latent_channels: Int
        let hyper_channels: Int
        let num_tables: Int
        let tables_per_octave: Int
        let z_table_index: [Int32]
        /// Absent in packages written before residual networks existed: false.
        let residual_networks: Bool?
        let res_z_table_index: [Int32]?
        /// Absent or null: latent_channels.
        let res_latent_channels: Int?
        let tables_sha256: String
        let max_width: Int
        let max_height: Int
    }

    /// Loads and verifies a package directory: manifest.json's content hash, package.json
    /// against the manifest, the tables against both (see the type's comment).
    public static func load(directory: URL) throws -> ModelPackage {
        let manifestURL = directory.appendingPathComponent("manifest.json")
        guard FileManager.default.fileExists(atPath: manifestURL.path) else {
            throw MLVCError.model("model package file missing: \(manifestURL.path) (the Python package's manifest.json)")
        }
        let manifest = try PackageManifest.read(manifestURL)
        var p = try loadUnverified(directory: directory)
        try p.check(against: manifest)
        p.contentHash = manifest.contentHash
        return p
    }

    /// Every constant, the model hash and the tables' hash against a verified manifest.
    func check(against m: PackageManifest) throws {
        var levels = [Int: Int]()
        for lv in m.levels {
            guard levels.updateValue(lv.exp, forKey: lv.level) == nil else {
                throw MLVCError.model("model package manifest lists level \(lv.level) twice")
            }
        }
        let checks: [(String, Bool)] = [
            ("model_id", modelID == m.modelID),
            ("model_hash (the manifest's content_hash)", modelHash == m.streamHash),
            ("levels", self.levels == levels), ("y_exp", yExp == m.yExp), ("alignment", alignment == m.alignment),
            ("latent_channels", latentChannels == m.latentChannels), ("hyper_channels", hyperChannels == m.hyperChannels),
            ("num_tables", tables.numTables == m.tables.numTables),
            ("tables_per_octave", tablesPerOctave == m.tables.tablesPerOctave),
            ("z_table_index", zTableIndex.map { Int($0) } == m.zTableIndex),
            ("residual_networks", hasResidualNetworks == m.hasResidual),
            ("res_z_table_index", residualZTableIndex.map { $0.map { Int($0) } } == m.resZTableIndex),
            ("res_latent_channels", residualLatentChannels == m.residualLatentChannels),
            ("tables_sha256", Hex.encode(tables.sha256()) == m.tables.sha256),
            ("max_width", maxWidth == m.maxWidth), ("max_height", maxHeight == m.maxHeight),
        ]
        let differ = checks.filter { !$0.1 }.map { $0.0 }
        guard differ.isEmpty else {
            throw MLVCError.model("model package \(directory?.path ?? "") does not match its manifest: "
                                  + differ.joined(separator: ", "))
        }
    }

    /// package.json and the tables only (tables checked against `tables_sha256`).
    static func loadUnverified(directory: URL) throws -> ModelPackage {
        func read(_ name: String) throws -> [UInt8] {
            do {
                return [UInt8](try Data(contentsOf: directory.appendingPathComponent(name)))
            } catch {
                throw MLVCError.model("model package file missing or unreadable: \(directory.path)/\(name)")
            }
        }
        let m: Manifest
        do {
            m = try JSONDecoder().decode(Manifest.self, from: Data(try read("package.json")))
        } catch let e as MLVCError {
            throw e
        } catch {
            throw MLVCError.model("malformed package.json: \(error)")
        }
        let radiusBytes = try read("tables.radius.i32"), cdfBytes = try read("tables.cdf.u32")
        guard radiusBytes.count % 4 == 0, cdfBytes.count % 4 == 0 else {
            throw MLVCError.model("table files are not whole 32-bit arrays")
        }
        let radius = stride(from: 0, to: radiusBytes.count, by: 4).map { Int32(bitPattern: readU32(radiusBytes, $0)) }
        let cdf = stride(from: 0, to: cdfBytes.count, by: 4).map { readU32(cdfBytes, $0) }
        let tables = try CdfTables(radius: radius, cdf: cdf)
        guard Hex.encode(tables.sha256()) == m.tables_sha256.lowercased() else {
            throw MLVCError.model("CDF tables do not match the package's tables_sha256")
        }
        guard tables.numTables == m.num_tables else {
            throw MLVCError.model("CDF table count \(tables.numTables) is not num_tables=\(m.num_tables)")
        }
        guard let hash = Hex.decode(m.model_hash) else { throw MLVCError.model("model_hash is not hex") }
        var levels = [Int: Int]()
        for lv in m.levels {
            guard levels[lv.level] == nil else { throw MLVCError.model("level \(lv.level) listed twice") }
            levels[lv.level] = lv.exp
        }
        // As the Python manifest: the residual z tables come exactly with the residual networks.
        let residual = m.residual_networks ?? false
        guard residual == (m.res_z_table_index != nil) else {
            throw MLVCError.model(residual ? "package has residual networks but no res_z_table_index"
                                           : "res_z_table_index given for a package without residual networks")
        }
        // golden.py writes res_latent_channels for every package (latent_channels without residual
        // networks), so only a value other than latent_channels needs residual networks.
        if let c = m.res_latent_channels {
            guard (1...1024).contains(c) else { throw MLVCError.model("res_latent_channels \(c) out of range 1...1024") }
            guard residual || c == m.latent_channels else {
                throw MLVCError.model("res_latent_channels given for a package without residual networks")
            }
        }
        return try ModelPackage(modelID: m.model_id, modelHash: hash, levels: levels, yExp: m.y_exp,
                                alignment: m.alignment, latentChannels: m.latent_channels,
                                hyperChannels: m.hyper_channels, tablesPerOctave: m.tables_per_octave,
                                zTableIndex: m.z_table_index, residualZTableIndex: m.res_z_table_index,
                                residualLatentChannels: m.res_latent_channels,
                                maxWidth: m.max_width, maxHeight: m.max_height, tables: tables,
                                directory: directory)
    }

    /// The package bundled with the app (`MLVCModel` folder resource), if any.
    public static func bundled(in bundle: Bundle = .main) throws -> ModelPackage {
        guard let url = bundle.url(forResource: "MLVCModel", withExtension: nil) else {
            throw MLVCError.model("no bundled model package (MLVCModel); pass DecoderOptions(packageDirectory:)")
        }
        return try load(directory: url)
    }
}
