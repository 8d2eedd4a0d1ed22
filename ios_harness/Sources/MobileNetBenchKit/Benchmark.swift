// One benchmark run of a Core ML model: compile (if needed), load with the chosen compute units,
// one first inference, warmups, measured iterations; every latency kept, in order. The result is
// the runner result JSON (schema_version 1) that bench/results.py reads, the same contract as the
// C++ ExecuTorch runner and the Android app.

import CoreML
import Foundation

public let harnessName = "ios_harness"
public let harnessVersion = "0.1.0"
public let schemaVersion = 1

/// The compute units Core ML may use. `cpuOnly` is the single-core comparison with the Android
/// runner (Core ML does not expose its thread count; see README).
public enum ComputeUnitsChoice: String, CaseIterable, Sendable {
    case cpuOnly
    case cpuAndGPU
    case cpuAndNeuralEngine
    case all

    public var mlComputeUnits: MLComputeUnits {
        switch self {
        case .cpuOnly: return .cpuOnly
        case .cpuAndGPU: return .cpuAndGPU
        case .cpuAndNeuralEngine: return .cpuAndNeuralEngine
        case .all: return .all
        }
    }
}

/// The artifact's preprocessing (its manifest entry's, passed by bench/targets/ios.py as
/// MNB_PREPROCESSING or --preprocessing, one line of JSON), as far as a synthetic input needs it.
public struct InputRecipe: Sendable {
    public static let channelOrders = ["RGB", "BGR", "LLL"]

    public var name: String
    public var channelOrder: String
    public var mean: [Float]
    public var std: [Float]
    public var low: Float
    public var high: Float
    /// The JSON text it was read from, echoed in the result as `config.preprocessing`.
    public var json: String

    public init(
        name: String, channelOrder: String, mean: [Float], std: [Float], low: Float = 0,
        high: Float = 1, json: String = "{}"
    ) throws {
        guard InputRecipe.channelOrders.contains(channelOrder) else {
            throw BenchmarkError.badConfig("preprocessing channel_order \(channelOrder) is not RGB, BGR or LLL")
        }
        guard mean.count == 3, std.count == 3, std.allSatisfy({ $0 > 0 }), high > low else {
            throw BenchmarkError.badConfig("preprocessing needs 3 means, 3 positive stds, an increasing value_range")
        }
        self.name = name
        self.channelOrder = channelOrder
        self.mean = mean
        self.std = std
        self.low = low
        self.high = high
        self.json = json
    }

    /// From the manifest's JSON form (deploy/artifacts/preprocessing.py).
    public init(json text: String) throws {
        guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)),
            let dict = object as? [String: Any]
        else {
            throw BenchmarkError.badConfig("preprocessing is not a JSON object: \(text.prefix(80))")
        }
        func floats(_ key: String, _ count: Int, _ fallback: [Float]? = nil) throws -> [Float] {
            guard let raw = dict[key] else {
                if let fallback { return fallback }
                throw BenchmarkError.badConfig("preprocessing lacks \(key)")
            }
            guard let numbers = raw as? [NSNumber], numbers.count == count else {
                throw BenchmarkError.badConfig("preprocessing \(key) needs \(count) numbers")
            }
            return numbers.map { $0.floatValue }
        }
        let range = try floats("value_range", 2, [0, 1])
        try self.init(
            name: dict["name"] as? String ?? "unnamed",
            channelOrder: dict["channel_order"] as? String ?? "RGB",
            mean: try floats("mean", 3), std: try floats("std", 3), low: range[0], high: range[1],
            json: text)
    }
}

public struct BenchmarkConfig: Sendable {
    public var modelURL: URL
    public var computeUnits: ComputeUnitsChoice
    public var warmup: Int
    public var iterations: Int
    public var seed: UInt64
    /// The manifest's preprocessing; without it the input is the C++ runner's raw stream.
    public var preprocessing: InputRecipe?

    public init(
        modelURL: URL, computeUnits: ComputeUnitsChoice = .cpuOnly, warmup: Int = 5,
        iterations: Int = 50, seed: UInt64 = 0, preprocessing: InputRecipe? = nil
    ) {
        self.modelURL = modelURL
        self.computeUnits = computeUnits
        self.warmup = warmup
        self.iterations = iterations
        self.seed = seed
        self.preprocessing = preprocessing
    }
}

public enum BenchmarkError: Error, CustomStringConvertible {
    case badConfig(String)
    case modelMissing(String)
    case unsupportedModel(String)
    case predictionFailed(String)

    public var description: String {
        switch self {
        case .badConfig(let why): return "bad configuration: \(why)"
        case .modelMissing(let path): return "no model at \(path): stage a .mlpackage or .mlmodelc there"
        case .unsupportedModel(let why): return "unsupported model: \(why)"
        case .predictionFailed(let why): return "prediction failed: \(why)"
        }
    }
}

/// Monotonic milliseconds.
@inline(__always)
func nowMs() -> Double {
    Double(DispatchTime.now().uptimeNanoseconds) / 1e6
}

