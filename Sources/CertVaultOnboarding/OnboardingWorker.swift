public import CertVaultCore
public import Logging
internal import CertVaultVB365
public import Foundation
internal import Synchronization

#if canImport(Glibc)
internal import Glibc
#endif

/// The service's background worker: finishes onboardings by itself.
///
/// One loop lists the ``OnboardingStore`` and carries every tenant that is `awaiting-customer`
/// or `adding-organization` one step further with ``Onboarding/resume(_:wait:)`` in its
/// `checkOnce` form: it asks VB365 whether the customer has signed in, adds the organization as
/// soon as they have, marks a code that ran out as `expired`, and reconciles an add left
/// unfinished (looked up with `GET Organizations` before anything is sent again, never a blind
/// re-POST). The rules are the CLI's, because the code is the CLI's: the worker only decides
/// when and how often.
///
/// - At most ``Settings/concurrency`` tenants are worked on at once, each on a thread of its
///   own (the workflow blocks on the network and the vault; it never runs on Swift's
///   cooperative pool or a NIO event loop).
/// - A tenant is checked every ``Settings/pollInterval`` seconds; after an error (VB365
///   unreachable, a 5xx, an add whose outcome is not known yet) it waits twice as long each
///   time, up to ``Settings/maximumBackoff``, and is back to the normal interval after its
///   first success.
/// - A tenant whose lock another process holds (`certvault onboard wait` running in a shell)
///   is left to that process this round.
/// - ``stop()`` starts no new tenant; tenants in flight get ``Settings/drainSeconds`` to
///   finish, then the loop returns without them. Cancelling the task running ``run()`` returns
///   at once. Either way every record stays in a state the next start continues from: the
///   workflow persists each step before and after it runs.
public final class OnboardingWorker: Sendable {
    /// How often and how much the worker works.
    public struct Settings: Sendable, Hashable {
        /// Seconds between two `DeviceCode/check` calls for one tenant.
        public var pollInterval: Double
        /// How many tenants are worked on at once (at least 1).
        public var concurrency: Int
        /// The longest wait after repeated errors, in seconds.
        public var maximumBackoff: Double
        /// Seconds between two listings of the store (new onboardings are found by it, or at
        /// once after ``OnboardingWorker/wake()``); `nil`: the poll interval.
        public var rescanInterval: Double?
        /// Seconds that tenants in flight get to finish after ``OnboardingWorker/stop()``.
        public var drainSeconds: Double

        public init(pollInterval: Double = 5, concurrency: Int = 4, maximumBackoff: Double = 300, rescanInterval: Double? = nil,
                    drainSeconds: Double = 20) {
            self.pollInterval = pollInterval
            self.concurrency = concurrency
            self.maximumBackoff = maximumBackoff
            self.rescanInterval = rescanInterval
            self.drainSeconds = drainSeconds
        }

        /// The wait after `failures` consecutive errors (1 or more): the poll interval doubled
        /// per error, capped at ``maximumBackoff``, before jitter.
        public func backoff(afterFailures failures: Int) -> Double {
            let exponent = Double(min(max(failures, 1), 30))
            return min(maximumBackoff, max(pollInterval, 0.01) * pow(2, exponent))
        }
    }

    /// What the worker did, for logs, metrics and tests.
    public enum Event: Sendable, Hashable {
        /// The tenant was carried as far as it could go; `state` is where it stands now.
        case progressed(TenantID, OnboardingRecord.State)
        /// The step failed; the tenant is tried again after `retryIn` seconds.
        case failed(TenantID, failures: Int, retryIn: Double, reason: String)
        /// Another process holds the tenant's lock; it is left to it this round.
        case busyElsewhere(TenantID)
        /// Listing the store failed; it is listed again after `retryIn` seconds.
        case scanFailed(reason: String, retryIn: Double)
        /// Still in flight when the drain time ran out; the next start continues it.
        case abandoned(TenantID)
    }

    /// Where one tenant stands in the worker's schedule.
    public struct TenantSchedule: Sendable, Hashable {
        /// The state at the last look.
        public var state: OnboardingRecord.State
        /// Consecutive errors (0 after a success).
        public var failures: Int
        /// When the tenant is due next.
        public var due: Date
        /// Whether a thread is working on it now.
        public var inFlight: Bool
    }

