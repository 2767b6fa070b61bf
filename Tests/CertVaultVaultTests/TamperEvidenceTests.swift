import CertVaultCore
import CertVaultTesting
import CertVaultVault
import Foundation
import Testing

/// Deleted generations and cut-off or stale indexes are noticed; nothing launders them.
@Suite("Tamper evidence: deleted generations and the index's end")
struct TamperEvidenceTests {
    static func remove(_ path: String) { unlink(path) }

    static func deletionProblems(_ report: VerifyReport, _ file: String) -> [String] {
        report.problems.filter { $0.contains(file) && $0.contains("missing, deleted") }
    }

    @Test("a deleted generation is reported by verify as missing, and still after reindex")
    func deletedOlderGeneration() throws {
        let dir = try TemporaryDirectory()
        let (vault, _) = try VaultFixtures.keyFileVault(dir)
        let tenant = try TenantID("contoso")
        _ = try vault.store(tenant: tenant, payload: VaultFixtures.payload("1"))
        _ = try vault.store(tenant: tenant, payload: VaultFixtures.payload("2"))
        Self.remove(dir.file("vault/tenants/contoso/00000001.entry"))

        let before = try vault.verify()
        #expect(!before.intact)
        let deleted = Self.deletionProblems(before, "tenants/contoso/00000001.entry")
        #expect(deleted.count == 1, "\(before.problems)")
        #expect(deleted.first?.contains("audit log records its creation") == true)
        #expect(deleted.first?.contains("index lists it") == true)
        #expect(!before.problems.contains { $0.contains("interrupted write") }, "a deletion is not a crash: \(before.problems)")

        let report = try vault.rebuildIndex()
        #expect(report.entries == 1)
        #expect(report.missing == ["contoso/1"])
        let after = try vault.verify()
        #expect(!after.intact, "reindex must not launder a deletion")
        #expect(Self.deletionProblems(after, "tenants/contoso/00000001.entry").count == 1, "\(after.problems)")
        #expect(vault.auditRecords().records.last?.detail.contains("missing (deleted) generations: contoso/1") == true)
    }

    @Test("deleting a tenant's only generation is noticed from the audit log, before and after reindex")
    func deletedOnlyGeneration() throws {
        let dir = try TemporaryDirectory()
        let (vault, _) = try VaultFixtures.keyFileVault(dir)
        _ = try vault.store(tenant: try TenantID("fabrikam"), payload: VaultFixtures.payload())
        _ = try vault.store(tenant: try TenantID("contoso"), payload: VaultFixtures.payload())
        Self.remove(dir.file("vault/tenants/contoso/00000001.entry"))
        #expect(Self.deletionProblems(try vault.verify(), "tenants/contoso/00000001.entry").count == 1)
        _ = try vault.reindex()
        let after = try vault.verify()
        #expect(Self.deletionProblems(after, "tenants/contoso/00000001.entry").count == 1, "\(after.problems)")
        #expect(after.problems.count == 1, "only the deletion: \(after.problems)")
    }

    @Test("a generation number reused after the newest one was deleted is reported")
    func reusedNumber() throws {
        let dir = try TemporaryDirectory()
        let (vault, _) = try VaultFixtures.keyFileVault(dir)
        let tenant = try TenantID("contoso")
        _ = try vault.store(tenant: tenant, payload: VaultFixtures.payload("1"))
        Self.remove(dir.file("vault/tenants/contoso/00000001.entry"))
        #expect(try vault.store(tenant: tenant, payload: VaultFixtures.payload("again")) == 1)
        let report = try vault.verify()
        #expect(report.problems.contains { $0.contains("00000001.entry") && $0.contains("2 times") }, "\(report.problems)")
    }

    @Test("a crash leaves the index behind, which is not a deletion: verify asks for reindex, which repairs it")
    func crashIsNotDeletion() throws {
        let dir = try TemporaryDirectory()
        let (vault, _) = try VaultFixtures.keyFileVault(dir)
        let tenant = try TenantID("contoso")
        _ = try vault.store(tenant: tenant, payload: VaultFixtures.payload("1"))
        let index = try Data(contentsOf: URL(fileURLWithPath: dir.file("vault/index")))
        let head = try Data(contentsOf: URL(fileURLWithPath: dir.file("vault/index.head")))
        _ = try vault.store(tenant: tenant, payload: VaultFixtures.payload("2"))
        // As if killed after the entry was renamed into place, before its index line.
        try index.write(to: URL(fileURLWithPath: dir.file("vault/index")))
        try head.write(to: URL(fileURLWithPath: dir.file("vault/index.head")))
        let report = try vault.verify()
        #expect(report.problems.count == 1 && report.problems.first?.hasPrefix("index:") == true, "\(report.problems)")
        #expect(try vault.rebuildIndex().missing.isEmpty)
        #expect(try vault.verify().intact)
    }

    @Test("a cut-off index is not trusted: a retired generation does not look active")
    func cutOffIndex() throws {
        let dir = try TemporaryDirectory()
        let (vault, _) = try VaultFixtures.keyFileVault(dir)
        let tenant = try TenantID("contoso")
        _ = try vault.store(tenant: tenant, payload: VaultFixtures.payload())
        try vault.updateMetadata(tenant: tenant, generation: 1, action: "entry.retire") { $0.status = .retired }
        // Remove the last line (the retirement): what is left is a valid chain.
        let path = dir.file("vault/index")
        var lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        lines.removeLast(2)
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: false, encoding: .utf8)

