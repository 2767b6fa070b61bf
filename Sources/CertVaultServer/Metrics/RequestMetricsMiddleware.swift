public import Hummingbird

/// Counts every request and records its duration in ``ServiceMetrics``, labelled with the
/// matched route's pattern (never the raw path: tenant ids and query strings do not become
/// series; a request that matched no route is `unmatched`). Added outside the problem+json
/// middleware, so errors are counted with the status their problem answer carries.
public struct RequestMetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: ServiceMetrics

    /// Records into `metrics`.
    public init(metrics: ServiceMetrics) {
        self.metrics = metrics
    }

    /// The matched route's pattern; `unmatched` for none (Hummingbird says `NotFound`).
    static func route(_ context: Context) -> String {
        guard let path = context.endpointPath, path != "NotFound" else { return "unmatched" }
        return path
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        let method = request.method.rawValue
        do {
            let response = try await next(request, context)
            metrics.request(method: method, route: Self.route(context), status: Int(response.status.code),
                            seconds: ContinuousClock.now - start)
            return response
        } catch {
            let status = (error as? any HTTPResponseError).map { Int($0.status.code) } ?? 500
            metrics.request(method: method, route: Self.route(context), status: status, seconds: ContinuousClock.now - start)
            throw error
        }
    }
}
