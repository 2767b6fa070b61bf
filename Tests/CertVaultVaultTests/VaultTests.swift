import CertVaultCore
import CertVaultTesting
import CertVaultVault
import Foundation
import Testing

enum VaultFixtures {
    static let fastArgon = Argon2Parameters.belowWritingFloor(operations: 1, memoryBytes: 8 << 20)

    static func secret(_ text: String) -> SecretBytes { Array(text.utf8).withUnsafeBytes { SecretBytes(copying: $0) } }

    static func payload(_ tag: String = "a") -> EntryPayload {
        EntryPayload(pfx: Array("PFX-BYTES-\(tag)".utf8) + (0..<300).map { UInt8($0 % 256) }, password: secret("pfx-password-\(tag)"),
                     certificateDER: Array("DER-\(tag)".utf8),
                     facts: CertificateFacts(friendlyName: "Contoso VB365 Tenant", thumbprintSHA1: "AB" + tag, fingerprintSHA256: "CD",
                                             serialNumber: "01", notBefore: "2026-01-01T00:00:00Z", notAfter: "2028-01-01T00:00:00Z",
                                             policy: "default", subject: "CN=Contoso"))
    }

    /// A vault with a key file in a temporary folder.
    static func keyFileVault(_ dir: TemporaryDirectory) throws -> (Vault, RootKeyProtection) {
        let protection = RootKeyProtection.keyFile(path: dir.file("key/root.key"))
        return (try Vault.create(at: dir.file("vault"), protection: protection, actor: "tester"), protection)
    }

    static func text(_ secret: SecretBytes) -> String { secret.withUnsafeBytes { String(decoding: $0, as: UTF8.self) } }
}

@Suite("Vault keys: key file and passphrase")
struct VaultKeyTests {
    @Test("a key-file vault is created 0700/0600 and reopens with its key file")
    func keyFile() throws {
        let dir = try TemporaryDirectory()
        let (vault, protection) = try VaultFixtures.keyFileVault(dir)
        _ = try vault.store(tenant: try TenantID("contoso"), payload: VaultFixtures.payload())
        #expect(try TemporaryDirectory.mode(dir.file("vault")) == 0o700)
        #expect(try TemporaryDirectory.mode(dir.file("key")) == 0o700)
        #expect(try TemporaryDirectory.mode(dir.file("key/root.key")) == 0o600)
        for file in try dir.listing() where !file.hasSuffix("lock") {
            let mode = try TemporaryDirectory.mode(dir.file(file))
            #expect(mode == 0o600 || mode == 0o700, "\(file) has mode \(String(mode, radix: 8))")
        }
        let reopened = try Vault.open(at: dir.file("vault"), unlock: protection)
        let (_, payload, _) = try reopened.readOut(tenant: try TenantID("contoso"), purpose: "test")
        #expect(VaultFixtures.text(payload.password) == "pfx-password-a")
    }

    @Test("a key file other users can read is refused with the fix")
    func openKeyFile() throws {
        let dir = try TemporaryDirectory()
        let (_, protection) = try VaultFixtures.keyFileVault(dir)
        chmod(dir.file("key/root.key"), 0o644)
        let error = try #require(throws: CertVaultError.self) { try Vault.open(at: dir.file("vault"), unlock: protection) }
        #expect(error.code == .insecurePermissions)
        #expect(error.hint?.contains("chmod 600") == true)
    }

    @Test("another vault's key file does not open it, and nothing changes on disk")
    func wrongKeyFile() throws {
        let dir = try TemporaryDirectory()
        _ = try VaultFixtures.keyFileVault(dir)
        let other = try TemporaryDirectory()
        let (_, otherKey) = try VaultFixtures.keyFileVault(other)
        let before = try snapshot(dir.file("vault"))
        let error = try #require(throws: CertVaultError.self) { try Vault.open(at: dir.file("vault"), unlock: otherKey) }
        #expect(error.code == .vaultLocked)
        #expect(try snapshot(dir.file("vault")) == before)
    }

