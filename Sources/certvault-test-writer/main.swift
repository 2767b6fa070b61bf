// A writer for the vault's crash-safety test: it stores and updates entries as fast as it can
// and prints a line after each operation returns, until it is killed. Not part of the product.
//
//   certvault-test-writer VAULT KEYFILE TENANT
import CertVaultCore
import CertVaultVault
import Foundation

/// Writes a line to stdout unbuffered, so a kill right after loses nothing already reported.
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

let arguments = CommandLine.arguments
// certvault-test-writer fill VAULT KEYFILE TENANTS GENERATIONS PFX_BYTES AUDIT_RECORDS
//   creates VAULT (with KEYFILE) if missing and adds TENANTS x GENERATIONS synthetic entries
//   (see Vault.fillSynthetic) and AUDIT_RECORDS extra audit records, fast: for tests and
//   benchmarks of large vaults (100,000 generations, 1 GiB bundles).
if arguments.count == 8 && arguments[1] == "fill" {
    do {
        let (path, key) = (arguments[2], arguments[3])
        let vault = Vault.exists(at: path)
            ? try Vault.open(at: path, unlock: .keyFile(path: key), actor: "synthetic")
            : try Vault.create(at: path, protection: .keyFile(path: key), actor: "synthetic")
        let start = Date()
        let written = try vault.fillSynthetic(tenants: Int(arguments[4])!, generationsPerTenant: Int(arguments[5])!,
                                              pfxBytes: Int(arguments[6])!)
        try vault.appendSyntheticAuditRecords(Int(arguments[7])!)
        say("filled \(written) entries and \(arguments[7]) extra audit records in \(String(format: "%.1f", Date().timeIntervalSince(start))) s")
        exit(0)
    } catch {
        FileHandle.standardError.write(Data("certvault-test-writer: \(error)\n".utf8))
        exit(1)
    }
}
guard arguments.count == 4 else {
    FileHandle.standardError.write(Data("usage: certvault-test-writer VAULT KEYFILE TENANT\n       certvault-test-writer fill VAULT KEYFILE TENANTS GENERATIONS PFX_BYTES AUDIT_RECORDS\n".utf8))
    exit(2)
}
do {
    let vault = try Vault.open(at: arguments[1], unlock: .keyFile(path: arguments[2]), actor: "crash-test")
    let tenant = try TenantID(arguments[3])
    var round = 0
    while true {
        round += 1
        let password = Array("password-\(round)".utf8).withUnsafeBytes { SecretBytes(copying: $0) }
        let payload = EntryPayload(
            pfx: [UInt8](repeating: UInt8(round % 256), count: 3000), password: password, certificateDER: [1, 2, 3],
            facts: CertificateFacts(friendlyName: "crash \(round)", thumbprintSHA1: String(round), fingerprintSHA256: "", serialNumber: "",
                                    notBefore: "", notAfter: "2030-01-01T00:00:00Z", policy: "test", subject: ""))
        let generation = try vault.store(tenant: tenant, payload: payload)
        say("stored \(generation) \(round)")
        if round % 3 == 0 {
            try vault.updateMetadata(tenant: tenant, generation: generation, action: "entry.retire") { $0.status = .retired }
            say("retired \(generation)")
        }
    }
} catch {
    FileHandle.standardError.write(Data("certvault-test-writer: \(error)\n".utf8))
    exit(1)
}
