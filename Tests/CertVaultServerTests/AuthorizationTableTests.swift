import CertVaultAccess
import CertVaultServer
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@Suite("Authorization: every route x every scope x tenant binding", .serialized)
struct AuthorizationTableTests {
    /// How the token used is bound to tenants; the requests are about tenant `contoso`.
    enum Binding: String, CaseIterable {
        case everyTenant = "every tenant"
        case covering = "contoso"
        case other = "eu-*"

        var tenants: [String]? {
            switch self {
            case .everyTenant: nil
            case .covering: ["contoso"]
            case .other: ["eu-*"]
            }
        }
    }

    /// A concrete request for a catalog route about tenant `contoso`.
    static func request(for route: APIRoute) -> (uri: String, body: String?) {
        var uri = route.path.replacingOccurrences(of: "{tenant}", with: "contoso")
        var body: String?
        switch route.operationID {
        case "getCredential": uri += "?purpose=table%20test"
        case "startOnboarding": body = #"{"tenant":"contoso","organizationName":"contoso.onmicrosoft.com"}"#
        case "startRotation": body = #"{"configureApplication":false}"#
        case "issueCertificate": body = #"{"policy":"fast"}"#
        case "createInvitation": body = #"{"tenant":"contoso","kind":"renewal"}"#
        case "revokeInvitation": uri = "/v1/invitations/0123456789abcdef"
        default: break
        }
        return (uri, body)
    }

