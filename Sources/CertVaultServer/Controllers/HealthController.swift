public import Hummingbird

/// `GET /healthz`: the process is alive and answering. Needs no token.
public struct HealthController<Context: RequestContext>: Sendable {
    public init() {}

    public func addRoutes(to router: Router<Context>) {
        router.get("/healthz") { _, _ -> Response in
            var headers = HTTPFields()
            headers[.contentType] = "application/json"
            headers[.cacheControl] = "no-store"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: "{\"status\":\"alive\"}")))
        }
    }
}
