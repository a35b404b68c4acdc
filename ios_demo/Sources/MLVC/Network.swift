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

/// The networks a decoder runs (docs/bitstream.md §4, §4b). The raw value is the network's name in
/// the package (`h_s`, `g_s`, `res_h_s`, `res_g_s`).
public enum NetworkRole: String, CaseIterable {
    /// Hyper-synthesis: input `z` (1 x PH/64 x PW/64 x Nz); outputs `mu`, `sigma_index`
    /// (1 x PH/16 x PW/16 x M). It decides symbols: it MUST run on an exact backend.
    case hyperSynthesis = "h_s"
    /// Synthesis: input `y_hat` (1 x PH/16 x PW/16 x M); output `image` (1 x PH x PW x 3).
    case synthesis = "g_s"
    /// h_s of the residual networks (P-frame residuals, §4b); same interface, exact like h_s.
    case residualHyperSynthesis = "res_h_s"
    /// g_s of the residual networks; same interface as g_s.
    case residualSynthesis = "res_g_s"

    /// h_s or res_h_s: decides symbols, so it must run on an exact backend.
    public var isHyperSynthesis: Bool { self == .hyperSynthesis || self == .residualHyperSynthesis }
    /// The set this role belongs to.
    public var networkSet: NetworkSet {
        self == .hyperSynthesis || self == .synthesis ? .intra : .residual
    }

    public var inputName: String { isHyperSynthesis ? "z" : "y_hat" }
    public var outputNames: [String] { isHyperSynthesis ? ["mu", "sigma_index"] : ["image"] }
}

/// The networks and z tables one intra payload is decoded with (§4b): `intra` (h_s, g_s,
/// `z_table_index`) for I-frames, and for P-frame residuals too unless the package has residual
/// networks; then residuals use `residual` (res_h_s, res_g_s, `res_z_table_index`).
public enum NetworkSet: String, CaseIterable {
    case intra
    case residual

    public var hyperSynthesis: NetworkRole { self == .intra ? .hyperSynthesis : .residualHyperSynthesis }
    public var synthesis: NetworkRole { self == .intra ? .synthesis : .residualSynthesis }
}

/// Runs the package's networks. Core ML on Apple platforms (`CoreMLNetworkRunner`); recorded
/// outputs in the Linux tests.
public protocol NetworkRunner: AnyObject {
    /// Runs `role` on `input`; returns its int8 outputs by name (`NetworkRole.outputNames`).
    func run(role: NetworkRole, input: Int8Tensor) throws -> [String: Int8Tensor]
    /// Whether g_s and res_g_s (every synthesis network it runs) are bit-exact. A decoder raises
    /// `hashMismatch` only for exact runners; with an approximate one it recovers the picture
    /// through its reference runner, or reports `DecodedFrame.verified == false` without one.
    /// h_s and res_h_s must always be exact.
    var isExact: Bool { get }
    /// Whether `role` is bit-exact (default: h_s / res_h_s yes, g_s / res_g_s `isExact`).
    /// `ProbedNetworkRunner` answers it from the startup probe.
    func isExact(role: NetworkRole) -> Bool
    /// What decides the runner's arithmetic (runtime / OS version, compute units, device): the key
    /// of the startup probe's cache (`Probe.cached`). Default: the type name.
    var environment: String { get }
}

public extension NetworkRunner {
    var isExact: Bool { true }
    func isExact(role: NetworkRole) -> Bool { role.isHyperSynthesis ? true : isExact }
    var environment: String { String(describing: type(of: self)) }
}
