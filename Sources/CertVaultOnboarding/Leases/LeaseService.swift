public import CertVaultCore

extension CertVaultError.Code {
    /// A write by a holder whose lease (fence) is no longer current: another replica took the work over.
    public static let leaseLost = CertVaultError.Code("lease-lost")
    /// Another process or replica is working on the tenant, and waiting for it took too long.
    public static let leaseBusy = CertVaultError.Code("lease-busy")
}

/// A named lease held until ``expiresAt`` (the lease service's clock), with a fencing counter.
///
/// ``fence`` grows every time the lease changes hands, never when its holder renews it. A write
/// made on behalf of a lease carries the fence; the store refuses it when the fence is no longer
/// current, so a holder that stalled past its expiry (a paused VM, a long GC, a network split)
/// cannot overwrite what the replica that took over has written since.
public struct Lease: Sendable, Hashable {
    /// The lease's name: `tenant:<id>` for a tenant's onboarding, `job:<name>` for a background job.
    public var name: String
    /// Who holds it (a replica id plus a token of the acquisition).
    public var holder: String
    /// The fencing counter of this holding.
    public var fence: Int64
    /// True when the lease was taken over from another holder that never released it (it died or
    /// stalled): work it had in flight may or may not have happened, and must be reconciled.
    public var takenOver: Bool
    /// The holder before this one, when there was one and it was someone else.
    public var previousHolder: String?

    public init(name: String, holder: String, fence: Int64, takenOver: Bool = false, previousHolder: String? = nil) {
        self.name = name
        self.holder = holder
        self.fence = fence
        self.takenOver = takenOver
        self.previousHolder = previousHolder
    }

    /// The lease name of a tenant's onboarding work.
    public static func tenant(_ tenant: TenantID) -> String { "tenant:\(tenant.rawValue)" }
}

/// Named leases with an expiry and a fencing counter: who owns long work (a tenant's device-code
/// wait and add, a background job's pass) until when.
///
/// Implementations: ``FileLeases`` (one machine: `flock` between processes, expiry within the
/// process) and `PostgresLeases` in CertVaultPostgres (several replicas; the database's clock).
/// Calls block (a round trip at most); never call them from a NIO event loop.
public protocol LeaseService: Sendable {
    /// Takes the lease for `seconds`, or renews it when `holder` already holds it. Returns nil when
    /// another holder has it and it has not expired.
    ///
    /// - Throws: `storage-unavailable` when the lease store cannot be reached.
    func acquire(_ name: String, holder: String, seconds: Double) throws -> Lease?

    /// Extends a held lease by `seconds` from now. Returns nil when it is no longer this holder's
    /// (it expired and another took it): the work must stop.
    func renew(_ lease: Lease, seconds: Double) throws -> Lease?

    /// Gives the lease up (its fence stays, so a later holder gets a higher one). Does nothing when
    /// it is no longer this holder's.
    func release(_ lease: Lease) throws

    /// Whether `lease` is still held (same holder and fence) and has not expired.
    func isCurrent(_ lease: Lease) throws -> Bool
}

/// The lease a tenant's work holds on this thread, if any: ``OnboardingStore/save(_:)`` writes
/// with its fence.
enum HeldLease {
    @TaskLocal static var current: Lease?
}
