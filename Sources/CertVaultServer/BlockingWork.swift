import NIOPosix
public import ServiceLifecycle

/// A bounded pool of threads for blocking library work: vault I/O and fsync, RSA key generation,
/// libcurl calls. Route handlers `await` it, so a NIO event loop never blocks. It is a service of the
/// application's ServiceGroup: started before the HTTP server, shut down after it.
public final class BlockingWork: Service, Sendable {
    let pool: NIOThreadPool

    /// A pool of `threads` threads (at least 1).
    public init(threads: Int) {
        self.pool = NIOThreadPool(numberOfThreads: max(1, threads))
        self.pool.start()
    }

    /// Runs `body` on one of the pool's threads and returns its result.
    public func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await pool.runIfActive(body)
    }

    /// Stops the pool outside a ServiceGroup (tools and tests that never `run()` it); work already
    /// queued finishes first, later work fails.
    public func shutdown() async throws {
        try await pool.shutdownGracefully()
    }

    public func run() async throws {
        // Wait for graceful shutdown, then stop taking work once in-flight handlers are done.
        try? await gracefulShutdown()
        try await pool.shutdownGracefully()
    }
}