    private struct State {
        var schedule: [TenantID: TenantSchedule] = [:]
        var stopping = false
        var scanRequested = true
        var nextScan = Date.distantPast
        var scanFailures = 0
        var nextJobCheck = Date.distantPast
    }

    private let onboarding: Onboarding
    private let settings: Settings
    private let logger: Logger
    private let observer: @Sendable (Event) -> Void
    private let jobLease: JobLease?
    private let state = Mutex(State())

    /// A worker for the records of `onboarding.store`, talking to `onboarding.client`.
    ///
    /// - Parameters:
    ///   - jobLease: with several replicas, the lease `job:onboarding-worker` (``JobLease/onboardingWorker``):
    ///     only the replica holding it lists the store and starts tenants (each tenant is worked on
    ///     under its own lease in any case). Nil: this worker always works (one replica).
    ///   - observer: called (on any thread) with every ``Event``.
    public init(onboarding: Onboarding, settings: Settings = .init(), logger: Logger, jobLease: JobLease? = nil,
                observer: @escaping @Sendable (Event) -> Void = { _ in }) {
        self.jobLease = jobLease
        self.onboarding = onboarding
        var settings = settings
        settings.concurrency = max(1, settings.concurrency)
        settings.pollInterval = max(0.01, settings.pollInterval)
        self.settings = settings
        self.logger = logger
        self.observer = observer
    }

    /// Stops gracefully: no new tenant is started; ``run()`` returns once the tenants in flight
    /// are done or ``Settings/drainSeconds`` have passed.
    public func stop() {
        state.withLock { $0.stopping = true }
    }

    /// Lists the store at the next tick instead of at the next rescan (call it after starting
    /// or renewing an onboarding, so the worker picks it up at once).
    public func wake() {
        state.withLock { $0.scanRequested = true }
    }

    /// Checks `tenant` at the next tick instead of at its due time: when the worker follows it,
    /// it is not in flight, has no errors pending (a backoff is kept), and its last check is at least
    /// `minimumSpacing` seconds ago. The customer's open sign-in page asks for this at each status
    /// poll, so the page turns to "Connected" soon after the sign-in without every poll reaching VB365.
    public func expedite(_ tenant: TenantID, minimumSpacing: Double) {
        let now = Date()
        state.withLock { state in
            guard var entry = state.schedule[tenant], !entry.inFlight, entry.failures == 0, entry.due > now else { return }
            let lastCheck = entry.due.addingTimeInterval(-settings.pollInterval)
            guard now.timeIntervalSince(lastCheck) >= minimumSpacing else { return }
            entry.due = now
            state.schedule[tenant] = entry
        }
    }

    /// The worker's schedule, by tenant: the tenants it is following now.
    public func schedule() -> [TenantID: TenantSchedule] {
        state.withLock { $0.schedule }
    }

    private enum Finished: Sendable {
        case tick
        case tenant(TenantID)
    }

    /// Runs the loop until ``stop()`` (then drains) or until the task is cancelled.
    public func run() async {
        logger.info("onboarding worker: started (poll every \(settings.pollInterval) s, \(settings.concurrency) at once)")
        await withTaskGroup(of: Finished.self) { group in
            var inFlight = 0
            // Exactly one tick is pending at any time while the loop runs.
            group.addTask { await self.tick() }
            while !Task.isCancelled, let finished = await group.next() {
                if case .tenant = finished {
                    inFlight -= 1
                    continue
                }
                if state.withLock({ $0.stopping }) { break }
                if let jobLease, !(await holdJob(jobLease)) {
                    group.addTask { await self.tick() }
                    continue
                }
                await scanIfDue()
                for tenant in takeDue(limit: settings.concurrency - inFlight) {
                    inFlight += 1
                    group.addTask { await self.work(on: tenant); return .tenant(tenant) }
                }
                group.addTask { await self.tick() }
            }
            if !Task.isCancelled && inFlight > 0 {
                logger.info("onboarding worker: stopping; \(inFlight) tenant(s) in flight get up to \(settings.drainSeconds) s")
                group.addTask {
                    try? await Task.sleep(for: .seconds(self.settings.drainSeconds))
                    return .tick
                }
                while inFlight > 0, let finished = await group.next() {
                    guard case .tenant = finished else { break }
                    inFlight -= 1
                }
            }
            // Tenants still in flight stop being waited for; their threads finish the step
            // they are in (each step is persisted before and after it runs).
            group.cancelAll()
        }
        for (tenant, entry) in state.withLock({ $0.schedule }) where entry.inFlight {
            logger.warning("onboarding worker: \(tenant) still in flight at shutdown; the next start continues it")
            observer(.abandoned(tenant))
        }
        logger.info("onboarding worker: stopped")
    }

