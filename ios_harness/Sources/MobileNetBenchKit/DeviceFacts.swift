// What the harness can see of the device it runs on (the `device` object of the result).

import Foundation

func sysctlString(_ name: String) -> String? {
    var size = 0
    guard sysctlbyname(name, nil, &size, nil, 0) == 0, size > 0 else { return nil }
    var buffer = [CChar](repeating: 0, count: size)
    guard sysctlbyname(name, &buffer, &size, nil, 0) == 0 else { return nil }
    return String(cString: buffer)
}

func thermalStateName(_ state: ProcessInfo.ThermalState) -> String {
    switch state {
    case .nominal: return "nominal"
    case .fair: return "fair"
    case .serious: return "serious"
    case .critical: return "critical"
    @unknown default: return "unknown"
    }
}

public struct DeviceFacts {
    public var model: String
    public var osName: String
    public var osVersion: String
    public var osBuild: String
    public var machine: String
    public var processorCount: Int
    public var activeProcessorCount: Int
    public var physicalMemoryBytes: UInt64
    public var thermalState: String
    public var lowPowerMode: Bool
    public var isSimulator: Bool

    public static func current() -> DeviceFacts {
        let info = ProcessInfo.processInfo
        var uts = utsname()
        uname(&uts)
        let machine = withUnsafeBytes(of: &uts.machine) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        let v = info.operatingSystemVersion
        #if targetEnvironment(simulator)
            let simulator = true
            let model = info.environment["SIMULATOR_MODEL_IDENTIFIER"] ?? "simulator"
        #else
            let simulator = false
            #if os(macOS)
                let model = sysctlString("hw.model") ?? machine
            #else
                let model = sysctlString("hw.machine") ?? machine
            #endif
        #endif
        #if os(iOS)
            let osName = "iOS"
        #elseif os(macOS)
            let osName = "macOS"
        #else
            let osName = "unknown"
        #endif
        return DeviceFacts(
            model: model,
            osName: osName,
            osVersion: "\(v.majorVersion).\(v.minorVersion).\(v.patchVersion)",
            osBuild: sysctlString("kern.osversion") ?? "",
            machine: machine,
            processorCount: info.processorCount,
            activeProcessorCount: info.activeProcessorCount,
            physicalMemoryBytes: info.physicalMemory,
            thermalState: thermalStateName(info.thermalState),
            lowPowerMode: info.isLowPowerModeEnabled,
            isSimulator: simulator)
    }

    public func jsonObject() -> [String: Any] {
        [
            "model": model,
            "os": osName,
            "os_version": osVersion,
            "os_build": osBuild,
            "machine": machine,
            "cpu_count": processorCount,
            "active_cpu_count": activeProcessorCount,
            "memory_bytes": physicalMemoryBytes,
            "thermal_state": thermalState,
            "low_power_mode": lowPowerMode,
            "simulator": isSimulator,
        ]
    }
}
