import Foundation

/// Decoder options (mirrors Python's `DecoderOptions`). The backend is the `NetworkRunner` passed
/// to the decoder, so there is no `backend` string here.
public struct DecoderOptions: Equatable {
    /// Model package directory; nil: the bundled package (`MLVCModel` resource of the main bundle).
    public let packageDirectory: URL?
    /// Check every picture against the hash carried in the stream (exact runners raise on a mismatch).
    public let verifyHashes: Bool
    /// Refuse larger pictures (width x height) with `unsupported`.
    public let maxPixels: Int
    /// Python's `verify_hashes="strict"`: a hash mismatch is `hashMismatch` also on a runner not
    /// proven exact (no recovery), and a runner whose h_s is not exact is `model` even with a
    /// reference runner.
    public let strict: Bool
    /// Keep the approximate pictures of a runner not proven exact (`verified == false`) instead of
    /// re-decoding them with the reference runner.
    public let preview: Bool

    public static let defaultMaxPixels = 3840 * 2160

    /// Throws `invalidArgument` on a bad value, like Python's `DecoderOptions(...)`.
    public init(packageDirectory: URL? = nil, verifyHashes: Bool = true,
                maxPixels: Int = DecoderOptions.defaultMaxPixels, strict: Bool = false, preview: Bool = false) throws {
        guard maxPixels >= 1 else {
            throw MLVCError.invalidArgument("DecoderOptions.maxPixels: must be >= 1, got \(maxPixels)")
        }
        guard !(strict && preview) else { throw MLVCError.invalidArgument("DecoderOptions: strict and preview exclude each other") }
        guard !strict || verifyHashes else { throw MLVCError.invalidArgument("DecoderOptions: strict needs verifyHashes") }
        if let dir = packageDirectory, !dir.isFileURL {
            throw MLVCError.invalidArgument("DecoderOptions.packageDirectory: not a file URL: \(dir)")
        }
        self.packageDirectory = packageDirectory
        self.verifyHashes = verifyHashes
        self.maxPixels = maxPixels
        self.strict = strict
        self.preview = preview
    }

    private init(defaults: Void) {
        packageDirectory = nil
        verifyHashes = true
        maxPixels = DecoderOptions.defaultMaxPixels
        strict = false
        preview = false
    }

    /// Every option at its default.
    public static let defaults = DecoderOptions(defaults: ())
}

/// One decoded picture (mirrors Python's `DecodedFrame`).
public struct DecodedFrame {
    public let index: Int
    public let frameType: FrameType
    public let quality: Int
    public let width: Int
    public let height: Int
    /// H x W x 3 bytes, row-major, R, G, B.
    public let rgb: [UInt8]
    /// MD5 of `rgb`.
    public let md5: [UInt8]
    /// The hash carried in the stream.
    public let expectedMD5: [UInt8]
    /// `md5 == expectedMD5`.
    public let verified: Bool
    /// Re-decoded by the reference runner after a hash mismatch on the decoder's runner.
    public let recovered: Bool
}

/// The decoder left its runner for the reference runner at `frame`; `reason` says why (a hash
/// mismatch on a runner not proven exact, or an h_s that is not exact). Frames from `frame` on are
/// decoded by the reference runner.
public struct BackendSwitch: Equatable, CustomStringConvertible {
    public let frame: Int
    public let reason: String
    public let from: String
    public let to: String
    public var description: String { "switch at frame \(frame): \(from) -> \(to): \(reason)" }
}