/// The deterministic input of bench_runner.cpp: a splitmix64 stream mapped to floats uniform in
/// [-1, 1), exactly representable, so every runner feeds the same tensor.
public struct SplitMix64 {
    private var state: UInt64

    public init(seed: UInt64) {
        state = seed &* 0x9E37_79B9_7F4A_7C15 &+ 0x123_4567
    }

    public mutating func next() -> UInt64 {
        state = state &+ 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    public mutating func nextUnitFloat() -> Float {
        let bits = Int32(truncatingIfNeeded: next() >> 40) - (1 << 23)
        return Float(bits) / Float(1 << 23)
    }
}

/// A synthetic picture made the way the artifact's real inputs are made: splitmix64 pixels in
/// [0, 1) ((u + 1) / 2 of the runner's stream; one grey plane replicated for "LLL", else one plane
/// per channel), mapped onto value_range, then (value - mean[c]) / std[c], N x 3 x H x W.
/// tests/android_app/synthetic.py is the Python port the test figures are checked with.
public func preprocessedNoise(shape: [Int], seed: UInt64, recipe: InputRecipe) throws -> [Float] {
    guard shape.count == 4, shape[1] == 3 else {
        throw BenchmarkError.unsupportedModel(
            "the manifest's preprocessing makes N x 3 x H x W inputs, not \(shape)")
    }
    let batch = shape[0]
    let plane = shape[2] * shape[3]
    let planes = recipe.channelOrder == "LLL" ? 1 : 3
    var rng = SplitMix64(seed: seed)
    var out = [Float](repeating: 0, count: batch * 3 * plane)
    for n in 0..<batch {
        var pixels: [[Float]] = []
        for _ in 0..<planes {
            pixels.append((0..<plane).map { _ in (rng.nextUnitFloat() + 1) * 0.5 })
        }
        for c in 0..<3 {
            let source = pixels[planes == 1 ? 0 : c]
            let base = (n * 3 + c) * plane
            for i in 0..<plane {
                let value = recipe.low + (recipe.high - recipe.low) * source[i]
                out[base + i] = (value - recipe.mean[c]) / recipe.std[c]
            }
        }
    }
    return out
}

/// A multi-array of the input's shape and type: through the manifest's preprocessing when
/// given, else filled from SplitMix64(seed) as bench_runner.cpp does.
func makeInput(
    _ constraint: MLMultiArrayConstraint, seed: UInt64, recipe: InputRecipe? = nil
) throws -> MLMultiArray {
    let shape = constraint.shape
    guard !shape.isEmpty else {
        throw BenchmarkError.unsupportedModel("the input has a flexible or empty shape")
    }
    let dtype = constraint.dataType
    guard dtype == .float32 || dtype == .float16 || dtype == .double else {
        throw BenchmarkError.unsupportedModel("input data type \(dtype.rawValue) is not float")
    }
    let array = try MLMultiArray(shape: shape, dataType: dtype)
    if let recipe {
        let values = try preprocessedNoise(shape: shape.map { $0.intValue }, seed: seed, recipe: recipe)
        for i in 0..<array.count {
            array[i] = NSNumber(value: values[i])
        }
        return array
    }
    var rng = SplitMix64(seed: seed)
    for i in 0..<array.count {
        array[i] = NSNumber(value: rng.nextUnitFloat())
    }
    return array
}

public struct OutputSummary {
    public var name: String
    public var checksum: Double
    public var absSum: Double
    public var top1: Int
    public var top1Value: Double
    public var dtype: String
    public var shape: [Int]
}

func dtypeName(_ t: MLMultiArrayDataType) -> String {
    switch t {
    case .float32: return "float32"
    case .float16: return "float16"
    case .double: return "float64"
    case .int32: return "int32"
    default: return "other"
    }
}

func summarize(name: String, _ array: MLMultiArray) -> OutputSummary {
    var checksum = 0.0
    var absSum = 0.0
    var best = -Double.infinity
    var top1 = -1
    for i in 0..<array.count {
        let v = array[i].doubleValue
        checksum += v
        absSum += abs(v)
        if v > best {
            best = v
            top1 = i
        }
    }
    return OutputSummary(
        name: name, checksum: checksum, absSum: absSum, top1: top1, top1Value: best,
        dtype: dtypeName(array.dataType), shape: array.shape.map { $0.intValue })
}

public struct BenchmarkResult {
    public var config: BenchmarkConfig
    public var artifactSHA256: String
    public var compileMs: Double?
    public var loadMs: Double
    public var firstInferenceMs: Double
    public var warmupMs: [Double]
    public var samplesMs: [Double]
    public var inputName: String
    public var inputShape: [Int]
    public var inputDtype: String
    public var output: OutputSummary
    public var device: DeviceFacts