    @Test("a passphrase vault opens with the passphrase and not with another; Argon2id parameters are stored")
    func passphrase() throws {
        let dir = try TemporaryDirectory()
        setenv("CV_TEST_PASS", "correct horse battery staple", 1)
        let vault = try Vault.create(at: dir.file("vault"), protection: .passphrase(.environment("CV_TEST_PASS"), parameters: VaultFixtures.fastArgon))
        _ = try vault.store(tenant: try TenantID("contoso"), payload: VaultFixtures.payload())
        let root = try Data(contentsOf: URL(fileURLWithPath: dir.file("vault/root.passphrase")))
        #expect(root.count == 113)
        #expect(Array(root.prefix(8)) == Array("CVAULTR".utf8) + [1])
        #expect(root[9..<17] == Data([0, 0, 0, 0, 0, 0, 0, 1]))  // opslimit 1, big-endian

        let passFile = try dir.write("pass.txt", "correct horse battery staple\n")
        _ = try Vault.open(at: dir.file("vault"), unlock: .passphrase(.file(passFile)))
        let before = try snapshot(dir.file("vault"))
        let wrong = try dir.write("wrong.txt", "incorrect horse battery staple\n")
        let error = try #require(throws: CertVaultError.self) { try Vault.open(at: dir.file("vault"), unlock: .passphrase(.file(wrong))) }
        #expect(error.code == .vaultLocked)
        #expect(error.reason.contains("passphrase does not unlock"))
        #expect(!error.description.contains("incorrect horse"))
        #expect(try snapshot(dir.file("vault")) == before)

        let keyFileError = try #require(throws: CertVaultError.self) {
            try Vault.open(at: dir.file("vault"), unlock: .keyFile(path: dir.file("none.key")))
        }
        #expect(keyFileError.reason.contains("protected by a passphrase"))
    }

    @Test("a short passphrase, an existing key file and an existing vault are refused")
    func refusals() throws {
        let dir = try TemporaryDirectory()
        let short = try dir.write("short.txt", "short")
        let error = try #require(throws: CertVaultError.self) {
            try Vault.create(at: dir.file("v1"), protection: .passphrase(.file(short), parameters: VaultFixtures.fastArgon))
        }
        #expect(error.reason.contains("shorter than 12"))
        _ = try VaultFixtures.keyFileVault(dir)
        let again = try #require(throws: CertVaultError.self) { try VaultFixtures.keyFileVault(dir) }
        #expect(again.reason.contains("already exists"))
        let missing = try #require(throws: CertVaultError.self) {
            try Vault.open(at: dir.file("nowhere"), unlock: .keyFile(path: dir.file("key/root.key")))
        }
        #expect(missing.code == .vaultMissing)
    }

    func snapshot(_ folder: String) throws -> [String: Data] {
        var result: [String: Data] = [:]
        for file in FileManager.default.subpaths(atPath: folder) ?? [] {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: "\(folder)/\(file)", isDirectory: &isDirectory), !isDirectory.boolValue {
                result[file] = try Data(contentsOf: URL(fileURLWithPath: "\(folder)/\(file)"))
            }
        }
        return result
    }
}

@Suite("Vault entries: generations, tampering, moves")
struct VaultEntryTests {
    @Test("generations are appended, never replaced, and read back exactly")
    func generations() throws {
        let dir = try TemporaryDirectory()
        let (vault, _) = try VaultFixtures.keyFileVault(dir)
        let tenant = try TenantID("contoso")
        #expect(try vault.store(tenant: tenant, payload: VaultFixtures.payload("1")) == 1)
        #expect(try vault.store(tenant: tenant, payload: VaultFixtures.payload("2")) == 2)
        #expect(try vault.generations(of: tenant) == [1, 2])
        #expect(FileManager.default.fileExists(atPath: dir.file("vault/tenants/contoso/00000001.entry")))
        let (generation, payload, metadata) = try vault.readOut(tenant: tenant, purpose: "test")
        #expect(generation == 2)
        #expect(payload.pfx == VaultFixtures.payload("2").pfx)
        #expect(payload.certificateDER == Array("DER-2".utf8))
        #expect(payload.facts == VaultFixtures.payload("2").facts)
        #expect(metadata.status == .active)
        let (_, first, _) = try vault.readOut(tenant: tenant, generation: 1, purpose: "test")
        #expect(VaultFixtures.text(first.password) == "pfx-password-1")
    }

