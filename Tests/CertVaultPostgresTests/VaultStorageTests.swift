import CertVaultCore
import CertVaultPostgres
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

    static func text(_ secret: SecretBytes) -> String { secret.withUnsafeBytes { String(decoding: $0, as: UTF8.self) } }
}

/// python3 with PyNaCl, for the independent recovery script (docs/recovery/certvault-recover.py).
enum PyNaCl {
    static let available: Bool = ExternalTool.python3.isAvailable
        && (try? ExternalTool.python3.run(["-c", "import nacl.bindings, nacl.pwhash"]).status) == 0
}

/// Bytes from hex digits (psql's `encode(bytes, 'hex')`).
func hexBytes(_ text: String) -> [UInt8]? {
    let digits = Array(text.utf8)
    guard digits.count % 2 == 0 else { return nil }
    var bytes: [UInt8] = []
    for index in stride(from: 0, to: digits.count, by: 2) {
        guard let byte = UInt8(String(decoding: digits[index..<index + 2], as: UTF8.self), radix: 16) else { return nil }
        bytes.append(byte)
    }
    return bytes
}

/// Where a test vault keeps its bytes.
enum VaultBackend: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case files
    case postgres

    var testDescription: String { rawValue }
}

/// A vault on one backend, with the means to tamper with its stored bytes from outside (files
/// written directly; rows changed with psql, never through the code under test).
final class VaultHarness {
    let backend: VaultBackend
    let dir: TemporaryDirectory
    let protection: RootKeyProtection
    let vault: Vault
    let database: PostgresDatabase?
    let server: PostgresTestServer?
    let databaseName: String?

    /// nil when PostgreSQL is not available (the test then skips; `testDatabase` records an issue in CI).
    static func make(_ backend: VaultBackend, passphrase: Bool = false) throws -> VaultHarness? {
        let dir = try TemporaryDirectory()
        let protection: RootKeyProtection = passphrase
            ? .passphrase(.file(try dir.write("pass.txt", "a long vault passphrase\n")), parameters: VaultFixtures.fastArgon)
            : .keyFile(path: dir.file("key/root.key"))
        switch backend {
        case .files:
            let vault = try Vault.create(at: dir.file("vault"), protection: protection, actor: "tester")
            return VaultHarness(backend: backend, dir: dir, protection: protection, vault: vault, database: nil, server: nil, name: nil)
        case .postgres:
            guard let (database, server, name) = try testDatabase() else { return nil }
            let vault = try Vault.create(storage: PostgresVaultStorage(database: database), protection: protection, actor: "tester")
            return VaultHarness(backend: backend, dir: dir, protection: protection, vault: vault, database: database, server: server, name: name)
        }
    }

    private init(backend: VaultBackend, dir: TemporaryDirectory, protection: RootKeyProtection, vault: Vault,
                 database: PostgresDatabase?, server: PostgresTestServer?, name: String?) {
        self.backend = backend
        self.dir = dir
        self.protection = protection
        self.vault = vault
        self.database = database
        self.server = server
        self.databaseName = name
    }

    deinit { database?.shutdown() }

    /// A new storage object on the same vault (another process's view).
    func storage() -> any VaultStorage {
        switch backend {
        case .files: FileVaultStorage(path: dir.file("vault"))
        case .postgres: PostgresVaultStorage(database: database!)
        }
    }

    func reopen(unlock: RootKeyProtection? = nil) throws -> Vault {
        try Vault.open(storage: storage(), unlock: unlock ?? protection, actor: "tester")
    }

