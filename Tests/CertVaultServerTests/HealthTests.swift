import CertVaultConfiguration
import CertVaultServer
import Hummingbird
import HummingbirdTesting
import Logging
import Testing

@Suite("Service health and errors")
struct HealthTests {
    @Test("GET /healthz answers alive; an unknown route is a problem+json 404")
    func healthAndUnknownRoute() async throws {
        let router = buildRouter(configuration: ServiceConfiguration(), logger: Logger(label: "test"))
        let app = Application(router: router)
        try await app.test(.router) { client in
            try await client.execute(uri: "/healthz", method: .get) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body) == "{\"status\":\"alive\"}")
            }
            try await client.execute(uri: "/v1/nothing-here", method: .get) { response in
                #expect(response.status == .notFound)
                #expect(response.headers[.contentType] == "application/problem+json")
                #expect(String(buffer: response.body).contains("\"code\":\"not-found\""))
            }
        }
    }
}
