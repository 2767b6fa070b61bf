import Foundation

/// Whether the service can do its work: the vault is open and readable, and VB365 answers. The
/// VB365 check costs a round trip (and a login), so its result is kept for ``cacheSeconds``: a load
/// balancer polling `/readyz` every second causes one VB365 call per interval, not one per poll.
public final class ReadinessProbe: @unchecked Sendable {
    // Safety: `cached` is read and written under `lock` only.
    private let lock = NSLock()
    private var cached: (at: Double, result: Check)?
    private let vb365: (@Sendable () throws -> Void)?
    /// How long a VB365 result is reused.
    public let cacheSeconds: Double

    /// The outcome of one check.
    public struct Check: Sendable, Hashable {
        /// `ok`, `failed` or `not-configured`.
        public var status: String
        /// Why it failed (safe to show: a library error's sentence, never a secret).
        public var detail: String?
    }

    /// - Parameter vb365: a blocking call that throws when VB365 cannot be reached (for example
    ///   `{ _ = try client.apiVersion() }`); `nil` when the service has no VB365 connection.
    public init(vb365: (@Sendable () throws -> Void)?, cacheSeconds: Double = 5) {
        self.vb365 = vb365
        self.cacheSeconds = cacheSeconds
    }

    /// The VB365 check, from the cache when it is fresh (blocking: run it on ``BlockingWork``).
    func checkVB365(now: Double = Date().timeIntervalSince1970) -> Check {
        guard let vb365 else { return Check(status: "not-configured", detail: nil) }
        if let cached = lock.withLock({ cached }), now - cached.at < cacheSeconds, now >= cached.at { return cached.result }
        let result: Check
        do {
            try vb365()
            result = Check(status: "ok", detail: nil)
        } catch {
            result = Check(status: "failed", detail: Problem.safeDescription(of: error))
        }
        lock.withLock { cached = (now, result) }
        return result
    }
}
