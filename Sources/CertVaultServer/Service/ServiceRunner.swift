public import CertVaultConfiguration
import CertVaultCore
public import CertVaultOnboarding
import Foundation
import Hummingbird
import HummingbirdTLS
import HummingbirdCore
import UnixSignals
public import Logging
import NIOCore
public import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#endif

/// What `certvault serve` announces once it listens: on standard output, and as JSON in the
/// `--ready-file` so that tests, the demo and scripts find the port and the certificate to trust.
public struct ServiceReady: Codable, Sendable, Hashable {
    /// `https://HOST:PORT` (or `http://` for plain HTTP on loopback).
    public var url: String
    /// The port listened on (the one picked when the configuration says 0).
    public var port: Int
    /// SHA-256 of the TLS certificate, upper-case hex with colons; nil for plain HTTP.
    public var fingerprintSHA256: String?
    /// The public-key pin as curl spells it (`--pinnedpubkey`); nil for plain HTTP.
    public var publicKeyPin: String?
    /// The certificate file a client trusts (`curl --cacert`); nil for plain HTTP.
    public var certificateFile: String?
    /// The service's process id.
    public var pid: Int32

    public init(url: String, port: Int, fingerprintSHA256: String?, publicKeyPin: String?, certificateFile: String?, pid: Int32) {
        self.url = url
        self.port = port
        self.fingerprintSHA256 = fingerprintSHA256
        self.publicKeyPin = publicKeyPin
        self.certificateFile = certificateFile
        self.pid = pid
    }

    /// Writes the JSON to `path`, replacing an older file (written whole, then renamed).
    public func write(to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let bytes = Array(try encoder.encode(self)) + [10]
        let temporary = "\(path).tmp-\(PrivateFiles.randomName())"
        try PrivateFiles.writeNewFile(temporary, bytes: bytes)
        guard rename(temporary, path) == 0 else {
            let reason = PrivateFiles.errnoText()
            unlink(temporary)
            throw CertVaultError(.fileSystem, "Cannot write the ready file '\(path)'.", underlying: reason)
        }
    }

    /// Reads a ready file.
    public static func read(from path: String) throws -> ServiceReady {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CertVaultError(.fileSystem, "Cannot read the ready file '\(path)'.")
        }
        return try JSONDecoder().decode(ServiceReady.self, from: data)
    }
}

/// Runs the service: TLS, the HTTP application, the onboarding worker, all in one ServiceGroup
/// that shuts down gracefully on SIGTERM and SIGINT.
///
/// Shutdown: the HTTP server stops accepting and finishes the requests in flight; then the
/// worker stops starting tenants and gives the ones in flight the rest of the grace period.
/// When `shutdown_grace_seconds` have passed, whatever still runs is cancelled and the process
/// ends; every onboarding is then in a state the next start continues from.
public enum ServiceRunner {
    /// Runs until a signal (or an error) ends it.
    ///
    /// - Parameters:
    ///   - services: what the routes use (``AppServices``; its configuration says where to listen).
    ///   - worker: the onboarding worker, or nil when no VB365 server is configured.
    ///   - selfSignedFile: where a self-signed certificate is written for clients.
    ///   - readyFile: where ``ServiceReady`` is written once listening.
    ///   - background: further services that run beside the HTTP server (the renewal scheduler, the
    ///     webhook deliverer); they start after the blocking pool and stop after the HTTP server.
    ///   - announce: called once listening (the command prints it).
    /// - Throws: the errors of preparing TLS, and of the services.
    public static func run(services: AppServices, worker: OnboardingWorker?, background: [any Service] = [],
                           selfSignedFile: String, readyFile: String?, logger: Logger,
                           announce: @escaping @Sendable (ServiceReady) -> Void = { _ in }) async throws {
        let configuration = services.configuration
        let tls = try ServerTLS.make(configuration.tls, listenHost: configuration.listen.host, selfSignedFile: selfSignedFile)
        let server: HTTPServerBuilder = if let tlsConfiguration = tls.configuration {
            try .tls(.http1(), tlsConfiguration: tlsConfiguration)
        } else {
            .http1()
        }
        let host = configuration.listen.host
        // The worker runs inside the application's group: it starts after the blocking pool and
        // the HTTP server stops first (stop accepting, finish requests), then the worker (drain).
        // GET /metrics (no token) and the request metrics, every metric defined once: the shared set.
        let metrics = ServiceMetrics.shared
        let app = buildApplication(
            services: services, logger: logger, server: server,
            additionalServices: (worker.map { [OnboardingWorkerService(worker: $0)] } ?? []) + background,
            extraRoutes: [metrics.apiRoute(services: services)], configure: { metrics.configure($0) },
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? configuration.listen.port
                let shownHost = host.contains(":") ? "[\(host)]" : host
                let ready = ServiceReady(url: "\(tls.scheme)://\(shownHost):\(port)", port: port, fingerprintSHA256: tls.fingerprintSHA256,
                                         publicKeyPin: tls.publicKeyPin, certificateFile: tls.certificateFile, pid: getpid())
                if let readyFile {
                    do {
                        try ready.write(to: readyFile)
                    } catch {
                        logger.error("cannot write the ready file: \(error)")
                    }
                }
                announce(ready)
            })
        var group = ServiceGroupConfiguration(services: [app], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        let grace = max(0, configuration.shutdownGraceSeconds)
        group.maximumGracefulShutdownDuration = .milliseconds(Int64(grace * 1000))
        group.maximumCancellationDuration = .seconds(5)
        try await ServiceGroup(configuration: group).run()
        if let readyFile { unlink(readyFile) }
        logger.info("certvault serve: stopped")
    }
}