    @Test("retiring changes only the metadata; the newest active generation is what reads out by default")
    func retire() throws {
        let dir = try TemporaryDirectory()
        let (vault, _) = try VaultFixtures.keyFileVault(dir)
        let tenant = try TenantID("contoso")
        _ = try vault.store(tenant: tenant, payload: VaultFixtures.payload("1"))
        _ = try vault.store(tenant: tenant, payload: VaultFixtures.payload("2"))
        let path = dir.file("vault/tenants/contoso/00000002.entry")
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        try vault.updateMetadata(tenant: tenant, generation: 2, action: "entry.retire") { $0.status = .retired }
        let after = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect(before != after)
        #expect(try vault.summary(tenant: tenant, generation: 2).metadata.status == .retired)
        #expect(try vault.readOut(tenant: tenant, purpose: "test").0 == 1)
        try vault.updateMetadata(tenant: tenant, generation: 1, action: "entry.retire") { $0.status = .retired }
        let error = try #require(throws: CertVaultError.self) { try vault.readOut(tenant: tenant, purpose: "test") }
        #expect(error.reason.contains("no active generation"))
        #expect(try vault.verify().intact)
    }

    @Test("flipping any single byte of an entry file, at every offset, is detected")
    func everyByteFlip() throws {
        let dir = try TemporaryDirectory()
        let (vault, protection) = try VaultFixtures.keyFileVault(dir)
        let tenant = try TenantID("contoso")
        _ = try vault.store(tenant: tenant, payload: VaultFixtures.payload())
        try vault.updateMetadata(tenant: tenant, generation: 1, action: "test") { $0.region = "Worldwide" }
        let path = dir.file("vault/tenants/contoso/00000001.entry")
        let original = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        #expect(original.count > 600, "the file should have header, key block, payload and metadata")
        let reader = try Vault.open(at: dir.file("vault"), unlock: protection)
        var undetected: [Int] = []
        for offset in original.indices {
            var damaged = original
            damaged[offset] ^= 0x01
            try Data(damaged).write(to: URL(fileURLWithPath: path))
            do {
                _ = try reader.readOut(tenant: tenant, generation: 1, purpose: "flip test")
                undetected.append(offset)
            } catch let error as CertVaultError {
                #expect(error.code == .vaultCorrupt || error.code == .notFound, "offset \(offset): \(error)")
                #expect(error.reason.contains("00000001.entry"))
            }
        }
        #expect(undetected.isEmpty, "undetected flips at \(undetected)")
        try Data(original).write(to: URL(fileURLWithPath: path))
        #expect(try vault.verify().intact)
    }

