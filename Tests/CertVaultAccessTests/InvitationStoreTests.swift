import CertVaultAccess
import CertVaultCore
import CertVaultTesting
import CertVaultVault
import Foundation
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A vault in a temporary folder and the path of its invitation store.
struct InvitationFixture {
    let dir: TemporaryDirectory
    let vault: Vault
    var storePath: String { InvitationStore.defaultPath(vault: vault.path) }

    init() throws {
        dir = try TemporaryDirectory()
        vault = try Vault.create(at: dir.file("vault"), protection: .keyFile(path: dir.file("vault-key/root.key")))
    }

    func store() throws -> InvitationStore { try InvitationStore(path: storePath, vault: vault) }

    func fileBytes() throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: storePath))) }

    func replaceFile(_ bytes: [UInt8]) throws {
        try FileManager.default.removeItem(atPath: storePath)
        try dir.write("vault/invitations", bytes: bytes)
        chmod(storePath, 0o600)
    }
}

func containsBytes(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
    guard !needle.isEmpty, haystack.count >= needle.count else { return false }
    return (0...(haystack.count - needle.count)).contains { haystack[$0..<($0 + needle.count)].elementsEqual(needle) }
}

@Suite("Invitations: creation, storage, resolving, revocation, completion")
struct InvitationStoreTests {
    let now: Int64 = 1_800_000_000
    let week: Int64 = 7 * 86_400

    @Test("An invitation token is cvi_, its 16-hex-digit id, '_' and 43 URL-safe base64 characters (256 bits); no two alike")
    func format() throws {
        let fixture = try InvitationFixture()
        let store = try fixture.store()
        var seen = Set<String>()
        for index in 0..<20 {
            let (invitation, token) = try store.create(
                tenant: try TenantID("contoso\(index)"), kind: .onboarding, displayName: nil, lifetimeSeconds: week,
                createdBy: "cli:alice", now: now)
            let tokenText = text(token)
            #expect(tokenText.count == 64)
            #expect(tokenText.hasPrefix("cvi_\(invitation.id)_"))
            #expect(InvitationText.isValidID(invitation.id))
            let secretPart = tokenText.dropFirst(21)
            #expect(secretPart.count == 43)
            let padded = secretPart.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/") + "="
            #expect(Data(base64Encoded: padded)?.count == 32)
            #expect(seen.insert(tokenText).inserted)
            #expect(try InvitationText.id(of: token) == invitation.id)
        }
    }

    @Test("create records tenant, kind, name, creator and times; resolve finds it by its token")
    func createAndResolve() throws {
        let fixture = try InvitationFixture()
        let store = try fixture.store()
        let (invitation, token) = try store.create(
            tenant: try TenantID("contoso"), kind: .renewal, displayName: "Contoso Ltd", lifetimeSeconds: week,
            createdBy: "0123456789abcdef", now: now)
        #expect(invitation.tenant.rawValue == "contoso")
        #expect(invitation.kind == .renewal)
        #expect(invitation.displayName == "Contoso Ltd")
        #expect(invitation.createdBy == "0123456789abcdef")
        #expect(invitation.createdAt == now)
        #expect(invitation.expiresAt == now + week)
        #expect(invitation.status == .active)
        #expect(invitation.completedAt == nil && invitation.revokedAt == nil)
        #expect(try store.resolve(token) == invitation)
        // Another process (a new handle) sees it too, by token, by id and in the list.
        let other = try fixture.store()
        #expect(try other.resolve(token) == invitation)
        #expect(try other.invitation(id: invitation.id) == invitation)
        #expect(try other.list() == [invitation])
    }

    @Test("list returns every invitation oldest first, whatever its status")
    func listing() throws {
        let fixture = try InvitationFixture()
        let store = try fixture.store()
        var ids: [String] = []
        for (index, tenant) in ["alpha", "beta", "gamma"].enumerated() {
            ids.append(
                try store.create(
                    tenant: try TenantID(tenant), kind: .onboarding, displayName: nil, lifetimeSeconds: 60, createdBy: "cli:a",
                    now: now + Int64(index)
                ).invitation.id)
        }
        try store.revoke(id: ids[0], now: now + 10)
        try store.markCompleted(id: ids[1], now: now + 10)
        let listed = try store.list()
        #expect(listed.map(\.id) == ids)
        #expect(listed.map(\.status) == [.revoked, .completed, .active])
        #expect(listed[2].displayState(now: now + 100) == "expired")
    }

