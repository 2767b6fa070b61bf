import ArgumentParser
import Foundation

/// Running other programs from the benchmarks.
enum Subprocess {
    struct Output {
        let status: Int32
        let stdout: Data
    }

    /// Runs a program to its end, stdout captured, stderr discarded.
    static func run(_ executable: String, _ arguments: [String], env: [String: String] = [:]) throws -> Output {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(env) { $1 }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Output(status: process.terminationStatus, stdout: data)
    }

    /// The same, failing on a non-zero exit status.
    static func check(_ executable: String, _ arguments: [String], env: [String: String] = [:]) throws -> Output {
        let output = try run(executable, arguments, env: env)
        guard output.status == 0 else {
            throw ValidationError("\(executable) \(arguments.prefix(3).joined(separator: " ")) failed (\(output.status))")
        }
        return output
    }

    /// CPU seconds (user + system) of this process (RUSAGE_SELF) or of its waited-for children.
    static func cpu(_ who: __rusage_who) -> Double {
        var usage = rusage()
        getrusage(Int32(who.rawValue), &usage)
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    }

    /// The built `certvault` next to this benchmark binary.
    static func certvault() throws -> String {
        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
            .appendingPathComponent("certvault").path
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw ValidationError("\(binary) is missing: build it first (swift build -c release)")
        }
        return binary
    }
}

/// `certvault vb365 simulate` in a process of its own (so its CPU is in no side's figures),
/// every device code signed in at once.
final class BenchSimulator {
    let process = Process()
    let url: String
    let caFile: String
    let passwordFile: String

    /// - Parameter store: the simulator's organizations file (`--store`), e.g. one written ahead.
    init(apiVersion: String, work: String, store: String? = nil) throws {
        process.executableURL = URL(fileURLWithPath: try Subprocess.certvault())
        process.arguments = ["vb365", "simulate", "--port", "0", "--api-version", apiVersion, "--sign-in-after", "0",
                             "--state-dir", "\(work)/sim", "--ready-file", "\(work)/ready.json"] + (store.map { ["--store", $0] } ?? [])
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(30)
        while !FileManager.default.fileExists(atPath: "\(work)/ready.json") && Date() < deadline && process.isRunning {
            Thread.sleep(forTimeInterval: 0.05)
        }
        let data = (try? Data(contentsOf: URL(fileURLWithPath: "\(work)/ready.json"))) ?? Data()
        let facts = (try? JSONSerialization.jsonObject(with: data)) as? [String: String] ?? [:]
        guard let url = facts["url"], let caFile = facts["caFile"], let passwordFile = facts["passwordFile"] else {
            process.terminate()
            throw ValidationError("the simulator did not start")
        }
        self.url = url
        self.caFile = caFile
        self.passwordFile = passwordFile
    }

    func stop() {
        process.terminate()
        process.waitUntilExit()
    }
}
