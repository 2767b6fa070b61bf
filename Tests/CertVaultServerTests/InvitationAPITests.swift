import CertVaultAccess
import CertVaultConfiguration
import CertVaultCore
import CertVaultServer
import CertVaultTesting
import CertVaultVault
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import Synchronization
import Testing

@Suite("The invitation routes: create, list, revoke, scoped to the token's tenants", .serialized)
struct InvitationAPITests {
    /// The token of a created invitation's url.
    static func token(of response: TestResponse) throws -> String {
        let url = try #require(response.object["url"] as? String)
        return String(try #require(url.split(separator: "/").last))
    }

    static func secret(_ text: String) -> SecretBytes { Array(text.utf8).withUnsafeBytes { SecretBytes(copying: $0) } }

    static func auditRecords(_ world: APIWorld, action: String) throws -> [AuditLog.Record] {
        try world.vault().auditRecords().records.filter { $0.action == action }
    }

    @Test(
        "POST /v1/invitations: 201 with the link PUBLIC_URL/onboard/TOKEN once; the store keeps a hash; the audit log the id, tenant, kind, expiry and token"
    )
    func create() async throws {
        let world = try APIWorld()
        let store = try #require(world.services.invitations)
        let writer = try world.tokens.add(scopes: [.onboardingWrite])
        let before = UTCTime.now()
        try await world.app().test(.router) { client in
            let response = try await client.call(
                .post, "/v1/invitations", token: writer,
                json: #"{"tenant":"fabrikam","displayName":"Fabrikam <b>Ltd</b>","expiresInDays":3}"#)
            #expect(response.status == .created)
            #expect(response.headers[.cacheControl] == "no-store")
            let object = response.object
            let id = try #require(object["id"] as? String)
            #expect(response.headers[.location] == "/v1/invitations/\(id)")
            let url = try #require(object["url"] as? String)
            #expect(url.hasPrefix(world.services.configuration.portalPublicURL + "/onboard/cvi_\(id)_"))
            #expect(object["tenant"] as? String == "fabrikam")
            #expect(object["kind"] as? String == "onboarding")
            #expect(object["state"] as? String == "active")
            #expect(object["displayName"] as? String == "Fabrikam <b>Ltd</b>")
            #expect(object["replaced"] as? [String] == [])
            #expect(object["hash"] == nil)
            let token = try Self.token(of: response)
            let invitation = try #require(try store.resolve(Self.secret(token)))
            #expect(invitation.id == id)
            #expect(invitation.createdBy == TestTokens.accessor(of: writer))
            #expect(invitation.expiresAt - invitation.createdAt == 3 * 86_400)
            #expect(invitation.createdAt >= before)
            #expect(object["expiresAt"] as? String == UTCTime.dateTime(invitation.expiresAt))

            let secretPart = String(token.dropFirst(21))
            let file = String(decoding: try Data(contentsOf: URL(fileURLWithPath: store.path)), as: UTF8.self)
            #expect(!file.contains(secretPart))
            let created = try #require(try Self.auditRecords(world, action: "invitation.create").last)
            #expect(created.tenant == "fabrikam")
            #expect(created.detail.contains(id))
            #expect(created.detail.contains("kind onboarding"))
            #expect(created.detail.contains(UTCTime.dateTime(invitation.expiresAt)))
            #expect(created.detail.contains("api token \(TestTokens.accessor(of: writer))"))
            #expect(try world.vault().auditRecords().records.allSatisfy { !$0.detail.contains(secretPart) })

            // The default lifetime is [portal] invitation_days.
            let defaulted = try await client.call(.post, "/v1/invitations", token: writer, json: #"{"tenant":"northwind"}"#)
            let defaultedInvitation = try #require(try store.resolve(Self.secret(try Self.token(of: defaulted))))
            #expect(
                defaultedInvitation.expiresAt - defaultedInvitation.createdAt
                    == Int64(world.services.configuration.portal.invitationDays) * 86_400)
        }
    }

    @Test("The link and the token never reach the log")
    func notLogged() async throws {
        let world = try APIWorld()
        let writer = try world.tokens.add(scopes: [.onboardingWrite])
        let lines = LogLines()
        var logger = Logger(label: "capture") { _ in CapturingHandler(lines: lines) }
        logger.logLevel = .trace
        try await world.app(logger: logger).test(.router) { client in
            let response = try await client.call(.post, "/v1/invitations", token: writer, json: #"{"tenant":"fabrikam"}"#)
            #expect(response.status == .created)
            let token = try Self.token(of: response)
            _ = try await client.call(.get, "/v1/invitations", token: writer)
            #expect(!lines.all.isEmpty, "the request was logged at all")
            #expect(lines.all.allSatisfy { !$0.contains(String(token.dropFirst(21))) })
        }
    }

    @Test(
        "Refusals: a tenant outside the grant is 404 like any missing tenant; bad ids, kinds and lifetimes 400; wrong onboarding state 409")
    func refusals() async throws {
        let world = try APIWorld()
        try world.onboard("contoso")
        let euOnly = try world.tokens.add(scopes: [.onboardingWrite], tenants: ["eu-*"])
        let writer = try world.tokens.add(scopes: [.onboardingWrite])
        try await world.app().test(.router) { client in
            let foreign = try await client.call(.post, "/v1/invitations", token: euOnly, json: #"{"tenant":"contoso"}"#)
            #expect(foreign.status == .notFound)
            #expect([UInt8](buffer: foreign.body) == Problem.tenantNotFound("contoso").body())
            for (body, code) in [
                (#"{"tenant":"../etc"}"#, "invalid-tenant-id"), (#"{"tenant":"Contoso"}"#, "invalid-tenant-id"),
                (#"{"tenant":"fabrikam","kind":"bulk"}"#, "invalid-body"), (#"{"tenant":"fabrikam","expiresInDays":0}"#, "invalid-body"),
                (#"{"tenant":"fabrikam","expiresInDays":91}"#, "invalid-body"), (#"{"tenant":"fabrikam","token":"x"}"#, "unknown-field"),
                (#"{"tenant":"fabrikam","displayName":"a\nb"}"#, "invalid-input"), (#"{}"#, "invalid-body"),
            ] {
                let response = try await client.call(.post, "/v1/invitations", token: writer, json: body)
                #expect(response.status == .badRequest, "\(body)")
                #expect(response.code == code, "\(body): \(response.code ?? "")")
            }
            let renewal = try await client.call(.post, "/v1/invitations", token: writer, json: #"{"tenant":"fabrikam","kind":"renewal"}"#)
            #expect(renewal.status == .conflict)
            #expect(renewal.code == "tenant-not-onboarded")
            #expect((renewal.object["hint"] as? String)?.isEmpty == false)
            let again = try await client.call(.post, "/v1/invitations", token: writer, json: #"{"tenant":"contoso"}"#)
            #expect(again.status == .conflict)
            #expect(again.code == "tenant-already-onboarded")
            let allowed = try await client.call(.post, "/v1/invitations", token: writer, json: #"{"tenant":"contoso","kind":"renewal"}"#)
            #expect(allowed.status == .created)
            #expect(allowed.object["kind"] as? String == "renewal")
        }
        #expect(try world.services.invitations?.list().count == 1, "nothing refused was stored")
    }

    @Test("A new invitation of the same kind replaces the tenant's live one: the old link stops working, both are audited")
    func replaces() async throws {
        let world = try APIWorld()
        let store = try #require(world.services.invitations)
        let writer = try world.tokens.add(scopes: [.onboardingWrite])
        try await world.app().test(.router) { client in
            let first = try await client.call(.post, "/v1/invitations", token: writer, json: #"{"tenant":"fabrikam"}"#)
            let second = try await client.call(.post, "/v1/invitations", token: writer, json: #"{"tenant":"fabrikam"}"#)
            let firstID = try #require(first.object["id"] as? String)
            #expect(second.object["replaced"] as? [String] == [firstID])
            let old = try #require(try store.resolve(Self.secret(try Self.token(of: first))))
            #expect(old.status == .revoked)
            #expect(!old.isUsable(now: UTCTime.now()))
            #expect(try store.resolve(Self.secret(try Self.token(of: second)))?.isUsable(now: UTCTime.now()) == true)
            let revoked = try #require(try Self.auditRecords(world, action: "invitation.revoke").last)
            #expect(revoked.detail.contains(firstID))
            #expect(revoked.detail.contains("replaced by \(second.object["id"] as? String ?? "?")"))
        }
    }

    @Test("GET /v1/invitations lists only the grant's tenants, never a token or hash; filters by tenant and state")
    func list() async throws {
        let world = try APIWorld()
        let writer = try world.tokens.add(scopes: [.onboardingWrite])
        let euReader = try world.tokens.add(scopes: [.onboardingRead], tenants: ["eu-*"])
        let reader = try world.tokens.add(scopes: [.onboardingRead])
        try await world.app().test(.router) { client in
            var tokens: [String] = []
            for tenant in ["eu-west", "eu-north", "contoso"] {
                let response = try await client.call(.post, "/v1/invitations", token: writer, json: #"{"tenant":"\#(tenant)"}"#)
                tokens.append(try Self.token(of: response))
            }
            _ = try await client.call(.delete, "/v1/invitations/\(tokens[1].dropFirst(4).prefix(16))", token: writer)
            @Sendable func tenants(_ response: TestResponse) -> [String] {
                (response.object["invitations"] as? [[String: Any]])?.compactMap { $0["tenant"] as? String } ?? []
            }
            let eu = try await client.call(.get, "/v1/invitations", token: euReader)
            #expect(eu.status == .ok)
            #expect(tenants(eu) == ["eu-west", "eu-north"])
            let all = try await client.call(.get, "/v1/invitations", token: reader)
            #expect(tenants(all) == ["eu-west", "eu-north", "contoso"])
            let text = String(buffer: all.body)
            for token in tokens { #expect(!text.contains(String(token.dropFirst(21)))) }
            #expect(!text.contains("cvi_"))
            #expect(!text.contains("hash"))
            #expect(tenants(try await client.call(.get, "/v1/invitations?state=revoked", token: reader)) == ["eu-north"])
            #expect(tenants(try await client.call(.get, "/v1/invitations?tenant=contoso", token: reader)) == ["contoso"])
            #expect(tenants(try await client.call(.get, "/v1/invitations?tenant=contoso", token: euReader)).isEmpty)
            #expect(try await client.call(.get, "/v1/invitations?state=gone", token: reader).code == "invalid-query")
            #expect(try await client.call(.get, "/v1/invitations?tenant=..%2F", token: reader).code == "invalid-tenant-id")
        }
    }

    @Test("DELETE /v1/invitations/{id}: revokes at once and audits; another tenant's invitation is 404 with the bytes of an unknown id")
    func revoke() async throws {
        let world = try APIWorld()
        let store = try #require(world.services.invitations)
        let writer = try world.tokens.add(scopes: [.onboardingWrite])
        let euWriter = try world.tokens.add(scopes: [.onboardingWrite], tenants: ["eu-*"])
        try await world.app().test(.router) { client in
            let created = try await client.call(.post, "/v1/invitations", token: writer, json: #"{"tenant":"contoso"}"#)
            let id = try #require(created.object["id"] as? String)
            let token = try Self.token(of: created)

            let foreign = try await client.call(.delete, "/v1/invitations/\(id)", token: euWriter)
            let unknownID = "0123456789abcdef" == id ? "fedcba9876543210" : "0123456789abcdef"
            let unknown = try await client.call(.delete, "/v1/invitations/\(unknownID)", token: euWriter)
            #expect(foreign.status == .notFound)
            #expect(foreign.code == "invitation-not-found")
            #expect(String(buffer: foreign.body) == String(buffer: unknown.body).replacingOccurrences(of: unknownID, with: id))
            #expect(try store.resolve(Self.secret(token))?.status == .active, "a foreign token revoked nothing")
            let malformed = try await client.call(.delete, "/v1/invitations/nonsense", token: writer)
            #expect(malformed.code == "invitation-not-found")
            let asToken = try await client.call(.delete, "/v1/invitations/\(token)", token: writer)
            #expect(asToken.status == .badRequest)
            #expect(!String(buffer: asToken.body).contains(String(token.dropFirst(21))))

            let revoked = try await client.call(.delete, "/v1/invitations/\(id)", token: writer)
            #expect(revoked.status == .ok)
            #expect(revoked.object["state"] as? String == "revoked")
            #expect(revoked.object["revokedAt"] as? String != nil)
            #expect(try store.resolve(Self.secret(token))?.status == .revoked)
            let records = try Self.auditRecords(world, action: "invitation.revoke")
            #expect(records.count == 1)
            #expect(records.first?.tenant == "contoso")
            #expect(records.first?.detail.contains(id) == true)
            #expect(records.first?.detail.contains(TestTokens.accessor(of: writer)) == true)
            let again = try await client.call(.delete, "/v1/invitations/\(id)", token: writer)
            #expect(again.status == .ok)
            #expect(try Self.auditRecords(world, action: "invitation.revoke").count == 1, "nothing changed, nothing audited")
        }
    }

    @Test("Without an invitation store (no portal) the routes answer 503 portal-not-configured")
    func notConfigured() async throws {
        let world = try APIWorld()
        var services = world.services
        services.invitations = nil
        let token = try world.tokens.add(scopes: [.onboardingWrite, .onboardingRead])
        let app = Application(router: buildRouter(services: services, logger: APIWorld.logger), logger: APIWorld.logger)
        try await app.test(.router) { client in
            for (method, uri, body) in [
                (HTTPRequest.Method.post, "/v1/invitations", #"{"tenant":"contoso"}"#), (.get, "/v1/invitations", nil),
                (.delete, "/v1/invitations/0123456789abcdef", nil),
            ] {
                let response = try await client.call(method, uri, token: token, json: body)
                #expect(response.status == .serviceUnavailable, "\(method) \(uri)")
                #expect(response.code == "portal-not-configured", "\(method) \(uri)")
            }
        }
    }

    static var jsonschemaAvailable: Bool {
        guard ExternalTool.python3.isAvailable else { return false }
        return (try? ExternalTool.python3.run(["-c", "import jsonschema"]).status) == 0
    }

    @Test(
        "Real responses of the invitation routes validate against the OpenAPI document (Python jsonschema)",
        .enabled(if: jsonschemaAvailable || TestEnvironment.toolsRequired, "python3 with jsonschema is not installed"))
    func responsesValidate() async throws {
        let world = try APIWorld(maxBody: 4096)
        try world.onboard("contoso")
        let writer = try world.tokens.add(scopes: [.onboardingWrite, .onboardingRead])
        let reader = try world.tokens.add(scopes: [.tenantsRead])
        struct Recorded: Sendable {
            let method: String, path: String, status: Int, contentType: String, body: String
        }
        let results: [Recorded] = try await world.app().test(.router) { client in
            var results: [Recorded] = []
            func record(
                _ method: HTTPRequest.Method, _ template: String, _ uri: String, token: String?, body: String? = nil,
                type: String? = "application/json"
            ) async throws -> TestResponse {
                let response = try await client.call(method, uri, token: token, json: body, contentType: type)
                results.append(
                    Recorded(
                        method: method.rawValue, path: template, status: Int(response.status.code),
                        contentType: response.headers[.contentType] ?? "", body: String(buffer: response.body)))
                return response
            }
            let created = try await record(
                .post, "/v1/invitations", "/v1/invitations", token: writer,
                body: #"{"tenant":"fabrikam","displayName":"Fabrikam","expiresInDays":2}"#)
            _ = try await record(.post, "/v1/invitations", "/v1/invitations", token: writer, body: #"{"tenant":"fabrikam"}"#)
            _ = try await record(
                .post, "/v1/invitations", "/v1/invitations", token: writer, body: #"{"tenant":"contoso","kind":"renewal"}"#)
            _ = try await record(.post, "/v1/invitations", "/v1/invitations", token: writer, body: #"{"tenant":"contoso"}"#)
            _ = try await record(.post, "/v1/invitations", "/v1/invitations", token: writer, body: #"{"tenant":"x","bogus":1}"#)
            _ = try await record(.post, "/v1/invitations", "/v1/invitations", token: writer, body: "{}", type: "text/plain")
            _ = try await record(.post, "/v1/invitations", "/v1/invitations", token: reader, body: #"{"tenant":"fabrikam"}"#)
            _ = try await record(.post, "/v1/invitations", "/v1/invitations", token: nil, body: #"{"tenant":"fabrikam"}"#)
            _ = try await record(.get, "/v1/invitations", "/v1/invitations", token: writer)
            _ = try await record(.get, "/v1/invitations", "/v1/invitations?state=active&tenant=fabrikam", token: writer)
            _ = try await record(.get, "/v1/invitations", "/v1/invitations?state=nope", token: writer)
            let id = created.object["id"] as? String ?? "0000000000000000"
            _ = try await record(.delete, "/v1/invitations/{id}", "/v1/invitations/\(id)", token: writer)
            _ = try await record(.delete, "/v1/invitations/{id}", "/v1/invitations/0000000000000000", token: writer)
            return results
        }
        #expect(Set(results.map(\.status)).isSuperset(of: [200, 201, 400, 401, 403, 404, 409, 415]))
        let recorded: [[String: Any]] = results.map {
            ["method": $0.method, "path": $0.path, "status": $0.status, "contentType": $0.contentType, "body": $0.body]
        }
        let dir = try TemporaryDirectory()
        let document = try dir.write(
            "openapi.json",
            try await world.app().test(.router) { client in String(buffer: try await client.call(.get, "/openapi.json").body) })
        let responses = try dir.write("responses.json", bytes: Array(try JSONSerialization.data(withJSONObject: recorded)))
        let result = try ExternalTool.python3.run([TestEnvironment.packageRoot + "/Tests/API/validate_responses.py", document, responses])
        #expect(result.status == 0, "\(result.combined)")
        #expect(result.stdout.contains("\(results.count) responses checked, 0 problems"), "\(result.combined)")
    }
}

/// Log lines collected from any thread.
final class LogLines: Sendable {
    private let lines = Mutex<[String]>([])
    func add(_ line: String) { lines.withLock { $0.append(line) } }
    var all: [String] { lines.withLock { $0 } }
}

/// A log handler that keeps every message with its metadata.
struct CapturingHandler: LogHandler {
    let lines: LogLines
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(
        level: Logger.Level, message: Logger.Message, metadata: Logger.Metadata?, source: String, file: String, function: String,
        line: UInt
    ) {
        lines.add("\(message) \(self.metadata.merging(metadata ?? [:]) { $1 })")
    }
}
