public import CertVaultConfiguration
public import Hummingbird
public import HummingbirdCore
public import Logging
public import NIOCore
public import ServiceLifecycle

/// Builds the service's router: problem+json for every error, then the controllers' routes.
///
/// The router of the skeleton: `/healthz` and `/metrics` only, for callers that have no ``AppServices``.
public func buildRouter(configuration: ServiceConfiguration, logger: Logger,
                        metrics: ServiceMetrics = .shared) -> Router<CertVaultRequestContext> {
    let router = Router(context: CertVaultRequestContext.self)
    router.add(middleware: RequestMetricsMiddleware(metrics: metrics))
    router.add(middleware: ProblemMiddleware())
    HealthController().addRoutes(to: router)
    MetricsController(metrics: metrics).addRoutes(to: router)
    return router
}

/// Builds the service's router with every route of ``APIRoutes/all`` plus `extraRoutes`.
///
/// Middleware, outermost first: whatever `configure` adds, ``ProblemMiddleware`` (every error
/// becomes problem+json), request logging at debug level (the `Authorization` header redacted),
/// ``BodyLimitMiddleware`` (the configured body cap), then, on protected routes only,
/// ``TokenAuthenticationMiddleware``. Each route then checks its scope and tenant (``APIRoute``).
///
/// Other parts of the service plug in here: `extraRoutes` for routes that belong in the route
/// catalog (they are authorized the same way; give `scope: nil` for public ones such as
/// `/metrics`), and `configure` for anything else on the router, called first: middleware it adds
/// is outermost (a metrics middleware there sees every final status, problem responses included).
public func buildRouter(
    services: AppServices, logger: Logger, extraRoutes: [APIRoute] = [],
    configure: (Router<CertVaultRequestContext>) -> Void = { _ in }
) -> Router<CertVaultRequestContext> {
    let router = Router(context: CertVaultRequestContext.self)
    configure(router)
    router.add(middleware: ProblemMiddleware())
    // Requests at debug level, with their headers but never the token's value.
    // (Invitation tokens in /onboard/ paths are replaced by PageTokenLogFilter.)
    router.add(middleware: PageTokenLogFilter(
        LogRequestsMiddleware(.debug, includeHeaders: .all(except: [.cookie]), redactHeaders: [.authorization]), level: .debug))
    router.add(middleware: BodyLimitMiddleware(maximum: services.configuration.maxRequestBodyBytes))
    let protected = router.group()
    protected.add(middleware: TokenAuthenticationMiddleware(tokens: services.tokens, work: services.work, clock: services.clock))
    for route in APIRoutes.all + extraRoutes {
        let methods: any RouterMethods<CertVaultRequestContext> = route.scope == nil ? router : protected
        methods.on(RouterPath(route.path), method: route.method) { request, context in
            try await route.respond(request, context, services: services)
        }
    }
    PortalController(services: services, logger: logger).addRoutes(to: router)
    AdminController(services: services).addRoutes(to: router)
    return router
}

/// Builds the application `certvault serve` runs.
///
/// The skeleton's variant: the router of ``buildRouter(configuration:logger:)`` and a blocking pool.
public func buildApplication(configuration: ServiceConfiguration, logger: Logger) throws -> some ApplicationProtocol {
    let router = buildRouter(configuration: configuration, logger: logger)
    let work = BlockingWork(threads: configuration.blockingThreads)
    return Application(
        router: router,
        configuration: .init(
            address: .hostname(configuration.listen.host, port: configuration.listen.port),
            serverName: "certvault"),
        services: [work],
        logger: logger
    )
}

/// Builds the application with the whole API.
///
/// - Parameters:
///   - server: the HTTP server (`.http1()` for plain HTTP; HummingbirdTLS's `.tls(...)` for HTTPS).
///   - additionalServices: services that run beside the HTTP server in its ServiceGroup (the
///     onboarding worker, for example); they start after ``AppServices/work`` and stop before it.
///   - extraRoutes, configure: as for ``buildRouter(services:logger:extraRoutes:configure:)``.
public func buildApplication(
    services: AppServices, logger: Logger, server: HTTPServerBuilder = .http1(),
    additionalServices: [any Service] = [], extraRoutes: [APIRoute] = [],
    configure: (Router<CertVaultRequestContext>) -> Void = { _ in },
    onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }
)
    -> some ApplicationProtocol
{
    let router = buildRouter(services: services, logger: logger, extraRoutes: extraRoutes, configure: configure)
    let listen = services.configuration.listen
    return Application(
        router: router,
        server: server,
        configuration: .init(address: .hostname(listen.host, port: listen.port), serverName: "certvault"),
        services: [services.work] + additionalServices,
        onServerRunning: onServerRunning,
        logger: logger
    )
}