/// Decodes an MLVC stream; checks every picture against the hash carried in the stream.
///
///     let decoder = try Decoder(data: data, options: try DecoderOptions(packageDirectory: dir),
///                               network: try CoreMLNetworkRunner(packageDirectory: dir))
///     while let frame = try decoder.next() { show(frame.rgb) }
///
/// A live stream is decoded record by record as it arrives, from an `InputStream` or any
/// `ByteSource`: `init(stream:...)`, `init(options:network:read:)`.
///
/// **Recovery** (the Python decoder's, issue #18): `reference` is the exact path (Core ML
/// `.cpuOnly`). When a picture's hash fails on a `network` not proven exact (`isExact(role:)` false
/// for g_s / res_g_s: the Neural Engine or GPU, or a runner that failed the startup probe,
/// `ProbedNetworkRunner`), the picture is decoded again by `reference`, which decodes every later
/// frame; the switch is reported (`switches`, `onSwitch`; the frame has `recovered == true`). A
/// runner whose h_s is not exact cannot parse: the reference decodes from the first frame, and
/// without one it is a `model` error. `options.strict` throws instead of recovering;
/// `options.preview` (or no reference) keeps the approximate pictures, `verified == false`.
public final class Decoder {
    public let header: StreamHeader
    public let options: DecoderOptions
    public let package: ModelPackage
    public let network: NetworkRunner
    /// The exact runner pictures are recovered with (nil: none, approximate pictures are kept).
    public let referenceNetwork: NetworkRunner?
    /// The runner decoding now: `network`, or `referenceNetwork` after a switch.
    public private(set) var activeNetwork: NetworkRunner
    /// The switches to the reference runner so far (at most one).
    public private(set) var switches = [BackendSwitch]()
    /// Called when the decoder switches to the reference runner.
    public var onSwitch: ((BackendSwitch) -> Void)?
    /// Whether the reference runner decodes now.
    public var usingReference: Bool { referenceNetwork.map { $0 === activeNetwork } ?? false }
    /// Called after each intra payload's parse path, before g_s, with the frame index: every
    /// I-frame and the residual of every P-frame that has one (modes 1 and 3; conformance tooling
    /// and tests).
    public var onParsed: ((Int, ParsedIntraFrame) -> Void)?
    /// Called after each P-frame's motion path (mode, motion table, decoded motion field), before
    /// its residual is parsed.
    public var onParsedInter: ((Int, ParsedInterFrame) -> Void)?

    private var records: RecordIterator
    private var codec: IntraCodec
    /// P-frame residuals: the residual networks' codec, or `codec` for a package without them.
    private var residualCodec: IntraCodec
    /// Re-decoding a picture with the reference runner: the parse callbacks already fired.
    private var replaying = false
    private let inter: InterCodec
    /// The previous decoded picture (H x W x 3), the reference of the next P-frame.
    private var reference: [UInt8]?
    private var produced = 0
    private var finished = false

    /// Whether pictures are bit-exact now (the active runner's g_s, and res_g_s for a package with
    /// residual networks, `NetworkRunner.isExact(role:)`).
    public var isExact: Bool { Decoder.exact(activeNetwork, package) }

    private static func exact(_ r: NetworkRunner, _ package: ModelPackage) -> Bool {
        r.isExact(role: .synthesis) && (!package.hasResidualNetworks || r.isExact(role: .residualSynthesis))
    }

    /// Loads the package named by `options` (or the bundled one) and checks the stream against it.
    public convenience init(data: Data, options: DecoderOptions = .defaults, network: NetworkRunner,
                            reference: NetworkRunner? = nil) throws {
        let bytes = [UInt8](data)
        let header = try Decoder.checkHeader(bytes, options)
        try self.init(records: RecordIterator(data: bytes, header: header), header: header, options: options,
                      package: try Decoder.loadPackage(options), network: network, reference: reference)
    }

    /// The same with an already loaded package.
    public convenience init(data: Data, options: DecoderOptions = .defaults, package: ModelPackage,
                            network: NetworkRunner, reference: NetworkRunner? = nil) throws {
        let bytes = [UInt8](data)
        let header = try Decoder.checkHeader(bytes, options)
        try self.init(records: RecordIterator(data: bytes, header: header), header: header, options: options,
                      package: package, network: network, reference: reference)
    }

