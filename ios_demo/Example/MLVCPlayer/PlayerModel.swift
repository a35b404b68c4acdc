import CoreGraphics
import CoreML
import Foundation
import MLVC

/// Decodes the bundled stream off the main thread and publishes pictures and per-frame hash results.
@MainActor
final class PlayerModel: ObservableObject {
    struct FrameResult: Identifiable {
        let id: Int
        /// "I" (intra) or "P" (predicted from the previous decoded picture).
        let type: String
        let quality: Int
        let md5: String
        let verified: Bool
    }

    @Published var picture: CGImage?
    @Published var results: [FrameResult] = []
    @Published var status = "Idle"
    /// Exact (CPU only) or fast (g_s on GPU / Neural Engine: pictures may not match the hashes, and
    /// P-frames inherit the error of their reference until the next I-frame).
    @Published var exact = true

    private var task: Task<Void, Never>?

    func play(streamName: String = "sample") {
        task?.cancel()
        results = []
        status = "Decoding…"
        let exact = self.exact
        task = Task.detached(priority: .userInitiated) { [weak self] in
            do {
                guard let streamURL = Bundle.main.url(forResource: streamName, withExtension: "mlvc"),
                      let packageURL = Bundle.main.url(forResource: "MLVCModel", withExtension: nil) else {
                    throw MLVCError.invalidArgument("bundle lacks \(streamName).mlvc or MLVCModel/")
                }
                let runner = try CoreMLNetworkRunner(packageDirectory: packageURL,
                                                     synthesisComputeUnits: exact ? .cpuOnly : .all)
                let options = try DecoderOptions(packageDirectory: packageURL, verifyHashes: true)
                // Fast mode recovers through the CPU: a picture whose hash fails on the GPU / Neural
                // Engine is decoded again on .cpuOnly, which decodes the rest (decoder.switches).
                let reference = exact ? nil : try CoreMLNetworkRunner(packageDirectory: packageURL,
                                                                      synthesisComputeUnits: .cpuOnly)
                let decoder = try Decoder.open(streamURL, options: options, network: runner, reference: reference)
                let fps = Double(decoder.header.fpsNumerator) / Double(decoder.header.fpsDenominator)
                for try await frame in decoder.frames {
                    if Task.isCancelled { return }
                    let image = PlayerModel.makeImage(frame)
                    let result = FrameResult(id: frame.index, type: frame.frameType.rawValue, quality: frame.quality,
                                             md5: Hex.encode(frame.md5), verified: frame.verified)
                    await MainActor.run {
                        self?.picture = image
                        self?.results.append(result)
                    }
                    try? await Task.sleep(nanoseconds: UInt64(1e9 / max(fps, 1)))
                }
                await MainActor.run {
                    guard let self else { return }
                    let ok = self.results.filter(\.verified).count
                    self.status = "Done: \(ok)/\(self.results.count) frames match their hash"
                        + (exact ? " (exact)" : " (approximate g_s)")
                }
            } catch let error as MLVCError {
                await MainActor.run { self?.status = "Error \(error.code): \(error.message)" }
            } catch {
                await MainActor.run { self?.status = "Error: \(error)" }
            }
        }
    }

    /// RGB bytes -> CGImage (expanded to RGBX, which every CoreGraphics path accepts).
    nonisolated static func makeImage(_ f: DecodedFrame) -> CGImage? {
        var rgbx = [UInt8](repeating: 255, count: f.width * f.height * 4)
        for i in 0..<(f.width * f.height) {
            rgbx[4 * i] = f.rgb[3 * i]
            rgbx[4 * i + 1] = f.rgb[3 * i + 1]
            rgbx[4 * i + 2] = f.rgb[3 * i + 2]
        }
        guard let provider = CGDataProvider(data: Data(rgbx) as CFData) else { return nil }
        return CGImage(width: f.width, height: f.height, bitsPerComponent: 8, bitsPerPixel: 32,
                       bytesPerRow: f.width * 4, space: CGColorSpaceCreateDeviceRGB(),
                       bitmapInfo: CGBitmapInfo(rawValue: CGImageAlphaInfo.noneSkipLast.rawValue),
                       provider: provider, decode: nil, shouldInterpolate: false, intent: .defaultIntent)
    }
}
