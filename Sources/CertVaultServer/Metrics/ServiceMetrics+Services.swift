public import Hummingbird
internal import CertVaultVault
internal import CertVaultOnboarding

extension ServiceMetrics {
    /// Brings the gauges and the audit counters up to date from the running service: the
    /// vault's list (per-tenant expiry, tenant count), the onboarding store (states) and the
    /// credential reader's group-commit statistics. A part that cannot be read keeps its last values.
    public func refresh(from services: AppServices) async {
        if let entries = try? await services.vault.use({ try $0.list() }) { certificates(entries) }
        let store = services.onboardingStore
        if let records = try? await services.work.run({ try store.all() }) {
            onboardings(records: records)
            renewals(records: records)
        }
        if let reader = try? await services.vault.credentialReader() { audit(reader.committer.statistics) }
    }

    /// `GET /metrics` as a public route (no token) of the API's catalog, for
    /// `buildRouter(services:logger:extraRoutes:configure:)`: the gauges refreshed from `services`
    /// at most once per `refreshInterval`.
    public func apiRoute(services: AppServices, refreshInterval: Duration = .seconds(10)) -> APIRoute {
        let controller = MetricsController<CertVaultRequestContext>(metrics: self, refreshInterval: refreshInterval) { [self] in
            await refresh(from: services)
        }
        return APIRoute(.get, "/metrics", scope: nil, operationID: "metrics") { _, _, _ in await controller.respond() }
    }

    /// Adds the request metrics middleware, for `buildRouter(services:logger:extraRoutes:configure:)`'s
    /// `configure` (inside the problem middleware: errors are counted with their problem's status).
    public func configure(_ router: Router<CertVaultRequestContext>) {
        router.add(middleware: RequestMetricsMiddleware(metrics: self))
    }
}
