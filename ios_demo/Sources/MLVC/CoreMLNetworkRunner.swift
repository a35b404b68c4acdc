#if canImport(CoreML)
import CoreML
import Foundation

/// Runs h_s and g_s (and res_h_s, res_g_s) with Core ML (Apple platforms only; NOT compiled or
/// run on Linux).
///
/// The networks are the packages written by `converters/mlvc_convert/coreml.py` (docs/coreml.md):
/// fp32 mlprograms, **NCHW**, fixed input size, inputs and outputs holding int8 values. This runner
/// converts the decoder's NHWC int8 tensors to NCHW fp32 `MLMultiArray`s and back (the cast back
/// checks that every value is integral and inside -128...127).
///
/// Exactness: with `.cpuOnly` the program runs on Apple's fp32 CPU runtime; docs/coreml.md argues
/// no operation rounds under IEEE fp32, but that Apple's runtime behaves so on a device must be
/// shown per device/OS by `CoreMLConformanceTests`. The GPU and the Neural Engine compute in fp16
/// and are APPROXIMATE. h_s and res_h_s (they decide the entropy-coding symbols) therefore always
/// run `.cpuOnly`; g_s and res_g_s run on `synthesisComputeUnits`: other than `.cpuOnly`,
/// `isExact == false` and the decoder recovers mismatching pictures through its reference runner
/// (a `.cpuOnly` `CoreMLNetworkRunner`: `Decoder(..., reference:)`), or reports them
/// (`DecodedFrame.verified`) without one, instead of throwing. Run the startup probe once per
/// device / OS (`Probe.check(runner, battery)`; it needs the networks exported for the battery's
/// picture size, 128 x 64 for today's golden battery) so that a `.cpuOnly` runtime that is not
/// exact is found before a stream.
///
/// Files looked up in the package directory, per network NAME (`NetworkRole.rawValue`):
/// `NAME.mlmodelc` (compiled, what an app should bundle), else `NAME.mlpackage` (compiled on load,
/// slow). h_s and g_s are required; res_h_s and res_g_s (a package with residual networks, §4b)
/// are loaded when the directory has them, both or neither.
public final class CoreMLNetworkRunner: NetworkRunner {
    public let isExact: Bool
    /// The startup probe's cache key: Core ML on this OS version and device model, g_s's compute units.
    public let environment: String
    /// Whether res_h_s and res_g_s were found (needed by packages with `hasResidualNetworks`).
    public let hasResidualNetworks: Bool
    private let models: [NetworkRole: MLModel]

    public init(packageDirectory: URL, synthesisComputeUnits: MLComputeUnits = .cpuOnly) throws {
        let exact = MLModelConfiguration()
        exact.computeUnits = .cpuOnly
        let synth = MLModelConfiguration()
        synth.computeUnits = synthesisComputeUnits
        let residual: [NetworkRole] = [.residualHyperSynthesis, .residualSynthesis]
        let present = residual.filter { CoreMLNetworkRunner.exists(packageDirectory, $0.rawValue) }
        guard present.isEmpty || present.count == residual.count else {
            throw MLVCError.model("model package \(packageDirectory.path) has \(present[0].rawValue) "
                                  + "without the other residual network")
        }
        var models = [NetworkRole: MLModel]()
        for role in [NetworkRole.hyperSynthesis, .synthesis] + present {
            // symbols depend on h_s / res_h_s: CPU only, whatever the caller asks for g_s
            models[role] = try CoreMLNetworkRunner.load(packageDirectory, role.rawValue,
                                                        role.isHyperSynthesis ? exact : synth)
        }
        self.models = models
        hasResidualNetworks = !present.isEmpty
        isExact = synthesisComputeUnits == .cpuOnly
        var sys = utsname()
        uname(&sys)
        let machine = withUnsafeBytes(of: &sys.machine) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        environment = "coreml/\(ProcessInfo.processInfo.operatingSystemVersionString)/\(machine)"
            + "/g_s-units=\(synthesisComputeUnits.rawValue)"
    }

    private static func exists(_ dir: URL, _ name: String) -> Bool {
        ["mlmodelc", "mlpackage"].contains {
            FileManager.default.fileExists(atPath: dir.appendingPathComponent("\(name).\($0)").path)
        }
    }

