import CertVaultAccess
import CertVaultCore
import CertVaultIssuer
import CertVaultOnboarding
import CertVaultServer
import CertVaultVB365
import CertVaultVB365Simulator
import CertVaultVault
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@Suite("The /v1 routes against a real vault and the VB365 simulator", .serialized)
struct APIRoutesTests {
    @Test("GET /v1/tenants/{tenant}: generations, status, expiry, thumbprints, VB365 ids and onboarding state")
    func tenantDetail() async throws {
        let world = try APIWorld()
        try world.onboard("contoso")
        let token = try world.tokens.add(scopes: [.tenantsRead])
        let stored = try world.vault().summary(tenant: try TenantID("contoso"), generation: 1)
        try await world.app().test(.router) { client in
            let response = try await client.call(.get, "/v1/tenants/contoso", token: token)
            #expect(response.status == .ok)
            #expect(response.headers[.contentType] == "application/json")
            let object = response.object
            let generations = try #require(object["generations"] as? [[String: Any]])
            #expect(generations.count == 1)
            #expect(generations[0]["thumbprint"] as? String == stored.metadata.thumbprintSHA1)
            #expect(generations[0]["notAfter"] as? String == stored.metadata.notAfter)
            #expect(generations[0]["status"] as? String == "active")
            let organization = try #require(world.simulator.storedOrganizations().first)
            #expect(generations[0]["vb365OrganizationId"] as? String == organization.id)
            #expect(generations[0]["applicationId"] as? String == organization.applicationId)
            #expect((object["active"] as? [String: Any])?["generation"] as? Int == 1)
            #expect((object["onboarding"] as? [String: Any])?["state"] as? String == "onboarded")
            #expect(!String(buffer: response.body).contains("applicationCertificate"), "metadata only, no secrets")
        }
    }

    @Test("GET /v1/tenants filters by expiry window and onboarding state, and pages with limit and after")
    func tenantFiltersAndPaging() async throws {
        let world = try APIWorld()
        try world.onboard("contoso")
        for tenant in ["eu-a", "eu-b", "eu-c"] { try world.issue(tenant) }
        let token = try world.tokens.add(scopes: [.tenantsRead])
        @Sendable func names(_ response: TestResponse) -> [String] {
            (response.object["tenants"] as? [[String: Any]])?.compactMap { $0["tenant"] as? String } ?? []
        }
        try await world.app().test(.router) { client in
            #expect(names(try await client.call(.get, "/v1/tenants?state=onboarded", token: token)) == ["contoso"])
            #expect(names(try await client.call(.get, "/v1/tenants?state=none", token: token)) == ["eu-a", "eu-b", "eu-c"])
            // The default policy's certificates are valid for about two years.
            #expect(names(try await client.call(.get, "/v1/tenants?expiringWithin=60d", token: token)).isEmpty)
            #expect(names(try await client.call(.get, "/v1/tenants?expiringWithin=3650d", token: token)).count == 4)
            let first = try await client.call(.get, "/v1/tenants?limit=2", token: token)
            #expect(names(first) == ["contoso", "eu-a"])
            let next = try #require(first.object["next"] as? String)
            let second = try await client.call(.get, "/v1/tenants?limit=2&after=\(next)", token: token)
            #expect(names(second) == ["eu-b", "eu-c"])
            #expect(second.object["next"] == nil)
        }
    }

