import CertVaultCore
import CertVaultTesting
import CertVaultVault
import Foundation
import Testing

@Suite("Leftovers of killed writers are found and removed, never a live writer's files", .serialized)
struct LeftoverTests {
    static func temporaries(_ folder: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).filter { $0.hasPrefix(".tmp-") }
    }

    @Test("temporary entry files of SIGKILLed writers are removed by the next store, with a note")
    func killedWritersTemporaries() throws {
        let dir = try TemporaryDirectory()
        let (vault, _) = try VaultFixtures.keyFileVault(dir)
        let folder = dir.file("vault/tenants/crash")
        // Kill the writer at varying moments until a kill lands inside an entry's write (most do:
        // the temporary file is written and flushed before it is linked into place).
        var rounds = 0
        while Self.temporaries(folder).isEmpty && rounds < 60 {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: CrashSafetyTests.writer)
            process.arguments = [dir.file("vault"), dir.file("key/root.key"), "crash"]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            usleep(UInt32(40_000 + (rounds * 13_000) % 90_000))
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            rounds += 1
        }
        let left = Self.temporaries(folder)
        try #require(!left.isEmpty, "no kill in \(rounds) rounds left a temporary file")
        _ = try vault.store(tenant: try TenantID("crash"), payload: VaultFixtures.payload("after"))
        #expect(Self.temporaries(folder).isEmpty, "still there: \(Self.temporaries(folder))")
        #expect(try vault.verify().problems.allSatisfy { $0.hasPrefix("index:") })
    }

    @Test("vault cleanup removes temporary files in every folder and abandoned restore folders, not a live one")
    func cleanup() throws {
        let dir = try TemporaryDirectory()
        let (vault, _) = try VaultFixtures.keyFileVault(dir)
        _ = try vault.store(tenant: try TenantID("contoso"), payload: VaultFixtures.payload())
        _ = try dir.write("vault/.tmp-0011223344556677", "half a keyring")
        _ = try dir.write("vault/tenants/contoso/.tmp-8899aabbccddeeff", "half an entry")
        let old = Date().addingTimeInterval(-60)
        for name in [".staging-restore-abandoned", ".staging-restore-live"] {
            try FileManager.default.createDirectory(atPath: dir.file(name), withIntermediateDirectories: false)
            _ = try dir.write("\(name)/keyring", "restored keyring")
            try FileManager.default.setAttributes([.modificationDate: old], ofItemAtPath: dir.file(name))
        }
        try FileManager.default.createDirectory(atPath: dir.file(".staging-restore-young"), withIntermediateDirectories: false)
        // A restore in progress holds its folder's lock.
        let live = try #require(Leftovers.lock(dir.file(".staging-restore-live")))
        defer { close(live) }

        let removed = try vault.removeLeftovers()
        #expect(Set(removed) == [".tmp-0011223344556677", "tenants/contoso/.tmp-8899aabbccddeeff", "../.staging-restore-abandoned"])
        let listing = try dir.listing()
        #expect(!listing.contains { $0.contains(".tmp-") })
        #expect(!listing.contains { $0.contains("abandoned") })
        #expect(listing.contains(".staging-restore-live/keyring"), "a live restore's folder was removed")
        #expect(listing.contains(".staging-restore-young"), "a folder younger than the grace period was removed")
        #expect(try vault.verify().intact)
    }

    @Test("a shredded file's bytes are overwritten before it is unlinked")
    func shred() throws {
        let dir = try TemporaryDirectory()
        let path = try dir.write("secret.pfx", String(repeating: "S", count: 100_000))
        // A descriptor opened before keeps the inode readable after the shred removed its name.
        let witness = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
        #expect(Leftovers.shred(path))
        #expect(!FileManager.default.fileExists(atPath: path))
        let remains = try witness.readToEnd() ?? Data()
        #expect(remains.count == 100_000)
        #expect(remains.allSatisfy { $0 == 0 })
    }

    @Test("a temporary file killed between link and unlink is the entry itself: only its extra name goes")
    func linkedTemporary() throws {
        let dir = try TemporaryDirectory()
        let (vault, protection) = try VaultFixtures.keyFileVault(dir)
        let tenant = try TenantID("contoso")
        _ = try vault.store(tenant: tenant, payload: VaultFixtures.payload("1"))
        try FileManager.default.linkItem(atPath: dir.file("vault/tenants/contoso/00000001.entry"),
                                         toPath: dir.file("vault/tenants/contoso/.tmp-00112233aabbccdd"))
        #expect(try vault.store(tenant: tenant, payload: VaultFixtures.payload("2")) == 2)
        #expect(Self.temporaries(dir.file("vault/tenants/contoso")).isEmpty)
        let reopened = try Vault.open(at: dir.file("vault"), unlock: protection)
        #expect(VaultFixtures.text(try reopened.readOut(tenant: tenant, generation: 1, purpose: "test").1.password) == "pfx-password-1")
        #expect(try reopened.verify().intact)
    }
}
