import CertVaultAccess
import CertVaultCore
import CertVaultTesting
import CertVaultVault
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite("The invitation store refuses a file that was edited, swapped or put back")
struct InvitationStoreTamperTests {
    let now: Int64 = 1_800_000_000

    func storeWithInvitations() throws -> (InvitationFixture, Invitation, SecretBytes) {
        let fixture = try InvitationFixture()
        let store = try fixture.store()
        let (invitation, token) = try store.create(
            tenant: try TenantID("contoso"), kind: .onboarding, displayName: "Contoso", lifetimeSeconds: 3600, createdBy: "cli:a",
            now: now)
        _ = try store.create(
            tenant: try TenantID("fabrikam"), kind: .renewal, displayName: nil, lifetimeSeconds: 3600, createdBy: "cli:a", now: now)
        return (fixture, invitation, token)
    }

    func expectRefused(_ fixture: InvitationFixture, _ codes: Set<CertVaultError.Code> = [.invitationStoreCorrupt], token: SecretBytes) {
        do {
            _ = try fixture.store()
            Issue.record("an altered store was opened")
        } catch let error as CertVaultError {
            #expect(codes.contains(error.code), "\(error)")
            #expect(error.hint?.isEmpty == false)
            #expect(!error.description.contains(String(text(token).dropFirst(21))))
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test("Every single flipped byte is refused", arguments: [0, 20, 40, 60, 100, 150, 200, 300, -10, -2])
    func flippedByte(at position: Int) throws {
        let (fixture, _, token) = try storeWithInvitations()
        var bytes = try fixture.fileBytes()
        let index = position >= 0 ? min(position, bytes.count - 1) : bytes.count + position
        bytes[index] ^= 0x01
        try fixture.replaceFile(bytes)
        expectRefused(fixture, [.invitationStoreCorrupt, .invitationStoreWrongKey], token: token)
    }

    @Test("Reviving, extending or moving an invitation by editing the file is refused")
    func edited() throws {
        let (fixture, invitation, token) = try storeWithInvitations()
        try fixture.store().revoke(id: invitation.id, now: now + 1)
        let original = String(decoding: try fixture.fileBytes(), as: UTF8.self)
        for (from, to) in [
            ("\"status\":\"revoked\"", "\"status\":\"active\""), ("\"expiresAt\":\(now + 3600)", "\"expiresAt\":\(now + 9_999_999)"),
            ("\"tenant\":\"contoso\"", "\"tenant\":\"fabrikam\""),
        ] {
            #expect(original.contains(from))
            try fixture.replaceFile(Array(original.replacingOccurrences(of: from, with: to).utf8))
            expectRefused(fixture, token: token)
        }
    }

    @Test("An empty, truncated or foreign file is refused")
    func damaged() throws {
        let (fixture, _, token) = try storeWithInvitations()
        let original = try fixture.fileBytes()
        for bytes in [[], Array(original.prefix(original.count / 2)), Array(original.dropLast()), Array("hello\n".utf8)] {
            try fixture.replaceFile(bytes)
            expectRefused(fixture, token: token)
        }
    }

    @Test("Another vault's store is refused with its own error")
    func otherVault() throws {
        let (fixture, _, token) = try storeWithInvitations()
        let other = try InvitationFixture()
        try other.dir.write("vault/invitations", bytes: try fixture.fileBytes())
        chmod(other.storePath, 0o600)
        expectRefused(other, [.invitationStoreWrongKey], token: token)
    }

    @Test("The token store's file is not an invitation store, and the keys differ")
    func notATokenStore() throws {
        let fixture = try InvitationFixture()
        let tokens = try TokenStore(vault: fixture.vault)
        let issued = try tokens.create(name: "x", scopes: [.tenantsRead], tenants: nil, policy: nil, expires: nil, now: now)
        try fixture.dir.write("vault/invitations", bytes: Array(try Data(contentsOf: URL(fileURLWithPath: tokens.path))))
        chmod(fixture.storePath, 0o600)
        expectRefused(fixture, token: issued.token)
    }

    @Test("A store altered while the service holds it open makes every resolve fail, not succeed")
    func alteredWhileOpen() throws {
        let (fixture, _, token) = try storeWithInvitations()
        let service = try fixture.store()
        #expect(try service.resolve(token) != nil)
        var bytes = try fixture.fileBytes()
        bytes[bytes.count / 2] ^= 0x20
        try fixture.replaceFile(bytes)
        #expect(throws: CertVaultError.self) { try service.resolve(token) }
    }

    @Test("An older copy put back is refused by a process that read a newer one; a vanished store too")
    func rollback() throws {
        let (fixture, invitation, token) = try storeWithInvitations()
        let service = try fixture.store()
        let older = try fixture.fileBytes()
        try fixture.store().revoke(id: invitation.id, now: now + 1)
        #expect(try service.resolve(token)?.status == .revoked)
        try fixture.replaceFile(older)
        #expect(thrownError { try service.resolve(token) as Any }?.code == .invitationStoreRolledBack)
        #expect(thrownError { try service.list() }?.code == .invitationStoreRolledBack)
        try FileManager.default.removeItem(atPath: fixture.storePath)
        #expect(thrownError { try service.list() }?.code == .invitationStoreRolledBack)
    }
}