    @Test("POST /v1/tenants/{tenant}/certificates issues the next generation under the named policy")
    func issueCertificate() async throws {
        let world = try APIWorld()
        try world.issue("contoso")
        let token = try world.tokens.add(scopes: [.certificatesIssue])
        try await world.app().test(.router) { client in
            let response = try await client.call(
                .post, "/v1/tenants/contoso/certificates", token: token,
                json: #"{"policy":"fast","organization":"Contoso Ltd"}"#)
            #expect(response.status == .created, "\(String(buffer: response.body))")
            #expect(response.headers[.location] == "/v1/tenants/contoso")
            #expect(response.object["generation"] as? Int == 2)
            #expect(response.object["policy"] as? String == "fast")
            let stored = try world.vault().summary(tenant: try TenantID("contoso"), generation: 2)
            #expect(response.object["thumbprint"] as? String == stored.metadata.thumbprintSHA1)
            // No body at all: the default policy.
            let plain = try await client.call(.post, "/v1/tenants/newco/certificates", token: token)
            #expect(plain.status == .created)
            #expect(plain.object["generation"] as? Int == 1)
        }
    }

    @Test(
        "GET .../credential: the same JSON as restore-credential, with the read audited (accessor, purpose, tenant, generation) before the answer"
    )
    func credential() async throws {
        let world = try APIWorld()
        try world.onboard("contoso")
        let token = try world.tokens.add(scopes: [.credentialsRead])
        try await world.app().test(.router) { client in
            let response = try await client.call(.get, "/v1/tenants/contoso/credential?purpose=restore%20ticket%204711", token: token)
            #expect(response.status == .ok)
            #expect(response.headers[.cacheControl] == "no-store")
            let served = response.object
            // The audit record is already there when the response has arrived.
            let records = try world.vault().auditRecords().records
            let read = try #require(records.last)
            #expect(read.action == "entry.read")
            #expect(read.tenant == "contoso")
            #expect(read.generation == 1)
            #expect(read.detail.contains(TestTokens.accessor(of: token)), "the token's accessor")
            #expect(read.detail.contains("restore ticket 4711"), "the purpose")

            // What the CLI prints for the same tenant and generation.
            let record = try world.services.onboardingStore.load(try TenantID("contoso"))
            let cli = try RestoreCredential.retrieve(
                vault: world.vault(), record: record, tenant: try TenantID("contoso"),
                generation: 1, purpose: "comparison"
            ).json(includeSecrets: true)
            let expected = try #require(try JSONSerialization.jsonObject(with: Data(cli)) as? [String: Any])
            #expect(Set(served.keys) == Set(expected.keys))
            for key in expected.keys { #expect("\(served[key]!)" == "\(expected[key]!)", "\(key)") }
            #expect(served["matchesVB365"] as? Bool == true)

            let base64 = try #require(served["applicationCertificate"] as? String)
            let pfx = try #require(Data(base64Encoded: base64))
            let password = try #require(served["applicationCertificatePassword"] as? String)
            let opened = try PKCS12Contents(pfx: Array(pfx), password: Array(password.utf8).withUnsafeBytes { SecretBytes(copying: $0) })
            #expect(opened.thumbprintSHA1 == world.simulator.storedOrganizations().first?.applicationCertificateThumbprint)

            let byThumbprint = try await client.call(
                .get, "/v1/tenants/contoso/credential?purpose=x&thumbprint=\(opened.thumbprintSHA1)",
                token: token)
            #expect(byThumbprint.object["generation"] as? Int == 1)
            let missingGeneration = try await client.call(.get, "/v1/tenants/contoso/credential?purpose=x&generation=7", token: token)
            #expect(missingGeneration.status == .badRequest)
            let missingTenant = try await client.call(.get, "/v1/tenants/nobody/credential?purpose=x", token: token)
            #expect(missingTenant.code == "tenant-not-found")
        }
    }

    @Test("onboarding through the API: 202 with the user code, its state, renew-code, and the list by state")
    func onboarding() async throws {
        let world = try APIWorld()
        let writer = try world.tokens.add(scopes: [.onboardingWrite, .onboardingRead])
        try await world.app().test(.router) { client in
            let started = try await client.call(
                .post, "/v1/onboardings", token: writer,
                json: """
                    {"tenant":"fabrikam","organizationName":"fabrikam.onmicrosoft.com","displayName":"Fabrikam",
                     "region":"Worldwide","services":"exchange,sharepoint","providerFields":{"crm":"4711"}}
                    """)
            #expect(started.status == .accepted)
            #expect(started.headers[.location] == "/v1/onboardings/fabrikam")
            let code = try #require(started.object["userCode"] as? String)
            #expect(started.object["verificationUrl"] as? String == "https://microsoft.com/devicelogin")
            #expect(started.object["codeExpiresAt"] is String)
            #expect(started.object["state"] as? String == "awaiting-customer")

            let again = try await client.call(
                .post, "/v1/onboardings", token: writer,
                json: #"{"tenant":"fabrikam","organizationName":"fabrikam.onmicrosoft.com"}"#)
            #expect(again.status == .conflict)
            #expect(again.code == "onboarding-state")

            let renewed = try await client.call(.post, "/v1/onboardings/fabrikam/renew-code", token: writer)
            #expect(renewed.status == .ok)
            let newCode = try #require(renewed.object["userCode"] as? String)
            #expect(newCode != code)
            #expect(world.workerWakes.value == 2, "the worker is woken after the start and the new code, not after the refused start")

            let waiting = try await client.call(.get, "/v1/onboardings?state=awaiting-customer", token: writer)
            #expect((waiting.object["onboardings"] as? [[String: Any]])?.count == 1)

            // The customer signs in; the workflow (the service's worker) finishes it.
            _ = world.simulator.signIn(userCode: newCode)
            _ = try world.onboarding.resume(try TenantID("fabrikam"))
            let done = try await client.call(.get, "/v1/onboardings/fabrikam", token: writer)
            #expect(done.object["state"] as? String == "onboarded")
            #expect(done.object["organizationId"] as? String == world.simulator.storedOrganizations().first?.id)
            #expect(done.object["userCode"] == nil, "no code once it is used")
            let none = try await client.call(.get, "/v1/onboardings/nobody", token: writer)
            #expect(none.code == "tenant-not-found")
        }
    }

    @Test("rotation through the API, without and with configureApplication (paused for the customer, then carried on), and its status")
    func rotation() async throws {
        let world = try APIWorld()
        try world.onboard("contoso")
        let token = try world.tokens.add(scopes: [.certificatesRotate, .tenantsRead])
        try await world.app().test(.router) { client in
            let none = try await client.call(.get, "/v1/tenants/contoso/rotations", token: token)
            #expect(none.code == "rotation-not-found")
            let direct = try await client.call(
                .post, "/v1/tenants/contoso/rotations", token: token, json: #"{"configureApplication":false}"#)
            #expect(direct.status == .accepted)
            #expect(direct.object["phase"] as? String == "done")
            #expect(direct.object["generation"] as? Int == 2)
            #expect(world.simulator.storedOrganizations().first?.applicationCertificateThumbprint == direct.object["thumbprint"] as? String)
            let tenant = try await client.call(.get, "/v1/tenants/contoso", token: token)
            let statuses = (tenant.object["generations"] as? [[String: Any]])?.compactMap { $0["status"] as? String }
            #expect(statuses == ["superseded", "active"])

            let paused = try await client.call(.post, "/v1/tenants/contoso/rotations", token: token)
            #expect(paused.object["phase"] as? String == "awaiting-customer")
            #expect(paused.object["userCode"] is String)
            let status = try await client.call(.get, "/v1/tenants/contoso/rotations", token: token)
            #expect(status.object["phase"] as? String == "awaiting-customer")
            #expect(status.object["generation"] as? Int == 3)

            // The customer signs in; POST again carries the rotation on (as 'rotate --resume').
            _ = world.simulator.signIn(userCode: try #require(status.object["userCode"] as? String))
            let finished = try await client.call(.post, "/v1/tenants/contoso/rotations", token: token)
            #expect(finished.object["phase"] as? String == "done")
            #expect(finished.object["generation"] as? Int == 3)
            let after = try await client.call(.get, "/v1/tenants/contoso", token: token)
            let final = (after.object["generations"] as? [[String: Any]])?.compactMap { $0["status"] as? String }
            #expect(final == ["superseded", "superseded", "active"])
        }
    }

    @Test("GET /readyz: ready with the vault open and VB365 answering; 503 when VB365 does not answer")
    func readiness() async throws {
        let world = try APIWorld(readinessCache: 0)
        try await world.app().test(.router) { client in
            let ready = try await client.call(.get, "/readyz")
            #expect(ready.status == .ok)
            #expect(ready.object["status"] as? String == "ready")
            #expect(ready.object["vb365"] as? String == "ok")
            world.simulator.stop()
            let notReady = try await client.call(.get, "/readyz")
            #expect(notReady.status == .serviceUnavailable)
            #expect(notReady.object["vb365"] as? String == "failed")
            #expect(notReady.object["vault"] as? String == "ok")
        }
    }

    @Test("the VB365 probe of /readyz is cached: polls within the interval make one VB365 call")
    func readinessIsCached() async throws {
        let world = try APIWorld(readinessCache: 60)
        try await world.app().test(.router) { client in
            _ = try await client.call(.get, "/readyz")
            let calls = world.simulator.received().count
            for _ in 0..<5 { #expect(try await client.call(.get, "/readyz").status == .ok) }
            #expect(world.simulator.received().count == calls)
        }
    }
}