    /// The runner result JSON object (see bench/results.py for the schema).
    public func jsonObject() -> [String: Any] {
        var cfg: [String: Any] = [
            // Core ML schedules its own threads; the harness calls predict from one thread.
            "threads": 1,
            "threads_controlled": false,
            "cpu_mask": "n/a",
            "compute_units": config.computeUnits.rawValue,
            "warmup": config.warmup,
            "iterations": samplesMs.count,
            "input": config.preprocessing.map { "seed:\(config.seed) via \($0.name) preprocessing" }
                ?? "seed:\(config.seed)",
            "input_name": inputName,
            "input_shape": inputShape,
            "input_dtype": inputDtype,
        ]
        cfg["compile_ms"] = compileMs.map { $0 as Any } ?? NSNull()
        // The preprocessing the input was made with, echoed so bench/targets/ios.py can check it.
        cfg["preprocessing"] =
            config.preprocessing.flatMap {
                try? JSONSerialization.jsonObject(with: Data($0.json.utf8))
            } ?? NSNull()
        return [
            "schema_version": schemaVersion,
            "runner": [
                "name": harnessName,
                "version": harnessVersion,
                // No ExecuTorch here: the runtime is Core ML, versioned by the OS.
                "executorch_version": "coreml/\(device.osName) \(device.osVersion)",
                "runtime": "coreml",
            ],
            "artifact": [
                "sha256": artifactSHA256,
                "path": config.modelURL.lastPathComponent,
            ],
            "config": cfg,
            "load_ms": loadMs,
            "first_inference_ms": firstInferenceMs,
            "warmup_ms": warmupMs,
            "samples_ms": samplesMs,
            "output": [
                "name": output.name,
                "checksum": output.checksum,
                "abs_sum": output.absSum,
                "top1": output.top1,
                "top1_value": output.top1Value,
                "dtype": output.dtype,
                "shape": output.shape,
                "numel": output.shape.reduce(1, *),
            ],
            "device": device.jsonObject(),
            "emulated": device.isSimulator,
        ]
    }

    public func jsonString() throws -> String {
        let data = try JSONSerialization.data(
            withJSONObject: jsonObject(), options: [.sortedKeys, .withoutEscapingSlashes])
        return String(decoding: data, as: UTF8.self)
    }
}

/// Compile (for .mlpackage / .mlmodel), load and measure one model.
public func runBenchmark(_ config: BenchmarkConfig) async throws -> BenchmarkResult {
    guard config.warmup >= 0, config.iterations >= 1 else {
        throw BenchmarkError.badConfig("need warmup >= 0 and iterations >= 1")
    }
    let url = config.modelURL
    guard FileManager.default.fileExists(atPath: url.path) else {
        throw BenchmarkError.modelMissing(url.path)
    }
    let sha = try artifactSHA256(url)

    var compileMs: Double? = nil
    var compiledURL = url
    if url.pathExtension != "mlmodelc" {
        let t0 = nowMs()
        compiledURL = try await MLModel.compileModel(at: url)
        compileMs = nowMs() - t0
    }
    defer {
        if compiledURL != url { try? FileManager.default.removeItem(at: compiledURL) }
    }

    let mlConfig = MLModelConfiguration()
    mlConfig.computeUnits = config.computeUnits.mlComputeUnits
    let tLoad = nowMs()
    let model = try MLModel(contentsOf: compiledURL, configuration: mlConfig)
    let loadMs = nowMs() - tLoad

    let inputs = model.modelDescription.inputDescriptionsByName
    guard inputs.count == 1, let only = inputs.first, let constraint = only.value.multiArrayConstraint
    else {
        throw BenchmarkError.unsupportedModel("expected one multi-array input, found \(inputs.count)")
    }
    let inputName = only.key
    let input = try makeInput(constraint, seed: config.seed, recipe: config.preprocessing)
    let provider = try MLDictionaryFeatureProvider(
        dictionary: [inputName: MLFeatureValue(multiArray: input)])
    let options = MLPredictionOptions()

    func runOnce() throws -> (Double, MLFeatureProvider) {
        let t0 = nowMs()
        let out = try model.prediction(from: provider, options: options)
        return (nowMs() - t0, out)
    }

    let (firstMs, _) = try runOnce()
    var warmupMs: [Double] = []
    for _ in 0..<config.warmup { warmupMs.append(try runOnce().0) }
    var samplesMs: [Double] = []
    samplesMs.reserveCapacity(config.iterations)
    var last: MLFeatureProvider? = nil
    for _ in 0..<config.iterations {
        let (ms, out) = try runOnce()
        samplesMs.append(ms)
        last = out
    }

    let outputNames = model.modelDescription.outputDescriptionsByName.keys.sorted()
    guard let outName = outputNames.first, let outArray = last?.featureValue(for: outName)?.multiArrayValue
    else {
        throw BenchmarkError.predictionFailed("the model returned no multi-array output")
    }
    return BenchmarkResult(
        config: config, artifactSHA256: sha, compileMs: compileMs, loadMs: loadMs,
        firstInferenceMs: firstMs, warmupMs: warmupMs, samplesMs: samplesMs, inputName: inputName,
        inputShape: constraint.shape.map { $0.intValue }, inputDtype: dtypeName(constraint.dataType),
        output: summarize(name: outName, outArray), device: DeviceFacts.current())
}
