// MLVC Player: a minimal SwiftUI example (iOS 16+ / macOS 13+). NOT built or run on Linux: it
// needs Xcode, SwiftUI and Core ML. Add the `MLVC` package (../..) to an app target, then bundle:
//   - `MLVCModel/` (folder reference): manifest.json (the Python package's, unchanged: its
//     content hash is verified), package.json, tables.radius.i32, tables.cdf.u32, h_s.mlmodelc,
//     g_s.mlmodelc
//   - `sample.mlvc`: any stream made with that package (e.g. conformance/golden/tiny_q1.mlvc)
import SwiftUI

@main
struct MLVCPlayerApp: App {
    var body: some Scene {
        WindowGroup {
            PlayerView()
        }
    }
}
