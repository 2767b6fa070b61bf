import CertVaultCore
import CertVaultTesting
import CertVaultVault
import Foundation
import Testing

@Suite("The recovery script fails with a clear message and exit code, never a traceback",
       .enabled(if: PyNaCl.available || TestEnvironment.toolsRequired, "python3 with PyNaCl is not installed"))
struct RecoveryScriptErrorTests {
    func run(_ dir: TemporaryDirectory, tenant: String, pfx: String, extra: [String] = []) throws -> ProcessOutput {
        try ExternalTool.python3.run([RecoveryScriptTests.script, dir.file("vault"), tenant, "--key-file", dir.file("key/root.key"),
                                      "--out-pfx", pfx, "--out-password", dir.file("out.txt")] + extra)
    }

    @Test("an existing output file, an unknown tenant, a missing generation, a missing vault")
    func errors() throws {
        let dir = try TemporaryDirectory()
        let (vault, _) = try VaultFixtures.keyFileVault(dir)
        _ = try vault.store(tenant: try TenantID("contoso"), payload: VaultFixtures.payload())
        let existing = try dir.write("existing.pfx", "keep me")
        let cases: [(ProcessOutput, String)] = [
            (try run(dir, tenant: "contoso", pfx: existing), "already exists"),
            (try run(dir, tenant: "fabrikam", pfx: dir.file("o.pfx")), "tenant fabrikam is not in the vault"),
            (try run(dir, tenant: "contoso", pfx: dir.file("o.pfx"), extra: ["--generation", "7"]), "has no generation 7"),
            (try ExternalTool.python3.run([RecoveryScriptTests.script, dir.file("nowhere"), "contoso", "--key-file", dir.file("key/root.key"),
                                           "--out-pfx", dir.file("o.pfx"), "--out-password", dir.file("o.txt")]), "there is no vault"),
        ]
        for (result, expected) in cases {
            #expect(result.status == 1, "\(expected): exit \(result.status)")
            #expect(result.stderr.hasPrefix("certvault-recover: "), "\(result.stderr)")
            #expect(result.stderr.contains(expected), "\(result.stderr)")
            #expect(!result.stderr.contains("Traceback"), "\(result.stderr)")
        }
        #expect(try String(contentsOfFile: existing, encoding: .utf8) == "keep me")
        #expect(!FileManager.default.fileExists(atPath: dir.file("out.txt")))
    }
}