    @Test("Usable while active and before expiry; not at or after the expiry; resolve still names an expired one")
    func expiry() throws {
        let fixture = try InvitationFixture()
        let store = try fixture.store()
        let (invitation, token) = try store.create(
            tenant: try TenantID("contoso"), kind: .onboarding, displayName: nil, lifetimeSeconds: 3600, createdBy: "cli:a", now: now)
        #expect(invitation.isUsable(now: now))
        #expect(invitation.isUsable(now: now + 3599))
        #expect(!invitation.isUsable(now: now + 3600))
        #expect(!invitation.isUsable(now: now + 86_400))
        let resolved = try #require(try store.resolve(token))
        #expect(!resolved.isUsable(now: now + 3600))
        #expect(!resolved.showsDonePage(now: now + 3600))
        #expect(resolved.displayState(now: now + 3600) == "expired")
    }

    @Test("A wrong secret, another invitation's secret, unknown ids and malformed text resolve to nothing")
    func wrongSecret() throws {
        let fixture = try InvitationFixture()
        let store = try fixture.store()
        let (first, firstToken) = try store.create(
            tenant: try TenantID("contoso"), kind: .onboarding, displayName: nil, lifetimeSeconds: week, createdBy: "cli:a", now: now)
        let (_, secondToken) = try store.create(
            tenant: try TenantID("fabrikam"), kind: .onboarding, displayName: nil, lifetimeSeconds: week, createdBy: "cli:a", now: now)
        let good = text(firstToken)
        var flipped = Array(good.utf8)
        flipped[40] = flipped[40] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        let spliced = "cvi_\(first.id)_" + text(secondToken).dropFirst(21)
        let unknownID = "cvi_0000000000000000_" + good.dropFirst(21)
        for candidate in [
            String(decoding: flipped, as: UTF8.self), spliced, unknownID, "", "cvi_", String(good.dropLast()), good + "A",
            good.uppercased(), good.replacingOccurrences(of: "cvi_", with: "cvt_"), "<script>alert(1)</script>",
        ] {
            #expect(try store.resolve(secret(candidate)) == nil, "\(candidate.count) characters")
        }
        #expect(try store.resolve(firstToken)?.id == first.id)
    }

    @Test(
        "Malformed token text is refused with a clear error that does not repeat it",
        arguments: [
            ("cvi_short", "characters long"), ("cvt_0123456789abcdef_" + String(repeating: "A", count: 43), "'cvi_'"),
            ("cvi_0123456789ABCDEF_" + String(repeating: "A", count: 43), "hex digits"),
            ("cvi_0123456789abcdef_" + String(repeating: "A", count: 42) + "=", "secret part"),
        ])
    func malformedText(candidate: String, reason: String) throws {
        let error = thrownError { try InvitationText.id(of: secret(candidate)) }
        #expect(error?.code == .malformedInvitationToken)
        #expect(error?.reason.contains(reason) == true, "\(String(describing: error))")
        #expect(error?.hint?.isEmpty == false)
        #expect(error.map { !$0.description.contains(candidate) } == true)
    }

    @Test("Revoking kills the link for every handle at once; the record stays; revoking again changes nothing")
    func revoke() throws {
        let fixture = try InvitationFixture()
        let service = try fixture.store()
        let (invitation, token) = try service.create(
            tenant: try TenantID("contoso"), kind: .onboarding, displayName: nil, lifetimeSeconds: week, createdBy: "cli:a", now: now)
        let revoked = try fixture.store().revoke(id: invitation.id, now: now + 5)
        #expect(revoked.status == .revoked)
        #expect(revoked.revokedAt == now + 5)
        let seen = try #require(try service.resolve(token))
        #expect(seen.status == .revoked)
        #expect(!seen.isUsable(now: now + 6))
        #expect(!seen.showsDonePage(now: now + 6))
        let before = try fixture.fileBytes()
        #expect(try service.revoke(id: invitation.id, now: now + 50) == revoked)
        #expect(try fixture.fileBytes() == before)
        // Completing a revoked invitation does not bring it back.
        #expect(try service.markCompleted(id: invitation.id, now: now + 60).status == .revoked)
    }