    @Test(
        "no token: 401 with WWW-Authenticate: Bearer; a token without the route's scope: 403; a tenant outside the grant: 404 like a missing one; otherwise allowed"
    )
    func table() async throws {
        let world = try APIWorld()
        try world.onboard("contoso")
        try world.issue("eu-west")
        let notFoundBody = Problem.tenantNotFound("contoso").body()
        #expect(APIRoutes.all.count >= 14)
        try await world.app().test(.router) { client in
            for route in APIRoutes.all {
                let (uri, body) = Self.request(for: route)
                let label = "\(route.method) \(route.path)"
                guard let needed = route.scope else {
                    let response = try await client.call(route.method, uri)
                    #expect(response.status == .ok, "\(label) is public")
                    continue
                }
                let anonymous = try await client.call(route.method, uri, json: body)
                #expect(anonymous.status == .unauthorized, "\(label) without a token")
                #expect(anonymous.headers[.wwwAuthenticate]?.hasPrefix("Bearer") == true, "\(label) without a token")
                #expect(anonymous.code == "token-missing", "\(label) without a token")
                for scope in Scope.allCases {
                    for binding in Binding.allCases {
                        let token = try world.tokens.add(scopes: [scope], tenants: binding.tenants)
                        let response = try await client.call(route.method, uri, token: token, json: body)
                        let label =
                            "\(label) with \(scope.rawValue) for \(binding.rawValue): \(response.status.code) \(response.code ?? "")"
                        if scope != needed {
                            #expect(response.status == .forbidden, "\(label)")
                            #expect(response.code == "scope-missing", "\(label)")
                        } else if binding == .other && route.tenant != .none {
                            #expect(response.status == .notFound, "\(label)")
                            #expect([UInt8](buffer: response.body) == notFoundBody, "\(label): the body of a missing tenant")
                        } else {
                            #expect(![.unauthorized, .forbidden].contains(response.status), "\(label)")
                            #expect(response.code != "tenant-not-found", "\(label)")
                            #expect(response.status.code < 500, "\(label)")
                            if route.method == .get { #expect(response.status == .ok, "\(label): a read that is allowed answers") }
                            if route.operationID == "issueCertificate" { #expect(response.status == .created, "\(label)") }
                        }
                    }
                }
            }
        }
    }

    @Test("a tenant that does not exist answers exactly what a tenant outside the grant answers")
    func missingTenantLooksLikeForeignTenant() async throws {
        let world = try APIWorld()
        try world.issue("contoso")
        let everyTenant = try world.tokens.add(scopes: [.tenantsRead])
        let euOnly = try world.tokens.add(scopes: [.tenantsRead], tenants: ["eu-*"])
        try await world.app().test(.router) { client in
            let foreign = try await client.call(.get, "/v1/tenants/contoso", token: euOnly)
            let missing = try await client.call(.get, "/v1/tenants/nobody", token: everyTenant)
            let foreignMissing = try await client.call(.get, "/v1/tenants/nobody", token: euOnly)
            #expect(foreign.status == .notFound)
            #expect(missing.status == .notFound)
            #expect(foreign.code == "tenant-not-found")
            #expect(String(buffer: missing.body) == String(buffer: foreignMissing.body))
            #expect(String(buffer: foreign.body) == String(buffer: missing.body).replacingOccurrences(of: "nobody", with: "contoso"))
            #expect(foreign.headers[.contentType] == missing.headers[.contentType])
        }
    }

    @Test("unknown, expired and revoked tokens, other schemes and malformed headers: 401 token-invalid with WWW-Authenticate: Bearer")
    func invalidTokens() async throws {
        let world = try APIWorld()
        let expired = try world.tokens.add(scopes: Set(Scope.allCases), expired: true)
        let revoked = try world.tokens.add(scopes: Set(Scope.allCases), revoked: true)
        let valid = try world.tokens.add(scopes: [.tenantsRead])
        let headers = [
            "Bearer \(expired)", "Bearer \(revoked)", "Bearer cvt_unknown", "Bearer \(valid.dropLast())\(valid.last == "a" ? "b" : "a")",
            "Basic dXNlcjpwYXNz", "Bearer",
            "Bearer " + String(repeating: "a", count: 5000), "bearer  \(valid)x",
        ]
        try await world.app().test(.router) { client in
            for header in headers {
                let response = try await client.execute(uri: "/v1/tenants", method: .get, headers: [.authorization: header])
                #expect(response.status == .unauthorized)
                #expect(response.code == "token-invalid")
                #expect(response.headers[.wwwAuthenticate]?.hasPrefix("Bearer") == true)
                #expect(!String(buffer: response.body).contains("cvt_"), "the token never appears in an error")
            }
            // The scheme is case-insensitive and surrounding spaces do not matter.
            let ok = try await client.execute(uri: "/v1/tenants", method: .get, headers: [.authorization: "bearer  \(valid) "])
            #expect(ok.status == .ok)
        }
    }

    @Test("a token bound to an access policy gets the policy's scopes and tenants")
    func policyBoundToken() async throws {
        let world = try APIWorld()
        try world.issue("contoso")
        try world.issue("eu-west")
        let token = try world.tokens.add(policy: "eu-readers")
        try await world.app().test(.router) { client in
            let list = try await client.call(.get, "/v1/tenants", token: token)
            #expect((list.object["tenants"] as? [[String: Any]])?.compactMap { $0["tenant"] as? String } == ["eu-west"])
            #expect(try await client.call(.get, "/v1/tenants/contoso", token: token).code == "tenant-not-found")
            #expect(try await client.call(.get, "/v1/audit", token: token).code == "scope-missing")
        }
    }

    @Test("lists are filtered by the grant where they are read: tenants, onboardings, audit records")
    func listsAreFiltered() async throws {
        let world = try APIWorld()
        try world.onboard("contoso")
        try world.issue("eu-west")
        try world.issue("eu-north")
        let euOnly = try world.tokens.add(scopes: [.tenantsRead, .onboardingRead, .auditRead], tenants: ["eu-*"])
        let everyTenant = try world.tokens.add(scopes: [.tenantsRead, .onboardingRead, .auditRead])
        try await world.app().test(.router) { client in
            let tenants = try await client.call(.get, "/v1/tenants", token: euOnly)
            let names = (tenants.object["tenants"] as? [[String: Any]])?.compactMap { $0["tenant"] as? String }
            #expect(names == ["eu-north", "eu-west"])
            let all = try await client.call(.get, "/v1/tenants", token: everyTenant)
            #expect(
                (all.object["tenants"] as? [[String: Any]])?.compactMap { $0["tenant"] as? String } == ["contoso", "eu-north", "eu-west"])

            let onboardings = try await client.call(.get, "/v1/onboardings", token: euOnly)
            #expect((onboardings.object["onboardings"] as? [Any])?.isEmpty == true)
            let allOnboardings = try await client.call(.get, "/v1/onboardings", token: everyTenant)
            #expect((allOnboardings.object["onboardings"] as? [[String: Any]])?.first?["tenant"] as? String == "contoso")

            let audit = try await client.call(.get, "/v1/audit", token: euOnly)
            let records = try #require(audit.object["records"] as? [[String: Any]])
            #expect(!records.isEmpty)
            #expect(records.allSatisfy { ($0["tenant"] as? String)?.hasPrefix("eu-") == true })
            let allAudit = try await client.call(.get, "/v1/audit", token: everyTenant)
            let allRecords = try #require(allAudit.object["records"] as? [[String: Any]])
            #expect(allRecords.contains { $0["tenant"] as? String == "contoso" })
            #expect(allRecords.contains { $0["action"] as? String == "vault.init" })
        }
    }
}
