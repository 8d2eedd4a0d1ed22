// swift-tools-version:5.9
// The Core ML benchmark harness: a library (MobileNetBenchKit), a macOS command-line tool
// (mobilenet-bench) and an XCTest (MobileNetBenchTests) that runs the same benchmark on a
// connected iPhone through `xcodebuild test-without-building`. See README.md.
import PackageDescription

let package = Package(
    name: "MobileNetBench",
    platforms: [.iOS(.v17), .macOS(.v14)],
    products: [
        .library(name: "MobileNetBenchKit", targets: ["MobileNetBenchKit"]),
        .executable(name: "mobilenet-bench", targets: ["mobilenet-bench"]),
    ],
    targets: [
        .target(name: "MobileNetBenchKit"),
        .executableTarget(name: "mobilenet-bench", dependencies: ["MobileNetBenchKit"]),
        .testTarget(
            name: "MobileNetBenchTests",
            dependencies: ["MobileNetBenchKit"],
            // bench/targets/ios.py stages the model to measure here (model.mlpackage or model.mlmodelc);
            // copied verbatim, compiled on the device so that compile and load are timed apart.
            resources: [.copy("Resources")]
        ),
    ]
)
