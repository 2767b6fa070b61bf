import CertVaultCore
import CertVaultTesting
import CertVaultVault
import Foundation
import Testing

/// docs/recovery/certvault-recover.py, written from docs/vault-format.md with PyNaCl, reads
/// what the Swift vault writes: the specification is complete and providers can recover
/// without certvault.
enum PyNaCl {
    static let available: Bool = ExternalTool.python3.isAvailable
        && (try? ExternalTool.python3.run(["-c", "import nacl.bindings, nacl.pwhash"]).status) == 0
}

@Suite("The independent Python recovery script decrypts what the vault writes",
       .enabled(if: PyNaCl.available || TestEnvironment.toolsRequired, "python3 with PyNaCl is not installed"))
struct RecoveryScriptTests {
    static let script = "\(TestEnvironment.packageRoot)/docs/recovery/certvault-recover.py"

    @Test("key-file vault: the newest and an older generation, byte for byte")
    func keyFile() throws {
        let dir = try TemporaryDirectory()
        let (vault, _) = try VaultFixtures.keyFileVault(dir)
        let tenant = try TenantID("contoso")
        _ = try vault.store(tenant: tenant, payload: VaultFixtures.payload("old"))
        _ = try vault.store(tenant: tenant, payload: VaultFixtures.payload("new"))
        _ = try vault.rotateKEK()
        for (generation, tag) in [(2, "new"), (1, "old")] {
            let result = try ExternalTool.python3.run([
                Self.script, dir.file("vault"), "contoso", "--generation", String(generation), "--key-file", dir.file("key/root.key"),
                "--out-pfx", dir.file("g\(generation).pfx"), "--out-password", dir.file("g\(generation).txt"),
            ])
            try #require(result.status == 0, "\(result.stderr)")
            #expect(Array(try Data(contentsOf: URL(fileURLWithPath: dir.file("g\(generation).pfx")))) == VaultFixtures.payload(tag).pfx)
            #expect(try String(contentsOfFile: dir.file("g\(generation).txt"), encoding: .utf8) == "pfx-password-\(tag)")
            #expect(try TemporaryDirectory.mode(dir.file("g\(generation).txt")) == 0o600)
            #expect(!result.stdout.contains("pfx-password"))
        }
    }

    @Test("passphrase vault, with the Argon2id parameters read from the file")
    func passphrase() throws {
        let dir = try TemporaryDirectory()
        let pass = try dir.write("pass.txt", "a long vault passphrase\n")
        let vault = try Vault.create(at: dir.file("vault"), protection: .passphrase(.file(pass), parameters: VaultFixtures.fastArgon))
        _ = try vault.store(tenant: try TenantID("fabrikam"), payload: VaultFixtures.payload("p"))
        let result = try ExternalTool.python3.run([
            Self.script, dir.file("vault"), "fabrikam", "--passphrase-file", pass,
            "--out-pfx", dir.file("o.pfx"), "--out-password", dir.file("o.txt"),
        ])
        try #require(result.status == 0, "\(result.stderr)")
        #expect(Array(try Data(contentsOf: URL(fileURLWithPath: dir.file("o.pfx")))) == VaultFixtures.payload("p").pfx)
        #expect(try String(contentsOfFile: dir.file("o.txt"), encoding: .utf8) == "pfx-password-p")
    }

    @Test("it refuses a tampered entry and a wrong key, as the format says")
    func refuses() throws {
        let dir = try TemporaryDirectory()
        let (vault, _) = try VaultFixtures.keyFileVault(dir)
        _ = try vault.store(tenant: try TenantID("contoso"), payload: VaultFixtures.payload())
        let path = dir.file("vault/tenants/contoso/00000001.entry")
        var bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        bytes[bytes.count - 200] ^= 0x40
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let tampered = try ExternalTool.python3.run([Self.script, dir.file("vault"), "contoso", "--key-file", dir.file("key/root.key"),
                                                     "--out-pfx", dir.file("o.pfx"), "--out-password", dir.file("o.txt")])
        #expect(tampered.status != 0)
        #expect(tampered.stderr.contains("failed authentication"))
        #expect(!FileManager.default.fileExists(atPath: dir.file("o.txt")))
    }

    @Test("a key file whose last line ends in CR LF opens in certvault and in the script, as the format says")
    func keyFileLineEnds() throws {
        let dir = try TemporaryDirectory()
        let (vault, protection) = try VaultFixtures.keyFileVault(dir)
        _ = try vault.store(tenant: try TenantID("contoso"), payload: VaultFixtures.payload("crlf"))
        let path = dir.file("key/root.key")
        var text = try String(contentsOfFile: path, encoding: .utf8)
        try #require(text.hasSuffix("\n"))
        text = String(text.dropLast()) + "\r\n"
        unlink(path)
        try PrivateFiles.writeNewFile(path, bytes: Array(text.utf8))
        _ = try Vault.open(at: dir.file("vault"), unlock: protection)
        let result = try ExternalTool.python3.run([Self.script, dir.file("vault"), "contoso", "--key-file", path,
                                                   "--out-pfx", dir.file("o.pfx"), "--out-password", dir.file("o.txt")])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try String(contentsOfFile: dir.file("o.txt"), encoding: .utf8) == "pfx-password-crlf")
    }
}