    /// Takes or renews the job's lease at most every third of its time (each tick would be a
    /// round trip to the database several times a second).
    private func holdJob(_ jobLease: JobLease) async -> Bool {
        let now = Date()
        let due = state.withLock { state -> Bool in
            guard now >= state.nextJobCheck else { return false }
            state.nextJobCheck = now.addingTimeInterval(min(jobLease.seconds / 3, max(0.05, settings.pollInterval)))
            return true
        }
        if !due { return jobLease.lease != nil }
        let holds = await jobLease.holdAsync()
        return holds
    }

    /// Sleeps one tick: short enough to notice ``stop()`` and due tenants promptly.
    private func tick() async -> Finished {
        let seconds = max(0.01, min(0.25, settings.pollInterval / 2))
        try? await Task.sleep(for: .seconds(seconds))
        return .tick
    }

    // MARK: The schedule

    /// Lists the store when a rescan is due or was asked for, and follows the tenants that
    /// have work: new ones are due at once, ones no longer open are dropped.
    private func scanIfDue() async {
        let now = Date()
        let due = state.withLock { $0.scanRequested || $0.nextScan <= now }
        guard due else { return }
        state.withLock {
            $0.scanRequested = false
            $0.nextScan = now.addingTimeInterval(settings.rescanInterval ?? settings.pollInterval)
        }
        let store = onboarding.store
        guard let listed = await Self.onThread(cancellable: false, { try store.all() }) else { return }
        switch listed {
        case .success(let records):
            let open = Dictionary(records.filter { $0.state == .awaitingCustomer || $0.state == .addingOrganization }
                .map { ($0.intake.tenant, $0.state) }) { first, _ in first }
            state.withLock { state in
                state.scanFailures = 0
                for (tenant, entry) in state.schedule where open[tenant] == nil && !entry.inFlight {
                    state.schedule[tenant] = nil
                }
                for (tenant, recordState) in open {
                    if state.schedule[tenant] == nil {
                        state.schedule[tenant] = TenantSchedule(state: recordState, failures: 0, due: now, inFlight: false)
                    } else if !state.schedule[tenant]!.inFlight {
                        state.schedule[tenant]!.state = recordState
                    }
                }
            }
        case .failure(let error):
            let (failures, wait) = state.withLock { state -> (Int, Double) in
                state.scanFailures += 1
                let wait = settings.backoff(afterFailures: state.scanFailures)
                state.nextScan = now.addingTimeInterval(wait)
                return (state.scanFailures, wait)
            }
            logger.error("onboarding worker: cannot list the onboarding records (\(Self.describe(error))); again in \(Int(wait)) s (failure \(failures))")
            observer(.scanFailed(reason: Self.describe(error), retryIn: wait))
        }
    }

    /// Marks up to `limit` due tenants as in flight and returns them, the longest overdue first.
    private func takeDue(limit: Int) -> [TenantID] {
        guard limit > 0 else { return [] }
        let now = Date()
        return state.withLock { state in
            let due = state.schedule.filter { !$0.value.inFlight && $0.value.due <= now }
                .sorted { ($0.value.due, $0.key.rawValue) < ($1.value.due, $1.key.rawValue) }
                .prefix(limit).map(\.key)
            for tenant in due { state.schedule[tenant]!.inFlight = true }
            return due
        }
    }

    // MARK: One tenant