    /// Streamed input: reads the 64-byte header from `read` now, then each record when `next()`
    /// asks for it, with the same checks and error kinds as `init(data:...)`. A record declaring
    /// more than `Container.maxPayload` bytes fails before its payload is read; otherwise memory
    /// grows only with the bytes that arrive. `next()` blocks while `read` does.
    ///
    ///     let decoder = try Decoder(options: options, network: runner) { maxLength in
    ///         try connection.receive(upTo: maxLength)     // nil or empty at the end
    ///     }
    public convenience init(options: DecoderOptions = .defaults, network: NetworkRunner,
                            reference: NetworkRunner? = nil, read: @escaping ByteSource) throws {
        let input = ByteInput(read)
        let header = try Decoder.checkHeader(try input.read(upTo: Container.headerSize), options)
        try self.init(records: RecordIterator(source: StreamedRecords(input), header: header), header: header,
                      options: options, package: try Decoder.loadPackage(options), network: network,
                      reference: reference)
    }

    /// The same with an already loaded package.
    public convenience init(options: DecoderOptions = .defaults, package: ModelPackage, network: NetworkRunner,
                            reference: NetworkRunner? = nil, read: @escaping ByteSource) throws {
        let input = ByteInput(read)
        let header = try Decoder.checkHeader(try input.read(upTo: Container.headerSize), options)
        try self.init(records: RecordIterator(source: StreamedRecords(input), header: header), header: header,
                      options: options, package: package, network: network, reference: reference)
    }

    /// Streamed input from an `InputStream` (a socket's, a pipe's, a file's), opened here if it is
    /// not yet open; the caller closes it. A read error is `invalidArgument`.
    public convenience init(stream: InputStream, options: DecoderOptions = .defaults,
                            network: NetworkRunner, reference: NetworkRunner? = nil) throws {
        try self.init(options: options, network: network, reference: reference, read: ByteInput.source(stream))
    }

    /// The same with an already loaded package.
    public convenience init(stream: InputStream, options: DecoderOptions = .defaults, package: ModelPackage,
                            network: NetworkRunner, reference: NetworkRunner? = nil) throws {
        try self.init(options: options, package: package, network: network, reference: reference,
                      read: ByteInput.source(stream))
    }