    @Test("an entry copied to another tenant or renamed to another generation does not open")
    func moved() throws {
        let dir = try TemporaryDirectory()
        let (vault, _) = try VaultFixtures.keyFileVault(dir)
        _ = try vault.store(tenant: try TenantID("contoso"), payload: VaultFixtures.payload())
        _ = try vault.store(tenant: try TenantID("fabrikam"), payload: VaultFixtures.payload())
        let fm = FileManager.default
        try fm.removeItem(atPath: dir.file("vault/tenants/fabrikam/00000001.entry"))
        try fm.copyItem(atPath: dir.file("vault/tenants/contoso/00000001.entry"), toPath: dir.file("vault/tenants/fabrikam/00000001.entry"))
        let copied = try #require(throws: CertVaultError.self) {
            try vault.readOut(tenant: try TenantID("fabrikam"), generation: 1, purpose: "test")
        }
        #expect(copied.reason.contains("failed authentication"))
        try fm.copyItem(atPath: dir.file("vault/tenants/contoso/00000001.entry"), toPath: dir.file("vault/tenants/contoso/00000002.entry"))
        let renamed = try #require(throws: CertVaultError.self) {
            try vault.readOut(tenant: try TenantID("contoso"), generation: 2, purpose: "test")
        }
        #expect(renamed.reason.contains("failed authentication"))
        let report = try vault.verify()
        #expect(report.problems.count == 2)
        #expect(report.entries == 3)
    }

    @Test("truncated, empty, random and future-version files are clear errors", arguments: ["truncated", "empty", "random", "version", "foreign"])
    func damaged(_ kind: String) throws {
        let dir = try TemporaryDirectory()
        let (vault, _) = try VaultFixtures.keyFileVault(dir)
        let tenant = try TenantID("contoso")
        _ = try vault.store(tenant: tenant, payload: VaultFixtures.payload())
        let path = dir.file("vault/tenants/contoso/00000001.entry")
        var bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        let expected: String
        switch kind {
        case "truncated": bytes = Array(bytes.prefix(bytes.count - 7)); expected = "ends early"
        case "empty": bytes = []; expected = "it is empty"
        case "random": bytes = (0..<600).map { _ in UInt8.random(in: 0...255) }; expected = "not a certvault vault entry"
        case "version": bytes[7] = 9; expected = "format version 9"
        default: bytes[6] = UInt8(ascii: "K"); expected = "not a vault entry"
        }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let error = try #require(throws: CertVaultError.self) { try vault.readOut(tenant: tenant, generation: 1, purpose: "test") }
        #expect(error.code == .vaultCorrupt)
        #expect(error.reason.contains(expected), "\(error.reason)")
        #expect(try !vault.verify().intact)
    }

    @Test("two writers storing the same tenant at once lose and duplicate nothing")
    func concurrentWriters() async throws {
        let dir = try TemporaryDirectory()
        let (_, protection) = try VaultFixtures.keyFileVault(dir)
        let path = dir.file("vault")
        let tenant = try TenantID("contoso")
        try await withThrowingTaskGroup(of: [Int].self) { group in
            for writer in 0..<2 {
                group.addTask {
                    // Each writer opens its own vault handle, as two processes would.
                    let vault = try Vault.open(at: path, unlock: protection)
                    return try (0..<10).map { try vault.store(tenant: tenant, payload: VaultFixtures.payload("\(writer)-\($0)")) }
                }
            }
            var all: [Int] = []
            for try await numbers in group { all += numbers }
            #expect(all.sorted() == Array(1...20))
        }
        let vault = try Vault.open(at: path, unlock: protection)
        #expect(try vault.generations(of: tenant) == Array(1...20))
        #expect(try vault.verify().intact)
        #expect(vault.auditRecords().records.count == 21)
    }
}