    @discardableResult
    func sql(_ statement: String) throws -> String {
        try server!.psql(database: databaseName!, statement).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func entryFile(_ tenant: String, _ generation: Int) -> String {
        dir.file("vault/tenants/\(tenant)/\(String(format: "%08d", generation)).entry")
    }

    /// The stored bytes of an entry, read from outside.
    func entryBytes(_ tenant: String, _ generation: Int) throws -> [UInt8] {
        switch backend {
        case .files: return Array(try Data(contentsOf: URL(fileURLWithPath: entryFile(tenant, generation))))
        case .postgres:
            let hex = try sql("SELECT encode(bytes, 'hex') FROM vault_entries WHERE tenant = '\(tenant)' AND generation = \(generation)")
            return hexBytes(hex) ?? []
        }
    }

    /// Flips one bit of an entry's stored bytes at `offset`.
    func flip(_ tenant: String, _ generation: Int, at offset: Int) throws {
        switch backend {
        case .files:
            var bytes = try entryBytes(tenant, generation)
            bytes[offset] ^= 0x01
            try Data(bytes).write(to: URL(fileURLWithPath: entryFile(tenant, generation)))
        case .postgres:
            try sql("UPDATE vault_entries SET bytes = set_byte(bytes, \(offset), get_byte(bytes, \(offset)) # 1) "
                + "WHERE tenant = '\(tenant)' AND generation = \(generation)")
        }
    }

    /// Copies an entry's stored bytes to another tenant and generation (a moved file, a moved row).
    func copy(_ tenant: String, _ generation: Int, to target: String, _ targetGeneration: Int) throws {
        switch backend {
        case .files:
            try PrivateFiles.makePrivateDirectory(dir.file("vault/tenants/\(target)"))
            let bytes = try entryBytes(tenant, generation)
            try Data(bytes).write(to: URL(fileURLWithPath: entryFile(target, targetGeneration)))
        case .postgres:
            try sql("INSERT INTO vault_entries (tenant, generation, bytes) SELECT '\(target)', \(targetGeneration), bytes "
                + "FROM vault_entries WHERE tenant = '\(tenant)' AND generation = \(generation)")
        }
    }

    /// Removes the audit record with `sequence` (a line of audit.log, a row of vault_audit).
    func deleteAuditRecord(_ sequence: Int) throws {
        switch backend {
        case .files:
            let path = dir.file("vault/audit.log")
            let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").filter { !$0.hasPrefix("\(sequence)\t") }
            try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: false, encoding: .utf8)
        case .postgres:
            try sql("DELETE FROM vault_audit WHERE sequence = \(sequence)")
        }
    }

    /// Changes the action of the audit record with `sequence`, keeping its MAC.
    func editAuditRecord(_ sequence: Int, from: String, to: String) throws {
        switch backend {
        case .files:
            let path = dir.file("vault/audit.log")
            let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map {
                $0.hasPrefix("\(sequence)\t") ? $0.replacingOccurrences(of: from, with: to) : String($0)
            }
            try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: false, encoding: .utf8)
        case .postgres:
            try sql("UPDATE vault_audit SET line = replace(line, '\(from)', '\(to)') WHERE sequence = \(sequence)")
        }
    }
}

@Suite("The vault behaves the same on files and in PostgreSQL")
struct VaultBackendBehaviourTests {
    let contoso = try! TenantID("contoso")
    let fabrikam = try! TenantID("fabrikam")

