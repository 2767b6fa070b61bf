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

@Suite(
    "schemathesis against the live service",
    .enabled(
        if: ProcessInfo.processInfo.environment["CERTVAULT_SCHEMATHESIS"] == "1",
        "set CERTVAULT_SCHEMATHESIS=1 (with schemathesis from PyPI installed) to run it; CI does"))
struct SchemathesisTests {
    @Test("no 5xx and no response that breaks /openapi.json, for bounded generated requests to every route")
    func schemathesis() async throws {
        let world = try APIWorld()
        try world.onboard("contoso")
        try world.issue("eu-west")
        let token = try world.tokens.add(scopes: Set(Scope.allCases))
        let script = TestEnvironment.packageRoot + "/Tests/API/schemathesis.sh"
        let result = try await world.app().test(.live) { client in
            let port = try #require(client.port)
            return try await runOffPool {
                try ProcessRunner.run("/bin/sh", [script, "http://127.0.0.1:\(port)"], environment: ["CERTVAULT_API_TOKEN": token])
            }
        }
        // The summary (operations, phases, cases generated) belongs in the CI log.
        print(result.stdout.split(separator: "\n").suffix(25).joined(separator: "\n"))
        #expect(result.status == 0, "\(result.combined.suffix(6000))")
    }
}