    @Test("Revoking an unknown id is a clear error; a token given as the id is refused without being repeated")
    func revokeUnknown() throws {
        let fixture = try InvitationFixture()
        let store = try fixture.store()
        let (_, token) = try store.create(
            tenant: try TenantID("contoso"), kind: .onboarding, displayName: nil, lifetimeSeconds: week, createdBy: "cli:a", now: now)
        let unknown = thrownError { try store.revoke(id: "0000000000000000", now: now) }
        #expect(unknown?.code == .invitationNotFound)
        #expect(unknown?.hint?.contains("invitation list") == true)
        #expect(thrownError { try store.markCompleted(id: "ffffffffffffffff", now: now) }?.code == .invitationNotFound)
        let asID = thrownError { try store.revoke(id: text(token), now: now) }
        #expect(asID?.code == .invalidInput)
        #expect(asID.map { !$0.description.contains(String(text(token).dropFirst(21))) } == true)
    }

    @Test("Completion: only the done page shows, for 15 minutes after; completing again keeps the first time")
    func completion() throws {
        let fixture = try InvitationFixture()
        let store = try fixture.store()
        let (invitation, token) = try store.create(
            tenant: try TenantID("contoso"), kind: .onboarding, displayName: nil, lifetimeSeconds: week, createdBy: "cli:a", now: now)
        #expect(!invitation.showsDonePage(now: now))
        let done = try store.markCompleted(id: invitation.id, now: now + 100)
        #expect(done.status == .completed)
        #expect(done.completedAt == now + 100)
        let resolved = try #require(try store.resolve(token))
        #expect(!resolved.isUsable(now: now + 101))
        #expect(resolved.showsDonePage(now: now + 100))
        #expect(resolved.showsDonePage(now: now + 100 + 899))
        #expect(!resolved.showsDonePage(now: now + 100 + 900))
        #expect(try store.markCompleted(id: invitation.id, now: now + 500).completedAt == now + 100)
        // A completed invitation is not turned into a revoked one.
        #expect(try store.revoke(id: invitation.id, now: now + 600).status == .completed)
    }

    @Test("The file is 0600 in a 0700 folder, and a store readable by others is refused")
    func modes() throws {
        let fixture = try InvitationFixture()
        _ = try fixture.store().create(
            tenant: try TenantID("contoso"), kind: .onboarding, displayName: nil, lifetimeSeconds: week, createdBy: "cli:a", now: now)
        #expect(try TemporaryDirectory.mode(fixture.storePath) == 0o600)
        #expect(try TemporaryDirectory.mode(fixture.dir.file("vault")) == 0o700)
        let elsewhere = fixture.dir.file("service/state/invitations")
        _ = try InvitationStore(path: elsewhere, vault: fixture.vault).create(
            tenant: try TenantID("contoso"), kind: .onboarding, displayName: nil, lifetimeSeconds: week, createdBy: "cli:a", now: now)
        #expect(try TemporaryDirectory.mode(elsewhere) == 0o600)
        #expect(try TemporaryDirectory.mode(fixture.dir.file("service/state")) == 0o700)
        chmod(fixture.storePath, 0o644)
        #expect(thrownError { try fixture.store() }?.code == .insecurePermissions)
    }

    @Test("Nothing secret on disk: the token, its secret part and their encodings are not in the file; the id and a hash are")
    func onlyHashStored() throws {
        let fixture = try InvitationFixture()
        let store = try fixture.store()
        let (invitation, token) = try store.create(
            tenant: try TenantID("contoso"), kind: .onboarding, displayName: "Contoso", lifetimeSeconds: week, createdBy: "cli:a",
            now: now)
        let tokenText = text(token)
        let secretPart = String(tokenText.dropFirst(21))
        let padded = secretPart.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/") + "="
        let raw = try #require(Data(base64Encoded: padded))
        var files = [try fixture.fileBytes()]
        for name in PrivateFiles.names(in: fixture.dir.file("vault")) where name.hasPrefix("invitations") || name.hasPrefix(".invitations")
        {
            files.append(Array(try Data(contentsOf: URL(fileURLWithPath: fixture.dir.file("vault/\(name)")))))
        }
        for file in files {
            for needle in [
                Array(tokenText.utf8), Array(secretPart.utf8), Array(raw), Array(Hex.lower(raw).utf8), Array(Hex.upper(raw).utf8),
                Array(secretPart.prefix(16).utf8),
            ] {
                #expect(!containsBytes(file, needle))
            }
        }
        #expect(containsBytes(files[0], Array(invitation.id.utf8)))
        #expect(!"\(try store.list())".contains(secretPart))
    }