    @Test("store, list, generations, read out and metadata updates", arguments: VaultBackend.allCases)
    func entries(_ backend: VaultBackend) throws {
        guard let harness = try VaultHarness.make(backend) else { return }
        let vault = harness.vault
        #expect(try vault.store(tenant: contoso, payload: VaultFixtures.payload("1")) == 1)
        #expect(try vault.store(tenant: contoso, payload: VaultFixtures.payload("2")) == 2)
        #expect(try vault.store(tenant: fabrikam, payload: VaultFixtures.payload("f")) == 1)
        #expect(try vault.generations(of: contoso) == [1, 2])
        #expect(try vault.tenants() == [contoso, fabrikam])
        let listed = try vault.list()
        #expect(listed.map { "\($0.tenant)/\($0.generation)" } == ["contoso/1", "contoso/2", "fabrikam/1"])
        let (generation, payload, metadata) = try vault.readOut(tenant: contoso, purpose: "test")
        #expect(generation == 2)
        #expect(payload.pfx == VaultFixtures.payload("2").pfx)
        #expect(VaultFixtures.text(payload.password) == "pfx-password-2")
        #expect(metadata.status == .active)
        let before = try harness.entryBytes("contoso", 2)
        try vault.updateMetadata(tenant: contoso, generation: 2, action: "entry.retire") { $0.status = .retired }
        #expect(try harness.entryBytes("contoso", 2) != before)
        #expect(try vault.summary(tenant: contoso, generation: 2).metadata.status == .retired)
        #expect(try vault.readOut(tenant: contoso, purpose: "test").0 == 1)
        let reopened = try harness.reopen()
        #expect(try reopened.list().map(\.metadata.status) == [.active, .retired, .active])
        let missing = try #require(throws: CertVaultError.self) { try vault.readOut(tenant: contoso, generation: 9, purpose: "test") }
        #expect(missing.code == .notFound)
        let report = try vault.verify()
        #expect(report.intact, "\(report.problems)")
        #expect(report.entries == 3)
        #expect(vault.auditRecords().records.map(\.action)
                == ["vault.init", "entry.create", "entry.create", "entry.create", "entry.read", "entry.retire", "entry.read"])
    }

    @Test("KEK rotation rewraps every entry, keeps payloads, retires the old KEK; a stale handle stores with the new KEK",
          arguments: VaultBackend.allCases)
    func rotation(_ backend: VaultBackend) throws {
        guard let harness = try VaultHarness.make(backend) else { return }
        let stale = try harness.reopen()
        _ = try harness.vault.store(tenant: contoso, payload: VaultFixtures.payload("1"))
        _ = try harness.vault.store(tenant: fabrikam, payload: VaultFixtures.payload("2"))
        let report = try harness.vault.rotateKEK()
        #expect(report.newKEK == 2)
        #expect(report.rewrapped == 2)
        #expect(report.retiredKEKs == [1])
        #expect(try stale.store(tenant: contoso, payload: VaultFixtures.payload("3")) == 2)
        let reopened = try harness.reopen()
        #expect(try reopened.kekUsage() == [2: 3])
        #expect(try reopened.readOut(tenant: contoso, generation: 1, purpose: "test").1.pfx == VaultFixtures.payload("1").pfx)
        #expect(try reopened.verify().intact)
    }

    @Test("changing the passphrase rewraps only the root key", arguments: VaultBackend.allCases)
    func passphrase(_ backend: VaultBackend) throws {
        guard let harness = try VaultHarness.make(backend, passphrase: true) else { return }
        _ = try harness.vault.store(tenant: contoso, payload: VaultFixtures.payload("p"))
        let new = try harness.dir.write("new.txt", "another long passphrase\n")
        try harness.vault.changePassphrase(to: .file(new), parameters: VaultFixtures.fastArgon)
        let reopened = try harness.reopen(unlock: .passphrase(.file(new)))
        #expect(VaultFixtures.text(try reopened.readOut(tenant: contoso, purpose: "test").1.password) == "pfx-password-p")
        let old = try #require(throws: CertVaultError.self) { try harness.reopen() }
        #expect(old.code == .vaultLocked)
        let wrongMode = try #require(throws: CertVaultError.self) { try harness.reopen(unlock: .keyFile(path: harness.dir.file("none.key"))) }
        #expect(wrongMode.code == .vaultLocked)
    }

    @Test("a flipped byte in a stored entry is the same vault-corrupt error on both backends", arguments: VaultBackend.allCases)
    func flippedByte(_ backend: VaultBackend) throws {
        guard let harness = try VaultHarness.make(backend) else { return }
        _ = try harness.vault.store(tenant: contoso, payload: VaultFixtures.payload())
        let size = try harness.entryBytes("contoso", 1).count
        // The header, the wrapped data key, the payload and the metadata.
        for offset in [10, 60, 130, size / 2, size - 20] {
            try harness.flip("contoso", 1, at: offset)
            let error = try #require(throws: CertVaultError.self) { try harness.vault.readOut(tenant: contoso, generation: 1, purpose: "flip") }
            #expect(error.code == .vaultCorrupt || error.code == .notFound, "offset \(offset): \(error)")
            try harness.flip("contoso", 1, at: offset)
        }
        #expect(try harness.vault.verify().intact)
        try harness.flip("contoso", 1, at: size - 20)
        #expect(try !harness.vault.verify().intact)
    }

    @Test("an entry copied to another tenant or another generation does not open", arguments: VaultBackend.allCases)
    func moved(_ backend: VaultBackend) throws {
        guard let harness = try VaultHarness.make(backend) else { return }
        _ = try harness.vault.store(tenant: contoso, payload: VaultFixtures.payload())
        try harness.copy("contoso", 1, to: "fabrikam", 1)
        try harness.copy("contoso", 1, to: "contoso", 2)
        for (tenant, generation) in [(fabrikam, 1), (contoso, 2)] {
            let error = try #require(throws: CertVaultError.self) { try harness.vault.readOut(tenant: tenant, generation: generation, purpose: "moved") }
            #expect(error.code == .vaultCorrupt)
            #expect(error.reason.contains("failed authentication"), "\(error.reason)")
        }
        let report = try harness.vault.verify()
        #expect(report.entries == 3)
        #expect(report.problems.filter { $0.contains("failed authentication") }.count == 2, "\(report.problems)")
    }

    @Test("a deleted audit record is a gap verify reports; a changed record fails its MAC", arguments: VaultBackend.allCases)
    func auditTampering(_ backend: VaultBackend) throws {
        guard let harness = try VaultHarness.make(backend) else { return }
        _ = try harness.vault.store(tenant: contoso, payload: VaultFixtures.payload())
        _ = try harness.vault.readOut(tenant: contoso, purpose: "one")
        _ = try harness.vault.readOut(tenant: contoso, purpose: "two")
        #expect(harness.vault.auditRecords().problems.isEmpty)
        try harness.editAuditRecord(3, from: "entry.read", to: "entry.peek")
        let edited = harness.vault.auditRecords().problems
        #expect(edited.contains { $0.contains("record was altered (its MAC does not match)") }, "\(edited)")
        try harness.editAuditRecord(3, from: "entry.peek", to: "entry.read")
        try harness.deleteAuditRecord(2)
        let gap = harness.vault.auditRecords().problems
        #expect(gap.contains { $0.contains("chain broken") }, "\(gap)")
        #expect(gap.contains { $0.contains("sequence 3 where 2 was expected") }, "\(gap)")
        #expect(try harness.vault.verify().problems.contains { $0.hasPrefix("audit.log: ") })
        // Removing the last record is seen through the head.
        try harness.deleteAuditRecord(4)
        #expect(harness.vault.auditRecords().problems.contains { $0.contains("records were removed from the end") })
    }

    @Test("a backup of either backend restores into a vault folder that verifies and reads the same secrets",
          arguments: VaultBackend.allCases)
    func backupRestore(_ backend: VaultBackend) throws {
        guard let harness = try VaultHarness.make(backend) else { return }
        _ = try harness.vault.store(tenant: contoso, payload: VaultFixtures.payload("1"))
        _ = try harness.vault.store(tenant: contoso, payload: VaultFixtures.payload("2"))
        _ = try harness.vault.store(tenant: fabrikam, payload: VaultFixtures.payload("f"))
        let bundle = harness.dir.file("backup.cvb")
        #expect(try harness.vault.backup(to: bundle) == 6)
        let (restored, report) = try Vault.restoreAndVerify(from: bundle, to: harness.dir.file("restored"), unlock: harness.protection)
        #expect(report.intact, "\(report.problems)")
        #expect(try restored.list().map { "\($0.tenant)/\($0.generation)" } == ["contoso/1", "contoso/2", "fabrikam/1"])
        // The bundle was sealed before its own `vault.backup` record was written.
        #expect(restored.auditRecords().records.map(\.action).suffix(3) == ["entry.create", "vault.reindex", "vault.restore"])
        #expect(VaultFixtures.text(try restored.readOut(tenant: fabrikam, purpose: "test").1.password) == "pfx-password-f")
        #expect(harness.vault.auditRecords().records.last?.action == "vault.backup")
    }
}

