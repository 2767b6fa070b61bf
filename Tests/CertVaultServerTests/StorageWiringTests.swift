import CertVaultAccess
import CertVaultConfiguration
import CertVaultCore
import CertVaultOnboarding
import CertVaultServer
import CertVaultTesting
import CertVaultWebhooks
import Foundation
import Logging
import Testing

@Suite("Storage: [storage] decides where serve and the CLI keep tokens, invitations, onboarding records and the outbox")
struct StorageWiringTests {
    @Test("[storage] backend = postgres: one migrated database; tokens, invitations, records and the outbox are in it")
    func postgresBackendOpensEveryStoreInTheDatabase() throws {
        if let reason = PostgresTestServer.unavailableReason {
            if TestEnvironment.toolsRequired { Issue.record("PostgreSQL is required here (CERTVAULT_REQUIRE_TOOLS=1): \(reason)") }
            return
        }
        let server = try PostgresTestServer.shared()
        let name = try server.makeDatabase()
        let world = try APIWorld()
        var configuration = world.services.configuration
        configuration.storage.backend = .postgres
        configuration.storage.url = server.url(database: name)
        configuration.storage.password = .file(server.passwordFile)
        configuration.storage.timeoutSeconds = 5
        let storage = try ServiceStorage.open(configuration, logger: APIWorld.logger)
        defer { storage.shutdown() }
        #expect(storage.isShared)
        let version = try server.psql(database: name, "SELECT max(version) FROM certvault_schema")
        #expect(version.trimmingCharacters(in: .whitespacesAndNewlines) == "1", "migrated at open")

        let tokens = try storage.tokenStore(vault: try world.vault(), logger: APIWorld.logger)
        _ = try tokens.create(name: "ops", scopes: [.tenantsRead], tenants: nil, policy: nil, expires: nil)
        let invitations = try storage.invitationStore(vault: try world.vault())
        _ = try invitations.create(tenant: try TenantID("contoso"), kind: .onboarding, displayName: nil, lifetimeSeconds: 3_600,
                                   createdBy: "cli:test", now: UTCTime.now())
        let rows = try server.psql(database: name, "SELECT string_agg(name, ',' ORDER BY name) FROM access_stores")
        #expect(rows.trimmingCharacters(in: .whitespacesAndNewlines) == "invitations,tokens")
        // Nothing written beside the vault.
        #expect(!FileManager.default.fileExists(atPath: world.dir.file("vault/tokens")))
        #expect(!FileManager.default.fileExists(atPath: world.dir.file("vault/invitations")))

        let records = try storage.onboardingStore(folder: world.dir.file("unused"))
        #expect(!records.folder.hasPrefix("/"), "a database location, not a folder: \(records.folder)")
        let outbox = try storage.webhookOutbox(path: world.dir.file("unused-outbox"), receivers: ["https://hooks.example.net/x"],
                                               logger: APIWorld.logger)
        try outbox.record(LifecycleEvent(kind: .test, tenant: nil, occurredAt: UTCTime.dateTime(UTCTime.now())))
        let pending = try server.psql(database: name, "SELECT count(*) FROM webhook_outbox")
        #expect(pending.trimmingCharacters(in: .whitespacesAndNewlines) == "1")
        #expect(storage.jobLease(JobLease.onboardingWorker, logger: APIWorld.logger) != nil)
    }

    @Test("[storage] backend = files (the default): the files beside the vault, no database, no job lease")
    func filesBackendKeepsTheFiles() throws {
        let world = try APIWorld()
        let storage = try ServiceStorage.open(world.services.configuration, logger: APIWorld.logger)
        #expect(!storage.isShared)
        let tokens = try storage.tokenStore(vault: try world.vault(), logger: APIWorld.logger)
        #expect(tokens.path == world.dir.file("vault/tokens"))
        #expect(try storage.invitationStore(vault: try world.vault()).path == world.dir.file("vault/invitations"))
        #expect(storage.jobLease(JobLease.onboardingWorker, logger: APIWorld.logger) == nil)
        try storage.check()
    }
}