@Suite("Vault index")
struct VaultIndexTests {
    @Test("list reads the index and agrees with the entries, through stores, retirements and KEK rotation")
    func agrees() throws {
        let dir = try TemporaryDirectory()
        let (vault, _) = try VaultFixtures.keyFileVault(dir)
        for tenant in ["beta", "alpha"] { _ = try vault.store(tenant: try TenantID(tenant), payload: VaultFixtures.payload(tenant)) }
        _ = try vault.store(tenant: try TenantID("alpha"), payload: VaultFixtures.payload("a2"))
        try vault.updateMetadata(tenant: try TenantID("alpha"), generation: 1, action: "entry.retire") { $0.status = .retired }
        _ = try vault.rotateKEK()
        let listed = try vault.list()
        #expect(vault.indexWarning == nil)
        #expect(listed.map { "\($0.tenant)/\($0.generation)/\($0.metadata.status.rawValue)/\($0.kekID)" }
                == ["alpha/1/retired/2", "alpha/2/active/2", "beta/1/active/2"])
        #expect(try vault.verify().intact)
    }

    @Test("an edited index is not trusted: list opens the entries instead and says so; verify and reindex repair it")
    func tampered() throws {
        let dir = try TemporaryDirectory()
        let (vault, _) = try VaultFixtures.keyFileVault(dir)
        _ = try vault.store(tenant: try TenantID("contoso"), payload: VaultFixtures.payload())
        try vault.updateMetadata(tenant: try TenantID("contoso"), generation: 1, action: "entry.retire") { $0.status = .retired }
        let path = dir.file("vault/index")
        var text = try String(contentsOfFile: path, encoding: .utf8)
        text = text.replacingOccurrences(of: "\tretired\t", with: "\tactive\t")
        try text.write(toFile: path, atomically: false, encoding: .utf8)
        let listed = try vault.list()
        #expect(listed.first?.metadata.status == .retired, "the entry, not the edited index, must decide")
        #expect(vault.indexWarning?.contains("reindex") == true)
        #expect(try vault.verify().problems.contains { $0.hasPrefix("index:") })
        #expect(try vault.reindex() == 1)
        #expect(try vault.verify().intact)
        _ = try vault.list()
        #expect(vault.indexWarning == nil)
    }

    @Test("an entry the index does not know (an interrupted write) is reported by verify")
    func stale() throws {
        let dir = try TemporaryDirectory()
        let (vault, _) = try VaultFixtures.keyFileVault(dir)
        _ = try vault.store(tenant: try TenantID("contoso"), payload: VaultFixtures.payload())
        let saved = try Data(contentsOf: URL(fileURLWithPath: dir.file("vault/index")))
        let savedHead = try Data(contentsOf: URL(fileURLWithPath: dir.file("vault/index.head")))
        _ = try vault.store(tenant: try TenantID("contoso"), payload: VaultFixtures.payload("2"))
        try saved.write(to: URL(fileURLWithPath: dir.file("vault/index")))
        try savedHead.write(to: URL(fileURLWithPath: dir.file("vault/index.head")))
        let report = try vault.verify()
        #expect(report.problems.count == 1)
        #expect(report.problems.first?.contains("1 entries missing or out of date") == true)
    }
}

@Suite("Vault audit log")
struct VaultAuditTests {
    func vaultWithHistory(_ dir: TemporaryDirectory) throws -> Vault {
        let (vault, _) = try VaultFixtures.keyFileVault(dir)
        let tenant = try TenantID("contoso")
        _ = try vault.store(tenant: tenant, payload: VaultFixtures.payload("1"))
        _ = try vault.readOut(tenant: tenant, purpose: "restore test")
        try vault.updateMetadata(tenant: tenant, generation: 1, action: "entry.retire") { $0.status = .retired }
        return vault
    }

    @Test("every creation, read-out and retirement is recorded, with the OS user and no secret")
    func records() throws {
        let dir = try TemporaryDirectory()
        let vault = try vaultWithHistory(dir)
        let (records, problems) = vault.auditRecords()
        #expect(problems.isEmpty)
        #expect(records.map(\.action) == ["vault.init", "entry.create", "entry.read", "entry.retire"])
        #expect(records.allSatisfy { $0.actor == "tester" })
        #expect(records[2].detail == "restore test")
        #expect(records[3].detail == "status active -> retired")
        let log = try String(contentsOfFile: dir.file("vault/audit.log"), encoding: .utf8)
        #expect(!log.contains("pfx-password"))
    }

