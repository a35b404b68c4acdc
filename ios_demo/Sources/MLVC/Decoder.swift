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

    public static let defaultMaxPixels = 3840 * 2160

    /// Throws `invalidArgument` on a bad value, like Python's `DecoderOptions(...)`.
    public init(packageDirectory: URL? = nil, verifyHashes: Bool = true,
                maxPixels: Int = DecoderOptions.defaultMaxPixels) throws {
        guard maxPixels >= 1 else {
            throw MLVCError.invalidArgument("DecoderOptions.maxPixels: must be >= 1, got \(maxPixels)")
        }
        if let dir = packageDirectory, !dir.isFileURL {
            throw MLVCError.invalidArgument("DecoderOptions.packageDirectory: not a file URL: \(dir)")
        }
        self.packageDirectory = packageDirectory
        self.verifyHashes = verifyHashes
        self.maxPixels = maxPixels
    }

    private init(defaults: Void) {
        packageDirectory = nil
        verifyHashes = true
        maxPixels = DecoderOptions.defaultMaxPixels
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
}

/// Decodes an MLVC stream; checks every picture against the hash carried in the stream.
///
///     let decoder = try Decoder(data: data, options: try DecoderOptions(packageDirectory: dir),
///                               network: try CoreMLNetworkRunner(packageDirectory: dir))
///     while let frame = try decoder.next() { show(frame.rgb) }
///
/// A live stream is decoded record by record as it arrives, from an `InputStream` or any
/// `ByteSource`: `init(stream:...)`, `init(options:network:read:)`.
public final class Decoder {
    public let header: StreamHeader
    public let options: DecoderOptions
    public let package: ModelPackage
    public let network: NetworkRunner
    /// Called after each intra payload's parse path, before g_s, with the frame index: every
    /// I-frame and the residual of every P-frame that has one (modes 1 and 3; conformance tooling
    /// and tests).
    public var onParsed: ((Int, ParsedIntraFrame) -> Void)?
    /// Called after each P-frame's motion path (mode, motion table, decoded motion field), before
    /// its residual is parsed.
    public var onParsedInter: ((Int, ParsedInterFrame) -> Void)?

    private var records: RecordIterator
    private let codec: IntraCodec
    /// P-frame residuals: the residual networks' codec, or `codec` for a package without them.
    private let residualCodec: IntraCodec
    private let inter: InterCodec
    /// The previous decoded picture (H x W x 3), the reference of the next P-frame.
    private var reference: [UInt8]?
    private var produced = 0
    private var finished = false

    /// Whether pictures are bit-exact (the runner's g_s and res_g_s are exact, `NetworkRunner.isExact`).
    public var isExact: Bool { network.isExact }

    /// Loads the package named by `options` (or the bundled one) and checks the stream against it.
    public convenience init(data: Data, options: DecoderOptions = .defaults, network: NetworkRunner) throws {
        let bytes = [UInt8](data)
        let header = try Decoder.checkHeader(bytes, options)
        try self.init(records: RecordIterator(data: bytes, header: header), header: header, options: options,
                      package: try Decoder.loadPackage(options), network: network)
    }

    /// The same with an already loaded package.
    public convenience init(data: Data, options: DecoderOptions = .defaults, package: ModelPackage,
                            network: NetworkRunner) throws {
        let bytes = [UInt8](data)
        let header = try Decoder.checkHeader(bytes, options)
        try self.init(records: RecordIterator(data: bytes, header: header), header: header, options: options,
                      package: package, network: network)
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
                            read: @escaping ByteSource) throws {
        let input = ByteInput(read)
        let header = try Decoder.checkHeader(try input.read(upTo: Container.headerSize), options)
        try self.init(records: RecordIterator(source: StreamedRecords(input), header: header), header: header,
                      options: options, package: try Decoder.loadPackage(options), network: network)
    }

