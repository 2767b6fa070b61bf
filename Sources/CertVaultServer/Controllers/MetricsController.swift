public import Hummingbird
internal import Synchronization

/// `GET /metrics`: every metric of ``ServiceMetrics`` in the Prometheus text format
/// (`text/plain; version=0.0.4`).
///
/// Needs no token, like `/healthz`: Prometheus scrapes it on the service's address. It carries
/// no secret and no token, only counts, durations, tenant ids and certificate expiry times
/// (the per-tenant expiry gauge is the point of it); docs/metrics.md says so and how to keep
/// the address internal.
public struct MetricsController<Context: RequestContext>: Sendable {
    let metrics: ServiceMetrics
    let refresh: (@Sendable () async -> Void)?
    let refreshInterval: Duration
    let lastRefresh = LastRefresh()

    final class LastRefresh: Sendable {
        let instant = Mutex<ContinuousClock.Instant?>(nil)
    }

    /// - Parameters:
    ///   - refresh: brings the gauges up to date before a scrape (the vault's list for the expiry
    ///     gauges, the onboarding store for the states, the audit committer's statistics); it
    ///     runs at most once per `refreshInterval`, so frequent scrapes of a large vault stay cheap.
    public init(metrics: ServiceMetrics, refreshInterval: Duration = .seconds(10), refresh: (@Sendable () async -> Void)? = nil) {
        self.metrics = metrics
        self.refresh = refresh
        self.refreshInterval = refreshInterval
    }

    /// The media type of the Prometheus text format.
    public static var mediaType: String { "text/plain; version=0.0.4; charset=utf-8" }

    public func addRoutes(to router: Router<Context>) {
        router.get("/metrics") { _, _ -> Response in await respond() }
    }

    /// The answer to `GET /metrics`: the refresh when it is due, then every metric.
    public func respond() async -> Response {
        if let refresh {
            let now = ContinuousClock.now
            let due = lastRefresh.instant.withLock { last in
                guard last.map({ now - $0 >= refreshInterval }) ?? true else { return false }
                last = now
                return true
            }
            if due { await refresh() }
        }
        var headers = HTTPFields()
        headers[.contentType] = Self.mediaType
        headers[.cacheControl] = "no-store"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: metrics.text())))
    }
}