    @Test("create refuses a bad display name or creator, and a lifetime of zero, negative or past 90 days")
    func refusals() throws {
        let fixture = try InvitationFixture()
        let store = try fixture.store()
        let tenant = try TenantID("contoso")
        for name in ["", " padded", "line\nbreak", String(repeating: "x", count: 121)] {
            #expect(
                thrownError {
                    try store.create(
                        tenant: tenant, kind: .onboarding, displayName: name, lifetimeSeconds: 60, createdBy: "cli:a", now: now)
                }?.code == .invalidInput)
        }
        #expect(
            thrownError {
                try store.create(tenant: tenant, kind: .onboarding, displayName: nil, lifetimeSeconds: 60, createdBy: "", now: now)
            }?.code == .invalidInput)
        for lifetime: Int64 in [0, -1, 90 * 86_400 + 1] {
            let error = thrownError {
                try store.create(
                    tenant: tenant, kind: .onboarding, displayName: nil, lifetimeSeconds: lifetime, createdBy: "cli:a", now: now)
            }
            #expect(error?.code == .invalidInput)
            #expect(error?.hint?.isEmpty == false)
        }
        #expect(try store.list().isEmpty)
        _ = try store.create(
            tenant: tenant, kind: .onboarding, displayName: nil, lifetimeSeconds: 90 * 86_400, createdBy: "cli:a", now: now)
    }

    @Test("createReplacingActive revokes the tenant's live invitations of the same kind, and nothing else")
    func replacing() throws {
        let fixture = try InvitationFixture()
        let store = try fixture.store()
        let contoso = try TenantID("contoso")
        func make(_ tenant: TenantID, _ kind: Invitation.Kind, lifetime: Int64 = 3600) throws -> Invitation {
            try store.create(tenant: tenant, kind: kind, displayName: nil, lifetimeSeconds: lifetime, createdBy: "cli:a", now: now)
                .invitation
        }
        let live = try make(contoso, .onboarding)
        let expired = try make(contoso, .onboarding, lifetime: 10)
        let renewal = try make(contoso, .renewal)
        let other = try make(try TenantID("fabrikam"), .onboarding)
        let (newer, token, replaced) = try store.createReplacingActive(
            tenant: contoso, kind: .onboarding, displayName: "Contoso", lifetimeSeconds: 3600, createdBy: "cli:b", now: now + 60)
        #expect(replaced.map(\.id) == [live.id])
        #expect(replaced.first?.status == .revoked && replaced.first?.revokedAt == now + 60)
        #expect(try store.invitation(id: live.id)?.status == .revoked)
        for untouched in [expired, renewal, other] { #expect(try store.invitation(id: untouched.id)?.status == .active) }
        #expect(try store.resolve(token)?.id == newer.id)
        #expect(newer.isUsable(now: now + 60))
    }

    @Test("Two handles creating invitations at the same time lose none (writers take the store's lock and re-read)")
    func concurrentWriters() throws {
        let fixture = try InvitationFixture()
        let handles = [try fixture.store(), try fixture.store()]
        let failures = Mutex(0)
        let now = self.now
        DispatchQueue.concurrentPerform(iterations: 20) { index in
            do {
                _ = try handles[index % 2].create(
                    tenant: try TenantID("t\(index)"), kind: .onboarding, displayName: nil, lifetimeSeconds: 60, createdBy: "cli:a",
                    now: now)
            } catch {
                failures.withLock { $0 += 1 }
            }
        }
        #expect(failures.withLock { $0 } == 0)
        let listed = try fixture.store().list()
        #expect(listed.count == 20)
        #expect(Set(listed.map(\.tenant)).count == 20)
    }
}
