import CertVaultTesting
import Foundation
import Testing

@Suite("certvault init, issue into the vault, list, show, export, retire, verify, audit", .serialized)
struct VaultCommandsTests {
    func env(_ dir: TemporaryDirectory) -> [String: String] {
        ["CERTVAULT_VAULT": dir.file("vault"), "CERTVAULT_KEY_FILE": dir.file("vault-key/root.key")]
    }

    @Test("the whole life of a tenant's certificates through the command line")
    func lifecycle() throws {
        let dir = try TemporaryDirectory()
        let env = env(dir)
        let initialized = try CLI.run(["init"], environment: env)
        try #require(initialized.status == 0, "\(initialized.stderr)")
        #expect(initialized.stdout.contains("back it up apart from the vault"))
        #expect(try TemporaryDirectory.mode(dir.file("vault-key/root.key")) == 0o600)

        // issue now stores into the vault and writes no export folder unless asked.
        let first = try CLI.run(["issue", "contoso", "--org", "Contoso", "--policy", CLI.defaultPolicy], environment: env, in: dir.path)
        try #require(first.status == 0, "\(first.stderr)")
        #expect(first.stdout.contains("as generation 1"))
        #expect(!FileManager.default.fileExists(atPath: dir.file("keys/issued")))
        let second = try CLI.run(["issue", "contoso", "--org", "Contoso", "--policy", CLI.defaultPolicy, "--json"], environment: env)
        try #require(second.status == 0, "\(second.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: second.stdoutData) as? [String: Any])
        #expect((object["vault"] as? [String: Any])?["generation"] as? Int == 2)

        let list = try CLI.run(["list", "--json"], environment: env)
        let entries = try #require(try JSONSerialization.jsonObject(with: list.stdoutData) as? [[String: Any]])
        #expect(entries.count == 2)
        #expect(entries.allSatisfy { ($0["metadata"] as? [String: Any])?["status"] as? String == "active" })
        let table = try CLI.run(["list"], environment: env)
        #expect(table.stdout.contains("TENANT"))
        #expect(table.stdout.contains("contoso"))

        // export: the PFX and its password (to a separate 0600 file), checked by openssl.
        let exported = try CLI.run(["export", "contoso", "--generation", "1", "--out", dir.file("c.pfx"), "--purpose", "restore test"],
                                   environment: env)
        try #require(exported.status == 0, "\(exported.stderr)")
        #expect(try TemporaryDirectory.mode(dir.file("c.pfx")) == 0o600)
        #expect(try TemporaryDirectory.mode(dir.file("c.pfx.password")) == 0o600)
        let password = try String(contentsOfFile: dir.file("c.pfx.password"), encoding: .utf8)
        #expect(!exported.combined.contains(password.trimmingCharacters(in: .newlines)))
        if ExternalTool.openssl.isAvailable {
            let info = try ExternalTool.openssl.run(["pkcs12", "-info", "-noout", "-in", dir.file("c.pfx"), "-passin", "file:\(dir.file("c.pfx.password"))"])
            #expect(info.status == 0, "\(info.stderr)")
        }
        let pem = try CLI.run(["export", "contoso", "--format", "pem", "--out", dir.file("c.pem")], environment: env)
        #expect(pem.status == 0)
        if ExternalTool.openssl.isAvailable {
            let text = try ExternalTool.openssl.run(["x509", "-in", dir.file("c.pem"), "-noout", "-subject"])
            #expect(text.stdout.contains("Contoso VB365 Tenant"))
        }
        let b64 = try CLI.run(["export", "contoso", "--format", "base64", "--out", dir.file("c.b64"), "--password-out", dir.file("p2")],
                              environment: env)
        #expect(b64.status == 0)

        // retire the newest: the default read-out falls back to generation 1.
        #expect(try CLI.run(["retire", "contoso", "--generation", "2"], environment: env).status == 0)
        let show = try CLI.run(["show", "contoso", "--generation", "2", "--json"], environment: env)
        #expect(show.stdout.contains("\"retired\""))

        // verify and audit.
        let verify = try CLI.run(["vault", "verify"], environment: env)
        #expect(verify.status == 0, "\(verify.combined)")
        #expect(verify.stdout.contains("Checked 2 entries"))
        let audit = try CLI.run(["audit", "show", "--json"], environment: env)
        let records = try #require(try JSONSerialization.jsonObject(with: audit.stdoutData) as? [[String: Any]])
        #expect(records.compactMap { $0["action"] as? String } == [
            "vault.init", "entry.create", "entry.create", "entry.read", "entry.read", "entry.read", "entry.retire",
        ])
        #expect((records[3]["detail"] as? String)?.contains("restore test") == true)
        #expect(try CLI.run(["audit", "verify"], environment: env).status == 0)

        // rotate the KEK; everything still opens.
        let rotated = try CLI.run(["vault", "rotate-kek"], environment: env)
        #expect(rotated.stdout.contains("New KEK 2; rewrapped 2 entries; retired KEKs: 1."), "\(rotated.combined)")
        #expect(try CLI.run(["vault", "verify"], environment: env).status == 0)

        // backup and restore into a new folder.
        let backup = try CLI.run(["vault", "backup", "--out", dir.file("b.cvb")], environment: env)
        #expect(backup.status == 0, "\(backup.stderr)")
        let restore = try CLI.run(["vault", "restore", dir.file("b.cvb"), "--vault", dir.file("restored")], environment: env)
        #expect(restore.status == 0, "\(restore.stderr)")
        #expect(restore.stdout.contains("Restored 2 entries"))
        #expect(restore.stdout.contains("intact"))
    }

    @Test("vault verify exits 1 and names the damaged entry")
    func verifyDetectsDamage() throws {
        let dir = try TemporaryDirectory()
        let env = env(dir)
        try #require(try CLI.run(["init"], environment: env).status == 0)
        try #require(try CLI.run(["issue", "contoso", "--policy", CLI.defaultPolicy], environment: env).status == 0)
        let path = dir.file("vault/tenants/contoso/00000001.entry")
        var bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        bytes[bytes.count / 2] ^= 0xFF
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let result = try CLI.run(["vault", "verify"], environment: env)
        #expect(result.status == 1)
        #expect(result.stdout.contains("FAILED"))
        #expect(result.stdout.contains("00000001.entry"))
    }

    @Test("a wrong key file, a missing vault and an open key file are clear errors that change nothing")
    func unlockErrors() throws {
        let dir = try TemporaryDirectory()
        let env = env(dir)
        let missing = try CLI.run(["list"], environment: env)
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("There is no vault at"))
        #expect(missing.stderr.contains("certvault init"))
        try #require(try CLI.run(["init"], environment: env).status == 0)
        let other = try TemporaryDirectory()
        try #require(try CLI.run(["init"], environment: self.env(other)).status == 0)
        let wrong = try CLI.run(["list", "--key-file", other.file("vault-key/root.key")], environment: env)
        #expect(wrong.status == 1)
        #expect(wrong.stderr.contains("does not open this vault's keyring"))
        chmod(dir.file("vault-key/root.key"), 0o644)
        let open = try CLI.run(["list"], environment: env)
        #expect(open.status == 1)
        #expect(open.stderr.contains("chmod 600"))
        // issue refuses before generating a key when the vault cannot be unlocked.
        let issue = try CLI.run(["issue", "contoso", "--policy", CLI.defaultPolicy], environment: env)
        #expect(issue.status == 1)
        #expect(!FileManager.default.fileExists(atPath: dir.file("vault/tenants/contoso")))
    }

    @Test("a passphrase vault: init, issue, change the passphrase, old one refused")
    func passphraseVault() throws {
        let dir = try TemporaryDirectory()
        let env = env(dir)
        let old = try dir.write("old.txt", "first vault passphrase\n")
        let new = try dir.write("new.txt", "second vault passphrase\n")
        let fast = ["--argon2-ops", "2", "--argon2-memory-mib", "64"]
        try #require(try CLI.run(["init", "--passphrase-file", old] + fast, environment: env).status == 0)
        try #require(try CLI.run(["issue", "contoso", "--policy", CLI.defaultPolicy, "--passphrase-file", old], environment: env).status == 0)
        let changed = try CLI.run(["vault", "change-passphrase", "--passphrase-file", old, "--new-passphrase-file", new], environment: env)
        #expect(changed.status == 0, "\(changed.stderr)")
        #expect(try CLI.run(["list", "--passphrase-file", new], environment: env).status == 0)
        let refused = try CLI.run(["list", "--passphrase-file", old], environment: env)
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("passphrase does not unlock"))
        #expect(!refused.stderr.contains("first vault passphrase"))
    }

    @Test("bulk issuance stores every tenant in the vault")
    func bulkIntoVault() throws {
        let dir = try TemporaryDirectory()
        let env = env(dir)
        try #require(try CLI.run(["init"], environment: env).status == 0)
        try dir.write("t.csv", "tenant,org\nalpha,Alpha\nbeta,Beta\ngamma,Gamma\n")
        let result = try CLI.run(["issue", "--from", dir.file("t.csv"), "--policy", CLI.defaultPolicy], environment: env)
        try #require(result.status == 0, "\(result.stderr)")
        let list = try CLI.run(["list", "--json"], environment: env)
        let entries = try #require(try JSONSerialization.jsonObject(with: list.stdoutData) as? [[String: Any]])
        #expect(entries.compactMap { $0["tenant"] as? String } == ["alpha", "beta", "gamma"])
    }

    @Test("a deleted generation: verify names it, reindex exits 1 and does not hide it, verify still names it")
    func deletedGeneration() throws {
        let dir = try TemporaryDirectory()
        let env = env(dir)
        try #require(try CLI.run(["init"], environment: env).status == 0)
        try #require(try CLI.run(["issue", "contoso", "--policy", CLI.defaultPolicy], environment: env).status == 0)
        unlink(dir.file("vault/tenants/contoso/00000001.entry"))
        let verify = try CLI.run(["vault", "verify"], environment: env)
        #expect(verify.status == 1)
        #expect(verify.stdout.contains("tenants/contoso/00000001.entry: generation 1 of tenant contoso is missing, deleted"), "\(verify.stdout)")
        #expect(!verify.stdout.contains("interrupted write"))
        let reindex = try CLI.run(["vault", "reindex"], environment: env)
        #expect(reindex.status == 1)
        #expect(reindex.stderr.contains("contoso/1"))
        let again = try CLI.run(["vault", "verify"], environment: env)
        #expect(again.status == 1)
        #expect(again.stdout.contains("generation 1 of tenant contoso is missing, deleted"))
    }

    @Test("an index that cannot be written: issue warns, list still shows the tenant")
    func unwritableIndex() throws {
        let dir = try TemporaryDirectory()
        let env = env(dir)
        try #require(try CLI.run(["init"], environment: env).status == 0)
        try FileManager.default.copyItem(atPath: dir.file("vault/index"), toPath: dir.file("index.copy"))
        unlink(dir.file("vault/index"))
        try #require(symlink(dir.file("index.copy"), dir.file("vault/index")) == 0)
        let issue = try CLI.run(["issue", "contoso", "--policy", CLI.defaultPolicy], environment: env)
        #expect(issue.status == 0)
        #expect(issue.stderr.contains("warning: The vault index could not be updated"), "\(issue.stderr)")
        let list = try CLI.run(["list"], environment: env)
        #expect(list.stdout.contains("contoso"))
        #expect(list.stderr.contains("reindex"))
    }

    @Test("init refuses Argon2id settings under the floor, over the cap, or that overflow when shifted to bytes")
    func argon2Options() throws {
        let dir = try TemporaryDirectory()
        let env = env(dir)
        let pass = try dir.write("pass.txt", "a long vault passphrase\n")
        for options in [["--argon2-ops", "1"], ["--argon2-memory-mib", "8"], ["--argon2-memory-mib", "17592186044417"],
                        ["--argon2-ops", "21"]] {
            let result = try CLI.run(["init", "--passphrase-file", pass] + options, environment: env)
            #expect(result.status != 0, "\(options)")
            #expect(result.stderr.contains(options[0]), "\(options): \(result.stderr)")
            #expect(!FileManager.default.fileExists(atPath: dir.file("vault")))
        }
    }
}
