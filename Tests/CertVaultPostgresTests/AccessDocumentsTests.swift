import CertVaultAccess
import CertVaultCore
import CertVaultPostgres
import CertVaultTesting
import Foundation
import Synchronization
import Testing

/// A second pool on the same database: another replica.
private func secondReplica(_ server: PostgresTestServer, _ name: String) throws -> PostgresDatabase {
    let settings = try PostgresSettings(url: server.url(database: name), password: .file(server.passwordFile), timeoutSeconds: 10)
    return try PostgresDatabase(settings: settings)
}

/// Runs `body(0..<count)` on `count` threads at once and waits for all of them.
private func concurrently(_ count: Int, _ body: @escaping @Sendable (Int) throws -> Void) throws {
    let errors = Mutex<[String]>([])
    let group = DispatchGroup()
    for index in 0..<count {
        group.enter()
        Thread.detachNewThread {
            defer { group.leave() }
            do { try body(index) } catch { errors.withLock { $0.append("\(error)") } }
        }
    }
    group.wait()
    let failures = errors.withLock { $0 }
    #expect(failures.isEmpty, "\(failures)")
}

@Suite("PostgreSQL: tokens and invitations in access_stores")
struct AccessDocumentsTests {
    @Test("Tokens created, resolved and revoked through the database; the row holds the token file's format")
    func tokenStoreRoundTrip() throws {
        guard let (database, server, name) = try testDatabase() else { return }
        defer { database.shutdown() }
        try database.migrate()
        let key = SecretBytes.random(count: 32)
        let store = try TokenStore(backend: PostgresAccessDocuments(database: database, store: .tokens), key: key)
        let issued = try store.create(name: "restore-tooling", scopes: [.credentialsRead], tenants: nil, policy: nil, expires: nil)
        #expect(try store.grant(for: issued.token, now: UTCTime.now())?.accessor == issued.info.accessor)

        // The same bytes a file would hold: the file backend reads them with the same key.
        let hex = try server.psql(database: name, "SELECT encode(bytes, 'hex') FROM access_stores WHERE name = 'tokens'")
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let folder = try TemporaryDirectory()
        let file = try folder.write("tokens", String(decoding: try Self.bytes(hex: hex), as: UTF8.self))
        #expect(String(decoding: try Self.bytes(hex: hex), as: UTF8.self).hasPrefix("certvault-tokens v1\nrevision 1\n"))
        let fromFile = try TokenStore(path: file, key: key)
        #expect(try fromFile.list().map(\.accessor) == [issued.info.accessor])
        #expect(try fromFile.grant(for: issued.token, now: UTCTime.now()) != nil)

        // A second replica sees the revocation at its next request.
        let other = try secondReplica(server, name)
        defer { other.shutdown() }
        let replica = try TokenStore(backend: PostgresAccessDocuments(database: other, store: .tokens), key: key)
        #expect(try replica.grant(for: issued.token, now: UTCTime.now()) != nil)
        try store.revoke(accessor: issued.info.accessor)
        #expect(try replica.grant(for: issued.token, now: UTCTime.now()) == nil)
    }

    @Test("Two replicas creating tokens at once lose none of them")
    func concurrentCreatesLoseNothing() throws {
        guard let (database, server, name) = try testDatabase() else { return }
        defer { database.shutdown() }
        try database.migrate()
        let other = try secondReplica(server, name)
        defer { other.shutdown() }
        let key = SecretBytes.random(count: 32)
        let stores = [
            try TokenStore(backend: PostgresAccessDocuments(database: database, store: .tokens), key: key),
            try TokenStore(backend: PostgresAccessDocuments(database: other, store: .tokens), key: key),
        ]
        let perThread = 10
        let created = Mutex<[String]>([])
        try concurrently(6) { thread in
            for number in 0..<perThread {
                let token = try stores[thread % 2].create(
                    name: "t\(thread)-\(number)", scopes: [.tenantsRead], tenants: nil, policy: nil, expires: nil)
                created.withLock { $0.append(token.info.accessor) }
            }
        }
        let expected = Set(created.withLock { $0 })
        #expect(expected.count == 6 * perThread)
        for store in stores {
            #expect(Set(try store.list().map(\.accessor)) == expected)
        }
        let revision = try server.psql(database: name, "SELECT revision FROM access_stores WHERE name = 'tokens'")
        #expect(revision.trimmingCharacters(in: .whitespacesAndNewlines) == "\(6 * perThread)", "one revision per change")
    }