@Suite("The vault in PostgreSQL: rows, replicas and the format")
struct PostgresVaultTests {
    let contoso = try! TenantID("contoso")

    @Test("two replicas (two pools) issuing for one tenant at once get consecutive generations, none twice")
    func concurrentReplicas() throws {
        guard let harness = try VaultHarness.make(.postgres) else { return }
        let other = try PostgresDatabase(settings: harness.database!.settings)
        defer { other.shutdown() }
        let databases = [harness.database!, other]
        let protection = harness.protection
        let results = Results()
        let threads = databases.enumerated().map { index, database in
            Thread { [contoso] in
                do {
                    // Each replica has its own pool and its own vault handle.
                    let vault = try Vault.open(storage: PostgresVaultStorage(database: database), unlock: protection)
                    for number in 0..<10 {
                        results.add(try vault.store(tenant: contoso, payload: VaultFixtures.payload("\(index)-\(number)")))
                    }
                } catch {
                    results.fail("\(error)")
                }
                results.done()
            }
        }
        threads.forEach { $0.start() }
        results.waitForAll(threads.count)
        #expect(results.errors.isEmpty, "\(results.errors)")
        #expect(results.numbers.sorted() == Array(1...20))
        #expect(try harness.vault.generations(of: contoso) == Array(1...20))
        let records = harness.vault.auditRecords()
        #expect(records.problems.isEmpty, "\(records.problems)")
        #expect(records.records.filter { $0.action == "entry.create" }.compactMap(\.generation).sorted() == Array(1...20))
        #expect(try harness.vault.verify().intact)
    }