        let listed = try vault.list()
        #expect(listed.map(\.metadata.status) == [.retired], "the entry, not the cut-off index, must decide")
        #expect(vault.indexWarning?.contains("removed from its end") == true, "\(vault.indexWarning ?? "no warning")")
        #expect(try vault.verify().problems.contains { $0.hasPrefix("index:") && $0.contains("removed") })

        // A later write does not extend the cut-off index and make it look whole.
        _ = try vault.store(tenant: try TenantID("fabrikam"), payload: VaultFixtures.payload())
        #expect(try vault.list().first { $0.tenant.rawValue == "contoso" }?.metadata.status == .retired)
        #expect(vault.indexWarning != nil)
        _ = try vault.reindex()
        #expect(try vault.list().map(\.metadata.status) == [.retired, .active])
        #expect(vault.indexWarning == nil)
        #expect(try vault.verify().intact)
    }

    @Test("an altered index head is refused")
    func alteredHead() throws {
        let dir = try TemporaryDirectory()
        let (vault, _) = try VaultFixtures.keyFileVault(dir)
        _ = try vault.store(tenant: try TenantID("contoso"), payload: VaultFixtures.payload())
        let path = dir.file("vault/index.head")
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let size = try #require(Int(text.split(separator: "\t")[0]))
        try text.replacingOccurrences(of: "\(size)\t", with: "\(size - 1)\t").write(toFile: path, atomically: false, encoding: .utf8)
        _ = try vault.list()
        #expect(vault.indexWarning?.contains("index.head was altered") == true)
    }

    @Test("an index from an earlier certvault (no index.head) still opens; list opens the entries until reindex upgrades it")
    func upgradeFromIndexWithoutHead() throws {
        let dir = try TemporaryDirectory()
        let (vault, protection) = try VaultFixtures.keyFileVault(dir)
        _ = try vault.store(tenant: try TenantID("contoso"), payload: VaultFixtures.payload())
        Self.remove(dir.file("vault/index.head"))
        let old = try Vault.open(at: dir.file("vault"), unlock: protection)
        #expect(try old.list().map(\.tenant.rawValue) == ["contoso"])
        #expect(old.indexWarning?.contains("no head") == true)
        #expect(old.indexWarning?.contains("certvault vault reindex") == true)
        // Writes keep working (the entry is the authority) and do not bless the headless index.
        _ = try old.store(tenant: try TenantID("fabrikam"), payload: VaultFixtures.payload())
        #expect(try old.list().count == 2)
        #expect(try old.verify().problems.contains { $0.contains("no head") })
        #expect(try old.reindex() == 2)
        #expect(FileManager.default.fileExists(atPath: dir.file("vault/index.head")))
        #expect(try old.list().count == 2)
        #expect(old.indexWarning == nil)
        #expect(try old.verify().intact)
    }

    @Test("an index write that fails is warned about at once, and list still shows the new tenant")
    func unwritableIndex() throws {
        let dir = try TemporaryDirectory()
        let (vault, _) = try VaultFixtures.keyFileVault(dir)
        _ = try vault.store(tenant: try TenantID("alpha"), payload: VaultFixtures.payload())
        // The index made unwritable for certvault (which never writes through a link), but still readable.
        let copy = dir.file("vault/index.copy")
        try FileManager.default.copyItem(atPath: dir.file("vault/index"), toPath: copy)
        Self.remove(dir.file("vault/index"))
        try #require(symlink(copy, dir.file("vault/index")) == 0)
        nonisolated(unsafe) var warnings: [String] = []
        vault.onWarning = { warnings.append($0) }
        _ = try vault.store(tenant: try TenantID("beta"), payload: VaultFixtures.payload())
        #expect(warnings.count == 1 && warnings.first?.contains("could not be updated") == true, "\(warnings)")
        #expect(try vault.list().map(\.tenant.rawValue) == ["alpha", "beta"])
        #expect(vault.indexWarning?.contains("reindex") == true)
    }

    @Test("list notices a tenant the index lacks even when index and head were put back together")
    func rolledBackIndex() throws {
        let dir = try TemporaryDirectory()
        let (vault, _) = try VaultFixtures.keyFileVault(dir)
        _ = try vault.store(tenant: try TenantID("alpha"), payload: VaultFixtures.payload())
        let index = try Data(contentsOf: URL(fileURLWithPath: dir.file("vault/index")))
        let head = try Data(contentsOf: URL(fileURLWithPath: dir.file("vault/index.head")))
        _ = try vault.store(tenant: try TenantID("beta"), payload: VaultFixtures.payload())
        try index.write(to: URL(fileURLWithPath: dir.file("vault/index")))
        try head.write(to: URL(fileURLWithPath: dir.file("vault/index.head")))
        #expect(try vault.list().map(\.tenant.rawValue) == ["alpha", "beta"])
        #expect(vault.indexWarning?.contains("lacks tenant beta") == true, "\(vault.indexWarning ?? "no warning")")
    }
}