    @Test("a long or hostile purpose text is cut and cleaned, and the log keeps working")
    func longPurpose() throws {
        let dir = try TemporaryDirectory()
        let vault = try vaultWithHistory(dir)
        let tenant = try TenantID("contoso")
        try vault.updateMetadata(tenant: tenant, generation: 1, action: "entry.reactivate") { $0.status = .active }
        _ = try vault.readOut(tenant: tenant, purpose: String(repeating: "x", count: 20_000) + "\tfake\tfields\n")
        _ = try vault.readOut(tenant: tenant, purpose: "after\nnewline")
        let (records, problems) = vault.auditRecords()
        #expect(problems.isEmpty, "\(problems)")
        #expect(records.suffix(2).first?.detail.count == 301)
        #expect(records.last?.detail == "after newline")
    }

    @Test("an edited, removed, reordered or truncated log is detected", arguments: ["edit", "remove", "reorder", "truncate"])
    func tampering(_ how: String) throws {
        let dir = try TemporaryDirectory()
        let vault = try vaultWithHistory(dir)
        let path = dir.file("vault/audit.log")
        var lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map(String.init)
        switch how {
        case "edit": lines[2] = lines[2].replacingOccurrences(of: "restore test", with: "nothing to see")
        case "remove": lines.remove(at: 1)
        case "reorder": lines.swapAt(1, 2)
        default: lines.removeLast()
        }
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: false, encoding: .utf8)
        let (_, problems) = vault.auditRecords()
        #expect(!problems.isEmpty)
        #expect(try !vault.verify().intact)
    }
}

@Suite("Vault key rotation")
struct VaultRotationTests {
    @Test("rotating the KEK rewraps data keys, keeps payloads byte for byte, and retires the old KEK")
    func rotate() throws {
        let dir = try TemporaryDirectory()
        let (vault, protection) = try VaultFixtures.keyFileVault(dir)
        let tenant = try TenantID("contoso")
        _ = try vault.store(tenant: tenant, payload: VaultFixtures.payload("1"))
        _ = try vault.store(tenant: try TenantID("fabrikam"), payload: VaultFixtures.payload("2"))
        let path = dir.file("vault/tenants/contoso/00000001.entry")
        let before = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        let report = try vault.rotateKEK()
        #expect(report.newKEK == 2)
        #expect(report.rewrapped == 2)
        #expect(report.retiredKEKs == [1])
        let after = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        // Header identical; key block changed; payload and metadata blocks identical.
        let headerLength = 8 + 1 + 1 + 7 + 4 + 8
        let keyBlock = 4 + 24 + 48
        #expect(after.prefix(headerLength) == before.prefix(headerLength))
        #expect(after[headerLength..<headerLength + keyBlock] != before[headerLength..<headerLength + keyBlock])
        #expect(after[(headerLength + keyBlock)...] == before[(headerLength + keyBlock)...])
        #expect(try vault.kekUsage() == [2: 2])
        let reopened = try Vault.open(at: dir.file("vault"), unlock: protection)
        #expect(VaultFixtures.text(try reopened.readOut(tenant: tenant, purpose: "test").1.password) == "pfx-password-1")
        #expect(try reopened.verify().intact)
    }

    @Test("changing the passphrase rewraps only the root key")
    func changePassphrase() throws {
        let dir = try TemporaryDirectory()
        let old = try dir.write("old.txt", "the old passphrase 1")
        let new = try dir.write("new.txt", "the new passphrase 2")
        let vault = try Vault.create(at: dir.file("vault"), protection: .passphrase(.file(old), parameters: VaultFixtures.fastArgon))
        _ = try vault.store(tenant: try TenantID("contoso"), payload: VaultFixtures.payload())
        let keyring = try Data(contentsOf: URL(fileURLWithPath: dir.file("vault/keyring")))
        let entry = try Data(contentsOf: URL(fileURLWithPath: dir.file("vault/tenants/contoso/00000001.entry")))
        try vault.changePassphrase(to: .file(new), parameters: VaultFixtures.fastArgon)
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir.file("vault/keyring"))) == keyring)
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir.file("vault/tenants/contoso/00000001.entry"))) == entry)
        _ = try Vault.open(at: dir.file("vault"), unlock: .passphrase(.file(new)))
        let error = try #require(throws: CertVaultError.self) { try Vault.open(at: dir.file("vault"), unlock: .passphrase(.file(old))) }
        #expect(error.code == .vaultLocked)
    }
}

