import CertVaultTesting
import Foundation

/// Runs the built `certvault` binary the way a user would.
enum CLI {
    static let binary = "\(TestEnvironment.productsDirectory)/certvault"
    static let defaultPolicy = TestEnvironment.policy("default")

    /// No test may touch a vault in the developer's working copy: unless a test says otherwise,
    /// the vault and key file point at a folder that does not exist.
    static let isolation = ["CERTVAULT_VAULT": "/nonexistent/certvault-test-vault",
                            "CERTVAULT_KEY_FILE": "/nonexistent/certvault-test-key"]

    static func run(_ arguments: [String], environment: [String: String] = [:], input: Data? = nil,
                    in directory: String? = nil) throws -> ProcessOutput {
        try ProcessRunner.run(binary, arguments, environment: isolation.merging(environment) { $1 }, input: input,
                              currentDirectory: directory)
    }

    /// Runs a shell line, for file-descriptor redirections such as `3<pw.txt`.
    static func shell(_ line: String, in directory: String) throws -> ProcessOutput {
        try ProcessRunner.run("/bin/sh", ["-c", line], environment: isolation.merging(["CERTVAULT": binary]) { $1 },
                              currentDirectory: directory)
    }
}