    @Test("An edited row is refused as an edited file is: nothing is granted")
    func tamperedRowRefused() throws {
        guard let (database, server, name) = try testDatabase() else { return }
        defer { database.shutdown() }
        try database.migrate()
        let key = SecretBytes.random(count: 32)
        let store = try TokenStore(backend: PostgresAccessDocuments(database: database, store: .tokens), key: key)
        let issued = try store.create(name: "ci", scopes: [.tenantsRead], tenants: nil, policy: nil, expires: nil)
        // Widen the token's scopes in the row, as someone with database access but no root key could.
        try server.psql(database: name, """
            UPDATE access_stores SET bytes = convert_to(replace(convert_from(bytes, 'UTF8'), '"tenants:read"', '"credentials:read"'), 'UTF8'),
            revision = revision + 1 WHERE name = 'tokens'
            """)
        let error = try #require(throws: CertVaultError.self) { try store.grant(for: issued.token, now: UTCTime.now()) }
        #expect(error.code == .tokenStoreCorrupt)
        let reopened = try #require(throws: CertVaultError.self) {
            try TokenStore(backend: PostgresAccessDocuments(database: database, store: .tokens), key: key)
        }
        #expect(reopened.code == .tokenStoreCorrupt)
    }

    @Test("An older copy of the row put back is refused as a rollback")
    func rolledBackRowRefused() throws {
        guard let (database, server, name) = try testDatabase() else { return }
        defer { database.shutdown() }
        try database.migrate()
        let key = SecretBytes.random(count: 32)
        let store = try TokenStore(backend: PostgresAccessDocuments(database: database, store: .tokens), key: key)
        let issued = try store.create(name: "ci", scopes: [.tenantsRead], tenants: nil, policy: nil, expires: nil)
        try server.psql(database: name, "CREATE TABLE saved AS SELECT bytes FROM access_stores WHERE name = 'tokens'")
        try store.revoke(accessor: issued.info.accessor)
        try server.psql(database: name, "UPDATE access_stores SET bytes = (SELECT bytes FROM saved), revision = revision + 1 WHERE name = 'tokens'")
        let error = try #require(throws: CertVaultError.self) { try store.grant(for: issued.token, now: UTCTime.now()) }
        #expect(error.code == .tokenStoreRolledBack)
    }

    @Test("Invitations sent again for one tenant by two replicas at once leave exactly one live link")
    func oneLiveInvitationAcrossReplicas() throws {
        guard let (database, server, name) = try testDatabase() else { return }
        defer { database.shutdown() }
        try database.migrate()
        let other = try secondReplica(server, name)
        defer { other.shutdown() }
        let key = SecretBytes.random(count: 32)
        let stores = [
            try InvitationStore(backend: PostgresAccessDocuments(database: database, store: .invitations), key: key),
            try InvitationStore(backend: PostgresAccessDocuments(database: other, store: .invitations), key: key),
        ]
        let tenant = try TenantID("contoso")
        let now = UTCTime.now()
        try concurrently(8) { thread in
            _ = try stores[thread % 2].createReplacingActive(
                tenant: tenant, kind: .onboarding, displayName: nil, lifetimeSeconds: 86_400, createdBy: "cli:test", now: now)
        }
        for store in stores {
            let all = try store.list()
            #expect(all.count == 8)
            #expect(all.filter { $0.isUsable(now: now) }.count == 1)
        }
        // Completed from both replicas at once: completed once, the first time kept.
        let live = try #require(try stores[0].list().first { $0.isUsable(now: now) })
        try concurrently(2) { thread in _ = try stores[thread].markCompleted(id: live.id, now: now + Int64(thread)) }
        let completed = try #require(try stores[1].invitation(id: live.id))
        #expect(completed.status == .completed)
        #expect(completed.completedAt == now || completed.completedAt == now + 1)
        #expect(try stores[0].invitation(id: live.id)?.completedAt == completed.completedAt)
    }

    static func bytes(hex: String) throws -> [UInt8] {
        let digits = Array(hex.utf8)
        try #require(digits.count % 2 == 0)
        return stride(from: 0, to: digits.count, by: 2).map { UInt8(String(decoding: digits[$0..<$0 + 2], as: UTF8.self), radix: 16)! }
    }
}
