import CertVaultAccess
import CertVaultServer
import CertVaultTesting
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

/// Runs `process` on a thread of its own, so that a long external run does not hold a thread of
/// Swift's small cooperative pool while the service under test needs it.
func runOffPool(_ body: @escaping @Sendable () throws -> ProcessOutput) async throws -> ProcessOutput {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread { continuation.resume(with: Result { try body() }) }
    }
}

/// True when Python can import schemathesis (from PyPI).
let schemathesisInstalled: Bool = {
    guard ExternalTool.python3.isAvailable else { return false }
    return (try? ExternalTool.python3.run(["-c", "import schemathesis"]).status) == 0
}()

@Suite(
    "schemathesis against the live service",
    .enabled(
        if: schemathesisInstalled || TestEnvironment.toolsRequired,
        "schemathesis is not installed (python3 -m pip install schemathesis); CI installs it and runs this"))
struct SchemathesisTests {
    static let executor = DedicatedThreadExecutor(name: "schemathesis-service")

    @Test("no 5xx and no response that breaks /openapi.json, for bounded generated requests to every route")
    func schemathesis() async throws {
        let world = try APIWorld()
        try world.onboard("contoso")
        try world.issue("eu-west")
        let token = try world.tokens.add(scopes: Set(Scope.allCases))
        let script = TestEnvironment.packageRoot + "/Tests/API/schemathesis.sh"
        // The in-process server's request tasks run on a thread of their own: the suite's synchronous
        // tests can hold the 2-thread cooperative pool for minutes (CI once saw /openapi.json time out
        // after 10 s that way), which says nothing about the service, whose pool nothing blocks.
        let result = try await withTaskExecutorPreference(SchemathesisTests.executor) {
            try await world.app().test(.live) { client in
                let port = try #require(client.port)
                return try await runOffPool {
                    try ProcessRunner.run("/bin/sh", [script, "http://127.0.0.1:\(port)"], environment: ["CERTVAULT_API_TOKEN": token])
                }
            }
        }
        // The summary (operations, phases, cases generated) belongs in the CI log.
        print(result.stdout.split(separator: "\n").suffix(25).joined(separator: "\n"))
        #expect(result.status == 0, "\(result.combined.suffix(6000))")
    }
}
