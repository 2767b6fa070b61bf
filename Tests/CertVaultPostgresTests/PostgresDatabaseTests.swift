import CertVaultCore
import CertVaultPostgres
import CertVaultTesting
import Foundation
import Testing

/// A database of its own on the shared test server, or nil (the test then skips, or fails in CI).
func testDatabase(_ comment: String = "") throws -> (PostgresDatabase, PostgresTestServer, String)? {
    if let reason = PostgresTestServer.unavailableReason {
        if TestEnvironment.toolsRequired { Issue.record("PostgreSQL is required here (CERTVAULT_REQUIRE_TOOLS=1): \(reason)") }
        return nil
    }
    let server = try PostgresTestServer.shared()
    let name = try server.makeDatabase()
    let settings = try PostgresSettings(url: server.url(database: name), password: .file(server.passwordFile), timeoutSeconds: 10)
    return (try PostgresDatabase(settings: settings), server, name)
}

@Suite("PostgreSQL: the connection, the schema and its failures")
struct PostgresDatabaseTests {
    @Test("Migrations create every table once; running them again changes nothing")
    func migrationsAreIdempotent() throws {
        guard let (database, server, name) = try testDatabase() else { return }
        defer { database.shutdown() }
        #expect(try database.migrate() == 1)
        #expect(try database.migrate() == 1)
        let tables = try server.psql(database: name, "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE schemaname = 'public'")
        #expect(tables.trimmingCharacters(in: .whitespacesAndNewlines)
                == "access_stores,certvault_schema,leases,onboarding_records,vault_audit,vault_blobs,vault_entries,webhook_outbox")
        let versions = try server.psql(database: name, "SELECT count(*) FROM certvault_schema")
        #expect(versions.trimmingCharacters(in: .whitespacesAndNewlines) == "1")
    }

    @Test("A schema newer than this program is refused with a clear error")
    func newerSchemaRefused() throws {
        guard let (database, server, name) = try testDatabase() else { return }
        defer { database.shutdown() }
        try database.migrate()
        try server.psql(database: name, "INSERT INTO certvault_schema (version, description) VALUES (99, 'from the future')")
        let error = try #require(throws: CertVaultError.self) { try database.migrate() }
        #expect(error.code == .storageUnavailable)
        #expect(error.reason.contains("version 99"))
    }

    @Test("A wrong password fails with storage-unavailable and never shows the password")
    func wrongPassword() throws {
        guard let (_, server, name) = try testDatabase() else { return }
        let folder = try TemporaryDirectory()
        let wrong = try folder.write("password", "not-the-password-1234")
        let settings = try PostgresSettings(url: server.url(database: name), password: .file(wrong), timeoutSeconds: 5)
        let database = try PostgresDatabase(settings: settings)
        defer { database.shutdown() }
        let error = try #require(throws: CertVaultError.self) { try database.ping() }
        #expect(error.code == .storageUnavailable)
        #expect(!error.description.contains("not-the-password-1234"))
    }

    @Test("A stopped server gives storage-unavailable within the timeout; a restarted one answers again")
    func serverRestart() throws {
        if let reason = PostgresTestServer.unavailableReason {
            if TestEnvironment.toolsRequired { Issue.record("PostgreSQL is required here: \(reason)") }
            return
        }
        let server = try PostgresTestServer.start()
        defer { server.kill() }
        let name = try server.makeDatabase()
        let settings = try PostgresSettings(url: server.url(database: name), password: .file(server.passwordFile), timeoutSeconds: 3)
        let database = try PostgresDatabase(settings: settings)
        defer { database.shutdown() }
        try database.migrate()
        try server.stop()
        let started = Date()
        let error = try #require(throws: CertVaultError.self) { try database.ping() }
        #expect(error.code == .storageUnavailable)
        #expect(Date().timeIntervalSince(started) < 30)
        try server.restart()
        var answered = false
        for _ in 0..<20 where !answered {
            answered = (try? database.ping()) != nil
            if !answered { Thread.sleep(forTimeInterval: 0.5) }
        }
        #expect(answered)
    }

    @Test("URLs: a password, a missing database, plain TCP to a remote host are refused")
    func urls() throws {
        #expect(throws: CertVaultError.self) { try PostgresSettings(url: "postgres://u:secret@db/x", password: nil) }
        #expect(throws: CertVaultError.self) { try PostgresSettings(url: "postgres://u@db", password: nil) }
        #expect(throws: CertVaultError.self) { try PostgresSettings(url: "postgres://u@db.example/x?sslmode=disable", password: nil) }
        #expect(throws: CertVaultError.self) { try PostgresSettings(url: "https://u@db/x", password: nil) }
        let settings = try PostgresSettings(url: "postgres://certvault@127.0.0.1:5433/vault?sslmode=disable", password: nil)
        #expect(settings.port == 5433 && settings.database == "vault" && settings.tls == .disable)
        #expect(settings.displayURL == "postgres://certvault@127.0.0.1:5433/vault?sslmode=disable")
        let remote = try PostgresSettings(url: "postgres://certvault@db.example/vault", password: nil)
        #expect(remote.tls == .verifyFull && remote.port == 5432)
    }
}