    private static func load(_ dir: URL, _ name: String, _ config: MLModelConfiguration) throws -> MLModel {
        let fm = FileManager.default
        do {
            let compiled = dir.appendingPathComponent("\(name).mlmodelc")
            if fm.fileExists(atPath: compiled.path) {
                return try MLModel(contentsOf: compiled, configuration: config)
            }
            let source = dir.appendingPathComponent("\(name).mlpackage")
            if fm.fileExists(atPath: source.path) {
                return try MLModel(contentsOf: try MLModel.compileModel(at: source), configuration: config)
            }
        } catch {
            throw MLVCError.backend("Core ML cannot load \(name): \(error)")
        }
        throw MLVCError.model("model package \(dir.path) has no Core ML network \(name)")
    }

    public func run(role: NetworkRole, input: Int8Tensor) throws -> [String: Int8Tensor] {
        guard let model = models[role] else {
            throw MLVCError.model("model package directory has no Core ML network \(role.rawValue) "
                                  + "(a package with residual networks needs res_h_s and res_g_s)")
        }
        guard input.shape.count == 4, input.shape[0] == 1 else {
            throw MLVCError.invalidArgument("\(role.rawValue): input must be 1 x H x W x C, got \(input.shape)")
        }
        let (h, w, c) = (input.shape[1], input.shape[2], input.shape[3])
        let nchw = [1, c, h, w]
        if let declared = model.modelDescription.inputDescriptionsByName[role.inputName]?.multiArrayConstraint?.shape,
           declared.map(\.intValue) != nchw {
            throw MLVCError.unsupported("\(role.rawValue): Core ML network was exported for input "
                                        + "\(declared.map(\.intValue)) (NCHW), picture needs \(nchw); "
                                        + "export one network per picture size")
        }
        do {
            let array = try MLMultiArray(shape: nchw.map { NSNumber(value: $0) }, dataType: .float32)
            let s = array.strides.map(\.intValue)
            let dst = array.dataPointer.bindMemory(to: Float.self, capacity: s[0])
            input.values.withUnsafeBufferPointer { src in      // NHWC int8 -> NCHW fp32
                var i = 0
                for y in 0..<h { for x in 0..<w { for ch in 0..<c {
                    dst[ch * s[1] + y * s[2] + x * s[3]] = Float(src[i]); i += 1
                } } }
            }
            let features = try MLDictionaryFeatureProvider(
                dictionary: [role.inputName: MLFeatureValue(multiArray: array)])
            let result = try model.prediction(from: features)
            var out = [String: Int8Tensor]()
            for name in role.outputNames {
                guard let value = result.featureValue(for: name)?.multiArrayValue else {
                    throw MLVCError.backend("\(role.rawValue): Core ML returned no output '\(name)'")
                }
                out[name] = try CoreMLNetworkRunner.nhwcInt8(value, name: name)
            }
            return out
        } catch let e as MLVCError {
            throw e
        } catch {
            throw MLVCError.backend("\(role.rawValue): Core ML prediction failed: \(error)")
        }
    }

    /// An NCHW MLMultiArray (fp32, fp64 or int32, any strides) holding int8 values -> NHWC int8.
    static func nhwcInt8(_ a: MLMultiArray, name: String) throws -> Int8Tensor {
        let shape = a.shape.map(\.intValue), st = a.strides.map(\.intValue)
        guard shape.count == 4, shape[0] == 1 else {
            throw MLVCError.backend("output '\(name)' has shape \(shape), expected 1 x C x H x W")
        }
        let (c, h, w) = (shape[1], shape[2], shape[3])
        func element(_ off: Int) -> Double {
            switch a.dataType {
            case .float32: return Double(a.dataPointer.assumingMemoryBound(to: Float.self)[off])
            case .double: return a.dataPointer.assumingMemoryBound(to: Double.self)[off]
            case .int32: return Double(a.dataPointer.assumingMemoryBound(to: Int32.self)[off])
            default: return .nan   // fp16 output is not part of the exported interface
            }
        }
        var values = [Int8](repeating: 0, count: c * h * w)
        var i = 0
        for y in 0..<h { for x in 0..<w { for ch in 0..<c {
            let v = element(ch * st[1] + y * st[2] + x * st[3])
            guard v.rounded() == v, v >= -128, v <= 127 else {
                throw MLVCError.backend("output '\(name)' holds \(v) at (\(y), \(x), \(ch)): not an int8 value")
            }
            values[i] = Int8(v); i += 1
        } } }
        return Int8Tensor(shape: [1, h, w, c], values: values)
    }
}
#endif