    private enum Outcome: Sendable {
        case record(OnboardingRecord)
        case busy
    }

    private func work(on tenant: TenantID) async {
        let onboarding = self.onboarding
        let finished = await Self.onThread(cancellable: true) { () throws -> Outcome in
            // `certvault onboard wait` may be polling this tenant in a shell, or another replica
            // holds the tenant's lease: leave it to it rather than block a thread for minutes.
            guard let record = try onboarding.resumeIfFree(tenant, wait: .checkOnce) else { return .busy }
            return .record(record)
        }
        guard let result = finished else { return }  // abandoned: the schedule keeps it in flight
        let now = Date()
        switch result {
        case .success(.busy):
            state.withLock { $0.schedule[tenant]?.inFlight = false; $0.schedule[tenant]?.due = now.addingTimeInterval(settings.pollInterval) }
            observer(.busyElsewhere(tenant))
        case .success(.record(let record)):
            state.withLock { state in
                if record.state == .awaitingCustomer || record.state == .addingOrganization {
                    state.schedule[tenant] = TenantSchedule(state: record.state, failures: 0, due: now.addingTimeInterval(settings.pollInterval),
                                                            inFlight: false)
                } else {
                    state.schedule[tenant] = nil
                }
            }
            if record.state != .awaitingCustomer {
                logger.info("onboarding worker: \(tenant) is \(record.state.rawValue)")
            }
            observer(.progressed(tenant, record.state))
        case .failure(let error):
            let reason = Self.describe(error)
            let (failures, wait) = state.withLock { state -> (Int, Double) in
                let failures = (state.schedule[tenant]?.failures ?? 0) + 1
                // Jitter keeps many tenants failing together from retrying in lockstep.
                let wait = settings.backoff(afterFailures: failures) * Double.random(in: 0.9...1.1)
                state.schedule[tenant] = TenantSchedule(state: state.schedule[tenant]?.state ?? .awaitingCustomer, failures: failures,
                                                        due: now.addingTimeInterval(wait), inFlight: false)
                return (failures, wait)
            }
            logger.warning("onboarding worker: \(tenant): \(reason); trying again in \(String(format: "%.1f", wait)) s (error \(failures) in a row)")
            observer(.failed(tenant, failures: failures, retryIn: wait, reason: reason))
        }
    }

    private static func describe(_ error: any Error) -> String {
        switch error {
        case let error as VB365Error: error.error.reason
        case let error as CertVaultError: error.reason
        default: "\(type(of: error))"
        }
    }

    /// Runs blocking work on a thread of its own and waits for it without holding a thread of
    /// the cooperative pool. The work itself cannot be interrupted; when `cancellable`, a
    /// cancelled task stops waiting for it (nil) and the thread finishes alone.
    private static func onThread<T: Sendable>(cancellable: Bool, _ body: @escaping @Sendable () throws -> T) async
        -> Result<T, any Error>?
    {
        let slot = ContinuationSlot<Result<T, any Error>?>()
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                slot.set(continuation)
                Thread.detachNewThread { slot.resume(Result { try body() }) }
            }
        } onCancel: {
            if cancellable { slot.resume(nil) }
        }
    }
}

/// A continuation resumed exactly once, by whichever comes first: the result or a cancellation
/// (which may come before the continuation is there).
private final class ContinuationSlot<Value: Sendable>: Sendable {
    private struct Content {
        var continuation: CheckedContinuation<Value, Never>?
        var early: Value?
        var done = false
    }
    private let content = Mutex(Content())

    func set(_ continuation: CheckedContinuation<Value, Never>) {
        let early: Value? = content.withLock { content in
            if let early = content.early {
                content.done = true
                return early
            }
            content.continuation = continuation
            return nil
        }
        if let early { continuation.resume(returning: early) }
    }

    func resume(_ value: Value) {
        let continuation = content.withLock { content -> CheckedContinuation<Value, Never>? in
            guard !content.done else { return nil }
            guard let continuation = content.continuation else {
                if content.early == nil { content.early = value }
                return nil
            }
            content.done = true
            content.continuation = nil
            return continuation
        }
        continuation?.resume(returning: value)
    }
}
