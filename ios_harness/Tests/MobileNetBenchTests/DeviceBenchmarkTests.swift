// The benchmark as an XCTest, so that `xcodebuild test-without-building` can run it on a
// connected iPhone. bench/targets/ios.py stages the model in Resources/ and passes the settings as
// TEST_RUNNER_MNB_* environment variables (xcodebuild strips the TEST_RUNNER_ prefix):
//
//   MNB_COMPUTE_UNITS  comma-separated, e.g. "cpuOnly,cpuAndNeuralEngine,all" (default cpuOnly)
//   MNB_WARMUP         warmup iterations (default 5)
//   MNB_ITERATIONS     measured iterations (default 50)
//   MNB_SEED           input seed (default 0)
//   MNB_PREPROCESSING  the artifact's manifest preprocessing, one line of JSON: the synthetic
//                      input is made through it (absent: the C++ runner's raw stream)
//
// Each result is printed as one line `MOBILENET_BENCH_RESULT {json}` (parsed by bench/targets/ios.py)
// and attached to the test result bundle.

import Foundation
import MobileNetBenchKit
import XCTest

let resultMarker = "MOBILENET_BENCH_RESULT "

final class DeviceBenchmarkTests: XCTestCase {
    func stagedModel() throws -> URL {
        guard let folder = Bundle.module.url(forResource: "Resources", withExtension: nil) else {
            throw XCTSkip("the test bundle has no Resources folder")
        }
        for name in ["model.mlmodelc", "model.mlpackage", "model.mlmodel"] {
            let url = folder.appendingPathComponent(name)
            if FileManager.default.fileExists(atPath: url.path) { return url }
        }
        throw XCTSkip(
            "no model staged in Resources/ (model.mlpackage or model.mlmodelc): run `nox -s bench-ios`")
    }

    func setting(_ name: String, default value: Int) throws -> Int {
        guard let text = ProcessInfo.processInfo.environment[name] else { return value }
        guard let n = Int(text) else {
            XCTFail("\(name)=\(text) is not an integer")
            throw BenchmarkError.badConfig("\(name)=\(text) is not an integer")
        }
        return n
    }

    func testBenchmark() async throws {
        let model = try stagedModel()
        let env = ProcessInfo.processInfo.environment
        let unitNames = (env["MNB_COMPUTE_UNITS"] ?? "cpuOnly").split(separator: ",").map {
            $0.trimmingCharacters(in: .whitespaces)
        }
        let warmup = try setting("MNB_WARMUP", default: 5)
        let iterations = try setting("MNB_ITERATIONS", default: 50)
        let seed = UInt64(try setting("MNB_SEED", default: 0))
        let recipe = try env["MNB_PREPROCESSING"].map { try InputRecipe(json: $0) }
        for name in unitNames {
            guard let units = ComputeUnitsChoice(rawValue: name) else {
                XCTFail("unknown compute units \(name)")
                continue
            }
            let config = BenchmarkConfig(
                modelURL: model, computeUnits: units, warmup: warmup, iterations: iterations,
                seed: seed, preprocessing: recipe)
            let result = try await runBenchmark(config)
            XCTAssertEqual(result.samplesMs.count, iterations)
            let text = try result.jsonString()
            print(resultMarker + text)
            let attachment = XCTAttachment(string: text)
            attachment.name = "result-\(name).json"
            attachment.lifetime = .keepAlways
            add(attachment)
        }
    }

    /// The input stream must match bench_runner.cpp's: these are its first floats for seed 0
    /// (tests/ios/test_ios.py checks the same figures against a Python port).
    func testSplitMixMatchesTheCppRunner() {
        var rng = SplitMix64(seed: 0)
        let first = (0..<4).map { _ in rng.nextUnitFloat() }
        XCTAssertEqual(first, [-0.5452635288238525, 0.5027588605880737, 0.2359253168106079, 0.3082998991012573])
    }

    /// Figures of tests/android_app/synthetic.py (checked by tests/ios): seed 0, 1 x 3 x 2 x 2,
    /// ImageNet's mean/std (RGB), then the digits recipe (grey replicated to three channels).
    func testPreprocessedNoiseFollowsTheRecipe() throws {
        let imagenet = try InputRecipe(
            json: #"{"name":"imagenet","channel_order":"RGB","mean":[0.485,0.456,0.406],"std":[0.229,0.224,0.225]}"#)
        let rgb = try preprocessedNoise(shape: [1, 3, 2, 2], seed: 0, recipe: imagenet)
        let expectedRGB: [Float] = [-1.1250295639038086, 1.1632288694381714, 0.5806229114532471, 0.7386459708213806, 1.2380545139312744]
        for (a, b) in zip(rgb.prefix(5), expectedRGB) { XCTAssertEqual(a, b, accuracy: 1e-6) }
        let digits = try InputRecipe(
            name: "digits", channelOrder: "LLL", mean: [0.305496, 0.305496, 0.305496],
            std: [0.324677, 0.324677, 0.324677])
        let grey = try preprocessedNoise(shape: [1, 3, 2, 2], seed: 0, recipe: digits)
        let expectedGrey: [Float] = [-0.2406322956085205, 1.3733139038085938, 0.9623923301696777, 1.0738486051559448]
        for (a, b) in zip(grey.prefix(4), expectedGrey) { XCTAssertEqual(a, b, accuracy: 1e-6) }
        XCTAssertEqual(Array(grey[0..<4]), Array(grey[8..<12]))
    }
}