@Suite("Vault backup bundles")
struct VaultBackupTests {
    @Test("a backup restores into a new folder that verifies and reads the same secrets")
    func roundTrip() throws {
        let dir = try TemporaryDirectory()
        let (vault, protection) = try VaultFixtures.keyFileVault(dir)
        _ = try vault.store(tenant: try TenantID("contoso"), payload: VaultFixtures.payload("1"))
        _ = try vault.store(tenant: try TenantID("fabrikam"), payload: VaultFixtures.payload("2"))
        #expect(try vault.backup(to: dir.file("backup.cvb")) == 5)
        #expect(try TemporaryDirectory.mode(dir.file("backup.cvb")) == 0o600)
        let bundle = try Data(contentsOf: URL(fileURLWithPath: dir.file("backup.cvb")))
        #expect(bundle.range(of: Data("contoso".utf8)) == nil, "tenant names must not be readable in the bundle")

        let restored = try Vault.restore(from: dir.file("backup.cvb"), to: dir.file("restored"), unlock: protection)
        #expect(try restored.verify().intact)
        let (_, payload, _) = try restored.readOut(tenant: try TenantID("fabrikam"), purpose: "test")
        #expect(VaultFixtures.text(payload.password) == "pfx-password-2")
        #expect(restored.auditRecords().records.suffix(2).map(\.action) == ["vault.restore", "entry.read"])
        #expect(try TemporaryDirectory.mode(dir.file("restored")) == 0o700)
    }

    @Test("a passphrase vault's backup needs the passphrase; an altered bundle or an existing target is refused")
    func refusals() throws {
        let dir = try TemporaryDirectory()
        let pass = try dir.write("pass.txt", "backup test passphrase")
        let vault = try Vault.create(at: dir.file("vault"), protection: .passphrase(.file(pass), parameters: VaultFixtures.fastArgon))
        _ = try vault.store(tenant: try TenantID("contoso"), payload: VaultFixtures.payload())
        _ = try vault.backup(to: dir.file("b.cvb"))
        let keyFile = try #require(throws: CertVaultError.self) {
            try Vault.restore(from: dir.file("b.cvb"), to: dir.file("r1"), unlock: .keyFile(path: dir.file("none")))
        }
        #expect(keyFile.reason.contains("passphrase-protected"))
        let exists = try #require(throws: CertVaultError.self) {
            try Vault.restore(from: dir.file("b.cvb"), to: dir.file("vault"), unlock: .passphrase(.file(pass)))
        }
        #expect(exists.code == .alreadyExists)
        var bytes = Array(try Data(contentsOf: URL(fileURLWithPath: dir.file("b.cvb"))))
        bytes[bytes.count - 20] ^= 1
        try Data(bytes).write(to: URL(fileURLWithPath: dir.file("b.cvb")))
        let altered = try #require(throws: CertVaultError.self) {
            try Vault.restore(from: dir.file("b.cvb"), to: dir.file("r2"), unlock: .passphrase(.file(pass)))
        }
        #expect(altered.reason.contains("or the backup was altered"))
        #expect(!FileManager.default.fileExists(atPath: dir.file("r2")))
        #expect(try dir.listing().filter { $0.contains("staging") }.isEmpty)
    }
}

