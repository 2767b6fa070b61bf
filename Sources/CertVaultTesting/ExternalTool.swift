public import Foundation

/// A program that nobody in this project wrote (the `openssl` CLI, Java's `keytool`, GnuTLS's
/// `certtool`, Python with `cryptography`), used to check what certvault writes.
public struct ExternalTool: Sendable {
    /// The tool's name as a user would type it.
    public let name: String
    /// Its absolute path, when it is installed.
    public let path: String?

    /// Finds a tool on `PATH`.
    public init(_ name: String) {
        self.name = name
        let directories = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
        path = directories.map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// True when the tool is installed.
    public var isAvailable: Bool { path != nil }

    public static let openssl = ExternalTool("openssl")
    public static let keytool = ExternalTool("keytool")
    public static let certtool = ExternalTool("certtool")
    public static let python3 = ExternalTool("python3")

    /// True when `python3 -c "import cryptography"` works.
    public static let pythonCryptography: Bool = {
        guard python3.isAvailable else { return false }
        return (try? python3.run(["-c", "import cryptography.hazmat.primitives.serialization.pkcs12"]).status) == 0
    }()

    /// Runs the tool and waits for it.
    ///
    /// - Parameters:
    ///   - arguments: the arguments (test secrets go in `environment`, as they would in production).
    ///   - environment: variables added to the current environment.
    ///   - input: bytes for standard input.
    public func run(_ arguments: [String], environment: [String: String] = [:], input: Data? = nil,
                    currentDirectory: String? = nil) throws -> ProcessOutput {
        guard let path else { throw ToolMissing(name: name) }
        return try ProcessRunner.run(path, arguments, environment: environment, input: input, currentDirectory: currentDirectory)
    }
}

/// Thrown when a test needs a tool that is not installed.
public struct ToolMissing: Error, CustomStringConvertible {
    public let name: String

    /// Names what is missing or failed.
    public init(name: String) { self.name = name }

    public var description: String { "\(name) is not installed" }
}

/// What a finished process printed.
public struct ProcessOutput: Sendable {
    public let status: Int32
    public let stdout: String
    public let stderr: String
    public let stdoutData: Data

    /// stdout and stderr together, for assertions that do not care which.
    public var combined: String { stdout + stderr }
}

/// Runs processes for tests.
public enum ProcessRunner {
    /// Runs `executable` with `arguments` and waits, collecting both outputs.
    public static func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:],
                           input: Data? = nil, currentDirectory: String? = nil) throws -> ProcessOutput {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        if let currentDirectory { process.currentDirectoryURL = URL(fileURLWithPath: currentDirectory) }
        let outPipe = Pipe()
        let errPipe = Pipe()
        let inPipe = Pipe()
        process.standardOutput = outPipe
        process.standardError = errPipe
        process.standardInput = inPipe
        try process.run()
        if let input { inPipe.fileHandleForWriting.write(input) }
        try inPipe.fileHandleForWriting.close()
        // Read both pipes concurrently so a chatty process cannot block on a full pipe.
        let errorBox = DataBox()
        let reader = Thread { errorBox.data = errPipe.fileHandleForReading.readDataToEndOfFile() }
        reader.start()
        let out = outPipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        while !errorBox.done { usleep(1000) }
        return ProcessOutput(status: process.terminationStatus, stdout: String(decoding: out, as: UTF8.self),
                             stderr: String(decoding: errorBox.data, as: UTF8.self), stdoutData: out)
    }
}

private final class DataBox: @unchecked Sendable {
    private let lock = NSLock()
    private var stored = Data()
    private var finished = false
    var data: Data {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue; finished = true } }
    }
    var done: Bool { lock.withLock { finished } }
}
