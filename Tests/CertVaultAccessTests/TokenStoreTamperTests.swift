import CertVaultAccess
import CertVaultCore
import CertVaultTesting
import CertVaultVault
import Foundation
import Testing

@Suite("The token store refuses a file that was edited, swapped or put back")
struct TokenStoreTamperTests {
    let now: Int64 = 1_800_000_000

    func storeWithTokens() throws -> (StoreFixture, IssuedToken) {
        let fixture = try StoreFixture()
        let store = try fixture.store()
        let issued = try store.create(
            name: "reader", scopes: [.tenantsRead], tenants: try TenantSelector(["contoso"]), policy: nil,
            expires: nil, now: now)
        _ = try store.create(name: "other", scopes: [.auditRead], tenants: nil, policy: nil, expires: nil, now: now)
        return (fixture, issued)
    }

    func expectRefused(_ fixture: StoreFixture, _ codes: Set<CertVaultError.Code> = [.tokenStoreCorrupt], token: IssuedToken) {
        do {
            _ = try fixture.store()
            Issue.record("an altered store was opened")
        } catch let error as CertVaultError {
            #expect(codes.contains(error.code), "\(error)")
            #expect(error.hint?.isEmpty == false)
            #expect(!error.description.contains(String(text(token.token).dropFirst(21))))
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test("Every single flipped byte is refused", arguments: [0, 20, 40, 60, 100, 150, 200, 300, -10, -2])
    func flippedByte(at position: Int) throws {
        let (fixture, issued) = try storeWithTokens()
        var bytes = try fixture.fileBytes()
        let index = position >= 0 ? min(position, bytes.count - 1) : bytes.count + position
        bytes[index] ^= 0x01
        try fixture.replaceFile(bytes)
        // A flip inside the keycheck line reads as another vault's key: refused either way.
        expectRefused(fixture, [.tokenStoreCorrupt, .tokenStoreWrongKey], token: issued)
    }

    @Test("Widening a token's scopes or tenants in the file is refused")
    func widened() throws {
        let (fixture, issued) = try storeWithTokens()
        let original = String(decoding: try fixture.fileBytes(), as: UTF8.self)
        for (from, to) in [
            ("\"tenants:read\"", "\"tokens:admin\""), ("[\"contoso\"]", "null"), ("\"name\":\"reader\"", "\"name\":\"admin!\""),
        ] {
            try fixture.replaceFile(Array(original.replacingOccurrences(of: from, with: to).utf8))
            expectRefused(fixture, token: issued)
        }
    }

    @Test("A forged token record, appended before or after the MAC line, is refused")
    func forgedRecord() throws {
        let (fixture, issued) = try storeWithTokens()
        let original = String(decoding: try fixture.fileBytes(), as: UTF8.self)
        let forged =
            #"token {"accessor":"0123456789abcdef","created":1,"hash":""# + String(repeating: "ab", count: 32)
            + #"","name":"forged","scopes":["tokens:admin"]}"#
        var lines = original.split(separator: "\n").map(String.init)
        lines.insert(forged, at: lines.count - 1)
        try fixture.replaceFile(Array((lines.joined(separator: "\n") + "\n").utf8))
        expectRefused(fixture, token: issued)
        try fixture.replaceFile(Array((original + forged + "\n").utf8))
        expectRefused(fixture, token: issued)
        // Dropping a record (say, to hide a revocation's context) breaks the MAC as well.
        lines = original.split(separator: "\n").map(String.init)
        lines.remove(at: 3)
        try fixture.replaceFile(Array((lines.joined(separator: "\n") + "\n").utf8))
        expectRefused(fixture, token: issued)
    }

    @Test("An empty, truncated or foreign file is refused")
    func damaged() throws {
        let (fixture, issued) = try storeWithTokens()
        let original = try fixture.fileBytes()
        for bytes in [[], Array(original.prefix(original.count / 2)), Array(original.dropLast()), Array("hello\n".utf8)] {
            try fixture.replaceFile(bytes)
            expectRefused(fixture, token: issued)
        }
    }

    @Test("Another vault's store is refused with its own error")
    func otherVault() throws {
        let (fixture, issued) = try storeWithTokens()
        let other = try StoreFixture()
        try other.dir.write("vault/tokens", bytes: try fixture.fileBytes())
        chmod(other.storePath, 0o600)
        expectRefused(other, [.tokenStoreWrongKey], token: issued)
    }

    @Test("A store altered while a service holds it open makes every grant fail, not succeed")
    func alteredWhileOpen() throws {
        let (fixture, issued) = try storeWithTokens()
        let service = try fixture.store()
        #expect(try service.grant(for: issued.token, now: now) != nil)
        var bytes = try fixture.fileBytes()
        bytes[bytes.count / 2] ^= 0x20
        try fixture.replaceFile(bytes)
        #expect(throws: CertVaultError.self) { try service.grant(for: issued.token, now: now) }
    }

    @Test("An older copy put back is refused by a process that read a newer one; a fresh process cannot tell (documented)")
    func rollback() throws {
        let (fixture, issued) = try storeWithTokens()
        let service = try fixture.store()
        let older = try fixture.fileBytes()
        try fixture.store().revoke(accessor: issued.info.accessor, now: now + 1)
        #expect(try service.grant(for: issued.token, now: now + 2) == nil)
        try fixture.replaceFile(older)
        #expect(thrownError { try service.grant(for: issued.token, now: now + 3) as Any }?.code == .tokenStoreRolledBack)
        #expect(thrownError { try service.list() }?.code == .tokenStoreRolledBack)
        // Not detected across a restart: the older copy is authentic. docs/access.md says so.
        #expect(try fixture.store().grant(for: issued.token, now: now + 3) != nil)
    }

    @Test("The store survives KEK rotation: its key derives from the root key, which rotation leaves as it is")
    func keyRotation() throws {
        let (fixture, issued) = try storeWithTokens()
        _ = try fixture.vault.rotateKEK()
        let reopened = try Vault.open(at: fixture.dir.file("vault"), unlock: .keyFile(path: fixture.dir.file("vault-key/root.key")))
        #expect(try TokenStore(vault: reopened).grant(for: issued.token, now: now) != nil)
    }
}
