/// An int8 tensor, NHWC, flattened row-major (channel fastest), as the networks see it.
public struct Int8Tensor: Equatable {
    public let shape: [Int]
    public var values: [Int8]

    public init(shape: [Int], values: [Int8]) {
        precondition(shape.reduce(1, *) == values.count, "Int8Tensor: \(values.count) values for shape \(shape)")
        self.shape = shape
        self.values = values
    }
}

/// The two networks a decoder runs (docs/bitstream.md §4).
public enum NetworkRole: String, CaseIterable {
    /// Hyper-synthesis: input `z` (1 x PH/64 x PW/64 x Nz); outputs `mu`, `sigma_index`
    /// (1 x PH/16 x PW/16 x M). It decides symbols: it MUST run on an exact backend.
    case hyperSynthesis = "h_s"
    /// Synthesis: input `y_hat` (1 x PH/16 x PW/16 x M); output `image` (1 x PH x PW x 3).
    case synthesis = "g_s"

    public var inputName: String { self == .hyperSynthesis ? "z" : "y_hat" }
    public var outputNames: [String] { self == .hyperSynthesis ? ["mu", "sigma_index"] : ["image"] }
}

/// Runs the package's networks. Core ML on Apple platforms (`CoreMLNetworkRunner`); recorded
/// outputs in the Linux tests.
public protocol NetworkRunner: AnyObject {
    /// Runs `role` on `input`; returns its int8 outputs by name (`NetworkRole.outputNames`).
    func run(role: NetworkRole, input: Int8Tensor) throws -> [String: Int8Tensor]
    /// Whether g_s is bit-exact. A decoder raises `hashMismatch` only for exact runners; with an
    /// approximate one it reports `DecodedFrame.verified == false` instead. h_s must always be exact.
    var isExact: Bool { get }
}

public extension NetworkRunner {
    var isExact: Bool { true }
}
