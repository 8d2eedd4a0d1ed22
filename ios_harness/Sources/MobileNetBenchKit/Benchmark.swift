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

public struct BenchmarkConfig: Sendable {
    public var modelURL: URL
    public var computeUnits: ComputeUnitsChoice
    public var warmup: Int
    public var iterations: Int
    public var seed: UInt64

    public init(
        modelURL: URL, computeUnits: ComputeUnitsChoice = .cpuOnly, warmup: Int = 5,
        iterations: Int = 50, seed: UInt64 = 0
    ) {
        self.modelURL = modelURL
        self.computeUnits = computeUnits
        self.warmup = warmup
        self.iterations = iterations
        self.seed = seed
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

/// A multi-array of the input's shape and type, filled from SplitMix64(seed).
func makeInput(_ constraint: MLMultiArrayConstraint, seed: UInt64) throws -> MLMultiArray {
    let shape = constraint.shape
    guard !shape.isEmpty else {
        throw BenchmarkError.unsupportedModel("the input has a flexible or empty shape")
    }
    let dtype = constraint.dataType
    guard dtype == .float32 || dtype == .float16 || dtype == .double else {
        throw BenchmarkError.unsupportedModel("input data type \(dtype.rawValue) is not float")
    }
    let array = try MLMultiArray(shape: shape, dataType: dtype)
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
            "input": "seed:\(config.seed)",
            "input_name": inputName,
            "input_shape": inputShape,
            "input_dtype": inputDtype,
        ]
        cfg["compile_ms"] = compileMs.map { $0 as Any } ?? NSNull()
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
    let input = try makeInput(constraint, seed: config.seed)
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