    /// Reads `url` (an unreadable file is `invalidArgument`, as Python's `Decoder.open`).
    public static func open(_ url: URL, options: DecoderOptions = .defaults, network: NetworkRunner,
                            reference: NetworkRunner? = nil) throws -> Decoder {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw MLVCError.invalidArgument("cannot read \(url.path): \(error)")
        }
        return try Decoder(data: data, options: options, network: network, reference: reference)
    }

    private static func loadPackage(_ options: DecoderOptions) throws -> ModelPackage {
        try options.packageDirectory.map { try ModelPackage.load(directory: $0) } ?? ModelPackage.bundled()
    }

    private static func checkHeader(_ bytes: [UInt8], _ options: DecoderOptions) throws -> StreamHeader {
        let header = try StreamHeader.parse(bytes)
        if header.width * header.height > options.maxPixels {
            throw MLVCError.unsupported("picture size \(header.width)x\(header.height) exceeds "
                                        + "maxPixels=\(options.maxPixels)")
        }
        return header
    }

    private init(records: RecordIterator, header: StreamHeader, options: DecoderOptions, package: ModelPackage,
                 network: NetworkRunner, reference: NetworkRunner?) throws {
        guard header.modelID == package.modelID, header.modelHash == package.modelHash else {
            throw MLVCError.model("stream needs model '\(header.modelID)' (\(Hex.encode(header.modelHash))), "
                                  + "package is '\(package.modelID)' (\(Hex.encode(package.modelHash)))")
        }
        guard header.width <= package.maxWidth, header.height <= package.maxHeight else {
            throw MLVCError.unsupported("picture size \(header.width)x\(header.height) exceeds the "
                                        + "package's \(package.maxWidth)x\(package.maxHeight)")
        }
        self.header = header
        self.options = options
        self.package = package
        self.network = network
        self.referenceNetwork = reference
        self.records = records
        // h_s decides symbols: a runner whose h_s is not exact cannot parse the stream.
        let parseRoles: [NetworkRole] = package.hasResidualNetworks ? [.hyperSynthesis, .residualHyperSynthesis]
                                                                    : [.hyperSynthesis]
        let bad = parseRoles.filter { !network.isExact(role: $0) }.map(\.rawValue)
        var start = network
        var firstSwitch: BackendSwitch?
        if !bad.isEmpty {
            let why = "\(bad.joined(separator: ", ")) not exact on \(network.environment): symbols cannot be parsed with it"
            guard let reference, !options.strict else {
                throw MLVCError.model(why + (reference == nil ? " (no reference runner)" : " (strict)"))
            }
            start = reference
            firstSwitch = BackendSwitch(frame: 0, reason: why, from: network.environment, to: reference.environment)
        }
        self.activeNetwork = start
        (self.codec, self.residualCodec) = try Decoder.codecs(package, start)
        self.inter = InterCodec(tables: package.tables)
        if let firstSwitch { switches.append(firstSwitch) }
    }

    private static func codecs(_ package: ModelPackage, _ network: NetworkRunner) throws -> (IntraCodec, IntraCodec) {
        let intra = try IntraCodec(package: package, network: network)
        return (intra, try package.hasResidualNetworks
                ? IntraCodec(package: package, network: network, networks: .residual) : intra)
    }

    private func switchToReference(frame: Int, reason: String) throws {
        guard let ref = referenceNetwork else { return }
        let sw = BackendSwitch(frame: frame, reason: reason, from: activeNetwork.environment, to: ref.environment)
        activeNetwork = ref
        (codec, residualCodec) = try Decoder.codecs(package, ref)
        switches.append(sw)
        onSwitch?(sw)
    }

    /// The next frame, nil at the end. After an error the decoder is finished.
    public func next() throws -> DecodedFrame? {
        if finished { return nil }
        do {
            guard let frame = try decodeNext() else { finished = true; return nil }
            return frame
        } catch {
            finished = true
            throw error
        }
    }

    private func decodeNext() throws -> DecodedFrame? {
        guard let rec = try records.next() else { return nil }
        let i = produced
        // Same order as the Python decoder: a P frame needs a previous picture (else corrupt), then
        // the level is checked, then the payload.
        if rec.frameType == .inter && reference == nil {
            throw MLVCError.corruptStream("frame \(i): P-frame without a previous picture")
        }
        guard package.levels[rec.quality] != nil else {
            throw MLVCError.corruptStream("frame \(i): quality level \(rec.quality) is not in the package "
                                          + "(1..\(package.sortedLevels.last ?? 0))")
        }
        var rgb = try decodePicture(rec, index: i)
        // The picture is the next reference even when it fails its hash (verification off or an
        // approximate runner), as in the Python decoder; a recovered picture is the exact one.
        var md5 = MD5.hash(rgb)
        var ok = md5 == rec.pictureMD5
        var recovered = false
        func mismatch(_ note: String) -> MLVCError {
            .hashMismatch("frame \(i): decoded picture hash \(Hex.encode(md5)) differs "
                          + "from the stream's \(Hex.encode(rec.pictureMD5))\(note)")
        }
        if options.verifyHashes && !ok {
            if isExact { throw mismatch("") }
            if options.strict { throw mismatch(" on \(activeNetwork.environment), not proven exact (strict)") }
            if let ref = referenceNetwork, !options.preview, ref !== activeNetwork {
                try switchToReference(frame: i, reason: "picture hash mismatch on \(activeNetwork.environment), not proven exact")
                replaying = true
                defer { replaying = false }
                rgb = try decodePicture(rec, index: i)
                md5 = MD5.hash(rgb)
                ok = md5 == rec.pictureMD5
                recovered = true
                if !ok && isExact { throw mismatch(" (also on the reference runner)") }
            }
        }
        reference = rgb
        produced += 1
        return DecodedFrame(index: i, frameType: rec.frameType, quality: rec.quality, width: header.width,
                            height: header.height, rgb: rgb, md5: md5, expectedMD5: rec.pictureMD5, verified: ok,
                            recovered: recovered)
    }

    private func decodePicture(_ rec: FrameRecord, index i: Int) throws -> [UInt8] {
        let w = header.width, h = header.height
        switch rec.frameType {
        case .intra:
            let parsed = try codec.parse(payload: rec.payload, width: w, height: h, quality: rec.quality)
            if !replaying { onParsed?(i, parsed) }
            return try codec.synthesise(parsed.yHat, width: w, height: h)
        case .inter:
            return try decodeInter(rec, index: i, reference: reference!, width: w, height: h)
        }
    }

    /// §4b: motion field, prediction from `ref` (whole or half pixels, mode bit 1), then (with a
    /// residual, mode bit 0: modes 1 and 3; decoded with the residual networks if the package has
    /// them) `clamp(pred + residual, 0, 255)`.
    private func decodeInter(_ rec: FrameRecord, index i: Int, reference ref: [UInt8], width w: Int,
                             height h: Int) throws -> [UInt8] {
        let (motion, residualPayload) = try inter.parse(payload: rec.payload, width: w, height: h)
        if !replaying { onParsedInter?(i, motion) }
        if let tree = motion.blockTree { return try decodeBlockTree(rec, index: i, tree: tree, mode: motion.mode,
                                                                    residualPayload: residualPayload, reference: ref) }
        let pred = MotionCompensation.compensate(reference: ref, width: w, height: h, motion: motion.motion,
                                                 blocksX: motion.blocksX, halfPel: motion.mode.halfPel)
        guard motion.mode.hasResidual else { return pred }
        let parsed = try residualCodec.parse(payload: residualPayload, width: w, height: h, quality: rec.quality)
        if !replaying { onParsed?(i, parsed) }
        let residual = try residualCodec.synthesiseSigned(parsed.yHat, width: w, height: h)
        return MotionCompensation.addResidual(pred, residual)
    }

    /// §4c: prediction per block (quarter pixels, 8-tap filter), mode 5: the residual added in the
    /// blocks without skip, then the in-loop deblocking filter (strength from the header).
    private func decodeBlockTree(_ rec: FrameRecord, index i: Int, tree: BlockTree, mode: InterMode,
                                 residualPayload: ArraySlice<UInt8>, reference ref: [UInt8]) throws -> [UInt8] {
        let w = tree.width, h = tree.height
        var picture = BlockPrediction.predict(reference: ref, tree: tree)
        if mode.hasResidual {
            let parsed = try residualCodec.parse(payload: residualPayload, width: w, height: h, quality: rec.quality)
            if !replaying { onParsed?(i, parsed) }
            let residual = try residualCodec.synthesiseSigned(parsed.yHat, width: w, height: h)
            BlockPrediction.addResidual(&picture, residual, tree: tree)
        }
        Deblocking.apply(&picture, tree: tree, tc: tree.parameters.deblock)
        return picture
    }

    /// Every remaining frame.
    public func decodeAll() throws -> [DecodedFrame] {
        var out = [DecodedFrame]()
        while let f = try next() { out.append(f) }
        return out
    }

    /// The remaining frames as an async sequence: `for try await frame in decoder.frames { ... }`.
    public var frames: Frames { Frames(decoder: self) }

    public struct Frames: AsyncSequence {
        public typealias Element = DecodedFrame
        let decoder: Decoder

        public struct AsyncIterator: AsyncIteratorProtocol {
            let decoder: Decoder
            public mutating func next() async throws -> DecodedFrame? { try decoder.next() }
        }

        public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(decoder: decoder) }
    }
}
