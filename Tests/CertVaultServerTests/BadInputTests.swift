import CertVaultAccess
import CertVaultServer
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@Suite("Bad input gets its problem code and writes nothing", .serialized)
struct BadInputTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let name: String
        let method: HTTPRequest.Method
        let uri: String
        let body: String?
        var contentType: String? = "application/json"
        let status: HTTPResponse.Status
        let code: String
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(
            name: "malformed JSON", method: .post, uri: "/v1/tenants/contoso/certificates", body: #"{"policy": "fast""#,
            status: .badRequest, code: "invalid-json"),
        Case(
            name: "a body that is not an object", method: .post, uri: "/v1/onboardings", body: #"["contoso"]"#,
            status: .badRequest, code: "invalid-body"),
        Case(
            name: "a wrong type", method: .post, uri: "/v1/tenants/contoso/certificates", body: #"{"policy": 5}"#,
            status: .badRequest, code: "invalid-body"),
        Case(
            name: "a wrong type (rotation)", method: .post, uri: "/v1/tenants/contoso/rotations",
            body: #"{"configureApplication": "yes"}"#, status: .badRequest, code: "invalid-body"),
        Case(
            name: "a missing required field", method: .post, uri: "/v1/onboardings", body: #"{"tenant": "fabrikam"}"#,
            status: .badRequest, code: "invalid-body"),
        Case(
            name: "an unknown field", method: .post, uri: "/v1/tenants/contoso/certificates", body: #"{"policy": "fast", "bits": 512}"#,
            status: .badRequest, code: "unknown-field"),
        Case(
            name: "an unknown field (onboarding)", method: .post, uri: "/v1/onboardings",
            body: #"{"tenant": "fabrikam", "organizationName": "fabrikam.onmicrosoft.com", "admin": true}"#,
            status: .badRequest, code: "unknown-field"),
        Case(
            name: "a wrong content type", method: .post, uri: "/v1/tenants/contoso/certificates", body: #"{"policy": "fast"}"#,
            contentType: "text/plain", status: .unsupportedMediaType, code: "unsupported-media-type"),
        Case(
            name: "no content type with a body", method: .post, uri: "/v1/onboardings",
            body: #"{"tenant": "fabrikam", "organizationName": "fabrikam.onmicrosoft.com"}"#, contentType: nil,
            status: .unsupportedMediaType, code: "unsupported-media-type"),
        Case(
            name: "a body over the cap", method: .post, uri: "/v1/onboardings",
            body: #"{"tenant": "fabrikam", "organizationName": "fabrikam.onmicrosoft.com", "displayName": ""#
                + String(repeating: "x", count: 5000) + #""}"#,
            status: .contentTooLarge, code: "body-too-large"),
        Case(
            name: "../../etc as the path's tenant", method: .post, uri: "/v1/tenants/..%2F..%2Fetc/certificates", body: "{}",
            status: .badRequest, code: "invalid-tenant-id"),
        Case(
            name: "../../etc as the body's tenant", method: .post, uri: "/v1/onboardings",
            body: #"{"tenant": "../../etc", "organizationName": "etc.onmicrosoft.com"}"#, status: .badRequest, code: "invalid-tenant-id"),
        Case(
            name: "an upper-case tenant", method: .post, uri: "/v1/tenants/Contoso/certificates", body: "{}",
            status: .badRequest, code: "invalid-tenant-id"),
        Case(
            name: "an unknown policy", method: .post, uri: "/v1/tenants/contoso/certificates", body: #"{"policy": "nope"}"#,
            status: .badRequest, code: "unknown-policy"),
        Case(
            name: "a policy path instead of a name", method: .post, uri: "/v1/tenants/contoso/certificates",
            body: #"{"policy": "../policy/fast"}"#, status: .badRequest, code: "unknown-policy"),
        Case(
            name: "a control character in a template value", method: .post, uri: "/v1/tenants/contoso/certificates",
            body: #"{"organization": "Contoso\u0000Evil"}"#, status: .badRequest, code: "invalid-body"),
        Case(
            name: "a template value outside the Basic Multilingual Plane", method: .post, uri: "/v1/tenants/contoso/certificates",
            body: #"{"organization": "\ud8e1\udf62"}"#, status: .badRequest, code: "invalid-body"),
        Case(
            name: "an unknown region", method: .post, uri: "/v1/onboardings",
            body: #"{"tenant": "fabrikam", "organizationName": "fabrikam.onmicrosoft.com", "region": "Mars"}"#,
            status: .badRequest, code: "invalid-input"),
        Case(
            name: "a credential without a purpose", method: .get, uri: "/v1/tenants/contoso/credential", body: nil,
            status: .badRequest, code: "purpose-required"),
        Case(
            name: "a credential by generation and thumbprint", method: .get,
            uri: "/v1/tenants/contoso/credential?purpose=x&generation=1&thumbprint=" + String(repeating: "A", count: 40), body: nil,
            status: .badRequest, code: "invalid-query"),
        Case(
            name: "an unknown query parameter", method: .get, uri: "/v1/tenants?expiring=60d", body: nil,
            status: .badRequest, code: "invalid-query"),
        Case(
            name: "a malformed duration", method: .get, uri: "/v1/tenants?expiringWithin=soon", body: nil,
            status: .badRequest, code: "invalid-query"),
        Case(
            name: "a limit out of range", method: .get, uri: "/v1/onboardings?limit=0", body: nil,
            status: .badRequest, code: "invalid-query"),
        Case(
            name: "an unknown route", method: .get, uri: "/v1/tenants/contoso/secrets", body: nil,
            status: .notFound, code: "not-found"),
        Case(
            name: "a method the route does not take", method: .delete, uri: "/v1/tenants/contoso", body: nil,
            status: .notFound, code: "not-found"),
    ]

    @Test(
        "each bad request gets its status and stable code, as problem+json, and leaves the vault and onboarding records as they were",
        arguments: cases)
    func badInput(_ item: Case) async throws {
        let world = try APIWorld(maxBody: 1024)
        try world.issue("contoso")
        let token = try world.tokens.add(scopes: Set(Scope.allCases))
        let before = try world.snapshot()
        try await world.app().test(.router) { client in
            let response = try await client.call(item.method, item.uri, token: token, json: item.body, contentType: item.contentType)
            #expect(response.status == item.status)
            #expect(response.code == item.code)
            #expect(response.headers[.contentType] == "application/problem+json")
            let object = response.object
            #expect((object["detail"] as? String)?.isEmpty == false)
            #expect(object["status"] as? Int == Int(item.status.code))
            if item.status != .notFound {
                #expect((object["hint"] as? String)?.isEmpty == false, "every refusal says what to do")
            }
        }
        #expect(try world.snapshot() == before, "nothing was written")
    }
}
