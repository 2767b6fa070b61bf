import CertVaultTesting
import Foundation

/// Runs the built `certvault` binary the way a user would.
enum CLI {
    static let binary = "\(TestEnvironment.productsDirectory)/certvault"
    static let defaultPolicy = TestEnvironment.policy("default")

    static func run(_ arguments: [String], environment: [String: String] = [:], input: Data? = nil,
                    in directory: String? = nil) throws -> ProcessOutput {
        try ProcessRunner.run(binary, arguments, environment: environment, input: input, currentDirectory: directory)
    }

    /// Runs a shell line, for file-descriptor redirections such as `3<pw.txt`.
    static func shell(_ line: String, in directory: String) throws -> ProcessOutput {
        try ProcessRunner.run("/bin/sh", ["-c", line], environment: ["CERTVAULT": binary], currentDirectory: directory)
    }
}
