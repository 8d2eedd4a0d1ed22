// mobilenet-bench: benchmark one Core ML model on this Mac and print the runner result JSON.
//
//   swift run -c release mobilenet-bench --model m.mlpackage [--compute-units cpuOnly]
//       [--warmup 5] [--iterations 50] [--seed 0] [--preprocessing JSON] [--json out.json]
//
// --preprocessing is the artifact's manifest preprocessing (one line of JSON, passed by
// bench/targets/ios.py): the synthetic input is made through it.
//
// Exit status 0 with one JSON line on stdout; 2 with one `mobilenet-bench: error: ...` line on
// stderr. On an iPhone the same benchmark runs inside the XCTest (see README.md).

import Foundation
import MobileNetBenchKit

let usage = """
    usage: mobilenet-bench --model M.mlpackage|M.mlmodelc [--compute-units \
    \(ComputeUnitsChoice.allCases.map(\.rawValue).joined(separator: "|"))] [--warmup 5] \
    [--iterations 50] [--seed 0] [--preprocessing JSON] [--json out.json]
    """

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("mobilenet-bench: error: \(message)\n".utf8))
    exit(2)
}

struct Options {
    var model: String?
    var computeUnits = ComputeUnitsChoice.cpuOnly
    var warmup = 5
    var iterations = 50
    var seed: UInt64 = 0
    var preprocessing: InputRecipe?
    var jsonOut: String?
}

func parse(_ argv: [String]) -> Options {
    var options = Options()
    var i = 0
    func value(_ flag: String) -> String {
        i += 1
        guard i < argv.count else { fail("missing value for \(flag)\n\(usage)") }
        return argv[i]
    }
    func integer(_ flag: String) -> Int {
        let text = value(flag)
        guard let n = Int(text) else { fail("\(flag) wants an integer, got \(text)") }
        return n
    }
    while i < argv.count {
        let flag = argv[i]
        switch flag {
        case "--model": options.model = value(flag)
        case "--compute-units":
            let text = value(flag)
            guard let units = ComputeUnitsChoice(rawValue: text) else {
                fail("unknown compute units \(text)\n\(usage)")
            }
            options.computeUnits = units
        case "--warmup": options.warmup = integer(flag)
        case "--iterations": options.iterations = integer(flag)
        case "--seed":
            let text = value(flag)
            guard let n = UInt64(text) else { fail("--seed wants a non-negative integer") }
            options.seed = n
        case "--preprocessing":
            do {
                options.preprocessing = try InputRecipe(json: value(flag))
            } catch {
                fail("\(error)")
            }
        case "--json": options.jsonOut = value(flag)
        case "--version":
            print("\(harnessName) \(harnessVersion)")
            exit(0)
        case "-h", "--help":
            print(usage)
            exit(0)
        default: fail("unknown argument \(flag)\n\(usage)")
        }
        i += 1
    }
    return options
}

let options = parse(Array(CommandLine.arguments.dropFirst()))
guard let modelPath = options.model else { fail("--model is required\n\(usage)") }
guard options.warmup >= 0, options.iterations >= 1 else {
    fail("need --warmup >= 0 and --iterations >= 1")
}
let config = BenchmarkConfig(
    modelURL: URL(fileURLWithPath: modelPath), computeUnits: options.computeUnits,
    warmup: options.warmup, iterations: options.iterations, seed: options.seed,
    preprocessing: options.preprocessing)

do {
    let result = try await runBenchmark(config)
    let text = try result.jsonString()
    print(text)
    if let out = options.jsonOut {
        try Data((text + "\n").utf8).write(to: URL(fileURLWithPath: out), options: .atomic)
    }
} catch {
    fail("\(error)")
}
