import CertVaultAccess
import CertVaultServer
import CertVaultTesting
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@Suite("The OpenAPI document describes the API", .serialized)
struct OpenAPITests {
    static func document() async throws -> [String: Any] {
        let world = try APIWorld()
        return try await world.app().test(.router) { client in
            let response = try await client.call(.get, "/openapi.json")
            #expect(response.status == .ok)
            #expect(response.headers[.contentType] == "application/json")
            return response.object
        }
    }

    @Test("/openapi.json is OpenAPI 3.1 and has every route of the catalog, with its scope and its problem responses, and nothing else")
    func everyRouteDescribed() async throws {
        let document = try await Self.document()
        #expect(document["openapi"] as? String == "3.1.0")
        let paths = try #require(document["paths"] as? [String: [String: Any]])
        var described = Set<String>()
        for (path, operations) in paths {
            for method in operations.keys { described.insert("\(method.uppercased()) \(path)") }
        }
        let catalog = Set(APIRoutes.all.map { "\($0.method.rawValue) \($0.path)" })
        #expect(described == catalog)
        for route in APIRoutes.all {
            let operation = try #require(paths[route.path]?[route.method.rawValue.lowercased()] as? [String: Any], "\(route.path)")
            #expect(operation["operationId"] as? String == route.operationID)
            #expect(operation["x-certvault-scope"] as? String == route.scope?.rawValue, "\(route.path)")
            let responses = try #require(operation["responses"] as? [String: Any])
            guard route.scope != nil else { continue }
            for status in ["400", "401", "403"] { #expect(responses[status] != nil, "\(route.method) \(route.path) documents \(status)") }
            if route.tenant == .path { #expect(responses["404"] != nil, "\(route.method) \(route.path) documents 404") }
            if route.method == .post && operation["requestBody"] != nil {
                for status in ["413", "415"] { #expect(responses[status] != nil, "\(route.method) \(route.path) documents \(status)") }
            }
        }
    }

    static var jsonschemaAvailable: Bool {
        guard ExternalTool.python3.isAvailable else { return false }
        return (try? ExternalTool.python3.run(["-c", "import jsonschema"]).status) == 0
    }

    @Test(
        "real responses of the router, successes and problems, validate against the document's schemas (Python jsonschema)",
        .enabled(if: jsonschemaAvailable || TestEnvironment.toolsRequired, "python3 with jsonschema is not installed"))
    func responsesValidate() async throws {
        let world = try APIWorld(maxBody: 4096)
        try world.onboard("contoso")
        try world.issue("eu-west")
        let all = try world.tokens.add(scopes: Set(Scope.allCases))
        let readOnly = try world.tokens.add(scopes: [.tenantsRead])
        typealias Call = (method: HTTPRequest.Method, template: String, uri: String, token: String?, body: String?, type: String?)
        let json = "application/json"
        let calls: [Call] = [
            (.get, "/healthz", "/healthz", nil, nil, nil),
            (.get, "/readyz", "/readyz", nil, nil, nil),
            (.get, "/openapi.json", "/openapi.json", nil, nil, nil),
            (.get, "/v1/tenants", "/v1/tenants", all, nil, nil),
            (.get, "/v1/tenants", "/v1/tenants?limit=1&state=onboarded&expiringWithin=3650d", all, nil, nil),
            (.get, "/v1/tenants", "/v1/tenants?bogus=1", all, nil, nil),
            (.get, "/v1/tenants", "/v1/tenants", nil, nil, nil),
            (.get, "/v1/tenants", "/v1/tenants", "cvt_nothing", nil, nil),
            (.get, "/v1/tenants/{tenant}", "/v1/tenants/contoso", all, nil, nil),
            (.get, "/v1/tenants/{tenant}", "/v1/tenants/nobody", all, nil, nil),
            (.get, "/v1/tenants/{tenant}", "/v1/tenants/..%2Fetc", all, nil, nil),
            (.post, "/v1/tenants/{tenant}/certificates", "/v1/tenants/eu-west/certificates", all, "{}", json),
            (.post, "/v1/tenants/{tenant}/certificates", "/v1/tenants/eu-west/certificates", all, #"{"policy":"nope"}"#, json),
            (.post, "/v1/tenants/{tenant}/certificates", "/v1/tenants/eu-west/certificates", all, "{}", "text/plain"),
            (
                .post, "/v1/tenants/{tenant}/certificates", "/v1/tenants/eu-west/certificates", all,
                #"{"organization":""# + String(repeating: "x", count: 5000) + #""}"#, json
            ),
            (.post, "/v1/tenants/{tenant}/certificates", "/v1/tenants/eu-west/certificates", readOnly, "{}", json),
            (.get, "/v1/tenants/{tenant}/credential", "/v1/tenants/contoso/credential?purpose=check", all, nil, nil),
            (.get, "/v1/tenants/{tenant}/credential", "/v1/tenants/contoso/credential", all, nil, nil),
            (.get, "/v1/tenants/{tenant}/rotations", "/v1/tenants/contoso/rotations", all, nil, nil),
            (.post, "/v1/tenants/{tenant}/rotations", "/v1/tenants/contoso/rotations", all, #"{"configureApplication":false}"#, json),
            (.get, "/v1/tenants/{tenant}/rotations", "/v1/tenants/contoso/rotations", all, nil, nil),
            (.post, "/v1/tenants/{tenant}/rotations", "/v1/tenants/contoso/rotations", all, nil, nil),
            (.post, "/v1/tenants/{tenant}/rotations", "/v1/tenants/eu-west/rotations", all, nil, nil),
            (
                .post, "/v1/onboardings", "/v1/onboardings", all, #"{"tenant":"fabrikam","organizationName":"fabrikam.onmicrosoft.com"}"#,
                json
            ),
            (
                .post, "/v1/onboardings", "/v1/onboardings", all, #"{"tenant":"fabrikam","organizationName":"fabrikam.onmicrosoft.com"}"#,
                json
            ),
            (.post, "/v1/onboardings", "/v1/onboardings", all, #"{"tenant":"x","organizationName":"x.onmicrosoft.com","y":1}"#, json),
            (.get, "/v1/onboardings", "/v1/onboardings", all, nil, nil),
            (.get, "/v1/onboardings", "/v1/onboardings?state=onboarded&limit=5", all, nil, nil),
            (.get, "/v1/onboardings/{tenant}", "/v1/onboardings/fabrikam", all, nil, nil),
            (.get, "/v1/onboardings/{tenant}", "/v1/onboardings/contoso", all, nil, nil),
            (.get, "/v1/onboardings/{tenant}", "/v1/onboardings/eu-west", all, nil, nil),
            (.post, "/v1/onboardings/{tenant}/renew-code", "/v1/onboardings/fabrikam/renew-code", all, nil, nil),
            (.post, "/v1/onboardings/{tenant}/renew-code", "/v1/onboardings/contoso/renew-code", all, nil, nil),
            (.get, "/v1/audit", "/v1/audit?after=2&limit=3", all, nil, nil),
            (.get, "/v1/audit", "/v1/audit?after=abc", all, nil, nil),
        ]
        struct Recorded: Sendable {
            let method: String, path: String, status: Int, contentType: String, body: String
        }
        let results: [Recorded] = try await world.app().test(.router) { client in
            var results: [Recorded] = []
            for call in calls {
                let response = try await client.call(call.method, call.uri, token: call.token, json: call.body, contentType: call.type)
                results.append(
                    Recorded(
                        method: call.method.rawValue, path: call.template, status: Int(response.status.code),
                        contentType: response.headers[.contentType] ?? "", body: String(buffer: response.body)))
            }
            return results
        }
        let statuses = Set(results.map(\.status))
        let recorded: [[String: Any]] = results.map {
            ["method": $0.method, "path": $0.path, "status": $0.status, "contentType": $0.contentType, "body": $0.body]
        }
        #expect(statuses.isSuperset(of: [200, 201, 202, 400, 401, 403, 404, 409, 413, 415]), "successes and problems are both checked")
        let dir = try TemporaryDirectory()
        let document = try dir.write(
            "openapi.json",
            try await world.app().test(.router) { client in
                String(buffer: try await client.call(.get, "/openapi.json").body)
            })
        let responses = try dir.write("responses.json", bytes: Array(try JSONSerialization.data(withJSONObject: recorded)))
        let script = TestEnvironment.packageRoot + "/Tests/API/validate_responses.py"
        let result = try ExternalTool.python3.run([script, document, responses])
        #expect(result.status == 0, "\(result.combined)")
        #expect(result.stdout.contains("\(calls.count) responses checked, 0 problems"), "\(result.combined)")
    }
}
