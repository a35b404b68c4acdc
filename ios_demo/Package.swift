// swift-tools-version:5.9
// MLVC Swift port: container, rANS, CDF tables, parse path and picture hashes in portable Swift;
// the two networks (h_s, g_s) run behind `NetworkRunner` (Core ML on Apple platforms).
import PackageDescription

let package = Package(
    name: "MLVC",
    platforms: [.iOS(.v16), .macOS(.v13)],
    products: [
        .library(name: "MLVC", targets: ["MLVC"]),
    ],
    targets: [
        .target(name: "MLVC", path: "Sources/MLVC"),
        .testTarget(name: "MLVCTests", dependencies: ["MLVC"], path: "Tests/MLVCTests"),
    ]
)
