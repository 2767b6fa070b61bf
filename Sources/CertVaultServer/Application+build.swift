public import CertVaultConfiguration
public import Hummingbird
public import Logging

/// Builds the service's router: problem+json for every error, then the controllers' routes.
public func buildRouter(configuration: ServiceConfiguration, logger: Logger,
                        metrics: ServiceMetrics = .shared) -> Router<CertVaultRequestContext> {
    let router = Router(context: CertVaultRequestContext.self)
    router.add(middleware: RequestMetricsMiddleware(metrics: metrics))
    router.add(middleware: ProblemMiddleware())
    HealthController().addRoutes(to: router)
    MetricsController(metrics: metrics).addRoutes(to: router)
    return router
}

/// Builds the application `certvault serve` runs.
public func buildApplication(configuration: ServiceConfiguration, logger: Logger) throws -> some ApplicationProtocol {
    let router = buildRouter(configuration: configuration, logger: logger)
    let work = BlockingWork(threads: configuration.blockingThreads)
    return Application(
        router: router,
        configuration: .init(address: .hostname(configuration.listen.host, port: configuration.listen.port),
                             serverName: "certvault"),
        services: [work],
        logger: logger
    )
}
