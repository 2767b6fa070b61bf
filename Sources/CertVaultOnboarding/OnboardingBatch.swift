public import CertVaultCore
internal import CertVaultVB365
internal import Foundation

/// Many tenants' onboardings at once, with bounded concurrency: the CLI's `onboard start --from`
/// and `onboard wait --all`, and the service, call these. Nothing is printed; every tenant's
/// outcome is reported through a closure as it finishes and returned.
public enum OnboardingBatch {
    /// One tenant's outcome.
    public enum Outcome: Sendable {
        case record(OnboardingRecord)
        case failure(TenantID, CertVaultError)

        /// The record, when there is one.
        public var record: OnboardingRecord? { if case .record(let record) = self { record } else { nil } }
    }

    /// Runs one blocking step (the onboarding's library calls block on vault I/O and libcurl).
    public typealias Blocking = @Sendable (@escaping @Sendable () throws -> OnboardingRecord) async throws -> OnboardingRecord

    /// Runs each step on a new thread, off Swift's cooperative pool.
    public static let detachedThread: Blocking = { body in
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread { continuation.resume(with: Result { try body() }) }
        }
    }

    /// Starts every intake (a device code, and the certificate issued meanwhile when needed).
    public static func start(_ intakes: [OnboardingRecord.Intake], onboarding: Onboarding, jobs: Int,
                             report: (Outcome) -> Void = { _ in }, blocking: @escaping Blocking = detachedThread) async throws -> [Outcome] {
        try await run(intakes.map { ($0.tenant, $0) }, jobs: jobs, report: report) { intake in
            try await blocking { try onboarding.startIssuingMeanwhile(intake) }
        }
    }

    /// The records awaiting their customer or with an unfinished add: what `resume` carries on.
    public static func pending(in store: OnboardingStore) throws -> [OnboardingRecord] {
        try store.all().filter { $0.state == .awaitingCustomer || $0.state == .addingOrganization }
    }

    /// Polls each tenant for up to `seconds` (checks `interval` seconds apart, at least 0.2) and adds
    /// its organization once the customer has signed in, with the reconciliation rules of
    /// ``Onboarding/resume(_:wait:)``.
    public static func resume(_ tenants: [TenantID], onboarding: Onboarding, seconds: Double, interval: Double, jobs: Int,
                              report: (Outcome) -> Void = { _ in }, blocking: @escaping Blocking = detachedThread) async throws -> [Outcome] {
        onboarding.pollInterval = max(0.2, interval)
        return try await run(tenants.map { ($0, $0) }, jobs: jobs, report: report) { tenant in
            try await blocking { try onboarding.resume(tenant, wait: .poll(seconds: seconds)) }
        }
    }

    /// How a batch ended, for an exit status or a summary.
    public struct Tally: Sendable, Hashable {
        /// Tenants that failed (an error, or a record in `failed`) or whose code expired.
        public var failedOrExpired = 0
        /// Records in `adding-organization`: an add VB365 has not confirmed.
        public var unconfirmed = 0
        /// Records still awaiting their customer.
        public var awaiting = 0
        /// Records onboarded.
        public var onboarded = 0
    }

    /// Counts the outcomes by how they ended.
    public static func tally(_ outcomes: [Outcome]) -> Tally {
        var tally = Tally()
        for outcome in outcomes {
            switch outcome {
            case .failure: tally.failedOrExpired += 1
            case .record(let record):
                switch record.state {
                case .failed, .expired: tally.failedOrExpired += 1
                case .addingOrganization: tally.unconfirmed += 1
                case .awaitingCustomer: tally.awaiting += 1
                case .onboarded: tally.onboarded += 1
                }
            }
        }
        return tally
    }

    /// Runs `body` for every item, at most `jobs` at once; an error of one item is its outcome.
    static func run<Item: Sendable>(_ items: [(TenantID, Item)], jobs: Int, report: (Outcome) -> Void,
                                    _ body: @escaping @Sendable (Item) async throws -> OnboardingRecord) async throws -> [Outcome] {
        try await withThrowingTaskGroup(of: Outcome.self) { group in
            var next = 0
            var outcomes: [Outcome] = []
            func add() {
                guard next < items.count else { return }
                let (tenant, item) = items[next]
                next += 1
                group.addTask {
                    do {
                        return .record(try await body(item))
                    } catch let error as CertVaultError {
                        return .failure(tenant, error)
                    } catch let error as VB365Error {
                        return .failure(tenant, error.error)
                    } catch {
                        return .failure(tenant, CertVaultError(.invalidInput, "Unexpected failure: \(error)."))
                    }
                }
            }
            for _ in 0..<min(max(jobs, 1), items.count) { add() }
            while let outcome = try await group.next() {
                report(outcome)
                outcomes.append(outcome)
                add()
            }
            return outcomes
        }
    }
}
