internal import CertVaultCore
internal import CertVaultIssuer
internal import Foundation
internal import Hummingbird
internal import HummingbirdCore
internal import HummingbirdTLS
internal import Logging
internal import NIOCore
internal import NIOPosix
internal import ServiceLifecycle

/// Serves the simulator's router over HTTP/1.1 (keep-alive), with TLS from our issuer's
/// certificate or plain, on an event loop group of its own that also runs the handlers'
/// tasks (``EventLoopTaskExecutor``).
///
/// It runs HummingbirdCore's server directly rather than `Application.run()`: an application
/// runs in a `ServiceGroup`, whose cancellation creates unstructured tasks on Swift's global
/// pool, and a synchronous ``stop()`` called from a test must not wait for that pool.
final class SimulatorServer: @unchecked Sendable {
    /// The largest request body accepted (larger ones get 413).
    static let maximumBodyBytes = 16 << 20
    /// An idle keep-alive connection is closed after this long.
    static let idleTimeout = TimeAmount.seconds(60)

    let host: String
    let usesTLS: Bool
    private let requestedPort: Int
    private let serverBuilder: @Sendable (ConnectionRegistry) throws -> HTTPServerBuilder
    private let responder: RouterResponder<SimulatorRequestContext>
    private let logger = Logger(label: "certvault.vb365-simulator") { _ in SwiftLogNoOpLogHandler() }
    private let lock = NSLock()
    private var running: Running?
    private var boundPort: Int?

    /// One run: from ``start()`` to ``stop()``.
    private struct Running {
        let group: MultiThreadedEventLoopGroup
        let task: Task<Void, Never>
        let finished: DispatchSemaphore
        let listener: any Channel
        let connections: ConnectionRegistry
    }

    init(state: SimulatorState, host: String, port: Int, identity: TLSServerIdentity?) throws {
        self.host = host
        requestedPort = port
        usesTLS = identity != nil
        responder = buildSimulatorRouter(state: state).buildResponder()
        let tls = try identity.map(Self.tlsConfiguration)
        serverBuilder = { connections in
            let http = HTTPServerBuilder.http1(configuration: .init(additionalChannelHandlers: [connections.tracker()],
                                                                    idleTimeout: Self.idleTimeout))
            guard let tls else { return http }
            return try .tls(http, tlsConfiguration: tls)
        }
    }

    /// The port, known once ``start()`` returned (0 asks the system for a free one).
    var port: Int { lock.withLock { boundPort } ?? requestedPort }

    /// The base URL, e.g. `https://127.0.0.1:4443`.
    var baseURL: String { "\(usesTLS ? "https" : "http")://\(host.contains(":") ? "[\(host)]" : host):\(port)" }

    /// Binds and starts answering; returns once the port is bound.
    func start() throws {
        guard lock.withLock({ running == nil }) else { return }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let connections = ConnectionRegistry()
        let started = StartSignal()
        let finished = DispatchSemaphore(value: 0)
        let responder = responder
        let logger = logger
        let server: any Service
        do {
            server = try serverBuilder(connections).buildServer(
                configuration: ServerConfiguration(address: .hostname(host, port: requestedPort)),
                eventLoopGroup: group, logger: logger,
                responder: { (request: Request, writer: consuming ResponseWriter, channel: any Channel) in
                    // What Application.run() does per request, less the Date and Server headers.
                    let context = SimulatorRequestContext(source: .init(channel: channel, logger: logger))
                    let response = try await responder.respond(to: request, context: context)
                    try await writer.write(response: response.head, body: response.body)
                },
                onServerRunning: { channel in started.report(.success(channel)) })
        } catch {
            try? group.syncShutdownGracefully()
            throw Self.failure(error, host: host, port: requestedPort)
        }
        let task = Task(executorPreference: EventLoopTaskExecutor(group.next())) {
            do {
                try await server.run()
                started.report(.failure(CancellationError()))
            } catch {
                started.report(.failure(error))
            }
            finished.signal()
        }
        switch started.wait() {
        case .success(let listener):
            lock.withLock {
                boundPort = listener.localAddress?.port ?? requestedPort
                running = Running(group: group, task: task, finished: finished, listener: listener, connections: connections)
            }
        case .failure(let error):
            finished.wait()
            try? group.syncShutdownGracefully()
            throw Self.failure(error, host: host, port: requestedPort)
        }
    }

    /// Stops listening and closes every connection; waits (briefly) until all is closed.
    func stop() {
        guard let run = lock.withLock({ () -> Running? in
            defer { running = nil }
            return running
        }) else { return }
        run.listener.close(promise: nil)
        run.connections.closeAll()
        run.task.cancel()
        // Every connection closes within the TLS shutdown timeout; a run that does not end in
        // time keeps its thread rather than having its loop shut down under it.
        guard run.finished.wait(timeout: .now() + 10) == .success else { return }
        try? run.group.syncShutdownGracefully()
    }

    /// NIOSSL's server configuration from our issuer's PEM certificate and key: TLS 1.2 or later.
    private static func tlsConfiguration(_ identity: TLSServerIdentity) throws -> TLSConfiguration {
        do {
            let certificate = try NIOSSLCertificate(bytes: Array(identity.certificatePEM.utf8), format: .pem)
            let key = try identity.privateKeyPEM.withUnsafeBytes { raw in
                var pem = Array(raw)
                defer { SecureWipe.wipe(&pem) }
                return try NIOSSLPrivateKey(bytes: pem, format: .pem)
            }
            var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: [.certificate(certificate)],
                                                                         privateKey: .privateKey(key))
            configuration.minimumTLSVersion = .tlsv12
            // A client that does not answer close_notify (an idle pooled connection) must not hold
            // stop() or a dropped connection for NIOSSL's default 5 s.
            configuration.shutdownTimeout = .milliseconds(250)
            return configuration
        } catch {
            throw CertVaultError(.vb365Simulator, "The simulator could not load its TLS certificate and key.",
                                 hint: "This is a bug; run with --plain-http to go on without TLS.", underlying: "\(error)")
        }
    }

    private static func failure(_ error: any Error, host: String, port: Int) -> CertVaultError {
        if let error = error as? CertVaultError { return error }
        if let error = error as? IOError {
            let inUse = error.errnoCode == EADDRINUSE
            return CertVaultError(.vb365Simulator, "Could not listen on \(host):\(port): \(String(cString: strerror(error.errnoCode))).",
                                  hint: inUse ? "Another program uses the port; choose another with --port." : "Check the address and port.")
        }
        return CertVaultError(.vb365Simulator, "Could not listen on \(host):\(port).", hint: "Check the address and port.",
                              underlying: "\(error)")
    }
}

/// The first outcome of a start: the listening channel, or why there is none.
private final class StartSignal: @unchecked Sendable {
    private let condition = NSCondition()
    private var outcome: Result<any Channel, any Error>?

    /// Keeps the first outcome reported.
    func report(_ result: Result<any Channel, any Error>) {
        condition.withLock {
            guard outcome == nil else { return }
            outcome = result
            condition.broadcast()
        }
    }

    func wait() -> Result<any Channel, any Error> {
        condition.withLock {
            while outcome == nil { condition.wait() }
            return outcome!
        }
    }
}