    /// The same with an already loaded package.
    public convenience init(options: DecoderOptions = .defaults, package: ModelPackage, network: NetworkRunner,
                            read: @escaping ByteSource) throws {
        let input = ByteInput(read)
        let header = try Decoder.checkHeader(try input.read(upTo: Container.headerSize), options)
        try self.init(records: RecordIterator(source: StreamedRecords(input), header: header), header: header,
                      options: options, package: package, network: network)
    }

    /// Streamed input from an `InputStream` (a socket's, a pipe's, a file's), opened here if it is
    /// not yet open; the caller closes it. A read error is `invalidArgument`.
    public convenience init(stream: InputStream, options: DecoderOptions = .defaults,
                            network: NetworkRunner) throws {
        try self.init(options: options, network: network, read: ByteInput.source(stream))
    }

    /// The same with an already loaded package.
    public convenience init(stream: InputStream, options: DecoderOptions = .defaults, package: ModelPackage,
                            network: NetworkRunner) throws {
        try self.init(options: options, package: package, network: network, read: ByteInput.source(stream))
    }

    /// Reads `url` (an unreadable file is `invalidArgument`, as Python's `Decoder.open`).
    public static func open(_ url: URL, options: DecoderOptions = .defaults, network: NetworkRunner) throws -> Decoder {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw MLVCError.invalidArgument("cannot read \(url.path): \(error)")
        }
        return try Decoder(data: data, options: options, network: network)
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
                 network: NetworkRunner) throws {
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
        self.records = records
        let intra = try IntraCodec(package: package, network: network)
        self.codec = intra
        self.residualCodec = try package.hasResidualNetworks
            ? IntraCodec(package: package, network: network, networks: .residual) : intra
        self.inter = InterCodec(tables: package.tables)
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
        let w = header.width, h = header.height
        let rgb: [UInt8]
        switch rec.frameType {
        case .intra:
            let parsed = try codec.parse(payload: rec.payload, width: w, height: h, quality: rec.quality)
            onParsed?(i, parsed)
            rgb = try codec.synthesise(parsed.yHat, width: w, height: h)
        case .inter:
            rgb = try decodeInter(rec, index: i, reference: reference!, width: w, height: h)
        }
        // The picture is the next reference even when it fails its hash (verification off or an
        // approximate runner), as in the Python decoder. `isExact` covers g_s and res_g_s: the
        // picture came from one of them.
        reference = rgb
        let md5 = MD5.hash(rgb)
        let ok = md5 == rec.pictureMD5
        if options.verifyHashes && !ok && network.isExact {
            throw MLVCError.hashMismatch("frame \(i): decoded picture hash \(Hex.encode(md5)) differs "
                                         + "from the stream's \(Hex.encode(rec.pictureMD5))")
        }
        produced += 1
        return DecodedFrame(index: i, frameType: rec.frameType, quality: rec.quality, width: w, height: h,
                            rgb: rgb, md5: md5, expectedMD5: rec.pictureMD5, verified: ok)
    }

    /// §4b: motion field, prediction from `ref` (whole or half pixels, mode bit 1), then (with a
    /// residual, mode bit 0: modes 1 and 3; decoded with the residual networks if the package has
    /// them) `clamp(pred + residual, 0, 255)`.
    private func decodeInter(_ rec: FrameRecord, index i: Int, reference ref: [UInt8], width w: Int,
                             height h: Int) throws -> [UInt8] {
        let (motion, residualPayload) = try inter.parse(payload: rec.payload, width: w, height: h)
        onParsedInter?(i, motion)
        let pred = MotionCompensation.compensate(reference: ref, width: w, height: h, motion: motion.motion,
                                                 blocksX: motion.blocksX, halfPel: motion.mode.halfPel)
        guard motion.mode.hasResidual else { return pred }
        let parsed = try residualCodec.parse(payload: residualPayload, width: w, height: h, quality: rec.quality)
        onParsed?(i, parsed)
        let residual = try residualCodec.synthesiseSigned(parsed.yHat, width: w, height: h)
        return MotionCompensation.addResidual(pred, residual)
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