    @Test("an entry sealed under a keyring another replica has since changed is refused, and nothing is stored")
    func staleKeyringRefused() throws {
        guard let harness = try VaultHarness.make(.postgres) else { return }
        let storage = harness.storage()
        let stale = try #require(try storage.blobRevision(.keyring))
        _ = try harness.reopen().rotateKEK()
        let error = try #require(throws: CertVaultError.self) {
            try storage.createEntry(tenant: contoso, generation: 1, bytes: [1, 2, 3], sealedUnderKeyring: stale)
        }
        #expect(error.code == .keyringChanged)
        #expect(try storage.generations(of: contoso).isEmpty)
        // At the current revision the same call stores.
        let current = try storage.blobRevision(.keyring)
        try storage.createEntry(tenant: contoso, generation: 1, bytes: [1, 2, 3], sealedUnderKeyring: current)
        #expect(try storage.generations(of: contoso) == [1])
    }

    @Test("KEK rotations on one replica while the other stores: every entry still opens (none sealed under a retired KEK)")
    func rotationWhileStoring() throws {
        guard let harness = try VaultHarness.make(.postgres) else { return }
        let other = try PostgresDatabase(settings: harness.database!.settings)
        defer { other.shutdown() }
        let protection = harness.protection
        let results = Results()
        let storer = Thread { [contoso] in
            do {
                let vault = try Vault.open(storage: PostgresVaultStorage(database: other), unlock: protection)
                for number in 0..<30 { results.add(try vault.store(tenant: contoso, payload: VaultFixtures.payload("s\(number)"))) }
            } catch {
                results.fail("store: \(error)")
            }
            results.done()
        }
        let first = harness.database!
        let rotator = Thread {
            do {
                let vault = try Vault.open(storage: PostgresVaultStorage(database: first), unlock: protection)
                for _ in 0..<6 { _ = try vault.rotateKEK() }
            } catch {
                results.fail("rotate: \(error)")
            }
            results.done()
        }
        storer.start()
        rotator.start()
        results.waitForAll(2)
        #expect(results.errors.isEmpty, "\(results.errors)")
        let vault = try harness.reopen()
        #expect(try vault.generations(of: contoso) == Array(1...30))
        for generation in 1...30 {
            #expect(throws: Never.self) { _ = try vault.readOut(tenant: contoso, generation: generation, purpose: "check") }
        }
        #expect(try vault.verify().intact)
    }

    @Test("group-committed reads from two replicas keep one linear audit chain")
    func groupCommitAcrossReplicas() throws {
        guard let harness = try VaultHarness.make(.postgres) else { return }
        _ = try harness.vault.store(tenant: contoso, payload: VaultFixtures.payload())
        let other = try PostgresDatabase(settings: harness.database!.settings)
        defer { other.shutdown() }
        let readers = [try harness.vault.credentialReader(actor: "replica-a"),
                       try Vault.open(storage: PostgresVaultStorage(database: other), unlock: harness.protection).credentialReader(actor: "replica-b")]
        let results = Results()
        let threads = (0..<4).map { index in
            Thread { [contoso] in
                for _ in 0..<10 {
                    do {
                        results.add(try readers[index % 2].readOut(tenant: contoso, purpose: "restore \(index)").0)
                    } catch {
                        results.fail("\(error)")
                    }
                }
                results.done()
            }
        }
        threads.forEach { $0.start() }
        results.waitForAll(threads.count)
        readers.forEach { $0.committer.close() }
        #expect(results.errors.isEmpty, "\(results.errors)")
        let audit = harness.vault.auditRecords()
        #expect(audit.problems.isEmpty, "\(audit.problems)")
        #expect(audit.records.filter { $0.action == "entry.read" }.count == 40)
        #expect(audit.records.map(\.sequence) == Array(1...audit.records.count))
    }

    @Test("rows hold the documented format: the independent Python recovery script decrypts entries read from the table",
          .enabled(if: PyNaCl.available || TestEnvironment.toolsRequired, "python3 with PyNaCl is not installed"))
    func rowsAreTheFileFormat() throws {
        guard let harness = try VaultHarness.make(.postgres) else { return }
        _ = try harness.vault.store(tenant: contoso, payload: VaultFixtures.payload("old"))
        _ = try harness.vault.store(tenant: contoso, payload: VaultFixtures.payload("new"))
        // The rows' bytes, read with psql, laid out as a vault folder.
        let folder = harness.dir.file("from-rows")
        try PrivateFiles.makePrivateDirectory(folder)
        try PrivateFiles.makePrivateDirectory("\(folder)/tenants")
        try PrivateFiles.makePrivateDirectory("\(folder)/tenants/contoso")
        let keyring = hexBytes(try harness.sql("SELECT encode(bytes, 'hex') FROM vault_blobs WHERE name = 'keyring'")) ?? []
        try PrivateFiles.writeNewFile("\(folder)/keyring", bytes: keyring)
        for generation in [1, 2] {
            try PrivateFiles.writeNewFile("\(folder)/tenants/contoso/\(String(format: "%08d", generation)).entry",
                                          bytes: try harness.entryBytes("contoso", generation))
        }
        for (generation, tag) in [(2, "new"), (1, "old")] {
            let result = try ExternalTool.python3.run([
                "\(TestEnvironment.packageRoot)/docs/recovery/certvault-recover.py", folder, "contoso", "--generation", String(generation),
                "--key-file", harness.dir.file("key/root.key"),
                "--out-pfx", harness.dir.file("g\(generation).pfx"), "--out-password", harness.dir.file("g\(generation).txt"),
            ])
            try #require(result.status == 0, "\(result.stderr)")
            #expect(Array(try Data(contentsOf: URL(fileURLWithPath: harness.dir.file("g\(generation).pfx")))) == VaultFixtures.payload(tag).pfx)
            #expect(try String(contentsOfFile: harness.dir.file("g\(generation).txt"), encoding: .utf8) == "pfx-password-\(tag)")
        }
        // And the audit rows are the file's lines: a file vault's verifier accepts them.
        let lines = try harness.sql("SELECT string_agg(line, E'\\n' ORDER BY sequence) FROM vault_audit")
        try PrivateFiles.writeNewFile("\(folder)/audit.log", bytes: Array((lines + "\n").utf8))
        let head = hexBytes(try harness.sql("SELECT encode(bytes, 'hex') FROM vault_blobs WHERE name = 'audit.head'")) ?? []
        try PrivateFiles.writeNewFile("\(folder)/audit.head", bytes: head)
        let asFiles = try Vault.open(at: folder, unlock: harness.protection)
        let audit = asFiles.auditRecords()
        #expect(audit.problems.isEmpty, "\(audit.problems)")
        #expect(audit.records.count == 3)
    }

    @Test("a file vault's bundle restores into PostgreSQL; a copy files -> PostgreSQL -> files is byte for byte and can be re-run")
    func restoreAndCopy() throws {
        guard let harness = try VaultHarness.make(.files), let (database, _, _) = try testDatabase() else { return }
        defer { database.shutdown() }
        let contoso = try TenantID("contoso")
        _ = try harness.vault.store(tenant: contoso, payload: VaultFixtures.payload("1"))
        _ = try harness.vault.store(tenant: contoso, payload: VaultFixtures.payload("2"))
        try harness.vault.updateMetadata(tenant: contoso, generation: 1, action: "entry.retire") { $0.status = .retired }
        let bundle = harness.dir.file("backup.cvb")
        _ = try harness.vault.backup(to: bundle)
        let target = PostgresVaultStorage(database: database)
        let (restored, report) = try Vault.restoreAndVerify(from: bundle, into: target, workFolder: harness.dir.path, unlock: harness.protection)
        #expect(report.intact, "\(report.problems)")
        #expect(try restored.list().map(\.metadata.status) == [.retired, .active])
        #expect(try restored.readOut(tenant: contoso, purpose: "test").1.pfx == VaultFixtures.payload("2").pfx)
        let again = try #require(throws: CertVaultError.self) {
            try Vault.restoreAndVerify(from: bundle, into: target, workFolder: harness.dir.path, unlock: harness.protection)
        }
        #expect(again.code == .alreadyExists)
        // Back into a folder: the same entry bytes as in the database, and a second run copies nothing.
        let folder = FileVaultStorage(path: harness.dir.file("back"))
        let first = try restored.copy(to: folder)
        #expect(first.entriesCopied == 2)
        #expect(first.verification.intact, "\(first.verification.problems)")
        let second = try restored.copy(to: folder)
        #expect(second.entriesCopied == 0 && second.entriesAlreadyThere == 2 && second.auditRecordsCopied == 0)
        for generation in [1, 2] {
            #expect(try folder.readEntry(tenant: contoso, generation: generation) == target.readEntry(tenant: contoso, generation: generation))
        }
        #expect(try folder.readAuditLog() == target.readAuditLog())
    }

    @Test("an unreachable database is storage-unavailable, never a corrupt vault")
    func unreachable() throws {
        guard let harness = try VaultHarness.make(.postgres) else { return }
        harness.database!.shutdown()
        let error = try #require(throws: CertVaultError.self) { try harness.vault.store(tenant: contoso, payload: VaultFixtures.payload()) }
        #expect(error.code == .storageUnavailable)
    }
}

/// Results gathered from threads.
final class Results: @unchecked Sendable {
    private let condition = NSCondition()
    private(set) var numbers: [Int] = []
    private(set) var errors: [String] = []
    private var finished = 0

    func add(_ number: Int) { condition.withLock { numbers.append(number) } }
    func fail(_ error: String) { condition.withLock { errors.append(error) } }

    func done() {
        condition.lock()
        finished += 1
        condition.broadcast()
        condition.unlock()
    }

    func waitForAll(_ count: Int) {
        condition.lock()
        while finished < count { condition.wait(until: Date(timeIntervalSinceNow: 120)) }
        condition.unlock()
    }
}