@Suite("Vault under a second writer and after faults")
struct VaultFaultTests {
    @Test("a handle opened before another process rotated the KEK stores with the new KEK and loses nothing")
    func staleHandle() throws {
        let dir = try TemporaryDirectory()
        let (first, protection) = try VaultFixtures.keyFileVault(dir)
        let tenant = try TenantID("contoso")
        _ = try first.store(tenant: tenant, payload: VaultFixtures.payload("1"))
        let second = try Vault.open(at: dir.file("vault"), unlock: protection)
        #expect(try second.rotateKEK().retiredKEKs == [1])
        // `first` still holds the old keyring in memory.
        #expect(try first.store(tenant: tenant, payload: VaultFixtures.payload("2")) == 2)
        #expect(try first.summary(tenant: tenant, generation: 2).kekID == 2)
        #expect(try first.rotateKEK().newKEK == 3)
        let fresh = try Vault.open(at: dir.file("vault"), unlock: protection)
        #expect(try fresh.verify().intact)
        #expect(VaultFixtures.text(try fresh.readOut(tenant: tenant, generation: 1, purpose: "test").1.password) == "pfx-password-1")
    }

    @Test("an altered keyring is refused; an older keyring put back shows up in verify")
    func keyringTampering() throws {
        let dir = try TemporaryDirectory()
        let (vault, protection) = try VaultFixtures.keyFileVault(dir)
        _ = try vault.store(tenant: try TenantID("contoso"), payload: VaultFixtures.payload())
        let path = dir.file("vault/keyring")
        let original = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        for offset in [8, 15, 40, original.count - 1] {
            var altered = original
            altered[offset] ^= 0x01
            try Data(altered).write(to: URL(fileURLWithPath: path))
            #expect(throws: CertVaultError.self) { try Vault.open(at: dir.file("vault"), unlock: protection) }
        }
        try Data(original).write(to: URL(fileURLWithPath: path))
        _ = try vault.rotateKEK()
        try Data(original).write(to: URL(fileURLWithPath: path))
        let rolledBack = try Vault.open(at: dir.file("vault"), unlock: protection)
        let report = try rolledBack.verify()
        #expect(report.problems.contains { $0.contains("names key-encryption key 2") })
    }

    @Test("a half-written audit line does not block the vault; verify shows it")
    func partialAuditLine() throws {
        let dir = try TemporaryDirectory()
        let (vault, _) = try VaultFixtures.keyFileVault(dir)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: dir.file("vault/audit.log")))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("2\t2026-11-26T00:00:00Z\tcut sh".utf8))
        try handle.close()
        #expect(try vault.store(tenant: try TenantID("contoso"), payload: VaultFixtures.payload()) == 1)
        let (records, problems) = vault.auditRecords()
        #expect(records.map(\.action) == ["vault.init", "entry.create"])
        #expect(problems == ["line 2: malformed record"])
    }

    @Test("a hostile backup with impossible lengths is refused, not a crash")
    func hostileBackup() throws {
        let dir = try TemporaryDirectory()
        var bytes = Array("CVAULTB".utf8) + [1, 0] + [UInt8](repeating: 7, count: 24)
        bytes += [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xF0]
        let path = try dir.write("evil.cvb", bytes: bytes)
        let error = try #require(throws: CertVaultError.self) {
            try Vault.restore(from: path, to: dir.file("r"), unlock: .keyFile(path: dir.file("none")))
        }
        #expect(error.code == .vaultCorrupt)
        #expect(!FileManager.default.fileExists(atPath: dir.file("r")))
    }

    @Test("generation file names must be exactly eight digits")
    func strictNames() throws {
        let dir = try TemporaryDirectory()
        let (vault, _) = try VaultFixtures.keyFileVault(dir)
        _ = try vault.store(tenant: try TenantID("contoso"), payload: VaultFixtures.payload())
        for name in ["-0000002.entry", "+0000003.entry", "00000000.entry", "0000004.entry"] {
            try dir.write("vault/tenants/contoso/\(name)", "x")
        }
        #expect(try vault.generations(of: try TenantID("contoso")) == [1])
        #expect(try vault.store(tenant: try TenantID("contoso"), payload: VaultFixtures.payload("2")) == 2)
    }
}
