public import CertVaultCore
public import Logging
internal import Foundation
internal import Synchronization

/// Exactly one replica runs a background job's pass: the job's lease (`job:<name>`), taken or
/// renewed before every pass.
///
/// The services call ``hold()`` (or ``runPass(_:)``) before each pass of the onboarding worker,
/// the renewal scheduler and the webhook delivery. The replica holding the lease runs the pass;
/// the others skip it. When the holder dies, its lease expires after ``seconds`` and the next
/// replica to ask takes it over (with a higher fence). Passes must come more often than
/// ``seconds`` to keep the lease; a long pass renews it while it runs (``runPass(_:)``).
public final class JobLease: Sendable {
    /// The onboarding worker's lease.
    public static let onboardingWorker = "job:onboarding-worker"
    /// The renewal scheduler's lease.
    public static let renewalScheduler = "job:renewal-scheduler"
    /// The webhook delivery's lease.
    public static let webhookDelivery = "job:webhook-delivery"

    /// The lease's name (`job:<name>`).
    public let name: String
    /// This replica's holder name.
    public let holder: String
    /// How long a holding lasts without a renewal.
    public let seconds: Double
    private let leases: any LeaseService
    private let logger: Logger
    private let current = Mutex<Lease?>(nil)

    /// A job lease named `name` (see ``onboardingWorker`` and its siblings) for `holder` (the
    /// replica id: `[storage] replica_id`), held `seconds` at a time.
    public init(name: String, leases: any LeaseService, holder: String, seconds: Double, logger: Logger) {
        self.name = name
        self.leases = leases
        self.holder = holder
        self.seconds = max(0.1, seconds)
        self.logger = logger
    }

    /// The lease this replica holds now, as of the last ``hold()``.
    public var lease: Lease? { current.withLock { $0 } }

    /// Takes the lease or renews it; true while this replica holds it. One round trip; blocks.
    /// A store that cannot be reached counts as not holding (the pass is skipped, and tried again).
    public func hold() -> Bool {
        let held = current.withLock { $0 }
        do {
            var next: Lease?
            if let held { next = try leases.renew(held, seconds: seconds) }
            if next == nil { next = try leases.acquire(name, holder: holder, seconds: seconds) }
            if let next, held == nil || held?.fence != next.fence {
                logger.info("\(name): this replica (\(holder)) runs the job now (fence \(next.fence)\(next.takenOver ? ", taken over from \(next.previousHolder ?? "?")" : ""))")
            } else if next == nil, held != nil {
                logger.warning("\(name): this replica (\(holder)) lost the job's lease; another replica runs it now")
            }
            current.withLock { $0 = next }
            return next != nil
        } catch {
            logger.warning("\(name): cannot take or renew the job's lease (\(error)); skipping this pass")
            current.withLock { $0 = nil }
            return false
        }
    }

    /// ``hold()`` on a thread of its own, for async callers (never blocks the cooperative pool).
    public func holdAsync() async -> Bool {
        await withCheckedContinuation { continuation in
            Thread.detachNewThread { continuation.resume(returning: self.hold()) }
        }
    }

    /// Runs `pass` when this replica holds the job's lease, renewing it while the pass runs;
    /// nil (and `pass` not run) when another replica holds it.
    public func runPass<T: Sendable>(_ pass: @Sendable () async throws -> T) async throws -> T? {
        guard await holdAsync() else { return nil }
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(self.seconds / 3))
                    if Task.isCancelled { break }
                    _ = await self.holdAsync()
                }
                return nil
            }
            let result = try await pass()
            group.cancelAll()
            return result
        }
    }

    /// Gives the lease up (at shutdown), so another replica takes the job at once.
    public func release() {
        guard let held = current.withLock({ lease -> Lease? in defer { lease = nil }; return lease }) else { return }
        try? leases.release(held)
    }
}
