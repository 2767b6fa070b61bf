import CertVaultAccess
import CertVaultCore
import CertVaultPostgres
import CertVaultServer
import CertVaultTesting
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

/// The service on PostgreSQL while its database goes away and comes back.
@Suite("Storage on PostgreSQL: the database restarted during work", .serialized)
struct StorageRestartTests {
    static let timeoutSeconds = 2

    @Test("Requests succeed, answer 503 storage-unavailable with Retry-After while the database is down, succeed again after; nothing acknowledged is lost")
    func databaseRestartedDuringWork() async throws {
        if let reason = PostgresTestServer.unavailableReason {
            if TestEnvironment.toolsRequired { Issue.record("PostgreSQL is required here (CERTVAULT_REQUIRE_TOOLS=1): \(reason)") }
            return
        }
        let server = try PostgresTestServer.start()
        defer { server.kill() }
        let name = try server.makeDatabase()
        let settings = try PostgresSettings(url: server.url(database: name), password: .file(server.passwordFile),
                                            timeoutSeconds: Self.timeoutSeconds)
        let database = try PostgresDatabase(settings: settings)
        defer { database.shutdown() }
        let storage = ServiceStorage(database: database)
        try database.migrate()

        // The world's vault, tokens and invitations in the database, as 'serve' opens them with [storage] postgres.
        let world = try APIWorld()
        var services = world.services
        let tokens = try storage.tokenStore(vault: try world.vault(), logger: APIWorld.logger)
        services.tokens = tokens
        services.invitations = try storage.invitationStore(vault: try world.vault())
        services.storage = storage
        let writer = try tokens.create(name: "writer", scopes: [.onboardingWrite, .onboardingRead], tenants: nil, policy: nil,
                                       expires: nil).token.withUnsafeBytes { String(decoding: $0, as: UTF8.self) }
        let app = Application(router: buildRouter(services: services, logger: APIWorld.logger), logger: APIWorld.logger)

        try await app.test(.router) { client in
            var acknowledged: [String] = []
            for tenant in ["contoso", "fabrikam", "northwind"] {
                let response = try await client.call(.post, "/v1/invitations", token: writer, json: #"{"tenant":"\#(tenant)"}"#)
                #expect(response.status == .created)
                acknowledged.append(try #require(response.object["id"] as? String))
            }
            #expect(try await client.call(.get, "/readyz").status == .ok)

            try server.stop()
            for (method, uri, json) in [
                (HTTPRequest.Method.get, "/v1/invitations", nil as String?),
                (.post, "/v1/invitations", #"{"tenant":"litware"}"#),
            ] {
                let started = Date()
                let response = try await client.call(method, uri, token: writer, json: json)
                let elapsed = Date().timeIntervalSince(started)
                #expect(response.status == .serviceUnavailable, "\(method) \(uri)")
                #expect(response.code == "storage-unavailable")
                #expect(response.headers[.contentType] == "application/problem+json")
                #expect(response.headers[.retryAfter] == Problem.storageRetryAfterSeconds)
                // Not a timing goal (those live in benchmarks): the request is answered instead of hanging
                // until the client gives up. A loaded CI machine can take several timeouts' worth.
                #expect(elapsed < 120, "answered, not left hanging (\(elapsed) s)")
            }
            let ready = try await client.call(.get, "/readyz")
            #expect(ready.status == .serviceUnavailable)
            #expect((ready.object["detail"] as? String)?.hasPrefix("storage: ") == true)

            try server.restart()
            var back = false
            for _ in 0..<40 where !back {
                back = try await client.call(.get, "/v1/invitations", token: writer).status == .ok
                if !back { try await Task.sleep(for: .milliseconds(500)) }
            }
            #expect(back, "requests succeed again once the database is back")
            let listed = try await client.call(.get, "/v1/invitations", token: writer)
            let ids = Set(((listed.object["invitations"] as? [[String: Any]]) ?? []).compactMap { $0["id"] as? String })
            #expect(Set(acknowledged).isSubset(of: ids), "every acknowledged invitation is still there")
            let after = try await client.call(.post, "/v1/invitations", token: writer, json: #"{"tenant":"litware"}"#)
            #expect(after.status == .created)
            #expect(try await client.call(.get, "/readyz").status == .ok)
        }
    }
}
